"""The spec's worked examples (docs/spec.md section 12), computed by the golden model.

``python -m model.demo`` prints them; ``python -m model.demo --markdown`` prints the
markdown of spec section 12 (how the spec's hex was produced). The inputs are fixed
here; every derived value comes from the model, and ``tests/test_spec_examples.py``
recomputes each one from the ``cryptography`` primitives alone.
"""

from __future__ import annotations

import argparse

from .endpoint import Endpoint, SenderContext, aad_ranges, nonce
from .esp import SecurityAssociation, aad as esp_aad, minimal_padding
from .header import parse
from .kdf import LABELS, cmac_subkey, data_key, fixed_input, master_key
from .keytable import KeyTable, KeyType
from .proxy import EgressContext, Proxy

__all__ = ["Example", "examples", "render_text", "render_markdown", "INT_FIELDS"]

Example = tuple[str, list[tuple[str, "bytes | int"]]]
#: Fields of the examples written as decimal integers (all others are hex octet strings).
INT_FIELDS = frozenset({"header_offset", "id_kind", "key_option", "ioffset", "coffset", "esn", "sn",
                        "next_header"})


def _keys(base: int) -> tuple[bytes, bytes, bytes]:
    """Three readable 32-octet root keys: octets base.., base+0x20.., base+0x40.."""
    return tuple(bytes((base + 0x20 * t + i) & 0xFF for i in range(32)) for t in range(3))  # type: ignore[return-value]


def _table(group: int, root_key_id: bytes, base: int, tag: int, default: bool) -> KeyTable:
    """A key table whose current keys are ``_keys(base)``; pre/next are distinct keys."""
    kt = KeyTable()
    kt.add_group(group, root_key_id)
    for t, cur in zip(KeyType, _keys(base)):
        pre = bytes(b ^ 0xAA for b in cur)
        nxt = bytes(b ^ 0x55 for b in cur)
        kt.provision(group, t, pre, cur, nxt, tag)
    if default:
        kt.default_group = group
    return kt


def _derivation(keys: tuple[bytes, bytes, bytes], kind: int, ident: bytes, epoch: int) -> list[tuple[str, bytes | int]]:
    f = fixed_input(kind, ident, epoch)
    mk = master_key(*keys)
    return [
        ("root_key_zone", keys[0]),
        ("root_key_user", keys[1]),
        ("root_key_task", keys[2]),
        ("master_key", mk),
        ("cmac_k1", cmac_subkey(mk)),
        ("kdf_block_1", b"\x01" + f),
        ("kdf_block_2", b"\x02" + f),
        ("data_key", data_key(mk, kind, ident, epoch)),
    ]


def _inputs(h_frame: bytes, offset: int) -> list[tuple[str, bytes | int]]:
    """The sender's header fields as inputs: ID kind, ID, Epoch, Counter, K, offsets and,
    with K = 1, the Root Key Index octet (the group's current tags)."""
    h = parse(h_frame, offset)
    rows: list[tuple[str, bytes | int]] = [
        ("id_kind", h.kind), ("id", h.ident), ("epoch", h.epoch.to_bytes(2, "big")),
        ("counter", h.counter.to_bytes(6, "big")), ("key_option", int(h.option is not None)),
        ("ioffset", h.ioffset), ("coffset", h.coffset)]
    if h.option is not None:
        rows.append(("root_key_index", bytes([h.option.index])))
    return rows


def _protected(frame: bytes, offset: int) -> list[tuple[str, bytes | int]]:
    h = parse(frame, offset)
    start, ct, hdr_end = aad_ranges(offset, h)
    return [
        ("header", frame[offset:hdr_end]),
        ("nonce", nonce(h)),
        ("aad", frame[start:ct]),
        ("ciphertext", frame[ct:-16]),
        ("icv", frame[-16:]),
        ("frame_out", frame),
    ]


def examples() -> list[Example]:
    """The four worked examples: DeviceID frame, ConnectionID frame with option, proxy hop,
    Minimal ESP frame."""
    out: list[Example] = []

    # 1: DeviceID, K = 0 (default group), no offsets, an 8-octet outer header.
    kt1 = _table(0, bytes(range(0xA0, 0xB0)), base=0x00, tag=1, default=True)
    ctx1 = SenderContext(group=0, kind=0, ident=bytes.fromhex("0a000001"), epoch=7, key_option=False)
    outer1 = bytes.fromhex("1f90 12b5 0000 0000".replace(" ", ""))
    frame1 = outer1 + b"stateless EESP example 1"
    sealed1 = Endpoint(kt1).seal(frame1, len(outer1), ctx1)
    out.append(("DeviceID frame, K = 0 (default group)", [
        *_derivation(_keys(0x00), 0, ctx1.ident, ctx1.epoch),
        *_inputs(sealed1, len(outer1)),
        ("header_offset", len(outer1)),
        ("frame_in", frame1),
        *_protected(sealed1, len(outer1)),
    ]))

    # 2: ConnectionID, K = 1 (16-octet Root Key ID, tags 2/2/2), IOffset 2, COffset 1,
    #    behind a 20-octet IPv4-like header and an 8-octet UDP-like header.
    rkid_a = bytes.fromhex("00112233445566778899aabbccddeeff")
    kt_a = _table(3, rkid_a, base=0x10, tag=2, default=False)
    ctx2 = SenderContext(group=3, kind=1, ident=bytes.fromhex("c0ffee0000000042"), epoch=0x0102,
                         coffset=1, ioffset=2)
    outer2 = bytes.fromhex("4500005c00004000401100000a0000010a000002" "c35012b500440000")
    frame2 = outer2 + bytes.fromhex("deadbeef") + b"inner payload of example 2, 40 bytes...."
    ep_a = Endpoint(kt_a)
    ep_a.counter(ctx2).take()  # start at counter 1: one frame already sent in this context
    sealed2 = ep_a.seal(frame2, len(outer2), ctx2)
    out.append(("ConnectionID frame, Master Key Option, IOffset = 2, COffset = 1", [
        *_derivation(_keys(0x10), 1, ctx2.ident, ctx2.epoch),
        ("root_key_id", rkid_a),
        *_inputs(sealed2, len(outer2)),
        ("header_offset", len(outer2)),
        ("frame_in", frame2),
        *_protected(sealed2, len(outer2)),
    ]))

    # 3: proxy hop: example 2's frame re-encrypted for domain B (32-octet Root Key ID,
    #    tags 0/0/0), the proxy's DeviceID in B, B's epoch.
    rkid_b = bytes(range(0x60, 0x80))
    kt_b = _table(1, rkid_b, base=0x80, tag=0, default=False)
    proxy = Proxy(kt_a, kt_b)
    proxy.mapping[3] = EgressContext(group=1, kind=0, ident=bytes.fromhex("0b00000e"), epoch=0x0033)
    hop = proxy.reencrypt(sealed2, len(outer2))
    out.append(("Proxy hop: example 2 re-encrypted from domain A to domain B", [
        ("frame_in", sealed2),
        ("ingress_data_key", _derivation(_keys(0x10), 1, ctx2.ident, ctx2.epoch)[-1][1]),
        *_derivation(_keys(0x80), 0, bytes.fromhex("0b00000e"), 0x0033),
        ("root_key_id", rkid_b),
        *_inputs(hop, len(outer2)),
        ("header_offset", len(outer2)),
        *_protected(hop, len(outer2)),
    ]))

    # 4: Minimal ESP (spec 9), ESN, transport mode behind a 20-octet IPv4-like header;
    #    the SA's next SN has its high half set, so the AAD carries SN_high.
    keymat = bytes(range(0x40, 0x64))
    sa = SecurityAssociation.from_keymat(0x0000C0DE, keymat, esn=True, next_sn=(1 << 32) + 5)
    outer4 = bytes.fromhex("4500004800004000403200000a0000010a000002")
    frame4 = outer4 + b"UDP datagram of example 4"
    sn = sa.next_sn
    sealed4 = sa.seal(frame4, len(outer4), 17)
    o = len(outer4)
    out.append(("Minimal ESP frame, ESN, transport mode", [
        ("spi", sealed4[o:o + 4]), ("esn", 1), ("sn", sn), ("key", keymat[:32]), ("salt", keymat[32:]),
        ("next_header", 17), ("header_offset", o), ("frame_in", frame4),
        ("plaintext", frame4[o:] + minimal_padding(len(frame4) - o) + bytes([len(minimal_padding(len(frame4) - o)), 17])),
        ("iv", sealed4[o + 8:o + 16]), ("nonce", keymat[32:] + sealed4[o + 8:o + 16]),
        ("aad", esp_aad(sa.spi, sn, True)), ("ciphertext", sealed4[o + 16:-16]), ("icv", sealed4[-16:]),
        ("frame_out", sealed4),
    ]))
    return out


def _value(v: bytes | int) -> str:
    return str(v) if isinstance(v, int) else v.hex()


def render_text(exs: list[Example]) -> str:
    lines = []
    for n, (title, rows) in enumerate(exs, 1):
        lines.append(f"== Example {n}: {title}")
        lines += [f"  {name:<16} {_value(v)}" for name, v in rows]
    return "\n".join(lines)


def render_markdown(exs: list[Example]) -> str:
    """Spec section 12: one fenced block per example, ``name = hex`` (integers in decimal)."""
    parts = []
    for n, (title, rows) in enumerate(exs, 1):
        parts.append(f"### 12.{n} {title}\n\n```text")
        parts += [f"{name:<16} = {_value(v)}" for name, v in rows]
        parts.append("```\n")
    return "\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true", help="print spec section 12 as markdown")
    args = ap.parse_args()
    exs = examples()
    print(render_markdown(exs) if args.markdown else render_text(exs))
    if not args.markdown:
        print(f"\n{len(exs)} worked examples (labels {', '.join(l.decode() for l in LABELS.values())});"
              " asserted byte for byte by tests/test_spec_examples.py")


if __name__ == "__main__":
    main()

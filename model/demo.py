"""The spec's worked examples (docs/spec.md section 12), computed by the golden model.

``python -m model.demo`` prints them; ``python -m model.demo --markdown`` prints the
markdown of spec section 12 (how the spec's hex was produced). The inputs are fixed
here; every derived value comes from the model, and ``tests/test_spec_examples.py``
recomputes each one from the ``cryptography`` primitives alone.
"""

from __future__ import annotations

import argparse

from .endpoint import Endpoint, SenderContext, aad_ranges, nonce
from .header import parse
from .kdf import LABELS, cmac_subkey, data_key, fixed_input, master_key
from .keytable import KeyTable, KeyType
from .proxy import EgressContext, Proxy

__all__ = ["Example", "examples", "render_text", "render_markdown"]

Example = tuple[str, list[tuple[str, "bytes | int"]]]


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
    """The three worked examples: DeviceID frame, ConnectionID frame with option, proxy hop."""
    out: list[Example] = []

    # 1: DeviceID, K = 0 (default group), no offsets, an 8-octet outer header.
    kt1 = _table(0, bytes(range(0xA0, 0xB0)), base=0x00, tag=1, default=True)
    ctx1 = SenderContext(group=0, kind=0, ident=bytes.fromhex("0a000001"), epoch=7, key_option=False)
    outer1 = bytes.fromhex("1f90 12b5 0000 0000".replace(" ", ""))
    frame1 = outer1 + b"stateless EESP example 1"
    sealed1 = Endpoint(kt1).seal(frame1, len(outer1), ctx1)
    out.append(("DeviceID frame, K = 0 (default group)", [
        *_derivation(_keys(0x00), 0, ctx1.ident, ctx1.epoch),
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
        ("header_offset", len(outer2)),
        *_protected(hop, len(outer2)),
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

"""Shared test vectors of the EESP receive rules (docs/spec.md section 2.2): a sealed
frame and one damaged copy of it per malformed class, each with the code the spec gives
it. The model tests, the parser's amaranth.sim test and the decap/proxy cocotb benches
all draw on them, so each rule is checked at every level against the same frames.
"""

from __future__ import annotations

import os

from model.endpoint import Endpoint, SenderContext
from model.errors import Code
from model.keytable import KeyTable, KeyType

__all__ = ["RKID", "OFFSET", "key_table", "sealed_frame", "malformed_frames"]


def key_table(rkid: bytes, group: int = 0, tag: int = 1, default: bool = True) -> KeyTable:
    """A key table holding ``group`` (Root Key ID ``rkid``), each root-key type provisioned
    with random pre, current and next keys around tag ``tag``; the default group if
    ``default``."""
    kt = KeyTable()
    kt.add_group(group, rkid)
    for t in KeyType:
        kt.provision(group, t, os.urandom(32), os.urandom(32), os.urandom(32), tag)
    if default:
        kt.default_group = group
    return kt


RKID = bytes(range(16))
OFFSET = 12  # room for IOffset up to 3 words


def sealed_frame(kind: int = 1, key_option: bool = True, payload: bytes = bytes(40), coffset: int = 1,
                 ioffset: int = 1) -> tuple[Endpoint, bytes]:
    """An endpoint and a frame it sealed at :data:`OFFSET` (group 0, Root Key ID :data:`RKID`)."""
    ep = Endpoint(key_table(RKID))
    ctx = SenderContext(0, kind, bytes(range(4 << kind)), 9, coffset, ioffset, key_option)
    return ep, ep.seal(bytes(OFFSET) + payload, OFFSET, ctx)


def _word0(frame: bytes, **fields: int) -> bytes:
    """Rewrite fields of word 0 (positions of spec 2.1)."""
    pos = {"version": (28, 4), "hl": (24, 4), "kind": (22, 2), "k": (21, 1), "reserve": (16, 5),
           "coffset": (8, 8), "ioffset": (0, 8)}
    w = int.from_bytes(frame[OFFSET : OFFSET + 4], "big")
    for name, value in fields.items():
        shift, width = pos[name]
        w = w & ~(((1 << width) - 1) << shift) | value << shift
    return frame[:OFFSET] + w.to_bytes(4, "big") + frame[OFFSET + 4 :]


def _option_octet(frame: bytes, i: int, value: int, kind: int = 1) -> bytes:
    at = OFFSET + 4 + (4 << kind) + i
    return frame[:at] + bytes([value]) + frame[at + 1 :]


def malformed_frames() -> list[tuple[str, Code, bytes, Endpoint]]:
    """(name, code, frame, endpoint that opens it at :data:`OFFSET`) of each malformed class."""
    ep, good = sealed_frame()
    hl = good[OFFSET] & 0xF
    cases = [
        ("offset_past_end", Code.TRUNCATED, good[: OFFSET - 3]),     # O > N: rule 1 (spec 2.2)
        ("cut_in_word0", Code.TRUNCATED, good[: OFFSET + 3]),
        ("cut_in_option_word", Code.TRUNCATED, good[: OFFSET + 4 + 8 + 3]),
        ("cut_before_icv_end", Code.TRUNCATED, good[: OFFSET + 4 * hl + 15]),
        ("version_0", Code.BAD_VERSION, _word0(good, version=0)),
        ("version_2", Code.BAD_VERSION, _word0(good, version=2)),
        ("id_kind_2", Code.BAD_ID_KIND, _word0(good, kind=2)),
        ("id_kind_3", Code.BAD_ID_KIND, _word0(good, kind=3)),
        ("reserve_bit", Code.BAD_RESERVED, _word0(good, reserve=0x10)),
        ("option_type", Code.BAD_OPTION, _option_octet(good, 0, 2)),
        ("option_length", Code.BAD_OPTION, _option_octet(good, 1, 24)),
        ("option_index_reserved", Code.BAD_OPTION, _option_octet(good, 2, good[OFFSET + 14] | 1)),
        ("option_padding", Code.BAD_OPTION, _option_octet(good, 3, 1)),
        ("hl_plus_one", Code.BAD_HL, _word0(good, hl=hl + 1)),
        ("hl_minus_one", Code.BAD_HL, _word0(good, hl=hl - 1)),
        ("k_cleared", Code.BAD_HL, _word0(good, k=0)),
        ("ioffset_before_frame", Code.BAD_IOFFSET, _word0(good, ioffset=OFFSET // 4 + 1)),
        ("coffset_into_icv", Code.BAD_COFFSET, _word0(good, coffset=(len(good) - OFFSET - 4 * hl - 16) // 4 + 1)),
        ("unknown_root_key_id", Code.UNKNOWN_GROUP, _option_octet(good, 4, RKID[0] ^ 0x80)),
        ("tag_not_installed", Code.UNKNOWN_KEY, _option_octet(good, 2, good[OFFSET + 14] | 0xC0)),  # zone tag 3 = c+2
        ("tag_of_pre_key", Code.AUTH_FAIL, _option_octet(good, 2, good[OFFSET + 14] & 0x3F)),  # zone tag 0: wrong key
        ("icv_flip", Code.AUTH_FAIL, good[:-1] + bytes([good[-1] ^ 1])),
        # two rules broken: the earlier one is reported
        ("version_and_reserve", Code.BAD_VERSION, _word0(good, version=3, reserve=1)),
        ("reserve_and_hl", Code.BAD_RESERVED, _word0(good, reserve=1, hl=hl + 1)),
    ]
    out = [(name, code, frame, ep) for name, code, frame in cases]
    ep0, k0 = sealed_frame(key_option=False)
    ep0.keys.default_group = None
    out.append(("k0_without_default_group", Code.UNKNOWN_GROUP, k0, ep0))
    return out

"""Security header codec (docs/spec.md section 2): pack, and strict parse of a frame.

:func:`parse` applies validity rules 1 to 10 of spec section 2.2 in order and raises
:class:`~model.errors.EespError` with the code of the first rule broken.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Code, EespError
from .kdf import ID_LEN

__all__ = ["VERSION", "ICV_LEN", "OPTION_TYPE", "KeyOption", "Header", "header_words", "parse"]

VERSION = 1
ICV_LEN = 16
OPTION_TYPE = 1
#: Option length in octets for a Root Key ID of 16 or 32 octets.
OPTION_LEN = {16: 20, 32: 36}


@dataclass(frozen=True)
class KeyOption:
    """Master Key Option: the trust group's Root Key ID and the three generation tags."""

    root_key_id: bytes
    tags: tuple[int, int, int]  # (zone, user, task), 2 bits each

    def __post_init__(self) -> None:
        if len(self.root_key_id) not in OPTION_LEN:
            raise ValueError("Root Key ID is 16 or 32 octets")
        if len(self.tags) != 3 or not all(0 <= t < 4 for t in self.tags):
            raise ValueError("three 2-bit generation tags")

    @property
    def index(self) -> int:
        """The Root Key Index octet: zone tag in bits 7..6, user 5..4, task 3..2."""
        zone, user, task = self.tags
        return zone << 6 | user << 4 | task << 2

    def pack(self) -> bytes:
        return bytes([OPTION_TYPE, OPTION_LEN[len(self.root_key_id)], self.index, 0]) + self.root_key_id


def header_words(kind: int, option: KeyOption | None) -> int:
    """HL: the header length in 4-octet words for an ID kind and an optional option."""
    optlen = 0 if option is None else OPTION_LEN[len(option.root_key_id)]
    return (4 + ID_LEN[kind] + optlen + 8) // 4


@dataclass(frozen=True)
class Header:
    """A security header. ``ident`` is 4 octets (kind 0) or 8 (kind 1)."""

    kind: int
    ident: bytes
    epoch: int
    counter: int
    coffset: int = 0
    ioffset: int = 0
    option: KeyOption | None = None

    def __post_init__(self) -> None:
        if self.kind not in ID_LEN or len(self.ident) != ID_LEN[self.kind]:
            raise ValueError("ID kind 0 takes a 4-octet DeviceID, kind 1 an 8-octet ConnectionID")
        if not 0 <= self.epoch < 1 << 16:
            raise ValueError("epoch is 16 bits")
        if not 0 <= self.counter < 1 << 48:
            raise ValueError("counter is 48 bits")
        if not (0 <= self.coffset < 256 and 0 <= self.ioffset < 256):
            raise ValueError("COffset and IOffset are 8 bits")

    @property
    def hl(self) -> int:
        return header_words(self.kind, self.option)

    def pack(self) -> bytes:
        k = self.option is not None
        word0 = VERSION << 28 | self.hl << 24 | self.kind << 22 | k << 21 | self.coffset << 8 | self.ioffset
        opt = self.option.pack() if k else b""
        return word0.to_bytes(4, "big") + self.ident + opt + self.epoch.to_bytes(2, "big") + self.counter.to_bytes(6, "big")


def parse(frame: bytes, offset: int) -> Header:
    """Parse and validate the header at ``offset`` of a protected ``frame`` (rules 1-10).

    On success the whole header, the IOffset prefix, the COffset words and the ICV are
    known to lie inside the frame. Key lookup (rules 11, 12) and the ICV (13) are the
    caller's.
    """
    n = len(frame)
    if offset < 0:
        raise ValueError("negative header offset")
    if n < offset + 4:  # also an offset past the frame's end (spec 2.2, rule 1)
        raise EespError(Code.TRUNCATED, "word 0 missing")
    word0 = int.from_bytes(frame[offset : offset + 4], "big")
    version, hl, kind = word0 >> 28, word0 >> 24 & 0xF, word0 >> 22 & 0x3
    k, reserve = word0 >> 21 & 1, word0 >> 16 & 0x1F
    coffset, ioffset = word0 >> 8 & 0xFF, word0 & 0xFF
    if version != VERSION:
        raise EespError(Code.BAD_VERSION, f"version {version}")
    if kind not in ID_LEN:
        raise EespError(Code.BAD_ID_KIND, f"V = {kind}")
    if reserve:
        raise EespError(Code.BAD_RESERVED, f"reserve bits {reserve:#x}")
    idlen = ID_LEN[kind]
    optlen = 0
    if k:
        at = offset + 4 + idlen
        if n < at + 4:
            raise EespError(Code.TRUNCATED, "option word missing")
        otype, optlen, index, pad = frame[at : at + 4]
        if otype != OPTION_TYPE or optlen not in OPTION_LEN.values() or index & 3 or pad:
            raise EespError(Code.BAD_OPTION, f"type {otype} length {optlen} index {index:#04x} padding {pad}")
    if hl * 4 != 12 + idlen + optlen:
        raise EespError(Code.BAD_HL, f"HL {hl}, fields need {(12 + idlen + optlen) // 4}")
    end = offset + 4 * hl
    if n < end + ICV_LEN:
        raise EespError(Code.TRUNCATED, "header or ICV missing")
    if offset < 4 * ioffset:
        raise EespError(Code.BAD_IOFFSET, f"IOffset {ioffset} words before offset {offset}")
    if end + 4 * coffset + ICV_LEN > n:
        raise EespError(Code.BAD_COFFSET, f"COffset {coffset} words past the payload")
    at = offset + 4
    ident = frame[at : at + idlen]
    at += idlen
    option = None
    if k:
        index = frame[at + 2]
        option = KeyOption(frame[at + 4 : at + optlen], (index >> 6, index >> 4 & 3, index >> 2 & 3))
        at += optlen
    epoch = int.from_bytes(frame[at : at + 2], "big")
    counter = int.from_bytes(frame[at + 2 : at + 8], "big")
    return Header(kind, bytes(ident), epoch, counter, coffset, ioffset, option)

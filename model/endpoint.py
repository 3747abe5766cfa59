"""Endpoint seal (encap) and open (decap) of a frame (docs/spec.md sections 6 and 7).

A frame is ``bytes`` plus the byte offset of the security header. :class:`Endpoint`
holds a :class:`~model.keytable.KeyTable` and the sender counters; everything else is
derived per frame, as the draft's stateless scheme intends.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import Code, EespError
from .header import Header, parse
from .kdf import data_key, id8
from .keytable import KeyTable

__all__ = ["SenderContext", "SenderCounter", "Opened", "Endpoint", "nonce", "aad_ranges"]

COUNTER_LIMIT = 1 << 48


def nonce(h: Header) -> bytes:
    """GCM nonce = ID8[4..7] || [Epoch]_16 || [Counter]_48 (spec section 6)."""
    return id8(h.kind, h.ident)[4:] + h.epoch.to_bytes(2, "big") + h.counter.to_bytes(6, "big")


def aad_ranges(offset: int, h: Header) -> tuple[int, int, int]:
    """(AAD start, AAD end = ciphertext start, header end) of a frame with header ``h`` at ``offset``."""
    start = offset - 4 * h.ioffset
    hdr_end = offset + 4 * h.hl
    return start, hdr_end + 4 * h.coffset, hdr_end


@dataclass(frozen=True)
class SenderContext:
    """What a sender puts in the header: its group, ID, epoch, offsets, and K."""

    group: int
    kind: int
    ident: bytes
    epoch: int
    coffset: int = 0
    ioffset: int = 0
    key_option: bool = True

    @property
    def counter_key(self) -> tuple[int, bytes, int]:
        """The counter identity (spec 7.1): ID kind, ID and Epoch, whatever the group and K."""
        return self.kind, self.ident, self.epoch


class SenderCounter:
    """The 48-bit per-context counter of spec section 7: starts at 0, never wraps."""

    def __init__(self, start: int = 0) -> None:
        if not 0 <= start <= COUNTER_LIMIT:
            raise ValueError("counter start outside 0..2^48")
        self._next = start

    @property
    def next_value(self) -> int:
        return self._next

    def take(self) -> int:
        """The value for the next frame; COUNTER_EXHAUSTED once 2^48 - 1 has been used."""
        if self._next >= COUNTER_LIMIT:
            raise EespError(Code.COUNTER_EXHAUSTED, "48-bit counter used up; move to a new epoch")
        value, self._next = self._next, self._next + 1
        return value


@dataclass(frozen=True)
class Opened:
    """An opened frame: ``outer || payload``, the header it came with, and its group."""

    frame: bytes
    header: Header
    group: int


def _seal_with(dk: bytes, h: Header, frame: bytes, offset: int) -> bytes:
    payload = frame[offset:]
    clear = 4 * h.coffset
    hb = h.pack()
    aad = frame[offset - 4 * h.ioffset : offset] + hb + payload[:clear]
    return frame[:offset] + hb + payload[:clear] + AESGCM(dk).encrypt(nonce(h), payload[clear:], aad)


class Endpoint:
    """An EESP endpoint: a key table and its sender counters."""

    def __init__(self, keys: KeyTable) -> None:
        self.keys = keys
        self._counters: dict[tuple[int, bytes, int], SenderCounter] = {}

    def counter(self, ctx: SenderContext) -> SenderCounter:
        """The sender counter of a context (created at 0 on first use)."""
        return self._counters.setdefault(ctx.counter_key, SenderCounter())

    def seal(self, frame: bytes, offset: int, ctx: SenderContext) -> bytes:
        """Encap: ``outer || payload`` -> ``outer || header || clear || C || ICV``.
        Refusals (spec 7.2, in this order, no counter value spent): TRUNCATED (O past
        the frame's end), BAD_IOFFSET, BAD_COFFSET, UNKNOWN_GROUP, UNKNOWN_KEY,
        COUNTER_EXHAUSTED."""
        if offset < 0:
            raise ValueError("negative header offset")
        if offset > len(frame):
            raise EespError(Code.TRUNCATED, "header offset past the frame's end")
        if 4 * ctx.ioffset > offset:
            raise EespError(Code.BAD_IOFFSET, f"IOffset {ctx.ioffset} words reaches before the frame")
        if 4 * ctx.coffset > len(frame) - offset:
            raise EespError(Code.BAD_COFFSET, f"COffset {ctx.coffset} words exceeds the payload")
        option, mk = self.keys.sender(ctx.group, ctx.key_option)
        value = self.counter(ctx).take()
        h = Header(ctx.kind, ctx.ident, ctx.epoch, value, ctx.coffset, ctx.ioffset, option)
        return _seal_with(data_key(mk, h.kind, h.ident, h.epoch), h, frame, offset)

    def open(self, frame: bytes, offset: int) -> Opened:
        """Decap: check rules 1-13 and return ``outer || payload``; raise EespError otherwise."""
        h = parse(frame, offset)
        group, mk = self.keys.master_key(h.option)
        start, ct_start, hdr_end = aad_ranges(offset, h)
        aad = frame[start:ct_start]
        try:
            pt = AESGCM(data_key(mk, h.kind, h.ident, h.epoch)).decrypt(nonce(h), frame[ct_start:], aad)
        except InvalidTag:
            raise EespError(Code.AUTH_FAIL, "ICV mismatch") from None
        return Opened(frame[:offset] + frame[hdr_end:ct_start] + pt, h, group)

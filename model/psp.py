"""PSP profile of the golden model (docs/spec.md section 13): Google's PSP Security
Protocol, version 0 (AES-GCM-128) and version 1 (AES-GCM-256), as the PSP Architecture
Specification defines it and Google's reference implementation emits it.

A frame is ``bytes`` plus the offset ``O`` of the PSP header, as for EESP and ESP:
``outer (O octets) || PSP header (16) || [VC (8)] || payload || ICV (16)``. The outer octets
(Ethernet, IP, and the UDP header PSP rides in) are never read or rewritten here: the
stage in front of the engine (or after it) owns them (spec 13.5).

* the per-SPI data key is :func:`model.kdf.psp_key`: NIST SP 800-108 counter mode with
  AES-256-CMAC under the master key that SPI bit 31 selects (spec 13.2);
* :class:`PspKeys` — a device's two master keys and the rotation the Linux ``psp``
  family's ``key-rotate`` does;
* :class:`PspSender` — one sending SA (SPI, version, crypt offset, VC, 64-bit IV
  counter) that seals frames;
* :func:`psp_open` — the receive side: validity checks in the order of spec 13.3, key
  derivation, ICV check, the header and VC removed.

Every refusal raises :class:`~model.errors.EespError` with its code; invalid *requests*
(a crypt offset beyond 63 units, an SPI whose low 31 bits are 0 on an SA) raise
``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import Code, EespError
from .kdf import psp_key

__all__ = ["HEADER_LEN", "VC_LEN", "ICV_LEN", "VERSIONS", "PspKeys", "PspHeader", "PspSender", "PspOpened", "psp_open", "parse_header"]

HEADER_LEN = 16             #: Next Header .. IV
VC_LEN = 8                  #: the Virtualization Cookie, when V is set
ICV_LEN = 16
VERSIONS = {0: 16, 1: 32}   #: version -> AES-GCM key octets (2, 3: GMAC-only, not supported)
MAX_CRYPT_OFFSET = 63       #: 6-bit field, in 4-octet units
_M64 = (1 << 64) - 1


@dataclass
class PspKeys:
    """A device's master keys: phase 0 and phase 1, selected by SPI bit 31. ``None`` = that
    phase holds no key (frames of its SPIs are refused with UNKNOWN_KEY).

    :meth:`rotate` is the kernel's ``key-rotate``: the new key goes into the phase *not*
    in use, which becomes the phase in use; SPIs of the old phase stay valid until the
    next rotation overwrites it. New SAs take SPIs of :attr:`phase`."""

    keys: list = field(default_factory=lambda: [None, None])
    phase: int = 0

    def __post_init__(self) -> None:
        if len(self.keys) != 2 or any(k is not None and len(k) != 32 for k in self.keys):
            raise ValueError("two phases, each a 32-octet master key or None")

    def rotate(self, new_key: bytes) -> None:
        if len(new_key) != 32:
            raise ValueError(f"a PSP master key is 32 octets, got {len(new_key)}")
        self.phase ^= 1
        self.keys[self.phase] = bytes(new_key)

    def data_key(self, spi: int, version: int) -> bytes:
        """The SA key of ``spi`` (spec 13.2), from the master key its bit 31 selects."""
        mk = self.keys[spi >> 31]
        if mk is None:
            raise EespError(Code.UNKNOWN_KEY, f"no master key in phase {spi >> 31}")
        return psp_key(mk, spi, version)


class PspHeader(NamedTuple):
    """The fields of a PSP header (spec 13.1)."""

    next_header: int
    hdr_ext_len: int
    reserved: int           #: R, 2 bits (authenticated, else ignored)
    crypt_offset: int       #: 4-octet units from the end of the IV
    s: int
    d: int
    version: int
    v: int
    spi: int
    iv: int


def parse_header(frame: bytes, offset: int) -> PspHeader:
    """The header at ``offset``, checked by rules 1-7 of spec 13.3 (no key needed)."""
    n = len(frame)
    if offset < 0:
        raise ValueError("negative offset")
    if n < offset + HEADER_LEN + ICV_LEN:
        raise EespError(Code.PSP_TRUNCATED, f"{n} octets: no PSP header and ICV at {offset}")
    h = frame[offset:offset + HEADER_LEN]
    hdr = PspHeader(next_header=h[0], hdr_ext_len=h[1], reserved=h[2] >> 6, crypt_offset=h[2] & 0x3F,
                    s=h[3] >> 7, d=(h[3] >> 6) & 1, version=(h[3] >> 2) & 0xF, v=(h[3] >> 1) & 1,
                    spi=int.from_bytes(h[4:8], "big"), iv=int.from_bytes(h[8:16], "big"))
    if hdr.version not in VERSIONS:
        raise EespError(Code.PSP_BAD_VERSION, f"version {hdr.version}")
    if not h[3] & 1:
        raise EespError(Code.PSP_BAD_HEADER, "the always-1 bit of octet 3 is 0")
    if hdr.hdr_ext_len < 1 + hdr.v:
        raise EespError(Code.PSP_BAD_HEADER, f"Hdr Ext Len {hdr.hdr_ext_len} with V = {hdr.v}")
    if hdr.spi & 0x7FFF_FFFF == 0:
        raise EespError(Code.PSP_BAD_SPI, f"SPI {hdr.spi:#010x}: low 31 bits 0")
    payload = n - offset - HEADER_LEN - ICV_LEN     # octets after the IV, before the ICV
    if 8 * (hdr.hdr_ext_len - 1) > payload:
        raise EespError(Code.PSP_BAD_OFFSET, f"header extension of {8 * (hdr.hdr_ext_len - 1)} octets, {payload} there")
    if 4 * hdr.crypt_offset > payload:
        raise EespError(Code.PSP_BAD_OFFSET, f"crypt offset {4 * hdr.crypt_offset} octets, {payload} there")
    return hdr


class PspOpened(NamedTuple):
    """An opened frame: ``outer || payload`` (header and extension removed) and Next Header."""

    frame: bytes
    next_header: int


def psp_open(keys: PspKeys, frame: bytes, offset: int) -> PspOpened:
    """Spec 13.3: check the header, derive the key, verify the ICV, remove the header."""
    hdr = parse_header(frame, offset)
    key = keys.data_key(hdr.spi, hdr.version)
    clear = offset + HEADER_LEN + 4 * hdr.crypt_offset
    try:
        plain = AESGCM(key).decrypt(frame[offset + 4:offset + HEADER_LEN], frame[clear:], frame[offset:clear])
    except InvalidTag:
        raise EespError(Code.AUTH_FAIL, f"SPI {hdr.spi:#010x} IV {hdr.iv}") from None
    after_iv = frame[offset + HEADER_LEN:clear] + plain
    return PspOpened(frame[:offset] + after_iv[8 * (hdr.hdr_ext_len - 1):], hdr.next_header)


@dataclass(eq=False)
class PspSender:
    """A sending SA (spec 13.4): ``spi`` (low 31 bits not 0; bit 31 names the master key
    phase), ``version`` 0 or 1, ``crypt_offset`` in 4-octet units (0..63), an optional
    8-octet ``vc``, and ``next_iv``, the IV of the next frame: a 64-bit counter that
    starts at 1 and never repeats (the last IV is 2^64 - 1)."""

    spi: int
    version: int = 0
    crypt_offset: int = 0
    vc: bytes | None = None
    next_iv: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.spi <= 0xFFFF_FFFF or self.spi & 0x7FFF_FFFF == 0:
            raise ValueError(f"SPI {self.spi:#x}: 32 bits, low 31 bits not 0")
        if self.version not in VERSIONS:
            raise ValueError(f"version {self.version} (0 AES-GCM-128 or 1 AES-GCM-256)")
        if not 0 <= self.crypt_offset <= MAX_CRYPT_OFFSET:
            raise ValueError(f"crypt offset {self.crypt_offset} outside 0..{MAX_CRYPT_OFFSET}")
        if self.vc is not None and len(self.vc) != VC_LEN:
            raise ValueError(f"a VC is {VC_LEN} octets")
        if not 1 <= self.next_iv <= _M64 + 1:
            raise ValueError(f"next IV {self.next_iv} outside 1..2^64")

    def header(self, next_header: int, iv: int, crypt_offset: int | None = None) -> bytes:
        """The 16 header octets (spec 13.1): R, S, D = 0; Hdr Ext Len 1, or 2 with a VC;
        the SA's crypt offset unless ``crypt_offset`` is given."""
        v = int(self.vc is not None)
        co = self.crypt_offset if crypt_offset is None else crypt_offset
        return (bytes([next_header, 1 + v, co, (self.version << 2) | (v << 1) | 1])
                + self.spi.to_bytes(4, "big") + iv.to_bytes(8, "big"))

    def seal(self, keys: PspKeys, frame: bytes, offset: int, next_header: int,
             crypt_offset: int | None = None) -> bytes:
        """``F[0..O) || header || [VC] || E(F[O..N)) || ICV`` (spec 13.4); refused frames
        spend no IV. ``crypt_offset`` (0..63) replaces the SA's for this frame (a proxy
        keeps the ingress frame's clear words clear, spec 8.1)."""
        co_units = self.crypt_offset if crypt_offset is None else crypt_offset
        if not 0 <= co_units <= MAX_CRYPT_OFFSET:
            raise ValueError(f"crypt offset {co_units} outside 0..{MAX_CRYPT_OFFSET}")
        if offset < 0:
            raise ValueError("negative offset")
        if not 0 <= next_header <= 255:
            raise ValueError(f"Next Header {next_header} outside 0..255")
        if offset > len(frame):
            raise EespError(Code.PSP_TRUNCATED, f"offset {offset} past the frame's {len(frame)} octets")
        payload = (self.vc or b"") + frame[offset:]
        if 4 * co_units > len(payload):
            raise EespError(Code.PSP_BAD_OFFSET, f"crypt offset {4 * co_units} octets, payload {len(payload)}")
        if self.next_iv > _M64:
            raise EespError(Code.COUNTER_EXHAUSTED, f"SPI {self.spi:#010x}: the 64-bit IV is used up")
        key = keys.data_key(self.spi, self.version)
        head = self.header(next_header, self.next_iv, co_units)
        co = 4 * co_units
        sealed = AESGCM(key).encrypt(head[4:], payload[co:], head + payload[:co])
        self.next_iv += 1
        return frame[:offset] + head + payload[:co] + sealed

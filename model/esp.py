"""Minimal ESP mode: RFC 4303 with AES-GCM per RFC 4106, 128- or 256-bit keys chosen per
SA (docs/spec.md section 9).

A frame is ``bytes`` plus the offset ``O`` of the ESP header, as for EESP:
``outer (O octets) || SPI || SN32 || IV || ciphertext || ICV``. The outer octets are
never read or rewritten (section 9.4).

Style: every refusal raises :class:`~model.errors.EespError` with its code, as
:mod:`model.endpoint` does. That includes a dummy frame (Next Header 59): it is verified,
counted in the window, and then refused with ``ESP_DUMMY`` so that the caller drops it
silently and counts it. Invalid *requests* (wrong key size, SPI 0..255 for an SA, a
negative offset) raise ``ValueError``; an offset past the frame's end is ESP_TRUNCATED on
both sides (spec 9.3 step 1, 9.5), as the RTL reports it.

The model holds both directions' state in one :class:`SecurityAssociation` (sender SN and
receiver window); a real SA is unidirectional, so a test uses one instance to seal and
another with the same keying material to open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import Code, EespError

__all__ = [
    "DUMMY_NEXT_HEADER", "MIN_FRAME", "MIN_WINDOW", "ReplayWindow", "SecurityAssociation",
    "EspOpened", "SaTable", "minimal_padding", "aad",
]

SPI_MIN = 256                 #: SPI 0..255 are reserved (RFC 4303 section 2.1)
KEY_LENS, SALT_LEN = (16, 32), 4   #: AES-128 or AES-256 key, and RFC 4106 salt (section 8.1)
IV_LEN, ICV_LEN = 8, 16
HEADER_LEN = 4 + 4 + IV_LEN   #: SPI, SN, IV
MIN_FRAME = HEADER_LEN + 2 + ICV_LEN  #: header, Pad Length, Next Header, ICV (spec 9.3 step 1)
MIN_WINDOW = 64
DUMMY_NEXT_HEADER = 59
_M32 = (1 << 32) - 1


def minimal_padding(payload_len: int) -> bytes:
    """Padding octets 1, 2, ... making ``payload_len + padlen + 2`` a multiple of 4 (padlen 0..3)."""
    return bytes(range(1, (-(payload_len + 2)) % 4 + 1))


def aad(spi: int, sn: int, esn: bool) -> bytes:
    """RFC 4106 section 5: ``SPI || [SN]_32``, or ``SPI || [SN_high]_32 || [SN_low]_32`` with ESN."""
    if esn:
        return spi.to_bytes(4, "big") + sn.to_bytes(8, "big")
    return spi.to_bytes(4, "big") + sn.to_bytes(4, "big")


@dataclass
class ReplayWindow:
    """RFC 4303 section 3.4.3 anti-replay window of ``size`` SNs, with appendix A2 for ESN.

    ``highest`` is T, the highest authenticated SN (0 before any); bit ``i`` of ``bitmap``
    says SN ``T - i`` has been received. SNs are full 64-bit values with ESN.
    """

    size: int = MIN_WINDOW
    highest: int = 0
    bitmap: int = 0

    def infer(self, seq_low: int) -> int:
        """Full SN of a wire SN per RFC 4303 appendix A2.2 (may be -1 or 2^64.. : no such SN)."""
        th, tl = self.highest >> 32, self.highest & _M32
        bottom = (tl - self.size + 1) & _M32
        if tl >= self.size - 1:                       # case A: window in one subspace
            seq_high = th if seq_low >= bottom else th + 1
        else:                                         # case B: window spans two subspaces
            seq_high = th - 1 if seq_low >= bottom else th
        return (seq_high << 32) + seq_low

    def precheck(self, sn: int, limit: int) -> None:
        """Spec 9.3 step 3: ESP_STALE if ``sn`` is left of the window (or 0, or not below
        ``limit``), ESP_REPLAY if inside and already received; otherwise return."""
        if sn <= 0 or sn >= limit:
            raise EespError(Code.ESP_STALE, f"SN {sn} is never sent")
        if sn > self.highest:
            return
        if sn <= self.highest - self.size:
            raise EespError(Code.ESP_STALE, f"SN {sn} left of the window ending at {self.highest}")
        if self.bitmap >> (self.highest - sn) & 1:
            raise EespError(Code.ESP_REPLAY, f"SN {sn} already received")

    def update(self, sn: int) -> None:
        """Spec 9.3 step 5: mark ``sn`` received, sliding the window if it is the new highest."""
        if sn > self.highest:
            shift = sn - self.highest  # may be ~2^64: never shift by it
            self.bitmap = (self.bitmap << shift | 1) & ((1 << self.size) - 1) if shift < self.size else 1
            self.highest = sn
        else:
            self.bitmap |= 1 << (self.highest - sn)


class EspOpened(NamedTuple):
    """An opened frame: ``outer || payload`` and the Next Header (the sideband)."""

    frame: bytes
    next_header: int


@dataclass(eq=False)
class SecurityAssociation:
    """An ESP SA (spec 9.2): SPI 256..2^32-1, AES-128 or AES-256 ``key`` (16 or 32 octets)
    and 4-octet ``salt``, ESN flag,
    window size ``window`` >= 64, and padding check flag.

    ``next_sn`` is the SN the next :meth:`seal` uses (1 for a new SA; set it to test
    exhaustion). ``rx_highest`` presets the receiver's highest SN T with an empty bitmap
    (0 for a new SA; set it to test ESN inference far from 0).
    """

    spi: int
    key: bytes = field(repr=False)
    salt: bytes = field(repr=False)
    esn: bool = False
    window: int = MIN_WINDOW
    check_padding: bool = True
    next_sn: int = 1
    rx_highest: int = 0
    _replay: ReplayWindow = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not SPI_MIN <= self.spi <= _M32:
            raise ValueError(f"SPI {self.spi} outside 256..2^32-1 (0..255 are never used on send)")
        if len(self.key) not in KEY_LENS:
            raise ValueError(f"AES-GCM key must be 16 or 32 octets, got {len(self.key)}")
        if len(self.salt) != SALT_LEN:
            raise ValueError(f"salt must be {SALT_LEN} octets, got {len(self.salt)}")
        if self.window < MIN_WINDOW:
            raise ValueError(f"replay window {self.window} < {MIN_WINDOW}")
        if not 1 <= self.next_sn <= self.sn_limit:
            raise ValueError(f"next_sn {self.next_sn} outside 1..{self.sn_limit}")
        if not 0 <= self.rx_highest < self.sn_limit:
            raise ValueError(f"rx_highest {self.rx_highest} outside 0..{self.sn_limit - 1}")
        self.key, self.salt = bytes(self.key), bytes(self.salt)
        self._replay = ReplayWindow(self.window, self.rx_highest)

    @classmethod
    def from_keymat(cls, spi: int, keymat: bytes, **kw: Any) -> SecurityAssociation:
        """An SA from keying material ``key || salt`` (RFC 4106 section 8.1): 20 octets for
        AES-128-GCM, 36 for AES-256-GCM."""
        if len(keymat) - SALT_LEN not in KEY_LENS:
            raise ValueError(f"keying material must be 20 or 36 octets, got {len(keymat)}")
        return cls(spi, keymat[:-SALT_LEN], keymat[-SALT_LEN:], **kw)

    @property
    def sn_limit(self) -> int:
        """First SN that can never be sent: 2^32, or 2^64 with ESN."""
        return 1 << (64 if self.esn else 32)

    @property
    def replay_state(self) -> tuple[int, int]:
        """Snapshot ``(T, bitmap)`` of the receiver window (bit i = SN T - i received)."""
        return self._replay.highest, self._replay.bitmap

    def seal(self, frame: bytes, offset: int, next_header: int) -> bytes:
        """Encap ``outer || payload`` (payload = ``frame[offset:]``) with the next SN.

        Returns ``outer || SPI || [SN]_32 || IV || C || ICV`` with IV = [SN]_64 and minimal
        padding. Raises ESP_SN_EXHAUSTED (and changes nothing) once the SN space is used up.
        """
        if offset < 0:
            raise ValueError("negative ESP offset")
        if not 0 <= next_header <= 255:
            raise ValueError(f"Next Header {next_header} is not an octet")
        if offset > len(frame):
            raise EespError(Code.ESP_TRUNCATED, f"ESP offset {offset} past the frame's end ({len(frame)})")
        sn = self.next_sn
        if sn >= self.sn_limit:
            raise EespError(Code.ESP_SN_EXHAUSTED, f"SN would wrap past {self.sn_limit - 1}")
        payload = frame[offset:]
        iv = sn.to_bytes(IV_LEN, "big")
        pad = minimal_padding(len(payload))
        plain = payload + pad + bytes([len(pad), next_header])
        sealed = AESGCM(self.key).encrypt(self.salt + iv, plain, aad(self.spi, sn, self.esn))
        self.next_sn = sn + 1
        return frame[:offset] + self.spi.to_bytes(4, "big") + (sn & _M32).to_bytes(4, "big") + iv + sealed

    def open(self, frame: bytes, offset: int) -> EspOpened:
        """Decap per spec 9.3 steps 1-8; raises EespError with the first rule broken.

        ESP_DUMMY (Next Header 59) is raised after the frame verified and was marked
        received: the caller drops it silently and counts it.
        """
        if offset < 0:
            raise ValueError("negative ESP offset")
        if len(frame) < offset + MIN_FRAME:              # 1 (also an offset past the end)
            raise EespError(Code.ESP_TRUNCATED, f"{len(frame) - offset} octets after the offset")
        spi = int.from_bytes(frame[offset : offset + 4], "big")               # 2
        if spi < SPI_MIN:
            raise EespError(Code.ESP_BAD_SPI, f"SPI {spi} is reserved")
        if spi != self.spi:
            raise EespError(Code.ESP_UNKNOWN_SPI, f"SPI {spi:#010x} is not this SA's")
        seq_low = int.from_bytes(frame[offset + 4 : offset + 8], "big")      # 3
        sn = self._replay.infer(seq_low) if self.esn else seq_low
        self._replay.precheck(sn, self.sn_limit)
        iv = frame[offset + 8 : offset + HEADER_LEN]                          # 4
        try:
            plain = AESGCM(self.key).decrypt(self.salt + iv, frame[offset + HEADER_LEN :],
                                             aad(self.spi, sn, self.esn))
        except InvalidTag:
            raise EespError(Code.AUTH_FAIL, f"ICV mismatch (SN {sn})") from None
        self._replay.update(sn)                                              # 5
        pad_len, next_header = plain[-2], plain[-1]                           # 6
        end = len(plain) - 2 - pad_len
        if end < 0:
            raise EespError(Code.ESP_BAD_PAD, f"Pad Length {pad_len} exceeds the plaintext")
        if self.check_padding and plain[end:-2] != bytes(range(1, pad_len + 1)):
            raise EespError(Code.ESP_BAD_PAD, "padding octets are not 1, 2, ..., Pad Length")
        if next_header == DUMMY_NEXT_HEADER:                                  # 7
            raise EespError(Code.ESP_DUMMY, f"dummy frame (SN {sn})")
        return EspOpened(frame[:offset] + plain[:end], next_header)          # 8


class SaTable:
    """The receiver's SAs keyed by SPI (spec 9.2)."""

    def __init__(self) -> None:
        self._sas: dict[int, SecurityAssociation] = {}

    def __len__(self) -> int:
        return len(self._sas)

    def __contains__(self, spi: object) -> bool:
        return spi in self._sas

    def add(self, sa: SecurityAssociation) -> None:
        """Install ``sa``; ValueError if its SPI is already installed."""
        if sa.spi in self._sas:
            raise ValueError(f"SPI {sa.spi:#010x} already installed")
        self._sas[sa.spi] = sa

    def remove(self, spi: int) -> SecurityAssociation:
        """Uninstall and return the SA of ``spi``; KeyError if none."""
        return self._sas.pop(spi)

    def lookup(self, spi: int) -> SecurityAssociation:
        """The SA of ``spi``: ESP_BAD_SPI for 0..255, ESP_UNKNOWN_SPI if none (spec 9.3 step 2)."""
        if spi < SPI_MIN:
            raise EespError(Code.ESP_BAD_SPI, f"SPI {spi} is reserved")
        try:
            return self._sas[spi]
        except KeyError:
            raise EespError(Code.ESP_UNKNOWN_SPI, f"no SA with SPI {spi:#010x}") from None

    def open(self, frame: bytes, offset: int) -> EspOpened:
        """Read the SPI at ``offset``, dispatch to its SA and open (spec 9.3 steps 1-8)."""
        if offset < 0:
            raise ValueError("negative ESP offset")
        if len(frame) < offset + MIN_FRAME:  # also an offset past the frame's end
            raise EespError(Code.ESP_TRUNCATED, f"{len(frame) - offset} octets after the offset")
        return self.lookup(int.from_bytes(frame[offset : offset + 4], "big")).open(frame, offset)

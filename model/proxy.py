"""Cross-domain proxy re-encrypt (docs/spec.md section 8).

The proxy opens a domain-A frame with A's key table and re-seals the same inner
content for domain B under its own sender context in B. COffset and IOffset are
copied from the ingress header; egress always carries B's Master Key Option.
"""

from __future__ import annotations

from dataclasses import dataclass

from .endpoint import Endpoint, SenderContext
from .errors import Code, EespError
from .keytable import KeyTable
from .psp import MAX_CRYPT_OFFSET, PspKeys, PspSender, parse_header, psp_open

__all__ = ["EgressContext", "Proxy", "PspTarget", "EespToPsp", "EespTarget", "PspToEesp"]


@dataclass(frozen=True)
class EgressContext:
    """Where an ingress group goes: B's group, the proxy's ID in B, and B's epoch."""

    group: int
    kind: int
    ident: bytes
    epoch: int


class Proxy:
    """Holds both domains' key tables and the ingress-group -> egress-context mapping."""

    def __init__(self, ingress: KeyTable, egress: KeyTable) -> None:
        self.ingress = Endpoint(ingress)
        self.egress = Endpoint(egress)
        self.mapping: dict[int, EgressContext] = {}

    def reencrypt(self, frame: bytes, offset: int) -> bytes:
        """A frame protected for A -> the same content protected for B; EespError if refused."""
        opened = self.ingress.open(frame, offset)
        out = self.mapping.get(opened.group)
        if out is None:
            raise EespError(Code.NO_MAPPING, f"ingress group {opened.group}")
        h = opened.header
        ctx = SenderContext(out.group, out.kind, out.ident, out.epoch, h.coffset, h.ioffset, key_option=True)
        return self.egress.seal(opened.frame, offset, ctx)


# ---- proxies between profiles (spec 8.1) ------------------------------------------------

#: Words of a PSP header extension in a crypt offset: the VC (when V = 1) is 2 words.
_PSP_VC_WORDS = 2


@dataclass(frozen=True)
class PspTarget:
    """Where an EESP ingress group goes in the PSP domain: the proxy's sending SA there
    (its SPI, version, VC and IV counter; the crypt offset is set per frame) and the Next
    Header the PSP header names (EESP carries none: it is a property of the group's
    traffic)."""

    sa: PspSender
    next_header: int


class EespToPsp:
    """Spec 8.1, EESP domain A -> PSP domain B: open with A's key table, map A's trust
    group to a PSP SA, seal with the PSP device keys. The same inner words stay clear:
    the PSP crypt offset is COffset plus the VC's 2 words when the SA has a VC."""

    def __init__(self, ingress: KeyTable, keys: PspKeys) -> None:
        self.ingress = Endpoint(ingress)
        self.keys = keys
        self.mapping: dict[int, PspTarget] = {}

    def reencrypt(self, frame: bytes, offset: int) -> bytes:
        """A frame protected for A -> the same content protected for B; EespError if refused."""
        opened = self.ingress.open(frame, offset)
        target = self.mapping.get(opened.group)
        if target is None:
            raise EespError(Code.NO_MAPPING, f"ingress group {opened.group}")
        sa = target.sa
        co = opened.header.coffset + (_PSP_VC_WORDS if sa.vc is not None else 0)
        if co > MAX_CRYPT_OFFSET:
            raise EespError(Code.PSP_BAD_OFFSET, f"COffset {opened.header.coffset}: crypt offset {co} > {MAX_CRYPT_OFFSET}")
        return sa.seal(self.keys, opened.frame, offset, target.next_header, crypt_offset=co)


@dataclass(frozen=True)
class EespTarget:
    """Where a PSP SPI goes in the EESP domain: the proxy's sender context there (group,
    ID kind, ID, Epoch; K = 1 always), for frames whose Next Header is ``next_header``."""

    out: EgressContext
    next_header: int


class PspToEesp:
    """Spec 8.1, PSP domain B -> EESP domain A: open with the PSP device keys, map the
    SPI (and Next Header) to a sender context in A, seal with A's key table. COffset is
    the clear inner words of the PSP frame (its crypt offset less the header extension,
    at least 0), IOffset 0 (PSP binds no outer octets)."""

    def __init__(self, keys: PspKeys, egress: KeyTable) -> None:
        self.keys = keys
        self.egress = Endpoint(egress)
        self.mapping: dict[int, EespTarget] = {}

    def reencrypt(self, frame: bytes, offset: int) -> bytes:
        """A PSP frame -> the same content protected for A; EespError if refused."""
        opened = psp_open(self.keys, frame, offset)
        hdr = parse_header(frame, offset)
        target = self.mapping.get(hdr.spi)
        if target is None or target.next_header != opened.next_header:
            raise EespError(Code.NO_MAPPING, f"SPI {hdr.spi:#010x} Next Header {opened.next_header}")
        out = target.out
        clear = max(0, hdr.crypt_offset - 2 * (hdr.hdr_ext_len - 1))
        ctx = SenderContext(out.group, out.kind, out.ident, out.epoch, clear, 0, key_option=True)
        return self.egress.seal(opened.frame, offset, ctx)

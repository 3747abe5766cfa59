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

__all__ = ["EgressContext", "Proxy"]


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

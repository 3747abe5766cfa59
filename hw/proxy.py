"""Cross-domain proxy re-encrypt of docs/spec.md section 8: frames protected for domain A
in, the same inner content protected for domain B out.

:class:`Proxy` chains a :class:`hw.endpoint.Decap` that holds A's key table, a mapping
table, and a :class:`hw.endpoint.Encap` that holds B's key table and the proxy's sender
contexts in B:

* the decap opens the frame with A's keys (every rule of spec 2.2) and releases it only
  once its ICV verified, as ``F[0..O) || clear words || plaintext`` on an internal
  stream, with the ingress trust group, O, COffset and IOffset beside it;
* the mapping (``mapwr``) names, for each ingress group, the sender context in B;
  COffset and IOffset are copied from the ingress header (spec 8), K = 1 always;
* the encap seals that with B's keys, the context's ID, Epoch and counter, and writes
  B's Master Key Option into the new header.

Plaintext exists only on the internal stream between the two, never on a port, and only
after its ingress ICV verified: a frame that fails at ingress never reaches the encap
as data. This is the chained form of spec section 8, not the fused one (which would
re-key the ciphertext inside one GCM engine and need no second frame store).

Ports (``amaranth.lib.stream``, AXI-Stream lane order as :mod:`hw.datapath`):

* ``s`` (sink) A frames, ``user.offset`` = O on the first beat;
* ``m`` (source) B frames ``F[0..O) || header_B || clear words || C_B || ICV_B`` with
  ``user.error`` = 0; a refused frame (any ingress code 1-11, NO_MAPPING = 13,
  COUNTER_EXHAUSTED = 12 in B, TOO_LONG = 14) is dropped when ``drop_bad`` = 1, or leaves
  as ``F[0..O)`` with ``user.error`` = its code (no header, no ciphertext, no ICV);
* ``wr_a`` / ``wr_b`` (sinks) key-table writes of A and B (:mod:`hw.keytable`);
* ``ctxwr`` (sink) the proxy's sender contexts in B (:func:`hw.endpoint.context_layout`;
  ``k`` is forced to 1);
* ``mapwr`` (sink) :func:`map_layout`: ingress group ``group`` goes to context ``ctx``
  when ``valid``, else its frames are refused with NO_MAPPING;
* ``drop_bad`` (in); ``stat_addr`` (in, 7 bits) / ``stat_data`` (out, 32): addresses
  0-63 the ingress counters (:data:`hw.endpoint.STAT`, decap A), 64-127 the egress
  counters (``64 +`` :data:`hw.endpoint.STAT`, encap B). A frame refused at ingress
  and passed (``drop_bad`` = 0) is counted at egress again under its code, as it leaves
  with that code.

Throughput and latency: those of the decap and the encap in series (each one beat per
cycle on long frames); measured by ``tb/proxy_tb.py``.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Shape, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from common.codes import Code

from .datapath import MAX_FRAME, InUser, OutUser
from .endpoint import ContextState, Decap, Encap, context_layout
from .keytable import write_layout
from .realign import beat

__all__ = ["Proxy", "map_layout"]


def map_layout(groups: int, contexts: int) -> data.StructLayout:
    """A mapping write: ingress ``group`` -> sender context ``ctx`` in B, if ``valid``."""
    return data.StructLayout({"group": max(1, (groups - 1).bit_length()),
                              "ctx": max(1, (contexts - 1).bit_length()), "valid": 1})


class Proxy(wiring.Component):
    """Domain A -> domain B re-encrypt (see module docstring). ``groups_a`` / ``groups_b``
    trust groups in each key table, ``contexts`` sender contexts in B, ``max_frame``
    the longest A frame and the longest inner frame, in octets."""

    def __init__(self, groups_a: int = 4, groups_b: int = 4, contexts: int = 16, max_frame: int = MAX_FRAME):
        self._ga, self._gb, self._contexts, self._max_frame = groups_a, groups_b, contexts, max_frame
        super().__init__({
            "s": In(stream.Signature(beat(InUser))),
            "m": Out(stream.Signature(beat(OutUser))),
            "wr_a": In(stream.Signature(write_layout(groups_a))),
            "wr_b": In(stream.Signature(write_layout(groups_b))),
            "ctxwr": In(stream.Signature(context_layout(groups_b, contexts))),
            "ctx_addr": In(max(1, (contexts - 1).bit_length())),
            "ctx_state": Out(ContextState),
            "mapwr": In(stream.Signature(map_layout(groups_a, contexts))),
            "drop_bad": In(1),
            "stat_addr": In(7),
            "stat_data": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.ing = ing = Decap(self._ga, self._max_frame, meta=True)
        m.submodules.eg = eg = Encap(self._gb, self._contexts, self._max_frame, chained=True)
        wiring.connect(m, wiring.flipped(self.s), ing.s)
        wiring.connect(m, wiring.flipped(self.wr_a), ing.wr)
        wiring.connect(m, wiring.flipped(self.wr_b), eg.wr)
        wiring.connect(m, eg.m, wiring.flipped(self.m))
        m.d.comb += [
            eg.ctxwr.valid.eq(self.ctxwr.valid), self.ctxwr.ready.eq(eg.ctxwr.ready),
            eg.ctxwr.payload.eq(self.ctxwr.payload), eg.ctxwr.payload.k.eq(1),
            eg.ctx_addr.eq(self.ctx_addr), self.ctx_state.eq(eg.ctx_state),
            ing.drop_bad.eq(self.drop_bad), eg.drop_bad.eq(self.drop_bad),
            ing.stat_addr.eq(self.stat_addr[:6]), eg.stat_addr.eq(self.stat_addr[:6]),
            self.stat_data.eq(Mux(self.stat_addr[6], eg.stat_data, ing.stat_data)),
        ]

        # ---- the mapping table ---------------------------------------------------------
        ml = map_layout(self._ga, self._contexts)
        maps = Array([Signal(ml, name=f"map{g}") for g in range(self._ga)])
        w = self.mapwr.payload
        m.d.comb += self.mapwr.ready.eq(1)
        with m.If(self.mapwr.valid):
            m.d.sync += maps[w.group].eq(w)

        # ---- opened A frames into the encap, with B's sender context -----------------------
        i, o = ing.m.payload, eg.s.payload
        entry = maps[i.user.group[:Shape.cast(ml["group"].shape).width]]
        m.d.comb += [
            eg.s.valid.eq(ing.m.valid), ing.m.ready.eq(eg.s.ready),
            o.data.eq(i.data), o.keep.eq(i.keep), o.last.eq(i.last),
            # read by the encap on a frame's first beat only
            o.user.offset.eq(i.user.offset), o.user.ctx.eq(entry.ctx),
            o.user.coffset.eq(i.user.coffset), o.user.ioffset.eq(i.user.ioffset),
            o.user.error.eq(Mux(i.user.error != 0, i.user.error,
                                Mux(entry.valid, 0, Code.NO_MAPPING.value))),
        ]
        return m

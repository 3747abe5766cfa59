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

from .aes import check_sbox
from .datapath import MAX_FRAME, InUser, OutUser
from .endpoint import ContextState, Decap, Encap, context_layout
from .keytable import write_layout
from .psp import MasterKeyWrite, PspDecap, PspEncap, SaState, psp_sa_layout
from .realign import beat

__all__ = ["Proxy", "map_layout", "EespToPsp", "eesp_psp_map_layout", "PspToEesp", "psp_eesp_map_layout"]

#: The signature members the two halves of a chained proxy share, wired by :func:`_share_controls`.
CONTROLS = {"drop_bad": In(1), "stat_addr": In(7), "stat_data": Out(32)}


def _share_controls(m, top, ing, eg) -> None:
    """``drop_bad`` to both halves; ``stat_addr`` 0-63 reads the ingress counters, 64-127
    the egress ones."""
    m.d.comb += [
        ing.drop_bad.eq(top.drop_bad), eg.drop_bad.eq(top.drop_bad),
        ing.stat_addr.eq(top.stat_addr[:6]), eg.stat_addr.eq(top.stat_addr[:6]),
        top.stat_data.eq(Mux(top.stat_addr[6], eg.stat_data, ing.stat_data)),
    ]


def _context_ports(groups: int, contexts: int) -> dict:
    """The signature members of a proxy's sender contexts in its EESP egress."""
    return {"ctxwr": In(stream.Signature(context_layout(groups, contexts))),
            "ctx_addr": In(max(1, (contexts - 1).bit_length())), "ctx_state": Out(ContextState)}


def _egress_contexts(m, top, eg) -> None:
    """The proxy's sender contexts in its EESP egress ``eg``: ``ctxwr`` with K forced to 1
    (a proxy's frames always carry the Master Key Option), ``ctx_addr`` / ``ctx_state``."""
    m.d.comb += [
        eg.ctxwr.valid.eq(top.ctxwr.valid), top.ctxwr.ready.eq(eg.ctxwr.ready),
        eg.ctxwr.payload.eq(top.ctxwr.payload), eg.ctxwr.payload.k.eq(1),
        eg.ctx_addr.eq(top.ctx_addr), top.ctx_state.eq(eg.ctx_state),
    ]


def _mapping(m, mapwr, n: int, index: str) -> list:
    """``n`` mapping entries (the layout of ``mapwr``'s payload), written from ``mapwr``
    (always ready): the entry that the write's field ``index`` names takes the write."""
    entries = [Signal(mapwr.payload.shape(), name=f"map{k}") for k in range(n)]
    w = mapwr.payload
    m.d.comb += mapwr.ready.eq(1)
    with m.If(mapwr.valid):
        m.d.sync += Array(entries)[w[index]].eq(w)
    return entries


def _frames_between(m, ing, eg) -> None:
    """The opened frames of ``ing`` into ``eg``, beat for beat (``user`` is set by the caller)."""
    i, o = ing.m.payload, eg.s.payload
    m.d.comb += [eg.s.valid.eq(ing.m.valid), ing.m.ready.eq(eg.s.ready),
                 o.data.eq(i.data), o.keep.eq(i.keep), o.last.eq(i.last)]


def map_layout(groups: int, contexts: int) -> data.StructLayout:
    """A mapping write: ingress ``group`` -> sender context ``ctx`` in B, if ``valid``."""
    return data.StructLayout({"group": max(1, (groups - 1).bit_length()),
                              "ctx": max(1, (contexts - 1).bit_length()), "valid": 1})


class Proxy(wiring.Component):
    """Domain A -> domain B re-encrypt (see module docstring). ``groups_a`` / ``groups_b``
    trust groups in each key table, ``contexts`` sender contexts in B, ``max_frame``
    the longest A frame and the longest inner frame, in octets.
    ``sbox``: where the AES pipelines keep their S-boxes, ``"lut"`` or ``"bram"`` (:class:`hw.aes.Aes`).
    """

    def __init__(self, groups_a: int = 4, groups_b: int = 4, contexts: int = 16, max_frame: int = MAX_FRAME,
                 sbox: str = "lut"):
        self._sbox = check_sbox(sbox)
        self._ga, self._gb, self._contexts, self._max_frame = groups_a, groups_b, contexts, max_frame
        super().__init__({
            "s": In(stream.Signature(beat(InUser))),
            "m": Out(stream.Signature(beat(OutUser))),
            "wr_a": In(stream.Signature(write_layout(groups_a))),
            "wr_b": In(stream.Signature(write_layout(groups_b))),
            **_context_ports(groups_b, contexts),
            "mapwr": In(stream.Signature(map_layout(groups_a, contexts))),
            **CONTROLS,
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.ing = ing = Decap(self._ga, self._max_frame, meta=True, sbox=self._sbox)
        m.submodules.eg = eg = Encap(self._gb, self._contexts, self._max_frame, chained=True, sbox=self._sbox)
        wiring.connect(m, wiring.flipped(self.s), ing.s)
        wiring.connect(m, wiring.flipped(self.wr_a), ing.wr)
        wiring.connect(m, wiring.flipped(self.wr_b), eg.wr)
        wiring.connect(m, eg.m, wiring.flipped(self.m))
        _egress_contexts(m, self, eg)
        _share_controls(m, self, ing, eg)

        # ---- the mapping table ---------------------------------------------------------
        ml = map_layout(self._ga, self._contexts)
        maps = Array(_mapping(m, self.mapwr, self._ga, "group"))

        # ---- opened A frames into the encap, with B's sender context -----------------------
        i, o = ing.m.payload, eg.s.payload
        entry = maps[i.user.group[:Shape.cast(ml["group"].shape).width]]
        _frames_between(m, ing, eg)
        m.d.comb += [
            # read by the encap on a frame's first beat only
            o.user.offset.eq(i.user.offset), o.user.ctx.eq(entry.ctx),
            o.user.coffset.eq(i.user.coffset), o.user.ioffset.eq(i.user.ioffset),
            o.user.error.eq(Mux(i.user.error != 0, i.user.error,
                                Mux(entry.valid, 0, Code.NO_MAPPING.value))),
        ]
        return m


def eesp_psp_map_layout(groups: int, sas: int) -> data.StructLayout:
    """An :class:`EespToPsp` mapping write: ingress ``group`` -> PSP SA ``sa`` with
    ``next_header`` in its header, if ``valid``."""
    return data.StructLayout({"group": max(1, (groups - 1).bit_length()), "valid": 1,
                              "sa": max(1, (sas - 1).bit_length()), "next_header": 8})


class EespToPsp(wiring.Component):
    """EESP domain -> PSP domain (spec 8.1): ``Decap(meta=True)`` with the EESP key table
    (``wr``) into ``PspEncap(chained=True)`` with the PSP master keys (``mkwr``) and sending
    SAs (``sawr``, ``sa_addr`` / ``sa_state``). ``mapwr`` (:func:`eesp_psp_map_layout`) maps
    each ingress trust group to an SA and a Next Header; an unmapped group's frames are
    refused with NO_MAPPING. The PSP crypt offset is the frame's COffset + 2 V. Ports,
    refusals and counters otherwise as :class:`Proxy`; throughput one beat per cycle on
    long frames, as its two halves.
    ``sbox``: where the AES pipelines keep their S-boxes, ``"lut"`` or ``"bram"`` (:class:`hw.aes.Aes`).
    """

    def __init__(self, groups: int = 4, sas: int = 8, max_frame: int = MAX_FRAME, sbox: str = "lut"):
        self._sbox = check_sbox(sbox)
        self._groups, self._sas, self._max_frame = groups, sas, max_frame
        sa = psp_sa_layout(sas)
        super().__init__({
            "s": In(stream.Signature(beat(InUser))),
            "m": Out(stream.Signature(beat(OutUser))),
            "wr": In(stream.Signature(write_layout(groups))),
            "mkwr": In(stream.Signature(MasterKeyWrite)),
            "sawr": In(stream.Signature(sa)),
            "sa_addr": In(sa["index"].shape),
            "sa_state": Out(SaState),
            "mapwr": In(stream.Signature(eesp_psp_map_layout(groups, sas))),
            **CONTROLS,
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.ing = ing = Decap(self._groups, self._max_frame, meta=True, sbox=self._sbox)
        m.submodules.eg = eg = PspEncap(self._sas, self._max_frame, chained=True, sbox=self._sbox)
        wiring.connect(m, wiring.flipped(self.s), ing.s)
        wiring.connect(m, wiring.flipped(self.wr), ing.wr)
        wiring.connect(m, wiring.flipped(self.mkwr), eg.mkwr)
        wiring.connect(m, wiring.flipped(self.sawr), eg.sawr)
        wiring.connect(m, eg.m, wiring.flipped(self.m))
        m.d.comb += [eg.sa_addr.eq(self.sa_addr), self.sa_state.eq(eg.sa_state)]
        _share_controls(m, self, ing, eg)

        ml = eesp_psp_map_layout(self._groups, self._sas)
        maps = Array(_mapping(m, self.mapwr, self._groups, "group"))

        i, o = ing.m.payload, eg.s.payload
        entry = maps[i.user.group[:Shape.cast(ml["group"].shape).width]]
        _frames_between(m, ing, eg)
        m.d.comb += [       # read by the encap on a frame's first beat only
            o.user.offset.eq(i.user.offset), o.user.sa.eq(entry.sa), o.user.next_header.eq(entry.next_header),
            o.user.clear.eq(i.user.coffset),
            o.user.error.eq(Mux(i.user.error != 0, i.user.error, Mux(entry.valid, 0, Code.NO_MAPPING.value))),
        ]
        return m


def psp_eesp_map_layout(maps: int, contexts: int) -> data.StructLayout:
    """A :class:`PspToEesp` mapping write: entry ``index`` maps ``spi`` (frames whose Next
    Header is ``next_header``) to sender context ``ctx``, if ``valid``."""
    return data.StructLayout({"index": max(1, (maps - 1).bit_length()), "valid": 1, "spi": 32,
                              "next_header": 8, "ctx": max(1, (contexts - 1).bit_length())})


class PspToEesp(wiring.Component):
    """PSP domain -> EESP domain (spec 8.1): ``PspDecap(meta=True)`` with the PSP master
    keys (``mkwr``) into ``Encap(chained=True)`` with the EESP key table (``wr``) and the
    proxy's sender contexts (``ctxwr``, ``ctx_addr`` / ``ctx_state``; K forced to 1).
    ``mapwr`` (:func:`psp_eesp_map_layout`) writes ``maps`` entries; a frame takes the
    lowest-numbered valid entry with its SPI, and is refused with NO_MAPPING if there is
    none or that entry's Next Header differs from the frame's. COffset = the frame's clear
    words after its extension, IOffset = 0. Ports, refusals and counters otherwise as
    :class:`Proxy`; throughput one beat per cycle on long frames, as its two halves.
    ``sbox``: where the AES pipelines keep their S-boxes, ``"lut"`` or ``"bram"`` (:class:`hw.aes.Aes`).
    """

    def __init__(self, groups: int = 4, contexts: int = 16, maps: int = 8, max_frame: int = MAX_FRAME,
                 sbox: str = "lut"):
        self._sbox = check_sbox(sbox)
        if maps < 1:
            raise ValueError("at least one mapping entry")
        self._groups, self._contexts, self._maps, self._max_frame = groups, contexts, maps, max_frame
        super().__init__({
            "s": In(stream.Signature(beat(InUser))),
            "m": Out(stream.Signature(beat(OutUser))),
            "mkwr": In(stream.Signature(MasterKeyWrite)),
            "wr": In(stream.Signature(write_layout(groups))),
            **_context_ports(groups, contexts),
            "mapwr": In(stream.Signature(psp_eesp_map_layout(maps, contexts))),
            **CONTROLS,
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.ing = ing = PspDecap(self._max_frame, meta=True, sbox=self._sbox)
        m.submodules.eg = eg = Encap(self._groups, self._contexts, self._max_frame, chained=True, sbox=self._sbox)
        wiring.connect(m, wiring.flipped(self.s), ing.s)
        wiring.connect(m, wiring.flipped(self.mkwr), ing.mkwr)
        wiring.connect(m, wiring.flipped(self.wr), eg.wr)
        wiring.connect(m, eg.m, wiring.flipped(self.m))
        _egress_contexts(m, self, eg)
        _share_controls(m, self, ing, eg)

        ml = psp_eesp_map_layout(self._maps, self._contexts)
        maps = _mapping(m, self.mapwr, self._maps, "index")

        i, o = ing.m.payload, eg.s.payload
        entry = Signal(ml)              # the lowest-numbered valid entry with the frame's SPI
        for e in reversed(maps):
            with m.If(e.valid & (e.spi == i.user.spi)):
                m.d.comb += entry.eq(e)
        _frames_between(m, ing, eg)
        mapped = entry.valid & (entry.next_header == i.user.next_header)
        m.d.comb += [       # read by the encap on a frame's first beat only
            o.user.offset.eq(i.user.offset), o.user.ctx.eq(entry.ctx),
            o.user.coffset.eq(i.user.coffset), o.user.ioffset.eq(0),
            o.user.error.eq(Mux(i.user.error != 0, i.user.error, Mux(mapped, 0, Code.NO_MAPPING.value))),
        ]
        return m

"""FPGA-facing top level: a datapath top with AXI4-Stream and AXI4-Lite ports named as
Vivado and Quartus infer them.

:class:`AxiTop` wraps any top of this project (decap, encap, proxies, ESP, PSP, multi):

* ``s_axis_tdata`` (128) / ``tkeep`` (16) / ``tlast`` / ``tuser`` / ``tvalid`` /
  ``tready``: the frames in (the top's ``s``; ``tuser`` its ``user``, read on a frame's
  first beat); ``m_axis_*`` the frames out (``tuser`` the top's output ``user``: the
  result code, and the fields its ``m.user`` has). Lane k = octet k, as AXI4-Stream;
* ``s_axil_aw*`` / ``w*`` / ``b*`` / ``ar*`` / ``r*``: an AXI4-Lite slave (32-bit data,
  :data:`hw.regmap.ADDR_BITS`-bit addresses, byte strobes, OKAY / SLVERR) over all of
  the top's management and status ports, by the register map of :func:`hw.regmap.regmap`;
* ``aclk`` and ``aresetn``, the clock and reset of all of these interfaces (AXI's
  ACLK / ARESETn, the names Vivado associates with the ``s_axis``/``m_axis``/``s_axil``
  interfaces): the reset is active low and synchronous, sampled on the rising edge of
  ``aclk``; hold it low for at least one edge. While it is low every valid and every
  counter of the top is cleared (keys and tables keep their contents, as with ``rst``
  of the inner top).

AXI4-Lite timing: a write is taken once both its address and data are in (one of each
at a time), and answered the next cycle, except a ``_COMMIT`` write with bit 0 set, which
is answered the cycle after the top took the staged payload. A read is answered the
cycle after its address (``arready`` while no answer waits). ``*prot`` are ignored.
"""

from __future__ import annotations

from amaranth.hdl import Cat, ClockDomain, ClockSignal, Const, Module, Mux, ResetSignal, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .regmap import ADDR_BITS, MAGIC, regmap

__all__ = ["AxiTop"]

OKAY, SLVERR = 0, 2


class AxiTop(wiring.Component):
    """``inner`` (a top level) behind AXI4-Stream and AXI4-Lite ports (module docstring)."""

    def __init__(self, inner: wiring.Component):
        self._inner = inner
        self._regs = regmap(inner)
        sig = inner.signature.members
        ports = {"aclk": In(1), "aresetn": In(1)}
        for side, flow, back in (("s", In, Out), ("m", Out, In)):
            pl = sig[side].signature.members["payload"].shape
            for f in ("data", "keep", "last", "user"):
                ports[f"{side}_axis_t{f}"] = flow(Shape.cast(pl[f].shape).width)
            ports[f"{side}_axis_tvalid"] = flow(1)
            ports[f"{side}_axis_tready"] = back(1)
        ports.update({
            "s_axil_awaddr": In(ADDR_BITS), "s_axil_awprot": In(3), "s_axil_awvalid": In(1), "s_axil_awready": Out(1),
            "s_axil_wdata": In(32), "s_axil_wstrb": In(4), "s_axil_wvalid": In(1), "s_axil_wready": Out(1),
            "s_axil_bresp": Out(2), "s_axil_bvalid": Out(1), "s_axil_bready": In(1),
            "s_axil_araddr": In(ADDR_BITS), "s_axil_arprot": In(3), "s_axil_arvalid": In(1), "s_axil_arready": Out(1),
            "s_axil_rdata": Out(32), "s_axil_rresp": Out(2), "s_axil_rvalid": Out(1), "s_axil_rready": In(1),
        })
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        m.submodules.top = top = self._inner
        regs = self._regs
        # the domain every register here and in the inner top is clocked by: aclk / aresetn
        m.domains.sync = ClockDomain("sync")
        m.d.comb += [ClockSignal("sync").eq(self.aclk), ResetSignal("sync").eq(~self.aresetn)]

        # ---- AXI4-Stream: the top's frame ports, renamed -----------------------------------
        for side in ("s", "m"):
            port = getattr(top, side)
            fields = [getattr(self, f"{side}_axis_t{f}") for f in ("data", "keep", "last", "user")]
            if side == "s":
                m.d.comb += [port.payload.eq(Cat(*fields)), port.valid.eq(self.s_axis_tvalid),
                             self.s_axis_tready.eq(port.ready)]
            else:
                m.d.comb += [Cat(*fields).eq(port.payload), self.m_axis_tvalid.eq(port.valid),
                             port.ready.eq(self.m_axis_tready)]

        # ---- AXI4-Lite writes: address and data in, then the register, then the answer -------
        aw, aw_full = Signal(ADDR_BITS), Signal()
        wd, ws, w_full = Signal(32), Signal(4), Signal()
        bvalid, bresp = Signal(), Signal(2)
        m.d.comb += [self.s_axil_awready.eq(~aw_full), self.s_axil_wready.eq(~w_full),
                     self.s_axil_bvalid.eq(bvalid), self.s_axil_bresp.eq(bresp)]
        with m.If(self.s_axil_awvalid & ~aw_full):
            m.d.sync += [aw.eq(self.s_axil_awaddr), aw_full.eq(1)]
        with m.If(self.s_axil_wvalid & ~w_full):
            m.d.sync += [wd.eq(self.s_axil_wdata), ws.eq(self.s_axil_wstrb), w_full.eq(1)]
        with m.If(bvalid & self.s_axil_bready):
            m.d.sync += bvalid.eq(0)
        ready = aw_full & w_full & ~bvalid       # a write to carry out this cycle (or wait in)
        word = aw[2:]

        def bytes_of(reg):
            return [Mux(ws[b], wd[8 * b:8 * b + 8], reg[8 * b:8 * b + 8]) for b in range(4)]

        def answer(resp):
            return [bvalid.eq(1), bresp.eq(resp), aw_full.eq(0), w_full.eq(0)]

        control = [r for r in regs if r.kind == "control"][0]
        ctrl = Signal(32)
        for n, _, lo in control.fields:
            m.d.comb += getattr(top, n).eq(ctrl[lo])
        staged = {}
        for r in regs:
            if r.kind == "data":
                staged.setdefault(r.port, {})[r.word] = Signal(32, name=f"{r.port}_data{r.word}")
        pushing = {p: Signal(name=f"{p}_pushing") for p in staged}
        for p, words in staged.items():
            stream_port = getattr(top, p)
            width = len(stream_port.payload.as_value())
            m.d.comb += [stream_port.payload.eq(Cat(*[words[j] for j in sorted(words)])[:width]),
                         stream_port.valid.eq(pushing[p])]
            with m.If(pushing[p] & stream_port.ready):
                m.d.sync += [pushing[p].eq(0), *answer(OKAY)]
        busy = Cat(*pushing.values()).any() if pushing else Const(0)
        with m.If(ready & ~busy):
            with m.Switch(word):
                for r in regs:
                    if r.kind not in ("control", "data", "commit"):
                        continue
                    with m.Case(r.offset >> 2):
                        if r.kind == "control":
                            m.d.sync += [ctrl.eq(Cat(*bytes_of(ctrl)) & ((1 << len(r.fields)) - 1)), *answer(OKAY)]
                        elif r.kind == "data":
                            reg = staged[r.port][r.word]
                            m.d.sync += [reg.eq(Cat(*bytes_of(reg))), *answer(OKAY)]
                        else:
                            with m.If(ws[0] & wd[0]):
                                m.d.sync += pushing[r.port].eq(1)      # answered once taken
                            with m.Else():
                                m.d.sync += answer(OKAY)
                with m.Default():
                    m.d.sync += answer(SLVERR)

        # ---- AXI4-Lite reads: answered the cycle after the address -------------------------
        rvalid, rdata, rresp = Signal(), Signal(32), Signal(2)
        m.d.comb += [self.s_axil_rvalid.eq(rvalid), self.s_axil_rdata.eq(rdata), self.s_axil_rresp.eq(rresp),
                     self.s_axil_arready.eq(~rvalid)]
        with m.If(rvalid & self.s_axil_rready):
            m.d.sync += rvalid.eq(0)
        take = self.s_axil_arvalid & ~rvalid
        a = self.s_axil_araddr
        # the counters' address is neutral (an unused one, reads 0) except on the cycle a
        # read of the window is taken: a 64-bit counter's high word is copied only then
        m.d.comb += top.stat_addr.eq(Const(63, 6))
        value, resp = Signal(32), Signal(2)
        m.d.comb += [value.eq(0), resp.eq(SLVERR)]
        for r in regs:
            lo, hi = r.offset, r.offset + r.stride * r.count
            inside = ((a >= lo) if lo else Const(1)) & (a < hi) & (a[:2] == 0)
            if r.kind == "id":
                with m.If(inside):
                    m.d.comb += [value.eq(MAGIC), resp.eq(OKAY)]
            elif r.kind == "control":
                with m.If(inside):
                    m.d.comb += [value.eq(ctrl), resp.eq(OKAY)]
            elif r.kind == "stat":
                with m.If(inside):
                    m.d.comb += [top.stat_addr.eq(Mux(take, (a - lo)[2:8], 63)), value.eq(top.stat_data),
                                 resp.eq(OKAY)]
            elif r.kind == "state":     # entry (a - lo) / stride, word r.word of its state
                rel, shift = (a - lo)[:ADDR_BITS], r.stride.bit_length() - 1
                with m.If(inside & (rel[:shift] == 0)):
                    idx = (rel >> shift)[:len(getattr(top, f"{r.port}_addr"))]
                    state = getattr(top, f"{r.port}_state").as_value()
                    m.d.comb += [getattr(top, f"{r.port}_addr").eq(idx),
                                 value.eq(state[32 * r.word:32 * r.word + 32]), resp.eq(OKAY)]
            # data and commit words: write-only, SLVERR and 0 (the default)
        with m.If(take):
            m.d.sync += [rvalid.eq(1), rdata.eq(value), rresp.eq(resp)]
        return m

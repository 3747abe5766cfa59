"""A trivial Amaranth component that proves the toolchain (Amaranth -> Verilog -> cocotb).

``o`` is a stream of an 8-bit counter: it offers the next value while ``en`` is high and
advances on each accepted transfer (valid & ready). ``mask`` is purely combinational,
``~konst``; ``held_mask`` is the same function of ``held``, a register that starts at
0x5A and changes only on ``load`` (never asserted by the smoke test). Its ``always @*``
block thus sees no input change after time 0: the case where Icarus 11 is known to
leave the output at X (amaranth issue #1629).
"""

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


class SmokeCounter(wiring.Component):
    en: In(1)
    konst: In(8)
    mask: Out(8)
    load: In(1)
    held_mask: Out(8)
    o: Out(stream.Signature(8))

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.o.valid.eq(self.en)
        held = Signal(8, init=0x5A)
        with m.If(self.load):
            m.d.sync += held.eq(self.konst)
        # Switches, so that Amaranth emits `always @*` blocks (a plain `assign` is immune)
        for out, value in ((self.mask, self.konst), (self.held_mask, held)):
            with m.Switch(value):
                with m.Case(0):
                    m.d.comb += out.eq(0xFF)
                with m.Default():
                    m.d.comb += out.eq(~value)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.payload.eq(self.o.payload + 1)
        return m


class AxisFifo(wiring.Component):
    """A 4-deep AXI4-Stream FIFO with the port names Vivado infers (``s_axis_t*``,
    ``m_axis_t*``; 32-bit ``tdata``, ``tkeep``, ``tlast``), built on ``lib.fifo``: the
    design the toolchain test drives with cocotbext-axi, as the FPGA-facing tops will be."""

    s_axis_tdata: In(32)
    s_axis_tkeep: In(4)
    s_axis_tlast: In(1)
    s_axis_tvalid: In(1)
    s_axis_tready: Out(1)
    m_axis_tdata: Out(32)
    m_axis_tkeep: Out(4)
    m_axis_tlast: Out(1)
    m_axis_tvalid: Out(1)
    m_axis_tready: In(1)

    def elaborate(self, platform):
        from amaranth.hdl import Cat
        from amaranth.lib import fifo

        m = Module()
        m.submodules.q = q = fifo.SyncFIFOBuffered(width=37, depth=4)
        m.d.comb += [
            q.w_data.eq(Cat(self.s_axis_tdata, self.s_axis_tkeep, self.s_axis_tlast)),
            q.w_en.eq(self.s_axis_tvalid), self.s_axis_tready.eq(q.w_rdy),
            Cat(self.m_axis_tdata, self.m_axis_tkeep, self.m_axis_tlast).eq(q.r_data),
            self.m_axis_tvalid.eq(q.r_rdy), q.r_en.eq(self.m_axis_tready),
        ]
        return m

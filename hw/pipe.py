"""A register slice for ``amaranth.lib.stream`` interfaces: the AXI register slice of
FPGA interconnects ("full" / skid-buffer mode), to cut long combinational paths between
two components without losing rate.

:class:`RegisterSlice` ``i`` -> ``o``: every output (``o.valid``, ``o.payload``,
``i.ready``) comes straight from a flip-flop, so neither the payload nor the ready path
crosses it combinationally. Latency 1 cycle; throughput one transfer a cycle, with
``o.ready`` low or high at will (a second register, the skid, takes the transfer of the
cycle in which ``o`` stalls). Order kept; nothing lost or duplicated.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RegisterSlice"]


class RegisterSlice(wiring.Component):
    """``i`` in, ``o`` out, payload ``shape`` (see module docstring). ``i.ready`` is high
    while the skid register is empty; reset empties both registers."""

    def __init__(self, shape):
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        skid_valid = Signal()
        skid = Signal.like(self.i.payload, reset_less=True)
        main_valid = Signal()
        main = Signal.like(self.o.payload, reset_less=True)
        m.d.comb += [self.o.valid.eq(main_valid), self.o.payload.eq(main), self.i.ready.eq(~skid_valid)]
        with m.If(self.o.ready | ~main_valid):      # main is free (or leaves): refill it
            m.d.sync += [main_valid.eq(skid_valid | self.i.valid),
                         main.eq(Mux(skid_valid, skid, self.i.payload)), skid_valid.eq(0)]
        with m.Elif(self.i.valid & ~skid_valid):    # main stalls: the transfer waits in skid
            m.d.sync += [skid_valid.eq(1), skid.eq(self.i.payload)]
        return m


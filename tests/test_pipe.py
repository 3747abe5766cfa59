"""hw.pipe.RegisterSlice in amaranth.sim: random valid and ready, every word out once and
in order; one transfer a cycle when neither side waits; no combinational path from
``o.ready`` to ``i.ready`` nor from ``i`` to ``o``."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from hw.pipe import RegisterSlice

WIDTH = 12


def _simulate(testbench, dut):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()


@pytest.mark.parametrize("p_valid,p_ready", [(1.0, 1.0), (0.5, 0.5), (0.9, 0.3), (0.3, 0.9)])
def test_order_and_rate(p_valid: float, p_ready: float) -> None:
    rng = random.Random(f"{p_valid}{p_ready}")
    dut = RegisterSlice(WIDTH)
    words = [rng.randrange(1 << WIDTH) for _ in range(400)]
    got, cycles = [], [0]

    async def bench(ctx):
        k = 0
        while len(got) < len(words) and cycles[0] < 20 * len(words):   # a lost word ends it
            offer = k < len(words) and rng.random() < p_valid
            ctx.set(dut.i.valid, offer)
            ctx.set(dut.i.payload, words[k] if offer else rng.randrange(1 << WIDTH))
            ctx.set(dut.o.ready, rng.random() < p_ready)
            took_in = offer and ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid) and ctx.get(dut.o.ready):
                got.append(ctx.get(dut.o.payload))
            await ctx.tick()
            k += took_in
            cycles[0] += 1

    _simulate(bench, dut)
    assert got == words
    if p_valid == 1.0 and p_ready == 1.0:
        assert cycles[0] == len(words) + 1     # one a cycle, after the one-cycle latency


def test_outputs_registered() -> None:
    """Within a cycle, changing ``o.ready`` or ``i.valid``/``i.payload`` moves none of
    ``i.ready``, ``o.valid``, ``o.payload``."""
    rng = random.Random(7)
    dut = RegisterSlice(WIDTH)

    async def bench(ctx):
        for _ in range(300):
            ctx.set(dut.i.valid, rng.random() < 0.7)
            ctx.set(dut.i.payload, rng.randrange(1 << WIDTH))
            ctx.set(dut.o.ready, rng.random() < 0.4)
            seen = (ctx.get(dut.i.ready), ctx.get(dut.o.valid), ctx.get(dut.o.payload))
            ctx.set(dut.o.ready, rng.random() < 0.5)
            ctx.set(dut.i.valid, rng.random() < 0.5)
            ctx.set(dut.i.payload, rng.randrange(1 << WIDTH))
            assert (ctx.get(dut.i.ready), ctx.get(dut.o.valid), ctx.get(dut.o.payload)) == seen
            await ctx.tick()

    _simulate(bench, dut)

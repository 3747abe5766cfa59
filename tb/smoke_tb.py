"""cocotb checks of tb.smoke.SmokeCounter (expected values computed here, independently)."""

import random

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge, Timer

from tb.sim import resolved, start_clock_and_reset


def _drive_idle(dut, konst: int) -> None:
    dut.konst.value = konst
    dut.en.value = 0
    dut.load.value = 0
    dut.o__ready.value = 0


@cocotb.test()
async def combinational_output_resolves_with_constant_input(dut):
    """amaranth #1629: an `always @*` output whose inputs never change must not stay X."""
    _drive_idle(dut, 0x5A)
    await Timer(1, "ns")
    assert resolved(dut.mask) == 0xA5
    assert resolved(dut.held_mask) == 0xA5, "always @* block with inputs constant since time 0"


@cocotb.test()
async def counter_advances_only_on_accepted_transfers(dut):
    _drive_idle(dut, 0)
    await start_clock_and_reset(dut)
    rng = random.Random(1)
    expected = 0
    accepted = 0
    for _ in range(600):
        en, ready = rng.random() < 0.7, rng.random() < 0.6
        dut.en.value = en
        dut.o__ready.value = ready
        await ReadOnly()
        assert resolved(dut.o__valid) == en
        assert resolved(dut.o__payload) == expected
        assert resolved(dut.mask) == 0xFF
        await RisingEdge(dut.clk)
        if en and ready:
            expected = (expected + 1) % 256
            accepted += 1
    assert accepted > 200, "the random pattern exercised the transfer path"


@cocotb.test()
async def deliberately_failing(dut):
    """Selected only by tests/test_toolchain.py to prove that a failing cocotb test fails run()."""
    assert False, "this test must fail"

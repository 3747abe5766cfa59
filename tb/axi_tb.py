"""cocotb testbench of :class:`hw.axi.AxiTop` around the EESP decap, driven as an FPGA team
drives an IP core: cocotbext-axi's ``AxiLiteMaster`` through the register map's Python
driver (:class:`hw.regmap.Driver`), ``AxiStreamSource`` / ``AxiStreamSink`` with idle
and backpressure generators (tests/test_axi.py, both simulators).

Checked against the golden model: the frames the model's endpoint seals (15 % damaged)
open as ``Endpoint.open`` says, with root keys written and rotated through the AXI4-Lite
key registers; the counters read through the register window (64-bit, low word first);
the register rules: ID, CONTROL read back, key words read 0 with SLVERR, unmapped
addresses and writes to read-only words SLVERR.

Environment: ``AXI_N`` frames.
"""

from __future__ import annotations

import itertools
import os
import random

import cocotb
from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiResp, AxiStreamBus, AxiStreamFrame, AxiStreamSink, \
    AxiStreamSource

from hw.counters import STAT
from hw.endpoint import Decap
from hw.regmap import MAGIC, Driver, regmap
from tb.endpoint_tb import World, statistics_agree, write_payloads
from tb.sim import start_clock_and_reset

N = int(os.environ.get("AXI_N", "40"))


def _decap() -> Decap:
    top = Decap()
    top._MustUse__silence = True        # built for its signature (the register map) only
    return top


class Lite:
    """``read`` / ``write`` of 32-bit words for :class:`Driver`, every answer OKAY."""

    def __init__(self, master: AxiLiteMaster):
        self.master = master

    async def write(self, address: int, value: int) -> None:
        r = await self.master.write(address, value.to_bytes(4, "little"))
        assert r.resp == AxiResp.OKAY, f"write {address:#x}: {r.resp}"

    async def read(self, address: int) -> int:
        r = await self.master.read(address, 4)
        assert r.resp == AxiResp.OKAY, f"read {address:#x}: {r.resp}"
        return int.from_bytes(r.data, "little")


async def _start(dut, seed: int):
    rng = random.Random(seed)
    master = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
    source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst)
    source.set_pause_generator(itertools.cycle([rng.random() < 0.2 for _ in range(97)]))
    sink.set_pause_generator(itertools.cycle([rng.random() < 0.2 for _ in range(89)]))
    await start_clock_and_reset(dut)
    return Driver(_decap(), Lite(master)), master, source, sink


@cocotb.test()
async def frames_through_axi_stream_keys_and_counters_through_axi_lite(dut):
    world = World(random.Random(81))
    drv, _, source, sink = await _start(dut, 82)
    for payload in write_payloads(world.writes):
        await drv.write("wr", payload)
    await drv.control(drop_bad=1)
    frames_in, results = [], []
    for burst in range(-(-N // 10)):
        if burst:       # a rotation through the key registers, the earlier frames all out
            for payload in write_payloads(world.rotate()):
                await drv.write("wr", payload)
        made = [world.frame(0.15) for _ in range(min(10, N - 10 * burst))]
        for frame, offset, _, _ in made:
            await source.send(AxiStreamFrame(frame, tuser=offset))
        for n, (frame, offset, out, code) in enumerate(made):
            frames_in.append(frame)
            results.append((out, code))
            if code:
                continue        # dropped
            got = await sink.recv()
            # (an empty frame, one null beat, comes out of AxiStreamSink without its tuser)
            assert bytes(got.tdata) == out and got.tuser == (0 if out else None), \
                f"burst {burst} frame {n}: {bytes(got.tdata)[:48].hex()} user {got.tuser}, expected {out[:48].hex()}"
    for _ in range(200):
        await RisingEdge(dut.clk)
    assert sink.empty(), "a frame came out that the model refused"
    want = statistics_agree(frames_in, results)
    wrong = []
    for name, value in want.items():
        wide = STAT[name] < 8
        got = await drv.stat(STAT[name], wide=wide)
        if got != value:
            wrong.append(f"{name}: {got}, expected {value}")
    assert not wrong, "; ".join(wrong)
    assert len({c for _, c in results}) >= 3, sorted({c for _, c in results})     # refusals of two kinds at least


@cocotb.test()
async def register_rules_ids_write_only_keys_and_errors(dut):
    drv, master, _, _ = await _start(dut, 83)
    regs = {r.name: r for r in regmap(_decap())}
    assert await drv.bus.read(regs["ID"].offset) == MAGIC
    await drv.control(drop_bad=1)
    assert await drv.bus.read(regs["CONTROL"].offset) == 1
    await drv.control(drop_bad=0)
    assert await drv.bus.read(regs["CONTROL"].offset) == 0
    secret = 0xA5C3_5A3C
    for r in regs.values():
        if r.kind in ("data", "commit"):
            if r.kind == "data":
                await drv.bus.write(r.offset, secret)
            got = await master.read(r.offset, 4)
            assert (got.resp, got.data) == (AxiResp.SLVERR, bytes(4)), f"{r.name}: {got}"
    for address in (0x008, 0x0FC, 0x3FC, 0x500, 0xFFC):
        got = await master.read(address, 4)
        assert (got.resp, got.data) == (AxiResp.SLVERR, bytes(4)), f"read {address:#x}: {got}"
        w = await master.write(address, secret.to_bytes(4, "little"))
        assert w.resp == AxiResp.SLVERR, f"write {address:#x}: {w.resp}"
    for name in ("ID", "STAT"):
        w = await master.write(regs[name].offset, bytes(4))
        assert w.resp == AxiResp.SLVERR, f"write {name}: {w.resp}"
    assert await drv.bus.read(regs["ID"].offset) == MAGIC
    # a byte-strobed write changes only its byte
    await master.write(regs["CONTROL"].offset + 1, b"\xff")
    assert await drv.bus.read(regs["CONTROL"].offset) == 0
    await master.write(regs["CONTROL"].offset, b"\xff")
    assert await drv.bus.read(regs["CONTROL"].offset) == 1

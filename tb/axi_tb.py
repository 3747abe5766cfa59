"""cocotb testbench of :class:`hw.axi.AxiTop` around the EESP decap and encap
(``AXI_TOP``), driven as an FPGA team drives an IP core: cocotbext-axi's
``AxiLiteMaster`` through the register map's Python driver (:class:`hw.regmap.Driver`),
``AxiStreamSource`` / ``AxiStreamSink`` with idle and backpressure generators
(tests/test_axi.py, both simulators).

Checked against the golden model. Decap: the frames the model's endpoint seals (15 %
damaged) open as ``Endpoint.open`` says, root keys written and rotated through the
AXI4-Lite key registers. Encap: sender contexts written through their block, clear
frames (10 % with offsets the sender refuses) sealed as ``Endpoint.seal`` says, and
each context's next counter read back through the state window. Both: the counters read
through the register window (64-bit, low word first); the register rules: ID, CONTROL
read back, write-only words read 0 with SLVERR, unmapped addresses and writes to
read-only words SLVERR, byte strobes.

Environment: ``AXI_TOP`` (decap, encap), ``AXI_N`` frames.
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
from hw.endpoint import ContextState, Decap, Encap
from hw.regmap import MAGIC, Driver, regmap
from tb.endpoint_tb import CONTEXTS, EIN, Senders, World, check_counters, statistics_agree, write_payloads
from tb.sim import start_clock_and_reset
from tb.stream import unpack

TOP = os.environ.get("AXI_TOP", "decap")
N = int(os.environ.get("AXI_N", "40"))


def _inner():
    """The wrapped top, built for its signature (the register map) only."""
    top = Decap() if TOP == "decap" else Encap(contexts=CONTEXTS)
    top._MustUse__silence = True
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
    # AXI's clock and active-low reset, as the wrapper names them
    master = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.aclk, dut.aresetn, reset_active_level=False)
    source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.aclk, dut.aresetn, reset_active_level=False)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.aclk, dut.aresetn, reset_active_level=False)
    source.set_pause_generator(itertools.cycle([rng.random() < 0.2 for _ in range(97)]))
    sink.set_pause_generator(itertools.cycle([rng.random() < 0.2 for _ in range(89)]))
    await start_clock_and_reset(dut, clock="aclk", reset="aresetn", active=0)
    return Driver(_inner(), Lite(master)), master, source, sink


class _Counters:
    """``stat(name)`` through the register window, for :func:`tb.endpoint_tb.check_counters`
    (the 64-bit counters whole, low word first)."""

    def __init__(self, drv: Driver):
        self.drv = drv

    async def stat(self, name: str) -> int:
        return await self.drv.stat(STAT[name], wide=STAT[name] < 8)


async def _counters_agree(drv: Driver, frames_in: list, results: list) -> None:
    await check_counters(_Counters(drv), statistics_agree(frames_in, results))


@cocotb.test(skip=TOP != "decap", timeout_time=200 * N + 2000, timeout_unit="us")
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
        await RisingEdge(dut.aclk)
    assert sink.empty(), "a frame came out that the model refused"
    await _counters_agree(drv, frames_in, results)
    assert len({c for _, c in results}) >= 3, sorted({c for _, c in results})     # refusals of two kinds at least


@cocotb.test(timeout_time=2000, timeout_unit="us")
async def register_rules_ids_write_only_keys_and_errors(dut):
    drv, master, _, _ = await _start(dut, 83)
    regs = {r.name: r for r in regmap(_inner())}
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


@cocotb.test(skip=TOP != "encap", timeout_time=200 * N + 2000, timeout_unit="us")
async def encap_contexts_frames_and_counter_window_through_axi(dut):
    world = World(random.Random(91))
    senders = Senders(world, random.Random(92))
    drv, _, source, sink = await _start(dut, 93)
    for payload in write_payloads(world.writes):
        await drv.write("wr", payload)
    for payload in senders.writes:
        await drv.write("ctxwr", payload)
    await drv.control(drop_bad=1)
    frames_in, results = [], []
    rng = random.Random(94)
    for n in range(N):
        # at least one octet: AXI4-Stream has no frame of none (cocotbext-axi sends nothing)
        beats, out, code, frame, _ = senders.frame(0.1, payload_len=rng.choice([1, 16, 40, rng.randrange(1, 600)]))
        await source.send(AxiStreamFrame(frame, tuser=unpack(EIN, beats[0])["user"]))   # the model's sideband
        frames_in.append(frame)
        results.append((out, code))
        if code == 0:
            got = await sink.recv()
            assert bytes(got.tdata) == out and got.tuser == 0, \
                f"frame {n}: {bytes(got.tdata)[:48].hex()} user {got.tuser}, expected {out[:48].hex()}"
    for _ in range(200):
        await RisingEdge(dut.aclk)
    assert sink.empty(), "a frame came out that the model refused"
    await _counters_agree(drv, frames_in, results)
    for i, ctx in enumerate(senders.slots):
        state = unpack(ContextState, await drv.state("ctx", i))
        want = world.ep.counter(ctx).next_value
        assert state == {"valid": 1, "counter": want}, f"context {i}: {state}, expected counter {want}"
    assert len({c for _, c in results}) >= 2, results

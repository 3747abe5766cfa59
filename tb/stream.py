"""cocotb drivers for ``amaranth.lib.stream`` ports (valid / ready / payload).

Amaranth flattens a stream port ``x`` of a component into ``x__valid``, ``x__ready`` and
``x__payload``, the payload a packed vector of its ``lib.data`` layout. :func:`pack`
and :func:`unpack` convert between field dicts and that vector, using the layout's own
field offsets, so testbenches never hard-code bit positions.

:class:`Source` drives a stream with optional random idle cycles; :class:`Sink`
accepts with optional random backpressure, records every payload and checks the stream
contract while it stalls (``valid`` stays high, the payload stays the same). Given a
:class:`Cycles` counter, both record the cycle of each transfer (the same way, so the
difference of two records is a latency in cycles).
"""

from __future__ import annotations

import random

from amaranth.lib import data
from cocotb.triggers import ReadOnly, RisingEdge
from cocotb.utils import get_sim_steps, get_sim_time

from tb.sim import CLOCK_NS, resolved, start_clock_and_reset

__all__ = ["pack", "unpack", "frames_of", "Source", "Sink", "Cycles", "start_bench"]


def pack(layout: data.Layout, **fields: int) -> int:
    """The packed integer of ``layout`` with the given field values (others zero)."""
    value = 0
    for name, field in layout:
        v = fields.pop(name, 0)
        width = field.width
        if not 0 <= v < 1 << width:
            raise ValueError(f"field {name}={v:#x} does not fit {width} bits")
        value |= v << field.offset
    if fields:
        raise KeyError(f"no such fields: {sorted(fields)}")
    return value


def unpack(layout: data.Layout, value: int) -> dict[str, int]:
    return {name: (value >> f.offset) & ((1 << f.width) - 1) for name, f in layout}


def frames_of(values, layout: data.Layout) -> tuple[list[tuple[bytes, int, int]], list[str]]:
    """Packed beats of ``layout`` (``data`` / ``keep`` / ``last`` / ``user``, as taken on a
    frame port) split into frames: ``(octets, user, index of the last beat)`` each, and the
    breaches of the stream contract seen (keep not contiguous, ``user`` changed inside a
    frame, lanes beyond keep not zero)."""
    frames, faults, cur, user = [], [], b"", None
    for n, value in enumerate(values):
        b = unpack(layout, value)
        k = bin(b["keep"]).count("1")
        if b["keep"] != (1 << k) - 1:
            faults.append(f"frame {len(frames)}: keep not contiguous")
        if user is not None and b["user"] != user:
            faults.append(f"frame {len(frames)}: error code changed inside a frame")
        if b["data"] >> (8 * k):
            faults.append(f"frame {len(frames)}: lanes beyond keep are not zero")
        cur += b["data"].to_bytes(16, "little")[:k]
        user = b["user"]
        if b["last"]:
            frames.append((cur, user, n))
            cur, user = b"", None
    return frames, faults


class Cycles:
    """The number of clock periods since the clock started (for throughput figures),
    read off the simulation time: no coroutine wakes up each cycle to count them."""

    def __init__(self, period_ns: int = CLOCK_NS) -> None:
        self.period = get_sim_steps(period_ns, "ns")    # integers: no float rounding
        self.start = get_sim_time("step")

    @property
    def count(self) -> int:
        return (get_sim_time("step") - self.start) // self.period


class Source:
    """Drives ``<prefix>__valid/payload`` and honours ``<prefix>__ready``."""

    def __init__(self, dut, prefix: str, clk, idle: float = 0.0, rng: random.Random | None = None,
                 cycles: Cycles | None = None) -> None:
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.clk = clk
        self.idle = idle
        self.rng = rng or random.Random(0)
        self.cycles = cycles
        self.times: list[int] = []
        self.valid.value = 0

    async def send(self, payloads: list[int]) -> None:
        high = False    # what this source last wrote to valid (writes cost: only changes)
        for p in payloads:
            while self.idle and self.rng.random() < self.idle:
                if high:
                    self.valid.value = high = 0
                await RisingEdge(self.clk)
            if not high:
                self.valid.value = high = 1
            self.payload.value = p
            while True:
                await ReadOnly()
                accepted = resolved(self.ready)
                if accepted and self.cycles is not None:
                    self.times.append(self.cycles.count)
                await RisingEdge(self.clk)
                if accepted:
                    break
        self.valid.value = 0


class Sink:
    """Sets ``<prefix>__ready`` (randomly low with probability ``stall``) and records transfers."""

    def __init__(self, dut, prefix: str, clk, stall: float = 0.0, rng: random.Random | None = None,
                 cycles: Cycles | None = None) -> None:
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.clk = clk
        self.stall = stall
        self.rng = rng or random.Random(1)
        self.cycles = cycles
        self.items: list[int] = []
        self.times: list[int] = []
        self.ready.value = 0

    async def run(self) -> None:
        held = None  # the payload offered while this sink stalled: it must stay offered
        last = None  # what this sink last wrote to ready (writes cost: only changes)
        while True:
            ready = not (self.stall and self.rng.random() < self.stall)
            if ready != last:
                self.ready.value = last = int(ready)
            await ReadOnly()
            valid = resolved(self.valid)
            if held is not None:
                assert valid and resolved(self.payload) == held, \
                    f"{self.valid._name}: valid dropped or payload changed while the sink stalled"
            held = None
            if valid and not ready:
                held = resolved(self.payload)
            if ready and valid:
                self.items.append(resolved(self.payload))
                if self.cycles is not None:
                    self.times.append(self.cycles.count)
            await RisingEdge(self.clk)

    async def wait_for(self, n: int, timeout_cycles: int) -> list[int]:
        for _ in range(timeout_cycles):
            if len(self.items) >= n:
                return self.items
            await RisingEdge(self.clk)
        raise AssertionError(f"timeout: {len(self.items)} of {n} results after {timeout_cycles} cycles")


async def start_bench(dut, idle: float, stall: float, seed: int, i: str = "i", o: str = "o"):
    """Cycle counter, a Source on ``i`` and a running Sink on ``o``, after clock and reset.

    Returns ``(source, sink, cycles)``; both record transfer cycles.
    """
    import cocotb

    cycles = Cycles()
    src = Source(dut, i, dut.clk, idle=idle, rng=random.Random(seed), cycles=cycles)
    sink = Sink(dut, o, dut.clk, stall=stall, rng=random.Random(seed + 1), cycles=cycles)
    await start_clock_and_reset(dut)
    cocotb.start_soon(sink.run())
    return src, sink, cycles

"""cocotb testbench of :class:`hw.proxy.Proxy` against the golden model
(:class:`model.proxy.Proxy`), under Icarus and Verilator (tests/test_proxy.py).

Frames are sealed for domain A by the model's endpoint; every frame the RTL emits is
compared octet for octet with ``model.proxy.Proxy.reencrypt`` (or, refused, with
``F[0..O)`` and the model's code), and the status counters with the model's verdicts.

Environment: ``PROXY_N`` frames, ``PROXY_RESULTS`` file for the benchmark.
"""

from __future__ import annotations

import os
import random

import cocotb

from hw.counters import STAT
from hw.proxy import map_layout
from model.endpoint import SenderContext
from model.errors import Code, EespError
from model.proxy import EgressContext
from model.proxy import Proxy as ModelProxy
from tb.endpoint_tb import (CONTEXTS, CTXW, GROUPS, ON_ICARUS, Bench, World, sealed_for_bench,
                            statistics_agree, check_counters, frame_beats, rates, write_payloads)
from tb.stream import pack

N = int(os.environ.get("PROXY_N", "100"))
MAPW = map_layout(GROUPS, CONTEXTS)
UNMAPPED = 2        # A's group 2 has no mapping: its frames are refused with NO_MAPPING
EGRESS = 64         # stat_addr of the egress counters


class Domains:
    """A and B key tables (model and RTL writes), the proxy's contexts in B and its
    mapping (A's group g to context g, except ``unmapped``), and the model proxy that
    says what each frame must become."""

    def __init__(self, a: World, b: World, rng: random.Random, unmapped: int | None = UNMAPPED):
        self.rng = rng
        self.a, self.b = a, b
        self.model = ModelProxy(a.shadow.model, b.shadow.model)
        self.ctx: dict[int, SenderContext] = {}
        writes = [("wr_a", w) for w in write_payloads(a.writes)]
        writes += [("wr_b", w) for w in write_payloads(b.writes)]
        for g in range(GROUPS):
            kind = rng.randrange(2)
            out = EgressContext(rng.randrange(GROUPS), kind, rng.randbytes(4 << kind), rng.randrange(1 << 16))
            self.ctx[g] = SenderContext(out.group, out.kind, out.ident, out.epoch, key_option=True)
            writes.append(("ctxwr", self.ctx_write(g, 0)))
            if g != unmapped:
                self.model.mapping[g] = out
            writes.append(("mapwr", pack(MAPW, group=g, ctx=g, valid=int(g != unmapped))))
        self.writes = writes

    @classmethod
    def random(cls, rng: random.Random) -> "Domains":
        return cls(World(random.Random(rng.random())), World(random.Random(rng.random())), rng)

    def ctx_write(self, g: int, counter: int) -> int:
        """The RTL write of context g (A group g's egress) with its next counter."""
        c = self.ctx[g]
        return pack(CTXW, valid=1, index=g, group=c.group, kind=c.kind, ident=int.from_bytes(c.ident, "big"),
                    epoch=c.epoch, k=0, counter=counter)   # k: the proxy forces 1

    def exhaust(self, g: int, left: int) -> int:
        """Context g gets only ``left`` counter values before 2^48; its write."""
        value = (1 << 48) - left
        self.model.egress.counter(self.ctx[g])._next = value
        return self.ctx_write(g, value)

    def frame(self, damage: float):
        """(A frame, its input beats, expected output, expected code)."""
        frame, offset, _, _ = self.a.frame(damage)
        try:
            out, code = self.model.reencrypt(frame, offset), 0
        except EespError as e:
            out, code = frame[:offset], int(e.code)
        return frame, frame_beats(frame, offset, self.rng), out, code

    def past_end(self):
        """A frame (a cut good A frame, at times empty) whose header offset lies past its
        end, as :meth:`frame` returns it: the model's verdict is TRUNCATED, and nothing
        but the frame's own octets may leave (before issue 12 the proxy appended up to
        16 octets of the egress engine's tag mask, AES(DK_B, J0) of a future frame)."""
        frame, offset, _, _ = self.a.frame(0.0)
        frame = frame[: self.rng.randrange(offset + 1)]
        offset = len(frame) + self.rng.randrange(1, 48)
        try:
            out, code = self.model.reencrypt(frame, offset), 0
        except EespError as e:
            out, code = frame[:offset], int(e.code)
        return frame, frame_beats(frame, offset, self.rng), out, code


class ProxyBench(Bench):
    async def send_writes(self, writes) -> None:
        for port, payload in writes:
            await self.ports[port].send([payload])


def counts_agree(frames_in, results, drop_bad: int) -> dict[int, int]:
    """Counter address -> value the RTL must read after frames_in gave results."""
    ing = statistics_agree(frames_in, results)
    want = {STAT[k]: v for k, v in ing.items() if k in ("frames_in", "octets_in")}
    ingress_codes = {c for c in Code if 1 <= c <= Code.AUTH_FAIL}
    for c in ingress_codes:
        want[STAT[f"refused_{c.name.lower()}"]] = sum(code == c for _, code in results)
    # the decap releases every frame it opened, and refused ones unless it drops them
    want[STAT["frames_out"]] = sum(code not in ingress_codes for _, code in results)
    want[EGRESS + STAT["frames_out"]] = sum(code == 0 for _, code in results)
    want[EGRESS + STAT["octets_out"]] = sum(len(o) for o, code in results if code == 0)
    for c in (Code.COUNTER_EXHAUSTED, Code.NO_MAPPING):
        want[EGRESS + STAT[f"refused_{c.name.lower()}"]] = sum(code == c for _, code in results)
    if not drop_bad:    # passed ingress refusals are counted again as they leave
        for c in ingress_codes:
            want[EGRESS + STAT[f"refused_{c.name.lower()}"]] = sum(code == c for _, code in results)
    return want


def proxy_random_traffic(n: int):
    """Random A frames (sizes 0..MAX, offsets, ID kinds, K = 0/1, COffset/IOffset), 15 %
    damaged, a group without mapping, in bursts of 20; A rotates every burst of the first
    half with frames in flight, B before every burst of the second half: (phases, frames
    in, results), phases[0] to be sent as they come, phases[1] quiesced (the encap takes
    B's current keys at lookup)."""
    d = Domains.random(random.Random(1))
    phases, frames_in, results = ([], []), [], []
    for turn in range(-(-n // 20)):
        k = min(20, n - 20 * turn)
        b_turn = turn >= -(-n // 40)      # the second half: B rotations
        if turn == 0:
            writes = d.writes
        elif not b_turn:
            writes = [("wr_a", w) for w in write_payloads(d.a.rotate())]
        else:
            writes = [("wr_b", w) for w in write_payloads(d.b.rotate())]
        made = [d.frame(0.15) for _ in range(k)]
        phases[b_turn].append((writes, [], [(beats, out, code) for _, beats, out, code in made]))
        frames_in += [f for f, *_ in made]
        results += [(out, code) for *_, out, code in made]
    return phases, frames_in, results


@cocotb.test()
async def proxy_random_frames_rotation_both_domains_idle_backpressure(dut):
    """See :func:`proxy_random_traffic`: every frame as the model re-encrypts it."""
    phases, frames_in, results = proxy_random_traffic(N)
    codes = sorted({c for _, c in results})
    dut._log.info(f"{len(results)} frames, {sum(c == 0 for _, c in results)} re-encrypted, codes {codes}, "
                  f"{len(phases[0]) - 1} A rotations in flight, {len(phases[1])} B rotations")
    assert {0, Code.NO_MAPPING, Code.AUTH_FAIL} <= set(codes), codes
    assert len(phases[0]) > 1 and phases[1], "both domains must rotate"
    bench = await ProxyBench(dut).start(idle=0.2, stall=0.2, seed=2, drop_bad=1)
    await bench.run(phases[0], timeout=600 * len(results) + 2000)
    await bench.run(phases[1], timeout=600 * len(results) + 2000, quiesce=True)
    await check_counters(bench, counts_agree(frames_in, results, drop_bad=1))


@cocotb.test()
async def proxy_refused_frames_pass_as_outer_octets(dut):
    """drop_bad = 0: every ingress code, NO_MAPPING and COUNTER_EXHAUSTED in B leave as
    F[0..min(O, N)) with their code; nothing else of them leaves (header offsets past the
    frame's end included)."""
    d = Domains.random(random.Random(3))
    writes = d.writes + [("ctxwr", d.exhaust(0, 2))]
    made = [d.frame(0.6) for _ in range(max(40, N // 3))]
    for _ in range(12):   # header offsets past the frame's end, each followed by other frames
        made.insert(d.rng.randrange(len(made) - 1), d.past_end())
    results = [(out, code) for *_, out, code in made]
    codes = {c for _, c in results}
    dut._log.info(f"{len(made)} frames, codes {sorted(codes)}")
    assert {0, Code.NO_MAPPING, Code.COUNTER_EXHAUSTED, Code.AUTH_FAIL, Code.TRUNCATED} <= codes, codes
    bench = await ProxyBench(dut).start(idle=0.1, stall=0.3, seed=4, drop_bad=0)
    await bench.run([(writes, [], [(beats, out, code) for _, beats, out, code in made])],
                    timeout=600 * len(made) + 2000)
    await check_counters(bench, counts_agree([f for f, *_ in made], results, drop_bad=0))


@cocotb.test(skip=ON_ICARUS)
async def proxy_benchmark_back_to_back(dut):
    """Cycles per frame, no idle, no backpressure, a new pair of data keys every frame
    (each A frame has its own ID; B's counter moves every frame); latency of one frame
    through an idle proxy. Written to PROXY_RESULTS."""
    d = Domains.random(random.Random(5))
    bench = await ProxyBench(dut).start(idle=0.0, stall=0.0, seed=6, drop_bad=1)
    await bench.send_writes(d.writes)
    rng, k, lines = random.Random(7), 24, []
    for size in (64, 256, 512, 1500):
        sealed = sealed_for_bench(d.a, rng, size, k)
        frames = []
        for _, _, f in sealed:
            out = d.model.reencrypt(f, 14)
            frames.append((frame_beats(f, 14, rng), out, 0))
        # one frame alone: cycles from its first beat in to its last beat out
        start = bench.cycles.count
        got = await bench.run([([], [], frames[:1])], timeout=5000)
        latency = got[0][2] - start
        got = await bench.run([([], [], frames[1:])], timeout=100 * k * (size // 16 + 10))
        _, figures = rates(got, len(sealed[0][2]), len(frames[0][1]))
        lines.append(f"proxy_{size}B_payload {figures} latency_cycles_one_frame={latency}")
        dut._log.info(lines[-1])
    with open(os.environ.get("PROXY_RESULTS", os.devnull), "w") as f:
        f.write("\n".join(lines) + "\n")



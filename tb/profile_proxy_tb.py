"""cocotb testbench of the proxies between profiles, :class:`hw.proxy.EespToPsp` and
:class:`hw.proxy.PspToEesp` (spec 8.1), against the golden model's
:class:`model.proxy.EespToPsp` / :class:`model.proxy.PspToEesp`, under Icarus and Verilator
(tests/test_profile_proxy.py).

EESP -> PSP: frames sealed by the model's EESP endpoint for domain A (random header
offsets, ID kinds, K, COffset / IOffset, payload sizes; 15 % damaged), A's root keys
rotating and the PSP master key rotating between bursts with frames in flight, A's groups
mapped to four PSP SAs (both versions, with and without VC), one group unmapped.
PSP -> EESP: frames sealed by the model's PSP senders (both versions and phases, VC or
not, random crypt offsets and Next Headers; 15 % with a bit flipped), a master-key
rotation between bursts, SPIs mapped to the proxy's sender contexts in A, one SPI
unmapped and one mapped for another Next Header. Every output frame is compared octet
for octet with the model's, refused ones as ``F[0..min(O, N))`` with the model's code,
and the status counters with the model's verdicts.

Environment: ``PPROXY_TOP`` (e2p / p2e), ``PPROXY_N`` frames, ``ENDPOINT_MAX`` largest
payload, ``PPROXY_RESULTS`` file for the benchmark (Verilator).
"""

from __future__ import annotations

import os
import random

import cocotb
from cocotb.triggers import Timer

from common.codes import Code
from hw.counters import STAT
from hw.proxy import eesp_psp_map_layout, psp_eesp_map_layout
from model.errors import EespError
from model.proxy import EespTarget, EespToPsp, EgressContext, PspTarget, PspToEesp
from model.psp import PspKeys
from tb.endpoint_tb import (CONTEXTS, CTXW, GROUPS, MAX, ON_ICARUS, World, check_counters, frame_beats, rates,
                            sealed_for_bench, write_payloads)
from tb.proxy_tb import EGRESS, ProxyBench
from tb.psp_tb import mk_write, random_sender, sa_write
from tb.sim import CLOCK_NS
from tb.stream import pack

TOP = os.environ.get("PPROXY_TOP", "e2p")
N = int(os.environ.get("PPROXY_N", "100"))
SAS = 4                 # PSP SAs of the EESP -> PSP proxy (tests/test_profile_proxy.py builds it so)
MAPS = 8                # mapping entries of the PSP -> EESP proxy (its default)
UNMAPPED = 2            # EESP group without a mapping
E2P_MAP = eesp_psp_map_layout(GROUPS, SAS)
P2E_MAP = psp_eesp_map_layout(MAPS, CONTEXTS)
EESP_CODES = {c for c in Code if 1 <= c <= Code.AUTH_FAIL}
PSP_CODES = {Code.PSP_TRUNCATED, Code.PSP_BAD_VERSION, Code.PSP_BAD_HEADER, Code.PSP_BAD_SPI,
             Code.PSP_BAD_OFFSET, Code.UNKNOWN_KEY, Code.AUTH_FAIL}


def verdict(reencrypt, frame: bytes, offset: int) -> tuple[bytes, int]:
    """What the proxy must emit for a frame: the model's output, or F[0..min(O, N)) and the code."""
    try:
        return reencrypt(frame, offset), 0
    except EespError as e:
        return frame[:min(offset, len(frame))], int(e.code)


class EespToPspWorld:
    """Domain A's key table (model and RTL writes), the PSP device keys and SAs, the
    mapping, and the model proxy."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.a = World(random.Random(rng.random()))
        self.keys = PspKeys([rng.randbytes(32), rng.randbytes(32)], phase=0)
        self.model = EespToPsp(self.a.shadow.model, self.keys)
        self.sas = [random_sender(rng, rng.randrange(2)) for _ in range(SAS)]
        writes = [("wr", w) for w in write_payloads(self.a.writes)]
        writes += [("mkwr", mk_write(p, k)) for p, k in enumerate(self.keys.keys)]
        writes += [("sawr", sa_write(k, s)) for k, s in enumerate(self.sas)]
        for g in range(GROUPS):
            sa, nh = g % SAS, rng.choice([4, 41, 17, 6])
            if g != UNMAPPED:
                self.model.mapping[g] = PspTarget(self.sas[sa], nh)
            writes.append(("mapwr", pack(E2P_MAP, group=g, valid=int(g != UNMAPPED), sa=sa, next_header=nh)))
        self.writes = writes

    def rotate(self, egress: bool) -> list:
        """A's next root key (ingress), or a PSP master-key rotation (egress)."""
        if not egress:
            return [("wr", w) for w in write_payloads(self.a.rotate())]
        new = self.rng.randbytes(32)
        self.keys.rotate(new)
        return [("mkwr", mk_write(self.keys.phase, new))]

    def frame(self, damage: float):
        frame, offset, _, _ = self.a.frame(damage)
        return (frame, frame_beats(frame, offset, self.rng), *verdict(self.model.reencrypt, frame, offset))


class PspToEespWorld:
    """The PSP device keys and the senders whose frames arrive, domain A's key table and
    the proxy's sender contexts, the mapping, and the model proxy."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.a = World(random.Random(rng.random()))
        self.keys = PspKeys([rng.randbytes(32), rng.randbytes(32)], phase=0)
        self.model = PspToEesp(self.keys, self.a.shadow.model)
        self.senders = [random_sender(rng, p % 2) for p in range(6)]
        self.nh = [rng.choice([4, 41, 17, 6]) for _ in self.senders]
        writes = [("wr", w) for w in write_payloads(self.a.writes)]
        writes += [("mkwr", mk_write(p, k)) for p, k in enumerate(self.keys.keys)]
        # sender 4 is unmapped; sender 5 is mapped for another Next Header than it sends
        for k, s in enumerate(self.senders):
            kind = rng.randrange(2)
            out = EgressContext(rng.randrange(GROUPS), kind, rng.randbytes(4 << kind), rng.randrange(1 << 16))
            writes.append(("ctxwr", pack(CTXW, valid=1, index=k, group=out.group, kind=kind,
                                         ident=int.from_bytes(out.ident, "big"), epoch=out.epoch, k=0, counter=0)))
            nh = self.nh[k] ^ (1 if k == 5 else 0)
            if k != 4:
                self.model.mapping[s.spi] = EespTarget(out, nh)
            writes.append(("mapwr", pack(P2E_MAP, index=k, valid=int(k != 4), spi=s.spi, next_header=nh, ctx=k)))
        # a stale entry above them with sender 0's SPI: the lowest-numbered entry wins
        writes.append(("mapwr", pack(P2E_MAP, index=MAPS - 1, valid=1, spi=self.senders[0].spi,
                                     next_header=self.nh[0], ctx=CONTEXTS - 1)))
        self.writes = writes

    def rotate(self, egress: bool) -> list:
        """A PSP master-key rotation (ingress), or A's next root key (egress)."""
        if egress:
            return [("wr", w) for w in write_payloads(self.a.rotate())]
        new = self.rng.randbytes(32)
        self.keys.rotate(new)
        return [("mkwr", mk_write(self.keys.phase, new))]

    def frame(self, damage: float):
        rng = self.rng
        k = rng.randrange(len(self.senders))
        s = self.senders[k]
        offset = rng.choice([0, 14, rng.randrange(40)])
        inner = rng.randbytes(rng.choice([0, 16, MAX, rng.randrange(MAX + 1), rng.randrange(80)]))
        s.crypt_offset = min(rng.choice([0, 0, 1, 2, 3, 6]), (len(inner) + (8 if s.vc else 0)) // 4)
        frame = bytearray(s.seal(self.keys, rng.randbytes(offset) + inner, offset, self.nh[k]))
        if rng.random() < damage:
            bit = rng.randrange(8 * (len(frame) - offset))
            frame[offset + bit // 8] ^= 1 << (bit % 8)
        frame = bytes(frame)
        return (frame, frame_beats(frame, offset, rng), *verdict(self.model.reencrypt, frame, offset))


WORLDS = {"e2p": EespToPspWorld, "p2e": PspToEespWorld}


def counts_agree(frames_in, results, drop_bad: int) -> dict[int, int]:
    """Counter address -> the value the RTL must read after ``frames_in`` gave ``results``."""
    ingress_codes = EESP_CODES if TOP == "e2p" else PSP_CODES
    want = {STAT["frames_in"]: len(frames_in), STAT["octets_in"]: sum(map(len, frames_in)),
            STAT["frames_out"]: sum(code not in ingress_codes for _, code in results),
            EGRESS + STAT["frames_out"]: sum(code == 0 for _, code in results),
            EGRESS + STAT["octets_out"]: sum(len(o) for o, code in results if code == 0)}
    for c in Code:
        if c.value == 0:
            continue
        n, name = sum(code == c for _, code in results), f"refused_{c.name.lower()}"
        if c in ingress_codes:  # passed (drop_bad = 0), they are counted again as they leave
            want[STAT[name]] = n
            want[EGRESS + STAT[name]] = 0 if drop_bad else n
        else:
            want[EGRESS + STAT[name]] = n
    return want


def random_traffic(n: int, seed: int, damage: float = 0.15):
    """``n`` frames in bursts of 20, ``damage`` of them damaged; before each burst but the
    first a rotation (see the worlds): in the first half of the ingress side's keys, with
    earlier frames in flight, in the second half of the egress side's, once earlier frames
    are out (the egress half applies a write to the frames that reach it after the write,
    as :class:`hw.proxy.Proxy`'s B writes). Returns (phases, frames in, results)."""
    w = WORLDS[TOP](random.Random(seed))
    phases, frames_in, results = ([], []), [], []
    turns = -(-n // 20)
    for turn in range(turns):
        egress = turn >= -(-turns // 2)
        writes = w.writes if turn == 0 else w.rotate(egress)
        made = [w.frame(damage) for _ in range(min(20, n - 20 * turn))]
        phases[egress].append((writes, [], [(beats, out, code) for _, beats, out, code in made]))
        frames_in += [f for f, *_ in made]
        results += [(out, code) for *_, out, code in made]
    return phases, frames_in, results


async def run_traffic(bench, phases, results) -> None:
    await bench.run(phases[0], timeout=600 * len(results) + 2000)
    await bench.run(phases[1], timeout=600 * len(results) + 2000, quiesce=True)
    # a frame the egress drops leaves nothing to wait for: the last ones (up to two frame
    # stores' worth of beats behind the last output) are counted within this many cycles
    await Timer(1000 * CLOCK_NS, "ns")


@cocotb.test()
async def random_frames_rotations_idle_backpressure(dut):
    """Dropping refused frames: every frame the proxy emits is the model's, and the counters agree."""
    phases, frames_in, results = random_traffic(N, 1)
    codes = sorted({c for _, c in results})
    dut._log.info(f"{TOP}: {len(results)} frames, {sum(c == 0 for _, c in results)} re-encrypted, codes {codes}, "
                  f"{len(phases[0]) - 1} ingress and {len(phases[1])} egress rotations")
    assert {0, Code.NO_MAPPING, Code.AUTH_FAIL} <= set(codes), codes
    assert len(phases[0]) > 1 and phases[1], "both sides must rotate"
    bench = await ProxyBench(dut).start(idle=0.2, stall=0.2, seed=2, drop_bad=1)
    await run_traffic(bench, phases, results)
    await check_counters(bench, counts_agree(frames_in, results, drop_bad=1))


@cocotb.test()
async def refused_frames_pass_as_outer_octets(dut):
    """drop_bad = 0: each refused frame leaves as F[0..min(O, N)) with its code, ingress
    codes and egress codes alike, and the counters agree."""
    phases, frames_in, results = random_traffic(max(40, N // 3), 3, damage=0.5)
    bench = await ProxyBench(dut).start(idle=0.1, stall=0.3, seed=4, drop_bad=0)
    await run_traffic(bench, phases, results)
    await check_counters(bench, counts_agree(frames_in, results, drop_bad=0))


@cocotb.test(skip=ON_ICARUS)
async def benchmark_back_to_back(dut):
    """Cycles per frame, no idle, no backpressure, a new pair of data keys every frame.
    Written to PPROXY_RESULTS."""
    rng = random.Random(5)
    w = WORLDS[TOP](random.Random(6))
    bench = await ProxyBench(dut).start(idle=0.0, stall=0.0, seed=6, drop_bad=1)
    await bench.send_writes(w.writes)
    lines, k = [], 20
    for size in (64, 256, 512, 1500):
        if TOP == "e2p":
            sealed = [f for _, _, f in sealed_for_bench(w.a, rng, size, k)]
        else:
            s = w.senders[1]
            s.crypt_offset = 0
            sealed = [s.seal(w.keys, bytes(14) + rng.randbytes(size), 14, w.nh[1]) for _ in range(k)]
        frames = []
        for f in sealed:
            out, code = verdict(w.model.reencrypt, f, 14)
            assert code == 0, code
            frames.append((frame_beats(f, 14, rng), out, 0))
        got = await bench.run([([], [], frames)], timeout=100 * k * (size // 16 + 10))
        _, figures = rates(got, len(sealed[0]), len(frames[0][1]))
        lines.append(f"{TOP}_{size}B_payload {figures}")
        dut._log.info(lines[-1])
    with open(os.environ.get("PPROXY_RESULTS", os.devnull), "w") as f:
        f.write("\n".join(lines) + "\n")

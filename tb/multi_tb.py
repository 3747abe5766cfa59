"""cocotb testbench of :class:`hw.multi.MultiDecap` (EESP and PSP frames, the profile chosen
per frame) against the golden model, under Icarus and Verilator (tests/test_multi.py).

Random traffic mixes EESP frames sealed by the model's endpoint (as tb/endpoint_tb.py
makes them, 15 % damaged) and PSP frames sealed by the model's PSP senders (both
versions and phases, VC or not, random crypt offsets; 15 % with a bit flipped), and a few
frames whose sideband names the other profile (each is then judged by the rules of the
profile named). EESP root keys and PSP master keys rotate between bursts with frames in
flight. Expected: ``Endpoint.open`` / ``psp_open``, or the refusal code; the counters
with the model's verdicts. The benchmark (Verilator) sends back-to-back frames of each
profile alone and alternating, a new data key every frame.

Environment: ``MULTI_N`` frames, ``ENDPOINT_MAX`` largest payload, ``MULTI_RESULTS``.
"""

from __future__ import annotations

import os
import random

import cocotb

from hw.datapath import NextHeaderUser
from hw.multi import PROFILES, MultiInUser
from hw.realign import beat
from model.errors import EespError
from model.psp import PspKeys, psp_open
from tb.endpoint_tb import (MAX, ON_ICARUS, Bench, World, beats_of, check_counters, rates, sealed_for_bench,
                            statistics_agree, write_payloads)
from tb.psp_tb import mk_write, random_sender
from tb.stream import pack

N = int(os.environ.get("MULTI_N", "100"))
IN = beat(MultiInUser)
EESP, PSP = PROFILES["eesp"], PROFILES["psp"]


def user(code: int, nh: int = 0) -> int:
    return pack(NextHeaderUser, error=code, next_header=nh)


class MultiBench(Bench):
    out_layout = beat(NextHeaderUser)

    def kept(self, code: int) -> bool:  # ``code``: the whole user (error in bits 4..0)
        return (code & 31) == 0 or not self.drop_bad

    async def send_writes(self, writes) -> None:
        for port, payload in writes:
            await self.ports[port].send([payload])


class Mixed:
    """The EESP key table (model and writes), the PSP master keys and senders, and the
    frames of both profiles with their expected outputs."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.eesp = World(random.Random(rng.random()))
        self.keys = PspKeys([rng.randbytes(32), rng.randbytes(32)])
        self.senders = [random_sender(rng, k % 2) for k in range(6)]
        self.writes = [("wr", w) for w in write_payloads(self.eesp.writes)]
        self.writes += [("mkwr", mk_write(p, k)) for p, k in enumerate(self.keys.keys)]
        self.turn = 0

    def rotate(self) -> list:
        """In turn: an EESP root key, or a PSP master key."""
        self.turn += 1
        if self.turn % 2:
            return [("wr", w) for w in write_payloads(self.eesp.rotate())]
        new = self.rng.randbytes(32)
        self.keys.rotate(new)
        return [("mkwr", mk_write(self.keys.phase, new))]

    def judge(self, frame: bytes, offset: int, profile: int) -> tuple[bytes, int]:
        """The model's verdict on a frame under the rules of ``profile``: (output, user)."""
        try:
            if profile == PSP:
                out, nh = psp_open(self.keys, frame, offset)
                return out, user(0, nh)
            return self.eesp.ep.open(frame, offset).frame, user(0)
        except EespError as e:
            return frame[:min(offset, len(frame))], user(int(e.code))

    def psp_frame(self, damage: float, payload: int | None = None, offset: int | None = None) -> tuple[bytes, int]:
        rng = self.rng
        s = self.senders[rng.randrange(len(self.senders))]
        offset = rng.choice([0, 14, rng.randrange(40)]) if offset is None else offset
        size = rng.choice([0, 16, MAX, rng.randrange(MAX + 1), rng.randrange(80)]) if payload is None else payload
        inner = rng.randbytes(size)
        s.crypt_offset = min(rng.choice([0, 0, 1, 2, 6]), (len(inner) + (8 if s.vc else 0)) // 4)
        frame = bytearray(s.seal(self.keys, rng.randbytes(offset) + inner, offset, rng.randrange(256)))
        if rng.random() < damage:
            bit = rng.randrange(8 * (len(frame) - offset))
            frame[offset + bit // 8] ^= 1 << (bit % 8)
        return bytes(frame), offset

    def frame(self, damage: float):
        """(frame, input beats, expected output, expected user) of a random frame."""
        rng = self.rng
        if rng.random() < 0.5:
            profile = EESP
            frame, offset, _, _ = self.eesp.frame(damage)
        else:
            profile = PSP
            frame, offset = self.psp_frame(damage)
        if rng.random() < 0.03:     # the sideband names the other profile
            profile ^= 1
        out, want = self.judge(frame, offset, profile)
        return frame, beats_of(frame, IN, pack(MultiInUser, offset=offset, profile=profile), rng), out, want


def random_traffic(n: int, seed: int, damage: float = 0.15):
    """``n`` frames in bursts of 20, a rotation before each burst but the first, with
    earlier frames in flight: (bursts, frames in, results (output, code))."""
    w = Mixed(random.Random(seed))
    bursts, frames_in, results = [], [], []
    for turn in range(-(-n // 20)):
        writes = w.writes if turn == 0 else w.rotate()      # before the burst's frames are made
        made = [w.frame(damage) for _ in range(min(20, n - 20 * turn))]
        bursts.append((writes, [], [(b, o, u) for _, b, o, u in made]))
        frames_in += [f for f, *_ in made]
        results += [(o, u & 31) for *_, o, u in made]
    return bursts, frames_in, results


@cocotb.test()
async def mixed_random_frames_rotations_idle_backpressure(dut):
    bursts, frames_in, results = random_traffic(N, 1)
    codes = sorted({c for _, c in results})
    dut._log.info(f"{len(results)} frames, {sum(c == 0 for _, c in results)} opened, codes {codes}")
    assert len(codes) > 6, codes
    bench = await MultiBench(dut).start(idle=0.2, stall=0.2, seed=2, drop_bad=1)
    await bench.run(bursts, timeout=600 * len(results) + 2000)
    await check_counters(bench, statistics_agree(frames_in, results))


@cocotb.test()
async def refused_frames_pass_as_outer_octets(dut):
    """drop_bad = 0: refused frames of both profiles leave as F[0..min(O, N)) with their code."""
    bursts, frames_in, results = random_traffic(max(40, N // 3), 3, damage=0.5)
    bench = await MultiBench(dut).start(idle=0.1, stall=0.3, seed=4, drop_bad=0)
    await bench.run(bursts, timeout=600 * len(results) + 2000)
    await check_counters(bench, statistics_agree(frames_in, results))


@cocotb.test(skip=ON_ICARUS)
async def benchmark_back_to_back(dut):
    """Octets per cycle in, back-to-back frames of 14 outer octets, a new data key every
    frame: EESP alone, PSP alone, and the two alternating. Written to MULTI_RESULTS."""
    rng = random.Random(5)
    w = Mixed(random.Random(6))
    bench = await MultiBench(dut).start(idle=0.0, stall=0.0, seed=6, drop_bad=1)
    await bench.send_writes(w.writes)
    lines, k = [], 24
    for size in (64, 256, 512, 1500):
        eesp = [f for _, _, f in sealed_for_bench(w.eesp, rng, size, k)]
        psp = [w.psp_frame(0.0, size, 14)[0] for _ in range(k)]
        for name, mix in (("eesp", [(f, EESP) for f in eesp]), ("psp", [(f, PSP) for f in psp]),
                          ("mixed", [x for pair in zip(((f, EESP) for f in eesp), ((f, PSP) for f in psp))
                                     for x in pair])):
            frames = []
            for f, profile in mix:
                out, want = w.judge(f, 14, profile)
                assert want & 31 == 0, want
                frames.append((beats_of(f, IN, pack(MultiInUser, offset=14, profile=profile), rng), out, want))
            got = await bench.run([([], [], frames)], timeout=100 * len(frames) * (size // 16 + 10))
            octets = sum(len(f) for f, _ in mix) / len(mix)
            per, _ = rates(got, 0, 0)
            lines.append(f"multi_{name}_{size}B_payload frame_octets_in={octets:.1f} cycles_per_frame={per:.2f} "
                         f"octets_per_cycle_in={octets / per:.2f}")
            dut._log.info(lines[-1])
    with open(os.environ.get("MULTI_RESULTS", os.devnull), "w") as f:
        f.write("\n".join(lines) + "\n")

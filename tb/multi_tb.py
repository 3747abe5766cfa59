"""cocotb testbench of :class:`hw.multi.MultiDecap` and :class:`hw.multi.MultiEncap` (EESP and
PSP frames, the profile chosen per frame) against the golden model, under Icarus and
Verilator (tests/test_multi.py; ``MULTI_TOP`` = decap or encap).

Decap:
Random traffic mixes EESP frames sealed by the model's endpoint (as tb/endpoint_tb.py
makes them, 15 % damaged) and PSP frames sealed by the model's PSP senders (both
versions and phases, VC or not, random crypt offsets; 15 % with a bit flipped), and a few
frames whose sideband names the other profile (each is then judged by the rules of the
profile named). EESP root keys and PSP master keys rotate between bursts with frames in
flight. Expected: ``Endpoint.open`` / ``psp_open``, or the refusal code; the counters
with the model's verdicts. The benchmark (Verilator) sends back-to-back frames of each
profile alone and alternating, a new data key every frame.

Encap: random clear frames for the model's EESP sender contexts (as tb/endpoint_tb.py
makes them, 10 % with offsets the sender refuses) and its PSP SAs (both versions and
phases, VC or not; an empty slot; an SA two IVs from the end), EESP contexts run to
exhaustion and moved to a new epoch, root keys and master keys rotated between bursts
(quiesced: a sender takes the current key at lookup). Expected: ``Endpoint.seal`` /
``PspSender.seal`` or the refusal code, and the counters. The benchmark sends
back-to-back frames of each profile alone and alternating.

Environment: ``MULTI_N`` frames, ``ENDPOINT_MAX`` largest payload, ``MULTI_RESULTS``.
"""

from __future__ import annotations

import os
import random

import cocotb

from hw.datapath import NextHeaderUser
from hw.endpoint import encap_user
from hw.multi import PROFILES, MultiInUser, multi_encap_user
from hw.realign import beat
from model.errors import Code, EespError
from model.psp import PspKeys, PspSender, psp_open
from tb.endpoint_tb import (CONTEXTS, CTXW, MAX, ON_ICARUS, Bench, Senders, World, beats_of, check_counters,
                            rates, sealed_for_bench, statistics_agree, write_payloads)
from tb.psp_tb import SAS, mk_write, random_sender, sa_write, sealed_expected
from tb.stream import pack, unpack

TOP = os.environ.get("MULTI_TOP", "decap")
N = int(os.environ.get("MULTI_N", "100"))
IN = beat(MultiInUser)
#: input beats of the encap (built with ``contexts`` = CONTEXTS, ``sas`` = SAS)
EIN = beat(multi_encap_user(CONTEXTS, SAS))
EESP_USER = encap_user(CONTEXTS)
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


@cocotb.test(skip=TOP != "decap")
async def mixed_random_frames_rotations_idle_backpressure(dut):
    bursts, frames_in, results = random_traffic(N, 1)
    codes = sorted({c for _, c in results})
    dut._log.info(f"{len(results)} frames, {sum(c == 0 for _, c in results)} opened, codes {codes}")
    assert len(codes) > 6, codes
    bench = await MultiBench(dut).start(idle=0.2, stall=0.2, seed=2, drop_bad=1)
    await bench.run(bursts, timeout=600 * len(results) + 2000)
    await check_counters(bench, statistics_agree(frames_in, results))


@cocotb.test(skip=TOP != "decap")
async def refused_frames_pass_as_outer_octets(dut):
    """drop_bad = 0: refused frames of both profiles leave as F[0..min(O, N)) with their code."""
    bursts, frames_in, results = random_traffic(max(40, N // 3), 3, damage=0.5)
    bench = await MultiBench(dut).start(idle=0.1, stall=0.3, seed=4, drop_bad=0)
    await bench.run(bursts, timeout=600 * len(results) + 2000)
    await check_counters(bench, statistics_agree(frames_in, results))


@cocotb.test(skip=TOP != "decap" or ON_ICARUS)
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
            octets = sum(len(f) for f, _ in mix) / len(mix)
            lines.append(await _measured(bench, [], frames, f"multi_{name}_{size}B_payload", octets, "in"))
    with open(os.environ.get("MULTI_RESULTS", os.devnull), "w") as f:
        f.write("\n".join(lines) + "\n")


async def _measured(bench, ctx_writes: list, frames: list, label: str, octets: float, side: str) -> str:
    """Back-to-back ``frames`` through the bench (after ``ctx_writes``); the line of
    figures: ``octets`` per frame on ``side`` ("in" or "out") per cycle."""
    size = max(len(o) for _, o, _ in frames)
    got = await bench.run([([], ctx_writes, frames)], timeout=100 * len(frames) * (size // 16 + 10))
    per, _ = rates(got, 0, 0)
    line = (f"{label} frame_octets_{side}={octets:.1f} cycles_per_frame={per:.2f} "
            f"octets_per_cycle_{side}={octets / per:.2f}")
    bench.dut._log.info(line)
    return line


# --------------------------------------------------------------------------- encap


class MixedSend(Mixed):
    """Beside :class:`Mixed`'s keys (PSP phase 1 empty until the first master-key
    rotation): the model's EESP sender contexts (:class:`Senders`) and PSP sending SAs
    (slot 1 in phase 1, slot 2 two IVs from the end, slot SAS - 1 empty), and their
    writes."""

    def __init__(self, rng: random.Random):
        super().__init__(rng)
        # phase 1 starts without a key (its SPIs refused with UNKNOWN_KEY) until the first
        # master-key rotation writes one there
        self.writes[self.writes.index(("mkwr", mk_write(1, self.keys.keys[1])))] = ("mkwr", mk_write(1, None))
        self.keys.keys[1] = None
        self.contexts = Senders(self.eesp, random.Random(rng.random()))
        self.sas: list[PspSender | None] = [random_sender(rng, k % 2) for k in range(SAS - 1)] + [None]
        self.sas[2].next_iv = (1 << 64) - 2
        self.writes += [("sawr", sa_write(k, s)) for k, s in enumerate(self.sas) if s is not None]

    def eesp_frame(self, bad: float, slot: int | None = None, payload_len: int | None = None):
        """(input beats, output, code, clear frame) of a frame for EESP context ``slot``."""
        beats, out, code, frame, _ = self.contexts.frame(bad, slot, payload_len)
        side = unpack(EESP_USER, unpack(beat(EESP_USER), beats[0])["user"])
        return beats_of(frame, EIN, pack(EIN["user"].shape, profile=EESP, **side), self.rng), out, code, frame

    def psp_send_frame(self, slot: int | None = None, payload: int | None = None, offset: int | None = None):
        """(input beats, output, code, clear frame) of a frame for PSP SA ``slot``."""
        rng = self.rng
        slot = rng.choices(range(SAS), [9, 7, 2, 2])[0] if slot is None else slot
        o = rng.choice([0, 14, 34, 54, rng.randrange(70)]) if offset is None else offset
        size = rng.choice([0, 1, 3, 8, 40, MAX, rng.randrange(MAX + 1), rng.randrange(60)]) if payload is None \
            else payload
        frame = rng.randbytes(o + size)
        if offset is None and rng.random() < 0.12:
            o = len(frame) + rng.randrange(1, 30)
        nh = rng.choice([4, 6, 17, 41])
        out, code = sealed_expected(self.sas[slot], self.keys, frame, o, nh)
        user = pack(EIN["user"].shape, offset=o, profile=PSP, sa=slot, next_header=nh,
                    ctx=rng.randrange(CONTEXTS), coffset=rng.randrange(256), ioffset=rng.randrange(256))
        return beats_of(frame, EIN, user, rng), out, code, frame


def encap_traffic(n: int, seed: int, bad: float):
    """``n`` frames of both profiles in bursts of 20: before each burst but the first a
    rotation (EESP root key or PSP master key, in turn); every fourth burst an EESP
    context two frames from exhaustion, moved to a new epoch in the next burst.
    (bursts, frames in, results (output, code))."""
    w = MixedSend(random.Random(seed))
    bursts = [(w.writes, w.contexts.writes, [])]
    frames_in, results, renew = [], [], None
    while n > 0:
        k = min(20, n)
        writes = w.rotate() if len(bursts) > 1 else []
        ctx_writes, made = [], []
        if renew is not None:
            ctx_writes.append(w.contexts.start_counter_at(renew, 0))
            renew = None
        if len(bursts) % 4 == 2:
            renew = w.rng.randrange(CONTEXTS)
            ctx_writes.append(w.contexts.start_counter_at(renew, (1 << 48) - 2))
            made += [w.eesp_frame(0.0, renew) for _ in range(3)]
        made += [w.eesp_frame(bad) if w.rng.random() < 0.5 else w.psp_send_frame() for _ in range(k)]
        bursts.append((writes, ctx_writes, [(b, o, c) for b, o, c, _ in made]))
        frames_in += [f for *_, f in made]
        results += [(o, c) for _, o, c, _ in made]
        n -= k
    return bursts, frames_in, results


@cocotb.test(skip=TOP != "encap")
async def encap_mixed_random_frames_rotations_exhaustion(dut):
    bursts, frames_in, results = encap_traffic(N, 61, 0.1)
    codes = sorted({c for _, c in results})
    dut._log.info(f"{len(results)} frames, {sum(c == 0 for _, c in results)} sealed, codes {codes}")
    assert {0, Code.NO_CONTEXT, Code.COUNTER_EXHAUSTED, Code.BAD_IOFFSET, Code.BAD_COFFSET, Code.UNKNOWN_KEY,
            Code.PSP_TRUNCATED, Code.PSP_BAD_OFFSET} <= set(codes), codes
    bench = await MultiBench(dut).start(idle=0.2, stall=0.2, seed=62, drop_bad=1)
    await bench.run(bursts, timeout=600 * len(results) + 2000, quiesce=True)
    await check_counters(bench, {**statistics_agree(frames_in, results), "refused_ctx_writes": 0})


@cocotb.test(skip=TOP != "encap")
async def encap_refused_frames_pass_as_outer_octets(dut):
    """drop_bad = 0: refused frames of both profiles leave as F[0..min(O, N)) with their code."""
    bursts, frames_in, results = encap_traffic(max(40, N // 3), 63, 0.5)
    bench = await MultiBench(dut).start(idle=0.1, stall=0.3, seed=64, drop_bad=0)
    await bench.run(bursts, timeout=600 * len(results) + 2000, quiesce=True)
    await check_counters(bench, statistics_agree(frames_in, results))


@cocotb.test(skip=TOP != "encap")
async def encap_refused_writes_of_both_tables_in_one_cycle_count_twice(dut):
    """A context write and an SA write refused on the same cycle: status address 9 counts
    both (and a refused write changes nothing: the next frames seal as before)."""
    w = MixedSend(random.Random(65))
    bench = await MultiBench(dut).start(idle=0.0, stall=0.0, seed=66, drop_bad=0)
    await bench.send_writes(w.writes)
    await bench.ports["ctxwr"].send(w.contexts.writes)
    c0 = w.contexts.slots[0]
    dup_ctx = pack(CTXW, valid=1, index=1, group=c0.group, kind=c0.kind, ident=int.from_bytes(c0.ident, "big"),
                   epoch=c0.epoch, k=int(c0.key_option), counter=5)          # c0's identity, in another slot
    dup_sa = sa_write(3, w.sas[0])                                           # SA 0's SPI, in slot 3
    both = [cocotb.start_soon(bench.ports["ctxwr"].send([dup_ctx])),
            cocotb.start_soon(bench.ports["sawr"].send([dup_sa]))]     # offered on the same cycle
    for task in both:
        await task
    frames = [w.eesp_frame(0.0, 0, 40)[:3], w.eesp_frame(0.0, 1, 40)[:3], w.psp_send_frame(0, 40, 14)[:3],
              w.psp_send_frame(3, 40, 14)[:3]]
    assert frames[3][2] == Code.NO_CONTEXT
    await bench.run([([], [], frames)], timeout=20000)
    assert await bench.stat("refused_ctx_writes") == 2


def _bench_eesp(w: MixedSend, rng: random.Random, size: int, k: int):
    """k EESP frames, each for its own context (installed fresh: a new ID): (context
    writes, frames)."""
    ctx_writes, frames = [], []
    for i, (ctx, frame_in, sealed) in enumerate(sealed_for_bench(w.eesp, rng, size, k)):
        ctx_writes.append(pack(CTXW, valid=1, index=i, group=0, kind=1, ident=int.from_bytes(ctx.ident, "big"),
                               epoch=ctx.epoch, k=1, counter=0))
        frames.append((beats_of(frame_in, EIN, pack(EIN["user"].shape, offset=14, profile=EESP, ctx=i), rng),
                       sealed, 0))
    return ctx_writes, frames


@cocotb.test(skip=TOP != "encap" or ON_ICARUS)
async def encap_benchmark_back_to_back(dut):
    """Octets per cycle out, back-to-back frames of 14 outer octets, a new data key every
    frame (EESP: each frame its own context and ID; PSP: four SAs, versions alternating,
    the KDF runs for every frame): EESP alone, PSP alone, the two alternating. Written to
    MULTI_RESULTS."""
    rng = random.Random(67)
    w = MixedSend(random.Random(68))
    bench = await MultiBench(dut).start(idle=0.0, stall=0.0, seed=69, drop_bad=1)
    await bench.send_writes(w.writes)
    w.sas = [PspSender(0x2000 + k, version=k % 2) for k in range(SAS)]     # phase 0: it has a key
    await bench.ports["sawr"].send([sa_write(k, s) for k, s in enumerate(w.sas)])
    lines, k = [], CONTEXTS
    for size in (64, 256, 512, 1500):
        for name in ("eesp", "psp", "mixed"):
            ctx_writes, eesp = _bench_eesp(w, rng, size, k) if name != "psp" else ([], [])
            psp = [w.psp_send_frame(j % SAS, size, 14)[:3] for j in range(k)] if name != "eesp" else []
            frames = eesp or psp if name != "mixed" else [x for pair in zip(eesp, psp) for x in pair]
            assert all(c == 0 for *_, c in frames)
            out = sum(len(o) for _, o, _ in frames) / len(frames)
            lines.append(await _measured(bench, ctx_writes, frames, f"multiencap_{name}_{size}B_payload", out, "out"))
    with open(os.environ.get("MULTI_RESULTS", os.devnull), "w") as f:
        f.write("\n".join(lines) + "\n")

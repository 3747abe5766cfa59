"""cocotb checks of hw.endpoint.Decap and Encap against the golden model.

Every frame is sealed by ``model.endpoint.Endpoint`` (random header offsets, both ID
kinds, with and without the Master Key Option, 16- and 32-octet Root Key IDs, random
IOffset / COffset, payloads 0..``DECAP_MAX`` octets), part of them damaged (header bits,
word-0 fields, cuts, ICV and ciphertext flips, unknown Root Key IDs and tags); the
expected output is what ``Endpoint.open`` returns, or its refusal code. Root keys rotate
between bursts while earlier frames are still in flight. Nothing expected is computed by
the code under test.

Environment: ``ENDPOINT_TOP`` (decap / encap), ``ENDPOINT_N`` frames, ``ENDPOINT_MAX``
largest payload, ``ENDPOINT_RESULTS`` file for the benchmark.
"""

from __future__ import annotations

import os
import random

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge, Timer

from hw.counters import STAT
from hw.datapath import MAX_FRAME, InUser, OutUser
from hw.endpoint import context_layout, encap_user
from hw.keytable import Op, write_layout
from hw.realign import beat
from model.endpoint import Endpoint, SenderContext
from model.errors import Code, EespError
from model.keytable import KeyType
from tb.keys import Shadow
from tb.sim import CLOCK_NS, resolved
from tb.stream import Source, frames_of, pack, start_bench, unpack

TOP = os.environ.get("ENDPOINT_TOP", "decap")
N = int(os.environ.get("ENDPOINT_N", "100"))
MAX = int(os.environ.get("ENDPOINT_MAX", "1500"))
GROUPS = 4
DEFAULT = 3        # the default group (K = 0 frames); never rotated
IN, OUT, WR = beat(InUser), beat(OutUser), write_layout(GROUPS)


class World:
    """The model's key table (through :class:`Shadow`) and an endpoint that seals with it."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.shadow = Shadow(rng)
        self.writes: list[dict] = []
        self.rkids = {g: rng.randbytes(32 if g == 1 else 16) for g in range(GROUPS)}
        for g, rkid in self.rkids.items():
            self.writes += self.shadow.add_group(g, rkid)
        self.shadow.model.default_group = DEFAULT
        self.writes.append(dict(op=Op.SET_DEFAULT, group=DEFAULT))
        self.ep = Endpoint(self.shadow.model)
        self.turn = 0

    def rotate(self) -> list[dict]:
        """Rotate the next (group, type) in turn: a pair rotates again only 9 bursts later."""
        g, t = divmod(self.turn % 9, 3)
        self.turn += 1
        return self.shadow.rotate(g, KeyType(t))

    def frame(self, damage: float) -> tuple[bytes, int, bytes, int]:
        """(frame, O, expected output, expected code)."""
        rng = self.rng
        group = rng.randrange(GROUPS)
        kind = rng.randrange(2)
        ioffset = rng.choice([0, 0, 1, rng.randrange(6)])
        offset = 4 * ioffset + rng.choice([0, rng.randrange(40)])
        payload = rng.randbytes(rng.choice([0, 1, 16, MAX, rng.randrange(MAX + 1), rng.randrange(80)]))
        coffset = rng.randrange(min(255, len(payload) // 4) + 1) if rng.random() < 0.3 else 0
        ctx = SenderContext(group, kind, rng.randbytes(4 << kind), rng.randrange(1 << 16), coffset, ioffset,
                            key_option=group != DEFAULT or rng.random() < 0.5)
        frame = bytearray(self.ep.seal(rng.randbytes(offset) + payload, offset, ctx))
        if rng.random() < damage:
            hl = frame[offset] & 0xF
            what = rng.choice(["flip", "word0", "cut", "icv", "text", "rkid", "tag"])
            if what == "flip":
                bit = rng.randrange(8 * 4 * hl)
                frame[offset + bit // 8] ^= 1 << (bit % 8)
            elif what == "word0":
                frame[offset + rng.randrange(4)] = rng.randrange(256)
            elif what == "cut":
                frame = frame[: rng.randrange(offset, len(frame))]
            elif what == "icv":
                frame[-1 - rng.randrange(16)] ^= 1 << rng.randrange(8)
            elif what == "text" and len(frame) > offset + 4 * hl + 16:
                frame[rng.randrange(offset + 4 * hl, len(frame) - 16)] ^= 1
            elif what in ("rkid", "tag") and ctx.key_option:
                at = offset + 4 + (4 << kind)
                if what == "rkid":
                    frame[at + 4 + rng.randrange(16)] ^= 0x80
                else:   # a tag moved by 2 (never installed: UNKNOWN_KEY) or 3 (the pre key: AUTH_FAIL)
                    shift = 6 - 2 * rng.randrange(3)
                    tag = (frame[at + 2] >> shift & 3) + rng.choice([2, 3])
                    frame[at + 2] = frame[at + 2] & ~(3 << shift) | (tag % 4) << shift
        frame = bytes(frame)
        try:
            return frame, offset, self.ep.open(frame, offset).frame, 0
        except EespError as e:
            return frame, offset, frame[:offset], int(e.code)


def beats_of(frame: bytes, layout, first_user: int, rng: random.Random) -> list[int]:
    """A frame's input beats (``layout``): 16 octets each, the last one the rest (one null
    beat if the frame is empty; a frame that fills its beats ends with a null beat half of
    the time); ``first_user`` on the first beat, random ``user`` on the others (the tops
    read it on a frame's first beat only)."""
    chunks = [frame[k:k + 16] for k in range(0, len(frame), 16)] or [b""]
    if len(chunks[-1]) == 16 and rng.random() < 0.5:
        chunks.append(b"")
    width = layout["user"].shape.size
    return [pack(layout, data=int.from_bytes(c, "little"), keep=(1 << len(c)) - 1, last=int(n == len(chunks) - 1),
                 user=first_user if n == 0 else rng.getrandbits(width))
            for n, c in enumerate(chunks)]


def frame_beats(frame: bytes, offset: int, rng: random.Random) -> list[int]:
    """Decap (and proxy) input beats of a frame with header offset ``offset``."""
    return beats_of(frame, IN, offset, rng)


def write_payloads(writes: list[dict]) -> list[int]:
    return [pack(WR, **{k: (v.value if isinstance(v, Op) else v) for k, v in w.items()}) for w in writes]


class Bench:
    #: layout of the output beats (``user`` compared as one integer with the expected code)
    out_layout = OUT

    def __init__(self, dut):
        self.dut = dut

    def kept(self, code: int) -> bool:
        """Whether a frame expected with ``code`` comes out."""
        return code == 0 or not self.drop_bad

    async def start(self, *, idle: float, stall: float, seed: int, drop_bad: int):
        dut = self.dut
        dut.drop_bad.value = drop_bad
        dut.stat_addr.value = 0
        self.drop_bad = drop_bad
        self.src, self.sink, self.cycles = await start_bench(dut, idle, stall, seed, i="s", o="m")
        self.ports = {name: Source(dut, name, dut.clk) for name in ("wr", "wr_a", "wr_b", "ctxwr", "mapwr", "sawr", "mkwr")
                      if hasattr(dut, f"{name}__valid")}
        self.rng = random.Random(seed + 5)
        return self

    def outputs(self) -> list[tuple[bytes, int, int]]:
        """The frames seen on ``m``: (octets, error, cycle of the last beat)."""
        frames, faults = frames_of(self.sink.items, self.out_layout)
        assert not faults, faults[0]
        return [(octets, user, self.sink.times[last]) for octets, user, last in frames]

    #: cycles without an output beat, all input sent and frames still expected, after which
    #: a wait gives up (the count check then fails): a frame that never leaves is found in
    #: thousands of cycles, not at the end of a timeout scaled to the whole run
    STALL = 20000

    async def _wait_frames(self, count: int, timeout: int) -> None:
        """Until ``count`` frames have left in all (or ``timeout`` cycles, or :data:`STALL`
        cycles without an output beat)."""
        quiet = 0
        step = 16   # cycles between looks: one wake-up for many cycles (the sink records them all)
        while self._seen < count and timeout > 0 and quiet < self.STALL:
            items = self.sink.items
            quiet = quiet + step if len(items) == self._cursor else 0
            self._seen += sum(unpack(self.out_layout, v)["last"] for v in items[self._cursor:])
            self._cursor = len(items)
            await Timer((step - 1) * CLOCK_NS, "ns")
            await RisingEdge(self.dut.clk)
            timeout -= step

    async def run(self, bursts, timeout: int, quiesce: bool = False, check: bool = True):
        """Each burst is (key-table writes, packed sender-context writes, frames), a frame
        (its input beats, expected output octets, expected code). Sends each burst's
        writes, then its frames (with ``quiesce``, only once every earlier frame is out);
        checks every output frame, and that no other comes out (``check``; else returns
        what came out and what was expected)."""
        first = len(self.outputs())
        self._seen, self._cursor = first, len(self.sink.items)
        want = []
        for writes, ctx_writes, frames in bursts:
            if quiesce:
                await self._wait_frames(first + len(want), timeout)
            if writes:
                await self.send_writes(writes)
            if ctx_writes:
                await self.ports["ctxwr"].send(ctx_writes)
            beats = []
            for frame_in, out, code in frames:
                beats += frame_in
                if self.kept(code):
                    want.append((out, code))
            await self.src.send(beats)
        await self._wait_frames(first + len(want), timeout)
        await Timer(100 * CLOCK_NS, "ns")     # and nothing more
        await RisingEdge(self.dut.clk)
        got = self.outputs()[first:]
        if not check:
            return got, want
        assert len(got) == len(want), f"{len(got)} frames out, {len(want)} expected"
        for n, ((g, ge, _), (w, we)) in enumerate(zip(got, want)):
            if (ge, g) != (we, w):
                at = next((j for j, (x, y) in enumerate(zip(g, w)) if x != y), min(len(g), len(w)))
                raise AssertionError(f"frame {n}: got code {ge}, {len(g)} octets; expected code {we}, {len(w)} "
                                     f"octets; first difference at octet {at}:\n got      {g[at:at + 48].hex()}\n"
                                     f" expected {w[at:at + 48].hex()}\n got start      {g[:64].hex()}\n"
                                     f" expected start {w[:64].hex()}")
        return got

    async def send_writes(self, writes: list[dict]) -> None:
        """Key-table writes (as :class:`tb.keys.Shadow` gives them) on ``wr``."""
        await self.ports["wr"].send(write_payloads(writes))

    async def stat(self, name: str | int) -> int:
        """A status counter, by :data:`STAT` name or address."""
        self.dut.stat_addr.value = STAT[name] if isinstance(name, str) else name
        await RisingEdge(self.dut.clk)
        await ReadOnly()
        v = resolved(self.dut.stat_data)
        await RisingEdge(self.dut.clk)
        return v


def decap_frame(world: World, damage: float, rng: random.Random):
    """A protected frame for the decap: (input beats, expected output, expected code)."""
    frame, offset, out, code = world.frame(damage)
    return frame_beats(frame, offset, rng), out, code


def statistics_agree(frames_in: list[bytes], results: list[tuple[bytes, int]]):
    """What the status counters must read after frames_in gave results (output, code)."""
    want = {"frames_in": len(frames_in), "octets_in": sum(len(f) for f in frames_in),
            "frames_out": sum(c == 0 for _, c in results),
            "octets_out": sum(len(o) for o, c in results if c == 0)}
    for c in Code:
        if c.value:
            want[f"refused_{c.name.lower()}"] = sum(code == c for _, code in results)
    return want


async def check_counters(bench: Bench, want: dict[str | int, int]) -> None:
    wrong = []
    for name, value in want.items():
        got = await bench.stat(name)
        if got != value:
            wrong.append(f"counter {name}: {got}, expected {value}")
    assert not wrong, "; ".join(wrong)


def decap_random_traffic(n: int):
    """``n`` random frames (15 % damaged) in bursts of 25, a root-key rotation before each
    burst but the first while earlier frames are in flight: (bursts, frames in, results)."""
    world = World(random.Random(1))
    rng = random.Random(11)
    bursts, frames_in, results = [(world.writes, [], [])], [], []
    while n > 0:
        k = min(25, n)
        writes = world.rotate() if len(bursts) > 1 else []  # earlier frames are still in flight
        burst = []
        for _ in range(k):
            frame, offset, out, code = world.frame(0.15)
            frames_in.append(frame)
            results.append((out, code))
            burst.append((frame_beats(frame, offset, rng), out, code))
        bursts.append((writes, [], burst))
        n -= k
    return bursts, frames_in, results


@cocotb.test(skip=TOP != "decap")
async def decap_random_frames_rotation_idle_backpressure_drop_bad(dut):
    bursts, frames_in, results = decap_random_traffic(N)
    dut._log.info(f"{len(frames_in)} frames, {sum(c == 0 for _, c in results)} good, "
                  f"codes {sorted({c for _, c in results})}, {sum(map(len, frames_in))} octets")
    bench = await Bench(dut).start(idle=0.2, stall=0.2, seed=2, drop_bad=1)
    await bench.run(bursts, timeout=400 * len(frames_in) + 2000)
    await check_counters(bench, statistics_agree(frames_in, results))


@cocotb.test(skip=TOP != "decap")
async def decap_refused_frames_pass_as_outer_octets_with_their_code(dut):
    """drop_bad = 0: every malformed class of the model tests, and random damage."""
    from tb.malformed import OFFSET, malformed_frames

    world = World(random.Random(3))
    rng = random.Random(13)
    frames = []
    for _, _, frame, _ in malformed_frames():
        try:
            out, c = world.ep.open(frame, OFFSET).frame, 0
        except EespError as e:
            out, c = frame[:OFFSET], int(e.code)
        frames.append((frame_beats(frame, OFFSET, rng), out, c))
    frames += [decap_frame(world, 0.8, rng) for _ in range(max(20, N // 4))]
    codes = {c for *_, c in frames}
    assert codes >= set(range(1, 12)), codes     # every receive code of spec 2.2
    bench = await Bench(dut).start(idle=0.1, stall=0.3, seed=4, drop_bad=0)
    await bench.run([(world.writes, [], frames)], timeout=400 * len(frames) + 2000)


#: lengths past the tops' max_frame (the default, as test_endpoint builds them): one octet
#: over, a beat over, the limit crossed inside a beat, and longer than the frame store
OVERLONG = (MAX_FRAME + 1, MAX_FRAME + 16, MAX_FRAME + 23, 2 * MAX_FRAME + 100, 5000)


def _with_overlong(good: list, overlong: list) -> list:
    """good frames with the overlong ones spread between them (each a frame tuple)."""
    out = list(good)
    for n, f in enumerate(overlong):
        out.insert(n * len(good) // len(overlong), f)
    return out


@cocotb.test(skip=TOP != "decap")
async def decap_overlong_frames_are_refused_and_traffic_goes_on(dut):
    """Frames past max_frame leave as F[0..O) with TOO_LONG (drop_bad = 0), then are
    dropped (drop_bad = 1); the frames around them open as the model says; counters agree."""
    world = World(random.Random(40))
    rng = random.Random(50)

    def frames():
        good = [world.frame(0.1) for _ in range(12)]
        long = []
        for n in OVERLONG:
            frame, offset, _, _ = world.frame(0.0)     # a sealed frame made too long
            frame += rng.randbytes(n - len(frame))
            long.append((frame, offset, frame[:offset], int(Code.TOO_LONG)))
        return _with_overlong(good, long)

    bench = await Bench(dut).start(idle=0.1, stall=0.2, seed=60, drop_bad=0)
    writes = world.writes
    for drop_bad in (0, 1):
        dut.drop_bad.value = bench.drop_bad = drop_bad
        fs = frames()
        assert {c for *_, c in fs} >= {0, Code.TOO_LONG}
        await bench.run([(writes, [], [(frame_beats(f, o, rng), out, c) for f, o, out, c in fs])],
                        timeout=400 * len(fs) + 4000)
        writes = []
        if not drop_bad:
            await check_counters(bench, statistics_agree([f for f, *_ in fs], [(out, c) for _, _, out, c in fs]))


async def benchmark(dut, make_frames, k: int):
    """Cycles per frame, no idle, no backpressure, a new data key every frame (each frame
    with its own ID); written to ENDPOINT_RESULTS."""
    world = World(random.Random(5))
    bench = await Bench(dut).start(idle=0.0, stall=0.0, seed=6, drop_bad=1)
    await bench.send_writes(world.writes)
    lines = []
    rng = random.Random(7)
    for size in (64, 256, 512, 1500):
        ctx_writes, frames, wire = make_frames(world, rng, size, k)
        got = await bench.run([([], ctx_writes, frames)], timeout=100 * k * (size // 16 + 10))
        per, figures = rates(got, *wire)
        lines.append(f"{TOP}_{size}B_payload {figures} payload_octets_per_cycle={size / per:.2f}")
        dut._log.info(lines[-1])
    with open(os.environ.get("ENDPOINT_RESULTS", os.devnull), "w") as f:
        f.write("\n".join(lines) + "\n")


def rates(got, octets_in: int, octets_out: int) -> tuple[float, str]:
    """Cycles per frame of back-to-back frames of one size (``got``: frames out, each with
    the cycle of its last beat; steady state from the first to the last) and the figures."""
    ends = [t for *_, t in got]
    per = (ends[-1] - ends[0]) / (len(ends) - 1)
    return per, (f"frame_octets_in={octets_in} frame_octets_out={octets_out} cycles_per_frame={per:.2f} "
                 f"octets_per_cycle_in={octets_in / per:.2f} octets_per_cycle_out={octets_out / per:.2f}")


def sealed_for_bench(world, rng, size, k):
    """k frames of one size, 14 outer octets, ConnectionID, K = 1, each its own ID."""
    out = []
    for _ in range(k):
        ctx = SenderContext(0, 1, rng.randbytes(8), 1, 0, 0, key_option=True)
        frame_in = bytes(14) + rng.randbytes(size)
        out.append((ctx, frame_in, world.ep.seal(frame_in, 14, ctx)))
    return out


#: the benchmarks run under Verilator only (cycle counts are the same; Icarus is slow)
ON_ICARUS = "icarus" in (getattr(cocotb, "SIM_NAME", None) or "").lower()


@cocotb.test(skip=TOP != "decap" or ON_ICARUS)
async def decap_benchmark_back_to_back(dut):
    def make(world, rng, size, k):
        sealed = sealed_for_bench(world, rng, size, k)
        frames = [(frame_beats(f, 14, rng), world.ep.open(f, 14).frame, 0) for _, _, f in sealed]
        return [], frames, (len(sealed[0][2]), len(sealed[0][1]))
    await benchmark(dut, make, k=20)


# ---- encap ------------------------------------------------------------------------------

CONTEXTS = 16
EIN, CTXW = beat(encap_user(CONTEXTS)), context_layout(GROUPS, CONTEXTS)


def encap_beats(frame: bytes, rng: random.Random, **user) -> list[int]:
    """Encap input beats of a clear frame, ``user`` fields (offset, ctx, coffset, ioffset)
    on the first beat."""
    return beats_of(frame, EIN, pack(EIN["user"].shape, **user), rng)


class Senders:
    """Sender contexts: the model's SenderContext of each HW slot, and the writes."""

    def __init__(self, world: World, rng: random.Random):
        self.world, self.rng = world, rng
        self.slots: list[SenderContext] = []
        self.writes: list[int] = []
        self.used: set[tuple[int, bytes, int]] = set()     # counter identities ever installed
        for i in range(CONTEXTS):
            group = rng.randrange(GROUPS)
            kind = rng.randrange(2)
            ctx = SenderContext(group, kind, rng.randbytes(4 << kind), rng.randrange(1 << 16),
                                key_option=group != DEFAULT or rng.random() < 0.5)
            self.slots.append(ctx)
            self.used.add(ctx.counter_key)
            self.writes.append(pack(CTXW, valid=1, index=i, group=group, kind=kind, ident=int.from_bytes(ctx.ident, "big"),
                                    epoch=ctx.epoch, k=int(ctx.key_option), counter=0))

    def start_counter_at(self, i: int, value: int) -> int:
        """Context i moved to an Epoch its ID has not used, its next counter ``value``, in
        the model; its write. (Spec 7.1: the counter of an identity never moves back, so a
        context run near exhaustion a second time needs a new epoch, as a sender would.)"""
        old = self.slots[i]
        epoch = old.epoch
        while True:
            epoch = (epoch + 1) % (1 << 16)
            ctx = SenderContext(old.group, old.kind, old.ident, epoch, key_option=old.key_option)
            if ctx.counter_key not in self.used:
                break
        self.slots[i] = ctx
        self.used.add(ctx.counter_key)
        self.world.ep.counter(ctx)._next = value
        return pack(CTXW, valid=1, index=i, group=ctx.group, kind=ctx.kind, ident=int.from_bytes(ctx.ident, "big"),
                    epoch=ctx.epoch, k=int(ctx.key_option), counter=value)

    def frame(self, bad: float, slot: int | None = None, payload_len: int | None = None):
        """(input beats, expected output, code, the clear frame, O) of a clear frame for
        slot ``slot`` (random if None), ``payload_len`` octets after O (random if None)."""
        rng = self.rng
        i = rng.randrange(CONTEXTS) if slot is None else slot
        ioffset = rng.choice([0, 0, 1, rng.randrange(6)])
        offset = 4 * ioffset + rng.choice([0, rng.randrange(40)])
        if payload_len is None:
            payload_len = rng.choice([0, 1, 16, MAX, rng.randrange(MAX + 1), rng.randrange(80)])
        payload = rng.randbytes(payload_len)
        coffset = rng.randrange(min(255, len(payload) // 4) + 1) if rng.random() < 0.3 else 0
        if rng.random() < bad:   # offsets the sender must refuse
            if rng.random() < 0.5:
                ioffset = offset // 4 + 1 + rng.randrange(3)
            else:
                coffset = min(255, len(payload) // 4 + 1 + rng.randrange(3))
                if 4 * coffset <= len(payload):
                    coffset = 0
        base = self.slots[i]
        ctx = SenderContext(base.group, base.kind, base.ident, base.epoch, coffset, ioffset, base.key_option)
        frame_in = rng.randbytes(offset) + payload
        try:
            out, code = self.world.ep.seal(frame_in, offset, ctx), 0
        except EespError as e:
            out, code = frame_in[:offset], int(e.code)
        beats = encap_beats(frame_in, rng, offset=offset, ctx=i, coffset=coffset, ioffset=ioffset)
        return beats, out, code, frame_in, offset


def encap_random_traffic(n: int):
    """``n`` random clear frames (10 % with offsets the sender refuses) in bursts of 25, a
    rotation before each burst but the first, every fourth burst a context two frames
    from exhaustion, moved to a new epoch at counter 0 in the next burst (as spec 7 has
    the sender do): (bursts, frames in, results). Bursts are to be sent quiesced."""
    world = World(random.Random(21))
    rng = random.Random(22)
    senders = Senders(world, rng)
    bursts = [(world.writes, senders.writes, [])]
    frames_in, results = [], []
    renew = None
    while n > 0:
        k = min(25, n)
        writes = world.rotate() if len(bursts) > 1 else []
        ctx_writes = []
        if renew is not None:      # the context exhausted a burst ago moves to a new epoch
            ctx_writes.append(senders.start_counter_at(renew, 0))
            renew = None
        if len(bursts) % 4 == 2:   # a context two frames from exhaustion: the third is refused
            slot = renew = rng.randrange(CONTEXTS)
            ctx_writes.append(senders.start_counter_at(slot, (1 << 48) - 2))
            made = [senders.frame(0.0, slot) for _ in range(3)]
        else:
            made = []
        made += [senders.frame(0.1) for _ in range(k)]
        bursts.append((writes, ctx_writes, [(beats, out, code) for beats, out, code, _, _ in made]))
        frames_in += [f for _, _, _, f, _ in made]
        results += [(out, code) for _, out, code, _, _ in made]
        n -= k
    return bursts, frames_in, results


@cocotb.test(skip=TOP != "encap")
async def encap_random_frames_rotation_exhaustion_idle_backpressure(dut):
    bursts, frames_in, results = encap_random_traffic(N)
    codes = sorted({c for _, c in results})
    dut._log.info(f"{len(results)} frames, {sum(c == 0 for _, c in results)} sealed, codes {codes}")
    assert {0, Code.BAD_IOFFSET, Code.BAD_COFFSET, Code.COUNTER_EXHAUSTED} <= set(codes), codes
    bench = await Bench(dut).start(idle=0.2, stall=0.2, seed=23, drop_bad=1)
    # the sender takes the current keys at lookup: rotations wait until earlier frames are out
    await bench.run(bursts, timeout=400 * len(results) + 2000, quiesce=True)
    await check_counters(bench, statistics_agree(frames_in, results))


@cocotb.test(skip=TOP != "encap")
async def encap_refused_frames_pass_as_outer_octets(dut):
    world = World(random.Random(31))
    senders = Senders(world, random.Random(32))
    frames = [senders.frame(0.5)[:3] for _ in range(max(20, N // 4))]
    bench = await Bench(dut).start(idle=0.1, stall=0.3, seed=33, drop_bad=0)
    await bench.run([(world.writes, senders.writes, frames)], timeout=400 * len(frames) + 2000)


@cocotb.test(skip=TOP != "encap")
async def encap_overlong_frames_are_refused_and_traffic_goes_on(dut):
    """Clear frames past max_frame leave as F[0..O) with TOO_LONG and spend no counter
    value: the sealed frames around them carry the counters the model gives them."""
    world = World(random.Random(71))
    senders = Senders(world, random.Random(72))
    rng = random.Random(73)
    good = [senders.frame(0.0)[:4] for _ in range(12)]
    long = []
    for size in OVERLONG:
        slot, offset, clear = rng.randrange(CONTEXTS), rng.randrange(40), rng.randbytes(size)
        long.append((encap_beats(clear, rng, offset=offset, ctx=slot), clear[:offset], int(Code.TOO_LONG), clear))
    frames = _with_overlong(good, long)
    bench = await Bench(dut).start(idle=0.1, stall=0.2, seed=74, drop_bad=0)
    await bench.run([(world.writes, senders.writes, [f[:3] for f in frames])], timeout=400 * len(frames) + 4000)
    await check_counters(bench, statistics_agree([f[3] for f in frames], [(f[1], f[2]) for f in frames]))


@cocotb.test(skip=TOP != "encap" or ON_ICARUS)
async def encap_benchmark_back_to_back(dut):
    def make(world, rng, size, k):
        sealed = sealed_for_bench(world, rng, size, k)
        ctx_writes, frames = [], []
        for i, (ctx, frame_in, f) in enumerate(sealed):   # context i: this frame's fresh (ID, epoch)
            ctx_writes.append(pack(CTXW, valid=1, index=i, group=0, kind=1, ident=int.from_bytes(ctx.ident, "big"),
                                   epoch=ctx.epoch, k=1, counter=0))
            frames.append((encap_beats(frame_in, rng, offset=14, ctx=i), f, 0))
        return ctx_writes, frames, (len(sealed[0][1]), len(sealed[0][2]))
    await benchmark(dut, make, k=CONTEXTS)


# ---- issue 12: hardening ---------------------------------------------------------------

#: Malformed beats (keep) put in place of a frame's non-last beat: null, partial, holed.
BAD_KEEPS = (0x0000, 0x00FF, 0x0F0F, 0x8000)


def _spoil(beats: list[int], layout, rng: random.Random) -> list[int]:
    """``beats`` of one frame (two or more) with one beat's ``keep`` broken: a non-last
    beat gets a keep of :data:`BAD_KEEPS`, or the last beat a non-contiguous one."""
    beats = list(beats)
    j = rng.randrange(len(beats))
    b = unpack(layout, beats[j])
    b["keep"] = 0x0F0F if b["last"] else rng.choice(BAD_KEEPS)
    beats[j] = pack(layout, **b)
    return beats


@cocotb.test()
async def malformed_beats_cost_only_their_frame(dut):
    """Issue 12 defect 3: a frame with one malformed beat (null or partial and not last,
    or keep not contiguous) is refused as BAD_FRAMING and counted; every other frame,
    before and after it, comes out as the model says. Before the fix one such beat made
    every later frame AUTH_FAIL, or stopped the input for good."""
    world = World(random.Random(81))
    rng = random.Random(82)
    frames, bad = [], 0
    if TOP == "decap":
        for _ in range(40):
            frame, offset, out, code = world.frame(0.0)
            beats = frame_beats(frame, offset, rng)
            if len(beats) > 1 and rng.random() < 0.4:
                frames.append((_spoil(beats, IN, rng), b"", int(Code.BAD_FRAMING)))
                bad += 1
            else:
                frames.append((beats, out, code))
        writes = world.writes
        ctx_writes: list[int] = []
    else:
        senders = Senders(world, random.Random(83))
        writes, ctx_writes = world.writes, senders.writes
        for _ in range(40):
            if rng.random() < 0.4:
                clear = rng.randbytes(rng.randrange(17, 300))
                beats = encap_beats(clear, rng, offset=rng.randrange(17), ctx=rng.randrange(CONTEXTS))
                frames.append((_spoil(beats, EIN, rng), b"", int(Code.BAD_FRAMING)))
                bad += 1
            else:
                frames.append(senders.frame(0.0)[:3])
    bench = await Bench(dut).start(idle=0.1, stall=0.2, seed=84, drop_bad=1)
    await bench.run([(writes, ctx_writes, frames)], timeout=400 * len(frames) + 4000)
    assert bad >= 8
    assert await bench.stat("refused_bad_framing") == bad
    assert await bench.stat("frames_out") == sum(c == 0 for _, _, c in frames)


@cocotb.test(skip=TOP != "encap")
async def encap_refused_frame_leaves_nothing_past_its_end(dut):
    """Issue 12 defect 1: with drop_bad = 0 a frame whose header offset is past its end
    leaves as its own N octets (TRUNCATED), never with the 16 octets of the tag mask
    AES(DK, J0) the GCM engine computed for it (which is the mask of the next good
    frame of that context: H, then forgeries). The good frames of the same context
    after it carry the counters the model gives them."""
    world = World(random.Random(91))
    senders = Senders(world, random.Random(92))
    rng = random.Random(93)
    frames = []
    for k in range(30):
        slot = rng.randrange(4)
        if k % 2:
            clear = rng.randbytes(rng.randrange(0, 60))
            offset = len(clear) + 1 + rng.randrange(40)
            frames.append((encap_beats(clear, rng, offset=offset, ctx=slot), clear, int(Code.TRUNCATED)))
        else:
            frames.append(senders.frame(0.0, slot)[:3])
    bench = await Bench(dut).start(idle=0.1, stall=0.2, seed=94, drop_bad=0)
    await bench.run([(world.writes, senders.writes, frames)], timeout=400 * len(frames) + 2000)


async def _ctx_state(bench, index: int) -> tuple[int, int]:
    dut = bench.dut
    dut.ctx_addr.value = index
    await RisingEdge(dut.clk)
    await ReadOnly()
    v = (resolved(dut.ctx_state) & 1, resolved(dut.ctx_state) >> 1)
    await RisingEdge(dut.clk)
    return v


@cocotb.test(skip=TOP != "encap")
async def encap_contexts_never_reuse_a_counter(dut):
    """Issue 12 defect 2: a context never written, or cleared, refuses with NO_CONTEXT
    (before the fix it sealed with ID 0, Epoch 0, Counter 0: the same nonce from every
    such context); an install that would move a counter identity (ID kind, ID, Epoch)
    backwards, or give it to a second context, is refused and counted, and the counter
    stays where it was; the counters read back on ctx_addr / ctx_state."""
    world = World(random.Random(101))
    senders = Senders(world, random.Random(102))
    rng = random.Random(103)
    installed = senders.writes[:8]          # contexts 8..15 are never written
    bench = await Bench(dut).start(idle=0.0, stall=0.0, seed=104, drop_bad=0)

    def unsealed(slot):
        clear = rng.randbytes(40)
        return encap_beats(clear, rng, offset=8, ctx=slot), clear[:8], int(Code.NO_CONTEXT)

    frames = [senders.frame(0.0, s)[:3] for s in (0, 1, 2, 3)] + [unsealed(s) for s in (8, 9, 15)]
    await bench.run([(world.writes, installed, frames)], timeout=20000)
    assert await _ctx_state(bench, 9) == (0, 0)
    # context 1 has sent one frame: rewriting it at counter 0 is refused, so is its
    # identity in context 9; a clear of context 2 makes it refuse; the counter reads back
    c1 = senders.slots[1]
    ident = int.from_bytes(c1.ident, "big")
    back = [pack(CTXW, valid=1, index=1, group=c1.group, kind=c1.kind, ident=ident, epoch=c1.epoch,
                 k=int(c1.key_option), counter=0),
            pack(CTXW, valid=1, index=9, group=c1.group, kind=c1.kind, ident=ident, epoch=c1.epoch,
                 k=int(c1.key_option), counter=100),
            pack(CTXW, valid=0, index=2)]
    frames = [senders.frame(0.0, 1)[:3], unsealed(2), unsealed(9)]
    await bench.run([([], back, frames)], timeout=20000)
    assert await bench.stat("refused_ctx_writes") == 2
    assert await _ctx_state(bench, 1) == (1, senders.world.ep.counter(c1).next_value)
    assert await _ctx_state(bench, 2) == (0, 1)
    # a reinstall of context 2's identity at a counter below what it used is refused even
    # though the context is cleared; at the counter it reached it is accepted
    c2 = senders.slots[2]
    again = [pack(CTXW, valid=1, index=2, group=c2.group, kind=c2.kind, ident=int.from_bytes(c2.ident, "big"),
                  epoch=c2.epoch, k=int(c2.key_option), counter=c) for c in (0, 1)]
    await bench.run([([], again, [senders.frame(0.0, 2)[:3]])], timeout=20000)
    assert await bench.stat("refused_ctx_writes") == 3
    # defect 7: K = 0 outside the default group is UNKNOWN_GROUP, as in the model (spec
    # 4.3; before the fix the RTL sealed it); defect 5: a refused key-table write (a tag
    # already in another slot) is readable at status address 8
    k0 = SenderContext(0, 0, rng.randbytes(4), 7, key_option=False)
    assert DEFAULT != 0
    clear = rng.randbytes(40)
    try:
        world.ep.seal(clear, 8, k0)
        raise AssertionError("the model seals K = 0 outside the default group")
    except EespError as e:
        refused = (encap_beats(clear, rng, offset=8, ctx=10), clear[:8], int(e.code))
    k0_write = pack(CTXW, valid=1, index=10, group=0, kind=0, ident=int.from_bytes(k0.ident, "big"), epoch=7, k=0)
    dup_tag = dict(op=Op.WRITE_SLOT, group=0, ktype=0, slot=0, tag=world.shadow.slot_tags[0, 0][1], data=1)
    await bench.run([([dup_tag], [k0_write], [refused])], timeout=20000)
    assert refused[2] == Code.UNKNOWN_GROUP
    assert await bench.stat("refused_key_writes") == 1

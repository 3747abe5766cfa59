"""cocotb checks of hw.endpoint.Decap against the golden model.

Every frame is sealed by ``model.endpoint.Endpoint`` (random header offsets, both ID
kinds, with and without the Master Key Option, 16- and 32-octet Root Key IDs, random
IOffset / COffset, payloads 0..``DECAP_MAX`` octets), part of them damaged (header bits,
word-0 fields, cuts, ICV and ciphertext flips, unknown Root Key IDs and tags); the
expected output is what ``Endpoint.open`` returns, or its refusal code. Root keys rotate
between bursts while earlier frames are still in flight. Nothing expected is computed by
the code under test.

Environment: ``DECAP_N`` frames, ``DECAP_MAX`` largest payload, ``DECAP_RESULTS`` file
for the benchmark.
"""

from __future__ import annotations

import os
import random

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from hw.endpoint import STAT, InUser, OutUser
from hw.keytable import Op, write_layout
from hw.realign import beat
from model.endpoint import Endpoint, SenderContext
from model.errors import Code, EespError
from model.keytable import KeyType
from tb.keys import Shadow
from tb.sim import resolved
from tb.stream import Source, pack, start_bench, unpack

N = int(os.environ.get("DECAP_N", "100"))
MAX = int(os.environ.get("DECAP_MAX", "1500"))
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


def frame_beats(frame: bytes, offset: int, rng: random.Random) -> list[int]:
    chunks = [frame[k:k + 16] for k in range(0, len(frame), 16)] or [b""]
    return [pack(IN, data=int.from_bytes(c, "little"), keep=(1 << len(c)) - 1, last=int(n == len(chunks) - 1),
                 user=offset if n == 0 else rng.getrandbits(16))   # offset is read on the first beat only
            for n, c in enumerate(chunks)]


def write_payloads(writes: list[dict]) -> list[int]:
    return [pack(WR, **{k: (v.value if isinstance(v, Op) else v) for k, v in w.items()}) for w in writes]


class Bench:
    def __init__(self, dut):
        self.dut = dut

    async def start(self, *, idle: float, stall: float, seed: int, drop_bad: int):
        dut = self.dut
        dut.drop_bad.value = drop_bad
        dut.stat_addr.value = 0
        self.drop_bad = drop_bad
        self.src, self.sink, self.cycles = await start_bench(dut, idle, stall, seed, i="s", o="m")
        self.wr = Source(dut, "wr", dut.clk)
        self.rng = random.Random(seed + 5)
        return self

    def outputs(self) -> list[tuple[bytes, int, int]]:
        """The frames seen on ``m``: (octets, error, cycle of the last beat)."""
        frames, cur, err = [], b"", None
        for value, t in zip(self.sink.items, self.sink.times):
            b = unpack(OUT, value)
            k = bin(b["keep"]).count("1")
            assert b["keep"] == (1 << k) - 1, "keep not contiguous"
            assert err is None or b["user"] == err, "error code changed inside a frame"
            cur += b["data"].to_bytes(16, "little")[:k]
            err = b["user"]
            assert b["data"] >> (8 * k) == 0, "lanes beyond keep are not zero"
            if b["last"]:
                frames.append((cur, err, t))
                cur, err = b"", None
        return frames

    async def run(self, bursts: list[tuple[list[dict], list[tuple[bytes, int, bytes, int]]]], timeout: int):
        """Send each burst's management writes, then its frames; check every output frame."""
        first = len(self.outputs())
        want = []
        for writes, frames in bursts:
            if writes:
                await self.wr.send(write_payloads(writes))
            beats = []
            for frame, offset, out, code in frames:
                beats += frame_beats(frame, offset, self.rng)
                if code == 0 or not self.drop_bad:
                    want.append((out, code))
            await self.src.send(beats)
        seen, cursor = 0, 0
        while seen < first + len(want) and timeout > 0:
            items = self.sink.items
            seen += sum(unpack(OUT, v)["last"] for v in items[cursor:])
            cursor = len(items)
            await RisingEdge(self.dut.clk)
            timeout -= 1
        for _ in range(100):  # and nothing more
            await RisingEdge(self.dut.clk)
        got = self.outputs()[first:]
        assert len(got) == len(want), f"{len(got)} frames out, {len(want)} expected"
        for n, ((g, ge, _), (w, we)) in enumerate(zip(got, want)):
            assert (ge, g) == (we, w), f"frame {n}: got code {ge} {g.hex()}\n expected code {we} {w.hex()}"
        return got

    async def stat(self, name: str) -> int:
        self.dut.stat_addr.value = STAT[name]
        await RisingEdge(self.dut.clk)
        await ReadOnly()
        v = resolved(self.dut.stat_data)
        await RisingEdge(self.dut.clk)
        return v


def bursts_with_rotations(world: World, n: int, damage: float, per_burst: int = 25):
    bursts = [(world.writes, [])]
    while n > 0:
        k = min(per_burst, n)
        bursts.append((world.rotate() if len(bursts) > 1 else [], [world.frame(damage) for _ in range(k)]))
        n -= k
    return bursts


@cocotb.test()
async def random_frames_rotation_idle_backpressure_drop_bad(dut):
    world = World(random.Random(1))
    bursts = bursts_with_rotations(world, N, damage=0.15)
    frames = [f for _, fs in bursts for f in fs]
    codes = sorted({c for *_, c in frames})
    dut._log.info(f"{len(frames)} frames, {sum(c == 0 for *_, c in frames)} good, codes {codes}, "
                  f"{sum(len(f) for f, *_ in frames)} octets")
    bench = await Bench(dut).start(idle=0.2, stall=0.2, seed=2, drop_bad=1)
    await bench.run(bursts, timeout=400 * len(frames) + 2000)
    # the counters agree with the model's verdicts
    assert await bench.stat("frames_in") == len(frames)
    assert await bench.stat("octets_in") == sum(len(f) for f, *_ in frames)
    assert await bench.stat("frames_out") == sum(c == 0 for *_, c in frames)
    assert await bench.stat("octets_out") == sum(len(o) for _, _, o, c in frames if c == 0)
    for c in Code:
        if 1 <= c.value <= 11:
            assert await bench.stat(f"refused_{c.name.lower()}") == sum(code == c for *_, code in frames), c.name


@cocotb.test()
async def refused_frames_pass_as_outer_octets_with_their_code(dut):
    """drop_bad = 0: every malformed class of the model tests, and random damage."""
    from tests.test_model_eesp import OFFSET, _malformed

    world = World(random.Random(3))
    frames = []
    for name, code, frame, ep in _malformed():
        try:
            out, c = world.ep.open(frame, OFFSET).frame, 0
        except EespError as e:
            out, c = frame[:OFFSET], int(e.code)
        frames.append((frame, OFFSET, out, c))
    frames += [world.frame(damage=0.8) for _ in range(max(20, N // 4))]
    codes = {c for *_, c in frames}
    assert codes >= set(range(1, 12)), codes     # every receive code of spec 2.2
    bench = await Bench(dut).start(idle=0.1, stall=0.3, seed=4, drop_bad=0)
    await bench.run([(world.writes, frames)], timeout=400 * len(frames) + 2000)


@cocotb.test()
async def benchmark_back_to_back_frames(dut):
    """Cycles per frame, no idle, no backpressure, a new data key every frame (every
    frame has its own ID, so its own key); written to DECAP_RESULTS."""
    world = World(random.Random(5))
    bench = await Bench(dut).start(idle=0.0, stall=0.0, seed=6, drop_bad=1)
    await bench.wr.send(write_payloads(world.writes))
    lines = []
    rng = random.Random(7)
    for size in (64, 256, 512, 1500):
        k = 20
        frames = []
        for _ in range(k):
            ctx = SenderContext(0, 1, rng.randbytes(8), 1, 0, 0, key_option=True)
            f = world.ep.seal(bytes(14) + rng.randbytes(size), 14, ctx)
            frames.append((f, 14, world.ep.open(f, 14).frame, 0))
        got = await bench.run([([], frames)], timeout=100 * k * (size // 16 + 10))
        ends = [t for *_, t in got]
        per = (ends[-1] - ends[0]) / (k - 1)
        wire = len(frames[0][0])
        lines.append(f"decap_{size}B_payload frame_octets={wire} cycles_per_frame={per:.2f} "
                     f"in_octets_per_cycle={wire / per:.2f} payload_octets_per_cycle={size / per:.2f} "
                     f"beats_per_frame={-(-wire // 16)}")
        dut._log.info(lines[-1])
    with open(os.environ.get("DECAP_RESULTS", os.devnull), "w") as f:
        f.write("\n".join(lines) + "\n")

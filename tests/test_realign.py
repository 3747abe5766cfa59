"""hw.realign: Segmenter + Packer, and RegionPacker, in amaranth.sim against Python slicing.

Random frames arrive as beats of random sizes (Segmenter: full, partial anywhere, null
beats; RegionPacker: full but the last), with random region boundaries (empty regions
included), random idle cycles and random backpressure; the packed output must be each run
of same-class octets in 16-octet beats, partial only at a class change or the frame's end.
RegionPacker must also send one beat each cycle while its input never waits.
"""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Array, Module
from amaranth.sim import Simulator

from hw.realign import Packer, RegionPacker, Segmenter, TailFold

REGIONS = 4


def random_case(rng: random.Random, full: bool = False):
    """A frame, its boundaries and its beat sizes (``full``: every beat full but the last)."""
    n = rng.choice([0, 1, 15, 16, 17, rng.randrange(200)])
    frame = rng.randbytes(n)
    shared = rng.randrange(n + 1)   # a position two boundaries may share: an empty region inside a beat
    bounds = sorted(rng.choice([0, n, shared, rng.randrange(n + 1)]) for _ in range(REGIONS - 1))
    sizes, left = [], n
    while left:   # beat sizes: mostly full, some partial or null anywhere
        k = 16 if full else rng.choice([16, 16, 16, rng.randrange(17), 0])
        k = min(k, left)
        sizes.append(k)
        left -= k
    sizes += [0] * (not full and rng.choice([0, 0, 1]))
    if not sizes:
        sizes = [0]
    return frame, bounds, sizes


def expected(frame: bytes, bounds: list[int], cls_of) -> list[tuple[bytes, int, int]]:
    """(octets, cls, last) of each output beat."""
    edges = [0, *bounds, len(frame)]
    runs: list[list] = []
    for r in range(REGIONS):
        seg = frame[edges[r]:edges[r + 1]]
        if not seg:
            continue
        if runs and runs[-1][1] == cls_of(r):
            runs[-1][0] += seg
        else:
            runs.append([seg, cls_of(r)])
    out = []
    for seg, c in runs:
        out += [(seg[k:k + 16], c, 0) for k in range(0, len(seg), 16)]
    if not out:
        return [(b"", None, 1)]
    out[-1] = (out[-1][0], out[-1][1], 1)
    return out


def run(m, i, d, o, cases, rng, idle: float = 0.2, stall: float = 0.25, user: bool = True):
    """Feeds ``cases`` to stream ``i`` (beats, ``user``: user = frame number) and ``d`` (their
    boundaries); returns (octets, cls, last, user) of every beat taken from ``o`` and the
    cycles from the first beat in to the last beat out."""
    got: list[tuple[bytes, int, int, int]] = []
    cycles = [None, 0]

    async def descriptors(ctx):
        for _, bounds, _ in cases:
            ctx.set(d.valid, 1)
            ctx.set(d.payload, bounds)
            await ctx.tick().until(d.ready)
        ctx.set(d.valid, 0)

    async def source(ctx):
        for n, (frame, bounds, sizes) in enumerate(cases):
            at = 0
            for j, k in enumerate(sizes):
                while rng.random() < idle:
                    ctx.set(i.valid, 0)
                    await ctx.tick()
                ctx.set(i.valid, 1)
                ctx.set(i.payload, {"data": int.from_bytes(frame[at:at + k] + rng.randbytes(16 - k), "little"),
                                    "keep": (1 << k) - 1, "last": int(j == len(sizes) - 1),
                                    "user": n % 256 if user else 0})
                at += k
                await ctx.tick().until(i.ready)
            ctx.set(i.valid, 0)
        for _ in range(50):
            await ctx.tick()

    async def sink(ctx):
        stalls, cycle = random.Random(2), 0
        while True:
            ready = stalls.random() >= stall
            ctx.set(o.ready, ready)
            await ctx.delay(1e-9)
            if ready and ctx.get(o.valid):
                b = ctx.get(o.payload)
                k = bin(b.keep).count("1")
                assert b.keep == (1 << k) - 1
                assert b.data >> (8 * k) == 0, "lanes past keep not cleared"
                got.append((b.data.to_bytes(16, "little")[:k], b.cls, b.last, b.user))
                cycles[0] = cycle if cycles[0] is None else cycles[0]
                cycles[1] = cycle
            cycle += 1
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(descriptors)
    sim.add_testbench(sink, background=True)
    sim.run()
    return got, cycles[1] - cycles[0] + 1


def check(got, cases, cls_of, with_user: bool = True) -> None:
    want = []
    for n, (frame, bounds, _) in enumerate(cases):
        want += [(o, c, last, n % 256) for o, c, last in expected(frame, bounds, cls_of)]
    assert len(got) == len(want)
    for j, (g, w) in enumerate(zip(got, want)):
        assert g[0] == w[0] and g[2] == w[2] and (w[1] is None or g[1] == w[1]) \
            and (not w[2] or not with_user or g[3] == w[3]), f"beat {j}: got {g}, expected {w}"


@pytest.mark.parametrize("merge", [False, True], ids=["class=region", "regions 1,2 one class"])
def test_segment_and_pack_random_frames(merge: bool) -> None:
    rng = random.Random(5 + merge)
    cases = [random_case(rng) for _ in range(300)]
    cls_of = (lambda r: min(r, 1) if r < 3 else 3) if merge else (lambda r: r)
    m = Module()
    m.submodules.seg = seg = Segmenter(REGIONS, user_shape=8)
    m.submodules.pk = pk = Packer(user_shape=8, cls_bits=2)
    cls_map = [cls_of(r) for r in range(REGIONS)]
    m.d.comb += [
        pk.i.valid.eq(seg.o.valid), seg.o.ready.eq(pk.i.ready),
        pk.i.payload.data.eq(seg.o.payload.data), pk.i.payload.count.eq(seg.o.payload.count),
        pk.i.payload.last.eq(seg.o.payload.last), pk.i.payload.user.eq(seg.o.payload.user),
    ]
    m.d.comb += pk.i.payload.cls.eq(Array(cls_map)[seg.o.payload.cls])
    got, _ = run(m, seg.i, seg.d, pk.o, cases, rng)
    check(got, cases, cls_of)


def test_region_packer_random_frames() -> None:
    rng = random.Random(11)
    cases = [random_case(rng, full=True) for _ in range(400)]
    m = Module()
    m.submodules.rp = rp = RegionPacker(REGIONS)
    got, _ = run(m, rp.i, rp.d, rp.o, cases, rng, user=False)
    check(got, cases, lambda r: r, with_user=False)


def test_region_packer_one_beat_a_cycle() -> None:
    """No idle, no backpressure: the frames leave in exactly as many cycles as beats."""
    rng = random.Random(12)
    cases = [random_case(rng, full=True) for _ in range(200)]
    m = Module()
    m.submodules.rp = rp = RegionPacker(REGIONS)
    got, cycles = run(m, rp.i, rp.d, rp.o, cases, rng, idle=0, stall=0, user=False)
    check(got, cases, lambda r: r, with_user=False)
    assert cycles == len(got)


def test_tail_fold() -> None:
    """Null last beats after a beat of their frame vanish, that beat ends the frame;
    an empty frame's null beat and every other beat pass unchanged, in order."""
    rng = random.Random(13)
    frames = [rng.randbytes(rng.choice([0, 16, 32, rng.randrange(100)])) for _ in range(300)]
    beats, want = [], []
    for frame in frames:
        sizes = [min(16, len(frame) - k) for k in range(0, len(frame), 16)]
        null = not sizes or rng.random() < 0.5     # add a null last beat
        chunks = [frame[k:k + 16] for k in range(0, len(frame), 16)] + [b""] * null
        beats += [(c, int(j == len(chunks) - 1)) for j, c in enumerate(chunks)]
        kept = chunks[:-1] if null and sizes else chunks
        want += [(c, int(j == len(kept) - 1)) for j, c in enumerate(kept)]
    m = Module()
    m.submodules.tf = tf = TailFold()
    got = []

    async def source(ctx):
        for c, last in beats:
            while rng.random() < 0.2:
                ctx.set(tf.i.valid, 0)
                await ctx.tick()
            ctx.set(tf.i.valid, 1)
            ctx.set(tf.i.payload, {"data": int.from_bytes(c, "little"), "keep": (1 << len(c)) - 1, "last": last})
            await ctx.tick().until(tf.i.ready)
        ctx.set(tf.i.valid, 0)
        for _ in range(20):
            await ctx.tick()

    async def sink(ctx):
        stalls = random.Random(3)
        while True:
            ready = stalls.random() < 0.75
            ctx.set(tf.o.ready, ready)
            await ctx.delay(1e-9)
            if ready and ctx.get(tf.o.valid):
                b = ctx.get(tf.o.payload)
                k = bin(b.keep).count("1")
                got.append((b.data.to_bytes(16, "little")[:k], b.last))
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink, background=True)
    sim.run()
    assert got == want

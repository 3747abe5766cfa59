"""hw.realign: Segmenter + Packer in amaranth.sim against Python slicing.

Random frames arrive as beats of random sizes (full, partial anywhere, null beats), with
random region boundaries (empty regions included), random idle cycles and random
backpressure; the packed output must be each run of same-class octets in 16-octet beats,
partial only at a class change or the frame's end.
"""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Array, Module
from amaranth.sim import Simulator

from hw.realign import Packer, Segmenter

REGIONS = 4


def random_case(rng: random.Random):
    n = rng.choice([0, 1, 15, 16, 17, rng.randrange(200)])
    frame = rng.randbytes(n)
    bounds = sorted(rng.choice([0, n, rng.randrange(n + 1)]) for _ in range(REGIONS - 1))
    sizes, left = [], n
    while left:   # beat sizes: mostly full, some partial or null anywhere
        k = rng.choice([16, 16, 16, rng.randrange(17), 0])
        k = min(k, left)
        sizes.append(k)
        left -= k
    sizes += [0] * rng.choice([0, 0, 1])
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
    got: list[tuple[bytes, int, int, int]] = []

    async def source(ctx):
        for n, (frame, bounds, sizes) in enumerate(cases):
            ctx.set(seg.d.valid, 1)
            ctx.set(seg.d.payload, bounds)
            at = 0
            for j, k in enumerate(sizes):
                while rng.random() < 0.2:
                    ctx.set(seg.i.valid, 0)
                    await ctx.tick()
                ctx.set(seg.i.valid, 1)
                ctx.set(seg.i.payload, {"data": int.from_bytes(frame[at:at + k] + rng.randbytes(16 - k), "little"),
                                        "keep": (1 << k) - 1, "last": int(j == len(sizes) - 1), "user": n % 256})
                at += k
                await ctx.tick().until(seg.i.ready)
            ctx.set(seg.i.valid, 0)
            ctx.set(seg.d.valid, 0)  # taken with the frame's last piece, in the last beat's cycle
        for _ in range(50):
            await ctx.tick()

    async def sink(ctx):
        stall = random.Random(2)
        while True:
            ready = stall.random() < 0.75
            ctx.set(pk.o.ready, ready)
            await ctx.delay(1e-9)
            if ready and ctx.get(pk.o.valid):
                b = ctx.get(pk.o.payload)
                k = bin(b.keep).count("1")
                assert b.keep == (1 << k) - 1
                got.append((b.data.to_bytes(16, "little")[:k], b.cls, b.last, b.user))
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink, background=True)
    sim.run()
    want = []
    for n, (frame, bounds, _) in enumerate(cases):
        want += [(o, c, last, n % 256) for o, c, last in expected(frame, bounds, cls_of)]
    assert len(got) == len(want)
    for j, (g, w) in enumerate(zip(got, want)):
        assert g[0] == w[0] and g[2] == w[2] and (w[1] is None or g[1] == w[1]) and (not w[2] or g[3] == w[3]), \
            f"beat {j}: got {g}, expected {w}"

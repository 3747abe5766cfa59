"""hw.parser (header capture at any offset + rules 1-10) against the golden model's
``model.header.parse``, in amaranth.sim.

Frames: sealed by the model with random contexts (both ID kinds, with and without the
Master Key Option, 16- and 32-octet Root Key IDs, random O, IOffset, COffset, payload
length), then most of them damaged: a random bit of the header flipped, a word-0 field
rewritten, or the frame cut. The expected code and fields are the model's.
"""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from hw.parser import HeaderCapture, HeaderCheck
from model.endpoint import Endpoint, SenderContext
from model.errors import Code, EespError
from model.header import parse
from model.keytable import KeyTable, KeyType


def _endpoint(rng: random.Random, rkid_len: int) -> Endpoint:
    kt = KeyTable()
    kt.add_group(0, rng.randbytes(rkid_len))
    for t in KeyType:
        kt.provision(0, t, rng.randbytes(32), rng.randbytes(32), rng.randbytes(32), rng.randrange(4))
    kt.default_group = 0
    return Endpoint(kt)


def random_frame(rng: random.Random) -> tuple[bytes, int]:
    """A sealed frame and its header offset, then (mostly) damaged."""
    ep = _endpoint(rng, rng.choice([16, 32]))
    kind = rng.randrange(2)
    ioffset = rng.choice([0, 0, 1, rng.randrange(8)])
    offset = 4 * ioffset + rng.randrange(40)
    payload = rng.randbytes(rng.choice([0, 3, 16, rng.randrange(100)]))
    coffset = rng.randrange(len(payload) // 4 + 1) if rng.random() < 0.5 else 0
    ctx = SenderContext(0, kind, rng.randbytes(4 << kind), rng.randrange(1 << 16), coffset, ioffset,
                        key_option=rng.random() < 0.7)
    ep.counter(ctx)._next = rng.randrange(1 << 48)
    frame = bytearray(ep.seal(rng.randbytes(offset) + payload, offset, ctx))
    hl = frame[offset] & 0xF
    damage = rng.choice(["none", "flip", "flip", "word0", "cut", "cut"])
    if damage == "flip":
        bit = rng.randrange(8 * 4 * hl)
        frame[offset + bit // 8] ^= 1 << (bit % 8)
    elif damage == "word0":
        frame[offset + rng.randrange(4)] = rng.randrange(256)
    elif damage == "cut":
        frame = frame[: rng.randrange(offset, len(frame) + 1)]
    return bytes(frame), offset


def expected(frame: bytes, offset: int) -> dict[str, int]:
    try:
        h = parse(frame, offset)
    except EespError as e:
        assert e.code in (Code.TRUNCATED, Code.BAD_VERSION, Code.BAD_ID_KIND, Code.BAD_RESERVED,
                          Code.BAD_OPTION, Code.BAD_HL, Code.BAD_IOFFSET, Code.BAD_COFFSET)
        return {"code": int(e.code)}
    opt = h.option
    zone, user, task = opt.tags if opt else (0, 0, 0)
    return {
        "code": 0, "kind": h.kind, "ident": int.from_bytes(h.ident, "big"), "k": int(opt is not None),
        "rkid_long": int(opt is not None and len(opt.root_key_id) == 32),
        "rkid": int.from_bytes(opt.root_key_id, "big") if opt else 0,
        "tags": zone << 4 | user << 2 | task, "epoch": h.epoch, "counter": h.counter,
        "hl": h.hl, "coffset": h.coffset, "ioffset": h.ioffset,
    }


def beats(frame: bytes) -> list[tuple[int, int, int]]:
    """(data, keep, last) beats in lane order; an empty frame is one null beat."""
    chunks = [frame[k:k + 16] for k in range(0, len(frame), 16)] or [b""]
    return [(int.from_bytes(c, "little"), (1 << len(c)) - 1, int(n == len(chunks) - 1)) for n, c in enumerate(chunks)]


def run_frames(frames: list[tuple[bytes, int]], gap_rng: random.Random) -> list[dict[str, int]]:
    m = Module()
    m.submodules.cap = cap = HeaderCapture()
    m.submodules.chk = chk = HeaderCheck()
    m.d.comb += [chk.hdr.eq(cap.hdr), chk.length.eq(cap.length), chk.offset.eq(cap.at)]
    got: list[dict[str, int]] = []
    fields = [name for name, _ in chk.parsed.shape()]

    async def bench(ctx):
        for frame, offset in frames:
            for n, (d, k, last) in enumerate(beats(frame)):
                while gap_rng.random() < 0.2:  # idle cycles between beats change nothing
                    ctx.set(cap.fire, 0)
                    ctx.set(cap.data, gap_rng.getrandbits(128))
                    ctx.set(cap.offset, gap_rng.getrandbits(16))
                    await ctx.tick()
                ctx.set(cap.fire, 1)
                ctx.set(cap.data, d)
                ctx.set(cap.keep, k)
                ctx.set(cap.last, last)
                ctx.set(cap.offset, offset if n == 0 else gap_rng.getrandbits(16))  # sampled on the first beat only
                await ctx.tick()
            ctx.set(cap.fire, 0)
            assert ctx.get(cap.done) == 1  # for the cycle after the last beat
            await ctx.tick()  # hdr, length and at hold until the next frame
            assert ctx.get(cap.done) == 0
            assert ctx.get(cap.length) == len(frame)
            p = chk.parsed
            got.append({f: ctx.get(getattr(p, f)) for f in fields})

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got


def _check(frames, got):
    for n, ((frame, offset), g) in enumerate(zip(frames, got)):
        exp = expected(frame, offset)
        view = {k: g[k] for k in exp}
        assert view == exp, f"frame {n}: O={offset} N={len(frame)} {frame.hex()}\n got {view}\n exp {exp}"


def test_random_frames_against_model() -> None:
    rng = random.Random(7)
    frames = [random_frame(rng) for _ in range(400)]
    codes = {expected(f, o)["code"] for f, o in frames}
    # the damage must reach every code of rules 1-10 (else the test would prove less than it says)
    assert codes >= {0, *[int(c) for c in (Code.TRUNCATED, Code.BAD_VERSION, Code.BAD_ID_KIND, Code.BAD_RESERVED,
                                           Code.BAD_OPTION, Code.BAD_HL, Code.BAD_IOFFSET, Code.BAD_COFFSET)]}, codes
    _check(frames, run_frames(frames, random.Random(8)))


@pytest.mark.parametrize("offset", range(0, 33))
def test_every_offset_mod_16(offset: int) -> None:
    """A valid ConnectionID frame with a 32-octet Root Key ID (the longest header) at each
    O from 0 to 32, and the same frame cut one octet short of its ICV."""
    rng = random.Random(offset)
    ep = _endpoint(rng, 32)
    ctx = SenderContext(0, 1, rng.randbytes(8), 7, 0, offset // 8)
    frame = ep.seal(rng.randbytes(offset) + rng.randbytes(20), offset, ctx)
    frames = [(frame, offset), (frame[:-21], offset)]
    got = run_frames(frames, random.Random(0))
    assert got[0]["code"] == 0 and got[1]["code"] == Code.TRUNCATED
    _check(frames, got)


def test_malformed_classes_of_the_model_tests() -> None:
    """Each hand-made malformed class of tests/test_model_eesp.py (one rule broken at a
    time, and two at once), back to back; classes of rules 11-13 parse as valid."""
    from tb.malformed import OFFSET, malformed_frames

    frames = [(frame, OFFSET) for _, _, frame, _ in malformed_frames()]
    _check(frames, run_frames(frames, random.Random(1)))

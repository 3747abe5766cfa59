"""The demo's two simulation stages (run by ``python -m tb.demo``): frames of mixed sizes
sealed by the encap RTL, then opened by the decap RTL, each output compared with the
golden model; figures written to ``DEMO_DIR/<stage>.json``.

Environment: ``DEMO_STAGE`` (encap / decap), ``DEMO_DIR``, ``DEMO_FRAMES``, ``DEMO_SEED``.
"""

from __future__ import annotations

import json
import os
import pathlib
import random

import cocotb

from tb.endpoint_tb import CONTEXTS, Bench, Senders, World, frame_beats

STAGE = os.environ.get("DEMO_STAGE", "encap")
DIR = pathlib.Path(os.environ.get("DEMO_DIR", "results/demo"))
FRAMES = int(os.environ.get("DEMO_FRAMES", "200"))
SEED = int(os.environ.get("DEMO_SEED", "2026"))
SIZES = (0, 46, 64, 128, 256, 512, 576, 1024, 1400, 1500)


def _summary(got, want, frames_in: list[bytes], first_in: int) -> dict:
    mismatches = sum(1 for (g, ge, _), (w, we) in zip(got, want) if (g, ge) != (w, we)) + abs(len(got) - len(want))
    last = max((t for *_, t in got), default=first_in)
    return {"frames": len(frames_in), "octets_in": sum(map(len, frames_in)),
            "octets_out": sum(len(g) for g, *_ in got), "cycles": last - first_in + 1,
            "mismatches": mismatches}


@cocotb.test(skip=STAGE != "encap")
async def encap_stage(dut):
    world = World(random.Random(SEED))
    rng = random.Random(SEED + 1)
    senders = Senders(world, rng)
    bench = await Bench(dut).start(idle=0.0, stall=0.0, seed=SEED, drop_bad=1)
    frames, clear = [], []
    for n in range(FRAMES):
        size = SIZES[n % len(SIZES)]
        beats, out, code, frame_in, offset = senders.frame(0.0, slot=n % CONTEXTS, payload_len=size)
        frames.append((beats, out, code))
        clear.append({"clear": frame_in.hex(), "offset": offset})
    got, want = await bench.run([(world.writes, senders.writes, frames)], timeout=200 * FRAMES * 100, check=False)
    first_in = bench.src.times[0] if bench.src.times else 0
    for entry, (g, _, _) in zip(clear, got):
        entry["sealed"] = g.hex()
    summary = _summary(got, want, [bytes.fromhex(c["clear"]) for c in clear], first_in)
    DIR.mkdir(parents=True, exist_ok=True)
    (DIR / "encap.json").write_text(json.dumps({"summary": summary, "frames": clear}))
    assert summary["mismatches"] == 0, summary


@cocotb.test(skip=STAGE != "decap")
async def decap_stage(dut):
    world = World(random.Random(SEED))     # the same key table as the encap stage
    sealed = json.loads((DIR / "encap.json").read_text())["frames"]
    rng = random.Random(SEED + 2)
    frames, frames_in = [], []
    for entry in sealed:
        f, o = bytes.fromhex(entry["sealed"]), entry["offset"]
        opened = world.ep.open(f, o).frame          # the model's verdict ...
        assert opened == bytes.fromhex(entry["clear"]), "model: the round trip changed a frame"  # ... and the original
        frames.append((frame_beats(f, o, rng), opened, 0))
        frames_in.append(f)
    bench = await Bench(dut).start(idle=0.0, stall=0.0, seed=SEED, drop_bad=1)
    got, want = await bench.run([(world.writes, [], frames)], timeout=200 * len(frames) * 100, check=False)
    summary = _summary(got, want, frames_in, bench.src.times[0] if bench.src.times else 0)
    (DIR / "decap.json").write_text(json.dumps({"summary": summary}))
    assert summary["mismatches"] == 0, summary

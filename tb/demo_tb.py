"""The demo's three simulation stages (run by ``python -m tb.demo``): frames of mixed
sizes sealed for domain A by the encap RTL, re-encrypted for domain B by the proxy RTL,
opened by the decap RTL in B; each stage's output compared with the golden model (the
last one also with the original clear frames); figures written to
``DEMO_DIR/<stage>.json``.

The frames go in bursts; before every other burst a root key of A rotates, before the
others one of B, in every stage that holds that domain's key table (the management
writes reach the RTL between bursts, once the earlier frames are out, so every stage
sees the same keys for the same frame as the model does).

Environment: ``DEMO_STAGE`` (encap / proxy / decap), ``DEMO_DIR``, ``DEMO_FRAMES``,
``DEMO_SEED``.
"""

from __future__ import annotations

import json
import os
import pathlib
import random

import cocotb

from tb.endpoint_tb import CONTEXTS, Bench, Senders, World, frame_beats, write_payloads
from tb.proxy_tb import Domains, ProxyBench

STAGE = os.environ.get("DEMO_STAGE", "encap")
DIR = pathlib.Path(os.environ.get("DEMO_DIR", "results/demo"))
FRAMES = int(os.environ.get("DEMO_FRAMES", "200"))
SEED = int(os.environ.get("DEMO_SEED", "2026"))
SIZES = (0, 46, 64, 128, 256, 512, 576, 1024, 1400, 1500)
BURST = 25


class Plan:
    """Both domains' key tables, the proxy's contexts in B and its mapping (every group
    of A mapped), and the rotation schedule: the same in every stage (from DEMO_SEED)."""

    def __init__(self):
        self.domains = Domains(World(random.Random(SEED)), World(random.Random(SEED + 100)),
                               random.Random(SEED + 200), unmapped=None)
        self.a, self.b = self.domains.a, self.domains.b
        self.bursts = -(-FRAMES // BURST)

    def rotation(self, burst: int) -> tuple[str, list[dict]]:
        """The rotation before ``burst`` (after the first): ("a" | "b", its writes), which
        also rotates the model table. Call in burst order."""
        return ("a", self.a.rotate()) if burst % 2 else ("b", self.b.rotate())


def _summary(got, want, frames_in: list[bytes], first_in: int) -> dict:
    mismatches = sum(1 for (g, ge, _), (w, we) in zip(got, want) if (g, ge) != (w, we)) + abs(len(got) - len(want))
    last = max((t for *_, t in got), default=first_in)
    return {"frames": len(frames_in), "octets_in": sum(map(len, frames_in)),
            "octets_out": sum(len(g) for g, *_ in got), "cycles": last - first_in + 1,
            "mismatches": mismatches}


def _save(stage: str, summary: dict, frames: list | None = None) -> None:
    DIR.mkdir(parents=True, exist_ok=True)
    (DIR / f"{stage}.json").write_text(json.dumps({"summary": summary, "frames": frames or []}))
    assert summary["mismatches"] == 0, summary


def _load(stage: str) -> list[dict]:
    return json.loads((DIR / f"{stage}.json").read_text())["frames"]


@cocotb.test(skip=STAGE != "encap")
async def encap_stage(dut):
    """Domain A's endpoint seals clear frames (its sender contexts)."""
    plan = Plan()
    senders = Senders(plan.a, random.Random(SEED + 1))
    bursts, log, n = [], [], 0
    for b in range(plan.bursts):
        domain, writes = plan.rotation(b) if b else ("a", plan.a.writes)
        frames = []
        for _ in range(min(BURST, FRAMES - n)):
            beats, out, code, frame_in, offset = senders.frame(0.0, slot=n % CONTEXTS,
                                                               payload_len=SIZES[n % len(SIZES)])
            frames.append((beats, out, code))
            log.append({"clear": frame_in.hex(), "offset": offset, "burst": b})
            n += 1
        bursts.append((writes if domain == "a" else [], senders.writes if b == 0 else [], frames))
    bench = await Bench(dut).start(idle=0.0, stall=0.0, seed=SEED, drop_bad=1)
    got, want = await bench.run(bursts, timeout=200 * FRAMES * 100, quiesce=True, check=False)
    for entry, (g, _, _) in zip(log, got):
        entry["sealed"] = g.hex()
    _save("encap", _summary(got, want, [bytes.fromhex(e["clear"]) for e in log], bench.src.times[0]), log)


@cocotb.test(skip=STAGE != "proxy")
async def proxy_stage(dut):
    """The proxy opens A's frames with A's keys and seals them for B."""
    plan = Plan()
    model = plan.domains.model
    log = _load("encap")
    rng = random.Random(SEED + 3)
    bursts = []
    for b in range(plan.bursts):
        domain, writes = plan.rotation(b) if b else ("", [])
        frames = []
        for entry in (e for e in log if e["burst"] == b):
            f, o = bytes.fromhex(entry["sealed"]), entry["offset"]
            entry["b_frame"] = model.reencrypt(f, o).hex()
            frames.append((frame_beats(f, o, rng), bytes.fromhex(entry["b_frame"]), 0))
        setup = plan.domains.writes if b == 0 else [(f"wr_{domain}", w) for w in write_payloads(writes)]
        bursts.append((setup, [], frames))
    bench = await ProxyBench(dut).start(idle=0.0, stall=0.0, seed=SEED, drop_bad=1)
    got, want = await bench.run(bursts, timeout=200 * FRAMES * 100, quiesce=True, check=False)
    _save("proxy", _summary(got, want, [bytes.fromhex(e["sealed"]) for e in log], bench.src.times[0]), log)


@cocotb.test(skip=STAGE != "decap")
async def decap_stage(dut):
    """Domain B's endpoint opens the proxy's frames: the original clear frames again."""
    plan = Plan()
    log = _load("proxy")
    rng = random.Random(SEED + 2)
    bursts = []
    for b in range(plan.bursts):
        domain, writes = plan.rotation(b) if b else ("b", plan.b.writes)
        frames = []
        for entry in (e for e in log if e["burst"] == b):
            f, o = bytes.fromhex(entry["b_frame"]), entry["offset"]
            opened = plan.b.ep.open(f, o).frame        # the model's verdict ...
            assert opened == bytes.fromhex(entry["clear"]), "model: A -> proxy -> B changed a frame"  # ... = original
            frames.append((frame_beats(f, o, rng), opened, 0))
        bursts.append((writes if domain == "b" else [], [], frames))
    bench = await Bench(dut).start(idle=0.0, stall=0.0, seed=SEED, drop_bad=1)
    got, want = await bench.run(bursts, timeout=200 * FRAMES * 100, quiesce=True, check=False)
    _save("decap", _summary(got, want, [bytes.fromhex(e["b_frame"]) for e in log], bench.src.times[0]))

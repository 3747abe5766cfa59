"""The demo's simulation stages (run by ``python -m tb.demo``): frames of mixed sizes
sealed for domain A by the encap RTL, re-encrypted for domain B by the proxy RTL, opened
by the decap RTL in B; and the same A frames re-encrypted for a PSP domain by the
EESP -> PSP proxy RTL and opened by the PSP decap RTL. Each stage's output is compared
with the golden model (the last one of each chain also with the original clear frames);
figures written to ``DEMO_DIR/<stage>.json``.

The frames go in bursts; before every other burst a root key of A rotates, before the
others one of B, in every stage that holds that domain's key table (the management
writes reach the RTL between bursts, once the earlier frames are out, so every stage
sees the same keys for the same frame as the model does).

Environment: ``DEMO_STAGE`` (encap / proxy / decap / e2p / pspdecap), ``DEMO_DIR``, ``DEMO_FRAMES``,
``DEMO_SEED``.
"""

from __future__ import annotations

import json
import os
import pathlib
import random

import cocotb

from hw.datapath import NextHeaderUser
from hw.proxy import eesp_psp_map_layout
from hw.realign import beat
from model.errors import EespError
from model.proxy import EespToPsp, PspTarget
from model.psp import PspKeys, psp_open
from tb.endpoint_tb import CONTEXTS, GROUPS, Bench, Senders, World, frame_beats, write_payloads
from tb.proxy_tb import Domains, ProxyBench
from tb.psp_tb import mk_write, random_sender, sa_write
from tb.stream import pack

STAGE = os.environ.get("DEMO_STAGE", "encap")
DIR = pathlib.Path(os.environ.get("DEMO_DIR", "results/demo"))
FRAMES = int(os.environ.get("DEMO_FRAMES", "200"))
SEED = int(os.environ.get("DEMO_SEED", "2026"))
SIZES = (0, 46, 64, 128, 256, 512, 576, 1024, 1400, 1500)
BURST = 25


#: PSP SAs of the EESP -> PSP proxy (as tests/test_profile_proxy.py builds it)
PSP_SAS = 4


class Plan:
    """Both domains' key tables, the proxy's contexts in B and its mapping (every group
    of A mapped), the PSP domain (its master keys, the EESP -> PSP proxy's SAs and
    mapping, every group of A mapped), and the rotation schedule: the same in every stage
    (from DEMO_SEED)."""

    def __init__(self):
        self.domains = Domains(World(random.Random(SEED)), World(random.Random(SEED + 100)),
                               random.Random(SEED + 200), unmapped=None)
        self.a, self.b = self.domains.a, self.domains.b
        self.bursts = -(-FRAMES // BURST)
        rng = random.Random(SEED + 300)
        self.psp_keys = PspKeys([rng.randbytes(32), rng.randbytes(32)])
        self.to_psp = EespToPsp(self.a.shadow.model, self.psp_keys)
        sas = [random_sender(rng, k % 2) for k in range(PSP_SAS)]
        self.psp_writes = [("mkwr", mk_write(p, k)) for p, k in enumerate(self.psp_keys.keys)]
        self.psp_writes += [("sawr", sa_write(k, sa)) for k, sa in enumerate(sas)]
        layout = eesp_psp_map_layout(GROUPS, PSP_SAS)
        for g in range(GROUPS):
            self.to_psp.mapping[g] = PspTarget(sas[g % PSP_SAS], 4)     # Next Header: IPv4 inside
            self.psp_writes.append(("mapwr", pack(layout, group=g, valid=1, sa=g % PSP_SAS, next_header=4)))

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


@cocotb.test(skip=STAGE != "e2p")
async def e2p_stage(dut):
    """The EESP -> PSP proxy opens A's frames with A's keys and seals them with PSP SAs."""
    plan = Plan()
    log = _load("encap")
    rng = random.Random(SEED + 4)
    bursts = []
    for b in range(plan.bursts):
        domain, writes = plan.rotation(b) if b else ("", [])
        frames = []
        for entry in (e for e in log if e["burst"] == b):
            f, o = bytes.fromhex(entry["sealed"]), entry["offset"]
            try:
                out, code = plan.to_psp.reencrypt(f, o), 0
                entry["psp_frame"] = out.hex()
            except EespError as e:  # a COffset PSP cannot express (crypt offset > 63): dropped
                out, code = f[:o], int(e.code)
                entry["refused"] = e.code.name
            frames.append((frame_beats(f, o, rng), out, code))
        setup = [("wr", w) for w in write_payloads(plan.a.writes)] + plan.psp_writes if b == 0 else \
            [("wr", w) for w in write_payloads(writes)] if domain == "a" else []
        bursts.append((setup, [], frames))
    bench = await ProxyBench(dut).start(idle=0.0, stall=0.0, seed=SEED, drop_bad=1)
    got, want = await bench.run(bursts, timeout=200 * FRAMES * 100, quiesce=True, check=False)
    summary = _summary(got, want, [bytes.fromhex(e["sealed"]) for e in log], bench.src.times[0])
    summary["refused"] = sum("refused" in e for e in log)
    _save("e2p", summary, log)


class PspDecapBench(Bench):
    out_layout = beat(NextHeaderUser)

    def kept(self, code: int) -> bool:  # ``code``: the whole user (error in bits 4..0, Next Header)
        return (code & 31) == 0 or not self.drop_bad

    async def send_writes(self, writes) -> None:
        await self.ports["mkwr"].send(writes)


@cocotb.test(skip=STAGE != "pspdecap")
async def pspdecap_stage(dut):
    """The PSP domain's decap opens the EESP -> PSP proxy's frames: the original clear
    frames again, Next Header 4."""
    plan = Plan()
    log = [e for e in _load("e2p") if "psp_frame" in e]
    rng = random.Random(SEED + 5)
    frames = []
    for entry in log:
        f, o = bytes.fromhex(entry["psp_frame"]), entry["offset"]
        opened, nh = psp_open(plan.psp_keys, f, o)      # the model's verdict ...
        assert opened == bytes.fromhex(entry["clear"]) and nh == 4, "model: A -> PSP changed a frame"
        frames.append((frame_beats(f, o, rng), opened, pack(NextHeaderUser, error=0, next_header=nh)))
    bench = await PspDecapBench(dut).start(idle=0.0, stall=0.0, seed=SEED, drop_bad=1)
    writes = [w for port, w in plan.psp_writes if port == "mkwr"]
    got, want = await bench.run([(writes, [], frames)], timeout=200 * FRAMES * 100, check=False)
    _save("pspdecap", _summary(got, want, [bytes.fromhex(e["psp_frame"]) for e in log], bench.src.times[0]))

"""``python -m tb.demo``, the README's ``make demo``: the whole story on a built-in
default. Frames of mixed sizes (0 to 1500 octets of payload, random header offsets,
both ID kinds, with and without the Master Key Option) are sealed for domain A by the
encap RTL, re-encrypted for domain B by the proxy RTL, and opened by the decap RTL in B,
with root-key rotations in A and in B between bursts of frames. The same A frames also
take the hop into a PSP domain: re-encrypted by the EESP -> PSP proxy RTL (spec 8.1)
and opened by the PSP decap RTL. Every stage's output is compared with the golden model
(and the last stage's of each chain with the original clear frames). Prints frames,
octets, cycles, octets/cycle and mismatches of each stage.

Options: ``--sim icarus`` (default verilator), ``--frames N`` (default 200), ``--seed S``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from hw.endpoint import Decap, Encap
from hw.proxy import EespToPsp, Proxy
from hw.psp import PspDecap
from tb.sim import ROOT, SIMULATORS, run


@contextlib.contextmanager
def _output_to(path):
    """Everything written to file descriptors 1 and 2 (this process's and the build's and
    simulator's subprocesses') goes to ``path`` meanwhile."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "w") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tb.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--sim", choices=SIMULATORS, default="verilator")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    if args.frames < 1:
        ap.error("--frames must be at least 1")
    out = ROOT / "results" / "demo"
    env = {"DEMO_DIR": str(out), "DEMO_FRAMES": str(args.frames), "DEMO_SEED": str(args.seed),
           "ENDPOINT_TOP": "none"}
    print(f"demo: {args.frames} frames: encap (A) -> proxy (A to B) -> decap (B), and encap (A) -> "
          f"e2p (EESP A to PSP) -> pspdecap (PSP), RTL under {args.sim} (the first run builds the five "
          f"simulations: a few minutes)")
    stages = (("encap", Encap()), ("proxy", Proxy()), ("decap", Decap()),
              ("e2p", EespToPsp(sas=4)), ("pspdecap", PspDecap()))
    failed = False
    for stage, _ in stages:     # no stage may read an earlier run's output
        (out / f"{stage}.json").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    for stage, top in stages:
        log = out / f"{stage}.log"
        print(f"demo: {stage} stage (simulator output in {log.relative_to(ROOT)})", flush=True)
        try:
            with _output_to(log):
                run(top, name=stage, test_module="tb.demo_tb", simulator=args.sim,
                    extra_env={**env, "DEMO_STAGE": stage})
        except AssertionError as e:
            print(f"demo: {stage} stage failed: {e} (see {log})")
            failed = True
    print(f"{'stage':8} {'frames':>7} {'octets in':>10} {'octets out':>11} {'cycles':>8} {'octets/cycle in':>16} "
          f"{'mismatches':>11}")
    for stage, _ in stages:
        path = out / f"{stage}.json"
        if not path.exists():
            print(f"{stage:8} (no result)")
            failed = True
            continue
        s = json.loads(path.read_text())["summary"]
        print(f"{stage:8} {s['frames']:7} {s['octets_in']:10} {s['octets_out']:11} {s['cycles']:8} "
              f"{s['octets_in'] / s['cycles']:16.2f} {s['mismatches']:11}"
              + (f"   ({s['refused']} refused with PSP_BAD_OFFSET, as the model says: COffset + VC "
                 f"words above PSP's 63)" if s.get("refused") else ""))
        failed |= s["mismatches"] != 0
    print("demo: every frame matched the golden model" if not failed else "demo: FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

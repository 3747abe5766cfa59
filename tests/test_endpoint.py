"""hw.endpoint Decap and Encap under both simulators (cocotb testbench tb/endpoint_tb.py);
the benchmarks go to results/<top>_<simulator>.txt."""

import os

import pytest

from tb.designs import TOPS
from tb.sim import ROOT, SIMULATORS, run

#: random frames per run, and their largest payload: Verilator 0..1500 octets; Icarus
#: (some 40x slower a cycle) 0..400; every check of the bench under both (long random
#: runs: ``make regress``; 1000 under Verilator since issue 15's register slices, the
#: suite's budget)
COUNTS = {"icarus": 200, "verilator": 1000}
MAX_PAYLOAD = {"icarus": 400, "verilator": 1500}


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("top", ["decap", "encap"])
def test_endpoint(top: str, simulator: str) -> None:
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    run(TOPS[top](), name=top, test_module="tb.endpoint_tb", simulator=simulator,
        extra_env={"ENDPOINT_TOP": top, "ENDPOINT_N": os.environ.get("ENDPOINT_N", str(COUNTS[simulator])),
                   "ENDPOINT_MAX": str(MAX_PAYLOAD[simulator]),
                   "ENDPOINT_RESULTS": str(results / f"{top}_{simulator}.txt")})

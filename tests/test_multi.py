"""hw.multi.MultiDecap and MultiEncap (EESP and PSP, the profile chosen per frame) under both
simulators (cocotb testbench tb/multi_tb.py) against the golden model; the benchmarks go
to results/multi<top>_<simulator>.txt."""

import os

import pytest

from tb.designs import TOPS
from tb.sim import ROOT, SIMULATORS, run

#: random frames per run, and their largest payload (Icarus: some 40x slower a cycle, the
#: same checks on fewer and shorter frames)
COUNTS = {("decap", "icarus"): 60, ("decap", "verilator"): 600, ("encap", "icarus"): 60,
          ("encap", "verilator"): 400}
MAX_PAYLOAD = {"icarus": 400, "verilator": 1500}


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("top", ["decap", "encap"])
def test_multi(top: str, simulator: str) -> None:
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    run(TOPS[f"multi{top}"](), name=f"multi{top}", test_module="tb.multi_tb", simulator=simulator,
        extra_env={"MULTI_TOP": top, "MULTI_N": os.environ.get("MULTI_N", str(COUNTS[top, simulator])),
                   "ENDPOINT_MAX": str(MAX_PAYLOAD[simulator]),
                   "MULTI_RESULTS": str(results / f"multi{top}_{simulator}.txt")})

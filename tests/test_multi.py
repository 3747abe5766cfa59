"""hw.multi.MultiDecap (EESP and PSP, the profile chosen per frame) under both simulators
(cocotb testbench tb/multi_tb.py) against the golden model; the benchmark goes to
results/multidecap_<simulator>.txt."""

import os

import pytest

from hw.multi import MultiDecap
from tb.sim import ROOT, SIMULATORS, run

#: random frames per run, and their largest payload (Icarus: some 40x slower a cycle, the
#: same checks on fewer and shorter frames)
COUNTS = {"icarus": 100, "verilator": 1000}
MAX_PAYLOAD = {"icarus": 400, "verilator": 1500}


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_multidecap(simulator: str) -> None:
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    run(MultiDecap(), name="multidecap", test_module="tb.multi_tb", simulator=simulator,
        extra_env={"MULTI_N": os.environ.get("MULTI_N", str(COUNTS[simulator])),
                   "ENDPOINT_MAX": str(MAX_PAYLOAD[simulator]),
                   "MULTI_RESULTS": str(results / f"multidecap_{simulator}.txt")})

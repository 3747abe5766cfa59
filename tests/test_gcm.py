"""hw.gcm.Gcm under both simulators (cocotb testbench tb/gcm_tb.py); the benchmark
figures go to results/gcm_<simulator>.txt."""

import pytest

from hw.gcm import Gcm
from tb.sim import ROOT, SIMULATORS, run

#: random packets per run (AAD and text 0..2048 octets each)
COUNTS = {"icarus": 30, "verilator": 400}


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_gcm(simulator: str) -> None:
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    run(Gcm(side_width=8), name="gcm", test_module="tb.gcm_tb", simulator=simulator,
        extra_env={"GCM_N": str(COUNTS[simulator]), "GCM_RESULTS": str(results / f"gcm_{simulator}.txt")})

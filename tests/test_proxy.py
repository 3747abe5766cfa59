"""hw.proxy.Proxy under both simulators (cocotb testbench tb/proxy_tb.py) against
model.proxy.Proxy; the benchmark goes to results/proxy_<simulator>.txt."""

import os

import pytest

from tb.designs import TOPS
from tb.sim import ROOT, SIMULATORS, run

#: random frames per run, and their largest payload (as tests/test_endpoint.py)
COUNTS = {"icarus": 100, "verilator": 1000}
MAX_PAYLOAD = {"icarus": 400, "verilator": 1500}


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_proxy(simulator: str) -> None:
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    run(TOPS["proxy"](), name="proxy", test_module="tb.proxy_tb", simulator=simulator,
        extra_env={"PROXY_N": os.environ.get("PROXY_N", str(COUNTS[simulator])),
                   "ENDPOINT_MAX": str(MAX_PAYLOAD[simulator]),
                   "PROXY_RESULTS": str(results / f"proxy_{simulator}.txt")})

"""hw.proxy.EespToPsp and PspToEesp (spec 8.1) under both simulators (cocotb testbench
tb/profile_proxy_tb.py) against model.proxy; the benchmarks go to
results/<top>_<simulator>.txt."""

import os

import pytest

from tb.designs import TOPS
from tb.sim import ROOT, SIMULATORS, run

#: random frames per run, and their largest payload (Icarus: some 40x slower a cycle, the
#: same checks on fewer and shorter frames; 60 = three bursts of 20, the fewest in which
#: both sides rotate; payloads up to 200 octets: 85 + 71 s at 400)
COUNTS = {"icarus": 60, "verilator": 400}
MAX_PAYLOAD = {"icarus": 200, "verilator": 1500}


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("top", ["e2p", "p2e"])
def test_profile_proxy(top: str, simulator: str) -> None:
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    run(TOPS[top](), name=top, test_module="tb.profile_proxy_tb", simulator=simulator,
        extra_env={"PPROXY_TOP": top, "PPROXY_N": os.environ.get("PPROXY_N", str(COUNTS[simulator])),
                   "ENDPOINT_MAX": str(MAX_PAYLOAD[simulator]),
                   "PPROXY_RESULTS": str(results / f"{top}_{simulator}.txt")})

"""hw.psp PspDecap and PspEncap under both simulators (cocotb testbench tb/psp_tb.py,
against model.psp and Google's PSP reference outputs where ../shared has them); the
benchmarks go to results/psp{decap,encap}_verilator.txt."""

import os

import pytest

from tb import psp_vectors
from tb.designs import TOPS
from tb.sim import ROOT, SIMULATORS, run

#: random frames of the random tests
COUNTS = {"icarus": 50, "verilator": 250}


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("top", ["decap", "encap"])
def test_psp(top: str, simulator: str) -> None:
    if not psp_vectors.available():
        print(f"Google's PSP vectors are not at {psp_vectors.ROOT}: the reference-output tests are skipped")
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    run(TOPS[f"psp{top}"](), name=f"psp{top}", test_module="tb.psp_tb", simulator=simulator,
        extra_env={"PSP_TOP": top, "PSP_N": os.environ.get("PSP_N", str(COUNTS[simulator])),
                   "PSP_RESULTS": str(results / f"psp{top}_{simulator}.txt")})

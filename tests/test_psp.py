"""hw.psp PspDecap and PspEncap under both simulators (cocotb testbench tb/psp_tb.py,
against model.psp and Google's PSP reference outputs where ../shared has them); the
benchmarks go to results/psp{decap,encap}_verilator.txt."""

import os

import pytest

from hw.psp import PspDecap, PspEncap
from tb import psp_vectors
from tb.sim import ROOT, SIMULATORS, run

SAS = 4     # what tb/psp_tb.py expects of the encap
TOPS = {"decap": lambda: PspDecap(), "encap": lambda: PspEncap(sas=SAS)}
#: random frames of the random tests
COUNTS = {"icarus": 50, "verilator": 250}


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("top", sorted(TOPS))
def test_psp(top: str, simulator: str) -> None:
    if not psp_vectors.available():
        print(f"Google's PSP vectors are not at {psp_vectors.ROOT}: the reference-output tests are skipped")
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    run(TOPS[top](), name=f"psp{top}", test_module="tb.psp_tb", simulator=simulator,
        extra_env={"PSP_TOP": top, "PSP_N": os.environ.get("PSP_N", str(COUNTS[simulator])),
                   "PSP_RESULTS": str(results / f"psp{top}_{simulator}.txt")})

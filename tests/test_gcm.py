"""hw.gcm.Gcm under both simulators (cocotb testbench tb/gcm_tb.py); the benchmark
figures go to results/gcm<sizes>_<simulator>.txt."""

import pytest

from hw.gcm import Gcm
from tb.sim import ROOT, SIMULATORS, run

#: random packets per run (AAD and text 0..2048 octets each)
COUNTS = {"icarus": 20, "verilator": 250}
#: every k-th NIST record (of each file, FAIL records among them), a quarter under each
#: simulator, offset so that the two take different records
NIST_STEP = {"icarus": 4, "verilator": 4}
NIST_FIRST = {"icarus": 1, "verilator": 0}     # together every other record
#: back-to-back packets of each size and direction in the benchmark (its figures come from
#: Verilator; Icarus checks the same exact cycle count on fewer packets)
BENCH_PACKETS = {"icarus": 6, "verilator": 24}


#: the two-size build with its own hash-key pipeline (the ESP tops') under both
#: simulators, and with H in the context (the EESP and PSP tops', whose KDF pipeline
#: computes H) under Verilator; the AES-256-only build with H in the context runs, under
#: both, inside every EESP top (1000 random frames a top under Verilator), not on its own
BUILDS = [pytest.param((128, 256), False, s, id=f"aes128+256-{s}") for s in SIMULATORS]
BUILDS.append(pytest.param((128, 256), True, "verilator", id="aes128+256-h_in_ctx-verilator"))


@pytest.mark.sim
@pytest.mark.parametrize("sizes,h_in_ctx,simulator", BUILDS)
def test_gcm(simulator: str, sizes: tuple[int, ...], h_in_ctx: bool) -> None:
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    name = "gcm" + "_".join(map(str, sizes)) + ("_hctx" if h_in_ctx else "")
    run(Gcm(side_width=8, key_sizes=sizes, h_in_ctx=h_in_ctx), name=name, test_module="tb.gcm_tb",
        simulator=simulator,
        extra_env={"GCM_N": str(COUNTS[simulator]), "GCM_KEYS": ",".join(map(str, sizes)),
                   "GCM_H_IN_CTX": str(int(h_in_ctx)),
                   "GCM_NIST_STEP": str(NIST_STEP[simulator]), "GCM_NIST_FIRST": str(NIST_FIRST[simulator]),
                   "GCM_BENCH_PACKETS": str(BENCH_PACKETS[simulator]),
                   "GCM_RESULTS": str(results / f"{name}_{simulator}.txt")})

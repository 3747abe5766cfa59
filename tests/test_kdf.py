"""hw.kdf under both simulators (cocotb testbench tb/kdf_tb.py)."""

import pytest

from hw.kdf import Cmac2, KdfEngine
from tb.sim import ROOT, SIMULATORS, run

COUNTS = {"icarus": 60, "verilator": 1000}


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_cmac2(simulator: str) -> None:
    """The two-size build (PSP's): H under AES-128 or AES-256 per request; the AES-256-only
    build runs inside the KDF engine below."""
    run(Cmac2(tag_width=8, key_sizes=(128, 256)), name="cmac2", test_module="tb.kdf_tb", simulator=simulator,
        extra_env={"KDF_TOP": "cmac2", "KDF_N": str(COUNTS[simulator]), "KDF_KEYS": "128,256"})


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_kdf_engine(simulator: str) -> None:
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    run(KdfEngine(tag_width=8), name="kdf", test_module="tb.kdf_tb", simulator=simulator,
        extra_env={"KDF_TOP": "kdf", "KDF_N": str(COUNTS[simulator]),
                   "KDF_RESULTS": str(results / f"kdf_{simulator}.txt")})

"""hw.aes.Aes256 under both simulators (cocotb testbench tb/aes_tb.py)."""

import pytest

from hw.aes import SBOX, Aes256
from tb.sim import SIMULATORS, run

COUNTS = {"icarus": 500, "verilator": 3000}


def test_sbox_table_matches_fips197_spot_values() -> None:
    """FIPS-197 figure 7: S(00) = 63, S(53) = ed, S(ff) = 16; a bijection."""
    assert (SBOX[0x00], SBOX[0x53], SBOX[0xFF]) == (0x63, 0xED, 0x16)
    assert sorted(SBOX) == list(range(256))


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_aes256(simulator: str) -> None:
    run(Aes256(user_shape=16), name="aes256", test_module="tb.aes_tb", simulator=simulator,
        extra_env={"AES_N": str(COUNTS[simulator])})

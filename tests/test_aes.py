"""hw.aes.Aes under both simulators, both builds (cocotb testbench tb/aes_tb.py)."""

import pytest

from hw.aes import SBOX, SBOX_STYLES, Aes
from tb.sim import SIMULATORS, run

COUNTS = {"icarus": 500, "verilator": 3000}


def test_sbox_table_matches_fips197_spot_values() -> None:
    """FIPS-197 figure 7: S(00) = 63, S(53) = ed, S(ff) = 16; a bijection."""
    assert (SBOX[0x00], SBOX[0x53], SBOX[0xFF]) == (0x63, 0xED, 0x16)
    assert sorted(SBOX) == list(range(256))


#: the two-size build under both simulators, with its S-boxes in LUTs and in block RAM;
#: the AES-256-only build under Icarus here and, under both, inside the KDF engine and
#: every EESP top
BUILDS = [pytest.param((256,), "lut", "icarus", id="aes256-icarus")] + \
    [pytest.param((128, 256), sbox, s, id=f"aes128+256{'-bram' if sbox == 'bram' else ''}-{s}")
     for sbox in SBOX_STYLES for s in SIMULATORS]


@pytest.mark.sim
@pytest.mark.parametrize("sizes,sbox,simulator", BUILDS)
def test_aes(simulator: str, sizes: tuple[int, ...], sbox: str) -> None:
    name = "aes" + "_".join(map(str, sizes)) + ("_bram" if sbox == "bram" else "")
    run(Aes(user_shape=16, key_sizes=sizes, sbox=sbox), name=name, test_module="tb.aes_tb", simulator=simulator,
        extra_env={"AES_N": str(COUNTS[simulator]), "AES_KEYS": ",".join(map(str, sizes))})

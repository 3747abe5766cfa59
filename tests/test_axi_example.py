"""The plain-Verilog example (examples/axi_decap/tb.v, no cocotb) runs under Icarus: the
decap behind its AXI ports takes the model's key writes and frames and returns what the
model says; with one expected octet changed the same testbench reports FAIL."""

import shutil
import subprocess

import pytest

from tb.axi_example import write_example
from tb.sim import ROOT


@pytest.mark.sim
@pytest.mark.parametrize("spoil", [False, True], ids=["model", "spoiled"])
def test_plain_verilog_example_under_icarus(spoil: bool) -> None:
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog not installed (make test installs it)")
    d = ROOT / "sim_build" / "axi_example" / ("spoiled" if spoil else "model")
    write_example(d, spoil=spoil)
    build = subprocess.run(["iverilog", "-g2012", "-o", "sim", "tb.v", "axi_decap.sv"], cwd=d, capture_output=True,
                           text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    res = subprocess.run(["vvp", "-n", "sim"], cwd=d, capture_output=True, text=True, timeout=600)
    lines = [l for l in res.stdout.splitlines() if l.startswith(("PASS", "FAIL"))]
    if spoil:
        assert any(l.startswith("FAIL") for l in lines), res.stdout[-2000:]
    else:
        assert lines == ["PASS 3 frames"], res.stdout[-2000:]

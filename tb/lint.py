"""`verilator --lint-only -Wall` on a core's generated Verilog, for the lint tests."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

from hw.verilog import to_verilog

__all__ = ["verilator_warnings"]


def verilator_warnings(top, name: str, workdir: pathlib.Path) -> list[str]:
    """The ``%Warning``/``%Error`` lines Verilator -Wall prints for ``top`` (without its final tally)."""
    if shutil.which("verilator") is None:
        raise AssertionError("verilator not installed: run `make setup`")
    src = workdir / f"{name}.sv"
    src.write_text(to_verilog(top, name))
    proc = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", name, str(src)],
                          capture_output=True, text=True, timeout=600)
    return [ln for ln in proc.stderr.splitlines()
            if ln.startswith(("%Warning", "%Error")) and not ln.startswith("%Error: Exiting due to")]

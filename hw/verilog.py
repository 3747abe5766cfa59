"""Verilog generation for every top level and core of the project (simulation and FPGA).

One function, :func:`to_verilog`, so simulation and the Verilog handed to FPGA tools
are the same text.

Why ``write_verilog -sv``: Amaranth's Verilog backend (Yosys) writes combinational
processes as ``always @*`` blocks and relies on a dummy register initialised in its
declaration (``reg $auto$...$1 = 0``) to run them once at time 0. Icarus Verilog 11
gives declaration initialisers no event, so an ``always @*`` block whose inputs never
change after time 0 never runs and its outputs stay X (amaranth issue #1629, open and
labelled upstream). With ``-sv`` Yosys writes ``always_comb``, which IEEE 1800
(9.2.2.2.2) defines to run once at time zero: the output is right from the start in
Icarus, Verilator and synthesis tools alike. ``tests/test_toolchain.py`` pins it.
"""

from __future__ import annotations

from amaranth.back import rtlil
from amaranth.back.verilog import _convert_rtlil_text  # amaranth 0.5: the only way to pass write_verilog options

__all__ = ["to_verilog"]


def to_verilog(top, name: str) -> str:
    """The (System)Verilog text of ``top``, a ``wiring.Component``, as module ``name``."""
    rtlil_text = rtlil.convert(top, name=name, emit_src=False)
    return _convert_rtlil_text(rtlil_text, write_verilog_opts=("-sv",))

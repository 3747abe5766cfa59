"""Verilog generation for every top level and core of the project (simulation and FPGA).

One function, :func:`to_verilog`, so simulation and the Verilog handed to FPGA tools
are the same text.

Why not Amaranth's own ``verilog.convert``: it runs Yosys ``proc -nomux``, which keeps
every combinational process as an ``always @*`` (or, with ``-sv``, ``always_comb``) block
that first assigns a default and then overrides parts of it. Two faults of Icarus
Verilog 11 follow from that form:

* an ``always @*`` block whose inputs never change after time 0 never runs, so its
  outputs stay X (amaranth issue #1629);
* Icarus makes an ``always_*`` block sensitive to the *whole* vector behind every
  constant bit select it reads ("constant selects in always_* processes are not
  currently supported"). Two blocks that each glitch a vector (default, then override)
  and read an unrelated part of the other's vector then wake each other for ever at one
  simulation time: the endpoint tops hung at the first frame (measured: sim time stuck,
  < 1 cycle/s).

Here Yosys runs the full ``proc`` instead: every combinational process becomes
multiplexer cells, written as continuous ``assign`` statements (``$pmux`` as a Verilog
function), and only the flip-flops remain ``always_ff`` blocks. Continuous assignments
have neither fault: Icarus evaluates them at time 0, and each net is driven once, so
nothing glitches. Verilator and synthesis tools read the same text.
``tests/test_toolchain.py`` pins both: a combinational output with constant inputs is
resolved, and the generated text holds no ``always_comb`` or ``always @*`` block.
"""

from __future__ import annotations

from amaranth._toolchain.yosys import find_yosys
from amaranth.back import rtlil

__all__ = ["to_verilog"]

#: Yosys version Amaranth 0.5 itself requires for its Verilog back end.
_YOSYS_MIN = (0, 40)


def to_verilog(top, name: str) -> str:
    """The (System)Verilog text of ``top``, a ``wiring.Component``, as module ``name``."""
    rtlil_text = rtlil.convert(top, name=name, emit_src=False)
    yosys = find_yosys(lambda version: version >= _YOSYS_MIN)
    script = [
        f"read_rtlil <<rtlil\n{rtlil_text}\nrtlil",
        "proc -norom",      # processes -> $mux/$pmux cells and flip-flops
        "memory_collect",   # lib.memory ports -> one $mem cell (a reg array in Verilog)
        # no -norename: the $pmux functions get legal names; Amaranth's own names are public
        # and kept, only Yosys' internal ones become _N_
        "write_verilog -sv",
    ]
    # Yosys warns that some processes cannot be written; after a full proc none are left
    return yosys.run(["-q", "-"], "\n".join(script), ignore_warnings=True)

"""`verilator --lint-only -Wall` on the generated Verilog of each core and top level.

Waivers of every design (warning classes that Amaranth's generated Verilog always shows,
which say nothing about the design):
* UNUSEDSIGNAL — Amaranth/Yosys emit intermediate wires and whole-port copies of which
  only some bits are read (e.g. a memory port's address wire next to its use);
* DECLFILENAME — all submodules of a design are written into one file;
* WIDTHEXPAND, only "ADD/SUB expects N bits on the RHS, but RHS ... generates M bits" —
  Amaranth arithmetic zero-extends the narrower operand by definition
  (``count + valid``, ``length + octets``), and Yosys writes the operands unextended.

The simulated top levels (every design of :mod:`tb.designs`) are linted by their own
Verilator build, which runs with ``-Wall`` (:data:`tb.sim.LINT_ARGS`): the warnings are
those of the very Verilog the cocotb benches simulate, at no second Verilator pass.

Further waivers of the key table and the top levels only, whose many small compares (slot, tag and region indices against
constants) were not respelled as the cores were (one-hot flags instead of enum
compares, priority encoders instead of popcounts):
* WIDTHEXPAND and WIDTHTRUNC, any operator — the same zero/sign extension to the wider operand, defined by
  Amaranth's operators, left implicit by Yosys for compares with narrow constants,
  shifts and selects (the cocotb runs on both simulators check the values);
* CASEOVERLAP — Yosys writes each ``$pmux`` cell (a select of one among n inputs by a
  one-hot vector, from ``Array`` indexing and ``Switch``) as a ``casez`` function marked
  ``parallel_case`` with the patterns ``???1``, ``??1?`` ...; they overlap only for a
  select that is not one-hot, which the cell excludes by construction.
Every other warning fails the test.
"""

import re

import pytest

from hw.aes import Aes
from hw.gcm import Gcm
from hw.ghash import Ghash
from hw.kdf import KdfEngine
from hw.keytable import KeyTable
from tb import designs
from tb.lint import verilator_warnings
from tb.sim import build, build_warnings

CORES = {"aes256": lambda: Aes(user_shape=16), "kdf": lambda: KdfEngine(tag_width=8),
         "gcm": lambda: Gcm(side_width=8), "ghash": Ghash}
#: tops linted on their own; the simulated tops (tb.designs) are linted by their
#: simulation's Verilator build, which runs -Wall on the Verilog it simulates
TOPS = {"keytable": lambda: KeyTable(groups=4, tag_shape=8)}
WAIVED = re.compile(r"%Warning-(UNUSEDSIGNAL|DECLFILENAME):|%Warning-WIDTHEXPAND: .*Operator (ADD|SUB) expects \d+ bits on the RHS, but RHS's \S+ '\S+' generates \d+ bits")
WAIVED_TOP = re.compile(r"%Warning-(UNUSEDSIGNAL|DECLFILENAME|WIDTHEXPAND|WIDTHTRUNC|CASEOVERLAP):")


@pytest.mark.parametrize("name", sorted(CORES) + sorted(TOPS))
def test_verilator_lint_wall(name: str, tmp_path) -> None:
    top, waived = (CORES[name](), WAIVED) if name in CORES else (TOPS[name](), WAIVED_TOP)
    unwaived = [l for l in verilator_warnings(top, name, tmp_path) if not waived.search(l)]
    assert not unwaived, "\n".join(unwaived[:20])


@pytest.mark.sim
@pytest.mark.parametrize("name", sorted(designs.TOPS))
def test_verilator_lint_wall_of_simulated_top(name: str) -> None:
    warnings = build_warnings(build(designs.TOPS[name](), name=name, simulator="verilator"))
    unwaived = [l for l in warnings if not WAIVED_TOP.search(l)]
    assert not unwaived, "\n".join(unwaived[:20])

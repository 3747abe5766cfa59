"""`verilator --lint-only -Wall` on the generated Verilog of each core.

Waivers (warning classes that Amaranth's generated Verilog always shows, which say
nothing about the design):
* UNUSEDSIGNAL — Amaranth/Yosys emit intermediate wires and whole-port copies of which
  only some bits are read (e.g. a memory port's address wire next to its use);
* DECLFILENAME — all submodules of a design are written into one file;
* WIDTH, only "ADD/SUB expects N bits on the RHS, but RHS ... generates M bits" —
  Amaranth arithmetic zero-extends the narrower operand by definition
  (``count + valid``, ``length + octets``), and Yosys writes the operands unextended.
Every other warning fails the test.
"""

import re

import pytest

from hw.aes import Aes256
from hw.gcm import Gcm
from hw.kdf import KdfEngine
from tb.lint import verilator_warnings

CORES = {"aes256": lambda: Aes256(user_shape=16), "kdf": lambda: KdfEngine(tag_width=8),
         "gcm": lambda: Gcm(side_width=8)}
WAIVED = re.compile(r"%Warning-(UNUSEDSIGNAL|DECLFILENAME):|%Warning-WIDTH: .*Operator (ADD|SUB) expects \d+ bits on the RHS, but RHS's \S+ '\S+' generates \d+ bits")


@pytest.mark.parametrize("name", sorted(CORES))
def test_verilator_lint_wall(name: str, tmp_path) -> None:
    unwaived = [l for l in verilator_warnings(CORES[name](), name, tmp_path) if not WAIVED.search(l)]
    assert not unwaived, "\n".join(unwaived[:20])

"""The register map's three outputs agree: docs/registers.md and include/eesp_regs.h are what
hw/regmap.py generates today (`eesp registers` rewrites them), the header's offsets are
the map's, and it compiles as C. The RTL decodes the same map (hw/axi.py builds from it)
and tests/test_axi.py drives it through the Python driver."""

import re
import shutil
import subprocess

import pytest

from hw.cli import register_maps
from hw.regmap import c_header, markdown
from tb.sim import ROOT


def test_committed_docs_and_header_are_generated_from_the_map() -> None:
    maps = register_maps()
    assert (ROOT / "docs" / "registers.md").read_text() == markdown(maps), "run `eesp registers`"
    assert (ROOT / "include" / "eesp_regs.h").read_text() == c_header(maps), "run `eesp registers`"


def test_header_offsets_are_the_maps() -> None:
    defines = dict(re.findall(r"^#define (\w+) (0x[0-9A-F]+|\d+)u$", (ROOT / "include" / "eesp_regs.h").read_text(),
                              re.M))
    for top, regs in register_maps().items():
        for r in regs:
            assert int(defines[f"{top.upper()}_{r.name}"], 0) == r.offset, (top, r.name)
    assert int(defines["DECAP_WR_COMMIT"], 0) == 0x13C and int(defines["DECAP_STAT"], 0) == 0x400


def test_header_compiles_without_warnings(tmp_path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (apt-get install gcc)")
    src = tmp_path / "use.c"
    src.write_text('#include "eesp_regs.h"\nunsigned magic(void) { return EESP_MAGIC + DECAP_WR_COMMIT; }\n')
    res = subprocess.run([cc, "-Wall", "-Wextra", "-Werror", "-c", "-I", str(ROOT / "include"), str(src), "-o",
                          str(tmp_path / "use.o")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr

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

import hashlib
import inspect
import os
import pathlib

import amaranth
from amaranth.lib import wiring
from amaranth._toolchain.yosys import find_yosys
from amaranth.back import rtlil

__all__ = ["to_verilog", "CACHE_ENV"]

#: Environment variable naming a directory where :func:`to_verilog` keeps the text of each
#: design it converted (the test suite sets it: one top is converted by several tests, and
#: elaborating the proxy takes ~15 s of Python). The key covers everything the text can
#: depend on: the source of every module of ``hw/``, of the result codes and of the module
#: that defines the component's class (a design outside ``hw/``, e.g. ``tb/smoke.py``),
#: Amaranth's version, the module name, the component's class, its plain parameters and
#: its signature.
CACHE_ENV = "EESP_VERILOG_CACHE"
_SOURCES = sorted(pathlib.Path(__file__).parent.rglob("*.py")) + \
    sorted((pathlib.Path(__file__).parent.parent / "common").rglob("*.py"))

#: Yosys version Amaranth 0.5 itself requires for its Verilog back end.
_YOSYS_MIN = (0, 40)


def _cache_key(top, name: str) -> str:
    h = hashlib.sha256()
    for f in _SOURCES + [pathlib.Path(inspect.getfile(type(top)))]:
        h.update(f.read_bytes())
    plain = sorted((k, v) for k, v in vars(top).items()
                   if isinstance(v, (bool, int, float, str, type(None))) and not k.startswith("_MustUse"))
    h.update(repr((amaranth.__version__, name, type(top).__module__, type(top).__qualname__, plain,
                   top.signature)).encode())
    for inner in _wrapped(top):     # a wrapper's text depends on what it wraps (its parameters too)
        h.update(_cache_key(inner, name).encode())
    return h.hexdigest()


def _wrapped(top) -> list:
    """The components ``top`` holds as attributes (a wrapper's inner top)."""
    return [v for k, v in sorted(vars(top).items()) if isinstance(v, wiring.Component) and not k.startswith("_MustUse")]


def _mark_used(top) -> None:
    """``top`` and what it wraps: its text is known, not an elaboratable left unused."""
    top._MustUse__used = True
    for inner in _wrapped(top):
        _mark_used(inner)


def to_verilog(top, name: str) -> str:
    """The (System)Verilog text of ``top``, a ``wiring.Component``, as module ``name``
    (from the cache of :data:`CACHE_ENV` when it is set and holds it)."""
    cache = os.environ.get(CACHE_ENV)
    if not cache:
        return _convert(top, name)
    path = pathlib.Path(cache) / f"{name}-{_cache_key(top, name)}.sv"
    if path.exists():
        _mark_used(top)
        return path.read_text()
    text = _convert(top, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)      # atomic: another worker may write the same design
    return text


def _convert(top, name: str) -> str:
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

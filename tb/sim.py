"""The one runner every test uses to simulate an Amaranth component under cocotb 1.9.

``run(top, name=..., test_module=..., simulator=...)`` converts ``top`` to Verilog in
``sim_build/<name>/<simulator>/<name>.sv`` (SystemVerilog ``always_comb``: see
:mod:`hw.verilog` for why, amaranth #1629), builds it with ``cocotb.runner`` (only when the
Verilog text changed), runs the cocotb module, and raises ``AssertionError`` unless at
least one cocotb test ran and none failed. Callers encode parameters in ``name`` so
that pytest-xdist workers never share a build directory.

Also cocotb-side helpers shared by the testbenches: clock and reset, and reading a
signal as an integer that fails loudly on X or Z.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pathlib
import shutil
import sys

from hw.verilog import to_verilog

__all__ = ["SIMULATORS", "ROOT", "run", "start_clock_and_reset", "resolved"]

SIMULATORS: tuple[str, ...] = ("icarus", "verilator")
ROOT = pathlib.Path(__file__).resolve().parent.parent
TIMESCALE = ("1ns", "1ps")  # Amaranth's Verilog has no `timescale; Icarus needs one for the clock

#: Verilator options. -Wno-fatal: Amaranth's Verilog trips style warnings (e.g. DECLFILENAME,
#: UNUSED) that say nothing about behaviour; `verilator --lint-only -Wall` is run on each core
#: separately and its waivers are listed there. --timescale: cocotb 1.9 does not pass the
#: runner's timescale to Verilator.
#: No --x-assign/--x-initial unique: Amaranth gives every register an initialiser in its
#: declaration, its combinational temporaries are assigned in full in each always_comb, and it
#: emits no 'x constants, so there is no X for those options to randomise; the defaults (fast)
#: keep the build as quick as it can be.
VERILATOR_ARGS = ["-Wno-fatal", "--timescale", "{}/{}".format(*TIMESCALE)]
#: Make variables of the Verilator C++ build (passed through MAKEFLAGS, which the runner's
#: `make` reads as command-line assignments). Verilator's default -Os takes 6.5 min to
#: compile the proxy (cocotb builds with --public-flat-rw) and -O0 1.5 min, measured on
#: these machines; the simulations here are short, so the build time is what counts.
VERILATOR_MAKE = "OPT_FAST=-O0 OPT_GLOBAL=-O0"

#: What each simulator's build leaves behind; its absence forces a rebuild.
_BINARY = {"icarus": "sim.vvp", "verilator": "{name}"}
#: Programs each simulator needs (the first one is also the Debian package name).
_TOOLS = {"icarus": ("iverilog", "vvp"), "verilator": ("verilator", "make", "g++")}


def _write_if_changed(path: pathlib.Path, text: str) -> bool:
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def run(top, *, name: str, test_module: str, simulator: str,
        extra_env: dict[str, str] | None = None, testcase: str | None = None) -> None:
    """Simulate ``top`` (an Amaranth ``wiring.Component``) with the cocotb ``test_module``."""
    from cocotb.runner import get_results, get_runner

    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {SIMULATORS}, not {simulator!r}")
    build_dir = ROOT / "sim_build" / name / simulator
    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / f"{name}.sv"
    text = to_verilog(top, name)
    # one build directory, one user at a time: pytest-xdist may run two tests of the same
    # design at once, and one must not rebuild the binary while the other runs it
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # rebuild only when the Verilog text or the build options changed (Verilator takes
        # tens of seconds), or when a previous build did not finish
        stamp = build_dir / "built.sha256"
        build_args = VERILATOR_ARGS if simulator == "verilator" else []
        make_vars = VERILATOR_MAKE if simulator == "verilator" else ""
        digest = hashlib.sha256(repr((text, build_args, make_vars, TIMESCALE)).encode()).hexdigest()
        changed = _write_if_changed(source, text)
        binary = build_dir / _BINARY[simulator].format(name=name)

        runner = get_runner(simulator)
        if changed or not binary.exists() or not stamp.exists() or stamp.read_text() != digest:
            stamp.unlink(missing_ok=True)
            for tool in _TOOLS[simulator]:
                if shutil.which(tool) is None:
                    raise RuntimeError(f"{tool} not found: run `make setup` (or apt-get install {_TOOLS[simulator][0]})")
            saved = os.environ.get("MAKEFLAGS")
            os.environ["MAKEFLAGS"] = " ".join(filter(None, (saved, make_vars)))
            try:
                runner.build(
                    verilog_sources=[source],
                    hdl_toplevel=name,
                    build_dir=build_dir,
                    always=True,
                    timescale=TIMESCALE,
                    build_args=build_args,
                )
            except SystemExit as exc:  # cocotb 1.9 exits when the compiler fails
                raise AssertionError(f"{name} ({simulator}): build failed: {exc}") from None
            finally:
                if saved is None:
                    os.environ.pop("MAKEFLAGS", None)
                else:
                    os.environ["MAKEFLAGS"] = saved
            stamp.write_text(digest)

        # cocotb 1.9's runner sets the simulator's PYTHONPATH to this process's sys.path
        # (overriding any PYTHONPATH in extra_env), so the repo root goes there for
        # `tb.xxx_tb` and `model` to import inside the simulator
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        try:
            results = runner.test(
                test_module=test_module,
                hdl_toplevel=name,
                hdl_toplevel_lang="verilog",
                build_dir=build_dir,
                test_dir=build_dir,
                testcase=testcase,
                extra_env=dict(extra_env or {}),
                timescale=TIMESCALE,
            )
        except SystemExit as exc:  # cocotb 1.9 exits under pytest when a cocotb test failed
            raise AssertionError(f"{name} ({simulator}): {exc}") from None
    tests, failed = get_results(pathlib.Path(results))
    assert tests > 0, f"{name} ({simulator}): no cocotb test ran"
    assert failed == 0, f"{name} ({simulator}): {failed} of {tests} cocotb tests failed"


async def start_clock_and_reset(dut, cycles: int = 2, period_ns: int = 10) -> None:
    """Start a clock on ``dut.clk`` and hold ``dut.rst`` high for ``cycles`` rising edges."""
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import RisingEdge

    cocotb.start_soon(Clock(dut.clk, period_ns, units="ns").start())
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


def resolved(handle) -> int:
    """The value of a signal as an int; AssertionError if any bit is X or Z."""
    value = handle.value
    assert value.is_resolvable, f"{handle._name} is not resolvable: {value.binstr}"
    return value.integer

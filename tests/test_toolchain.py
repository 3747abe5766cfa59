"""Day-one proof of the toolchain: Amaranth -> Verilog -> cocotb under both simulators."""

import pytest

from tb.sim import SIMULATORS, run
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

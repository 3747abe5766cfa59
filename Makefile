# The two commands of the README: `make demo` and `make test`. Both set up first.
# `make regress` is the long random regression (not part of the suite).
PY := .venv/bin/python
PYTEST_ARGS ?=
DEMO_ARGS ?=
REGRESS_ARGS ?=

SYNTH_ARGS ?=

.PHONY: setup demo test regress synth clean
setup:
	@tools/setup.sh

demo: setup
	$(PY) -m tb.demo $(DEMO_ARGS)

test: setup
	$(PY) -m pytest -n auto --dist worksteal --junitxml=results/junit.xml $(PYTEST_ARGS)

regress: setup
	$(PY) -m tb.regress $(REGRESS_ARGS)

synth: setup
	.venv/bin/python -m pip install -q -e '.[synth]'
	.venv/bin/eesp synth $(SYNTH_ARGS)

clean:
	rm -rf sim_build results

# The two commands of the README: `make demo` and `make test`. Both set up first.
PY := .venv/bin/python
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: setup demo test clean
setup:
	@tools/setup.sh

demo: setup
	$(PY) -m tb.demo $(DEMO_ARGS)

test: setup
	$(PY) -m pytest -n auto $(PYTEST_ARGS)

clean:
	rm -rf sim_build results

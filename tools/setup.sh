#!/usr/bin/env bash
# Set-up behind `make demo` and `make test`: simulators, then the virtualenv. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v iverilog >/dev/null && command -v vvp >/dev/null || missing+=(iverilog)
command -v verilator >/dev/null || missing+=(verilator)
command -v make >/dev/null || missing+=(make)
command -v g++ >/dev/null || missing+=(g++)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup: installing ${missing[*]} with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    else
        echo "setup: missing ${missing[*]}; install them with:" >&2
        echo "    sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
    echo "setup: Python >= 3.10 is required (python3 is $(python3 -V 2>&1))" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if [ ! -f .venv/.stamp ] || [ pyproject.toml -nt .venv/.stamp ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test]'
    touch .venv/.stamp
fi
echo "setup: $(iverilog -V 2>/dev/null | head -n1); $(verilator --version); $(.venv/bin/python -c 'import amaranth, cocotb; print("amaranth", amaranth.__version__, "cocotb", cocotb.__version__)')"

#!/usr/bin/env bash
# Set-up behind `make demo` and `make test`: simulators, then the virtualenv. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

sims_missing=0
for tool in iverilog vvp verilator; do command -v "$tool" >/dev/null || sims_missing=1; done
extra=()
command -v make >/dev/null || extra+=(make)
command -v g++ >/dev/null || extra+=(g++)
if [ "$sims_missing" = 1 ] || [ ${#extra[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        pkgs=("${extra[@]}")
        [ "$sims_missing" = 0 ] || pkgs=(iverilog verilator "${pkgs[@]}")
        echo "setup: apt-get install -y ${pkgs[*]}"
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}"
    else
        echo "setup: simulators or build tools are missing; install them with:" >&2
        [ "$sims_missing" = 0 ] || echo "sudo apt-get install -y iverilog verilator"
        [ ${#extra[@]} -eq 0 ] || echo "sudo apt-get install -y ${extra[*]}"
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

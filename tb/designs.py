"""The top levels the suite simulates, by build name, each as its bench expects it.

One table for every test of a top, so that the simulation tests under both simulators,
the AXI benches and the Verilator lint of the tops (which reads the warnings of the
simulation's own build, :func:`tb.sim.build`) build and check the same design, converted
and Verilated once a run. A parameter here is what the bench of that top is written for
(its SA table size, window, context count), taken from the bench.
"""

from __future__ import annotations

from hw.axi import AxiTop
from hw.endpoint import Decap, Encap
from hw.esp import EspDecap, EspEncap
from hw.multi import MultiDecap, MultiEncap
from hw.proxy import EespToPsp, Proxy, PspToEesp
from hw.psp import PspDecap, PspEncap
from tb import endpoint_tb, esp_tb, profile_proxy_tb, psp_tb

__all__ = ["TOPS"]

#: build name -> a function that makes the top as its bench expects it
TOPS = {
    "decap": Decap,
    "encap": Encap,
    "proxy": Proxy,
    "espdecap": lambda: EspDecap(sas=esp_tb.SAS, window=esp_tb.WINDOW),
    "espencap": lambda: EspEncap(sas=esp_tb.SAS),
    "pspdecap": PspDecap,
    "pspencap": lambda: PspEncap(sas=psp_tb.SAS),
    "e2p": lambda: EespToPsp(sas=profile_proxy_tb.SAS),
    "p2e": PspToEesp,
    "multidecap": MultiDecap,
    "multiencap": lambda: MultiEncap(contexts=endpoint_tb.CONTEXTS, sas=psp_tb.SAS),
    "axi_decap": lambda: AxiTop(Decap()),
    "axi_encap": lambda: AxiTop(Encap(contexts=endpoint_tb.CONTEXTS)),
}

"""How many AES pipelines each top holds, and where their S-boxes are: read off the
elaborated design (every :class:`hw.aes.Aes` in its hierarchy), not off the source.

A KDF top (EESP, PSP, both) has two: the KDF's, which also computes each key's GCM hash
key H = AES(DK, 0), and the GCM data pipeline; an ESP top has two too (its keys come
from the SA table, so its GCM engine computes H itself); a proxy holds two tops. The
``sbox`` parameter of a top reaches every pipeline in it, and a bad value is refused
when the top is made."""

from __future__ import annotations

import pytest
from amaranth.hdl import Fragment

from hw.aes import Aes
from hw.endpoint import Decap, Encap
from hw.esp import EspDecap, EspEncap
from hw.multi import MultiDecap, MultiEncap
from hw.proxy import EespToPsp, Proxy, PspToEesp
from hw.psp import PspDecap, PspEncap

#: top -> AES pipelines it must hold (issue 15: one fewer per KDF top than the three of
#: 06ddeca, two fewer per proxy than its six)
PIPELINES = {Decap: 2, Encap: 2, PspDecap: 2, PspEncap: 2, MultiDecap: 2, MultiEncap: 2,
             EspDecap: 2, EspEncap: 2, Proxy: 4, EespToPsp: 4, PspToEesp: 4}


def _aes_cores(top) -> list[Aes]:
    found = []

    def walk(fragment):
        found.extend(o for o in (getattr(fragment, "origins", None) or ()) if isinstance(o, Aes))
        for sub, *_ in fragment.subfragments:
            walk(sub)

    walk(Fragment.get(top, None))
    return found


@pytest.mark.parametrize("sbox", ["lut", "bram"])
@pytest.mark.parametrize("top", PIPELINES, ids=lambda t: t.__name__)
def test_top_holds_its_aes_pipelines_with_the_sbox_asked_for(top, sbox: str) -> None:
    cores = _aes_cores(top(sbox=sbox))
    assert len(cores) == PIPELINES[top], f"{top.__name__}: {len(cores)} AES pipelines"
    assert {c.sbox for c in cores} == {sbox}


@pytest.mark.parametrize("top", PIPELINES, ids=lambda t: t.__name__)
def test_top_refuses_an_unknown_sbox_style(top) -> None:
    with pytest.raises(ValueError, match="sbox"):
        top(sbox="distributed")

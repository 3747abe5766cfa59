"""How many AES pipelines each top holds, and where their S-boxes are: read off the
elaborated design (every :class:`hw.aes.Aes` in its hierarchy), not off the source.

A KDF top (EESP, PSP, both) has two: the KDF's, which also computes each key's GCM hash
key H = AES(DK, 0), and the GCM data pipeline; an ESP top has two too (its keys come
from the SA table, so its GCM engine computes H itself); a proxy holds two tops. The
``sbox`` parameter of a top reaches every pipeline in it, and a bad value is refused
when the top is made."""

from __future__ import annotations

from collections import Counter

import pytest
from amaranth.hdl import Fragment
from amaranth.lib.memory import Memory

from hw.aes import Aes
from hw.endpoint import Decap, Encap
from hw.esp import EspDecap, EspEncap
from hw.multi import MultiDecap, MultiEncap
from hw.proxy import EespToPsp, Proxy, PspToEesp
from hw.psp import PspDecap, PspEncap

#: the AES S-box, FIPS-197 figure 7, row by row (published values, not computed here)
FIPS_SBOX = list(bytes.fromhex(
    "637c777bf26b6fc53001672bfed7ab76ca82c97dfa5947f0add4a2af9ca472c0"
    "b7fd9326363ff7cc34a5e5f171d8311504c723c31896059a071280e2eb27b275"
    "09832c1a1b6e5aa0523bd6b329e32f8453d100ed20fcb15b6acbbe394a4c58cf"
    "d0efaafb434d338545f9027f503c9fa851a3408f929d38f5bcb6da2110fff3d2"
    "cd0c13ec5f974417c4a77e3d645d197360814fdc222a908846eeb814de5e0bdb"
    "e0323a0a4906245cc2d3ac629195e479e7c8376d8dd54ea96c56f4ea657aae08"
    "ba78252e1ca6b4c6e8dd741f4bbd8b8a703eb5664803f60e613557b986c11d9e"
    "e1f8981169d98e949b1e87e9ce5528df8ca1890dbfe6426841992d0fb054bb16"))

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


def _sbox_reads(core: Aes) -> list[tuple[int, str]]:
    """(ROM number, read domain) of every read of an S-box ROM (a 256 x 8 memory holding
    the FIPS-197 S-box) in the elaborated ``core``."""
    roms = []

    def walk(fragment):
        roms.extend(o for o in (getattr(fragment, "origins", None) or ()) if isinstance(o, Memory)
                    and o.depth == 256 and list(o.init) == FIPS_SBOX)
        for sub, *_ in fragment.subfragments:
            walk(sub)

    walk(Fragment.get(core, None))
    return [(k, port.domain) for k, rom in enumerate(roms) for port in rom.read_ports]


@pytest.mark.parametrize("sizes,sboxes", [((256,), 224 + 52), ((128, 256), 224 + 56)])
@pytest.mark.parametrize("sbox", ["lut", "bram"])
def test_every_sbox_where_asked(sbox: str, sizes, sboxes: int) -> None:
    """Every S-box of the data path and of the key schedule: an asynchronous read of the
    LUT ROM, or (``bram``) a synchronous read of a ROM with at most two reads (one
    dual-port block RAM)."""
    reads = _sbox_reads(Aes(key_sizes=sizes, sbox=sbox))
    assert len(reads) == sboxes
    assert {domain for _, domain in reads} == {"comb" if sbox == "lut" else "sync"}
    per_rom = Counter(k for k, _ in reads)
    assert max(per_rom.values()) <= (2 if sbox == "bram" else sboxes)

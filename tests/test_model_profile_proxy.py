"""The golden model's proxies between profiles (docs/spec.md section 8.1): EESP -> PSP and
PSP -> EESP. Expected values are computed independently of the proxy code: the PSP side
with ``cryptography``'s AESGCM under :func:`model.kdf.psp_key` (which reproduces Google's
PSP reference outputs, tests/test_model_psp.py) and the header octets of spec 13.1; the
EESP side by an EESP endpoint of the other domain opening what the proxy emitted."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings, strategies as st

from model.endpoint import Endpoint, SenderContext
from model.errors import Code, EespError
from model.kdf import psp_key
from model.proxy import EespTarget, EespToPsp, EgressContext, PspTarget, PspToEesp
from model.psp import PspKeys, PspSender
from tb.malformed import RKID, key_table

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MK = [bytes(range(32)), bytes(range(100, 132))]
SPI = 0x8000_1234          # phase 1


def _psp_keys() -> PspKeys:
    return PspKeys(keys=list(MK), phase=1)


def _eesp_to_psp(version: int, vc: bytes | None):
    a = key_table(RKID, group=2, default=False)
    proxy = EespToPsp(a, _psp_keys())
    proxy.mapping[2] = PspTarget(PspSender(SPI, version=version, vc=vc, next_iv=5), next_header=4)
    return Endpoint(a), proxy


@SETTINGS
@given(payload=st.binary(min_size=16, max_size=200), offset=st.integers(4, 40), coffset=st.integers(0, 3),
       version=st.integers(0, 1), with_vc=st.booleans())
def test_eesp_to_psp(payload: bytes, offset: int, coffset: int, version: int, with_vc: bool) -> None:
    vc = b"VCVCVCVC" if with_vc else None
    ep_a, proxy = _eesp_to_psp(version, vc)
    frame = os.urandom(offset) + payload
    sealed = ep_a.seal(frame, offset, SenderContext(2, 1, bytes(range(8)), 3, coffset=coffset, ioffset=1))
    out = proxy.reencrypt(sealed, offset)
    co = coffset + (2 if vc else 0)             # the same inner words stay clear
    head = bytes([4, 2 if vc else 1, co, (version << 2) | (2 if vc else 0) | 1]) + SPI.to_bytes(4, "big") + \
        (5).to_bytes(8, "big")
    inner = (vc or b"") + payload
    key = psp_key(MK[1], SPI, version)
    want = frame[:offset] + head + inner[:4 * co] + AESGCM(key).encrypt(head[4:], inner[4 * co:], head + inner[:4 * co])
    assert out == want
    assert proxy.mapping[2].sa.next_iv == 6


def test_eesp_to_psp_refusals() -> None:
    ep_a, proxy = _eesp_to_psp(1, b"VCVCVCVC")
    ctx = SenderContext(2, 0, bytes(4), 1, coffset=62)
    sealed = ep_a.seal(bytes(8) + bytes(300), 8, ctx)
    with pytest.raises(EespError) as err:       # 62 clear words + the VC's 2 > 63
        proxy.reencrypt(sealed, 8)
    assert err.value.code == Code.PSP_BAD_OFFSET
    good = ep_a.seal(bytes(8) + bytes(40), 8, SenderContext(2, 0, bytes(4), 1))
    bad = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(EespError) as err:
        proxy.reencrypt(bad, 8)
    assert err.value.code == Code.AUTH_FAIL
    del proxy.mapping[2]
    with pytest.raises(EespError) as err:
        proxy.reencrypt(good, 8)
    assert err.value.code == Code.NO_MAPPING
    assert proxy.keys.keys == MK


def _psp_to_eesp():
    b = key_table(RKID, group=1, default=False)
    proxy = PspToEesp(_psp_keys(), b)
    out = EgressContext(group=1, kind=0, ident=b"\x0b\x00\x00\x01", epoch=77)
    proxy.mapping[SPI] = EespTarget(out, next_header=17)
    return proxy, Endpoint(b)


@SETTINGS
@given(payload=st.binary(min_size=16, max_size=200), offset=st.integers(0, 40), co=st.integers(0, 4),
       version=st.integers(0, 1), with_vc=st.booleans())
def test_psp_to_eesp(payload: bytes, offset: int, co: int, version: int, with_vc: bool) -> None:
    proxy, ep_b = _psp_to_eesp()
    vc = b"VCVCVCVC" if with_vc else None
    frame = os.urandom(offset) + payload
    sealed = PspSender(SPI, version=version, crypt_offset=co, vc=vc).seal(_psp_keys(), frame, offset, 17)
    opened = ep_b.open(proxy.reencrypt(sealed, offset), offset)
    assert opened.frame == frame
    h = opened.header
    assert (h.kind, h.ident, h.epoch, h.ioffset) == (0, b"\x0b\x00\x00\x01", 77, 0)
    assert h.coffset == max(0, co - (2 if vc else 0)), "the clear inner words stay clear, no more"
    assert h.option is not None and h.option.root_key_id == RKID


def test_psp_to_eesp_refusals() -> None:
    proxy, _ = _psp_to_eesp()
    sender = PspSender(SPI, version=0)
    good = sender.seal(_psp_keys(), bytes(8) + bytes(40), 8, 17)
    with pytest.raises(EespError) as err:
        proxy.reencrypt(good[:-1] + bytes([good[-1] ^ 1]), 8)
    assert err.value.code == Code.AUTH_FAIL
    with pytest.raises(EespError) as err:       # a Next Header the way back could not restore
        proxy.reencrypt(sender.seal(_psp_keys(), bytes(8) + bytes(40), 8, 6), 8)
    assert err.value.code == Code.NO_MAPPING
    other = PspSender(SPI + 1, version=0).seal(_psp_keys(), bytes(8) + bytes(40), 8, 17)
    with pytest.raises(EespError) as err:
        proxy.reencrypt(other, 8)
    assert err.value.code == Code.NO_MAPPING
    with pytest.raises(EespError) as err:       # phase 0 holds no key
        proxy.keys.keys[0] = None
        proxy.reencrypt(PspSender(0x1234, version=0).seal(PspKeys(keys=list(MK)), bytes(8) + bytes(40), 8, 17), 8)
    assert err.value.code == Code.UNKNOWN_KEY

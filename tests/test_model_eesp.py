"""Properties of the golden model's EESP endpoint, key table, counter and proxy.

Expected behaviour is the spec's (docs/spec.md sections 2-8); crypto results are
cross-checked by ``cryptography`` inside the model, and the worked examples
(tests/test_spec_examples.py) pin the exact bytes.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from model.endpoint import Endpoint, SenderContext
from model.errors import Code, EespError
from model.header import Header, KeyOption, parse
from model.keytable import KeyTable, KeyType
from model.proxy import EgressContext, Proxy
from tb.malformed import OFFSET, RKID, key_table, malformed_frames, sealed_frame

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def sealed_frames(draw: st.DrawFn) -> tuple[Endpoint, bytes, int, bytes, SenderContext]:
    """A random key table, context and frame, and the frame sealed under it."""
    rkid = draw(st.binary(min_size=16, max_size=16) | st.binary(min_size=32, max_size=32))
    kt = key_table(rkid, tag=draw(st.integers(0, 3)))
    kind = draw(st.sampled_from([0, 1]))
    offset = draw(st.integers(0, 64))
    payload = draw(st.binary(min_size=0, max_size=300))
    ctx = SenderContext(
        group=0, kind=kind, ident=draw(st.binary(min_size=4 << kind, max_size=4 << kind)),
        epoch=draw(st.integers(0, 0xFFFF)), coffset=draw(st.integers(0, len(payload) // 4)),
        ioffset=draw(st.integers(0, offset // 4)), key_option=draw(st.booleans()))
    frame = draw(st.binary(min_size=offset, max_size=offset)) + payload
    ep = Endpoint(kt)
    return ep, frame, offset, ep.seal(frame, offset, ctx), ctx


@SETTINGS
@given(sealed_frames())
def test_open_seal_roundtrip(case) -> None:
    ep, frame, offset, sealed, ctx = case
    opened = ep.open(sealed, offset)
    assert opened.frame == frame
    h = opened.header
    assert (h.kind, h.ident, h.epoch, h.coffset, h.ioffset) == (ctx.kind, ctx.ident, ctx.epoch, ctx.coffset, ctx.ioffset)
    assert (h.option is not None) == ctx.key_option
    assert len(sealed) == len(frame) + 4 * h.hl + 16
    # outer bytes and clear words are in clear; the rest is not the plaintext
    hdr_end = offset + 4 * h.hl
    assert sealed[:offset] == frame[:offset]
    assert sealed[hdr_end : hdr_end + 4 * h.coffset] == frame[offset : offset + 4 * h.coffset]


@SETTINGS
@given(sealed_frames(), st.data())
def test_any_bit_flip_in_bound_bytes_is_refused(case, data: st.DataObject) -> None:
    ep, frame, offset, sealed, ctx = case
    start = offset - 4 * ctx.ioffset
    bit = data.draw(st.integers(8 * start, 8 * len(sealed) - 1))
    bad = bytearray(sealed)
    bad[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(EespError) as err:
        ep.open(bytes(bad), offset)
    hdr_end = offset + 4 * parse(sealed, offset).hl
    if not offset <= bit // 8 < hdr_end:
        assert err.value.code == Code.AUTH_FAIL  # prefix, clear words, ciphertext, ICV
    else:  # a header bit may break a structural rule first; it is never accepted
        assert err.value.code != Code.OK


@SETTINGS
@given(sealed_frames(), st.data())
def test_unbound_outer_bytes_are_not_authenticated(case, data: st.DataObject) -> None:
    ep, frame, offset, sealed, ctx = case
    start = offset - 4 * ctx.ioffset
    assume(start > 0)
    i = data.draw(st.integers(0, start - 1))
    bad = bytearray(sealed)
    bad[i] ^= 0xFF
    assert ep.open(bytes(bad), offset).frame[i] == frame[i] ^ 0xFF


@pytest.mark.parametrize(("name", "code", "frame", "ep"), malformed_frames(), ids=[c[0] for c in malformed_frames()])
def test_malformed_class_refused_with_its_code(name: str, code: Code, frame: bytes, ep: Endpoint) -> None:
    with pytest.raises(EespError) as err:
        ep.open(frame, OFFSET)
    assert err.value.code == code, f"{name}: {err.value}"


def test_every_receive_code_is_exercised() -> None:
    receive_codes = {Code.TRUNCATED, Code.BAD_VERSION, Code.BAD_ID_KIND, Code.BAD_RESERVED, Code.BAD_OPTION,
                     Code.BAD_HL, Code.BAD_IOFFSET, Code.BAD_COFFSET, Code.UNKNOWN_GROUP, Code.UNKNOWN_KEY,
                     Code.AUTH_FAIL}
    assert {c[1] for c in malformed_frames()} == receive_codes


# -- key table rotation -----------------------------------------------------------------

@pytest.mark.parametrize("ktype", list(KeyType))
def test_frame_sealed_under_old_current_opens_after_one_rotation(ktype: KeyType) -> None:
    ep, sealed = sealed_frame()
    ep.keys.rotate(0, ktype, os.urandom(32))
    assert ep.open(sealed, OFFSET).frame[OFFSET:] == bytes(40)
    ep.keys.rotate(0, ktype, os.urandom(32))
    with pytest.raises(EespError) as err:
        ep.open(sealed, OFFSET)
    assert err.value.code == Code.UNKNOWN_KEY


def test_sender_that_rotated_first_is_opened_with_the_next_key() -> None:
    rx = key_table(RKID)
    tx = KeyTable()
    tx.add_group(0, RKID)
    # the sender's table is the receiver's after one rotation of the user-group key:
    # copy by re-provisioning the same keys, done through the management API only
    keys = {t: [os.urandom(32) for _ in range(4)] for t in KeyType}
    for t in KeyType:
        rx.provision(0, t, *keys[t][:3], tag=1)
        tx.provision(0, t, *keys[t][:3], tag=1)
    tx.rotate(0, KeyType.USER, keys[KeyType.USER][3])
    sealed = Endpoint(tx).seal(bytes(8) + b"hello", 8, SenderContext(0, 0, b"\x01\x02\x03\x04", 1))
    assert parse(sealed, 8).option.tags == (1, 2, 1)
    assert Endpoint(rx).open(sealed, 8).frame == bytes(8) + b"hello"


def test_rotation_keeps_tags_distinct_and_cycles() -> None:
    kt = key_table(RKID, tag=3)
    seen = []
    for _ in range(6):
        seen.append(kt.sender_option(0).tags[0])
        kt.rotate(0, KeyType.ZONE, os.urandom(32))
    assert seen == [3, 0, 1, 2, 3, 0]


def test_key_table_refuses_bad_writes() -> None:
    kt = key_table(RKID)
    with pytest.raises(ValueError):
        kt.write_slot(0, KeyType.ZONE, 0, 1, os.urandom(32))  # tag 1 is in slot 1 already
    with pytest.raises(ValueError):
        kt.write_slot(0, KeyType.ZONE, 0, 0, os.urandom(16))
    with pytest.raises(ValueError):
        kt.add_group(1, RKID)  # Root Key ID names group 0 already
    with pytest.raises(ValueError):
        kt.add_group(1, bytes(20))


# -- sender counter ---------------------------------------------------------------------

def test_counter_increments_per_context_and_refuses_to_wrap() -> None:
    ep = Endpoint(key_table(RKID))
    a = SenderContext(0, 0, b"\x00\x00\x00\x01", 5)
    b = SenderContext(0, 0, b"\x00\x00\x00\x02", 5)
    assert [parse(ep.seal(b"x" * 4, 0, a), 0).counter for _ in range(3)] == [0, 1, 2]
    assert parse(ep.seal(b"x" * 4, 0, b), 0).counter == 0
    ep.counter(a)._next = (1 << 48) - 1  # jump to the last usable value
    assert parse(ep.seal(b"x" * 4, 0, a), 0).counter == (1 << 48) - 1
    for _ in range(2):
        with pytest.raises(EespError) as err:
            ep.seal(b"x" * 4, 0, a)
        assert err.value.code == Code.COUNTER_EXHAUSTED
    a_next_epoch = SenderContext(0, 0, b"\x00\x00\x00\x01", 6)
    assert parse(ep.seal(b"x" * 4, 0, a_next_epoch), 0).counter == 0


def test_seal_refuses_bad_requests_without_spending_a_counter() -> None:
    ep = Endpoint(key_table(RKID))
    ctx = SenderContext(0, 1, bytes(8), 1, coffset=2, ioffset=1)
    for frame, offset, code in [(bytes(3) + bytes(8), 3, Code.BAD_IOFFSET),   # IOffset 1 word, 3 octets before
                                (bytes(4) + bytes(7), 4, Code.BAD_COFFSET),   # COffset 2 words, 7 payload octets
                                (bytes(8), 9, Code.TRUNCATED)]:               # O past the frame's end
        with pytest.raises(EespError) as err:
            ep.seal(frame, offset, ctx)
        assert err.value.code == code
    no_default = Endpoint(key_table(RKID, default=False))
    for e, group, k in [(ep, 7, True), (no_default, 0, False)]:   # no group 7; K = 0 outside the default group
        with pytest.raises(EespError) as err:
            e.seal(bytes(8), 4, SenderContext(group, 0, bytes(4), 1, key_option=k))
        assert err.value.code == Code.UNKNOWN_GROUP
    assert ep.counter(ctx).next_value == 0
    with pytest.raises(ValueError):
        Header(2, bytes(4), 0, 0)
    with pytest.raises(ValueError):
        KeyOption(bytes(20), (0, 0, 0))


# -- proxy ------------------------------------------------------------------------------

def _proxy() -> tuple[Endpoint, Proxy, Endpoint, SenderContext]:
    a, b = key_table(RKID, group=2, default=False), key_table(bytes(range(32)), group=5, default=False)
    proxy = Proxy(a, b)
    proxy.mapping[2] = EgressContext(group=5, kind=0, ident=b"\x0b\x00\x00\x01", epoch=77)
    return Endpoint(a), proxy, Endpoint(b), SenderContext(2, 1, bytes(range(8)), 3, coffset=1, ioffset=1)


@SETTINGS
@given(payload=st.binary(min_size=4, max_size=200), offset=st.integers(4, 40))
def test_proxy_reencrypts_from_a_to_b(payload: bytes, offset: int) -> None:
    ep_a, proxy, ep_b, ctx = _proxy()
    frame = os.urandom(offset) + payload
    hop = proxy.reencrypt(ep_a.seal(frame, offset, ctx), offset)
    opened = ep_b.open(hop, offset)
    assert opened.frame == frame
    h = opened.header
    assert (h.kind, h.ident, h.epoch, h.coffset, h.ioffset) == (0, b"\x0b\x00\x00\x01", 77, 1, 1)
    assert h.option is not None and h.option.root_key_id == bytes(range(32))
    with pytest.raises(EespError):  # A's key does not open B's frame
        ep_a.open(hop, offset)


def test_proxy_fails_closed() -> None:
    ep_a, proxy, _, ctx = _proxy()
    sealed = ep_a.seal(bytes(8) + bytes(32), 8, ctx)
    bad = sealed[:-1] + bytes([sealed[-1] ^ 0x40])
    with pytest.raises(EespError) as err:
        proxy.reencrypt(bad, 8)
    assert err.value.code == Code.AUTH_FAIL
    egress = SenderContext(5, 0, b"\x0b\x00\x00\x01", 77)
    assert proxy.egress.counter(egress).next_value == 0, "a refused frame spends no egress counter"
    del proxy.mapping[2]
    with pytest.raises(EespError) as err:
        proxy.reencrypt(sealed, 8)
    assert err.value.code == Code.NO_MAPPING
    stranger = Endpoint(key_table(bytes(16), default=False))
    with pytest.raises(EespError) as err:
        proxy.reencrypt(stranger.seal(bytes(8) + bytes(8), 8, SenderContext(0, 0, bytes(4), 1)), 8)
    assert err.value.code == Code.UNKNOWN_GROUP


def test_proxy_egress_counter_exhaustion() -> None:
    ep_a, proxy, _, ctx = _proxy()
    proxy.egress.counter(SenderContext(5, 0, b"\x0b\x00\x00\x01", 77))._next = 1 << 48
    with pytest.raises(EespError) as err:
        proxy.reencrypt(ep_a.seal(bytes(8) + bytes(8), 8, ctx), 8)
    assert err.value.code == Code.COUNTER_EXHAUSTED


def test_refusals_survive_pickling() -> None:
    # a refusal raised in a worker process (make regress generates traffic in a pool)
    # comes back as the same code and detail
    import pickle

    e = pickle.loads(pickle.dumps(EespError(Code.UNKNOWN_KEY, "tag 3")))
    assert (e.code, e.detail, str(e)) == (Code.UNKNOWN_KEY, "tag 3", "UNKNOWN_KEY: tag 3")

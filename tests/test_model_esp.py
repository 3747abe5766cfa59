"""The golden model's Minimal ESP mode (docs/spec.md section 9, model/esp.py).

Expected values never come from model/esp.py itself:
* published ESP-GCM packets of draft-mcgrew-gcm-test-01 section 4 (the AES-256 cases);
* scapy's IPsec implementation (``scapy.layers.ipsec``), byte for byte when given the
  same IV, in tunnel and transport mode, IPv4 and IPv6, with and without ESN;
* frames recomputed here from the spec text with ``cryptography``'s AESGCM (also used to
  build frames the model would never send: bad padding, SN 0, foreign IVs);
* an anti-replay oracle written here from RFC 4303 section 3.4.3 and appendix A2.2 in a
  different form (a set of received SNs, and the A2.2 inference as "the SN congruent to
  the wire SN mod 2^32 in [T - W + 1, T - W + 2^32]").
"""

from __future__ import annotations

import os
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings, strategies as st

from model.errors import Code, EespError
from model.esp import SaTable, SecurityAssociation, aad
from tb.scapy_esp import MODES, as_esp_packet, layers, scenario

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
M32 = (1 << 32) - 1
KEY = bytes(range(0x40, 0x60))
SALT = bytes.fromhex("5a17c0de")
SPI = 0x0000_4321


# --------------------------------------------------------------------------- helpers


def ref_frame(outer: bytes, payload: bytes, nh: int, sn: int, *, esn: bool = False, spi: int = SPI,
              key: bytes = KEY, salt: bytes = SALT, padding: bytes | None = None,
              pad_len: int | None = None, iv: bytes | None = None, icv_xor: int = 0) -> bytes:
    """A protected frame built from spec 9.1/9.2 directly (IV = [SN]_64 unless given)."""
    if padding is None:
        padding = bytes(range(1, (-(len(payload) + 2)) % 4 + 1))
    if pad_len is None:
        pad_len = len(padding)
    if iv is None:
        iv = struct.pack("!Q", sn)
    aad = struct.pack("!III", spi, sn >> 32, sn & M32) if esn else struct.pack("!II", spi, sn)
    ct = AESGCM(key).encrypt(salt + iv, payload + padding + bytes([pad_len, nh]), aad)
    ct = ct[:-1] + bytes([ct[-1] ^ icv_xor])
    return outer + struct.pack("!II", spi, sn & M32) + iv + ct


def tx(sn: int = 1, esn: bool = False, spi: int = SPI, key: bytes = KEY) -> SecurityAssociation:
    return SecurityAssociation(spi, key, SALT, esn=esn, next_sn=sn)


def rx(esn: bool = False, spi: int = SPI, key: bytes = KEY, **kw) -> SecurityAssociation:
    return SecurityAssociation(spi, key, SALT, esn=esn, **kw)


#: an AES-256 and an AES-128 SA (RFC 4106 keying material of 36 and 20 octets)
KEYS = pytest.mark.parametrize("key", [KEY, KEY[:16]], ids=["aes256", "aes128"])


def code_of(fn, *args) -> Code:
    with pytest.raises(EespError) as ei:
        fn(*args)
    return ei.value.code


class Oracle:
    """RFC 4303 3.4.3 / A2.2 receiver, as a set of received SNs; predicts spec 9.3 steps 3-5."""

    def __init__(self, esn: bool, window: int, highest: int = 0) -> None:
        self.esn, self.w, self.t, self.seen = esn, window, highest, set()

    def infer(self, wire: int) -> int:
        bottom = self.t - self.w + 1
        return bottom + ((wire - bottom) % (1 << 32)) if self.esn else wire

    def expect(self, true_sn: int) -> Code:
        """Outcome of an authentic frame sealed with ``true_sn``; updates the state if accepted."""
        s = self.infer(true_sn & M32)
        if s <= 0 or s >= 1 << (64 if self.esn else 32) or s <= self.t - self.w:
            return Code.ESP_STALE
        if s in self.seen:
            return Code.ESP_REPLAY
        if s != true_sn:
            return Code.AUTH_FAIL
        self.seen.add(s)
        self.t = max(self.t, s)
        return Code.OK


def outcome(sa: SecurityAssociation, frame: bytes, offset: int = 0) -> Code:
    try:
        sa.open(frame, offset)
    except EespError as e:
        return e.code
    return Code.OK


# --------------------------------------------------------------------------- published vectors

# draft-mcgrew-gcm-test-01 ("Test Cases for the use of GCM and GMAC in IPsec ESP", McGrew,
# 2009), section 4: the cases with a 256-bit key. (keying material = key || salt, full SN,
# ESN, packet = SPI .. ICV, plaintext = payload || padding || Pad Length || Next Header.)
# The second case's plaintext is a bare 40-octet IP packet: read as ESP, its last two
# octets are Pad Length 0 and Next Header 1.
MCGREW = [
    ("abbccddef00112233445566778899aababbccddef00112233445566778899aab11223344", 2, False,
     "4a2cbfe3000000020102030405060708ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d"
     "65a5d763748a637985771d347f0545659f14e99def842d8eb335f4eecfdbf831824b4c4915956c96",
     "4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee0000000007002400020bf0000020405b4"
     "0101040201020201", "4a2cbfe300000002"),
    ("abbccddef00112233445566778899aababbccddef00112233445566778899aab73616c74",
     0x156F3126DD0DB99B, True,
     "17405e67dd0db99b616e640169766563f2d69ecdbd5a0d5b8d5ef38bad4da58d1f278fde98ef67549d524a30"
     "18d9a57ff4d3a31ce673119e451626c2415771e3b7eebca614c89b35",
     "45080028732c00004006e9f90a0106120a01038f06b88023dd6bafbecb71260250101f646d540001",
     "17405e67156f3126dd0db99b"),
    ("abbccddef00112233445566778899aababbccddef00112233445566778899aab73616c74",
     0x156F3126DD0DB99B, True,
     "17405e67dd0db99b616e640169766563d4b7ed86a1777f2ea13d6973d324c69e7b43f826fb56831226508beb"
     "d2dceb18d0a6df10e5487df074113e14c641024e3e6773d91a62ee429b043a10e3efe6b012a49363412364f8"
     "c0cac587f249e56b11e24f30e44ccc76",
     "636973636f0172756c657301746865016e6574776501646566696e6501746865746563686e6f6c6f676965730174"
     "68617477696c6c01646566696e65746f6d6f72726f7701020201", "17405e67156f3126dd0db99b"),
    ("6c6567616c697a656d6172696a75616e61616e64646f69746265666f726569617475726e",
     (1 << 64) - 1, True,
     "796b6963ffffffff333021696765746df97ab2aa356d8edce17644ac8c78e25dd24dedbb29ebf1b64a274b39"
     "b49c3a864cd3d78ca4ae68a32b42458fb57dbe821dcc63b9d0937ba2945f669368661a329fb4c053",
     "45000030da3a00008001df3bc0a80005c0a800010800c6cd020007006162636465666768696a6b6c6d6e6f70"
     "7172737401020201", "796b6963ffffffffffffffff"),
]


@pytest.mark.parametrize("keymat,sn,esn,packet,plaintext,aad_hex", MCGREW)
@pytest.mark.parametrize("outer", [b"", bytes(range(21))])
def test_published_esp_gcm_vectors(keymat, sn, esn, packet, plaintext, aad_hex, outer) -> None:
    packet, plain = bytes.fromhex(packet), bytes.fromhex(plaintext)
    spi = int.from_bytes(packet[:4], "big")
    assert aad(spi, sn, esn) == bytes.fromhex(aad_hex)
    sa = SecurityAssociation.from_keymat(spi, bytes.fromhex(keymat), esn=esn, rx_highest=sn - 1)
    got = sa.open(outer + packet, len(outer))
    assert got.frame == outer + plain[: len(plain) - 2 - plain[-2]]
    assert got.next_header == plain[-1]
    assert sa.replay_state == (sn, 1)
    # the same packet again is a replay; a fresh SA with one ICV bit flipped refuses it
    assert code_of(sa.open, outer + packet, len(outer)) == Code.ESP_REPLAY
    sa2 = SecurityAssociation.from_keymat(spi, bytes.fromhex(keymat), esn=esn, rx_highest=sn - 1)
    bad = outer + packet[:-1] + bytes([packet[-1] ^ 0x80])
    assert code_of(sa2.open, bad, len(outer)) == Code.AUTH_FAIL
    assert sa2.replay_state == (sn - 1, 0)


# --------------------------------------------------------------------------- seal / open


@st.composite
def sealing_cases(draw: st.DrawFn):
    esn = draw(st.booleans())
    limit = 1 << (64 if esn else 32)
    sn = draw(st.integers(1, 300) | st.integers(1, limit - 1) | st.integers(limit - 3, limit - 1)
              | (st.integers(1, limit >> 32).map(lambda h: (h << 32) - 2) if esn else st.just(1)))
    sn = min(max(sn, 1), limit - 1)
    window = draw(st.sampled_from([64, 65, 128, 1000]))
    # a receiver whose A2.2 inference lands on sn: T in [sn - 2^32 + W, sn + W - 1]
    lo = max(0, sn - (1 << 32) + window) if esn else 0
    highest = draw(st.integers(lo, min(sn + window - 1, limit - 1)) | st.just(max(lo, sn - 1)))
    offset = draw(st.integers(0, 64))
    frame = draw(st.binary(min_size=offset, max_size=offset)) + draw(st.binary(max_size=300))
    nh = draw(st.integers(0, 255).filter(lambda v: v != 59))
    return esn, sn, window, highest, offset, frame, nh


@SETTINGS
@given(sealing_cases())
def test_seal_is_spec_bytes_and_opens(case) -> None:
    esn, sn, window, highest, offset, frame, nh = case
    sender = tx(sn, esn)
    sealed = sender.seal(frame, offset, nh)
    assert sealed == ref_frame(frame[:offset], frame[offset:], nh, sn, esn=esn)
    assert (len(sealed) - offset - 8 - 8 - 16) % 4 == 0 and len(sealed) - len(frame) in range(34, 38)
    assert sender.next_sn == sn + 1
    receiver = rx(esn, window=window, rx_highest=highest)
    assert receiver.open(sealed, offset) == (frame, nh)
    assert receiver.replay_state[0] == max(highest, sn)
    table = SaTable()
    table.add(rx(esn, spi=SPI + 1))
    table.add(rx(esn, window=window, rx_highest=highest))
    assert table.open(sealed, offset) == (frame, nh)
    assert code_of(table.open, sealed, offset) == Code.ESP_REPLAY


def test_first_sn_is_one_and_increments() -> None:
    sa = SecurityAssociation(SPI, KEY, SALT)
    frames = [sa.seal(b"hdr" + bytes([i]) * i, 3, 17) for i in range(5)]
    assert [int.from_bytes(f[7:11], "big") for f in frames] == [1, 2, 3, 4, 5]
    assert [f[11:19] for f in frames] == [struct.pack("!Q", i) for i in range(1, 6)]
    assert frames[4] == ref_frame(b"hdr", b"\x04" * 4, 17, 5)


def test_table_dispatches_by_spi() -> None:
    keys = {spi: os.urandom(32) for spi in (256, 0x1000, M32)}
    table = SaTable()
    for spi, key in keys.items():
        table.add(SecurityAssociation(spi, key, SALT))
    assert len(table) == 3 and 256 in table
    for spi, key in keys.items():
        f = SecurityAssociation(spi, key, SALT).seal(b"xy" + b"payload", 2, 6)
        assert table.open(f, 2) == (b"xypayload", 6)
        assert table.lookup(spi).replay_state == (1, 1)


# --------------------------------------------------------------------------- tampering


@SETTINGS
@given(st.data())
def test_any_single_bit_flip_is_refused_and_window_kept(data) -> None:
    esn = data.draw(st.booleans())
    spi = data.draw(st.integers(256, 511) | st.integers(256, M32))
    start = data.draw(st.integers(1, 100) | st.integers(1, (1 << (64 if esn else 32)) - 200))
    window = data.draw(st.sampled_from([64, 200]))
    before = data.draw(st.integers(0, 4))
    offset = data.draw(st.integers(0, 40))
    frame = data.draw(st.binary(min_size=offset, max_size=offset + 80))
    sender = tx(start, esn, spi)
    receiver = rx(esn, spi, window=window, rx_highest=start - 1)
    table = SaTable()
    table.add(receiver)
    oracle = Oracle(esn, window, start - 1)
    for _ in range(before):
        table.open(sender.seal(frame, offset, 17), offset)
        assert oracle.expect(sender.next_sn - 1) == Code.OK
    sealed = sender.seal(frame, offset, 17)
    bit = data.draw(st.integers(0, 8 * len(sealed) - 1))
    bad = bytearray(sealed)
    bad[bit // 8] ^= 0x80 >> (bit % 8)
    bad = bytes(bad)
    state = receiver.replay_state
    pos = bit // 8
    if pos < offset:  # outer octets are neither read nor bound (spec 9.4)
        assert table.open(bad, offset) == (bad[:offset] + frame[offset:], 17)
        return
    got = outcome(table, bad, offset)
    if pos < offset + 4:
        flipped = int.from_bytes(bad[offset : offset + 4], "big")
        expected = Code.ESP_BAD_SPI if flipped < 256 else Code.ESP_UNKNOWN_SPI
    elif pos < offset + 8:
        saved = oracle.t, set(oracle.seen)
        s = oracle.infer(int.from_bytes(bad[offset + 4 : offset + 8], "big"))
        expected = oracle.expect(s)  # the flipped SN, then: ICV over the true SN fails
        if expected == Code.OK:
            expected = Code.AUTH_FAIL
        oracle.t, oracle.seen = saved
    else:
        expected = Code.AUTH_FAIL
    assert got == expected
    assert receiver.replay_state == state
    assert table.open(sealed, offset) == (frame, 17)


def test_replay_and_stale_checked_before_icv() -> None:
    sender, receiver = tx(), rx()
    f1 = sender.seal(b"", 0, 4)
    receiver.open(f1, 0)
    forged = f1[:-1] + bytes([f1[-1] ^ 1])
    assert code_of(receiver.open, forged, 0) == Code.ESP_REPLAY
    for _ in range(70):
        receiver.open(sender.seal(b"", 0, 4), 0)
    old = ref_frame(b"", b"", 4, 2, icv_xor=1)
    assert code_of(receiver.open, old, 0) == Code.ESP_STALE


# --------------------------------------------------------------------------- anti-replay


@pytest.mark.parametrize("window", [64, 65, 100, 1024])
def test_stale_edge_of_window(window: int) -> None:
    receiver = rx(window=window)
    receiver.open(ref_frame(b"", b"a", 4, window + 10), 0)
    assert code_of(receiver.open, ref_frame(b"", b"b", 4, 10), 0) == Code.ESP_STALE
    assert receiver.open(ref_frame(b"", b"c", 4, 11), 0) == (b"c", 4)  # T - W + 1: inside
    assert code_of(receiver.open, ref_frame(b"", b"c", 4, 11), 0) == Code.ESP_REPLAY
    assert receiver.replay_state == (window + 10, 1 | 1 << (window - 1))


def test_sn_zero_is_never_valid() -> None:
    for esn in (False, True):
        receiver = rx(esn)
        assert code_of(receiver.open, ref_frame(b"", b"z", 4, 0, esn=esn), 0) == Code.ESP_STALE
        assert receiver.replay_state == (0, 0)


def test_esn_frame_behind_window_is_read_as_next_subspace() -> None:
    """RFC 4303 A2.2: with ESN, a wire SN below the window is taken from the next subspace,
    so an old authentic frame fails the ICV instead of being stale."""
    receiver = rx(True)
    for sn in (5, 500):
        receiver.open(ref_frame(b"", b"", 4, sn, esn=True), 0)
    assert code_of(receiver.open, ref_frame(b"", b"", 4, 5, esn=True), 0) == Code.AUTH_FAIL
    assert receiver.replay_state == (500, 1)
    # and a frame that really is from the next subspace opens
    assert receiver.open(ref_frame(b"", b"n", 4, (1 << 32) + 5, esn=True), 0) == (b"n", 4)
    assert receiver.replay_state == ((1 << 32) + 5, 1)  # a jump past W forgets everything


@SETTINGS
@given(st.data())
def test_reordering_inside_window_accepted_once_each(data) -> None:
    esn = data.draw(st.booleans())
    window = data.draw(st.sampled_from([64, 100]))
    start = data.draw(st.sampled_from([1, (1 << 32) - 20, (7 << 32) - 3]) if esn else st.integers(1, 1000))
    n = data.draw(st.integers(1, window))
    sender = tx(start, esn)
    frames = [sender.seal(bytes([i % 256]) * (i % 9), 0, 17) for i in range(n)]
    order = data.draw(st.permutations(range(n)))
    receiver = rx(esn, window=window, rx_highest=start - 1)
    for i in order:
        assert receiver.open(frames[i], 0) == (bytes([i % 256]) * (i % 9), 17)
    for i in data.draw(st.lists(st.sampled_from(order), min_size=1, max_size=5)):
        assert code_of(receiver.open, frames[i], 0) == Code.ESP_REPLAY
    assert receiver.replay_state == (start + n - 1, (1 << n) - 1)


@SETTINGS
@given(st.data())
def test_window_against_rfc_oracle(data) -> None:
    esn = data.draw(st.booleans())
    window = data.draw(st.sampled_from([64, 65, 128]))
    base = data.draw(st.sampled_from([0, 1, 1 << 32, 5 << 32, (1 << 64) - 600]) if esn
                     else st.sampled_from([0, 1000, M32 - 400]))
    highest = base + data.draw(st.integers(0, 200))
    limit = 1 << (64 if esn else 32)
    # SNs relative to the current right edge T, with the window's edges and A2.2's case
    # boundaries (T - W + 1 and T - W + 2^32) drawn often
    edges = [-window - 1, -window, -window + 1, -window + 2, -1, 0, 1, 2, window - 1, window,
             (1 << 32) - window, (1 << 32) - window + 1, (1 << 32) - window + 2]
    deltas = st.sampled_from(edges) | st.integers(-3 * window, 3 * window) | st.integers(-(1 << 33), 1 << 33)
    receiver = rx(esn, window=window, rx_highest=highest)
    oracle = Oracle(esn, window, highest)
    for _ in range(data.draw(st.integers(0, 40))):
        sn = min(max(1, oracle.t + data.draw(deltas)), limit - 1)
        before = receiver.replay_state
        want = oracle.expect(sn)
        got = outcome(receiver, tx(sn, esn).seal(b"o" + sn.to_bytes(8, "big"), 1, 17), 1)
        assert got == want, (sn, hex(sn))
        if got != Code.OK:
            assert receiver.replay_state == before
        assert receiver.replay_state[0] == oracle.t


@pytest.mark.parametrize("esn,highest", [(False, 1000), (True, 1000), (True, (3 << 32) + 1000),
                                         (True, (3 << 32) + 10)])
def test_left_edge_of_window(esn: bool, highest: int) -> None:
    w = 64
    receiver = rx(esn, window=w, rx_highest=highest)
    left = highest - w + 1
    assert receiver.open(ref_frame(b"", b"L", 4, left, esn=esn), 0) == (b"L", 4)  # inside
    assert code_of(receiver.open, ref_frame(b"", b"L", 4, left, esn=esn), 0) == Code.ESP_REPLAY
    # one left of the window: stale, or with ESN read as the next subspace (A2.2)
    old = ref_frame(b"", b"", 4, left - 1, esn=esn)
    assert code_of(receiver.open, old, 0) == (Code.AUTH_FAIL if esn else Code.ESP_STALE)
    # an SN slid to the window's last bit is still remembered; one more slide drops it
    receiver.open(ref_frame(b"", b"", 4, highest - 3, esn=esn), 0)
    receiver.open(ref_frame(b"", b"", 4, highest - 3 + w - 1, esn=esn), 0)
    assert code_of(receiver.open, ref_frame(b"", b"", 4, highest - 3, esn=esn), 0) == Code.ESP_REPLAY
    receiver.open(ref_frame(b"", b"", 4, highest - 3 + w, esn=esn), 0)
    old = ref_frame(b"", b"", 4, highest - 3, esn=esn)
    assert code_of(receiver.open, old, 0) == (Code.AUTH_FAIL if esn else Code.ESP_STALE)


def test_esn_crossing_2_32() -> None:
    sender = tx((1 << 32) - 3, esn=True)
    frames = {sender.next_sn: sender.seal(b"outer", 5, 41) for _ in range(7)}
    for sn, f in frames.items():
        assert f == ref_frame(b"outer", b"", 41, sn, esn=True)
    assert [int.from_bytes(f[9:13], "big") for f in frames.values()] == [M32 - 2, M32 - 1, M32, 0, 1, 2, 3]
    receiver = rx(True, rx_highest=(1 << 32) - 5)
    order = [(1 << 32) + 1, (1 << 32) - 1, (1 << 32) - 3, 1 << 32, (1 << 32) + 3, (1 << 32) - 2, (1 << 32) + 2]
    for sn in order:
        assert receiver.open(frames[sn], 5) == (b"outer", 41)
    for sn in order:
        assert code_of(receiver.open, frames[sn], 5) == Code.ESP_REPLAY
    assert receiver.replay_state == ((1 << 32) + 3, 0x7F)


# --------------------------------------------------------------------------- trailer


@pytest.mark.parametrize("esn", [False, True])
def test_dummy_frame_is_verified_counted_and_not_output(esn: bool) -> None:
    sender, receiver = tx(7, esn), rx(esn, rx_highest=6)
    f = sender.seal(b"hdr" + b"tfc filler", 3, 59)
    assert f == ref_frame(b"hdr", b"tfc filler", 59, 7, esn=esn)
    assert code_of(receiver.open, f, 3) == Code.ESP_DUMMY
    assert receiver.replay_state == (7, 1)
    assert code_of(receiver.open, f, 3) == Code.ESP_REPLAY
    forged = f[:-1] + bytes([f[-1] ^ 4])
    assert code_of(rx(esn, rx_highest=6).open, forged, 3) == Code.AUTH_FAIL
    # padding is checked before Next Header (spec 9.3 steps 6, 7)
    bad = ref_frame(b"", b"d", 59, 7, esn=esn, padding=b"\x00")
    assert code_of(rx(esn, rx_highest=6).open, bad, 0) == Code.ESP_BAD_PAD


@SETTINGS
@given(payload=st.binary(max_size=60), padding=st.binary(max_size=20), nh=st.integers(0, 255).filter(lambda v: v != 59))
def test_padding_check(payload: bytes, padding: bytes, nh: int) -> None:
    f = ref_frame(b"ip", payload, nh, 9, padding=padding)
    good = padding == bytes(range(1, len(padding) + 1))
    strict, lax = rx(), rx(check_padding=False)
    if good:  # any length of 1, 2, ... padding is accepted, not only the minimal one
        assert strict.open(f, 2) == (b"ip" + payload, nh)
    else:
        assert code_of(strict.open, f, 2) == Code.ESP_BAD_PAD
        assert code_of(strict.open, f, 2) == Code.ESP_REPLAY  # it was authentic: counted
    assert lax.open(f, 2) == (b"ip" + payload, nh)


@pytest.mark.parametrize("check", [True, False])
@pytest.mark.parametrize("payload_len,pad_len", [(0, 1), (0, 255), (5, 6), (5, 200)])
def test_pad_length_beyond_plaintext(check: bool, payload_len: int, pad_len: int) -> None:
    f = ref_frame(b"", bytes(payload_len), 4, 3, padding=b"", pad_len=pad_len)
    receiver = rx(check_padding=check)
    assert code_of(receiver.open, f, 0) == Code.ESP_BAD_PAD
    assert receiver.replay_state == (3, 1)


def test_bad_padding_with_bad_icv_is_auth_fail() -> None:
    f = ref_frame(b"", b"abc", 4, 3, padding=b"\x07\x07", icv_xor=2)
    assert code_of(rx().open, f, 0) == Code.AUTH_FAIL


@pytest.mark.parametrize("n", range(9))
def test_minimal_padding_pattern(n: int) -> None:
    f = tx().seal(bytes(n), 0, 17)
    plain = AESGCM(KEY).decrypt(SALT + f[8:16], f[16:], f[:8])
    pad = (-(n + 2)) % 4
    assert plain == bytes(n) + bytes(range(1, pad + 1)) + bytes([pad, 17])


# --------------------------------------------------------------------------- sequence numbers


@pytest.mark.parametrize("esn", [False, True])
def test_sn_exhaustion(esn: bool) -> None:
    last = (1 << (64 if esn else 32)) - 1
    sender = tx(last, esn)
    f = sender.seal(b"x", 0, 17)
    assert f == ref_frame(b"", b"x", 17, last, esn=esn)
    assert f[4:16] == struct.pack("!IQ", M32, last)
    assert rx(esn, rx_highest=last - 1).open(f, 0) == (b"x", 17)
    for _ in range(2):
        assert code_of(sender.seal, b"y", 0, 17) == Code.ESP_SN_EXHAUSTED
        assert sender.next_sn == last + 1
    assert code_of(tx(last + 1, esn).seal, b"", 0, 4) == Code.ESP_SN_EXHAUSTED
    with pytest.raises(ValueError):
        tx(last + 2, esn)
    with pytest.raises(ValueError):
        tx(0, esn)


def test_non_esn_sender_cannot_start_past_2_32() -> None:
    with pytest.raises(ValueError):
        tx(1 << 32 | 1, esn=False)
    assert tx(1 << 32 | 1, esn=True).seal(b"", 0, 4)[4:8] == b"\x00\x00\x00\x01"


# --------------------------------------------------------------------------- SPI, SA table, truncation


@pytest.mark.parametrize("spi", [0, 1, 255, 1 << 32, -1])
def test_reserved_or_oversized_spi_refused_at_construction(spi: int) -> None:
    with pytest.raises(ValueError):
        SecurityAssociation(spi, KEY, SALT)


@pytest.mark.parametrize("kw", [dict(key=bytes(15)), dict(key=bytes(24)), dict(key=bytes(31)), dict(key=bytes(33)),
                                dict(salt=bytes(3)), dict(salt=bytes(5)), dict(window=63), dict(window=0)])
def test_bad_parameters_refused(kw) -> None:
    args = dict(spi=256, key=KEY, salt=SALT) | kw
    with pytest.raises(ValueError):
        SecurityAssociation(**args)


def test_keymat_is_key_then_salt() -> None:
    sa = SecurityAssociation.from_keymat(SPI, KEY + SALT)
    assert sa.seal(b"", 0, 4) == ref_frame(b"", b"", 4, 1)
    sa = SecurityAssociation.from_keymat(SPI, KEY[:16] + SALT)     # 20 octets: AES-128-GCM
    assert sa.seal(b"", 0, 4) == ref_frame(b"", b"", 4, 1, key=KEY[:16])
    for n in (19, 21, 28, 35, 37):
        with pytest.raises(ValueError, match="20 or 36"):
            SecurityAssociation.from_keymat(SPI, bytes(n))
    assert SecurityAssociation(256, KEY, SALT, window=64).spi == 256
    with pytest.raises(ValueError):
        SecurityAssociation.from_keymat(SPI, KEY + SALT[:3])


@pytest.mark.parametrize("spi", [0, 1, 255])
def test_reserved_spi_on_receive(spi: int) -> None:
    f = ref_frame(b"eth", b"p", 4, 1, spi=spi)
    table = SaTable()
    table.add(rx())
    assert code_of(table.open, f, 3) == Code.ESP_BAD_SPI
    assert code_of(table.lookup, spi) == Code.ESP_BAD_SPI
    assert code_of(rx().open, f, 3) == Code.ESP_BAD_SPI


def test_unknown_spi() -> None:
    table = SaTable()
    table.add(rx())
    f = ref_frame(b"", b"p", 4, 1, spi=SPI + 1)
    assert code_of(table.open, f, 0) == Code.ESP_UNKNOWN_SPI
    assert code_of(table.lookup, 256) == Code.ESP_UNKNOWN_SPI
    assert code_of(rx().open, f, 0) == Code.ESP_UNKNOWN_SPI
    ok = ref_frame(b"", b"p", 4, 1)
    assert table.open(ok, 0) == (b"p", 4)
    table.remove(SPI)
    assert code_of(table.open, ok, 0) == Code.ESP_UNKNOWN_SPI
    with pytest.raises(KeyError):
        table.remove(SPI)
    table.add(rx())
    with pytest.raises(ValueError):
        table.add(rx())


@pytest.mark.parametrize("offset", [0, 3, 14])
def test_truncated_frames(offset: int) -> None:
    table = SaTable()
    table.add(rx())
    good = ref_frame(bytes(offset), b"", 4, 1)
    assert len(good) == offset + 36  # 2 octets of padding make the minimum frame + 2
    for n in range(offset, offset + 34):
        for frame in (good[:n], bytes(n)):  # SPI 0 too: truncation is checked first
            assert code_of(table.open, frame, offset) == Code.ESP_TRUNCATED
            assert code_of(rx().open, frame, offset) == Code.ESP_TRUNCATED
    assert code_of(table.open, good[: offset + 34], offset) == Code.AUTH_FAIL  # long enough: goes on
    # an offset past the frame's end: truncated on both sides (spec 9.3 step 1, 9.5), not a crash
    for o in (len(good) + 1, len(good) + 40):
        assert code_of(table.open, good, o) == Code.ESP_TRUNCATED
        assert code_of(rx().open, good, o) == Code.ESP_TRUNCATED
    sender = tx(5, False)
    assert code_of(sender.seal, b"abc", 4, 4) == Code.ESP_TRUNCATED
    assert sender.next_sn == 5, "a refused frame spends no SN"
    with pytest.raises(ValueError):
        table.open(good, -1)


def test_smallest_valid_frame() -> None:
    """Empty payload with Pad Length 0 (not what a sender pads to, but RFC-valid)."""
    f = ref_frame(b"o", b"", 4, 1, padding=b"", pad_len=0)
    assert len(f) == 1 + 34
    assert rx().open(f, 1) == (b"o", 4)


# --------------------------------------------------------------------------- scapy interop


def _scapy():
    pytest.importorskip("scapy", reason="scapy (test extra) provides the independent ESP implementation")
    return layers()


SNS = [(False, 1), (False, 0x1234), (False, M32), (True, 1), (True, M32), (True, 1 << 32),
       (True, (5 << 32) + 77), (True, (1 << 64) - 1)]


@KEYS
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("esn,sn", SNS)
def test_scapy_interop(mode: str, esn: bool, sn: int, key: bytes) -> None:
    raw, IP, IPv6, UDP, TCP, ESP, ScapySA, Raw = _scapy()
    extra, pkt, frame, offset, nh = scenario(mode, b"interop payload " + sn.to_bytes(8, "big"))

    def scapy_sa():
        s = ScapySA(ESP, spi=SPI, crypt_algo="AES-GCM", crypt_key=key + SALT, esn_en=esn, **extra)
        s.seq_num, s.esn = sn & M32, sn >> 32
        return s

    ours = tx(sn, esn, key=key).seal(frame, offset, nh)
    assert ours[:offset] == frame[:offset]  # the engine never rewrites the outer octets
    # byte for byte when scapy is given our IV (= SN)
    theirs = raw(scapy_sa().encrypt(pkt, iv=struct.pack("!Q", sn)))
    assert theirs[offset:] == ours[offset:]
    # scapy opens ours
    opened = scapy_sa().decrypt(as_esp_packet(ours, offset))
    if mode.startswith("tunnel"):
        assert raw(opened) == raw(pkt)
    else:
        assert raw(opened) == frame
    # we open scapy's, with its own (random) IV
    theirs = raw(scapy_sa().encrypt(pkt))
    got = rx(esn, key=key, rx_highest=sn - 1).open(theirs, offset)
    assert got == (theirs[:offset] + frame[offset:], nh)
    # scapy refuses a frame of ours whose ICV was altered
    from scapy.layers.ipsec import IPSecIntegrityError
    with pytest.raises(IPSecIntegrityError):
        scapy_sa().decrypt(as_esp_packet(ours[:-1] + bytes([ours[-1] ^ 1]), offset))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mode=st.sampled_from(MODES), body=st.binary(max_size=300), esn=st.booleans(),
       sn=st.integers(1, M32) | st.integers(1, (1 << 64) - 1), key=st.sampled_from([KEY, KEY[:16]]))
def test_scapy_interop_random(mode: str, body: bytes, esn: bool, sn: int, key: bytes) -> None:
    raw, IP, IPv6, UDP, TCP, ESP, ScapySA, Raw = _scapy()
    sn = sn if esn else sn & M32 or 1
    extra, pkt, frame, offset, nh = scenario(mode, body)
    s = ScapySA(ESP, spi=SPI, crypt_algo="AES-GCM", crypt_key=key + SALT, esn_en=esn, **extra)
    s.seq_num, s.esn = sn & M32, sn >> 32
    ours = tx(sn, esn, key=key).seal(frame, offset, nh)
    assert raw(s.encrypt(pkt, iv=struct.pack("!Q", sn)))[offset:] == ours[offset:]
    assert rx(esn, key=key, rx_highest=sn - 1).open(ours, offset) == (frame, nh)

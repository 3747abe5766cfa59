"""The PSP profile of the golden model (docs/spec.md section 12) against Google's reference
outputs (``../shared/vectors/google-psp/``: skipped, saying so, where absent) and
``cryptography``; every refusal rule with its code."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from model.errors import Code, EespError
from model.kdf import psp_key
from model.psp import HEADER_LEN, PspKeys, PspSender, parse_header, psp_open
from tb import psp_vectors

# PSP Architecture Specification, "Examples of key derivation" (p. 7): K0 and K1
MK0 = bytes.fromhex("34448a064292601b11a0978f56a2d34cf3fc35ede1a6bc04f8db3e5243a2b0ca")
MK1 = bytes.fromhex("563952565d3a78ae773ec1b779f2f2d99f4a7f53a6fbb9b07d5b71f39364d739")

needs_vectors = pytest.mark.skipif(not psp_vectors.available(),
                                   reason=f"Google's PSP vectors are not at {psp_vectors.ROOT}")


def _cases():
    return psp_vectors.cases() if psp_vectors.available() else []


def _keys(case) -> PspKeys:
    return PspKeys(list(case.master_keys))


def code_of(fn, *args) -> Code:
    with pytest.raises(EespError) as e:
        fn(*args)
    return e.value.code


@needs_vectors
def test_manifest_has_22_outputs_and_2_error_cases() -> None:
    cases = _cases()
    assert len(cases) == 24
    assert sum(c.reference is not None for c in cases) == 22
    assert sorted(c.name for c in cases if c.reference is None) == [
        "v4_transport_crypt_off_128_err", "v6_tunnel_crypt_off_256_err"]


@needs_vectors
@pytest.mark.parametrize("case", [c for c in _cases() if c.reference is not None], ids=lambda c: c.name)
def test_seal_reproduces_google_reference_output(case) -> None:
    """From the PSP header to the end (the UDP header and the IP length fields before it
    belong to the frame stage, issue 16), byte for byte; the reference's IV is its
    counter's first value, 1."""
    sender = PspSender(case.spi, case.version, case.crypt_offset, bytes(8) if case.vc else None, next_iv=1)
    sealed = sender.seal(_keys(case), case.clear, case.offset, case.next_header)
    assert sealed[case.offset:] == case.reference[case.psp_at:]
    assert sealed[:case.offset] == case.clear[:case.offset]
    assert sender.next_iv == 2


@needs_vectors
@pytest.mark.parametrize("case", [c for c in _cases() if c.reference is not None], ids=lambda c: c.name)
def test_open_returns_the_cleartext_of_google_reference_output(case) -> None:
    opened = psp_open(_keys(case), case.reference, case.psp_at)
    assert opened.frame[case.psp_at:] == case.clear[case.offset:]
    assert opened.next_header == case.next_header
    # cross-check with cryptography directly: nonce SPI || IV, AAD header + crypt-offset octets
    p, co = case.psp_at, 4 * case.crypt_offset
    key = psp_key(case.master_keys[case.spi >> 31], case.spi, case.version)
    AESGCM(key).decrypt(case.reference[p + 4:p + 16], case.reference[p + 16 + co:], case.reference[p:p + 16 + co])


@needs_vectors
@pytest.mark.parametrize("case", [c for c in _cases() if c.reference is None], ids=lambda c: c.name)
def test_google_error_cases_are_refused(case) -> None:
    """The reference's ``-e``: the sibling output with the top R bit of octet 2 set after
    sealing. R is ignored on receive but authenticated: AUTH_FAIL."""
    (sibling,) = [c for c in _cases() if c.name == case.name.removesuffix("_err")]
    bad = bytearray(sibling.reference)
    bad[sibling.psp_at + 2] |= 0x80
    assert parse_header(bytes(bad), sibling.psp_at).reserved == 2
    assert code_of(psp_open, _keys(sibling), bytes(bad), sibling.psp_at) == Code.AUTH_FAIL


def _sealed(version=0, co=0, vc=None, spi=0x1234_5678, payload=b"payload of some length.." * 3):
    keys = PspKeys([MK0, MK1])
    frame = b"outer-octets" + payload
    return keys, PspSender(spi, version, co, vc).seal(keys, frame, 12, 17), frame


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("co", [0, 1, 2, 5])
@pytest.mark.parametrize("vc", [None, bytes(range(8))])
def test_seal_open_round_trip(version: int, co: int, vc) -> None:
    keys, sealed, frame = _sealed(version, co, vc)
    h = parse_header(sealed, 12)
    assert (h.version, h.crypt_offset, h.v, h.hdr_ext_len, h.iv, h.next_header) == (version, co, int(vc is not None),
                                                                                    1 + (vc is not None), 1, 17)
    assert len(sealed) == len(frame) + HEADER_LEN + (8 if vc else 0) + 16
    assert psp_open(keys, sealed, 12) == (frame, 17)
    # the clear octets: the crypt offset's octets after the IV are in clear
    assert sealed[12 + 16:12 + 16 + 4 * co] == ((vc or b"") + frame[12:])[:4 * co]


def _with(sealed: bytes, at: int, value: int) -> bytes:
    return sealed[:at] + bytes([value]) + sealed[at + 1:]


def test_each_header_rule_has_its_code() -> None:
    keys, sealed, _ = _sealed(co=1)
    o = 12
    assert code_of(psp_open, keys, sealed[:o + 31], o) == Code.PSP_TRUNCATED
    assert code_of(psp_open, keys, sealed, len(sealed) - 31) == Code.PSP_TRUNCATED
    for version in (2, 3, 15):
        assert code_of(psp_open, keys, _with(sealed, o + 3, (version << 2) | 1), o) == Code.PSP_BAD_VERSION
    assert code_of(psp_open, keys, _with(sealed, o + 3, sealed[o + 3] & 0xFE), o) == Code.PSP_BAD_HEADER
    assert code_of(psp_open, keys, _with(sealed, o + 1, 0), o) == Code.PSP_BAD_HEADER
    assert code_of(psp_open, keys, _with(sealed, o + 3, sealed[o + 3] | 2), o) == Code.PSP_BAD_HEADER  # V, ext 1
    zero_spi = sealed[:o + 4] + bytes([0x80, 0, 0, 0]) + sealed[o + 8:]
    assert code_of(psp_open, keys, zero_spi, o) == Code.PSP_BAD_SPI
    payload = len(sealed) - o - 32
    assert code_of(psp_open, keys, _with(sealed, o + 2, payload // 4 + 1), o) == Code.PSP_BAD_OFFSET
    assert code_of(psp_open, keys, _with(sealed, o + 1, payload // 8 + 2), o) == Code.PSP_BAD_OFFSET
    # in bounds but altered: the ICV fails (the crypt offset is authenticated)
    assert code_of(psp_open, keys, _with(sealed, o + 2, 2), o) == Code.AUTH_FAIL
    assert code_of(psp_open, keys, _with(sealed, o + 3, sealed[o + 3] | 0x80), o) == Code.AUTH_FAIL  # S bit
    assert code_of(psp_open, keys, _with(sealed, len(sealed) - 1, sealed[-1] ^ 1), o) == Code.AUTH_FAIL
    # the outer octets are not authenticated
    assert psp_open(keys, b"X" + sealed[1:], o).frame[:1] == b"X"


def test_exactly_header_and_icv_is_an_empty_payload() -> None:
    keys = PspKeys([MK0, MK1])
    sealed = PspSender(0x42, 1).seal(keys, b"", 0, 59)
    assert len(sealed) == 32 and psp_open(keys, sealed, 0) == (b"", 59)
    assert code_of(PspSender(0x42, 1, crypt_offset=1).seal, keys, b"abc", 0, 59) == Code.PSP_BAD_OFFSET
    assert code_of(PspSender(0x42).seal, keys, b"abc", 4, 59) == Code.PSP_TRUNCATED


def test_rotation_keeps_the_old_phase_until_the_second() -> None:
    old, new, newer = bytes(range(32)), bytes(range(1, 33)), bytes(range(2, 34))
    keys = PspKeys([old, None])                     # phase 0 in use
    frame = b"hdr" + b"data" * 5
    a = PspSender(0x0000_0101).seal(keys, frame, 3, 6)
    assert code_of(PspSender(0x8000_0101).seal, keys, frame, 3, 6) == Code.UNKNOWN_KEY
    keys.rotate(new)                                # new key in phase 1, now in use
    assert keys.phase == 1
    b = PspSender(0x8000_0101).seal(keys, frame, 3, 6)
    assert psp_open(keys, a, 3).frame == frame      # old SPIs still open
    assert psp_open(keys, b, 3).frame == frame
    keys.rotate(newer)                              # overwrites phase 0
    assert code_of(psp_open, keys, a, 3) == Code.AUTH_FAIL
    assert psp_open(keys, b, 3).frame == frame


def test_iv_counter_never_repeats_and_ends() -> None:
    keys = PspKeys([MK0, MK1])
    sender = PspSender(0x77, 0, next_iv=(1 << 64) - 2)
    ivs = [parse_header(sender.seal(keys, b"x" * 8, 0, 17), 0).iv for _ in range(2)]
    assert ivs == [(1 << 64) - 2, (1 << 64) - 1]
    assert code_of(sender.seal, keys, b"x" * 8, 0, 17) == Code.COUNTER_EXHAUSTED
    refused = PspSender(0x77, 0, crypt_offset=9)
    code_of(refused.seal, keys, b"short", 0, 17)
    assert refused.next_iv == 1, "a refused frame spends no IV"


@pytest.mark.parametrize("kw", [dict(spi=0), dict(spi=0x8000_0000), dict(spi=1 << 32), dict(spi=5, version=2),
                                dict(spi=5, crypt_offset=64), dict(spi=5, vc=bytes(7)), dict(spi=5, next_iv=0)])
def test_bad_sender_parameters_refused(kw) -> None:
    with pytest.raises(ValueError):
        PspSender(**kw)


@pytest.mark.parametrize("nh,offset", [(256, 0), (-1, 0), (17, -1)])
def test_bad_seal_requests_refused(nh: int, offset: int) -> None:
    with pytest.raises(ValueError):
        PspSender(5).seal(PspKeys([MK0, MK1]), b"frame", offset, nh)

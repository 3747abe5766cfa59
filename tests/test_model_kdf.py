"""The model's KDF against published vectors (docs/spec.md section 5).

* NIST SP 800-108 CAVP, counter mode, PRF CMAC_AES256, counter before the fixed input,
  r = 8 and r = 32 (file ``KDF/nist-800-108-KBKDF-CTR.txt`` of ``cryptography-vectors``);
* Google PSP Architecture Specification, p. 7, "Examples of key derivation": the same
  KDF code with PSP's label and context gives the published keys;
* the spec's claim that the data key is ``KBKDFCMAC(label, context, llen=2)``.
"""

from __future__ import annotations

import os
import re

import pytest
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC
from cryptography.hazmat.primitives.kdf.kbkdf import CounterLocation, KBKDFCMAC, Mode
from hypothesis import given, strategies as st

from model.kdf import cmac_subkey, data_key, fixed_input, kbkdf_cmac, master_key, psp_key

cryptography_vectors = pytest.importorskip("cryptography_vectors")


def _kbkdf_records(prf: str, location: str, rlen_bits: int) -> list[dict[str, str]]:
    """Records of one [PRF][CTRLOCATION][RLEN] section of the CAVP file."""
    with cryptography_vectors.open_vector_file(os.path.join("KDF", "nist-800-108-KBKDF-CTR.txt"), "r") as f:
        text = f.read()
    header = f"[PRF={prf}]\n[CTRLOCATION={location}]\n[RLEN={rlen_bits}_BITS]\n"
    start = text.index(header) + len(header)
    end = text.find("[PRF=", start)
    section = text[start : end if end >= 0 else len(text)]
    records = []
    for block in section.strip().split("\n\n"):
        rec = dict(re.findall(r"^(\w+)\s*=\s*(\S+)$", block, re.M))
        if "KO" in rec:
            records.append(rec)
    return records


@pytest.mark.parametrize("rlen_bits", [8, 32])
def test_nist_kbkdf_ctr_cmac_aes256(rlen_bits: int) -> None:
    records = _kbkdf_records("CMAC_AES256", "BEFORE_FIXED", rlen_bits)
    assert len(records) == 40, "the CAVP section has 40 records"
    for rec in records:
        out = kbkdf_cmac(bytes.fromhex(rec["KI"]), bytes.fromhex(rec["FixedInputData"]),
                         int(rec["L"]) // 8, rlen=rlen_bits // 8)
        assert out.hex() == rec["KO"], f"COUNT={rec['COUNT']}"


# PSP Architecture Specification (google/psp, doc/PSP_Arch_Spec.pdf), page 7.
PSP_K0 = bytes.fromhex("34448a064292601b11a0978f56a2d34cf3fc35ede1a6bc04f8db3e5243a2b0ca")
PSP_K1 = bytes.fromhex("563952565d3a78ae773ec1b779f2f2d99f4a7f53a6fbb9b07d5b71f39364d739")


@pytest.mark.parametrize(("master", "spi", "version", "expected"), [
    (PSP_K0, 0x12345678, 0, "96c22dc799198090b74b70ae468e4e30"),
    (PSP_K1, 0x9A345678, 0, "3946da2554eae46ad1ef77a64372edc4"),
    (PSP_K0, 0x12345678, 1, "2b7d72074e42ca334487f2990e3f8c4037e436f38283449b76463e9b7fb2e3de"),
])
def test_psp_spec_example_keys(master: bytes, spi: int, version: int, expected: str) -> None:
    assert psp_key(master, spi, version).hex() == expected


def test_psp_keys_match_shared_cfg() -> None:
    """The PSP vectors' cfg files carry the same two master keys as the spec's example."""
    cfg = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "vectors", "google-psp", "cfg",
                       "encrypt_transport_crypt_off_128.cfg")
    if not os.path.exists(cfg):
        pytest.skip("../shared/vectors/google-psp is not present in this checkout")
    lines = open(cfg).read().splitlines()
    assert bytes.fromhex(lines[0]) == PSP_K0 and bytes.fromhex(lines[1]) == PSP_K1


@given(mk=st.binary(min_size=32, max_size=32), kind=st.sampled_from([0, 1]), data=st.data(),
       epoch=st.integers(0, 0xFFFF))
def test_data_key_is_kbkdf_with_label_and_context(mk: bytes, kind: int, data: st.DataObject, epoch: int) -> None:
    """Spec 5: DK = KBKDFCMAC(label "E0"/"E1", context ID8 || epoch, r = 8, llen = 16), and
    each half is one CMAC of the one-block fixed input."""
    ident = data.draw(st.binary(min_size=4 * (kind + 1), max_size=4 * (kind + 1)))
    id8 = bytes(8 - len(ident)) + ident
    ref = KBKDFCMAC(algorithm=algorithms.AES, mode=Mode.CounterMode, length=32, rlen=1, llen=2,
                    location=CounterLocation.BeforeFixed, label=b"E%d" % kind,
                    context=id8 + epoch.to_bytes(2, "big"), fixed=None).derive(mk)
    assert data_key(mk, kind, ident, epoch) == ref
    halves = []
    for i in (1, 2):
        c = CMAC(algorithms.AES(mk))
        c.update(bytes([i]) + fixed_input(kind, ident, epoch))
        halves.append(c.finalize())
    assert b"".join(halves) == ref


def test_nist_cmac_subkey() -> None:
    """NIST SP 800-38B appendix D.3 (AES-256 example): Subkey K1 = cad1ed03 299eedac 2e9a9980 8621502f."""
    key = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
    assert cmac_subkey(key).hex() == "cad1ed03299eedac2e9a99808621502f"


def test_master_key_is_xor_and_refuses_short_keys() -> None:
    a, b, c = os.urandom(32), os.urandom(32), os.urandom(32)
    mk = master_key(a, b, c)
    assert int.from_bytes(mk, "big") == int.from_bytes(a, "big") ^ int.from_bytes(b, "big") ^ int.from_bytes(c, "big")
    with pytest.raises(ValueError):
        master_key(a, b, c[:16])
    with pytest.raises(ValueError):
        fixed_input(2, bytes(4), 0)
    with pytest.raises(ValueError):
        fixed_input(0, bytes(8), 0)

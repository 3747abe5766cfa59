"""docs/spec.md section 12, byte for byte.

Two independent checks:
1. every value of each worked example is recomputed here from the spec's rules with the
   ``cryptography`` primitives (CMAC, AES-ECB, AESGCM), reading header fields by their bit
   positions in spec section 2.1 — no model code is used for that;
2. the golden model reproduces section 12 exactly (``python -m model.demo --markdown``).
"""

from __future__ import annotations

import pathlib
import re

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.cmac import CMAC

from model.demo import INT_FIELDS, examples, render_markdown

SPEC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "spec.md"


def _section_12() -> str:
    text = SPEC.read_text()
    start = text.index("### 12.1")
    return text[start:text.index("\n## 13.", start)]


def _spec_examples() -> list[dict[str, bytes | int]]:
    out = []
    for block in re.findall(r"```text\n(.*?)```", _section_12(), re.S):
        rec: dict[str, bytes | int] = {}
        for name, value in re.findall(r"^(\w+)\s*=\s*(\S+)$", block, re.M):
            rec[name] = int(value) if name in INT_FIELDS else bytes.fromhex(value)
        out.append(rec)
    return out


EXAMPLES = _spec_examples()


def _cmac(key: bytes, msg: bytes) -> bytes:
    c = CMAC(algorithms.AES(key))
    c.update(msg)
    return c.finalize()


def _fields(header: bytes) -> dict[str, int | bytes]:
    """Header fields by their positions in spec 2.1."""
    w0 = int.from_bytes(header[:4], "big")
    kind = w0 >> 22 & 3
    idlen = 4 if kind == 0 else 8
    k = w0 >> 21 & 1
    at = 4 + idlen + (header[4 + idlen + 1] if k else 0)
    return {"hl": w0 >> 24 & 0xF, "kind": kind, "k": k, "coffset": w0 >> 8 & 0xFF, "ioffset": w0 & 0xFF,
            "id8": bytes(8 - idlen) + header[4 : 4 + idlen], "epoch": header[at : at + 2],
            "counter": header[at + 2 : at + 8]}


EESP = [ex for ex in EXAMPLES if "data_key" in ex]
ESP = [ex for ex in EXAMPLES if "spi" in ex]


def test_spec_has_four_examples() -> None:
    assert len(EXAMPLES) == 4 and len(EESP) == 3 and len(ESP) == 1
    assert all("frame_out" in ex for ex in EXAMPLES)


def _header_from_inputs(ex: dict) -> bytes:
    """The security header built from the example's listed inputs by spec 2.1 alone."""
    idlen = 4 << ex["id_kind"]
    assert len(ex["id"]) == idlen
    option = b""
    if ex["key_option"]:
        rkid = ex["root_key_id"]
        option = bytes([1, 4 + len(rkid), ex["root_key_index"][0], 0]) + rkid
    hl = (4 + idlen + len(option) + 8) // 4
    word0 = 1 << 28 | hl << 24 | ex["id_kind"] << 22 | ex["key_option"] << 21 | ex["coffset"] << 8 | ex["ioffset"]
    return word0.to_bytes(4, "big") + ex["id"] + option + ex["epoch"] + ex["counter"]


@pytest.mark.parametrize("ex", EESP, ids=["device_id", "connection_id_option", "proxy_hop"])
def test_example_header_is_its_inputs(ex: dict) -> None:
    assert _header_from_inputs(ex) == ex["header"]


@pytest.mark.parametrize("ex", EESP, ids=["device_id", "connection_id_option", "proxy_hop"])
def test_example_recomputed_from_primitives(ex: dict) -> None:
    mk = bytes(a ^ b ^ c for a, b, c in zip(ex["root_key_zone"], ex["root_key_user"], ex["root_key_task"]))
    assert mk == ex["master_key"]
    f = _fields(ex["header"])
    label = b"E0" if f["kind"] == 0 else b"E1"
    for i in (1, 2):
        assert ex[f"kdf_block_{i}"] == bytes([i]) + label + b"\x00" + f["id8"] + f["epoch"] + b"\x01\x00"
        # one-block CMAC = AES(MK, M xor K1): checks the listed subkey against the CMAC itself
        m = bytes(a ^ b for a, b in zip(ex[f"kdf_block_{i}"], ex["cmac_k1"]))
        enc = Cipher(algorithms.AES(mk), modes.ECB()).encryptor()
        assert enc.update(m) + enc.finalize() == _cmac(mk, ex[f"kdf_block_{i}"])
    dk = _cmac(mk, ex["kdf_block_1"]) + _cmac(mk, ex["kdf_block_2"])
    assert dk == ex["data_key"]
    assert ex["nonce"] == f["id8"][4:] + f["epoch"] + f["counter"]
    assert 4 * f["hl"] == len(ex["header"])

    o = ex["header_offset"]
    out = ex["frame_out"]
    clear = 4 * f["coffset"]
    hdr_end = o + 4 * f["hl"]
    assert out[o:hdr_end] == ex["header"]
    assert ex["aad"] == out[o - 4 * f["ioffset"] : hdr_end + clear]
    assert out[-16:] == ex["icv"] and out[hdr_end + clear : -16] == ex["ciphertext"]

    if "ingress_data_key" in ex:  # proxy hop: open the ingress frame with A's key first
        fin = ex["frame_in"]
        fa = _fields(fin[o : o + 4 * (fin[o] & 0xF)])
        a_end = o + 4 * (fin[o] & 0xF)
        aad_a = fin[o - 4 * fa["ioffset"] : a_end + 4 * fa["coffset"]]
        inner = fin[a_end : a_end + 4 * fa["coffset"]] + AESGCM(ex["ingress_data_key"]).decrypt(
            fa["id8"][4:] + fa["epoch"] + fa["counter"], fin[a_end + 4 * fa["coffset"] :], aad_a)
        assert (f["coffset"], f["ioffset"]) == (fa["coffset"], fa["ioffset"]), "proxy copies the offsets"
        assert f["k"] == 1, "proxy egress always carries B's Master Key Option"
        outer = fin[:o]
    else:
        outer, inner = ex["frame_in"][:o], ex["frame_in"][o:]
    sealed = AESGCM(dk).encrypt(ex["nonce"], inner[clear:], ex["aad"])
    assert out == outer + ex["header"] + inner[:clear] + sealed


@pytest.mark.parametrize("ex", ESP, ids=["esp_esn"])
def test_esp_example_recomputed_from_primitives(ex: dict) -> None:
    """RFC 4303 / RFC 4106 from the listed inputs: IV = [SN]_64, nonce = salt || IV, AAD with
    ESN = SPI || SN_high || SN_low, minimal padding 1, 2, ..., and the frame layout of 9.1."""
    o, sn, fin = ex["header_offset"], ex["sn"], ex["frame_in"]
    payload = fin[o:]
    padlen = (-(len(payload) + 2)) % 4
    assert ex["plaintext"] == payload + bytes(range(1, padlen + 1)) + bytes([padlen, ex["next_header"]])
    assert ex["iv"] == sn.to_bytes(8, "big") and ex["nonce"] == ex["salt"] + ex["iv"]
    assert ex["esn"] == 1 and ex["aad"] == ex["spi"] + (sn >> 32).to_bytes(4, "big") + (sn & 0xFFFFFFFF).to_bytes(4, "big")
    sealed = AESGCM(ex["key"]).encrypt(ex["nonce"], ex["plaintext"], ex["aad"])
    assert sealed == ex["ciphertext"] + ex["icv"]
    wire_sn = (sn & 0xFFFFFFFF).to_bytes(4, "big")
    assert ex["frame_out"] == fin[:o] + ex["spi"] + wire_sn + ex["iv"] + sealed


def test_model_reproduces_section_12() -> None:
    assert render_markdown(examples()).strip() == _section_12().strip()

"""cocotb checks of hw.kdf: Cmac2 against SP 800-38B, KdfEngine against the golden model,
and the hash key H = AES(DK, 0) both return.

Expected values: NIST SP 800-38B AES-256 example (cryptography-vectors
``CMAC/nist-800-38b-aes256.txt``, the one-block record), ``cryptography``'s CMAC and
AES (ECB of the zero block: GCM's H, SP 800-38D 6.4), and ``model.kdf.data_key``
(itself checked against NIST SP 800-108 and PSP vectors).

Environment: ``KDF_TOP`` (cmac2 / kdf), ``KDF_N`` requests, ``KDF_KEYS`` the Cmac2
build's key sizes ("256" or "128,256": requests then pick ``k128`` at random).
"""

import os
import random

import cocotb
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC

from hw.kdf import Cmac2, KdfEngine
from model.kdf import data_key
from tb.golden import hash_key
from tb.stream import pack, start_bench, unpack

N = int(os.environ.get("KDF_N", "200"))
TAG_WIDTH = int(os.environ.get("KDF_TAG_WIDTH", "8"))
SIZES = tuple(int(s) for s in os.environ.get("KDF_KEYS", "256").split(","))


def _cmac(key: bytes, msg: bytes) -> int:
    c = CMAC(algorithms.AES(key))
    c.update(msg)
    return int.from_bytes(c.finalize(), "big")


@cocotb.test(skip=os.environ.get("KDF_TOP") != "cmac2")
async def cmac2_nist_and_random(dut):
    """SP 800-38B example, AES-256, Mlen = 128: T = 28a7023f452e8f82bd4bf28d8c37c35c; then
    random requests, each with H of its derived key (AES-128 under T1 when ``k128``)."""
    top = Cmac2(TAG_WIDTH, key_sizes=SIZES)
    src, sink, _ = await start_bench(dut, idle=0.3, stall=0.3, seed=3)
    nist_key = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
    nist_msg = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
    rng = random.Random(7)
    two = 128 in SIZES
    reqs = [(nist_key, nist_msg, rng.randbytes(16), 0)]
    reqs += [(rng.randbytes(32), rng.randbytes(16), rng.randbytes(16), two and rng.randrange(2))
             for _ in range(N // 4)]
    payloads = [pack(top.req_layout, key=int.from_bytes(k, "big"), m1=int.from_bytes(a, "big"),
                     m2=int.from_bytes(b, "big"), tag=n % (1 << TAG_WIDTH), **({"k128": k128} if two else {}))
                for n, (k, a, b, k128) in enumerate(reqs)]
    cocotb.start_soon(src.send(payloads))
    got = [unpack(top.res_layout, v) for v in await sink.wait_for(len(reqs), 200 * len(reqs) + 500)]
    assert got[0]["t1"] == 0x28A7023F452E8F82BD4BF28D8C37C35C
    assert not two or {k128 for *_, k128 in reqs} == {0, 1}, "both key sizes"
    for n, ((k, a, b, k128), r) in enumerate(zip(reqs, got)):
        assert r["tag"] == n % (1 << TAG_WIDTH), f"request {n}: out of order"
        t1, t2 = _cmac(k, a), _cmac(k, b)
        assert (r["t1"], r["t2"]) == (t1, t2), f"request {n}"
        dk = t1.to_bytes(16, "big") + (b"" if k128 else t2.to_bytes(16, "big"))
        assert r["h"] == hash_key(dk), f"request {n}: H of its {len(dk) * 8}-bit key"


def _kdf_requests(rng: random.Random, n: int):
    reqs = []
    for _ in range(n):
        kind = rng.randrange(2)
        ident = rng.randbytes(4 << kind)
        reqs.append((rng.randbytes(32), kind, ident, rng.randrange(1 << 16)))
    return reqs


def _kdf_payloads(top: KdfEngine, reqs):
    layout = top.i.payload.shape()
    out = []
    for n, (mk, kind, ident, epoch) in enumerate(reqs):
        # a DeviceID's upper 32 ident bits are "ignored": drive garbage there to prove it
        junk = random.Random(n).getrandbits(32) << 32 if kind == 0 else 0
        out.append(pack(layout, mk=int.from_bytes(mk, "big"), kind=kind, ident=int.from_bytes(ident, "big") | junk,
                        epoch=epoch, tag=n % (1 << TAG_WIDTH)))
    return out


async def _kdf_run(dut, idle: float, stall: float, seed: int, cycles_per_request: int):
    """N random requests against the golden model, in order; returns the source and sink."""
    top = KdfEngine(TAG_WIDTH)
    src, sink, _ = await start_bench(dut, idle=idle, stall=stall, seed=seed)
    reqs = _kdf_requests(random.Random(seed + 2), N)
    cocotb.start_soon(src.send(_kdf_payloads(top, reqs)))
    got = [unpack(top.o.payload.shape(), v) for v in await sink.wait_for(N, cycles_per_request * N + 500)]
    for n, ((mk, kind, ident, epoch), r) in enumerate(zip(reqs, got)):
        assert r["tag"] == n % (1 << TAG_WIDTH), f"request {n}: out of order"
        dk = data_key(mk, kind, ident, epoch)
        assert r["dk"].to_bytes(32, "big") == dk, f"request {n}"
        assert r["h"] == hash_key(dk), f"request {n}: H"
    return src, sink


@cocotb.test(skip=os.environ.get("KDF_TOP") != "kdf")
async def kdf_matches_model_with_idle_and_backpressure(dut):
    await _kdf_run(dut, idle=0.3, stall=0.4, seed=11, cycles_per_request=200)


@cocotb.test(skip=os.environ.get("KDF_TOP") != "kdf")
async def kdf_rate_back_to_back(dut):
    """One new data key (and its H) every 4 cycles with no idle and no backpressure
    (spec section 10: four AES slots a key)."""
    src, sink = await _kdf_run(dut, idle=0.0, stall=0.0, seed=13, cycles_per_request=10)
    latency = sink.times[0] - src.times[0]
    per_key = (sink.times[-1] - sink.times[0]) / (N - 1)
    dut._log.info(f"KDF: {N} keys, latency {latency} cycles, {per_key:.3f} cycles/key sustained")
    assert per_key <= 4.0 + 1e-9, f"{per_key:.3f} cycles per key"
    with open(os.environ.get("KDF_RESULTS", os.devnull), "w") as f:
        f.write(f"kdf_keys={N}\nkdf_cycles_per_key={per_key:.3f}\nkdf_latency_cycles={latency}\n")

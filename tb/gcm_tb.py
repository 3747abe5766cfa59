"""cocotb checks of hw.gcm.Gcm against NIST CAVP GCM records and ``cryptography``.

Expected values: ``gcmEncryptExtIV{128,256}.rsp`` / ``gcmDecrypt{128,256}.rsp`` of the
``cryptography-vectors`` package (every 96-bit-IV, 128-bit-tag record; FAIL records must
fail), ``cryptography``'s AESGCM for random packets, and its AES-CTR (counter block
``nonce || 00000002``, SP 800-38D's GCTR) for the plaintext a decrypt releases before a
failing tag is known. Nothing is computed by the code under test.

Environment: ``GCM_N`` random packets; ``GCM_RESULTS`` a file for the benchmark;
``GCM_KEYS`` the build's key sizes ("256" or "128,256"): with AES-128 the NIST records
of both sizes run mixed, and random packets pick their key size; ``GCM_NIST_STEP`` k and
``GCM_NIST_FIRST`` f: records f, f + k, f + 2k, ... of each file (FAIL records among
them), default all; ``GCM_H_IN_CTX`` 1: the build takes H with the context (the bench
gives ``cryptography``'s AES(K, 0^128)).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import cocotb
from cocotb.triggers import RisingEdge
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hw.gcm import EXTRA_CYCLES, LATENCY, Kind, beat_layout, ctx_layout, out_layout
from tb.golden import hash_key
from tb.nist import load_rsp
from tb.stream import Source, pack, start_bench, unpack

N = int(os.environ.get("GCM_N", "40"))
SIZES = tuple(int(s) for s in os.environ.get("GCM_KEYS", "256").split(","))
NIST_STEP = int(os.environ.get("GCM_NIST_STEP", "1"))
NIST_FIRST = int(os.environ.get("GCM_NIST_FIRST", "0"))
BENCH_PACKETS = int(os.environ.get("GCM_BENCH_PACKETS", "24"))
H_IN_CTX = os.environ.get("GCM_H_IN_CTX") == "1"
CTX = ctx_layout(SIZES, H_IN_CTX)
SIDE = 8
IN = beat_layout(SIDE)
OUT = out_layout(SIDE)
IN_USER = IN["user"].shape
OUT_USER = OUT["user"].shape
FULL = 0xFFFF


@dataclass
class Packet:
    """One packet and what the engine must make of it."""
    key: bytes
    nonce: bytes
    aad: bytes
    text: bytes                 # plaintext (encrypt) or ciphertext (decrypt)
    decrypt: bool
    outer: bytes = b""          # PASS octets before the AAD (not authenticated)
    tag: bytes = b""            # received tag (decrypt)
    out_text: bytes = b""       # expected ciphertext / released plaintext
    out_tag: bytes = b""        # expected tag (encrypt)
    tag_ok: bool = True         # expected verdict (decrypt)


def sealed(key, nonce, aad, pt) -> Packet:
    out = AESGCM(key).encrypt(nonce, pt, aad)
    return Packet(key, nonce, aad, pt, False, out_text=out[:-16], out_tag=out[-16:])


def ctr_decrypt(key, nonce, ct) -> bytes:
    """GCTR from inc32(J0) = nonce || 00000002 (SP 800-38D 7.2 step 3), by cryptography's CTR."""
    dec = Cipher(algorithms.AES(key), modes.CTR(nonce + b"\x00\x00\x00\x02")).decryptor()
    return dec.update(ct) + dec.finalize()


def opened(key, nonce, aad, ct, tag) -> Packet:
    try:
        pt, ok = AESGCM(key).decrypt(nonce, ct + tag, aad), True
    except InvalidTag:
        pt, ok = ctr_decrypt(key, nonce, ct), False
    return Packet(key, nonce, aad, ct, True, tag=tag, out_text=pt, tag_ok=ok)


def _chunks(buf: bytes):
    return [buf[k:k + 16] for k in range(0, len(buf), 16)]


def _lanes(chunk: bytes) -> tuple[int, int]:
    """data (octet k in lane k) and keep of a chunk of at most 16 octets."""
    return int.from_bytes(chunk, "little"), (1 << len(chunk)) - 1


def input_beats(p: Packet, side: int, rng: random.Random | None = None, p_null: float = 0.0):
    """The packet's beats on ``i``; with ``rng``, null beats (keep = 0, random data) are
    sprinkled in with probability ``p_null``, which the engine must ignore."""
    beats = [(Kind.PASS, c) for c in _chunks(p.outer)] + [(Kind.AAD, c) for c in _chunks(p.aad)] \
        + [(Kind.TEXT, c) for c in _chunks(p.text)]
    if p.decrypt:
        beats.append((Kind.TAG, p.tag))
    if not beats:
        beats.append((Kind.TEXT, b""))
    out = []
    for n, (kind, chunk) in enumerate(beats):
        while rng is not None and rng.random() < p_null:
            out.append(dict(data=rng.getrandbits(128), keep=0, last=0, kind=rng.choice([Kind.AAD, Kind.TEXT])))
        data, keep = _lanes(chunk)
        out.append(dict(data=data, keep=keep, last=int(n == len(beats) - 1), kind=kind))
    return [pack(IN, data=b["data"], keep=b["keep"], last=b["last"],
                 user=pack(IN_USER, kind=b["kind"].value, side=side)) for b in out]


def expected_beats(p: Packet, side: int) -> list[dict]:
    beats = []
    for kind, buf in ((Kind.PASS, p.outer), (Kind.AAD, p.aad), (Kind.TEXT, p.out_text)):
        for c in _chunks(buf):
            data, keep = _lanes(c)
            beats.append(dict(data=data, keep=keep, last=0, kind=kind.value, tag_ok=0, side=side))
    if p.decrypt:
        beats.append(dict(data=0, keep=0, last=1, kind=Kind.TAG.value, tag_ok=int(p.tag_ok), side=side))
    else:
        beats.append(dict(data=_lanes(p.out_tag)[0], keep=FULL, last=1, kind=Kind.TAG.value, tag_ok=1, side=side))
    return beats


def _decode(value: int) -> dict:
    b = unpack(OUT, value)
    b.update(unpack(OUT_USER, b.pop("user")))
    return b


class Bench:
    """The engine's three streams, started once per cocotb test: ``ctx`` and ``i`` sources
    (random idle with probability ``idle``), ``o`` sink (random stall ``stall``)."""

    def __init__(self, dut):
        self.dut = dut

    async def start(self, *, idle=0.0, stall=0.0, seed=0):
        self.src, self.sink, self.cycles = await start_bench(self.dut, idle, stall, seed)
        self.ctx_src = Source(self.dut, "ctx", self.dut.clk, idle=idle, rng=random.Random(seed + 7),
                              cycles=self.cycles)
        self.rng = random.Random(seed + 9)
        return self

    async def run(self, packets, *, p_null=0.0) -> list[int]:
        """Drive ``packets``, check every output beat; return the cycle of each packet's last beat."""
        dut, sink = self.dut, self.sink
        first = len(sink.items)
        beats, want = [], []
        for n, p in enumerate(packets):
            beats += input_beats(p, n % 256, self.rng, p_null)
            want += expected_beats(p, n % 256)
        ctx = cocotb.start_soon(self.ctx_src.send([
            pack(CTX, key=int.from_bytes(p.key.ljust(32, b"\0"), "big"), nonce=int.from_bytes(p.nonce, "big"),
                 decrypt=int(p.decrypt), **({"k128": int(len(p.key) == 16)} if 128 in SIZES else {}),
                 **({"h": hash_key(p.key)} if H_IN_CTX else {}))
            for p in packets]))
        data = cocotb.start_soon(self.src.send(beats))
        await sink.wait_for(first + len(want), 40 * len(want) + 500)
        await ctx
        await data
        for _ in range(30):  # nothing more may come out
            await RisingEdge(dut.clk)
        got = sink.items[first:]
        assert len(got) == len(want), f"{len(got)} output beats, {len(want)} expected"
        packet, ends = 0, []
        for n, (value, exp) in enumerate(zip(got, want)):
            b = _decode(value)
            if b != exp:
                p = packets[packet]
                raise AssertionError(f"beat {n} (packet {packet}: key {p.key.hex()} nonce {p.nonce.hex()} "
                                     f"aad {len(p.aad)} B text {len(p.text)} B decrypt {p.decrypt}):\n"
                                     f" got      {b}\n expected {exp}")
            if exp["last"]:
                packet += 1
                ends.append(sink.times[first + n])
        return ends


def _nist(kind: str, decrypt: bool) -> list[Packet]:
    """Every 96-bit-IV, 128-bit-tag record of ``gcm<kind><size>.rsp`` for each size of the
    build, interleaved (a new key size every packet where both are built)."""
    per_size = [_nist_file(f"gcm{kind}{size}.rsp", decrypt)[NIST_FIRST::NIST_STEP] for size in SIZES]
    return [p for group in zip(*per_size) for p in group]


def _nist_file(name: str, decrypt: bool) -> list[Packet]:
    recs = [r for r in load_rsp(f"ciphers/AES/GCM/{name}")
            if r["params"]["IVlen"] == "96" and r["params"]["Taglen"] == "128"]
    assert len(recs) == 375, f"{name}: {len(recs)} records"
    out = []
    for r in recs:
        key, iv, aad = (bytes.fromhex(r[k]) for k in ("Key", "IV", "AAD"))
        if decrypt:
            p = opened(key, iv, aad, bytes.fromhex(r["CT"]), bytes.fromhex(r["Tag"]))
            # the record's own verdict and plaintext, not only cryptography's
            assert p.tag_ok == (not r["FAIL"]), r["Count"]
            assert r["FAIL"] or p.out_text == bytes.fromhex(r["PT"]), r["Count"]
        else:
            p = sealed(key, iv, aad, bytes.fromhex(r["PT"]))
            assert (p.out_text, p.out_tag) == (bytes.fromhex(r["CT"]), bytes.fromhex(r["Tag"])), r["Count"]
        out.append(p)
    return out


@cocotb.test()
async def nist_gcm_encrypt_records(dut):
    bench = await Bench(dut).start()
    await bench.run(_nist("EncryptExtIV", decrypt=False))


@cocotb.test()
async def nist_gcm_decrypt_records_fail_must_fail(dut):
    packets = _nist("Decrypt", decrypt=True)
    dut._log.info(f"{len(packets)} decrypt records, {sum(not p.tag_ok for p in packets)} FAIL")
    assert any(not p.tag_ok for p in packets) and any(p.tag_ok for p in packets)
    bench = await Bench(dut).start(idle=0.2, stall=0.2, seed=21)
    await bench.run(packets)


def random_packets(rng: random.Random, n: int, max_len: int = 2048) -> list[Packet]:
    """Random keys, nonces, AAD and text lengths 0..max_len (ends weighted), both
    directions; a third of the decrypts tampered (tag, ciphertext or AAD); a quarter with
    PASS octets in front."""
    def length():
        return rng.choice([0, 1, 15, 16, 17, max_len, rng.randrange(max_len + 1), rng.randrange(64)])

    out = []
    for _ in range(n):
        key, nonce = rng.randbytes(rng.choice(SIZES) // 8), rng.randbytes(12)
        aad, pt = rng.randbytes(length()), rng.randbytes(length())
        if rng.random() < 0.5:
            out.append(sealed(key, nonce, aad, pt))
            continue
        sealed_ct = AESGCM(key).encrypt(nonce, pt, aad)
        ct, tag = sealed_ct[:-16], sealed_ct[-16:]
        what = rng.choice(["none", "none", "none", "tag", "text", "aad"])
        if what == "tag":
            tag = bytes(b ^ (1 << rng.randrange(8)) if k == rng.randrange(16) else b for k, b in enumerate(tag))
            tag = tag if tag != sealed_ct[-16:] else bytes([tag[0] ^ 1]) + tag[1:]
        elif what == "text" and ct:
            k = rng.randrange(len(ct))
            ct = ct[:k] + bytes([ct[k] ^ (1 << rng.randrange(8))]) + ct[k + 1:]
        elif what == "aad" and aad:
            k = rng.randrange(len(aad))
            aad = aad[:k] + bytes([aad[k] ^ (1 << rng.randrange(8))]) + aad[k + 1:]
        out.append(opened(key, nonce, aad, ct, tag))
    for p in out:   # a quarter of the packets carry outer octets that are passed untouched
        if rng.random() < 0.25:
            p.outer = rng.randbytes(rng.choice([1, 16, rng.randrange(100)]))
    return out


@cocotb.test()
async def random_packets_with_idle_backpressure_and_null_beats(dut):
    packets = random_packets(random.Random(31), N)
    dut._log.info(f"{N} random packets: {sum(p.decrypt for p in packets)} decrypt, "
                  f"{sum(not p.tag_ok for p in packets)} must fail, "
                  f"{sum(len(p.aad) + len(p.text) for p in packets)} octets")
    bench = await Bench(dut).start(idle=0.3, stall=0.3, seed=33)
    await bench.run(packets, p_null=0.05)


@cocotb.test()
async def benchmark_back_to_back_new_key_per_packet(dut):
    """Cycles per packet with no idle and no backpressure, a new key every packet: must
    be exactly blocks + EXTRA_CYCLES once the pipeline is full (deterministic in
    simulation). Writes the figures to GCM_RESULTS."""
    rng = random.Random(41)
    bench = await Bench(dut).start()
    # latency, the engine empty: a one-beat encrypt packet, its context well ahead
    key, nonce = rng.randbytes(SIZES[-1] // 8), rng.randbytes(12)
    await bench.run([sealed(key, nonce, b"", rng.randbytes(16))])
    latency = bench.sink.times[0] - bench.src.times[0]
    lines = [f"gcm_latency_cycles={latency}"]
    dut._log.info(lines[-1])
    assert latency == LATENCY, lines[-1]
    for size in (16, 64, 256, 1500):
        for decrypt in (False, True):
            k = BENCH_PACKETS
            packets = []
            for _ in range(k):
                key, nonce, pt = rng.randbytes(SIZES[len(packets) % len(SIZES)] // 8), rng.randbytes(12), rng.randbytes(size)
                p = sealed(key, nonce, b"", pt)
                packets.append(opened(key, nonce, b"", p.out_text, p.out_tag) if decrypt else p)
            ends = await bench.run(packets)
            blocks = -(-size // 16)
            # steady state: from the last beat of packet 0 to the last beat of packet k-1
            per_packet = (ends[-1] - ends[0]) / (k - 1)
            rate = blocks / per_packet
            name = "decrypt" if decrypt else "encrypt"
            lines.append(f"gcm_{name}_{size}B cycles_per_packet={per_packet:.2f} blocks_per_cycle={rate:.4f} "
                         f"bytes_per_cycle={size / per_packet:.2f} keys_per_packet=1")
            dut._log.info(lines[-1])
            assert per_packet == blocks + EXTRA_CYCLES, lines[-1]
    with open(os.environ.get("GCM_RESULTS", os.devnull), "w") as f:
        f.write("\n".join(lines) + "\n")

"""GHASH core (hw/ghash.py): reference checks, amaranth.sim unit tests, cocotb runs
under both simulators (its Verilator lint is with the other cores', tests/test_lint.py).

Expected values come only from ``cryptography`` and published vectors (see
tb/ghash_tb.py for the derivations).
"""

import random

import pytest
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.sim import Simulator
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hw.ghash import (LATENCY, Ghash, clmul_partials, gf128_square, join_partials, karatsuba_operands,
                      karatsuba_product, reduce_product)
from tb.sim import SIMULATORS, run
from tb.ghash_tb import (ONE, _g_aad, aes_ecb, h2_message, published_message,
                         published_messages, random_message)

# --------------------------------------------------------------------------------------
# The published vectors as transcribed, re-derived from their K / IV / P / A with
# cryptography (guards against a typo in tb/ghash_tb.py's PUBLISHED table).
# McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", revised spec, App. B.
# --------------------------------------------------------------------------------------

_K3 = "feffe9928665731c6d6a8f9467308308"
_P3 = ("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
       "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255")
_A4 = "feedfacedeadbeeffeedfacedeadbeefabaddad2"
_IV18 = ("9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728"
         "c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b")
PUBLISHED_INPUTS = {
    # name: (K, IV, P, A)
    "tc2": ("00" * 16, "00" * 12, "00" * 16, ""),
    "tc3": (_K3, "cafebabefacedbaddecaf888", _P3, ""),
    "tc4": (_K3, "cafebabefacedbaddecaf888", _P3[:120], _A4),
    "tc18": (_K3 * 2, _IV18, _P3[:120], _A4),
}


def _ecb_decrypt(key, block):
    dec = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    return dec.update(block) + dec.finalize()


@pytest.mark.parametrize("name", sorted(PUBLISHED_INPUTS))
def test_published_vectors_consistent_with_cryptography(name):
    key, iv, pt, aad = (bytes.fromhex(x) for x in PUBLISHED_INPUTS[name])
    msg = published_message(name)
    out = AESGCM(key).encrypt(iv, pt, aad)
    ct, tag = out[:-16], out[-16:]
    # H = E_K(0^128)
    assert int.from_bytes(aes_ecb(key, bytes(16)), "big") == msg.h
    # the block stream holds this ciphertext and AAD
    nb_a = (len(aad) + 15) // 16
    ct_blocks = msg.blocks[nb_a:-1]
    assert b"".join(b.to_bytes(16, "big") for b in ct_blocks)[:len(ct)] == ct
    # E_K(J0): for a 96-bit IV J0 = IV || 0^31 || 1; otherwise recover inc32(J0) from
    # the first keystream block (C_1 xor P_1) with an AES decryption.
    if len(iv) == 12:
        j0 = iv + b"\x00\x00\x00\x01"
    else:
        cb1 = _ecb_decrypt(key, bytes(c ^ p for c, p in zip(ct[:16], pt[:16])))
        ctr = (int.from_bytes(cb1[12:], "big") - 1) % (1 << 32)
        j0 = cb1[:12] + ctr.to_bytes(4, "big")
    ghash = int.from_bytes(tag, "big") ^ int.from_bytes(aes_ecb(key, j0), "big")
    assert ghash == msg.s


def test_h2_derivation_sanity():
    """Sanity of the H^2 construction in tb/ghash_tb.py, all values from cryptography:
    GHASH_{H^2}(1) = H^2 and GHASH_{H^2}(0, 0, 0) = 0."""
    rng = random.Random(5)
    key = rng.randbytes(32)
    m = h2_message(rng, [ONE], key=key)
    assert m.s == m.h                 # 1 * H^2 = H^2, both from cryptography
    z = h2_message(rng, [0, 0, 0], key=key)
    assert z.s == 0


# --------------------------------------------------------------------------------------
# amaranth.sim: the multiplier alone, then the whole core (small: Amaranth's Python
# simulator takes ~0.2 s per cycle on this design; the cocotb runs below are the bulk)
# --------------------------------------------------------------------------------------

class _Mul(Elaboratable):
    """The halves Ghash pipelines, without the registers: z = x * h (Karatsuba leaves,
    their partial sums, the leaf products joined, reduced), and sq = h^2 by
    :func:`gf128_square`."""

    def __init__(self):
        self.x, self.h, self.z, self.sq = Signal(128), Signal(128), Signal(128), Signal(128)

    def elaborate(self, platform):
        m = Module()
        prods = []
        for i, (a, b) in enumerate(zip(karatsuba_operands(m, self.x, "xk"), karatsuba_operands(m, self.h, "hk"))):
            parts = []
            for j, part in clmul_partials(a, b):
                p = Signal(len(part), name=f"p{i}_{j}")     # named: a small expression each
                m.d.comb += p.eq(part)
                parts.append((j, p))
            prods.append(join_partials(parts, 2 * len(a) - 1))
        m.d.comb += [self.z.eq(reduce_product(m, karatsuba_product(m, prods, "kp"), "mul")),
                     self.sq.eq(gf128_square(m, self.h))]
        return m


def test_gf128_mul_generator():
    """The multiplier's halves against products known from cryptography:
    H*H = H^2 = G([1]) ^ G([0]) (and the squaring gives it too);  X*H^2 = G(X) ^ G(0);
    1*H = H;  X*0 = 0."""
    rng = random.Random(7)
    cases = []
    for _ in range(4):
        key, nonce = rng.randbytes(32), rng.randbytes(12)
        h = int.from_bytes(aes_ecb(key, bytes(16)), "big")
        h2 = _g_aad(key, nonce, [ONE]) ^ _g_aad(key, nonce, [0])
        cases.append((h, h, h2))
        x = rng.getrandbits(128)
        cases.append((x, h2, _g_aad(key, nonce, [x]) ^ _g_aad(key, nonce, [0])))
        cases.append((h2, x, _g_aad(key, nonce, [x]) ^ _g_aad(key, nonce, [0])))
        cases.append((ONE, h, h))
        cases.append((x, 0, 0))
    dut = _Mul()
    sim = Simulator(dut)
    bad = []

    async def bench(ctx):
        for x, h, z in cases:
            ctx.set(dut.x, x)
            ctx.set(dut.h, h)
            got = ctx.get(dut.z)
            if got != z:
                bad.append((x, h, z, got))
            if x == h and ctx.get(dut.sq) != z:       # the H*H cases: the squaring too
                bad.append((x, h, z, ctx.get(dut.sq)))

    sim.add_testbench(bench)
    sim.run()
    assert not bad, [f"{x:032x}*{h:032x}: want {z:032x} got {g:032x}" for x, h, z, g in bad]


def _amaranth_stream(messages, *, p_idle, p_stall, seed):
    """Run messages through Ghash in amaranth.sim; return (results, in_cycles,
    last_cycles, out_cycles)."""
    dut = Ghash()
    rng = random.Random(seed)
    beats = []
    for msg in messages:
        for j, x in enumerate(msg.blocks):
            beats.append(dict(h=msg.h if j == 0 else rng.getrandbits(128), block=x,
                              first=int(j == 0), last=int(j == len(msg.blocks) - 1)))
    res, ins, lasts, outs = [], [], [], []

    async def bench(ctx):
        k, cyc, valid = 0, 0, False
        while len(res) < len(messages) and cyc < 50 * len(beats) + 100:
            if not valid and k < len(beats) and rng.random() >= p_idle:
                valid = True
                for f, v in beats[k].items():
                    ctx.set(getattr(dut.i.payload, f), v)
            ctx.set(dut.i.valid, valid)
            o_ready = rng.random() >= p_stall
            ctx.set(dut.o.ready, o_ready)
            if valid and ctx.get(dut.i.ready):
                ins.append(cyc)
                if beats[k]["last"]:
                    lasts.append(cyc)
                k, valid = k + 1, False
            if ctx.get(dut.o.valid) and o_ready:
                res.append(ctx.get(dut.o.payload.y))
                outs.append(cyc)
            await ctx.tick()
            cyc += 1
        # nothing extra comes out
        ctx.set(dut.i.valid, 0)
        ctx.set(dut.o.ready, 1)
        for _ in range(5):
            assert not ctx.get(dut.o.valid)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return res, ins, lasts, outs


def test_core_amaranth_sim_back_to_back():
    rng = random.Random(11)
    msgs = published_messages()[:2] + [random_message(rng, max_blocks=4) for _ in range(6)]
    msgs += [h2_message(rng, [rng.getrandbits(128)]) for _ in range(3)]
    rng.shuffle(msgs)
    res, ins, lasts, outs = _amaranth_stream(msgs, p_idle=0, p_stall=0, seed=1)
    assert res == [m.s for m in msgs]
    nblocks = sum(len(m.blocks) for m in msgs)
    assert ins == list(range(ins[0], ins[0] + nblocks))        # 1 block / cycle
    assert [o - l for o, l in zip(outs, lasts)] == [LATENCY] * len(msgs)


def test_core_amaranth_sim_backpressure():
    rng = random.Random(12)
    msgs = [random_message(rng, max_blocks=3) for _ in range(12)]
    res, *_ = _amaranth_stream(msgs, p_idle=0.3, p_stall=0.5, seed=2)
    assert res == [m.s for m in msgs]


# --------------------------------------------------------------------------------------
# cocotb under Icarus and Verilator
# --------------------------------------------------------------------------------------

# Random messages per simulator for tb/ghash_tb.py::test_random_stream.
MESSAGES = {"icarus": 100, "verilator": 500}


@pytest.mark.sim
@pytest.mark.parametrize("sim", SIMULATORS)
def test_ghash_cocotb(sim):
    run(Ghash(), name="ghash", test_module="tb.ghash_tb", simulator=sim,
        extra_env={"GHASH_MESSAGES": str(MESSAGES.get(sim, 60)), "GHASH_SEED": "1"})

"""cocotb testbench for hw/ghash.py (Ghash), plus the reference messages it checks.

Every expected GHASH value comes from the ``cryptography`` package or from published
test vectors -- never from our own GF(2^128) arithmetic:

* GCM-derived messages. For AES-GCM with a 96-bit IV, J0 = IV || 0^31 || 1 and
  tag = E_K(J0) xor GHASH_H(A' || C' || [len(A)]_64 || [len(C)]_64) (SP 800-38D
  Algorithm 4), H = E_K(0^128), where A', C' are A, C zero-padded to whole blocks.
  With K known, ``cryptography`` gives the tag (AESGCM) and E_K(J0), E_K(0) (AES-ECB),
  so GHASH = tag xor E_K(J0) for the block stream A' || C' || lengths.
* Arbitrary-block messages (no length-block structure, any m >= 1, including one
  block). GHASH is linear in the blocks, so with G(A) := GHASH_H(A' || len) from the
  trick above and empty plaintext:
    H^2                     = G([1]) xor G([0])         (1 = block 0x80 00..00)
    GHASH_{H^2}(X_1..X_m)   = G(X_1,0,X_2,0,..,0,X_m) xor G(0^(2m-1) blocks)
  because G(A) xor G(0..0) = GHASH_H(A)*H = GHASH_H(X_1,0,X_2,0,..,X_m,0)
  = sum X_i H^(2(m-i+1)). The core is then fed hash key H^2 and blocks X_i.
* Published vectors: McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)",
  revised spec (csrc.nist.gov/groups/ST/toolkit/BCM/documents/proposedmodes/gcm/
  gcm-revised-spec.pdf), Appendix B, test cases 2, 3, 4 and 18 (H and GHASH(H,A,C)
  as printed there). Their inputs are also re-derived through ``cryptography`` in
  tests/test_ghash.py so a transcription error would show.

Environment (set by tests/test_ghash.py through the runner's extra_env):
  GHASH_MESSAGES  number of random messages in test_random_stream (default 100)
  GHASH_SEED      random seed (default 1)
"""

import os
import random

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hw.ghash import LATENCY, RESULTS

MASK128 = (1 << 128) - 1
ONE = 1 << 127          # the field element 1: leftmost bit = coefficient of x^0


# --------------------------------------------------------------------------------------
# Reference messages (expected values from cryptography / published vectors only)
# --------------------------------------------------------------------------------------

def _i(b):
    return int.from_bytes(b, "big")


def _b(x):
    return x.to_bytes(16, "big")


def aes_ecb(key, block):
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def pad_blocks(data):
    """Zero-pad to a multiple of 16 bytes and split into integer blocks."""
    data = data + bytes(-len(data) % 16)
    return [_i(data[j:j + 16]) for j in range(0, len(data), 16)]


def len_block(aad_len, c_len):
    return ((aad_len * 8) << 64) | (c_len * 8)


class Message:
    """One GHASH message: hash key, blocks, expected S, and where it came from."""

    def __init__(self, h, blocks, s, what):
        assert blocks and all(0 <= b <= MASK128 for b in blocks)
        self.h, self.blocks, self.s, self.what = h, list(blocks), s, what

    def __repr__(self):
        return f"Message({self.what}, m={len(self.blocks)}, h={self.h:032x}, s={self.s:032x})"


def gcm_ghash(key, nonce, aad, pt):
    """(H, S) with S = GHASH_H(A' || C' || lens), from cryptography's AES-GCM tag."""
    assert len(nonce) == 12
    out = AESGCM(key).encrypt(nonce, pt, aad)
    tag = out[-16:]
    h = _i(aes_ecb(key, bytes(16)))
    ek_j0 = _i(aes_ecb(key, nonce + b"\x00\x00\x00\x01"))
    return h, _i(tag) ^ ek_j0, out[:-16]


def gcm_message(rng, aad_len, pt_len, key_len=32):
    """A GCM-shaped message: pad(A) || pad(C) || len block, random K / nonce / data."""
    key = rng.randbytes(key_len)
    nonce = rng.randbytes(12)
    aad, pt = rng.randbytes(aad_len), rng.randbytes(pt_len)
    h, s, ct = gcm_ghash(key, nonce, aad, pt)
    blocks = pad_blocks(aad) + pad_blocks(ct) + [len_block(aad_len, pt_len)]
    return Message(h, blocks, s, f"gcm(a={aad_len},c={pt_len})")


def _g_aad(key, nonce, aad_blocks):
    """G(A) = GHASH_H(A || [len(A)]_64 || 0^64) via cryptography, empty plaintext."""
    aad = b"".join(_b(x) for x in aad_blocks)
    return gcm_ghash(key, nonce, aad, b"")[1]


def h2_message(rng, blocks, key=None):
    """Arbitrary blocks X_1..X_m under hash key H^2 (see module docstring)."""
    key = key if key is not None else rng.randbytes(32)
    nonce = rng.randbytes(12)
    h2 = _g_aad(key, nonce, [ONE]) ^ _g_aad(key, nonce, [0])
    spread = []
    for j, x in enumerate(blocks):
        if j:
            spread.append(0)
        spread.append(x)
    s = _g_aad(key, nonce, spread) ^ _g_aad(key, nonce, [0] * len(spread))
    return Message(h2, blocks, s, f"h2(m={len(blocks)})")


def random_message(rng, max_blocks=64):
    """1..max_blocks blocks; mixes GCM-shaped (partial blocks too) and arbitrary ones."""
    kind = rng.random()
    if kind < 0.5 or max_blocks < 2:
        # arbitrary blocks, with extra weight on short messages and special blocks
        m = rng.choice([1, 1, 2, 3]) if rng.random() < 0.3 else rng.randint(1, max_blocks)
        special = [0, MASK128, ONE, 1]
        blocks = [rng.choice(special) if rng.random() < 0.05 else rng.getrandbits(128)
                  for _ in range(m)]
        return h2_message(rng, blocks)
    # GCM-shaped: ceil(a/16) + ceil(c/16) + 1 <= max_blocks
    nb = rng.randint(0, max_blocks - 1)         # data blocks besides the length block
    na = rng.randint(0, nb)
    nc = nb - na
    if rng.random() < 0.5:                      # whole blocks
        a_len, c_len = 16 * na, 16 * nc
    else:                                       # partial last blocks, zero-padded
        a_len = 16 * na - (rng.randint(0, 15) if na else 0)
        c_len = 16 * nc - (rng.randint(0, 15) if nc else 0)
    return gcm_message(rng, a_len, c_len, key_len=rng.choice([16, 24, 32, 32, 32]))


# McGrew & Viega, GCM revised spec, Appendix B (see module docstring): H, A, C, GHASH.
_TC3_C = ("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
          "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985")
_TC_A = "feedfacedeadbeeffeedfacedeadbeefabaddad2"
PUBLISHED = {
    # test case 2: K = 0^128, P = 0^128, IV = 0^96
    "tc2": dict(h="66e94bd4ef8a2c3b884cfa59ca342b2e", a="",
                c="0388dace60b6a392f328c2b971b2fe78",
                ghash="f38cbb1ad69223dcc3457ae5b6b0f885"),
    # test case 3: K = feffe992..., IV = cafebabefacedbaddecaf888, 64-byte P
    "tc3": dict(h="b83b533708bf535d0aa6e52980d53b78", a="", c=_TC3_C,
                ghash="7f1b32b81b820d02614f8895ac1d4eac"),
    # test case 4: as 3 with 20-byte A and 60-byte P (partial blocks)
    "tc4": dict(h="b83b533708bf535d0aa6e52980d53b78", a=_TC_A, c=_TC3_C[:120],
                ghash="698e57f70e6ecc7fd9463b7260a9ae5f"),
    # test case 18: AES-256, K = feffe992...8308 x2, 60-byte IV, 20-byte A, 60-byte P
    "tc18": dict(h="acbef20579b4b8ebce889bac8732dad7", a=_TC_A,
                 c="5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf4"
                   "0fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f",
                 ghash="d5ffcf6fc5ac4d69722187421a7f170b"),
}


def published_message(name):
    v = PUBLISHED[name]
    a, c = bytes.fromhex(v["a"]), bytes.fromhex(v["c"])
    blocks = pad_blocks(a) + pad_blocks(c) + [len_block(len(a), len(c))]
    return Message(int(v["h"], 16), blocks, int(v["ghash"], 16), f"published {name}")


def published_messages():
    return [published_message(n) for n in PUBLISHED]


# --------------------------------------------------------------------------------------
# cocotb side
# --------------------------------------------------------------------------------------

try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import ReadOnly, RisingEdge

    from tb.sim import resolved     # int value; fails on X/Z
except ImportError:     # the message helpers above are usable without cocotb
    cocotb = None


def _pack(h, block, first, last):
    # GhashIn: h [127:0], block [255:128], first [256], last [257]
    return h | (block << 128) | (int(first) << 256) | (int(last) << 257)


class Bench:
    """Drives ``i`` and ``o`` of the DUT from one coroutine, cycle by cycle.

    Each cycle: right after the rising edge set i__valid/i__payload/o__ready, then at
    ReadOnly sample i__ready/o__valid/o__payload; a handshake is valid & ready there.
    Besides values it checks the stream contract: o__payload stable while
    o__valid & ~o__ready, and i__ready = ~last | (pending < RESULTS) exactly, pending
    = last beats taken minus results taken (hw.ghash's credits).
    """

    def __init__(self, dut):
        self.dut = dut
        self.cycle = 0
        self.in_fires = []          # cycle of every input handshake
        self.out_fires = []         # (cycle, y) of every output handshake
        self.last_fires = []        # cycle of every input handshake with last=1
        self.errors = []

    async def start(self):
        dut = self.dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        dut.rst.value = 1
        dut.i__valid.value = 0
        dut.i__payload.value = 0
        dut.o__ready.value = 0
        for _ in range(3):
            await RisingEdge(dut.clk)
        dut.rst.value = 0
        await RisingEdge(dut.clk)

    async def run(self, messages, *, p_idle=0.0, p_stall=0.0, rng=None, drain=20,
                  max_cycles=None):
        """Send all messages back to back (with random idle beats / output stalls);
        return the list of results in order. Runs `drain` cycles after the last
        expected result to catch extra outputs."""
        dut, rng = self.dut, rng or random.Random(0)
        beats = []
        for msg in messages:
            n = len(msg.blocks)
            for j, x in enumerate(msg.blocks):
                # h is only sampled on first beats; put garbage on the others
                h = msg.h if j == 0 else rng.getrandbits(128)
                beats.append(_pack(h, x, j == 0, j == n - 1))
        results = []
        want = len(messages)
        k = 0                       # next beat to send
        valid = False
        prev_stall = None           # o payload while o.valid & ~o.ready last cycle
        after = 0
        max_cycles = max_cycles or (len(beats) * 50 + 1000)
        start = self.cycle
        while True:
            # --- drive (just after the edge) ---
            if not valid and k < len(beats) and rng.random() >= p_idle:
                valid = True
                dut.i__payload.value = beats[k]
            elif not valid:
                # idle cycle: invalid beat with random payload
                dut.i__payload.value = rng.getrandbits(258)
            dut.i__valid.value = int(valid)
            o_ready = rng.random() >= p_stall
            dut.o__ready.value = int(o_ready)
            # --- sample (settled, before the next edge) ---
            await ReadOnly()
            i_ready = resolved(dut.i__ready)
            o_valid = resolved(dut.o__valid)
            if o_valid:
                y = resolved(dut.o__payload)
                if prev_stall is not None and y != prev_stall:
                    self.errors.append(f"cycle {self.cycle}: o payload changed while stalled")
            elif prev_stall is not None:
                self.errors.append(f"cycle {self.cycle}: o valid dropped while stalled")
            if valid:
                last = (beats[k] >> 257) & 1
                pending = len(self.last_fires) - len(self.out_fires)
                exp_ready = int((not last) or pending < RESULTS)
                if i_ready != exp_ready:
                    self.errors.append(f"cycle {self.cycle}: i_ready={i_ready}, "
                                       f"expected {exp_ready} (last={last}, pending={pending})")
            prev_stall = y if (o_valid and not o_ready) else None
            if valid and i_ready:
                self.in_fires.append(self.cycle)
                if (beats[k] >> 257) & 1:
                    self.last_fires.append(self.cycle)
                k += 1
                valid = False
            if o_valid and o_ready:
                self.out_fires.append((self.cycle, y))
                results.append(y)
            await RisingEdge(dut.clk)
            self.cycle += 1
            if len(results) >= want and k == len(beats):
                after += 1
                if after > drain:
                    break
            if self.cycle - start > max_cycles:
                self.errors.append(f"timeout: {len(results)}/{want} results, "
                                   f"{k}/{len(beats)} beats")
                break
        dut.i__valid.value = 0
        return results


def _check(log, messages, results, bench):
    bad = 0
    for n, (msg, y) in enumerate(zip(messages, results)):
        if y != msg.s:
            bad += 1
            if bad <= 10:
                log.error("message %d %r: got %032x", n, msg, y)
    if len(results) != len(messages):
        bench.errors.append(f"{len(results)} results for {len(messages)} messages")
    for e in bench.errors[:20]:
        log.error("%s", e)
    assert bad == 0, f"{bad} of {len(messages)} results wrong"
    assert not bench.errors, f"{len(bench.errors)} protocol errors"


def _env_int(name, default):
    return int(os.environ.get(name, default))


if cocotb is not None:

    @cocotb.test()
    async def test_published_vectors(dut):
        """GCM spec test cases 2, 3, 4, 18 back to back, no idles, no stalls."""
        bench = Bench(dut)
        await bench.start()
        msgs = published_messages()
        results = await bench.run(msgs)
        _check(dut._log, msgs, results, bench)
        dut._log.info("published vectors: %d messages OK", len(msgs))

    @cocotb.test()
    async def test_throughput(dut):
        """No idles, no backpressure: N blocks take N cycles; latency is LATENCY cycles."""
        rng = random.Random(_env_int("GHASH_SEED", 1) + 100)
        msgs = [random_message(rng) for _ in range(24)] + \
               [h2_message(rng, [rng.getrandbits(128)]) for _ in range(8)]
        rng.shuffle(msgs)
        bench = Bench(dut)
        await bench.start()
        results = await bench.run(msgs, rng=rng)
        _check(dut._log, msgs, results, bench)
        nblocks = sum(len(m.blocks) for m in msgs)
        span = bench.in_fires[-1] - bench.in_fires[0] + 1
        assert len(bench.in_fires) == nblocks
        assert span == nblocks, f"{nblocks} blocks took {span} cycles"
        lat = {oc - lc for lc, (oc, _) in zip(bench.last_fires, bench.out_fires)}
        assert lat == {LATENCY}, f"latencies {lat}"
        dut._log.info("throughput: %d blocks in %d messages, %d cycles; latency %d",
                      nblocks, len(msgs), span, LATENCY)

    @cocotb.test()
    async def test_single_block_backpressure(dut):
        """One-block messages back to back with random output stalls: a result may
        be produced every cycle, so last beats must be held off while RESULTS are
        pending."""
        rng = random.Random(_env_int("GHASH_SEED", 1) + 200)
        key = rng.randbytes(32)
        msgs = [h2_message(rng, [rng.getrandbits(128)], key=key if j % 2 else None)
                for j in range(_env_int("GHASH_SINGLE", 40))]
        bench = Bench(dut)
        await bench.start()
        results = await bench.run(msgs, p_stall=0.5, rng=rng)
        _check(dut._log, msgs, results, bench)
        dut._log.info("single-block: %d messages OK", len(msgs))

    @cocotb.test()
    async def test_random_stream(dut):
        """Random 1..64-block messages, a new H each, random idles and stalls."""
        seed = _env_int("GHASH_SEED", 1)
        n = _env_int("GHASH_MESSAGES", 100)
        rng = random.Random(seed)
        msgs = [random_message(rng) for _ in range(n)]
        bench = Bench(dut)
        await bench.start()
        # vary the pressure over the run: phases of light / heavy idles and stalls
        results = []
        phases = [(0.0, 0.0), (0.3, 0.0), (0.0, 0.3), (0.2, 0.6), (0.6, 0.2)]
        chunk = max(1, (n + len(phases) - 1) // len(phases))
        for j, (p_idle, p_stall) in enumerate(phases):
            part = msgs[j * chunk:(j + 1) * chunk]
            if part:
                results += await bench.run(part, p_idle=p_idle, p_stall=p_stall, rng=rng)
        _check(dut._log, msgs, results, bench)
        nblocks = sum(len(m.blocks) for m in msgs)
        dut._log.info("random stream: %d messages, %d blocks, %d cycles, seed %d",
                      n, nblocks, bench.cycle, seed)

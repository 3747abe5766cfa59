"""Fast checks of hw/aes.py without an HDL simulator: the S-box table, and the core
under amaranth.sim. Expected values come only from ``cryptography``'s AES-ECB."""

import random

from amaranth.sim import Simulator
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import pytest

from hw.aes import LATENCY, RCON, SBOX, SBOX_STYLES, Aes


def _ecb(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def _xt(b: int) -> int:
    return ((b << 1) ^ (0x1B if b & 0x80 else 0)) & 0xFF


def _aes256_with(sbox: list[int], key: bytes, block: bytes) -> bytes:
    """Textbook FIPS-197 AES-256 around a given S-box table (the thing under test)."""
    w = [list(key[4 * i: 4 * i + 4]) for i in range(8)]
    for i in range(8, 60):
        t = list(w[i - 1])
        if i % 8 == 0:
            t = [sbox[b] for b in t[1:] + t[:1]]
            t[0] ^= RCON[i // 8 - 1]
        elif i % 8 == 4:
            t = [sbox[b] for b in t]
        w.append([a ^ b for a, b in zip(w[i - 8], t)])
    s = [b ^ k for b, k in zip(block, sum(w[0:4], []))]
    for r in range(1, 15):
        s = [sbox[b] for b in s]
        s = [s[4 * ((c + row) % 4) + row] for c in range(4) for row in range(4)]
        if r < 14:
            s = [_xt(s[4 * c + row]) ^ _xt(s[4 * c + (row + 1) % 4]) ^ s[4 * c + (row + 1) % 4]
                 ^ s[4 * c + (row + 2) % 4] ^ s[4 * c + (row + 3) % 4] for c in range(4) for row in range(4)]
        s = [b ^ k for b, k in zip(s, sum(w[4 * r: 4 * r + 4], []))]
    return bytes(s)


def test_sbox_table_matches_cryptography() -> None:
    """The computed S-box, used in a textbook AES-256, agrees with cryptography's AES on
    blocks chosen so that every S-box entry is looked up (and a one-entry error is
    caught: the mutated table must disagree)."""
    rng = random.Random(7)
    cases = [(rng.randbytes(32), bytes(range(16 * j, 16 * j + 16))) for j in range(16)]
    cases += [(rng.randbytes(32), rng.randbytes(16)) for _ in range(64)]
    for key, block in cases:
        assert _aes256_with(SBOX, key, block) == _ecb(key, block), (key.hex(), block.hex())
    assert sorted(SBOX) == list(range(256))
    bad = list(SBOX)
    bad[0x53] ^= 1
    assert any(_aes256_with(bad, k, b) != _ecb(k, b) for k, b in cases)


def _simulate(cases, idle: float, stall: float, seed: int, user_width: int = 8, dut=None):
    """Run the core on ``cases`` (key, block) under amaranth.sim, a 16-octet key as
    AES-128 (``k128``, the key in the first half of the key field); returns [(block,
    user, cycle)] in output order and the input cycles."""
    dut = dut or Aes(user_shape=user_width, key_sizes=(128, 256))
    rng = random.Random(seed)
    got, sent = [], []
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def source(ctx):
        for n, (key, block) in enumerate(cases):
            while rng.random() < idle:
                ctx.set(dut.i.valid, 0)
                await ctx.tick()
            ctx.set(dut.i.valid, 1)
            fields = {"key": int.from_bytes(key.ljust(32, b"\0"), "big"), "block": int.from_bytes(block, "big"),
                      "user": n % (1 << user_width)}
            if len(key) == 16:
                fields["k128"] = 1
            ctx.set(dut.i.payload, fields)
            await ctx.tick().until(dut.i.ready)
            sent.append(cycle[0])
        ctx.set(dut.i.valid, 0)

    cycle = [0]

    async def sink(ctx):
        srng = random.Random(seed + 1)
        while len(got) < len(cases):
            ready = srng.random() >= stall
            ctx.set(dut.o.ready, ready)
            valid, block, user = ctx.get(dut.o.valid), ctx.get(dut.o.payload.block), ctx.get(dut.o.payload.user)
            if ready and valid:
                got.append((block, user, cycle[0]))
            await ctx.tick()
            cycle[0] += 1
            assert cycle[0] < 20 * len(cases) + 100, "timeout"

    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    return got, sent


def _check(cases, got, user_width=8):
    assert len(got) == len(cases)
    for n, ((key, block), (ct, user, _)) in enumerate(zip(cases, got)):
        assert user == n % (1 << user_width), f"block {n} lost, duplicated or reordered"
        assert ct.to_bytes(16, "big") == _ecb(key, block), f"block {n}"


SIZES = {"aes256": ((256,), [32]), "aes128+256": ((128, 256), [16, 32])}


@pytest.mark.parametrize("sbox", SBOX_STYLES)
@pytest.mark.parametrize("build", SIZES)
def test_core_new_key_every_block_full_rate(build: str, sbox: str) -> None:
    """Any mix of key sizes, a new key every block: one block per cycle, LATENCY for both,
    with the S-boxes in LUTs or in block RAM."""
    sizes, lengths = SIZES[build]
    rng = random.Random(11)
    cases = [(rng.randbytes(rng.choice(lengths)), rng.randbytes(16)) for _ in range(40)]
    got, sent = _simulate(cases, idle=0.0, stall=0.0, seed=1, dut=Aes(user_shape=8, key_sizes=sizes, sbox=sbox))
    _check(cases, got)
    assert sent == list(range(sent[0], sent[0] + len(cases))), "input refused while the sink was ready"
    assert [c for _, _, c in got] == [s + LATENCY for s in sent], "latency / one block per cycle"


@pytest.mark.parametrize("sbox", SBOX_STYLES)
def test_core_idle_source_and_stalling_sink(sbox: str) -> None:
    rng = random.Random(12)
    cases = [(rng.randbytes(rng.choice([16, 32])), rng.randbytes(16)) for _ in range(60)]
    got, _ = _simulate(cases, idle=0.3, stall=0.5, seed=2, dut=Aes(user_shape=8, key_sizes=(128, 256), sbox=sbox))
    _check(cases, got)


def test_core_user_struct_and_zero_width() -> None:
    """The sideband may be any shape (here empty); the layout offsets are as documented."""
    dut = Aes(user_shape=0, key_sizes=(128, 256))
    lay_i, lay_o = dut.i.payload.shape(), dut.o.payload.shape()
    assert (lay_i["key"].offset, lay_i["block"].offset, lay_i["user"].offset, lay_i["k128"].offset) == (0, 256, 384, 384)
    assert "k128" not in [name for name, _ in Aes(user_shape=0).i.payload.shape()]
    assert (lay_o["block"].offset, lay_o["user"].offset) == (0, 128)
    rng = random.Random(13)
    cases = [(rng.randbytes(32), rng.randbytes(16)) for _ in range(4)] + [(rng.randbytes(16), rng.randbytes(16))]
    got, _ = _simulate(cases, idle=0.0, stall=0.0, seed=3, user_width=0, dut=dut)
    assert [ct.to_bytes(16, "big") for ct, _, _ in got] == [_ecb(k, b) for k, b in cases]


def test_key_sizes_validated() -> None:
    for bad in [(128,), (192, 256), (), (512,)]:
        with pytest.raises(ValueError, match="key_sizes"):
            Aes(key_sizes=bad)


def test_sbox_style_validated() -> None:
    for bad in ["rom", "BRAM", None]:
        with pytest.raises(ValueError, match="sbox"):
            Aes(sbox=bad)

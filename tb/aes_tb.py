"""cocotb checks of hw.aes.Aes: NIST AESAVS KAT records, random per-block keys (and key
sizes, when the build has AES-128), backpressure.

Expected values: the ``cryptography-vectors`` KAT files and ``cryptography``'s AES-ECB.
"""

import os
import random

import cocotb
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from hw.aes import LATENCY, OUT_DEPTH, Aes
from tb.nist import load_rsp
from cocotb.triggers import ReadOnly, RisingEdge

from tb.sim import resolved, start_clock_and_reset
from tb.stream import Sink, pack, start_bench, unpack

N = int(os.environ.get("AES_N", "300"))
USER_WIDTH = 16
#: the build's key sizes, e.g. "128,256" (tests/test_aes.py sets it)
SIZES = tuple(int(s) for s in os.environ.get("AES_KEYS", "256").split(","))
TOP = Aes(user_shape=USER_WIDTH, key_sizes=SIZES)
IN = TOP.i.payload.shape()
OUT = TOP.o.payload.shape()
KAT_FILES = [f"ECB{kind}{size}.rsp" for size in SIZES for kind in ("VarKey", "VarTxt", "KeySbox", "GFSbox")]


def _ecb(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def _random_cases(seed: int) -> list[tuple[bytes, bytes, bytes]]:
    """N random (key, block, expected) with a new key (of a random size of the build) every block."""
    rng = random.Random(seed)
    cases = []
    for _ in range(N):
        k, p = rng.randbytes(rng.choice(SIZES) // 8), rng.randbytes(16)
        cases.append((k, p, _ecb(k, p)))
    return cases


async def _run(dut, cases, idle, stall, seed):
    """cases: (key, plaintext, expected ciphertext) bytes; returns the source and the sink."""
    src, sink, _ = await start_bench(dut, idle, stall, seed)
    await src.send([pack(IN, key=int.from_bytes(k.ljust(32, b"\0"), "big"), block=int.from_bytes(p, "big"),
                         user=n % (1 << USER_WIDTH), **({"k128": int(len(k) == 16)} if 128 in SIZES else {}))
                    for n, (k, p, _) in enumerate(cases)])
    got = [unpack(OUT, v) for v in await sink.wait_for(len(cases), 50 * len(cases) + 100)]
    assert len(got) == len(cases)
    for n, ((k, p, c), r) in enumerate(zip(cases, got)):
        assert r["user"] == n % (1 << USER_WIDTH), f"block {n}: lost, duplicated or reordered"
        assert r["block"].to_bytes(16, "big") == c, f"block {n}: key {k.hex()} pt {p.hex()}"
    return src, sink


@cocotb.test()
async def nist_kat_records(dut):
    cases = []
    for name in KAT_FILES:
        recs = [r for r in load_rsp(os.path.join("ciphers", "AES", "ECB", name)) if r["section"] == "ENCRYPT"]
        assert recs, name
        cases += [(bytes.fromhex(r["KEY"]), bytes.fromhex(r["PLAINTEXT"]), bytes.fromhex(r["CIPHERTEXT"])) for r in recs]
    dut._log.info(f"{len(cases)} NIST KAT records ({KAT_FILES}), a new key every block")
    await _run(dut, cases, idle=0.0, stall=0.0, seed=1)


@cocotb.test()
async def random_key_every_block_with_idle_and_backpressure(dut):
    await _run(dut, _random_cases(2), idle=0.3, stall=0.4, seed=3)


@cocotb.test()
async def full_throughput_when_sink_always_ready(dut):
    """N blocks, each with its own key, leave in N consecutive cycles after LATENCY."""
    src, sink = await _run(dut, _random_cases(4), idle=0.0, stall=0.0, seed=5)
    assert src.times[-1] - src.times[0] == N - 1, "the source was never refused"
    assert sink.times[0] - src.times[0] == LATENCY, f"first block after {sink.times[0] - src.times[0]} cycles"
    assert sink.times[-1] - sink.times[0] == N - 1, "one block per cycle"
    span = sink.times[-1] - src.times[0] + 1
    dut._log.info(f"throughput: {N} blocks (new key each) in {span} cycles from first in to last out "
                  f"(N + LATENCY = {N + LATENCY}); {N / (sink.times[-1] - sink.times[0] + 1):.4f} blocks/cycle at the output")


@cocotb.test()
async def credits_let_the_input_run_ahead_of_a_stalled_output(dut):
    """With ``o`` held not ready, ``i`` takes exactly OUT_DEPTH blocks, one a cycle, and
    then refuses (a ready that followed ``o.ready``, as a global stall enable does, would
    refuse after the first block reached ``o``). Released, with random backpressure,
    every block leaves, in order and right."""
    cases = _random_cases(6)[:OUT_DEPTH + 8]
    await start_clock_and_reset(dut)
    dut.o__ready.value = 0
    dut.i__valid.value = 1
    taken = 0
    for cycle in range(OUT_DEPTH + 40):
        k, p, _ = cases[taken]
        dut.i__payload.value = pack(IN, key=int.from_bytes(k.ljust(32, b"\0"), "big"), block=int.from_bytes(p, "big"),
                                    user=taken, **({"k128": int(len(k) == 16)} if 128 in SIZES else {}))
        await ReadOnly()
        ready = resolved(dut.i__ready)
        assert ready == (taken < OUT_DEPTH), f"cycle {cycle}: i.ready {ready} with {taken} blocks inside"
        await RisingEdge(dut.clk)
        taken += ready
    assert taken == OUT_DEPTH
    dut.i__valid.value = 0
    sink = Sink(dut, "o", dut.clk, stall=0.5, rng=random.Random(8))
    cocotb.start_soon(sink.run())
    got = [unpack(OUT, v) for v in await sink.wait_for(OUT_DEPTH, 20 * OUT_DEPTH)]
    for n, r in enumerate(got):
        assert r["user"] == n, f"block {n}: lost, duplicated or reordered"
        assert r["block"].to_bytes(16, "big") == cases[n][2], f"block {n}: wrong ciphertext"

"""cocotb checks of hw.psp.PspDecap and PspEncap against the golden model (model.psp) and
Google's PSP reference outputs (``../shared/vectors/google-psp/``, read by
:mod:`tb.psp_vectors`; those tests are skipped, saying so, where the vectors are absent).

Decap: Google's 22 reference outputs open to the cleartext of Google's input pcaps (from
the PSP header on; the outer octets pass through) and its two ``_err`` frames are
refused (AUTH_FAIL); random frames of both versions, both phases, with and without VC,
random crypt offsets and header offsets, a quarter of them damaged (in turn: a bit flipped
anywhere, cut, a bad version, the always-1 bit cleared, Hdr Ext Len too short or too
long, an SPI of 0, a crypt offset past the payload), with master-key rotations between
bursts and frames sealed before a rotation sent after it; expected: ``model.psp.psp_open``.

Encap: Google's 22 cleartext frames sealed byte for byte as the reference output from
the PSP header on (IV 1: each case clears its SA, rotates the master key and installs the
SA again at IV 1); random frames on four SAs (one runs out of IVs), refusals (no SA, O
past the frame, crypt offset past the payload, a phase without a key), as
``model.psp.PspSender.seal`` says; SA writes that would repeat an IV are refused and
counted.

Benchmark (Verilator): back-to-back frames of 64, 256, 512 and 1500 octets of payload,
a data key per frame, into ``PSP_RESULTS``.

Environment: ``PSP_TOP`` (decap / encap), ``PSP_N`` random frames, ``PSP_RESULTS``.
"""

from __future__ import annotations

import os
import random

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from hw.counters import STAT
from hw.datapath import InUser, NextHeaderUser, OutUser, sa_in_user
from hw.psp import MasterKeyWrite, psp_sa_layout
from hw.realign import beat
from model.errors import Code, EespError
from model.psp import PspKeys, PspSender, psp_open
from tb import psp_vectors
from tb.endpoint_tb import ON_ICARUS, Bench, beats_of, check_counters, rates
from tb.sim import resolved
from tb.stream import pack

TOP = os.environ.get("PSP_TOP", "decap")
N = int(os.environ.get("PSP_N", "200"))
SAS = 4
IN, EIN = beat(InUser), beat(sa_in_user(SAS))
SAW = psp_sa_layout(SAS)
REJECTED = STAT["refused_ctx_writes"]
NO_VECTORS = not psp_vectors.available()
LIMIT = dict(timeout_time=10 * (600 * N + 200_000), timeout_unit="ns")


def user(code: int, nh: int = 0) -> int:
    return pack(NextHeaderUser, error=code, next_header=nh)


class PspBench(Bench):
    out_layout = beat(NextHeaderUser) if TOP == "decap" else beat(OutUser)

    def kept(self, code: int) -> bool:
        return (code & 31) == 0 or not self.drop_bad

    async def send_writes(self, writes: list[int]) -> None:
        await self.ports["mkwr"].send(writes)


def mk_write(phase: int, key: bytes | None) -> int:
    """A master-key write: ``key`` into ``phase``, or (None) the phase cleared."""
    return pack(MasterKeyWrite, phase=phase, valid=int(key is not None), key=int.from_bytes(key or bytes(32), "big"))


def sa_write(index: int, s: PspSender | None, spi: int = 0) -> int:
    """A write of sending SA ``index`` (None: the slot cleared)."""
    if s is None:
        return pack(SAW, index=index, valid=0, spi=spi)
    return pack(SAW, index=index, valid=1, spi=s.spi, version=s.version, crypt_offset=s.crypt_offset,
                v=int(s.vc is not None), vc=int.from_bytes(s.vc or bytes(8), "big"), next_iv=s.next_iv)


# --------------------------------------------------------------------------- decap


def opened_expected(keys: PspKeys, frame: bytes, offset: int) -> tuple[bytes, int]:
    try:
        out, nh = psp_open(keys, frame, offset)
        return out, user(0, nh)
    except EespError as e:
        return frame[:min(offset, len(frame))], user(int(e.code))


def _damage(frame: bytes, o: int, rng: random.Random, how: int) -> tuple[bytes, int]:
    """Way ``how`` (0..8) a frame breaks the rules of spec 13.3 (or its ICV)."""
    b = bytearray(frame)
    if how == 0 and len(b) > o:
        k = rng.randrange(o, len(b))
        b[k] ^= 1 << rng.randrange(8)
    elif how == 1:
        return frame[:rng.randrange(o, o + 40)], o
    elif how == 2:
        b[o + 3] = (b[o + 3] & 0xC3) | (rng.randrange(2, 16) << 2)
    elif how == 3:
        b[o + 3] &= 0xFE
    elif how == 4:
        b[o + 1] = rng.choice([0, 1 if b[o + 3] & 2 else 0, rng.randrange(3, 256)])
    elif how == 5:
        b[o + 4:o + 8] = bytes([b[o + 4] & 0x80, 0, 0, 0])
    elif how == 6:
        b[o + 2] = (b[o + 2] & 0xC0) | rng.randrange(64)
    elif how == 7:
        return frame, len(frame) + rng.randrange(1, 20)      # O past the frame's end
    else:
        b[o + 2] |= 0x80                                      # Google's -e: R set after sealing
    return bytes(b), o


def random_sender(rng: random.Random, phase: int) -> PspSender:
    vc = rng.randbytes(8) if rng.random() < 0.3 else None
    return PspSender((phase << 31) | rng.randrange(1, 1 << 31), rng.randrange(2), rng.choice([0, 0, 1, 2, 3, 6, 11]),
                     vc, next_iv=rng.choice([1, rng.getrandbits(64) | 1]))


def psp_decap_random_traffic(n: int):
    """``n`` frames in bursts of 25, a master-key rotation before every other burst;
    returns bursts (master-key writes, [], frames) and the counters."""
    rng = random.Random(31)
    keys = PspKeys([rng.randbytes(32), None])       # phase 1 empty at first: UNKNOWN_KEY
    bursts, writes = [], [mk_write(0, keys.keys[0])]
    held, frames_in, codes, turn = [], [], {}, 0
    for b in range(-(-n // 25)):
        if b % 2:
            new = rng.randbytes(32)
            keys.rotate(new)
            writes.append(mk_write(keys.phase, new))
        frames = []
        for _ in range(min(25, n - 25 * b)):
            if held and rng.random() < 0.1:         # sealed before a rotation, sent after it
                frame, o = held.pop(rng.randrange(len(held)))
            else:
                s = random_sender(rng, rng.randrange(2))
                o = rng.choice([0, 14, 42, 62, rng.randrange(70)])
                payload = rng.choice([0, 1, 4, 16, 44, 1400, rng.randrange(1500), rng.randrange(60)])
                frame = rng.randbytes(o + max(payload, 4 * s.crypt_offset))
                nh = rng.choice([4, 6, 17, 41, 59])
                try:
                    frame = s.seal(keys, frame, o, nh)
                except EespError:       # its phase has no key yet: sealed under a key nobody installed
                    frame = s.seal(PspKeys([bytes(32), bytes(32)]), frame, o, nh)
                if rng.random() < 0.25:        # the kinds of damage in turn
                    frame, o = _damage(frame, o, rng, turn % 9)
                    turn += 1
                if rng.random() < 0.1:
                    held.append((frame, o))
            out, u = opened_expected(keys, frame, o)
            codes[u & 31] = codes.get(u & 31, 0) + 1
            frames_in.append(frame)
            frames.append((beats_of(frame, IN, o, rng), out, u))
        bursts.append((writes, [], frames))
        writes = []
    counters = {STAT["frames_in"]: len(frames_in), STAT["octets_in"]: sum(map(len, frames_in)),
                STAT["frames_out"]: codes.get(0, 0),
                STAT["octets_out"]: sum(len(out) for *_, fr in bursts for _, out, u in fr if u & 31 == 0),
                **{16 + c: k for c, k in codes.items() if c}}
    return bursts, counters, codes


@cocotb.test(skip=TOP != "decap", **LIMIT)
async def psp_decap_random_traffic_rotations_idle_backpressure(dut):
    bursts, counters, codes = psp_decap_random_traffic(N)
    dut._log.info(f"{sum(codes.values())} frames, codes {dict(sorted(codes.items()))}")
    assert set(codes) >= {0, Code.AUTH_FAIL, Code.PSP_TRUNCATED, Code.PSP_BAD_VERSION, Code.PSP_BAD_HEADER,
                          Code.UNKNOWN_KEY}, codes
    bench = await PspBench(dut).start(idle=0.2, stall=0.2, seed=32, drop_bad=0)
    await bench.run(bursts, timeout=400 * N + 5000)
    await check_counters(bench, counters)


@cocotb.test(skip=TOP != "decap" or NO_VECTORS, **LIMIT)
async def psp_decap_google_reference_outputs(dut):
    """The 22 reference outputs open to Google's cleartext; the 2 _err frames: AUTH_FAIL."""
    rng = random.Random(33)
    cases = psp_vectors.cases()
    frames = []
    for c in cases:
        if c.reference is not None:
            frames.append((beats_of(c.reference, IN, c.psp_at, rng),
                           c.reference[:c.psp_at] + c.clear[c.offset:], user(0, c.next_header)))
    for c in cases:
        if c.reference is None:
            (sib,) = [s for s in cases if s.name == c.name.removesuffix("_err")]
            bad = bytearray(sib.reference)
            bad[sib.psp_at + 2] |= 0x80
            frames.append((beats_of(bytes(bad), IN, sib.psp_at, rng), bytes(bad[:sib.psp_at]),
                           user(Code.AUTH_FAIL)))
    assert len(frames) == 24
    bench = await PspBench(dut).start(idle=0.1, stall=0.1, seed=34, drop_bad=0)
    mk0, mk1 = cases[0].master_keys
    await bench.run([([mk_write(0, mk0), mk_write(1, mk1)], [], frames)], timeout=40000)
    await check_counters(bench, {STAT["frames_out"]: 22, 16 + Code.AUTH_FAIL: 2})


# --------------------------------------------------------------------------- encap


def encap_beats(frame: bytes, offset: int, slot: int, nh: int, rng: random.Random) -> list[int]:
    return beats_of(frame, EIN, pack(EIN["user"].shape, offset=offset, sa=slot, next_header=nh), rng)


def sealed_expected(s: PspSender | None, keys: PspKeys, frame: bytes, offset: int, nh: int) -> tuple[bytes, int]:
    if s is None:
        return frame[:min(offset, len(frame))], int(Code.NO_CONTEXT)
    try:
        return s.seal(keys, frame, offset, nh), 0
    except EespError as e:
        return frame[:min(offset, len(frame))], int(e.code)


@cocotb.test(skip=TOP != "encap" or NO_VECTORS, **LIMIT)
async def psp_encap_google_reference_outputs(dut):
    """Each cleartext frame sealed as the reference output, from the PSP header on."""
    rng = random.Random(41)
    bench = await PspBench(dut).start(idle=0.1, stall=0.1, seed=42, drop_bad=0)
    cases = [c for c in psp_vectors.cases() if c.reference is not None]
    mk = cases[0].master_keys
    for c in cases:
        s = PspSender(c.spi, c.version, c.crypt_offset, bytes(8) if c.vc else None, next_iv=1)
        await bench.ports["sawr"].send([sa_write(0, None, spi=c.spi)])
        await bench.ports["mkwr"].send([mk_write(c.spi >> 31, mk[c.spi >> 31])])   # a rotation: IV 1 again
        await bench.ports["sawr"].send([sa_write(0, s)])
        want = c.clear[:c.offset] + c.reference[c.psp_at:]
        await bench.run([([], [], [(encap_beats(c.clear, c.offset, 0, c.next_header, rng), want, 0)])],
                        timeout=20000)
    await check_counters(bench, {STAT["frames_out"]: 22, REJECTED: 0})


def psp_encap_random_traffic(n: int):
    """Four SA slots (slot 3 empty; slot 2 two frames from the end of its IVs; one SPI in
    phase 1, which has no key), ``n`` random frames: SA writes, master-key writes, frames
    and the counters."""
    rng = random.Random(43)
    keys = PspKeys([rng.randbytes(32), None])
    tx = [random_sender(rng, 0), random_sender(rng, 1), random_sender(rng, 0), None]
    tx[0].crypt_offset, tx[2].crypt_offset = 1, 2
    tx[2].next_iv = (1 << 64) - 2
    writes = [sa_write(k, s) for k, s in enumerate(tx) if s is not None]
    frames, codes, frames_in = [], {}, []
    for _ in range(n):
        slot = rng.choices(range(SAS), [9, 2, 7, 2])[0]
        o = rng.choice([0, 14, 34, 54, rng.randrange(70)])
        frame = rng.randbytes(o + rng.choice([0, 1, 3, 8, 40, 1400, rng.randrange(1500), rng.randrange(60)]))
        if rng.random() < 0.05:
            o = len(frame) + rng.randrange(1, 30)
        nh = rng.choice([4, 6, 17, 41])
        out, code = sealed_expected(tx[slot], keys, frame, o, nh)
        codes[code] = codes.get(code, 0) + 1
        frames_in.append(frame)
        frames.append((encap_beats(frame, o, slot, nh, rng), out, code))
    counters = {STAT["frames_in"]: n, STAT["octets_in"]: sum(map(len, frames_in)), STAT["frames_out"]: codes.get(0, 0),
                STAT["octets_out"]: sum(len(out) for _, out, c in frames if c == 0),
                **{16 + c: k for c, k in codes.items() if c}}
    return writes, [mk_write(0, keys.keys[0])], frames, counters, codes


@cocotb.test(skip=TOP != "encap", **LIMIT)
async def psp_encap_random_frames_refusals_exhaustion(dut):
    writes, mk, frames, counters, codes = psp_encap_random_traffic(N)
    dut._log.info(f"{len(frames)} frames, codes {dict(sorted(codes.items()))}")
    assert set(codes) >= {0, Code.NO_CONTEXT, Code.UNKNOWN_KEY, Code.PSP_TRUNCATED, Code.COUNTER_EXHAUSTED}, codes
    bench = await PspBench(dut).start(idle=0.2, stall=0.2, seed=44, drop_bad=0)
    await bench.ports["mkwr"].send(mk)
    await bench.ports["sawr"].send(writes)
    await bench.run([([], [], frames)], timeout=400 * N + 5000)
    await check_counters(bench, counters)


async def _sa_state(bench, index: int) -> tuple[int, int]:
    dut = bench.dut
    dut.sa_addr.value = index
    await RisingEdge(dut.clk)
    await ReadOnly()
    v = resolved(dut.sa_state)
    await RisingEdge(dut.clk)
    return v & 1, v >> 1


@cocotb.test(skip=TOP != "encap", **LIMIT)
async def psp_encap_sa_writes_never_repeat_an_iv(dut):
    """Refused and counted: SPI low bits 0, next IV 0, an SPI another valid slot holds,
    an IV below the one an SPI reached (installed or cleared); after a rotation of the
    SPI's phase the cleared SA may start at IV 1 again."""
    rng = random.Random(45)
    keys = PspKeys([rng.randbytes(32), None])
    bench = await PspBench(dut).start(idle=0.0, stall=0.0, seed=46, drop_bad=0)
    s = PspSender(0x0102_0304, 1, 1)
    await bench.ports["mkwr"].send([mk_write(0, keys.keys[0])])
    bad = [pack(SAW, index=1, valid=1, spi=0x8000_0000, next_iv=1), pack(SAW, index=1, valid=1, spi=7, next_iv=0)]
    await bench.ports["sawr"].send([sa_write(0, s)] + bad + [sa_write(1, PspSender(s.spi))])
    frames = []
    for _ in range(3):
        f = rng.randbytes(40)
        frames.append((encap_beats(f, 14, 0, 17, rng), *sealed_expected(s, keys, f, 14, 17)))
    await bench.run([([], [], frames)], timeout=20000)
    assert await _sa_state(bench, 0) == (1, 4)
    assert await bench.stat(REJECTED) == 3
    back = PspSender(s.spi, 1, 1, next_iv=2)
    await bench.ports["sawr"].send([sa_write(0, back), sa_write(0, None, spi=s.spi), sa_write(0, back)])
    assert await bench.stat(REJECTED) == 5
    assert await _sa_state(bench, 0) == (0, 4)
    new = rng.randbytes(32)
    keys.rotate(new)
    keys.rotate(new)            # phase 0 again (the model's rotation alternates)
    await bench.ports["mkwr"].send([mk_write(0, new)])
    again = PspSender(s.spi, 1, 1, next_iv=1)
    await bench.ports["sawr"].send([sa_write(0, again)])
    assert await bench.stat(REJECTED) == 5
    f = rng.randbytes(30)
    await bench.run([([], [], [(encap_beats(f, 14, 0, 17, rng), *sealed_expected(again, keys, f, 14, 17))])],
                    timeout=20000)


# --------------------------------------------------------------------------- benchmark


@cocotb.test(skip=ON_ICARUS, **LIMIT)
async def psp_benchmark_back_to_back(dut):
    """Cycles per frame, no idle, no backpressure, 42 outer octets (Ethernet, IPv4, UDP),
    versions 0 and 1 alternating, crypt offset 1, each frame a data key of its own (decap:
    its own SPI; the KDF runs for every frame on both sides); written to PSP_RESULTS."""
    rng = random.Random(51)
    keys = PspKeys([rng.randbytes(32), rng.randbytes(32)])
    bench = await PspBench(dut).start(idle=0.0, stall=0.0, seed=52, drop_bad=1)
    await bench.ports["mkwr"].send([mk_write(0, keys.keys[0]), mk_write(1, keys.keys[1])])
    tx = [PspSender(0x1000 + k, version=k % 2, crypt_offset=1) for k in range(SAS)]
    if TOP == "encap":
        await bench.ports["sawr"].send([sa_write(k, s) for k, s in enumerate(tx)])
    lines = []
    for size in (64, 256, 512, 1500):
        frames, sizes = [], []
        for k in range(24):
            clear = rng.randbytes(42 + size)
            if TOP == "encap":
                frames.append((encap_beats(clear, 42, k % SAS, 17, rng), *sealed_expected(tx[k % SAS], keys, clear, 42, 17)))
                sizes = (len(clear), len(frames[0][1]))
            else:
                sealed = PspSender(rng.randrange(1, 1 << 32) | 1, k % 2, 1).seal(keys, clear, 42, 17)
                frames.append((beats_of(sealed, IN, 42, rng), *opened_expected(keys, sealed, 42)))
                sizes = (len(sealed), len(frames[0][1]))
        got = await bench.run([([], [], frames)], timeout=100 * 24 * (size // 16 + 10))
        per, figures = rates(got, *sizes)
        lines.append(f"psp{TOP}_{size}B_payload {figures} payload_octets_per_cycle={size / per:.2f}")
        dut._log.info(lines[-1])
    with open(os.environ.get("PSP_RESULTS", os.devnull), "w") as f:
        f.write("\n".join(lines) + "\n")

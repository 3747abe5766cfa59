"""AES-256 encryption (FIPS-197), fully pipelined, with a key per block.

:class:`Aes256` accepts one block every cycle and emits one every cycle. The key
schedule runs in the pipeline beside the data: stage r holds the block after round r
and the 8-word key window that round r+1 expands from, so every block may carry its own
256-bit key (per-packet data keys, spec section 5) with no set-up cycles.

Ports (``amaranth.lib.stream``):

* ``i``: payload ``key`` (256), ``block`` (128), ``user`` (``user_shape``, passed through);
* ``o``: payload ``block`` (128, the ciphertext), ``user``.

Byte order: a 16-octet block / 32-octet key is the integer ``int.from_bytes(b, "big")``:
bits 127..120 are the first octet of the block, 255..248 the first octet of the key.

Latency: :data:`LATENCY` = 14: a block taken at clock edge t leaves at edge t + 14
when ``o`` is ready (one register per round; the initial AddRoundKey is folded into
round 1). Throughput: 1
block per cycle. Backpressure: the whole pipeline advances when ``o`` is not holding an
unaccepted block, so ``i.ready = ~o.valid | o.ready`` (a combinational path from
``o.ready`` to ``i.ready``); nothing is lost, duplicated or reordered. Bubbles from an
idle source travel down the pipeline as invalid stages (one global enable keeps the
control to one signal; bubbles are not squeezed out during a stall).

S-box: a 256-entry ROM (``amaranth.lib.memory`` with an asynchronous read port) whose
contents are computed here from its definition (inverse in GF(2^8) then the affine map),
224 in the data path and 52 in the key schedule.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["Aes256", "LATENCY", "SBOX", "sbox_table"]

LATENCY = 14
ROUNDS = 14


def _gmul(a: int, b: int) -> int:
    p = 0
    while b:
        if b & 1:
            p ^= a
        a = (a << 1) ^ (0x11B if a & 0x80 else 0)
        b >>= 1
    return p


def sbox_table() -> list[int]:
    """FIPS-197 5.1.1: multiplicative inverse in GF(2^8) (0 -> 0), then the affine map."""
    table = []
    for x in range(256):
        inv = next((y for y in range(1, 256) if _gmul(x, y) == 1), 0)
        s = inv
        for k in range(1, 5):
            s ^= ((inv << k) | (inv >> (8 - k))) & 0xFF
        table.append(s ^ 0x63)
    return table


SBOX = sbox_table()
RCON = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40]


def _xtime(b):
    return Cat(Const(0, 1), b[:7]) ^ (b[7].replicate(8) & 0x1B)


class Aes256(wiring.Component):
    """Fully pipelined AES-256 encryption, any key per block (see module docstring)."""

    def __init__(self, user_shape=1):
        self._user_shape = user_shape
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"key": 256, "block": 128, "user": user_shape}))),
            "o": Out(stream.Signature(data.StructLayout({"block": 128, "user": user_shape}))),
        })

    def elaborate(self, platform):
        m = Module()
        n_sbox = 0

        def sub(byte):
            nonlocal n_sbox
            rom = Memory(shape=8, depth=256, init=SBOX)
            m.submodules[f"sbox{n_sbox}"] = rom
            n_sbox += 1
            port = rom.read_port(domain="comb")
            m.d.comb += port.addr.eq(byte)
            return port.data

        def octets(value, n):  # first octet (most significant) first
            return [value[8 * (n - 1 - k): 8 * (n - k)] for k in range(n)]

        def join(bs):  # inverse of octets()
            return Cat(*reversed(bs))

        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]

        # stage 0 is the input: state = block ^ w[0..3], window = w[0..7]
        state = octets(self.i.payload.block, 16)
        window = octets(self.i.payload.key, 32)
        state = [s ^ k for s, k in zip(state, window[:16])]
        valid, user = self.i.valid, self.i.payload.user

        for r in range(1, ROUNDS + 1):
            # key schedule: round r's key; r = 1 is the second half of the key itself
            if r == 1:
                rk, next_window = window[16:], window
            else:
                last = window[28:32]
                if r % 2 == 0:  # i % 8 == 0: SubWord(RotWord(w[i-1])) ^ Rcon
                    t = [sub(b) for b in last[1:] + last[:1]]
                    t[0] = t[0] ^ RCON[r // 2 - 1]
                else:  # i % 8 == 4: SubWord(w[i-1])
                    t = [sub(b) for b in last]
                new = []
                for j in range(4):
                    prev = t if j == 0 else new[4 * (j - 1): 4 * j]
                    new += [a ^ b for a, b in zip(window[4 * j: 4 * j + 4], prev)]
                rk, next_window = new, window[16:] + new
            # round r: SubBytes, ShiftRows, MixColumns (not in the last round), AddRoundKey
            sb = [sub(b) for b in state]
            sr = [sb[4 * ((c + row) % 4) + row] for c in range(4) for row in range(4)]
            if r < ROUNDS:
                mc = []
                for c in range(4):
                    a = sr[4 * c: 4 * c + 4]
                    x = [_xtime(b) for b in a]
                    mc += [x[row] ^ x[(row + 1) % 4] ^ a[(row + 1) % 4] ^ a[(row + 2) % 4] ^ a[(row + 3) % 4]
                           for row in range(4)]
            else:
                mc = sr
            out = [s ^ k for s, k in zip(mc, rk)]
            # pipeline register after round r
            state_q = Signal(128, name=f"state{r}", reset_less=True)
            valid_q = Signal(name=f"valid{r}")
            user_q = Signal(self._user_shape, name=f"user{r}", reset_less=True)
            regs = [state_q.eq(join(out)), valid_q.eq(valid), user_q.eq(user)]
            window_q = None
            if r < ROUNDS:
                window_q = Signal(256, name=f"window{r}", reset_less=True)
                regs.append(window_q.eq(join(next_window)))
            with m.If(advance):
                m.d.sync += regs
            state, valid, user = octets(state_q, 16), valid_q, user_q
            if window_q is not None:
                window = octets(window_q, 32)

        m.d.comb += [
            self.o.valid.eq(valid),
            self.o.payload.block.eq(join(state)),
            self.o.payload.user.eq(user),
        ]
        return m

"""AES-256 encryption (FIPS-197), fully pipelined, with a key per block.

:class:`Aes256` accepts one block every cycle and emits one every cycle. The key
schedule runs in the pipeline beside the data: stage r holds the block after round r
and the 8-word key window that round r+1 expands from, so every block may carry its own
256-bit key (per-packet data keys, spec section 5) with no set-up cycles.

Ports (``amaranth.lib.stream``, payloads ``amaranth.lib.data.StructLayout``, fields
from bit 0 up in this order; Verilog ports ``i__valid``, ``i__ready``, ``i__payload``,
``o__valid``, ``o__ready``, ``o__payload``, clock ``clk``, reset ``rst``):

* ``i`` (sink): ``key`` = ``i__payload[255:0]``, ``block`` = ``i__payload[383:256]``
  (the plaintext), ``user`` = ``i__payload[384 + U - 1:384]`` (``U`` = width of
  ``user_shape``, any Amaranth shape, default 1);
* ``o`` (source): ``block`` = ``o__payload[127:0]`` (the ciphertext),
  ``user`` = ``o__payload[128 + U - 1:128]``, the ``user`` the block came in with.

Byte order (FIPS-197): a 16-octet block / 32-octet key is the integer
``int.from_bytes(b, "big")``: bits 127..120 are the first octet ``in[0]`` of the block,
bits 255..248 the first octet of the key; the ciphertext likewise
(``block.to_bytes(16, "big")``).

Latency: :data:`LATENCY` = 14 cycles: a block accepted at clock edge t is presented
on ``o`` from just after edge t + 14 (one register per round; the initial AddRoundKey
is folded into round 1's logic), later only if ``o`` stalled in between. Throughput: 1
block per cycle, with a different key every block if wanted.

Backpressure: one global enable: the whole pipeline advances when ``o`` is not holding
an unaccepted block, ``i.ready = ~o.valid | o.ready``. That is a combinational path
from ``o.ready`` to ``i.ready`` (no path from ``i.valid`` to ``o.valid`` or ``i.ready``);
a consumer that needs registered ready puts a skid buffer / FIFO after ``o``. Nothing
is lost, duplicated or reordered. Bubbles from an idle source travel down the
pipeline as invalid stages and are not squeezed out during a stall; ``i.ready`` is
high whenever ``o`` is not stalled, whatever ``i.valid`` is. ``rst`` clears only the
valid bits; data registers have no reset.

S-box: one 256-entry ROM (``amaranth.lib.memory.Memory``) whose contents are computed
here from the definition (inverse in GF(2^8), then the affine map), with one
asynchronous read port per S-box use: 224 in the data path, 52 in the key schedule.
The Verilog has one table and 276 ``assign x = sbox[addr]``. ShiftRows, MixColumns
and AddRoundKey are written as 128-bit wirings and XORs, and values used more than
once are named signals, which keeps the Verilog small (about 2300 lines; Verilator
under cocotb builds it with less than half the CPU time of a byte-by-byte description
with one ROM per S-box).
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


def _octets(value, n):
    """The n octets of ``value``, first (most significant) octet first."""
    return [value[8 * (n - 1 - k): 8 * (n - k)] for k in range(n)]


def _join(octets):
    """Inverse of :func:`_octets`."""
    return Cat(*reversed(octets))


def _shift_rows(octets):
    """FIPS-197 5.1.2 on the 16 octets (column-major: octet 4c + r is row r of column c)."""
    return [octets[4 * ((c + r) % 4) + r] for c in range(4) for r in range(4)]


def _rot_columns(octets, s):
    """Each column rotated up by s rows: row r takes row (r + s) % 4 of the same column."""
    return [octets[4 * c + (r + s) % 4] for c in range(4) for r in range(4)]


def _xtime_terms(octets):
    """xtime (multiplication by x in GF(2^8)) of every octet is ``a ^ b`` of the two
    returned 128-bit wirings (no logic in either): ``a`` rotates each octet left by one,
    ``b`` puts its bit 7 at bits 1, 3 and 4 (together with a's bit 0: the 0x1b reduction)."""
    zero = Const(0, 1)
    a = _join([Cat(o[7], o[:7]) for o in octets])
    b = _join([Cat(zero, o[7], zero, o[7], o[7], Const(0, 3)) for o in octets])
    return a, b


def _mix_columns(octets):
    """FIPS-197 5.1.3, all four columns at once as 128-bit XORs:
    out[r] = 2 a[r] ^ 3 a[r+1] ^ a[r+2] ^ a[r+3] = X ^ rot1(X) ^ rot1(a) ^ rot2(a) ^ rot3(a),
    X = xtime(a)."""
    xa, xb = _xtime_terms(octets)
    xr_a, xr_b = _xtime_terms(_rot_columns(octets, 1))
    return (xa ^ xb ^ xr_a ^ xr_b ^ _join(_rot_columns(octets, 1))
            ^ _join(_rot_columns(octets, 2)) ^ _join(_rot_columns(octets, 3)))


class Aes256(wiring.Component):
    """Fully pipelined AES-256 encryption, any key per block (see module docstring).

    ``user_shape``: shape of the sideband ``user`` field (any Amaranth shape, e.g. an
    ``int`` width or a ``data.StructLayout``); it leaves with its block, unchanged.
    """

    def __init__(self, user_shape=1):
        self._user_shape = user_shape
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"key": 256, "block": 128, "user": user_shape}))),
            "o": Out(stream.Signature(data.StructLayout({"block": 128, "user": user_shape}))),
        })

    def elaborate(self, platform):
        m = Module()
        # one ROM, one asynchronous read port per S-box: one table in the Verilog
        m.submodules.sbox = rom = Memory(shape=8, depth=256, init=SBOX)

        def sub(octet):
            port = rom.read_port(domain="comb")
            m.d.comb += port.addr.eq(octet)
            return port.data

        advance = self.i.ready  # the global pipeline enable
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)

        # stage 0 is the input: state = block ^ w[0..3] (the initial AddRoundKey), window = w[0..7]
        # (intermediate values used more than once are named signals: Amaranth would
        # otherwise repeat their logic at every use in the Verilog)
        key = self.i.payload.key
        state = Signal(128, name="state0")
        m.d.comb += state.eq(self.i.payload.block ^ key[128:])
        window = key
        valid, user = self.i.valid, self.i.payload.user

        for r in range(1, ROUNDS + 1):
            # key schedule: round r's key; r = 1 is the second half of the key itself
            if r == 1:
                rk, next_window = window[:128], window
            else:
                last = _octets(window[:32], 4)  # w[i-1]
                if r % 2 == 0:  # i % 8 == 0: SubWord(RotWord(w[i-1])) ^ Rcon
                    t = _join([sub(o) for o in last[1:] + last[:1]]) ^ (RCON[r // 2 - 1] << 24)
                else:  # i % 8 == 4: SubWord(w[i-1])
                    t = _join([sub(o) for o in last])
                words = [window[256 - 32 * (j + 1): 256 - 32 * j] for j in range(4)]  # w[i-8..i-5]
                new = [Signal(32, name=f"w{4 * r + j}") for j in range(4)]  # FIPS-197 w[4r..4r+3]
                for j in range(4):
                    m.d.comb += new[j].eq(words[j] ^ (t if j == 0 else new[j - 1]))
                rk = Cat(*reversed(new))
                next_window = Cat(rk, window[:128])
            # round r: SubBytes, ShiftRows, MixColumns (not in the last round), AddRoundKey
            sr = _shift_rows([sub(o) for o in _octets(state, 16)])
            out = (_mix_columns(sr) if r < ROUNDS else _join(sr)) ^ rk
            # pipeline register after round r
            state_q = Signal(128, name=f"state{r}", reset_less=True)
            valid_q = Signal(name=f"valid{r}")
            user_q = Signal(self._user_shape, name=f"user{r}", reset_less=True)
            regs = [state_q.eq(out), valid_q.eq(valid), user_q.eq(user)]
            if r < ROUNDS:
                window_q = Signal(256, name=f"window{r}", reset_less=True)
                regs.append(window_q.eq(next_window))
                window = window_q
            with m.If(advance):
                m.d.sync += regs
            state, valid, user = state_q, valid_q, user_q

        m.d.comb += [
            self.o.valid.eq(valid),
            self.o.payload.block.eq(state),
            self.o.payload.user.eq(user),
        ]
        return m

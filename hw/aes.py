"""AES encryption (FIPS-197), fully pipelined, with a key per block: AES-256, and with
``key_sizes=(128, 256)`` AES-128 too, the size chosen per block.

:class:`Aes` accepts one block every cycle and emits one every cycle. The key schedule
runs in the pipeline beside the data: stage r holds the block after round r and the
8-word key window that round r+1 expands from, so every block may carry its own key
(per-packet data keys, spec section 5) with no set-up cycles.

Ports (``amaranth.lib.stream``, payloads ``amaranth.lib.data.StructLayout``, fields
from bit 0 up in this order; Verilog ports ``i__valid``, ``i__ready``, ``i__payload``,
``o__valid``, ``o__ready``, ``o__payload``, clock ``clk``, reset ``rst``):

* ``i`` (sink): ``key`` = ``i__payload[255:0]``, ``block`` = ``i__payload[383:256]``
  (the plaintext), ``user`` = ``i__payload[384 + U - 1:384]`` (``U`` = width of
  ``user_shape``, any Amaranth shape, default 1), and with AES-128 built in ``k128`` =
  ``i__payload[384 + U]``: 1 = this block is AES-128 under the 16-octet key in
  ``key[255:128]`` (``key[127:0]`` ignored), 0 = AES-256 under all of ``key``;
* ``o`` (source): ``block`` = ``o__payload[127:0]`` (the ciphertext),
  ``user`` = ``o__payload[128 + U - 1:128]``, the ``user`` the block came in with.

Byte order (FIPS-197): a 16-octet block / 32-octet key is the integer
``int.from_bytes(b, "big")``: bits 127..120 are the first octet ``in[0]`` of the block,
bits 255..248 the first octet of the key; the ciphertext likewise
(``block.to_bytes(16, "big")``).

Latency: :data:`LATENCY` = 17 cycles for both key sizes: a block accepted at clock edge t
is presented on ``o`` from just after edge t + 17 (an input register, which holds the
block after the initial AddRoundKey, one register per round, then the output FIFO's
two: its memory and its output register, so ``o`` comes from a register; an AES-128 block is
finished after round 10 and passes stages 11-14 unchanged, so blocks of both sizes mix
freely and never overtake each other), later only if ``o`` stalled in between. The key
schedule runs one round ahead of the data: the register before round r holds round r's
key, so a round's logic is SubBytes, MixColumns and one XOR with a register, and the
schedule step beside it is SubWord and one XOR of at most five words per bit (the four
new words computed side by side, not in a chain). Nothing is combinational from ``i``
to ``o``. Throughput: 1 block per
cycle, with a different key (and size) every block if wanted.

Backpressure by credits: the pipeline never stalls (no enable on its registers: a
global enable would fan out to every one of its thousands of flip-flops, the critical
path of the stalling design on an ECP5). Blocks leave it into an output FIFO of
:data:`OUT_DEPTH` entries, and ``i.ready`` is high while fewer than :data:`OUT_DEPTH`
blocks are inside (in the pipeline or the FIFO): a register compare, with no
combinational path from ``o.ready`` (or anything else) to ``i.ready``. With ``o``
always ready that count stays at the latency, so the rate is one block per cycle;
while ``o`` stalls, ``i`` may go on for :data:`OUT_DEPTH` - (blocks inside) blocks.
Nothing is lost, duplicated or reordered. ``rst`` clears the valid bits, the count and
the FIFO; data registers have no reset.

S-box: one 256-entry ROM (``amaranth.lib.memory.Memory``) whose contents are computed
here from the definition (inverse in GF(2^8), then the affine map), with one
asynchronous read port per S-box use: 224 in the data path, 52 in the key schedule
(56 with AES-128, whose round 1 expands a key word too; the two schedules share the
S-boxes of the other rounds, SubWord(RotWord(w)) = RotWord(SubWord(w))).
ShiftRows, MixColumns and AddRoundKey are written as 128-bit wirings and XORs, and
values used more than once are named signals, which keeps the Verilog small.

Block-RAM S-boxes (``sbox="bram"``, for builds with block RAM to spare): the data
path's 224 S-boxes become synchronous read ports of ROMs of two ports each, marked
``ram_style``/``rom_style`` = ``block`` (one dual-port block RAM each: 112 RAMB18 on a
7-series, 112 DP16KD on an ECP5 a pipeline); the 52 (56) key-schedule S-boxes stay in
LUTs. The RAM's output register is then the pipeline register: stage r holds round r's
SubBytes, and ShiftRows, MixColumns and AddRoundKey of round r run in the next cycle,
into the RAM address of round r + 1 (the key is registered with the block at the input,
so the schedule runs one cycle later, still one round ahead of the data). The last
round's ShiftRows and AddRoundKey go straight into the output FIFO. Ports, latency (17)
and rate are those of the LUT build.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["Aes", "LATENCY", "OUT_DEPTH", "SBOX", "SBOX_STYLES", "check_key_sizes", "check_sbox", "sbox_table"]

LATENCY = 17
#: where the data path's S-boxes are: asynchronous LUT ROM reads, or block RAM
SBOX_STYLES = ("lut", "bram")
#: blocks the output FIFO holds; above the latency, so credits never limit the rate
OUT_DEPTH = 32
ROUNDS = 14
ROUNDS_128 = 10


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
#: AES-128's round constants, rounds 1-10 (FIPS-197 5.2)
RCON_128 = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1B, 0x36]


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


def check_key_sizes(key_sizes) -> tuple:
    """``key_sizes`` sorted, if it is ``(256,)`` or ``(128, 256)``, else ValueError."""
    key_sizes = tuple(sorted(key_sizes))
    if key_sizes not in ((256,), (128, 256)):
        raise ValueError(f"key_sizes must be (256,) or (128, 256), not {key_sizes}")
    return key_sizes


def check_sbox(sbox: str) -> str:
    """``sbox`` if it is one of :data:`SBOX_STYLES`, else ValueError (a top checks its
    parameter when it is made, not when its AES pipelines are)."""
    if sbox not in SBOX_STYLES:
        raise ValueError(f"sbox must be one of {SBOX_STYLES}, not {sbox!r}")
    return sbox


class Aes(wiring.Component):
    """Fully pipelined AES encryption, any key (and, with AES-128 built in, any key size)
    per block (see module docstring).

    ``user_shape``: shape of the sideband ``user`` field (any Amaranth shape, e.g. an
    ``int`` width or a ``data.StructLayout``); it leaves with its block, unchanged.
    ``key_sizes``: ``(256,)`` (default) or ``(128, 256)``; the latter adds the input field
    ``k128`` and the AES-128 key schedule beside the AES-256 one.
    ``sbox``: ``"lut"`` (default) or ``"bram"``: the data path's 224 S-boxes as
    synchronous reads of ROMs marked for block RAM (see module docstring); same ports,
    latency and rate.
    """

    def __init__(self, user_shape=1, key_sizes=(256,), sbox: str = "lut"):
        key_sizes = check_key_sizes(key_sizes)
        self._sbox = check_sbox(sbox)
        self._user_shape = user_shape
        self._aes128 = key_sizes == (128, 256)
        fields = {"key": 256, "block": 128, "user": user_shape}
        if self._aes128:
            fields["k128"] = 1
        super().__init__({
            "i": In(stream.Signature(data.StructLayout(fields))),
            "o": Out(stream.Signature(data.StructLayout({"block": 128, "user": user_shape}))),
        })

    @property
    def sbox(self) -> str:
        """Where the data path's S-boxes are: ``"lut"`` or ``"bram"``."""
        return self._sbox

    def elaborate(self, platform):
        m = Module()
        # one ROM, one asynchronous read port per S-box: one table in the Verilog
        m.submodules.sbox = rom = Memory(shape=8, depth=256, init=SBOX)

        def sub(octet):
            port = rom.read_port(domain="comb")
            m.d.comb += port.addr.eq(octet)
            return port.data

        # credits: blocks accepted and not yet taken from o (in the pipeline or the FIFO)
        m.submodules.out = oq = fifo.SyncFIFOBuffered(width=len(self.o.payload.as_value()), depth=OUT_DEPTH)
        inside = Signal(range(OUT_DEPTH + 1))
        m.d.comb += self.i.ready.eq(inside < OUT_DEPTH)
        m.d.sync += inside.eq(inside + (self.i.valid & self.i.ready) - (self.o.valid & self.o.ready))

        if self._sbox == "bram":
            state, valid, user = self._bram_rounds(m, sub)
        else:
            state, valid, user = self._lut_rounds(m, sub)

        m.d.comb += [
            oq.w_en.eq(valid),             # never full: the credits count its entries
            oq.w_data.eq(Cat(state, user)),
            self.o.valid.eq(oq.r_rdy),
            self.o.payload.eq(oq.r_data),
            oq.r_en.eq(self.o.ready),
        ]
        return m

    def _lut_rounds(self, m, sub):
        """The 14 rounds with asynchronous S-box reads, a register after each; returns the
        final (state, valid, user), registered."""
        # stage 0 registers the input: state = block ^ w[0..3] (the initial AddRoundKey),
        # and the key window one round ahead of the data, as every later stage holds it:
        # the register feeding round r holds round r's key in its low half (w[4r..4r+3])
        # and the four words before it in its high half, so round r's AddRoundKey takes its
        # key straight from a register, and the schedule step (SubWord and the XORs of the
        # next key) runs beside the round, register to register. AES-256 window of round 1:
        # the key as it is (w[0..7]); AES-128: w[0..3] in the high half, w[4..7] expanded.
        # (intermediate values used more than once are named signals: Amaranth would
        # otherwise repeat their logic at every use in the Verilog)
        key = self.i.payload.key
        k128 = self.i.payload.k128 if self._aes128 else Const(0, 1)
        window = Cat(Mux(k128, key[128:], key[:128]), key[128:]) if self._aes128 else key
        _, window = self._round_key(m, sub, 1, window, k128)
        state = self.i.payload.block ^ key[128:]
        valid, user = self.i.valid & self.i.ready, self.i.payload.user

        for r in range(0, ROUNDS + 1):
            if r:
                # round r: SubBytes, ShiftRows, MixColumns (not in the last round),
                # AddRoundKey with the registered key; AES-128: round 10 is the last,
                # rounds 11-14 pass the state on unchanged
                rk = window[:128]
                sr = _shift_rows([sub(o) for o in _octets(state, 16)])
                if r < ROUNDS:
                    out = _mix_columns(sr) ^ rk
                    if self._aes128 and r == ROUNDS_128:
                        out = Mux(k128, _join(sr) ^ rk, out)
                else:
                    out = _join(sr) ^ rk
                if self._aes128 and r > ROUNDS_128:
                    out = Mux(k128, state, out)
                if r < ROUNDS:      # the next round's key, beside this round
                    _, window = self._round_key(m, sub, r + 1, window, k128)
            else:
                out = state
            # pipeline register after round r (r = 0: the input)
            state_q = Signal(128, name=f"state{r}", reset_less=True)
            valid_q = Signal(name=f"valid{r}")
            user_q = Signal(self._user_shape, name=f"user{r}", reset_less=True)
            regs = [state_q.eq(out), valid_q.eq(valid), user_q.eq(user)]
            if r < ROUNDS:
                window_q = Signal(256, name=f"window{r + 1}", reset_less=True)
                regs.append(window_q.eq(window))
                window = window_q
                if self._aes128:
                    k128_q = Signal(name=f"k128_{r}", reset_less=True)
                    regs.append(k128_q.eq(k128))
            m.d.sync += regs
            state, valid, user = state_q, valid_q, user_q
            if self._aes128 and r < ROUNDS:
                k128 = k128_q
        return state, valid, user

    def _bram_rounds(self, m, sub):
        """The 14 rounds with the data path's S-boxes read synchronously from block RAM:
        the RAM's output register is the pipeline register, so round r is registered after
        its SubBytes, and ShiftRows, MixColumns and AddRoundKey of round r run in the cycle
        after, straight into the address of round r + 1's S-boxes. The key is registered at
        the input beside the block and the schedule runs a cycle later than in the LUT build,
        one round ahead of the data as there; the key schedule's S-boxes stay in LUTs.
        AES-128: round 10's result travels through stages 11-14 in a register of its own.
        Returns the final (state, valid, user): the state combinational from the last RAM
        read (one XOR), valid and user registered."""
        roms = []       # one ROM per two read ports: one dual-port block RAM each

        def sub_sync(octet):
            if not roms or len(roms[-1].read_ports) == 2:
                rom = Memory(shape=8, depth=256, init=SBOX, attrs={"ram_style": "block", "rom_style": "block"})
                m.submodules[f"sbox_bram{len(roms)}"] = rom
                roms.append(rom)
            port = roms[-1].read_port(domain="sync")
            m.d.comb += port.addr.eq(octet)
            return port.data

        key = self.i.payload.key
        k128_in = self.i.payload.k128 if self._aes128 else Const(0, 1)
        # stage 0: the block after the initial AddRoundKey, the key, valid, user
        state = Signal(128, name="state0", reset_less=True)
        key_q = Signal(256, name="key0", reset_less=True)
        k128 = Signal(name="k128_0", reset_less=True)
        valid, user = Signal(name="valid0"), Signal(self._user_shape, name="user0", reset_less=True)
        m.d.sync += [state.eq(self.i.payload.block ^ key[128:]), key_q.eq(key), k128.eq(k128_in),
                     valid.eq(self.i.valid & self.i.ready), user.eq(self.i.payload.user)]
        window = Cat(Mux(k128, key_q[128:], key_q[:128]), key_q[128:]) if self._aes128 else key_q
        _, window = self._round_key(m, sub, 1, window, k128)
        x, final, done = state, None, None
        for r in range(1, ROUNDS + 1):
            # registered after round r's SubBytes (the RAM's output), with round r's key
            sb = [sub_sync(o) for o in _octets(x, 16)]
            window_q = Signal(256, name=f"window{r}", reset_less=True)
            valid_q, k128_q = Signal(name=f"valid{r}"), Signal(name=f"k128_{r}", reset_less=True)
            user_q = Signal(self._user_shape, name=f"user{r}", reset_less=True)
            regs = [window_q.eq(window), valid_q.eq(valid), user_q.eq(user), k128_q.eq(k128)]
            if self._aes128 and r > ROUNDS_128:     # an AES-128 result, passed on
                done_q = Signal(128, name=f"done{r}", reset_less=True)
                regs.append(done_q.eq(final if r == ROUNDS_128 + 1 else done))
                done = done_q
            m.d.sync += regs
            window, valid, user, k128 = window_q, valid_q, user_q, k128_q
            rk, sr = window[:128], _shift_rows(sb)
            if self._aes128 and r == ROUNDS_128:
                final = Signal(128, name="final128")
                m.d.comb += final.eq(_join(sr) ^ rk)
            if r < ROUNDS:
                x = Signal(128, name=f"x{r}")
                m.d.comb += x.eq(_mix_columns(sr) ^ rk)
                _, window = self._round_key(m, sub, r + 1, window, k128)
        out = _join(sr) ^ rk
        if self._aes128:
            out = Mux(k128, done, out)
        return out, valid, user

    def _round_key(self, m, sub, r, window, k128):
        """Round r's key from the window, and the window of round r + 1 (FIPS-197 5.2).

        AES-256 (Nk = 8): round 1's key is the key's second half; round r >= 2 expands
        w[4r..4r+3] from w[4r-8..4r-1]: the first word from SubWord(RotWord(w[4r-1])) ^ Rcon
        (r even) or SubWord(w[4r-1]) (r odd). AES-128 (Nk = 4, rounds 1-10): w[4r..4r+3]
        from w[4r-4..4r-1], the first word from SubWord(RotWord(w[4r-1])) ^ Rcon[r]. Both
        share the four S-boxes of w[4r-1] (SubWord(RotWord(w)) = RotWord(SubWord(w)))."""
        high = [window[256 - 32 * (j + 1): 256 - 32 * j] for j in range(4)]   # AES-256 w[4r-8..4r-5]
        low = [window[128 - 32 * (j + 1): 128 - 32 * j] for j in range(4)]    # w[4r-4..4r-1]
        if r == 1 and not self._aes128:
            return window[:128], window
        s = [sub(o) for o in _octets(window[:32], 4)]      # SubWord(w[4r-1])
        rot = _join(s[1:] + s[:1])
        rcon256 = RCON[r // 2 - 1] if r % 2 == 0 else 0
        if not self._aes128:
            t, base = (rot if r % 2 == 0 else _join(s)) ^ (rcon256 << 24), high
        else:
            rcon128 = RCON_128[r - 1] if r <= ROUNDS_128 else 0
            t = Mux(k128 | (r % 2 == 0), rot, _join(s)) ^ (Mux(k128, rcon128, rcon256) << 24)
            base = [Mux(k128, lo, hi) for lo, hi in zip(low, high)]
        # FIPS-197 w[4r..4r+3]: w[4r+j] = t ^ base[0] ^ .. ^ base[j], each bit one XOR of
        # at most 5 inputs (one LUT), not a chain through the words before it
        t_q = Signal(32, name=f"t{r}")
        m.d.comb += t_q.eq(t)
        new = [Signal(32, name=f"w{4 * r + j}") for j in range(4)]
        for j in range(4):
            acc = t_q
            for b in base[:j + 1]:
                acc = acc ^ b
            m.d.comb += new[j].eq(acc)
        rk = Cat(*reversed(new))
        if r == 1:      # AES-256's round-1 key is the key's second half: the window as it is
            return Mux(k128, rk, window[:128]), Cat(Mux(k128, rk, window[:128]), window[128:])
        return rk, Cat(rk, window[:128])

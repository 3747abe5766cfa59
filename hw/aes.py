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

Latency: :data:`LATENCY` = 32 cycles for both key sizes: a block accepted at clock edge t
is presented on ``o`` from just after edge t + 32, later only if ``o`` stalled in
between. The registers on the way: the input register (the port as it is), the block
after the initial AddRoundKey, two a round (14 rounds), then the output FIFO's two (its
memory and its output register, so ``o`` comes from a register). Round r's two stages:
SubBytes; then ShiftRows, MixColumns and AddRoundKey, the round key from a register. The
key schedule beside them also takes two stages a round, one round ahead of the data:
SubWord of the last word of round r's key; then round r + 1's four new words side by
side (each bit one XOR of at most five words, not a chain through the words before it).
So no stage has more than an S-box (an 8-input function) or a MixColumns/AddRoundKey
XOR between registers. An AES-128 block is finished after round 10 and its result is
carried in registers of its own beside rounds 11-14, so blocks of both sizes mix freely
and never overtake each other. Nothing is combinational from ``i`` to ``o``.
Throughput: 1 block per cycle, with a different key (and size) every block if wanted.

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
path's 224 S-boxes and the key schedule's 52 (56) become synchronous read ports of
ROMs of two ports each, marked ``ram_style``/``rom_style`` = ``block`` (one dual-port
block RAM each: 138 (140) RAMB18 on a 7-series, as many DP16KD on an ECP5, a pipeline). A round is then two registers: the block RAM's own read register (its address the
previous round's result) and one register after the RAM's output (a tool may merge it
into the RAM as its output register, which an ECP5 DP16KD needs for a short
clock-to-out); ShiftRows, MixColumns and AddRoundKey of round r run in the cycle after,
into the RAM address of round r + 1, and the last round's ShiftRows and AddRoundKey go
straight into the output FIFO. The key is registered once more beside the block after
the initial AddRoundKey, so the schedule runs a cycle later than in the LUT build, one
round ahead of the data as there. Ports, latency (32) and rate are those of the LUT
build.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["Aes", "LATENCY", "OUT_DEPTH", "SBOX", "SBOX_STYLES", "check_key_sizes", "check_sbox", "sbox_table"]

LATENCY = 32
#: where the data path's S-boxes are: asynchronous LUT ROM reads, or block RAM
SBOX_STYLES = ("lut", "bram")
#: blocks the output FIFO holds; above the latency, so credits never limit the rate
OUT_DEPTH = 48
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
    ``sbox``: ``"lut"`` (default) or ``"bram"``: the 276 (280) S-boxes as
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
        # credits: blocks accepted and not yet taken from o (in the pipeline or the FIFO)
        m.submodules.out = oq = fifo.SyncFIFOBuffered(width=len(self.o.payload.as_value()), depth=OUT_DEPTH)
        inside = Signal(range(OUT_DEPTH + 1))
        m.d.comb += self.i.ready.eq(inside < OUT_DEPTH)
        m.d.sync += inside.eq(inside + (self.i.valid & self.i.ready) - (self.o.valid & self.o.ready))

        # the input register: the port as it is, nothing computed from it
        p = self.i.payload
        valid = _reg(m, self.i.valid & self.i.ready, "valid_in", reset=True)
        user = _reg(m, p.user, "user_in", self._user_shape)
        key, block = _reg(m, p.key, "key_in"), _reg(m, p.block, "block_in")
        k128 = _reg(m, p.k128, "k128_in") if self._aes128 else Const(0, 1)
        rounds = self._bram_rounds if self._sbox == "bram" else self._lut_rounds
        state, valid, user = rounds(m, key, block, k128, valid, user)

        m.d.comb += [
            oq.w_en.eq(valid),             # never full: the credits count its entries
            oq.w_data.eq(Cat(state, user)),
            self.o.valid.eq(oq.r_rdy),
            self.o.payload.eq(oq.r_data),
            oq.r_en.eq(self.o.ready),
        ]
        return m

    def _stage(self, m, name, valid, user, k128):
        """valid, user and k128 one register further."""
        return (_reg(m, valid, f"valid_{name}", reset=True), _reg(m, user, f"user_{name}", self._user_shape),
                _reg(m, k128, f"k128_{name}") if self._aes128 else k128)

    def _lut_rounds(self, m, key, block, k128, valid, user):
        """Round r in two stages, each ending in a register: ``sb{r}`` = SubBytes (asynchronous
        S-box reads), then ``state{r}`` = ShiftRows, MixColumns (not in round 14) and
        AddRoundKey with round r's key from :meth:`_schedule`. Returns the final (state,
        valid, user): state behind one 2:1 mux with AES-128 built in, valid and user registered."""
        # one ROM, one asynchronous read port per S-box: one table in the Verilog
        # (marked for logic: its outputs are registered, and a tool that merged those
        # registers into the read ports would otherwise try a block RAM of 200-odd ports)
        m.submodules.sbox = rom = Memory(shape=8, depth=256, init=SBOX,
                                         attrs={"ram_style": "logic", "rom_style": "logic"})

        def sub(octet):
            port = rom.read_port(domain="comb")
            m.d.comb += port.addr.eq(octet)
            return port.data

        rks = self._schedule(m, sub, key, k128)
        state = _reg(m, block ^ key[128:], "state0")      # the initial AddRoundKey
        valid, user, k128 = self._stage(m, "s0", valid, user, k128)
        final = None
        for r in range(1, ROUNDS + 1):
            sb = _reg(m, _join([sub(o) for o in _octets(state, 16)]), f"sb{r}")
            valid, user, k128 = self._stage(m, f"a{r}", valid, user, k128)
            sr, rk = _shift_rows(_octets(sb, 16)), rks[r - 1]
            if self._aes128 and r == ROUNDS_128:
                final = _join(sr) ^ rk
            state = _reg(m, _mix_columns(sr) ^ rk if r < ROUNDS else _join(sr) ^ rk, f"state{r}")
            valid, user, k128 = self._stage(m, f"b{r}", valid, user, k128)
        if self._aes128:        # AES-128's result, passed on beside rounds 11-14
            state = Mux(k128, _delay(m, final, 2 * (ROUNDS - ROUNDS_128) + 1, "done"), state)
        return state, valid, user

    def _bram_rounds(self, m, key, block, k128, valid, user):
        """Round r in two registers: the block RAM's read register (``sb`` read with the
        address ``x{r-1}``) and ``sb{r}``, one register after the RAM's output (which a
        synthesis tool may merge into the RAM as its output register); ShiftRows, MixColumns
        and AddRoundKey of round r run in the cycle after, from ``sb{r}`` straight into the
        address of round r + 1. The key schedule runs one cycle later than in the LUT build,
        the key registered once more beside ``state0``; its SubWord reads block RAMs too
        (the RAM's read register is SubWord's register). Returns the final
        (state, valid, user): state combinational from ``sb14`` (one XOR, and a 2:1 mux with
        AES-128 built in), valid and user registered."""
        roms = []       # one ROM per two read ports: one dual-port block RAM each

        def sub_sync(octet):
            if not roms or len(roms[-1].read_ports) == 2:
                rom = Memory(shape=8, depth=256, init=SBOX, attrs={"ram_style": "block", "rom_style": "block"})
                m.submodules[f"sbox_bram{len(roms)}"] = rom
                roms.append(rom)
            port = roms[-1].read_port(domain="sync")
            m.d.comb += port.addr.eq(octet)
            return port.data

        x = _reg(m, block ^ key[128:], "state0")          # the initial AddRoundKey
        rks = self._schedule(m, sub_sync, _reg(m, key, "key0"), _reg(m, k128, "k128_key0") if self._aes128 else k128,
                             sync=True)
        valid, user, k128 = self._stage(m, "s0", valid, user, k128)
        final = None
        for r in range(1, ROUNDS + 1):
            sb = _join([sub_sync(o) for o in _octets(x, 16)])
            valid, user, k128 = self._stage(m, f"a{r}", valid, user, k128)
            sb = _reg(m, sb, f"sb{r}")
            valid, user, k128 = self._stage(m, f"b{r}", valid, user, k128)
            sr, rk = _shift_rows(_octets(sb, 16)), rks[r - 1]
            if self._aes128 and r == ROUNDS_128:
                final = _wire(m, _join(sr) ^ rk, "final128")
            x = _wire(m, _mix_columns(sr) ^ rk if r < ROUNDS else _join(sr) ^ rk, f"x{r}")
        if self._aes128:
            x = Mux(k128, _delay(m, final, 2 * (ROUNDS - ROUNDS_128), "done"), x)
        return x, valid, user

    def _schedule(self, m, sub, key, k128, sync=False):
        """The round keys of the 256-bit ``key`` register (with AES-128 built in and
        ``k128`` set, the 16-octet key in ``key[255:128]``), two stages a round as the data:
        for round r + 1, SubWord of the last word of round r's window and the prefix XORs
        of the words the new ones are XORed with, registered; then each new word is one
        XOR of a registered prefix and the (rotated) SubWord with Rcon (:meth:`_expand`).
        Round r's key is in a register from the start of the second cycle after the one in
        which ``key`` is read for round 1 plus 2(r - 1): the second stage of data round r in
        the LUT build, where the data reads ``key`` in the same cycle. Returns the 14
        round-key registers (128 bits each, rounds 1-14). ``sync``: ``sub`` is a synchronous
        read (a block RAM's read register is SubWord's register)."""
        # the window of round 1's expansion: AES-128 w[0..3] in both halves, AES-256 w[0..7]
        window = Cat(Mux(k128, key[128:], key[:128]), key[128:]) if self._aes128 else key
        rks = []
        for r in range(1, ROUNDS + 1):
            if r == 1 and not self._aes128:     # AES-256's round-1 key is the key's second half
                window = _delay(m, window, 2, "window1_")
            else:
                high = [window[256 - 32 * (j + 1): 256 - 32 * j] for j in range(4)]   # AES-256 w[4r-8..4r-5]
                low = [window[128 - 32 * (j + 1): 128 - 32 * j] for j in range(4)]    # w[4r-4..4r-1]
                base = [Mux(k128, lo, hi) for lo, hi in zip(low, high)] if self._aes128 else high
                prefix = []
                for b in base:      # base[0] ^ .. ^ base[j]
                    prefix.append(b if not prefix else prefix[-1] ^ b)
                s = _join([sub(o) for o in _octets(window[:32], 4)])
                s = _wire(m, s, f"subword{r}") if sync else _reg(m, s, f"subword{r}")
                p = _reg(m, Cat(*reversed(prefix)), f"prefix{r}")
                kept = _reg(m, window if r == 1 else window[:128], f"kept{r}")
                k128 = _reg(m, k128, f"k128_b{r}") if self._aes128 else k128
                window = _reg(m, self._expand(m, r, s, p, kept, k128), f"window{r}")
            k128 = _reg(m, k128, f"k128_w{r}") if self._aes128 else k128
            rks.append(window[:128])
        return rks

    def _expand(self, m, r, s, prefix, kept, k128):
        """The window of round r (FIPS-197 5.2): round r's key w[4r..4r+3] in the low half,
        w[4r-4..4r-1] in the high half. ``s``: SubWord of w[4r-1]; ``prefix``: word j (j = 0
        first, in the high bits) the XOR of words 0..j of the four w[4r+j] are XORed with;
        ``kept``: w[4r-4..4r-1] (round 1: the whole window of round 1's expansion); all
        registered, so a new word's bit is one XOR of a prefix bit and a bit of ``s``.

        AES-256 (Nk = 8), round r >= 2: w[4r+j] = T ^ w[4r-8] ^ .. ^ w[4r-8+j], T =
        SubWord(RotWord(w[4r-1])) ^ Rcon (r even) or SubWord(w[4r-1]) (r odd). AES-128
        (Nk = 4, rounds 1-10): w[4r+j] = T ^ w[4r-4] ^ .. ^ w[4r-4+j], T =
        SubWord(RotWord(w[4r-1])) ^ Rcon[r]. Both use the same ``s``
        (SubWord(RotWord(w)) = RotWord(SubWord(w)))."""
        so = _octets(s, 4)
        rot = _join(so[1:] + so[:1])
        rcon256 = RCON[r // 2 - 1] if r % 2 == 0 else 0
        if not self._aes128:
            t = (rot if r % 2 == 0 else s) ^ (rcon256 << 24)
        else:
            rcon128 = RCON_128[r - 1] if r <= ROUNDS_128 else 0
            t = Mux(k128 | (r % 2 == 0), rot, s) ^ Mux(k128, rcon128 << 24, rcon256 << 24)
        t = _wire(m, t, f"t{r}")
        rk = _wire(m, Cat(*[t ^ prefix[32 * j: 32 * (j + 1)] for j in range(4)]), f"rk{r}")
        if r == 1:      # AES-128 only: the key's expansion; AES-256: the window as it is
            return Cat(Mux(k128, rk, kept[:128]), kept[128:])
        return Cat(rk, kept)


def _reg(m, value, name, shape=None, reset=False):
    """A register of ``value`` (``shape``: that of value if None), reset only if asked."""
    q = Signal(shape if shape is not None else len(value), name=name, reset_less=not reset)
    m.d.sync += q.eq(value)
    return q


def _wire(m, value, name):
    """``value`` as a named signal (Amaranth would otherwise repeat its logic at every use)."""
    w = Signal(len(value), name=name)
    m.d.comb += w.eq(value)
    return w


def _delay(m, value, n, name):
    """``value`` through ``n`` registers."""
    for k in range(n):
        value = _reg(m, value, f"{name}{k}")
    return value

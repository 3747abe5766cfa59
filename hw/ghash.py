"""GHASH core: GF(2^128) multiply-accumulate of NIST SP 800-38D, one block per cycle.

The multiplier is generated here in Python as plain AND/XOR wiring (no ``*`` operator,
no tables), two-level Karatsuba: 9 leaf operands of 32 bits a block
(:func:`karatsuba_operands`), the leaf products as partial sums (:func:`clmul_partials`,
:func:`join_partials`), their combination (:func:`karatsuba_product`) and the reduction
mod P (:func:`reduce_product`); :class:`Ghash` puts a register between the partial sums
and the rest and runs two accumulators with a per-message hash key, for
per-packet-keyed AES-GCM.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["GhashIn", "GhashOut", "Ghash", "gf128_square", "karatsuba_operands", "clmul_partials",
           "join_partials", "karatsuba_product", "reduce_product", "LATENCY", "RESULTS"]


#: Payload of the input stream ``i``. Bit offsets in the flattened Verilog port
#: ``i__payload[257:0]``: h = [127:0], block = [255:128], first = [256], last = [257].
GhashIn = data.StructLayout({
    "h":     128,   # hash key H = AES_K(0^128); sampled on the beat with first=1
    "block": 128,   # data block X_i
    "first": 1,     # first block of a message (accumulator restarts from 0)
    "last":  1,     # last block of a message (result is emitted)
})

#: Payload of the output stream ``o``: ``o__payload[127:0]`` = y.
GhashOut = data.StructLayout({
    "y": 128,       # S = GHASH_H(X_1 .. X_m)
})

#: Cycles from the handshake of the ``last`` block to ``o.valid`` (``o`` ready).
LATENCY = 4
#: Results the core holds (in flight or waiting on ``o``): a ``last`` beat waits while
#: this many are pending.
RESULTS = 4
#: Karatsuba levels of the multiplier: 3^LEVELS leaf products of 128 / 2^LEVELS bits.
LEVELS = 2
#: Products ``x_d & h_j`` XORed into one registered partial sum of a leaf product (stage 1).
CHUNK = 16
LEAF = 128 >> LEVELS


#: GF(2^128) of SP 800-38D: x^128 = x^7 + x^2 + x + 1. A block is the integer
#: ``int.from_bytes(block, "big")``: its leftmost bit, the coefficient of x^0, is integer
#: bit 127; coefficient d is bit 127 - d.


def _poly(v):
    """A block value as a polynomial vector: bit d = the coefficient of x^d (the block's
    bit 127 - d). Pure wiring."""
    v = Value.cast(v)
    return Cat(*[v[127 - d] for d in range(128)])


def _block(p):
    """Inverse of :func:`_poly` (128-bit polynomial vector to a block value)."""
    return Cat(*[p[127 - d] for d in range(128)])


def _times_low(u):
    """u * (x^7 + x^2 + x + 1) as a vector (carry-less: XOR of shifts)."""
    w = len(u) + 7
    return (u.as_unsigned() ^ (u << 1) ^ (u << 2) ^ (u << 7))[:w]


def karatsuba_operands(m, v, name: str, levels: int = LEVELS) -> list:
    """The 3^levels leaf operands of block ``v`` for a Karatsuba multiply: its polynomial
    vector split in halves ``lo``, ``hi`` (bit d = the coefficient of x^d, as
    :func:`clmul_partials` takes them), each half giving the leaves of ``lo``, then of
    ``lo ^ hi``, then of ``hi``, down ``levels`` times: 9 vectors of 32 bits for 2 levels.
    Only XORs (the middle leaves), no multiply. Adds named signals ``{name}...`` to ``m``
    (each value once in the Verilog, not repeated at every use)."""
    def leaves(a, k, tag):
        if k == 0:
            return [a]
        n = len(a) // 2
        mid = Signal(n, name=f"{name}_m{tag}")
        m.d.comb += mid.eq(a[:n] ^ a[n:])
        return leaves(a[:n], k - 1, tag + "l") + leaves(mid, k - 1, tag + "m") + leaves(a[n:], k - 1, tag + "h")
    vs = Signal(128, name=f"{name}_v")
    m.d.comb += vs.eq(_poly(v))
    return leaves(vs, levels, "")


def clmul_partials(a, b, chunk: int = CHUNK) -> list:
    """The carry-less product of two polynomial vectors ``a`` and ``b`` of one width w (bit
    d = the coefficient of x^d) as partial sums: ``w / chunk`` pairs (offset j, vector p)
    with the product = XOR of ``p << j``: p is the XOR of the terms ``a_d * b * x^(d - j)``
    for the ``chunk`` degrees d = j .. j + chunk - 1 (each a mask of a shifted ``b``;
    ``w - 1 + chunk`` bits wide, vector wiring, no bit-level terms). Kept apart so a
    pipeline may register the partial sums (:func:`join_partials` adds them up)."""
    w = len(a)
    parts = []
    for j in range(0, w, chunk):
        acc = Const(0, w - 1 + chunk)
        for d in range(j, j + chunk):
            acc = acc ^ Mux(a[d], Cat(Const(0, d - j), b) if d > j else b, 0)
        parts.append((j, acc[:w - 1 + chunk]))
    return parts


def join_partials(parts, width: int):
    """The ``width``-bit product (2 w - 1 for operands of w bits) from
    :func:`clmul_partials`' (offset, vector) pairs."""
    c = Const(0, width)
    for j, p in parts:
        c = c ^ (Cat(Const(0, j), p) if j else p)
    return c[:width]


def karatsuba_product(m, prods, name: str, levels: int = LEVELS):
    """The carry-less product of two blocks from the products of their leaf operands
    (:func:`karatsuba_operands`, same order), each 2 w - 1 bits: at each level, with
    half width h, ``lo + (mid ^ lo ^ hi) x^h + hi x^2h``. 255 bits for blocks. Adds
    named signals ``{name}...`` to ``m``, one a combined product."""
    if levels == 0:
        return prods[0]
    k = len(prods) // 3
    lo, mid, hi = (karatsuba_product(m, prods[i * k:(i + 1) * k], f"{name}{'lmh'[i]}", levels - 1) for i in range(3))
    h = (len(lo) + 1) // 2
    out = Signal(4 * h - 1, name=f"{name}_p")
    m.d.comb += out.eq(lo ^ Cat(Const(0, h), mid ^ lo ^ hi) ^ Cat(Const(0, 2 * h), hi))
    return out


def reduce_product(m, c, name: str):
    """A block from a 255-bit carry-less product ``c`` (bit k = coefficient of x^k):
    c mod P, P = x^128 + x^7 + x^2 + x + 1, folded twice (x^128 = x^7 + x^2 + x + 1).
    Adds named signals ``{name}_c``, ``{name}_t``, ``{name}_r`` to ``m`` (one expression
    each, small Verilog and simulation); returns the block."""
    cs, t, r = Signal(255, name=f"{name}_c"), Signal(134, name=f"{name}_t"), Signal(128, name=f"{name}_r")
    m.d.comb += [cs.eq(c), t.eq(_times_low(cs[128:255]))]      # degrees 0..133
    m.d.comb += r.eq(cs[:128] ^ t[:128] ^ _times_low(t[128:134]))
    return _block(r)


def gf128_square(m, h, *, name="gfsq"):
    """H^2 in GF(2^128): squaring is linear in characteristic 2 (coefficient d of H
    moves to degree 2d), then the reduction mod P; a few XORs a bit, no multiplier.
    Adds named signals to ``m``; returns the block."""
    hs = Signal(128, name=f"{name}_h")
    m.d.comb += hs.eq(h)
    a = _poly(hs)
    spread = Cat(*[a[k // 2] if k % 2 == 0 else Const(0, 1) for k in range(255)])
    return reduce_product(m, spread, name)


class Ghash(wiring.Component):
    """GHASH (NIST SP 800-38D, section 6.4) at one 128-bit block per clock cycle,
    with a hash key that may change on every message.

    Computes, for each message X_1 .. X_m (m >= 1)::

        Y_0 = 0,   Y_i = (Y_{i-1} xor X_i) * H,   result S = Y_m

    with a two-stage multiplier, which a single accumulator could not use at one block a
    cycle (Y_i needs Y_{i-1} the next cycle). Two accumulators instead, one for the odd
    and one for the even blocks of the message, each stepping by H^2 (Horner in H^2), so
    each has two cycles for its multiply; the last block steps by H, and S is the XOR of
    the two: block i then carries H^(m - i + 1), as the recurrence gives it. H^2 is a
    squaring, linear in GF(2^128) (:func:`gf128_square`: a few XORs a bit), formed with
    the message's first beat.

    Pipeline: stage 0 registers the beat and its multiplier operand (H^2, or H on the
    last beat), both as their 9 Karatsuba leaves (:func:`karatsuba_operands`); stage 1
    forms the leaves of (Y_lane xor X) (the accumulators are kept as leaves too) and registers the 9 leaf products of 32 x 32 bits, each as 2
    partial sums of 16 terms (:func:`clmul_partials`, 47 bits each: 9 216 AND terms where
    a schoolbook 128 x 128 multiply has 16 384); stage 2 joins them, combines them into
    the 255-bit product (:func:`karatsuba_product`), reduces mod P and writes the block's
    accumulator (and its leaves); on the last block that product and the other accumulator are
    registered, and S, their XOR, goes into a result FIFO of :data:`RESULTS`.
    The stage registers have no enable: the stages always move.

    Ports (Verilog names after flattening; ``clk``/``rst`` from the ``sync`` domain)
    ------------------------------------------------------------------------
    ``i`` : ``In(stream.Signature(GhashIn))`` -- ``i__valid``, ``i__ready``,
        ``i__payload[257:0]`` = {last[257], first[256], block[255:128], h[127:0]}.

        - ``block``: X_i, ``int.from_bytes(16 bytes, "big")`` (byte 0 of the block is
          bits [255:248] of the payload).
        - ``first``: X_i is the first block of a message. It must be set on the first
          beat of every message, including after reset; the core does not check the
          framing.
        - ``h``: the hash key H = AES_K(0^128) of this message, same integer
          convention. **Sampled only on the beat with first=1**; ``h`` on other beats
          is ignored.
        - ``last``: X_i is the final block; S is emitted on ``o``.
          ``first=last=1`` is a one-block message, S = X_1 * H.

    ``o`` : ``Out(stream.Signature(GhashOut))`` -- ``o__valid``, ``o__ready``,
        ``o__payload[127:0]`` = y = S, same integer convention.

    Timing contract
    ---------------
    - Throughput: 1 block per cycle, no bubbles between messages.
    - Latency: with ``o`` ready, ``o.valid`` rises :data:`LATENCY` = 4 cycles after the
      handshake of the ``last`` block.
    - Backpressure: results wait in the FIFO; ``i.ready`` is low only for a ``last``
      beat while :data:`RESULTS` results are pending (taken and not yet read from
      ``o``): ``i.ready = ~last | (pending < RESULTS)``, from a register and
      ``i.payload.last``, not from ``o.ready``. Nothing is lost or duplicated;
      ``o.payload`` is stable while ``o.valid & ~o.ready``.
    - Reset (``rst``) clears the valid bits, the pending count and the FIFO; the
      datapath registers are reset-less.

    Widening to 2 or 4 blocks per cycle (not built)
    -----------------------------------------------
    The same unrolling: with k blocks per beat, ``Y' = (Y ^ X_1) * H^k ^ X_2 * H^(k-1)
    ^ ... ^ X_k * H``, the k carry-less products XORed before one reduction (aggregated
    reduction); H^2 is a squaring, H^3 = H^2 * H one multiplier when H arrives, and a
    final beat with j < k blocks uses H^j..H^1.
    """

    def __init__(self):
        super().__init__({
            "i": In(stream.Signature(GhashIn)),
            "o": Out(stream.Signature(GhashOut)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.i.payload
        take = self.i.valid & self.i.ready

        # ---- results: a FIFO, and a count of the results pending (the credits) -------
        m.submodules.res = res = fifo.SyncFIFO(width=128, depth=RESULTS)
        pending = Signal(range(RESULTS + 1))
        m.d.comb += [self.i.ready.eq(~p.last | (pending < RESULTS)),
                     self.o.valid.eq(res.r_rdy), self.o.payload.y.eq(res.r_data), res.r_en.eq(self.o.ready)]
        m.d.sync += pending.eq(pending + (take & p.last) - (self.o.valid & self.o.ready))

        # ---- the message's state: its H, which block comes next -------------------------
        h_reg = Signal(128, reset_less=True)
        n = Signal(2)                           # blocks of the message taken: 0, 1, 2 = more
        with m.If(take):
            m.d.sync += n.eq(Mux(p.first, 1, Mux(n == 2, 2, n + 1)))
            with m.If(p.first):
                m.d.sync += h_reg.eq(p.h)
        idx = Mux(p.first, 0, n)                # this block's index, 2 = 2 or more
        lane = Signal()                         # accumulator of this block: its index mod 2
        with m.If(take):
            m.d.sync += lane.eq(Mux(p.first, 1, ~lane))
        blk_lane = Mux(p.first, 0, lane)
        h = Mux(p.first, p.h, h_reg)

        # ---- stage 0: the beat and its operand (H^2, or H for the last block) ------------
        s0 = Signal(data.StructLayout({"valid": 1, "last": 1, "lane": 1, "fresh": 1, "pair": 1}))
        x0 = Signal(3 ** LEVELS * LEAF, reset_less=True)       # the block's Karatsuba leaves
        op0 = Signal(3 ** LEVELS * LEAF, reset_less=True)      # the operand's
        m.d.sync += [
            s0.valid.eq(take), s0.last.eq(p.last), s0.lane.eq(blk_lane),
            s0.fresh.eq(idx != 2),              # the first block of its accumulator
            s0.pair.eq(idx != 0),               # at the last block: the other one holds a part
            x0.eq(Cat(*karatsuba_operands(m, p.block, "xk"))),
            op0.eq(Cat(*karatsuba_operands(m, Mux(p.last, h, gf128_square(m, h)), "opk"))),
        ]

        # ---- stage 1: (Y_lane xor X) times the operand, as partial sums -------------------
        # The accumulators are kept twice: as blocks (for S) and as their Karatsuba leaves
        # (the leaves are linear, so the leaves of Y xor X are those of Y xor those of X:
        # one LUT a bit before the partial products, not a mux, an XOR and the leaves' XORs)
        acc0, acc1 = Signal(128, reset_less=True), Signal(128, reset_less=True)    # even / odd blocks
        accl0 = Signal(3 ** LEVELS * LEAF, reset_less=True)
        accl1 = Signal(3 ** LEVELS * LEAF, reset_less=True)
        xl = Signal(3 ** LEVELS * LEAF)
        m.d.comb += xl.eq(Mux(s0.fresh, 0, Mux(s0.lane, accl1, accl0)) ^ x0)
        s1 = Signal.like(s0)
        m.d.sync += s1.eq(s0)
        leaves = []         # per leaf product: its partial sums, registered
        for i in range(3 ** LEVELS):
            parts = clmul_partials(xl[i * LEAF:(i + 1) * LEAF], op0[i * LEAF:(i + 1) * LEAF])
            parts_q = [(j, Signal(len(v), name=f"part{i}_{j}", reset_less=True)) for j, v in parts]
            m.d.sync += [q.eq(v) for (_, q), (_, v) in zip(parts_q, parts)]
            leaves.append(parts_q)

        # ---- stage 2: XOR, reduce, into the accumulator; S on the last block -------------
        prod = Signal(128)
        prods = []
        for i, parts_q in enumerate(leaves):
            leaf = Signal(2 * LEAF - 1, name=f"leaf{i}")
            m.d.comb += leaf.eq(join_partials(parts_q, 2 * LEAF - 1))
            prods.append(leaf)
        m.d.comb += prod.eq(reduce_product(m, karatsuba_product(m, prods, "kp"), "prod"))
        prodl = Signal(3 ** LEVELS * LEAF)
        m.d.comb += prodl.eq(Cat(*karatsuba_operands(m, prod, "yk")))
        with m.If(s1.valid & ~s1.lane):
            m.d.sync += [acc0.eq(prod), accl0.eq(prodl)]
        with m.If(s1.valid & s1.lane):
            m.d.sync += [acc1.eq(prod), accl1.eq(prodl)]
        # ---- stage 3: the last block's product and the other accumulator registered, S
        # their XOR into the result FIFO
        s_valid, s_prod, s_other = Signal(), Signal(128, reset_less=True), Signal(128, reset_less=True)
        m.d.sync += [s_valid.eq(s1.valid & s1.last), s_prod.eq(prod),
                     s_other.eq(Mux(s1.pair, Mux(s1.lane, acc0, acc1), 0))]
        m.d.comb += [res.w_en.eq(s_valid), res.w_data.eq(s_prod ^ s_other)]
        return m

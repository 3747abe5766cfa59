"""GHASH core: GF(2^128) multiply-accumulate of NIST SP 800-38D, one block per cycle.

The multiplier is generated here in Python as plain AND/XOR wiring (no ``*`` operator,
no tables), see :func:`gf128_mul`; :class:`Ghash` wraps it in a single-cycle
accumulate loop with a per-message hash key, for per-packet-keyed AES-GCM.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["GhashIn", "GhashOut", "Ghash", "gf128_mul", "LATENCY"]


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

#: Cycles from the handshake of the ``last`` block to ``o.valid`` (registered output).
LATENCY = 1


# R = 11100001 || 0^120 (SP 800-38D, 6.3): x^128 = 1 + x + x^2 + x^7, as the bits
# that multiplying by x feeds back when the x^127 coefficient (integer bit 0) falls off.
_R_BITS = (127, 126, 125, 120)


def _xor_tree(terms):
    """XOR a list of values as a balanced binary tree (depth ceil(log2 n))."""
    terms = list(terms)
    while len(terms) > 1:
        nxt = [terms[j] ^ terms[j + 1] for j in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            nxt.append(terms[-1])
        terms = nxt
    return terms[0]


def gf128_mul(m, x, h, *, name="gfmul"):
    """Add to module ``m`` a combinational X * H in GF(2^128) as SP 800-38D defines
    it (section 6.3); return the 128-bit product Signal.

    Blocks use the integer convention ``int.from_bytes(block, "big")``: the block's
    leftmost bit, the coefficient of x^0, is integer bit 127; coefficient k is bit
    127 - k. This is Algorithm 1 of SP 800-38D unrolled into wiring:

        V_0 = H;  V_{i+1} = V_i >> 1  xor  (LSB(V_i) ? R : 0)     (V_i = H * x^i)
        Z   = XOR over i = 0..127 of  (x_i ? V_i : 0)              (x_i = bit 127-i of X)

    - shift-and-reduce: each V_{i+1} is constant-index wiring of V_i plus 3
      single-bit XORs (R's bits 126, 125, 120; bit 127 is just LSB(V_i)) -- 381 XOR
      in all. V depends on H only, and its XOR depth stays small (each fed-back bit
      travels ~120 positions before it can fall off again): at most 3 here.
    - AND masks: 128 terms ``x_i ? V_i : 0`` (128 x 128 = 16384 AND). Written as a
      mux against zero -- per bit exactly ``x_i & V_i[j]`` -- because the
      ``V_i & {128{x_i}}`` spelling made Icarus 25x slower (it re-evaluates the
      128-bit replicate concatenation once per input bit event).
    - XOR-accumulate: a balanced tree of 127 128-bit XORs (16256 XOR, depth 7).

    So the X -> Z path is 1 AND + 7 XOR levels, and the Verilog is 128 masked
    (``x[i] ? v : 128'h0``) and 127 XOR 128-bit assignments plus bit wiring
    (185 kB, ~1.6K lines). Intermediate signals are named
    ``{name}_v{i}`` and ``{name}_z``.
    """
    x, h = Value.cast(x), Value.cast(h)
    assert len(x) == 128 and len(h) == 128
    v = [Signal(128, name=f"{name}_v{i}") for i in range(128)]
    m.d.comb += v[0].eq(h)
    for i in range(127):
        lsb = v[i][0]
        bits = [v[i][j + 1] for j in range(127)] + [lsb]    # >> 1, bit 127 = LSB * R[127]
        for j in _R_BITS[1:]:
            bits[j] = bits[j] ^ lsb
        m.d.comb += v[i + 1].eq(Cat(*bits))
    z = Signal(128, name=f"{name}_z")
    m.d.comb += z.eq(_xor_tree(Mux(x[127 - i], v[i], 0) for i in range(128)))
    return z


class Ghash(wiring.Component):
    """GHASH (NIST SP 800-38D, section 6.4) at one 128-bit block per clock cycle,
    with a hash key that may change on every message.

    Computes, for each message X_1 .. X_m (m >= 1)::

        Y_0 = 0,   Y_i = (Y_{i-1} xor X_i) * H,   result S = Y_m

    in a single-cycle loop: the accumulator register feeds back through a
    combinational 128x128 GF(2^128) multiplier (:func:`gf128_mul`).

    Ports (Verilog names after flattening; ``clk``/``rst`` from the ``sync`` domain)
    ------------------------------------------------------------------------
    ``i`` : ``In(stream.Signature(GhashIn))`` -- ``i__valid``, ``i__ready``,
        ``i__payload[257:0]`` = {last[257], first[256], block[255:128], h[127:0]}.

        - ``block``: X_i, ``int.from_bytes(16 bytes, "big")`` (byte 0 of the block is
          bits [255:248] of the payload).
        - ``first``: X_i is the first block of a message; the accumulator restarts
          (Y_{i-1} is taken as 0). It must be set on the first beat of every message,
          including after reset; the core does not check the framing.
        - ``h``: the hash key H = AES_K(0^128) of this message, same integer
          convention. **Sampled only on the beat with first=1** (and held in a
          register for the rest of the message); ``h`` on other beats is ignored, so
          the producer may keep it constant, change it, or leave it undefined.
        - ``last``: X_i is the final block; S is emitted on ``o``.
          ``first=last=1`` is a one-block message, S = X_1 * H.

    ``o`` : ``Out(stream.Signature(GhashOut))`` -- ``o__valid``, ``o__ready``,
        ``o__payload[127:0]`` = y = S, same integer convention.

    ``prod`` : ``Out(128)`` -- ``(Y_{i-1} xor X_i) * H`` of the beat on ``i`` now,
        combinational (what the accumulator takes on the handshake): on a ``last``
        beat it is S one cycle before ``o`` shows it. For a user that finishes a
        hash on the same cycle (:class:`hw.gcm.Gcm` forms its tag from it) and may
        then never set ``last``.

    Timing contract
    ---------------
    - Throughput: 1 block per cycle, no bubbles between messages: the first block of
      the next message may be handshaken in the cycle right after the last block of
      the previous one.
    - Latency: ``o.valid`` rises in the cycle after the handshake of the ``last``
      block (:data:`LATENCY` = 1: the result is registered).
    - Backpressure: ``o`` is a one-entry registered output. While it holds a result
      that is not being taken (``o.valid & ~o.ready``), the core refuses (``i.ready``
      = 0) only beats with ``last=1``; non-last beats keep flowing. So
      ``i.ready = ~i.payload.last | ~o.valid | o.ready`` -- combinational from
      ``o.ready`` and ``i.payload.last``; ``o.valid``/``o.payload`` depend only on
      registers. Nothing is lost or duplicated; ``o.payload`` is stable while
      ``o.valid & ~o.ready``.
    - Reset (``rst``) clears ``o.valid`` only; the datapath registers are reset-less
      (the accumulator is never read before a ``first`` beat).

    Size and depth: the multiplier is 16384 AND + 16637 XOR (:func:`gf128_mul`). The
    accumulator loop is Y -> (first ? 0 : Y) xor X -> AND -> 7-level XOR tree -> Y,
    about 10 two-input gate levels; the H -> V_i network (3 XOR levels, plus the
    ``first`` mux) is outside the loop.

    Widening to 2 or 4 blocks per cycle (not built)
    -----------------------------------------------
    Unroll the recurrence: with k blocks per beat,
    ``Y' = (Y ^ X_1) * H^k ^ X_2 * H^(k-1) ^ ... ^ X_k * H``. Each term is a 255-bit
    carry-less product; XOR the k unreduced products and reduce once
    (aggregated reduction), so the loop still has one multiplier depth plus a
    log2(k)-level XOR and a single reduction. (The V_i form of :func:`gf128_mul`
    interleaves the reduction; the wide version would use an unreduced
    carry-less product plus one reduction per beat.) It needs H^2..H^k per message. Because
    H changes per packet they cannot be precomputed in software: a power pipeline
    computes them when H arrives -- k=2: H^2 = H*H, one multiplier stage (+1 cycle);
    k=4: H^2 in stage 1, then H^3 = H^2*H and H^4 = H^2*H^2 in stage 2 (+2 cycles,
    3 extra multipliers). That pipeline is fully pipelined (a new H every beat), so
    throughput is unaffected, but H must be presented 1 (k=2) or 2 (k=4) cycles
    ahead of the message's first beat, or the block stream delayed by as much,
    i.e. +1 / +2 cycles of latency per packet. A final beat with j < k valid blocks
    uses H^j..H^1 (per-lane power select by count), and a message must start in
    lane 0 of a beat (or two accumulators are needed for a message boundary inside
    a beat).
    """

    def __init__(self):
        super().__init__({
            "i": In(stream.Signature(GhashIn)),
            "o": Out(stream.Signature(GhashOut)),
            "prod": Out(128),
        })

    def elaborate(self, platform):
        m = Module()

        acc = Signal(128, reset_less=True)      # Y_{i-1}
        h_reg = Signal(128, reset_less=True)    # H of the current message
        x = Signal(128)                         # Y_{i-1} xor X_i (multiplier input)
        h = Signal(128)                         # H operand
        y_out = Signal(128, reset_less=True)    # output register (one entry)

        p = self.i.payload
        m.d.comb += [
            x.eq(Mux(p.first, 0, acc) ^ p.block),
            h.eq(Mux(p.first, p.h, h_reg)),
        ]
        prod = gf128_mul(m, x, h)               # (Y_{i-1} xor X_i) * H
        m.d.comb += self.prod.eq(prod)

        # A last beat may only be taken if the output register is free or drains now.
        m.d.comb += self.i.ready.eq(~p.last | ~self.o.valid | self.o.ready)

        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.If(self.i.valid & self.i.ready):
            m.d.sync += acc.eq(prod)
            with m.If(p.first):
                m.d.sync += h_reg.eq(p.h)
            with m.If(p.last):
                m.d.sync += [
                    self.o.valid.eq(1),
                    y_out.eq(prod),
                ]
        m.d.comb += self.o.payload.y.eq(y_out)

        return m

"""AES-GCM stream engine (NIST SP 800-38D): one 16-octet block per cycle, a new key
every packet, encrypt or decrypt with tag check, 96-bit nonces, 128-bit tags; AES-256,
and with ``key_sizes=(128, 256)`` AES-128 too, chosen per packet by its context.

:class:`Gcm` runs two :class:`hw.aes.Aes` pipelines (key per block) and one
:class:`hw.ghash.Ghash` (hash key per message). The *hash-key pipeline* computes
``H = AES(K, 0^128)`` of each context as it is accepted, ahead of the packet (with
``h_in_ctx`` there is none: the context brings H, computed where its key was derived,
:class:`hw.kdf.Cmac2`); the *data pipeline* takes the packet's beats (text beats with the counter blocks ``inc32``
from ``J0 + 1`` on, ``J0 = nonce || 0^31 || 1``) and one *end slot* with ``J0`` for the
tag mask ``AES(K, J0)``. The end slot is the decrypt packet's TAG beat, or on encrypt a
slot of its own, which leaves as the tag beat. AAD and PASS beats ride the data pipeline
untouched, so beats leave in the order they came.

Ports (``amaranth.lib.stream``; Verilog ``ctx__valid/ready/payload``, ``i__...``,
``o__...``, clock ``clk``, reset ``rst``):

* ``ctx`` (sink), one transfer per packet, in packet order, :func:`ctx_layout`: ``key``
  (256, the first key octet in bits 255..248; an AES-128 key in bits 255..128),
  ``nonce`` (96, first octet in bits 95..88), ``decrypt``, and with AES-128 built in
  ``k128`` (1: the packet is AES-128-GCM; latency and rate are the same for both), and
  with ``h_in_ctx`` ``h`` (128, H = AES(K, 0^128) as :class:`hw.aes.Aes` returns it).
  Copied on acceptance: up to :data:`AHEAD` contexts are taken ahead of their packets
  (their H computed meanwhile).
* ``i`` (sink), the packet's beats, AXI-Stream style (:func:`beat_layout`): ``data``
  (128, octet k in lane k = bits 8k+7..8k, the first octet in lane 0), ``keep`` (16,
  one bit a lane), ``last``, and ``user`` = {``kind``: :class:`Kind`, ``side``: free
  sideband of ``side_width`` bits}. A packet is ``AAD* TEXT* TAG?`` beats, ``last`` on
  its final beat; ``TAG`` (the received tag in ``data``, ``keep`` ignored) only for
  decrypt, where it must be the final beat. ``PASS`` beats may stand anywhere: they are
  passed to ``o`` unchanged (lanes beyond ``keep`` zeroed), neither hashed nor encrypted
  (the octets of a frame outside the AAD). ``keep`` is contiguous from lane 0; only the
  final AAD beat and the final TEXT beat may be partial (GCM pads each of A and C to 16
  octets, and so does the engine, beat by beat). A beat with ``keep = 0`` (a null beat)
  is ignored everywhere: it yields no output beat and uses no counter block; an empty
  encrypt packet is one null beat with ``last`` set.
* ``o`` (source), :func:`out_layout`: every PASS, AAD and TEXT beat with ``keep != 0``,
  in order, PASS and AAD unchanged, TEXT encrypted or decrypted, lanes beyond ``keep`` zero;
  ``user.side`` as it came in; then one ``TAG`` beat with ``last = 1`` that ends the
  packet: encrypt: ``data`` = the tag, ``keep`` = all ones, ``tag_ok`` = 1; decrypt:
  ``data`` = 0, ``keep`` = 0, ``tag_ok`` = whether the received tag matched (the
  computed tag never leaves: it would be a forgery oracle). Its ``side`` is that of the
  packet's last input beat.

Decrypt is cut-through: plaintext beats leave before the verdict on the final beat. A
consumer that must not release unauthenticated plaintext (the endpoint does, spec
section 6) holds the packet until ``tag_ok``.

Latency: a beat accepted on ``i`` at clock edge t is presented on ``o`` after edge
t + 38 (:data:`LATENCY`: the data pipeline's 32, :data:`hw.aes.LATENCY`; a delay line
as long as GHASH's latency, 4, :data:`hw.ghash.LATENCY`; the output FIFO's 2), the TAG
beat included: GHASH (pipelined, :class:`hw.ghash.Ghash`) takes each hashed beat as it
leaves the data pipeline and its result for the packet's length block arrives as the
end slot reaches the end of the delay line, where the tag is formed. A context must be
accepted 33 cycles (AES LATENCY + 1) before its packet's first hashed beat leaves the data pipeline, or
that beat waits (a packet's beats are not issued until its H is ready); with ``h_in_ctx``
its packet may start on the cycle after it is accepted.

Throughput, ``o`` always ready and contexts ahead: one beat per cycle and
:data:`EXTRA_CYCLES` = 1 cycle a packet, the tag beat (decrypt: the received TAG beat;
encrypt: the end slot that leaves as the tag), whatever the key changes; the hash-key
pipeline takes one context a cycle. A packet of n AAD and m TEXT blocks takes
n + m + 1 cycles: 94 / 95 = 0.989 blocks per cycle for 1500 octets of text, and the one
extra cycle carries the 16 tag octets of the wire format.

Backpressure by credits, as in :mod:`hw.aes`: the engine takes a beat from its data
pipeline only while fewer than :data:`OUT_DEPTH` beats are past it (in the delay line
or the output FIFO), so neither the delay line nor GHASH ever stalls, and ``i.ready``
and ``ctx.ready`` do not depend on ``o.ready``: while ``o`` stalls, ``i`` may go on
until the data pipeline's own FIFO is full too (:data:`hw.aes.OUT_DEPTH`). No path
from a ``valid`` to the ``ready`` of the same stream. Nothing is lost, duplicated or
reordered.

Limits: a packet's AAD and text are each below 2^32 octets (32-bit length counters;
SP 800-38D allows up to 2^36 - 32 octets of text).

Widening to 2 or 4 blocks per cycle (not built): 2 or 4 AES lanes side by side, all
with the packet's key (the counter blocks J0 + 1 + k, one per lane); GHASH with H powers
per packet as :class:`hw.ghash.Ghash` describes, computed from the hash-key pipeline's
H before the packet starts (no cycle a packet). A 1500-octet packet then takes 47 + 1
beats at 2 lanes and 24 + 1 at 4.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, enum, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .aes import LATENCY as AES_LATENCY
from .aes import Aes
from .ghash import LATENCY as GHASH_LATENCY
from .ghash import Ghash
from .realign import keep_count, keep_lanes

__all__ = ["Gcm", "Kind", "ctx_layout", "beat_layout", "out_layout", "EXTRA_CYCLES", "LATENCY", "OUT_DEPTH", "AHEAD",
           "bswap128"]

#: Cycles a packet takes beyond its AAD and TEXT blocks (the tag beat), ``o`` ready.
EXTRA_CYCLES = 1
#: Cycles from a beat's transfer on ``i`` to its transfer on ``o`` (``o`` ready, the
#: packet's H in): the data pipeline, GHASH's delay line and the output FIFO (two: its
#: memory and its output register)
LATENCY = AES_LATENCY + GHASH_LATENCY + 2
#: Beats the engine holds past its data pipeline (GHASH's delay line and the output
#: FIFO): the credits by which it takes beats from the pipeline
OUT_DEPTH = 8
#: Contexts the engine holds: accepted ahead of their packets, or of packets in flight
#: (packets are started only while their H is in, so at most AHEAD are in flight): above
#: LATENCY / 2, so packets of one block (two cycles with the tag) keep the rate (16, with
#: LATENCY 37, measured 2.13 cycles a packet).
AHEAD = 32


class Kind(enum.Enum, shape=2):
    """What a beat of ``i`` / ``o`` carries."""
    AAD = 0     # additional authenticated data: authenticated, passed unchanged
    TEXT = 1    # plaintext (encrypt) or ciphertext (decrypt)
    TAG = 2     # the 16-octet tag: received (decrypt input) or computed (encrypt output)
    PASS = 3    # neither authenticated nor encrypted: passed unchanged (outer octets)


#: What a data-pipeline slot is for, one-hot: ``aad`` / ``text`` / ``pass_`` a data beat;
#: ``end`` AES(K, J0), the tag mask, ends the packet's GHASH with the length block.
#: (One-hot rather than an enum: no 2-bit compares, which Yosys writes as
#: width-mismatched Verilog that lint flags.)
#: ``hashed`` (the slot feeds GHASH) and ``emits`` (it leaves as a beat on ``o``) are
#: decided at issue, so the results side reads them from registers.
_Slot = data.StructLayout({"aad": 1, "text": 1, "end": 1, "pass_": 1, "hashed": 1, "emits": 1})


def ctx_layout(key_sizes=(256,), h_in_ctx=False) -> data.StructLayout:
    """Payload of ``ctx``: key, nonce, direction, ``k128`` if AES-128 is built in, ``h``
    if the hash key comes with the context."""
    fields = {"key": 256, "nonce": 96, "decrypt": 1}
    if 128 in key_sizes:
        fields["k128"] = 1
    if h_in_ctx:
        fields["h"] = 128
    return data.StructLayout(fields)


def beat_layout(side_width: int) -> data.StructLayout:
    """Payload of ``i``: AXI-Stream data / keep / last and user = {kind, side}."""
    return data.StructLayout({
        "data": 128, "keep": 16, "last": 1,
        "user": data.StructLayout({"kind": Kind, "side": side_width}),
    })


def out_layout(side_width: int) -> data.StructLayout:
    """Payload of ``o``: as :func:`beat_layout`, user with ``tag_ok`` (final beat)."""
    return data.StructLayout({
        "data": 128, "keep": 16, "last": 1,
        "user": data.StructLayout({"kind": Kind, "tag_ok": 1, "side": side_width}),
    })


def bswap128(v):
    """Octet k of a big-endian 128-bit integer (bits 127-8k..120-8k) to lane k (bits
    8k+7..8k), and back: the same wiring both ways."""
    return Cat(*[v[8 * (15 - k): 8 * (16 - k)] for k in range(16)])


class Gcm(wiring.Component):
    """AES-GCM encrypt/decrypt of packets, one block per cycle (see module docstring).

    ``side_width``: width of ``user.side``, a sideband that travels with each beat.
    ``key_sizes``: ``(256,)`` or ``(128, 256)`` (:class:`hw.aes.Aes`).
    ``h_in_ctx``: the context brings its hash key ``h`` = AES(K, 0^128) (as the block
    :class:`hw.aes.Aes` returns, first octet in bits 127..120), computed by whoever derived
    the key (:class:`hw.kdf.Cmac2`), and the engine has no hash-key pipeline: one AES
    pipeline instead of two. The context is then ready at once (no 18-cycle lead).
    ``sbox``: where the AES pipelines keep their S-boxes (:class:`hw.aes.Aes`).
    """

    def __init__(self, side_width: int = 8, key_sizes=(256,), h_in_ctx: bool = False, sbox: str = "lut"):
        self._sbox = sbox
        self._side_width = side_width
        self._key_sizes = tuple(sorted(key_sizes))
        self._h_in_ctx = h_in_ctx
        self._ctx = ctx_layout(self._key_sizes, h_in_ctx)
        super().__init__({
            "ctx": In(stream.Signature(self._ctx)),
            "i": In(stream.Signature(beat_layout(side_width))),
            "o": Out(stream.Signature(out_layout(side_width))),
        })

    def elaborate(self, platform):
        m = Module()
        slot_user = data.StructLayout({
            "slot": _Slot, "decrypt": 1, "data": 128, "keep": 16, "side": self._side_width})
        m.submodules.aes = aes = Aes(user_shape=slot_user, key_sizes=self._key_sizes, sbox=self._sbox)
        m.submodules.ghash = ghash = Ghash()

        # ---- contexts: copied, and H = AES(K, 0) computed ahead of the packet (or taken
        # from the context) -----------------------------------------------------------------
        m.submodules.ctxs = ctxs = fifo.SyncFIFOBuffered(width=self._ctx.size, depth=AHEAD)
        m.submodules.hs = hs = fifo.SyncFIFOBuffered(width=128, depth=AHEAD)
        if self._h_in_ctx:
            take_ctx = self.ctx.valid & ctxs.w_rdy & hs.w_rdy
            m.d.comb += [
                self.ctx.ready.eq(ctxs.w_rdy & hs.w_rdy),
                ctxs.w_en.eq(take_ctx), ctxs.w_data.eq(self.ctx.payload),
                hs.w_en.eq(take_ctx), hs.w_data.eq(self.ctx.payload.h),
            ]
        else:
            m.submodules.hkey = hkey = Aes(user_shape=1, key_sizes=self._key_sizes, sbox=self._sbox)
            take_ctx = self.ctx.valid & ctxs.w_rdy & hkey.i.ready
            m.d.comb += [
                self.ctx.ready.eq(ctxs.w_rdy & hkey.i.ready),
                ctxs.w_en.eq(take_ctx), ctxs.w_data.eq(self.ctx.payload),
                hkey.i.valid.eq(take_ctx), hkey.i.payload.key.eq(self.ctx.payload.key),
                hkey.i.payload.block.eq(0),
                *([hkey.i.payload.k128.eq(self.ctx.payload.k128)] if 128 in self._key_sizes else []),
                hs.w_en.eq(hkey.o.valid), hs.w_data.eq(hkey.o.payload.block), hkey.o.ready.eq(hs.w_rdy),
            ]

        # ---- issue: the beats, then (encrypt) the end slot ----------------------------
        ctx, beat = data.View(self._ctx, ctxs.r_data), self.i.payload
        started = Signal()          # the current packet has issued a slot
        end_pending = Signal()      # encrypt: last beat issued, end slot next
        ctr = Signal(32, init=2)    # inc32 counter of the next TEXT beat
        last_side = Signal(self._side_width)
        # hash keys written to hs and not yet claimed by a started packet (a packet's H
        # leaves hs with its end slot): a packet starts once its context is in and its H
        # computed. (A register, not hs.r_level minus the packets in flight: no adder and
        # compare before the issue. An H counted here on its write reaches hs's head a
        # few cycles later, long before the packet's first hashed slot leaves the
        # data pipeline, which waits for it anyway.)
        spare = Signal(range(AHEAD + 1))
        ready_to_start = ctxs.r_rdy & (spare != 0)
        slot_in = aes.i.payload.user
        m.d.comb += [
            aes.i.payload.key.eq(ctx.key),
            slot_in.decrypt.eq(ctx.decrypt),
        ]
        if 128 in self._key_sizes:
            m.d.comb += aes.i.payload.k128.eq(ctx.k128)
        issued = aes.i.valid & aes.i.ready
        packet_done = Signal()      # the packet's last slot issues now
        with m.If(end_pending):
            m.d.comb += [
                aes.i.valid.eq(1),
                aes.i.payload.block.eq(Cat(Const(1, 32), ctx.nonce)),
                slot_in.slot.end.eq(1), slot_in.slot.hashed.eq(1), slot_in.slot.emits.eq(1),
                slot_in.side.eq(last_side),
                packet_done.eq(issued),
            ]
            with m.If(issued):
                m.d.sync += end_pending.eq(0)
        with m.Else():
            kind = beat.user.kind.as_value()    # decoded by bit
            is_tag, is_text = kind[1] & ~kind[0], kind[0] & ~kind[1]
            may = started | ready_to_start
            m.d.comb += [
                aes.i.valid.eq(self.i.valid & may),
                self.i.ready.eq(aes.i.ready & may),
                aes.i.payload.block.eq(Cat(Mux(is_text, ctr, 1), ctx.nonce)),
                slot_in.slot.end.eq(is_tag),
                slot_in.slot.text.eq(is_text),
                slot_in.slot.aad.eq(~kind.any()),
                slot_in.slot.pass_.eq(kind.all()),
                slot_in.slot.hashed.eq(is_tag | (~kind[1] & beat.keep.any())),
                slot_in.slot.emits.eq(is_tag | beat.keep.any()),
                slot_in.data.eq(beat.data),
                slot_in.keep.eq(beat.keep),
                slot_in.side.eq(beat.user.side),
            ]
            with m.If(issued):
                m.d.sync += started.eq(1)
                with m.If(is_text & beat.keep.any()):
                    m.d.sync += ctr.eq(ctr + 1)
                with m.If(beat.last & is_tag):
                    m.d.comb += packet_done.eq(1)
                with m.Elif(beat.last):
                    m.d.sync += [end_pending.eq(1), last_side.eq(beat.user.side)]
        with m.If(packet_done):
            m.d.comb += ctxs.r_en.eq(1)
            m.d.sync += [started.eq(0), ctr.eq(2)]

        # ---- results: keystream XOR and GHASH feed, as the data pipeline hands them out --
        res = aes.o.payload
        u = res.user
        slot = u.slot
        to_ghash = slot.hashed
        kept = Signal(128)                          # the input's octets within keep
        m.d.comb += kept.eq(keep_lanes(u.data, u.keep))
        text = Signal(128)                          # output lanes: AAD as is, TEXT xor keystream
        m.d.comb += text.eq(kept ^ keep_lanes(Mux(slot.text, bswap128(res.block), 0), u.keep))
        # GHASH runs over the ciphertext: the output when encrypting, the input when decrypting
        cipher = Mux(slot.text & ~u.decrypt, text, kept)

        len_a = Signal(32)                          # octets of AAD / text so far
        len_c = Signal(32)
        fresh = Signal(init=1)                      # the packet's next hashed block is its first
        len_block = Cat(Const(0, 3), len_c, Const(0, 29), Const(0, 3), len_a, Const(0, 29))
        emits = slot.emits

        # credits: beats taken from the data pipeline and not yet read from o (in the delay
        # line or the output FIFO); a beat is taken only while there is room for it, so
        # nothing downstream ever stalls and no ready depends on o.ready
        m.submodules.outq = outq = fifo.SyncFIFOBuffered(width=len(self.o.payload.as_value()), depth=OUT_DEPTH)
        inside = Signal(range(OUT_DEPTH + 1))
        room = inside < OUT_DEPTH
        m.d.comb += aes.o.ready.eq(room & (~to_ghash | hs.r_rdy))
        took = aes.o.valid & aes.o.ready
        m.d.sync += inside.eq(inside + (took & emits) - (self.o.valid & self.o.ready))
        m.d.comb += [
            # the packet's H: the oldest in hs. GHASH always takes a block here: its
            # results are read as they come, so fewer than ghash.RESULTS are ever pending
            ghash.i.valid.eq(took & to_ghash),
            ghash.i.payload.h.eq(hs.r_data),
            ghash.i.payload.first.eq(fresh),
            ghash.i.payload.last.eq(slot.end),
            ghash.i.payload.block.eq(Mux(slot.end, len_block, bswap128(cipher))),
            ghash.o.ready.eq(1),
        ]
        with m.If(took & to_ghash):
            m.d.sync += fresh.eq(0)
        with m.If(took & slot.aad):
            m.d.sync += len_a.eq(len_a + keep_count(u.keep))
        with m.If(took & slot.text):
            m.d.sync += len_c.eq(len_c + keep_count(u.keep))
        with m.If(took & slot.end):
            m.d.sync += [len_a.eq(0), len_c.eq(0), fresh.eq(1)]
            m.d.comb += hs.r_en.eq(1)
        m.d.sync += spare.eq(spare + (hs.w_en & hs.w_rdy) - (issued & ~started & ~end_pending))

        # ---- a delay line as long as GHASH's latency, then the tag, into the output FIFO --
        # (an end slot carries its tag mask AES(K, J0) in data and the received tag in recv)
        Delayed = data.StructLayout({"end": 1, "decrypt": 1, "data": 128, "recv": 128, "keep": 16,
                                     "kind": Kind, "side": self._side_width})
        d_valid, d = took & emits, Signal(Delayed)
        m.d.comb += [
            d.end.eq(slot.end), d.decrypt.eq(u.decrypt), d.data.eq(Mux(slot.end, res.block, text)),
            d.recv.eq(u.data), d.keep.eq(u.keep), d.side.eq(u.side),
            d.kind.eq(Mux(slot.end, Kind.TAG, Mux(slot.text, Kind.TEXT, Mux(slot.pass_, Kind.PASS, Kind.AAD)))),
        ]
        for k in range(GHASH_LATENCY):
            v_q = Signal(name=f"delay{k}_valid")
            d_q = Signal(Delayed, name=f"delay{k}", reset_less=True)
            m.d.sync += [v_q.eq(d_valid), d_q.eq(d)]
            d_valid, d = v_q, d_q

        tag = Signal(128)                           # S xor AES(K, J0), on the end slot
        m.d.comb += tag.eq(ghash.o.payload.y ^ d.data)
        out = data.View(out_layout(self._side_width), outq.w_data)
        m.d.comb += [
            outq.w_en.eq(d_valid),                  # never full: the credits count its entries
            out.data.eq(Mux(d.end, Mux(d.decrypt, 0, bswap128(tag)), d.data)),
            out.keep.eq(Mux(d.end, Mux(d.decrypt, 0, 0xFFFF), d.keep)),
            out.last.eq(d.end),
            out.user.kind.eq(d.kind),
            out.user.tag_ok.eq(d.end & (~d.decrypt | (tag == bswap128(d.recv)))),
            out.user.side.eq(d.side),
            self.o.valid.eq(outq.r_rdy), self.o.payload.eq(outq.r_data), outq.r_en.eq(self.o.ready),
        ]
        return m

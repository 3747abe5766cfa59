"""KDF engine of docs/spec.md section 5: master key + ID + epoch in, 256-bit data key out.

Two components:

* :class:`Cmac2` — AES-256-CMAC of two complete one-block messages under one key:
  ``T_j = AES(K, M_j xor K1)``, ``K1 = dbl(AES(K, 0))`` (SP 800-38B with a complete
  last block). Three AES operations per request, all through **one** shared, fully
  pipelined :class:`hw.aes.Aes`: first ``L = AES(K, 0)``, then, when L returns, the
  two message blocks on consecutive issue slots.
* :class:`KdfEngine` — formats the two fixed-input blocks of the spec
  (``[i]_8 || "E0"/"E1" || 00 || ID8 || Epoch || 0100``) and runs :class:`Cmac2`;
  the data key is ``T_1 || T_2``.

Throughput: one request every 3 cycles (3 AES slots each) when ``o`` is always ready;
issue priority is second pass > new request, so a key never waits behind newer ones.
Latency: 39 cycles from the request's transfer to the key's transfer when ``o`` is ready
(two AES passes of 17 cycles, the L queue and the output FIFO; measured by
tb/kdf_tb.py into ``results/kdf_<simulator>.txt``).
Backpressure: at most ``depth`` requests are in flight (default 32, above the ~41-cycle
round trip / 3 = 14 needed on average: with fewer credits, admission stalls in convoys
and the rate drops, e.g. 3.06 cycles/key at depth 16); their results always fit the
internal FIFOs, so the AES pipeline never stalls and ``i.ready`` never depends on
``o.ready`` combinationally. Order: results leave in request order.
Byte order: 128/256-bit values are big-endian byte strings as integers
(``int.from_bytes(b, "big")``): bits 255..248 are the first key octet.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .aes import Aes

__all__ = ["Cmac2", "KdfEngine", "dbl", "fixed_block"]


def dbl(x):
    """SP 800-38B doubling in GF(2^128): ``x << 1``, xor 0x87 if the top bit was set."""
    return Cat(Const(0, 1), x[:127]) ^ Mux(x[127], 0x87, 0)


def fixed_block(i: int, kind, ident, epoch):
    """PRF input block ``i`` of spec section 5 (kind 0: DeviceID in ident[31:0], zero-extended)."""
    id8 = Mux(kind, ident, Cat(ident[:32], Const(0, 32)))
    label = Cat(Const(0x30, 8) | kind, Const(0x45, 8))  # "E0" / "E1", first octet high
    return Cat(Const(256, 16), epoch, id8, Const(0, 8), label, Const(i, 8))


class Cmac2(wiring.Component):
    """AES-256-CMAC of two one-block messages per request (see module docstring).

    ``i.payload``: ``key`` (256), ``m1``, ``m2`` (128 each), ``tag`` (user, passed through).
    ``o.payload``: ``t1``, ``t2`` (128 each), ``tag``.
    """

    def __init__(self, tag_width: int = 1, depth: int = 32):
        self._tag_width = tag_width
        self._depth = depth
        self.req_layout = data.StructLayout({"key": 256, "m1": 128, "m2": 128, "tag": tag_width})
        self.res_layout = data.StructLayout({"t1": 128, "t2": 128, "tag": tag_width})
        super().__init__({"i": In(stream.Signature(self.req_layout)), "o": Out(stream.Signature(self.res_layout))})

    def elaborate(self, platform):
        m = Module()
        depth = self._depth
        slot_bits = max(1, (depth - 1).bit_length())
        # AES sideband: which request slot, and which pass (l: L = AES(K, 0); else h2 ? T2 : T1)
        user = data.StructLayout({"slot": slot_bits, "l": 1, "h2": 1})
        m.submodules.aes = aes = Aes(user_shape=user)

        # request contexts, written at admission, read when their L returns
        m.submodules.ctx = ctx = Memory(shape=self.req_layout, depth=depth, init=[])
        ctx_w = ctx.write_port()
        ctx_r = ctx.read_port(domain="comb")
        # L results waiting for their second pass: slot and K1
        m.submodules.lq = lq = fifo.SyncFIFOBuffered(width=slot_bits + 128, depth=depth)
        # finished tags; the request's user tag is read from ctx when T2 returns
        m.submodules.oq = oq = fifo.SyncFIFOBuffered(width=self.res_layout.size, depth=depth)

        admit_ptr = Signal(slot_bits)
        in_flight = Signal(range(depth + 1))
        second = Signal()  # T1 of the lq head issued, T2 next
        lq_slot, lq_k1 = lq.r_data[:slot_bits], lq.r_data[slot_bits:]
        m.d.comb += ctx_r.addr.eq(lq_slot)

        # --- issue into the AES pipeline: second pass first, then new requests ---------
        req = self.i.payload
        admit = Signal()
        with m.If(second):
            m.d.comb += [
                aes.i.valid.eq(1),
                aes.i.payload.key.eq(ctx_r.data.key),
                aes.i.payload.block.eq(ctx_r.data.m2 ^ lq_k1),
                aes.i.payload.user.slot.eq(lq_slot),
                aes.i.payload.user.h2.eq(1),
            ]
            with m.If(aes.i.ready):
                m.d.comb += lq.r_en.eq(1)
                m.d.sync += second.eq(0)
        with m.Elif(lq.r_rdy):
            m.d.comb += [
                aes.i.valid.eq(1),
                aes.i.payload.key.eq(ctx_r.data.key),
                aes.i.payload.block.eq(ctx_r.data.m1 ^ lq_k1),
                aes.i.payload.user.slot.eq(lq_slot),
            ]
            with m.If(aes.i.ready):
                m.d.sync += second.eq(1)
        with m.Elif(in_flight < depth):
            m.d.comb += [
                self.i.ready.eq(aes.i.ready),
                aes.i.valid.eq(self.i.valid),
                aes.i.payload.key.eq(req.key),
                aes.i.payload.block.eq(0),
                aes.i.payload.user.slot.eq(admit_ptr),
                aes.i.payload.user.l.eq(1),
                admit.eq(self.i.valid & aes.i.ready),
                ctx_w.addr.eq(admit_ptr),
                ctx_w.data.eq(req),
                ctx_w.en.eq(admit),
            ]
            with m.If(admit):
                m.d.sync += admit_ptr.eq(Mux(admit_ptr == depth - 1, 0, admit_ptr + 1))

        # --- results: never refused (credits guarantee room), so the AES never stalls ---
        t1 = Signal(128)
        res = aes.o.payload
        m.d.comb += aes.o.ready.eq(1)
        tag_r = ctx.read_port(domain="comb")
        m.d.comb += tag_r.addr.eq(res.user.slot)
        with m.If(aes.o.valid & res.user.l):
            m.d.comb += [lq.w_en.eq(1), lq.w_data.eq(Cat(res.user.slot, dbl(res.block)))]
        with m.Elif(aes.o.valid & ~res.user.h2):
            m.d.sync += t1.eq(res.block)
        with m.Elif(aes.o.valid):
            m.d.comb += [oq.w_en.eq(1), oq.w_data.eq(Cat(t1, res.block, tag_r.data.tag))]

        # --- output --------------------------------------------------------------------
        m.d.comb += [self.o.valid.eq(oq.r_rdy), self.o.payload.eq(oq.r_data), oq.r_en.eq(self.o.ready)]
        done = self.o.valid & self.o.ready
        m.d.sync += in_flight.eq(in_flight + admit - done)
        return m


class KdfEngine(wiring.Component):
    """Data key of spec section 5 per request (see module docstring for rate and latency).

    ``i.payload``: ``mk`` (256), ``kind`` (1: 0 DeviceID, 1 ConnectionID), ``ident`` (64;
    a DeviceID in bits 31..0, bits 63..32 ignored), ``epoch`` (16), ``tag`` (user).
    ``o.payload``: ``dk`` (256), ``tag``.
    """

    def __init__(self, tag_width: int = 1, depth: int = 32):
        self._tag_width = tag_width
        self._depth = depth
        req = data.StructLayout({"mk": 256, "kind": 1, "ident": 64, "epoch": 16, "tag": tag_width})
        res = data.StructLayout({"dk": 256, "tag": tag_width})
        super().__init__({"i": In(stream.Signature(req)), "o": Out(stream.Signature(res))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.cmac = cmac = Cmac2(self._tag_width, self._depth)
        r = self.i.payload
        m.d.comb += [
            cmac.i.valid.eq(self.i.valid),
            self.i.ready.eq(cmac.i.ready),
            cmac.i.payload.key.eq(r.mk),
            cmac.i.payload.m1.eq(fixed_block(1, r.kind, r.ident, r.epoch)),
            cmac.i.payload.m2.eq(fixed_block(2, r.kind, r.ident, r.epoch)),
            cmac.i.payload.tag.eq(r.tag),
            self.o.valid.eq(cmac.o.valid),
            cmac.o.ready.eq(self.o.ready),
            self.o.payload.dk.eq(Cat(cmac.o.payload.t2, cmac.o.payload.t1)),
            self.o.payload.tag.eq(cmac.o.payload.tag),
        ]
        return m

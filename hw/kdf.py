"""KDF engine of docs/spec.md section 5: master key + ID + epoch in, 256-bit data key out,
with the GCM hash key of that data key.

Two components:

* :class:`Cmac2` — AES-256-CMAC of two complete one-block messages under one key,
  ``T_j = AES(K, M_j xor K1)``, ``K1 = dbl(AES(K, 0))`` (SP 800-38B with a complete
  last block), and the GCM hash key ``H = AES(DK, 0^128)`` of the key the two blocks make
  (``DK = T1 || T2``, or with ``k128`` the AES-128 key ``T1``). Four AES operations per
  request, all through **one** shared, fully pipelined :class:`hw.aes.Aes` with a slot
  schedule: ``L = AES(K, 0)``; when L returns, the two message blocks on consecutive
  issue slots; when T2 returns, H. (H is what the GCM engine would otherwise compute in
  an AES pipeline of its own: :class:`hw.gcm.Gcm` with ``h_in_ctx``.)
* :class:`KdfEngine` — formats the two fixed-input blocks of the spec
  (``[i]_8 || "E0"/"E1" || 00 || ID8 || Epoch || 0100``) and runs :class:`Cmac2`;
  the data key is ``T_1 || T_2``.

Throughput: one request every 4 cycles (4 AES slots each) when ``o`` is always ready;
issue priority is H > second block > first block > new request, so a key never waits
behind newer ones. Latency: 108 cycles from the request's transfer to the key's transfer
when ``o`` is ready (three AES passes of 32 cycles, the queues between them and the
output FIFO, and the register slices at the heads of the queues and after the AES; measured by
tb/kdf_tb.py into ``results/kdf_<simulator>.txt``).
Backpressure: at most ``depth`` requests are in flight (default 64, above the ~105-cycle
round trip / 4 = 27 needed on average (32 measured 4.11 cycles a key): with fewer credits, admission stalls in convoys
and the rate drops); their results always fit the internal FIFOs, so the AES pipeline
never stalls and ``i.ready`` never depends on ``o.ready`` combinationally. Order:
results leave in request order.
Byte order: 128/256-bit values are big-endian byte strings as integers
(``int.from_bytes(b, "big")``): bits 255..248 are the first key octet; ``h`` is the
block ``AES(DK, 0)`` so read (the first octet in bits 127..120).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .aes import Aes, check_key_sizes
from .pipe import RegisterSlice

__all__ = ["Cmac2", "KdfEngine", "dbl", "fixed_block"]


def dbl(x):
    """SP 800-38B doubling in GF(2^128): ``x << 1``, xor 0x87 if the top bit was set."""
    return Cat(Const(0, 1), x[:127]) ^ Mux(x[127], 0x87, 0)


def fixed_block(i: int, kind, ident, epoch):
    """PRF input block ``i`` of spec section 5 (kind 0: DeviceID in ident[31:0], zero-extended)."""
    id8 = Mux(kind, ident, Cat(ident[:32], Const(0, 32)))
    label = Cat(Const(0x30, 8) | kind, Const(0x45, 8))  # "E0" / "E1", first octet high
    return Cat(Const(256, 16), epoch, id8, Const(0, 8), label, Const(i, 8))


def _head(m, name: str, q):
    """The head of FIFO ``q`` as a stream out of a :class:`hw.pipe.RegisterSlice` named
    ``name`` (``valid`` / ``payload`` / ``ready`` for ``r_rdy`` / ``r_data`` / ``r_en``)."""
    m.submodules[name] = sl = RegisterSlice(q.width)
    m.d.comb += [sl.i.valid.eq(q.r_rdy), sl.i.payload.eq(q.r_data), q.r_en.eq(sl.i.ready)]
    return sl.o


class Cmac2(wiring.Component):
    """AES-256-CMAC of two one-block messages per request, and the hash key of the key
    they make (see module docstring).

    ``i.payload``: ``key`` (256), ``m1``, ``m2`` (128 each), ``tag`` (user, passed
    through), and with ``key_sizes=(128, 256)`` ``k128`` (1: H under the AES-128 key T1;
    0: under the AES-256 key T1 || T2). ``o.payload``: ``t1``, ``t2``, ``h`` (128 each),
    ``tag``. ``depth``: requests in flight (credits). ``sbox``: where the AES pipeline
    keeps its S-boxes (:class:`hw.aes.Aes`).
    """

    def __init__(self, tag_width: int = 1, depth: int = 64, key_sizes=(256,), sbox: str = "lut"):
        self._sbox = sbox
        self._tag_width = tag_width
        self._depth = depth
        self._key_sizes = check_key_sizes(key_sizes)
        req = {"key": 256, "m1": 128, "m2": 128, "tag": tag_width}
        if 128 in self._key_sizes:
            req["k128"] = 1
        self.req_layout = data.StructLayout(req)
        self.res_layout = data.StructLayout({"t1": 128, "t2": 128, "h": 128, "tag": tag_width})
        super().__init__({"i": In(stream.Signature(self.req_layout)), "o": Out(stream.Signature(self.res_layout))})

    def elaborate(self, platform):
        m = Module()
        depth = self._depth
        k128_built = 128 in self._key_sizes
        slot_bits = max(1, (depth - 1).bit_length())
        # AES sideband: which request slot, and which pass: l (L = AES(K, 0)), h2 (T2),
        # hk (H = AES(DK, 0)), none of them (T1)
        user = data.StructLayout({"slot": slot_bits, "l": 1, "h2": 1, "hk": 1})
        m.submodules.aes = aes = Aes(user_shape=user, key_sizes=self._key_sizes, sbox=self._sbox)

        # request contexts, written at admission, read when their L returns
        m.submodules.ctx = ctx = Memory(shape=self.req_layout, depth=depth, init=[])
        ctx_w = ctx.write_port()
        ctx_r = ctx.read_port(domain="comb")
        # L results waiting for their second pass: slot and K1
        m.submodules.lq = lq = fifo.SyncFIFOBuffered(width=slot_bits + 128, depth=depth)
        # derived keys T1 || T2 by slot, written when T2 returns, read for the H pass and
        # when H returns
        m.submodules.dks = dks = Memory(shape=256, depth=depth, init=[])
        dk_w = dks.write_port()
        dk_issue = dks.read_port(domain="comb")
        dk_done = dks.read_port(domain="comb")
        # requests whose T2 returned, waiting for their H pass: slot and k128
        m.submodules.hq = hq = fifo.SyncFIFOBuffered(width=slot_bits + 1, depth=depth)
        # finished results; the request's user tag is read from ctx when H returns
        m.submodules.oq = oq = fifo.SyncFIFOBuffered(width=self.res_layout.size, depth=depth)

        # the heads of lq and hq through register slices: the memories' read addresses
        # come from flip-flops, not from a FIFO's block-RAM output (on an ECP5, a
        # DP16KD's 5.6 ns clock-to-out, then the context memory, then the issue mux)
        lqh = _head(m, "lq_head", lq)
        hqh = _head(m, "hq_head", hq)
        admit_ptr = Signal(slot_bits)
        in_flight = Signal(range(depth + 1))
        second = Signal()  # T1 of the lq head issued, T2 next
        lq_slot, lq_k1 = lqh.payload[:slot_bits], lqh.payload[slot_bits:]
        hq_slot, hq_k128 = hqh.payload[:slot_bits], hqh.payload[slot_bits]
        m.d.comb += [ctx_r.addr.eq(lq_slot), dk_issue.addr.eq(hq_slot)]

        # --- issue into the AES pipeline: H, second block, first block, new request ----
        req = self.i.payload
        admit = Signal()
        with m.If(hqh.valid):
            m.d.comb += [
                aes.i.valid.eq(1),
                aes.i.payload.key.eq(dk_issue.data),
                aes.i.payload.block.eq(0),
                aes.i.payload.user.slot.eq(hq_slot),
                aes.i.payload.user.hk.eq(1),
                *([aes.i.payload.k128.eq(hq_k128)] if k128_built else []),
                hqh.ready.eq(aes.i.ready),
            ]
        with m.Elif(second):
            m.d.comb += [
                aes.i.valid.eq(1),
                aes.i.payload.key.eq(ctx_r.data.key),
                aes.i.payload.block.eq(ctx_r.data.m2 ^ lq_k1),
                aes.i.payload.user.slot.eq(lq_slot),
                aes.i.payload.user.h2.eq(1),
            ]
            with m.If(aes.i.ready):
                m.d.comb += lqh.ready.eq(1)
                m.d.sync += second.eq(0)
        with m.Elif(lqh.valid):
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
        # (through a register slice: the memories below are read at the result's slot
        # from flip-flops, not from the AES output FIFO's block RAM; always ready)
        t1 = Signal(128)
        m.submodules.res = rs = RegisterSlice(aes.o.payload.shape())
        wiring.connect(m, aes.o, rs.i)
        res = rs.o.payload
        m.d.comb += rs.o.ready.eq(1)
        tag_r = ctx.read_port(domain="comb")
        m.d.comb += [tag_r.addr.eq(res.user.slot), dk_done.addr.eq(res.user.slot),
                     dk_w.addr.eq(res.user.slot), dk_w.data.eq(Cat(res.block, t1))]
        with m.If(rs.o.valid & res.user.l):
            m.d.comb += [lq.w_en.eq(1), lq.w_data.eq(Cat(res.user.slot, dbl(res.block)))]
        with m.Elif(rs.o.valid & res.user.hk):
            m.d.comb += [oq.w_en.eq(1), oq.w_data.eq(Cat(dk_done.data[128:], dk_done.data[:128], res.block,
                                                         tag_r.data.tag))]
        with m.Elif(rs.o.valid & res.user.h2):
            m.d.comb += [dk_w.en.eq(1), hq.w_en.eq(1),
                         hq.w_data.eq(Cat(res.user.slot, tag_r.data.k128 if k128_built else 0))]
        with m.Elif(rs.o.valid):
            m.d.sync += t1.eq(res.block)

        # --- output --------------------------------------------------------------------
        m.d.comb += [self.o.valid.eq(oq.r_rdy), self.o.payload.eq(oq.r_data), oq.r_en.eq(self.o.ready)]
        done = self.o.valid & self.o.ready
        m.d.sync += in_flight.eq(in_flight + admit - done)
        return m


class KdfEngine(wiring.Component):
    """Data key of spec section 5 per request (see module docstring for rate and latency).

    ``i.payload``: ``mk`` (256), ``kind`` (1: 0 DeviceID, 1 ConnectionID), ``ident`` (64;
    a DeviceID in bits 31..0, bits 63..32 ignored), ``epoch`` (16), ``tag`` (user).
    ``o.payload``: ``dk`` (256), ``h`` (128, the GCM hash key AES(DK, 0)), ``tag``.
    ``depth`` as :class:`Cmac2`'s; ``sbox``: where the AES pipeline keeps its S-boxes.
    """

    def __init__(self, tag_width: int = 1, depth: int = 64, sbox: str = "lut"):
        self._tag_width = tag_width
        self._depth = depth
        self._sbox = sbox
        req = data.StructLayout({"mk": 256, "kind": 1, "ident": 64, "epoch": 16, "tag": tag_width})
        res = data.StructLayout({"dk": 256, "h": 128, "tag": tag_width})
        super().__init__({"i": In(stream.Signature(req)), "o": Out(stream.Signature(res))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.cmac = cmac = Cmac2(self._tag_width, self._depth, sbox=self._sbox)
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
            self.o.payload.h.eq(cmac.o.payload.h),
            self.o.payload.tag.eq(cmac.o.payload.tag),
        ]
        return m

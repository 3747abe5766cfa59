"""AES-256-GCM stream engine (NIST SP 800-38D): one 16-octet block per cycle, a new key
every packet, encrypt or decrypt with tag check, 96-bit nonces, 128-bit tags.

:class:`Gcm` runs one shared :class:`hw.aes.Aes256` pipeline (key per block) and one
:class:`hw.ghash.Ghash` (hash key per message). Per packet the AES pipeline takes one
extra slot before the data, ``H = AES(K, 0^128)``, and one after it,
``AES(K, J0)`` for the tag mask (``J0 = nonce || 0^31 || 1``); text beats take the
counter blocks ``inc32`` from ``J0 + 1`` on. AAD beats ride the pipeline untouched, so
beats leave in the order they came.

Ports (``amaranth.lib.stream``; Verilog ``ctx__valid/ready/payload``, ``i__...``,
``o__...``, clock ``clk``, reset ``rst``):

* ``ctx`` (sink), one transfer per packet, :data:`CtxLayout`: ``key`` (256, the first
  key octet in bits 255..248), ``nonce`` (96, first octet in bits 95..88), ``decrypt``.
  It is *held*, not copied: the engine reads it while the packet's beats flow and
  acknowledges it (``ctx.ready``) with the packet's last input beat, so it must stay
  valid and stable meanwhile, as any stream payload does.
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

Latency: a data beat accepted on ``i`` at clock edge t is presented on ``o`` after edge
t + 14 (:data:`hw.aes.LATENCY`); the TAG beat one cycle after the packet's last slot
leaves the AES pipeline (GHASH's registered result). Throughput, ``o`` always ready: one
beat per cycle, plus :data:`SLOTS_PER_PACKET` = 2 cycles a packet (encrypt: H and J0
slots; decrypt: H, and J0 rides on the TAG beat), whatever the key changes. A packet of
n AAD and m TEXT blocks thus takes n + m + 2 cycles: 94 / 96 = 0.979 blocks per cycle
for 1500 octets of text.

Backpressure: the AES pipeline's global enable (``hw.aes``): ``i.ready`` and
``ctx.ready`` depend combinationally on ``o.ready``; no path from a ``valid`` to the
``ready`` of the same stream. Nothing is lost, duplicated or reordered.

Limits: a packet's AAD and text are each below 2^32 octets (32-bit length counters;
SP 800-38D allows up to 2^36 - 32 octets of text).

Widening to 2 or 4 blocks per cycle (not built): 2 or 4 AES lanes side by side, all
with the packet's key (the counter blocks J0 + 1 + k, one per lane), the per-packet
slots H and J0 taking two lanes of one beat; GHASH with H powers per packet as
:class:`hw.ghash.Ghash` describes (+1 / +2 cycles a packet to compute H^2..H^4). The
2-slot overhead then becomes 1 beat, so a 1500-octet packet takes 47 + 1 (+1) beats at
2 lanes and 24 + 1 (+2) at 4.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from .aes import Aes256
from .ghash import Ghash
from .realign import keep_lanes

__all__ = ["Gcm", "Kind", "CtxLayout", "beat_layout", "out_layout", "SLOTS_PER_PACKET", "bswap128"]

SLOTS_PER_PACKET = 2


class Kind(enum.Enum, shape=2):
    """What a beat of ``i`` / ``o`` carries."""
    AAD = 0     # additional authenticated data: authenticated, passed unchanged
    TEXT = 1    # plaintext (encrypt) or ciphertext (decrypt)
    TAG = 2     # the 16-octet tag: received (decrypt input) or computed (encrypt output)
    PASS = 3    # neither authenticated nor encrypted: passed unchanged (outer octets)


#: What an AES pipeline slot is for, one-hot: ``h`` AES(K, 0), the GHASH key, starts the
#: packet's GHASH; ``aad`` / ``text`` a data beat; ``end`` AES(K, J0), the tag mask, ends
#: the packet's GHASH with the length block. (One-hot rather than an enum: no 2-bit
#: compares, which Yosys writes as width-mismatched Verilog that lint flags.)
_Slot = data.StructLayout({"h": 1, "aad": 1, "text": 1, "end": 1, "pass_": 1})


CtxLayout = data.StructLayout({"key": 256, "nonce": 96, "decrypt": 1})


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
    """AES-256-GCM encrypt/decrypt of packets, one block per cycle (see module docstring).

    ``side_width``: width of ``user.side``, a sideband that travels with each beat.
    """

    def __init__(self, side_width: int = 8):
        self._side_width = side_width
        super().__init__({
            "ctx": In(stream.Signature(CtxLayout)),
            "i": In(stream.Signature(beat_layout(side_width))),
            "o": Out(stream.Signature(out_layout(side_width))),
        })

    def elaborate(self, platform):
        m = Module()
        slot_user = data.StructLayout({
            "slot": _Slot, "decrypt": 1, "data": 128, "keep": 16, "side": self._side_width})
        m.submodules.aes = aes = Aes256(user_shape=slot_user)
        m.submodules.ghash = ghash = Ghash()

        # ---- issue: H slot, the beats, then (encrypt) the J0 slot ---------------------
        ctx, beat = self.ctx.payload, self.i.payload
        started = Signal()          # H of the held context is issued
        end_pending = Signal()      # encrypt: last beat issued, J0 slot next
        ctr = Signal(32, init=2)    # inc32 counter of the next TEXT beat
        last_side = Signal(self._side_width)
        slot_in = aes.i.payload.user
        m.d.comb += [
            aes.i.payload.key.eq(ctx.key),
            slot_in.decrypt.eq(ctx.decrypt),
        ]
        with m.If(~started):
            m.d.comb += [
                aes.i.valid.eq(self.ctx.valid),
                aes.i.payload.block.eq(0),
                slot_in.slot.h.eq(1),
            ]
            with m.If(self.ctx.valid & aes.i.ready):
                m.d.sync += [started.eq(1), ctr.eq(2)]
        with m.Elif(end_pending):
            m.d.comb += [
                aes.i.valid.eq(1),
                aes.i.payload.block.eq(Cat(Const(1, 32), ctx.nonce)),
                slot_in.slot.end.eq(1),
                slot_in.side.eq(last_side),
            ]
            with m.If(aes.i.ready):
                m.d.comb += self.ctx.ready.eq(1)
                m.d.sync += [started.eq(0), end_pending.eq(0)]
        with m.Else():
            kind = beat.user.kind.as_value()    # decoded by bit
            is_tag, is_text = kind[1] & ~kind[0], kind[0] & ~kind[1]
            m.d.comb += [
                aes.i.valid.eq(self.i.valid),
                self.i.ready.eq(aes.i.ready),
                aes.i.payload.block.eq(Cat(Mux(is_text, ctr, 1), ctx.nonce)),
                slot_in.slot.end.eq(is_tag),
                slot_in.slot.text.eq(is_text),
                slot_in.slot.aad.eq(~kind.any()),
                slot_in.slot.pass_.eq(kind.all()),
                slot_in.data.eq(beat.data),
                slot_in.keep.eq(beat.keep),
                slot_in.side.eq(beat.user.side),
            ]
            with m.If(self.i.valid & aes.i.ready):
                with m.If(is_text & beat.keep.any()):
                    m.d.sync += ctr.eq(ctr + 1)
                with m.If(beat.last & is_tag):
                    m.d.comb += self.ctx.ready.eq(1)
                    m.d.sync += started.eq(0)
                with m.Elif(beat.last):
                    m.d.sync += [end_pending.eq(1), last_side.eq(beat.user.side)]

        # ---- results: keystream XOR, GHASH feed, tag -----------------------------------
        res = aes.o.payload
        u = res.user
        slot = u.slot
        has_out = (slot.aad | slot.text | slot.pass_) & u.keep.any()     # yields an output beat
        to_ghash = (has_out & ~slot.pass_) | slot.h | slot.end
        kept = Signal(128)                          # the input's octets within keep
        m.d.comb += kept.eq(keep_lanes(u.data, u.keep))
        text = Signal(128)                          # output lanes: AAD as is, TEXT xor keystream
        m.d.comb += text.eq(kept ^ keep_lanes(Mux(slot.text, bswap128(res.block), 0), u.keep))
        # GHASH runs over the ciphertext: the output when encrypting, the input when decrypting
        cipher = Mux(slot.text & ~u.decrypt, text, kept)

        len_a = Signal(32)                          # octets of AAD / text so far
        len_c = Signal(32)
        n_octets = Signal(32)                       # keep is contiguous: highest lane kept + 1
        count = Const(0, 5)
        for k in range(16):
            count = Mux(u.keep[k], k + 1, count)
        m.d.comb += n_octets.eq(count)
        len_block = Cat(Const(0, 3), len_c, Const(0, 29), Const(0, 3), len_a, Const(0, 29))

        tag_pending = ghash.o.valid                 # the previous packet's tag is not out yet
        out_free = ~tag_pending & self.o.ready
        m.d.comb += [
            ghash.i.payload.h.eq(res.block),
            ghash.i.payload.first.eq(slot.h),
            ghash.i.payload.last.eq(slot.end),
            ghash.i.payload.block.eq(Mux(slot.end, len_block, Mux(slot.h, 0, bswap128(cipher)))),
            ghash.i.valid.eq(aes.o.valid & to_ghash & (~has_out | out_free)),
            aes.o.ready.eq(Mux(has_out, out_free, 1) & (~to_ghash | ghash.i.ready)),
        ]
        took = aes.o.valid & aes.o.ready
        with m.If(took & slot.h):
            m.d.sync += [len_a.eq(0), len_c.eq(0)]
        with m.If(took & slot.aad):
            m.d.sync += len_a.eq(len_a + n_octets)
        with m.If(took & slot.text):
            m.d.sync += len_c.eq(len_c + n_octets)

        # END slot: keep the tag mask, the received tag and the sideband for the TAG beat
        ej0 = Signal(128)
        rx_tag = Signal(128)
        end_decrypt = Signal()
        end_side = Signal(self._side_width)
        with m.If(took & slot.end):
            m.d.sync += [ej0.eq(res.block), rx_tag.eq(bswap128(u.data)),
                         end_decrypt.eq(u.decrypt), end_side.eq(u.side)]
        tag = Signal(128)
        m.d.comb += tag.eq(ghash.o.payload.y ^ ej0)

        out = self.o.payload
        with m.If(tag_pending):
            m.d.comb += [
                self.o.valid.eq(1),
                ghash.o.ready.eq(self.o.ready),
                out.data.eq(Mux(end_decrypt, 0, bswap128(tag))),
                out.keep.eq(Mux(end_decrypt, 0, 0xFFFF)),
                out.last.eq(1),
                out.user.kind.eq(Kind.TAG),
                out.user.tag_ok.eq(~end_decrypt | (tag == rx_tag)),
                out.user.side.eq(end_side),
            ]
        with m.Else():
            m.d.comb += [
                self.o.valid.eq(aes.o.valid & has_out),
                out.data.eq(text),
                out.keep.eq(u.keep),
                out.user.kind.eq(Mux(slot.text, Kind.TEXT, Mux(slot.pass_, Kind.PASS, Kind.AAD))),
                out.user.side.eq(u.side),
            ]
        return m

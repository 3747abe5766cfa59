"""Octet realignment on 128-bit AXI-Stream-lane beats: cut a frame at arbitrary octet
positions, and pack pieces back into full beats.

Beats here: octet k in lane k (bits 8k+7..8k), ``keep`` contiguous from lane 0 (a beat
of n octets has keep = 2^n - 1; n = 0 is a null beat). Positions count the octets of
the frame seen so far, so a beat may be partial anywhere, not only at the end.

* :class:`Segmenter` cuts each frame at the positions of a per-frame descriptor into
  *pieces*, each inside one region and shifted down to lane 0: region r is
  ``[b[r-1], b[r])`` with ``b[-1] = 0`` and ``b[R-1] = end of frame``; boundaries must not
  decrease. A beat that crosses k boundaries yields k + 1 pieces on k + 1 cycles.
* :class:`Packer` packs pieces into beats that are full except at a frame's end and
  where the class of the pieces changes (then the beat before the change is partial:
  the GCM engine's AAD / TEXT padding). The beat a class change or a frame's end leaves
  behind is sent on the cycle that loads the next piece, so neither costs a cycle while
  pieces keep coming. A full beat is held until the next piece
  arrives (latency 1 beat), so a frame never ends with a null beat unless it has no octet.
* :class:`Prepender` puts one beat of its own before each frame.
* :class:`TailFold` folds a null last beat into the beat before it, so that only an
  empty frame ends with a null beat.
* :class:`RegionPacker` does both at once for frames whose beats are full but the last:
  the regions' beats as the Packer would send them (with ``cls`` = region index), one
  each cycle, however many boundaries fall inside a beat.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["FrameBeat", "beat", "piece", "Segmenter", "Packer", "TailFold", "RegionPacker", "Prepender", "Inserter", "keep_count", "keep_lanes"]


#: A beat without sideband: what the frame stores hold.
FrameBeat = data.StructLayout({"data": 128, "keep": 16, "last": 1})


def beat(user_shape, cls_bits: int = 0) -> data.StructLayout:
    """A beat: data, keep, last, user (and ``cls``, the pack class, if ``cls_bits``)."""
    fields = {"data": 128, "keep": 16, "last": 1, "user": user_shape}
    if cls_bits:
        fields["cls"] = cls_bits
    return data.StructLayout(fields)


def piece(user_shape, cls_bits: int) -> data.StructLayout:
    """A piece: ``count`` octets in lanes 0..count-1, its region/class, last, user."""
    return data.StructLayout({"data": 128, "count": 5, "cls": cls_bits, "last": 1, "user": user_shape})


def keep_lanes(data, keep):
    """``data`` with the octets whose ``keep`` bit is 0 cleared, one mux an octet (not
    ``{8{keep[k]}}`` masks, which Icarus re-evaluates at every input bit event)."""
    return Cat(*[Mux(keep[k], data[8 * k: 8 * k + 8], 0) for k in range(16)])


def keep_count(keep):
    """Octets of a contiguous ``keep`` (highest lane kept + 1), by priority, no adders."""
    count = Const(0, 5)
    for k in range(16):
        count = Mux(keep[k], k + 1, count)
    return count


def _nearest_inside(b, inside) -> list:
    """Per boundary j of ``b``: whether it is the nearest of the boundaries ``inside``
    (flags, one per boundary), i.e. inside and no other inside one below it (ties: the
    lowest j). Pairwise compares of the boundaries, side by side, no compare-mux chain."""
    n = len(inside)
    out = []
    for j in range(n):
        sel = inside[j]
        for i in range(n):
            if i != j:
                sel = sel & (~inside[i] | ((b[j] < b[i]) if i < j else (b[j] <= b[i])))
        out.append(sel)
    return out


class Segmenter(wiring.Component):
    """Cuts frames into pieces at per-frame octet positions (see module docstring).

    ``i``: beats; ``d``: one descriptor per frame, ``b`` = ``regions - 1`` boundaries of
    ``len_bits`` each (``b[j]`` at bits ``len_bits * j`` up), held until the frame's last
    piece is taken; ``o``: pieces, ``cls`` = region index. Combinational: ``o.valid``
    from ``i.valid & d.valid``, ``i.ready`` and ``d.ready`` from ``o.ready``.
    """

    def __init__(self, regions: int, user_shape=1, len_bits: int = 16):
        self._regions = regions
        self._len_bits = len_bits
        self._cls_bits = max(1, (regions - 1).bit_length())
        super().__init__({
            "i": In(stream.Signature(beat(user_shape))),
            "d": In(stream.Signature(data.ArrayLayout(len_bits, regions - 1))),
            "o": Out(stream.Signature(piece(user_shape, self._cls_bits))),
        })

    def elaborate(self, platform):
        m = Module()
        lb = self._len_bits
        pos = Signal(lb)            # frame octets before the current beat
        sub = Signal(4)             # octets of the current beat already cut off
        p = Signal(lb)              # pos + sub: the frame position of the piece's first octet
        b = self.d.payload
        cnt = Signal(5)
        m.d.comb += cnt.eq(keep_count(self.i.payload.keep))
        beat_end = Signal(lb + 1)
        m.d.comb += beat_end.eq(pos + cnt)
        # The piece ends at the nearest boundary inside (p, beat_end), else at beat_end
        # (every compare against registers or beat_end, side by side).
        n = self._regions - 1
        inside = [Signal(name=f"inside{j}") for j in range(n)]
        for j in range(n):
            m.d.comb += inside[j].eq((b[j] > p) & (b[j] < beat_end))
        nearest = _nearest_inside(b, inside)
        cut = Cat(*nearest).any()   # the piece ends at a boundary, not at the beat's end
        count = Signal(5)           # the piece's octets: to its boundary, or to the beat's end
        choice = cnt - sub
        for j in range(n):
            choice = Mux(nearest[j], (b[j] - p)[:5], choice)
        m.d.comb += count.eq(choice)
        region = Const(0, self._cls_bits)
        for j in range(n):
            region = region + (b[j] <= p)
        done = ~cut                 # this piece ends the beat
        o = self.o.payload
        m.d.comb += [
            self.o.valid.eq(self.i.valid & self.d.valid),
            o.data.eq(self.i.payload.data >> Cat(Const(0, 3), sub)),
            o.count.eq(count),
            o.cls.eq(region),
            o.last.eq(self.i.payload.last & done),
            o.user.eq(self.i.payload.user),
            self.i.ready.eq(self.o.ready & self.d.valid & done),
            self.d.ready.eq(self.o.ready & self.i.valid & done & self.i.payload.last),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += p.eq(p + count)
            with m.If(~done):
                m.d.sync += sub.eq(sub + count)
            with m.Elif(self.i.payload.last):
                m.d.sync += [pos.eq(0), sub.eq(0), p.eq(0)]
            with m.Else():
                m.d.sync += [pos.eq(beat_end), sub.eq(0)]
        return m


class Packer(wiring.Component):
    """Packs pieces into beats (see module docstring). ``i``: pieces; ``o``: beats with
    ``cls`` of their pieces and the ``user`` of the frame's last piece on its last beat
    (of the newest piece elsewhere). A frame whose pieces hold no octet leaves as one null
    beat with ``last``. Combinational ``i.ready`` from ``o.ready``."""

    def __init__(self, user_shape=1, cls_bits: int = 2):
        super().__init__({
            "i": In(stream.Signature(piece(user_shape, cls_bits))),
            "o": Out(stream.Signature(beat(user_shape, cls_bits))),
        })
        self._cls_bits = cls_bits

    def elaborate(self, platform):
        m = Module()
        acc = Signal(128)           # lanes 0..fill-1 hold octets not yet sent (all 16: a held beat)
        fill = Signal(5)
        acc_cls = Signal(self._cls_bits)
        tail = Signal()             # the frame has ended; the rest of acc is its last beat
        tail_user = Signal.like(self.i.payload.user)
        p, o = self.i.payload, self.o.payload
        joined = Signal(256)
        def mask(n):
            return Cat(*[(n > k) for k in range(16)])

        count_mask = Signal(16)
        m.d.comb += count_mask.eq(mask(p.count))
        piece_data = Signal(128)    # lanes past count hold other octets: cleared
        m.d.comb += [piece_data.eq(keep_lanes(p.data, count_mask)),
                     joined.eq(acc | (piece_data << Cat(Const(0, 3), fill)))]
        total = fill + p.count
        cls = Mux(p.count == 0, acc_cls, p.cls)  # a piece with no octet changes no class

        flush = tail | ((fill != 0) & (cls != acc_cls) & self.i.valid)
        with m.If(flush):   # the frame's leftover beat, or a class change: send acc as it is
            # and, on the same cycle, load the waiting piece into the emptied acc
            m.d.comb += [self.o.valid.eq(1), o.data.eq(acc), o.keep.eq(mask(fill)), o.cls.eq(acc_cls),
                         o.last.eq(tail), o.user.eq(Mux(tail, tail_user, p.user)),
                         self.i.ready.eq(self.o.ready)]
            with m.If(self.o.ready):
                m.d.sync += [acc.eq(0), fill.eq(0), tail.eq(0)]
                with m.If(self.i.valid):
                    m.d.sync += [acc.eq(piece_data), fill.eq(p.count), acc_cls.eq(p.cls),
                                 tail.eq(p.last), tail_user.eq(p.user)]
        with m.Elif((total > 16) | ((total == 16) & p.last)):   # a full beat (one is held back
            # until the next piece shows whether the frame ends with it: no trailing null beat)
            m.d.comb += [self.o.valid.eq(self.i.valid), o.data.eq(joined[:128]), o.keep.eq(0xFFFF),
                         o.cls.eq(cls), o.last.eq(p.last & (total == 16)), o.user.eq(p.user),
                         self.i.ready.eq(self.o.ready)]
            with m.If(self.i.valid & self.o.ready):
                m.d.sync += [acc.eq(joined[128:]), fill.eq(total - 16), acc_cls.eq(cls)]
                with m.If(p.last & (total != 16)):
                    m.d.sync += [tail.eq(1), tail_user.eq(p.user)]
        with m.Elif(p.last):                     # the frame ends inside this beat
            m.d.comb += [self.o.valid.eq(self.i.valid), o.data.eq(joined[:128]), o.keep.eq(mask(total)),
                         o.cls.eq(cls), o.last.eq(1), o.user.eq(p.user), self.i.ready.eq(self.o.ready)]
            with m.If(self.i.valid & self.o.ready):
                m.d.sync += [acc.eq(0), fill.eq(0)]
        with m.Else():                            # accumulate
            m.d.comb += self.i.ready.eq(1)
            with m.If(self.i.valid):
                m.d.sync += [acc.eq(joined[:128]), fill.eq(total), acc_cls.eq(cls)]
        return m


class Prepender(wiring.Component):
    """Beats with ``cls`` in (``i``), and the same frames out (``o``), each after one beat
    from ``h`` (one a frame, its ``last`` ignored). One beat a cycle; combinational
    ``ready`` from ``o.ready``."""

    def __init__(self, cls_bits: int = 2):
        super().__init__({"i": In(stream.Signature(beat(1, cls_bits))),
                          "h": In(stream.Signature(beat(1, cls_bits))),
                          "o": Out(stream.Signature(beat(1, cls_bits)))})

    def elaborate(self, platform):
        m = Module()
        sent = Signal()             # this frame's beat from h is out
        with m.If(~sent):
            m.d.comb += [self.o.payload.eq(self.h.payload), self.o.payload.last.eq(0),
                         self.o.valid.eq(self.h.valid), self.h.ready.eq(self.o.ready)]
            with m.If(self.h.valid & self.o.ready):
                m.d.sync += sent.eq(1)
        with m.Else():
            m.d.comb += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid),
                         self.i.ready.eq(self.o.ready)]
            with m.If(self.i.valid & self.o.ready & self.i.payload.last):
                m.d.sync += sent.eq(0)
        return m


class TailFold(wiring.Component):
    """Beats (:data:`FrameBeat`) in, the same beats out, except that a null beat with
    ``last`` that follows a beat of its frame is dropped and that beat gets ``last``.
    Latency 1 cycle (a beat waits for the next one, or leaves on its own when it ends a
    frame); one beat a cycle. ``i.ready`` is combinational from ``o.ready``."""

    def __init__(self):
        super().__init__({"i": In(stream.Signature(FrameBeat)), "o": Out(stream.Signature(FrameBeat))})

    def elaborate(self, platform):
        m = Module()
        held = Signal(FrameBeat)
        full = Signal()
        ib = self.i.payload
        fold = full & ~held.last & ib.last & (ib.keep == 0)
        m.d.comb += [
            self.o.payload.eq(held), self.o.payload.last.eq(held.last | fold),
            self.o.valid.eq(full & (held.last | self.i.valid)),
            self.i.ready.eq(~full | self.o.ready),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += full.eq(0)
        with m.If(self.i.valid & self.i.ready & ~fold):
            m.d.sync += [held.eq(ib), full.eq(1)]
        return m


class RegionPacker(wiring.Component):
    """Cuts frames at per-frame octet positions and packs each region into beats (see
    module docstring): the output of a :class:`Segmenter` and a :class:`Packer` without
    class merging, one beat per cycle.

    ``i``: beats, every beat of a frame full (16 octets) except its last (0..16);
    ``d``: one descriptor per frame, ``regions - 1`` non-decreasing boundaries of
    ``len_bits`` each, held until the frame's last beat leaves; ``o``: beats of
    ``cls`` = region index, full except the last of a region and of the frame, lanes
    past ``keep`` cleared; a frame with no octet leaves as one null beat with ``last``.

    The octets of the input beat not yet sent wait in a register, so an output beat is
    formed from that rest and the next input beat: ``o`` sends one beat each cycle that
    ``i`` has one (``o.valid`` combinational from ``i.valid`` and ``d.valid``), and a
    frame of n octets cut into regions of r_k octets leaves in sum(ceil(r_k / 16))
    cycles. ``i.ready`` and ``d.ready`` are combinational from ``o.ready``.
    """

    def __init__(self, regions: int, len_bits: int = 16):
        self._regions = regions
        self._cls_bits = max(1, (regions - 1).bit_length())
        super().__init__({
            "i": In(stream.Signature(beat(1))),
            "d": In(stream.Signature(data.ArrayLayout(len_bits, regions - 1))),
            "o": Out(stream.Signature(beat(1, self._cls_bits))),
        })
        self._len_bits = len_bits

    def elaborate(self, platform):
        m = Module()
        rest = Signal(128)          # lanes 0..fill-1: octets of the last input beat not sent
        fill = Signal(5)            # 0..15
        tail = Signal()             # those are the frame's last octets (its last beat is in)
        q = Signal(self._len_bits)  # frame position of rest's lane 0: the next octet out
        b, ib, o = self.d.payload, self.i.payload, self.o.payload
        # the first boundary past q, capped at q + 16 (the nearest inside (q, q + 16))
        n = self._regions - 1
        ahead = [Signal(self._len_bits, name=f"ahead{j}") for j in range(n)]     # b[j] - q
        inside = [Signal(name=f"inside{j}") for j in range(n)]
        for j in range(n):
            m.d.comb += [ahead[j].eq(b[j] - q), inside[j].eq((b[j] > q) & (ahead[j] < 16))]
        choice = Const(16, 5)
        region = Const(0, self._cls_bits)
        for j, sel in enumerate(_nearest_inside(b, inside)):
            choice = Mux(sel, ahead[j][:5], choice)
            region = region + (b[j] <= q)
        need = Signal(5)            # octets the next beat of this region takes: 1..16
        m.d.comb += need.eq(choice)
        from_rest = tail | (need <= fill)   # the beat needs no new input octet
        total = fill + keep_count(ib.keep)
        ends = ib.last & (total <= need)    # the frame's rest and this input beat end here
        count = Signal(5)
        m.d.comb += count.eq(Mux(from_rest, Mux(fill < need, fill, need), Mux(ends, total, need)))
        joined = Mux(from_rest, rest, rest | (ib.data << Cat(Const(0, 3), fill)))
        keep = Signal(16)           # not read back from o.payload: a false loop for Verilator
        m.d.comb += [
            keep.eq(Cat(*[(count > k) for k in range(16)])),
            o.data.eq(keep_lanes(joined, keep)),
            o.keep.eq(keep),
            o.cls.eq(region),
            o.last.eq(Mux(from_rest, tail & (fill <= need), ends)),
            self.o.valid.eq(self.d.valid & (from_rest | self.i.valid)),
            self.i.ready.eq(self.d.valid & ~from_rest & self.o.ready),
            self.d.ready.eq(self.o.valid & self.o.ready & o.last),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += q.eq(q + count)
            with m.If(o.last):
                m.d.sync += [q.eq(0), rest.eq(0), fill.eq(0), tail.eq(0)]
            with m.Elif(from_rest):
                m.d.sync += [rest.eq(rest >> Cat(Const(0, 3), count)), fill.eq(fill - count)]
            with m.Else():
                m.d.sync += [rest.eq(ib.data >> Cat(Const(0, 3), need - fill)), fill.eq(total - need),
                             tail.eq(ib.last)]
        return m


class Inserter(wiring.Component):
    """Inserts a per-frame octet string into a piece stream (from a :class:`Segmenter`):
    before the frame's first piece of a region ``>= at``, or after its last piece if it
    has none. The inserted pieces (16 octets each, the last one the rest; one piece with
    no octet if the string is empty) get region ``at``.

    ``h``: one per frame, ``data`` (octet j in bits 8j+7..8j, up to ``max_len`` octets)
    and ``len``, held until the frame's last piece leaves. Combinational ``ready`` paths.
    """

    def __init__(self, at: int, user_shape=1, cls_bits: int = 2, max_len: int = 64):
        self._at = at
        self._chunks = (max_len + 15) // 16
        super().__init__({
            "i": In(stream.Signature(piece(user_shape, cls_bits))),
            "h": In(stream.Signature(data.StructLayout({"data": 8 * 16 * self._chunks,
                                                        "len": (16 * self._chunks).bit_length()}))),
            "o": Out(stream.Signature(piece(user_shape, cls_bits))),
        })

    def elaborate(self, platform):
        m = Module()
        done = Signal()             # this frame's string is out
        tail = Signal()             # the frame ended before region `at`: the string ends it
        k = Signal(range(self._chunks + 1))
        i, h, o = self.i.payload, self.h.payload, self.o.payload
        left = h.len - (k << 4)
        final = left <= 16          # this chunk is the string's last
        chunk = Signal.like(o)
        m.d.comb += [
            chunk.data.eq(h.data.word_select(k, 128)),
            chunk.count.eq(Mux(final, left, 16)),
            chunk.cls.eq(self._at),
            chunk.user.eq(i.user),
        ]
        inserting = ~done & (tail | (self.i.valid & (i.cls >= self._at)))
        with m.If(inserting):
            m.d.comb += [self.o.valid.eq(self.h.valid), o.eq(chunk), o.last.eq(tail & final)]
            with m.If(self.o.valid & self.o.ready):
                m.d.sync += k.eq(k + 1)
                with m.If(final):
                    m.d.sync += [done.eq(~tail), tail.eq(0), k.eq(0)]
                    m.d.comb += self.h.ready.eq(tail)
        with m.Else():
            before_end = ~done & i.last    # the frame ends before region `at`
            m.d.comb += [self.o.valid.eq(self.i.valid & self.h.valid), o.eq(i), o.last.eq(i.last & ~before_end),
                         self.i.ready.eq(self.o.ready & self.h.valid)]
            with m.If(self.o.valid & self.o.ready & i.last):
                with m.If(before_end):
                    m.d.sync += tail.eq(1)
                with m.Else():
                    m.d.sync += done.eq(0)
                    m.d.comb += self.h.ready.eq(1)
        return m

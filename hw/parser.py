"""Security-header parser of docs/spec.md section 2: capture at any byte offset, then
validity rules 1 to 10 of section 2.2 in order.

* :class:`HeaderCapture` watches the beats of a frame stream (AXI-Stream lane order:
  octet k of a beat in bits 8k+7..8k, ``keep`` contiguous from lane 0, every beat but the
  last full) and collects the :data:`MAX_HEADER` octets that start at the header offset
  ``O`` (any octet position), and the frame length ``N``. It never stalls the stream.
* :class:`HeaderCheck`, combinational: the first rule broken (``code``, 0 = none), and
  the parsed fields (:data:`Parsed`).

Rules 11 to 13 (key lookup and ICV) belong to the key table and the GCM engine.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from common.codes import Code

__all__ = ["MAX_HEADER", "Parsed", "HeaderCapture", "HeaderCheck"]

#: The longest header: word 0, a ConnectionID, a 36-octet option, Epoch and Counter.
MAX_HEADER = 56
#: Octets of the header that decide its layout and validity, in order.
VERSION, OPTION_TYPE, ICV = 1, 1, 16

#: Fields of a header, as the datapath uses them; all multi-octet values are big-endian
#: integers (``int.from_bytes``), and a field a header lacks is 0.
Parsed = data.StructLayout({
    "code": 5,          # common.codes.Code of the first rule broken, 0 = valid (rules 1-10)
    "kind": 1,          # V: 0 DeviceID, 1 ConnectionID
    "ident": 64,        # ID8 as an integer: a DeviceID in bits 31..0, zero above
    "k": 1,             # a Master Key Option is present
    "rkid_long": 1,     # its Root Key ID is 32 octets (else 16)
    "rkid": 256,        # Root Key ID; a 16-octet one in bits 127..0
    "tags": 6,          # Root Key Index bits 7..2: zone tag in 5..4, user 3..2, task 1..0
    "epoch": 16,
    "counter": 48,
    "hl": 4,            # header length in words
    "coffset": 8,
    "ioffset": 8,
})


class HeaderCapture(wiring.Component):
    """Collects a frame's header octets and length from the beats it sees.

    ``fire``: a beat of the watched stream is transferred this cycle (valid & ready);
    ``data``, ``keep``, ``last``: that beat; ``offset``: O, sampled with the frame's first
    beat. ``hdr``: octet j of the header (frame octet O + j) in bits 8j+7..8j, octets at or
    past the frame's end are 0; ``length``: N; both valid from the cycle after the
    frame's last beat (``done`` is high then for one cycle) until the next frame's first
    beat, and so is ``at``, the frame's O. ``len_bits``: width of O and N (frames below 2^len_bits octets).
    """

    def __init__(self, len_bits: int = 16):
        self._len_bits = len_bits
        super().__init__({
            "fire": In(1), "data": In(128), "keep": In(16), "last": In(1), "offset": In(len_bits),
            "hdr": Out(8 * MAX_HEADER), "length": Out(len_bits), "at": Out(len_bits), "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lb = self._len_bits
        first = Signal(init=1)              # the next beat starts a frame
        beat = Signal(lb - 4)               # index of the beat within the frame
        o = Mux(first, self.offset, self.at)  # O as seen by this beat
        o_lo, o_hi = o[:4], o[4:]
        idx = Mux(first, 0, beat)
        # rotate the beat down by O mod 16 lanes: header octet j is lane j mod 16 of
        # the rotated beat number O div 16 + j div 16 + (O mod 16 + j mod 16 >= 16)
        rot = Signal(256)
        m.d.comb += rot.eq(Cat(self.data, self.data) >> Cat(Const(0, 3), o_lo))
        for j in range(MAX_HEADER):
            g, lane = divmod(j, 16)
            wrap = (o_lo + lane)[4]
            hit = self.fire & (idx == o_hi + g + wrap) & self.keep.bit_select((o_lo + lane)[:4], 1)
            with m.If(self.fire & first):      # a new frame clears what it does not write
                m.d.sync += self.hdr[8 * j: 8 * j + 8].eq(0)
            with m.If(hit):
                m.d.sync += self.hdr[8 * j: 8 * j + 8].eq(rot[8 * lane: 8 * lane + 8])
        count = Const(0, 5)
        for k in range(16):
            count = Mux(self.keep[k], k + 1, count)
        m.d.sync += self.done.eq(self.fire & self.last)
        with m.If(self.fire):
            m.d.sync += [first.eq(self.last), beat.eq(idx + 1), self.at.eq(o),
                         self.length.eq(Mux(first, 0, self.length) + count)]
        return m


class HeaderCheck(wiring.Component):
    """Rules 1-10 of spec 2.2 over the captured octets (combinational).

    ``hdr``, ``length`` (N), ``offset`` (O) in; ``parsed`` out (:data:`Parsed`).
    """

    def __init__(self, len_bits: int = 16):
        self._len_bits = len_bits
        super().__init__({
            "hdr": In(8 * MAX_HEADER), "length": In(len_bits), "offset": In(len_bits),
            "parsed": Out(Parsed),
        })

    def elaborate(self, platform):
        m = Module()
        h, n, o, p = self.hdr, self.length, self.offset, self.parsed

        def octets(at, count):
            """Big-endian integer of ``count`` header octets from ``at`` (a Python int)."""
            return Cat(*[h[8 * (at + k): 8 * (at + k + 1)] for k in reversed(range(count))])

        def at_layout(kind, optlen, at, count):
            """The field at octet ``at`` + 4 + idlen + optlen, chosen by the frame's layout."""
            v = 0
            for kk in (0, 1):
                for ol in (0, 20, 36):
                    v = Mux((kind == kk) & (optlen == ol), octets(at + 4 + 4 * (kk + 1) + ol, count), v)
            return v

        version, hl = h[4:8], h[0:4]
        kind_raw, k, reserve = h[14:16], h[13], h[8:13]
        kind = kind_raw[0]
        idlen = Mux(kind, 8, 4)
        opt = [Mux(kind, octets(12 + q, 1), octets(8 + q, 1)) for q in range(4)]
        otype, olen, index, pad = opt
        optlen = Signal(6)
        m.d.comb += optlen.eq(Mux(k, olen, 0))
        hdr_end = o + Cat(Const(0, 2), hl)          # O + 4 HL

        rules = [  # (broken, code), in the order of spec 2.2
            (n < o + 4, Code.TRUNCATED),
            (version != VERSION, Code.BAD_VERSION),
            (kind_raw[1], Code.BAD_ID_KIND),
            (reserve.any(), Code.BAD_RESERVED),
            (k & (n < o + 8 + idlen), Code.TRUNCATED),
            (k & ((otype != OPTION_TYPE) | ((olen != 20) & (olen != 36)) | index[0:2].any() | pad.any()),
             Code.BAD_OPTION),
            (Cat(Const(0, 2), hl) != 12 + idlen + optlen, Code.BAD_HL),
            (n < hdr_end + ICV, Code.TRUNCATED),
            (o < Cat(Const(0, 2), h[24:32]), Code.BAD_IOFFSET),
            (hdr_end + Cat(Const(0, 2), h[16:24]) + ICV > n, Code.BAD_COFFSET),
        ]
        code = Const(0, 5)
        for broken, c in reversed(rules):
            code = Mux(broken, c.value, code)
        m.d.comb += [
            p.code.eq(code),
            p.kind.eq(kind),
            p.ident.eq(Mux(kind, octets(4, 8), octets(4, 4))),
            p.k.eq(k),
            p.rkid_long.eq(k & (olen == 36)),
            p.rkid.eq(Mux(k, Mux(olen == 36, Mux(kind, octets(16, 32), octets(12, 32)),
                                 Mux(kind, octets(16, 16), octets(12, 16))), 0)),
            p.tags.eq(Mux(k, index[2:8], 0)),
            p.epoch.eq(at_layout(kind, optlen, 0, 2)),
            p.counter.eq(at_layout(kind, optlen, 2, 6)),
            p.hl.eq(hl),
            p.coffset.eq(h[16:24]),
            p.ioffset.eq(h[24:32]),
        ]
        return m

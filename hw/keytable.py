"""Key table of docs/spec.md section 4: trust groups, three root-key types x three tagged
slots, root-key XOR into the master key. Keys go in through management writes and only
come out XORed into a master key for the datapath; no port reads a key back.

:class:`KeyTable` ports (``amaranth.lib.stream``):

* ``wr`` (sink, :func:`write_layout`), management writes, one per cycle, in effect from
  the next cycle; ready unless a lookup is in the first of its stages (a register, so a
  waiting write is taken as soon as that stage drains: lookups wait while a write is
  offered):

  ======================  ==========================================================
  ``op``                  effect
  ======================  ==========================================================
  ``SET_GROUP``           group ``group`` valid, named by Root Key ID ``data`` (a
                          16-octet one in bits 127..0, ``long`` = 0; 32 octets: 1);
                          all its slots emptied; refused (reported on ``refused``)
                          if another valid group has that Root Key ID
  ``CLEAR_GROUP``         group invalid, its slots emptied
  ``WRITE_SLOT``          slot ``slot`` of type ``ktype`` (0 zone, 1 user, 2 task) holds
                          key ``data`` with generation ``tag``; refused (reported on
                          ``refused``) if another valid slot of that type has that tag
  ``SET_CURRENT``         the current slot of type ``ktype`` is ``slot``
  ``SET_DEFAULT``         group ``group`` serves frames with K = 0
  ``CLEAR_DEFAULT``       no default group
  ======================  ==========================================================

  Spec 4.4 rotation of one type is two writes: ``SET_CURRENT`` (the next slot), then
  ``WRITE_SLOT`` (the new key, tag c + 2, into the pre slot). Between and after them every
  frame sealed under the old current or the next key still finds its key.

* ``q`` (sink, :func:`query_layout`) and ``r`` (source, :func:`answer_layout`), lookups, one per cycle,
  answered in order after 3 cycles (the Root Key ID compares registered with the query;
  the slot choice and the key memories' registered read on the same clock edge; then a
  registered XOR); ``tag`` is passed through. ``q`` is not ready on a cycle ``wr`` is
  valid (writes go first). A lookup is atomic with respect to writes: the group, the
  slots and the keys it answers with are those of the table as every write accepted
  before the lookup's cycle left it (no write is taken on that cycle nor while the
  lookup is in its first stage), so a frame never gets a key of one write and a tag or
  slot of another (spec 4.2).

  - ``send = 0``, ``k = 1``: receive with a Master Key Option: the valid group whose Root
    Key ID equals ``rkid`` (same length), else UNKNOWN_GROUP; for each type the valid slot
    whose tag is that type's tag in ``tags``, else UNKNOWN_KEY.
  - ``send = 0``, ``k = 0``: the default group's current slots (none: UNKNOWN_GROUP).
  - ``send = 1``: group ``group``'s current slots (invalid group, or ``k`` = 0 and
    ``group`` is not the default group: UNKNOWN_GROUP; a current slot empty:
    UNKNOWN_KEY); the answer also carries the group's Root Key ID and current tags for
    the header.

  ``mk`` is the XOR of the three keys, 0 unless ``code`` = 0.

Storage: the keys in three ``lib.memory`` memories (one a type, ``groups * 3`` x 256),
everything else in registers. ``groups`` is a parameter (default 4).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from common.codes import Code

__all__ = ["KeyTable", "Op", "write_layout", "query_layout", "answer_layout"]

TYPES, SLOTS = 3, 3


class Op(enum.Enum, shape=3):
    NOP = 0
    SET_GROUP = 1
    CLEAR_GROUP = 2
    WRITE_SLOT = 3
    SET_CURRENT = 4
    SET_DEFAULT = 5
    CLEAR_DEFAULT = 6


def _group_bits(groups: int) -> int:
    return max(1, (groups - 1).bit_length())


def write_layout(groups: int) -> data.StructLayout:
    return data.StructLayout({"op": Op, "group": _group_bits(groups), "ktype": 2, "slot": 2, "tag": 2,
                              "long": 1, "data": 256})


def query_layout(groups: int, tag_shape) -> data.StructLayout:
    return data.StructLayout({"send": 1, "k": 1, "rkid": 256, "long": 1, "tags": 6,
                              "group": _group_bits(groups), "tag": tag_shape})


def answer_layout(groups: int, tag_shape) -> data.StructLayout:
    return data.StructLayout({"code": 5, "group": _group_bits(groups), "mk": 256, "rkid": 256, "long": 1,
                              "tags": 6, "tag": tag_shape})


class KeyTable(wiring.Component):
    """Trust groups with root-key slots, lookups answered with the master key (see module docstring).

    ``groups``: number of trust groups; ``tag_shape``: shape of the pass-through ``tag``.
    Output ``refused``: a write is refused this cycle (counted by the top, spec 11.1).
    """

    def __init__(self, groups: int = 4, tag_shape=1):
        self._groups = groups
        self._tag_shape = tag_shape
        super().__init__({
            "wr": In(stream.Signature(write_layout(groups))),
            "q": In(stream.Signature(query_layout(groups, tag_shape))),
            "r": Out(stream.Signature(answer_layout(groups, tag_shape))),
            "refused": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        G = self._groups
        gv = [Signal(name=f"g{g}_valid") for g in range(G)]
        grkid = [Signal(256, name=f"g{g}_rkid") for g in range(G)]
        glong = [Signal(name=f"g{g}_long") for g in range(G)]
        # per group, type, slot: valid and tag; per group and type: the current slot
        sv = [[[Signal(name=f"g{g}_t{t}_s{s}_valid") for s in range(SLOTS)] for t in range(TYPES)] for g in range(G)]
        stag = [[[Signal(2, name=f"g{g}_t{t}_s{s}_tag") for s in range(SLOTS)] for t in range(TYPES)] for g in range(G)]
        cur = [[Signal(2, name=f"g{g}_t{t}_cur") for t in range(TYPES)] for g in range(G)]
        dflt_valid = Signal()
        dflt = Signal(_group_bits(G))
        mems = []
        for t in range(TYPES):
            mem = Memory(shape=256, depth=G * SLOTS, init=[])
            m.submodules[f"keys{t}"] = mem
            mems.append(mem)

        # ---- management writes ----------------------------------------------------------
        w = self.wr.payload
        wr = self.wr.valid & self.wr.ready
        same_id = Cat(*[gv[g] & (w.group != g) & (grkid[g] == w.data) & (glong[g] == w.long) for g in range(G)]).any()
        refused = [wr & (w.op == Op.SET_GROUP) & same_id]
        for t, mem in enumerate(mems):
            port = mem.write_port()
            dup = Const(0)
            for g in range(G):
                for s in range(SLOTS):
                    dup = dup | ((w.group == g) & (w.slot != s) & sv[g][t][s] & (stag[g][t][s] == w.tag))
            ok = wr & (w.op == Op.WRITE_SLOT) & (w.ktype == t) & (w.slot < SLOTS) & ~dup
            m.d.comb += [port.addr.eq(w.group * SLOTS + w.slot), port.data.eq(w.data), port.en.eq(ok)]
            refused.append(wr & (w.op == Op.WRITE_SLOT) & (w.ktype == t) & dup)
            for g in range(G):
                for s in range(SLOTS):
                    with m.If(ok & (w.group == g) & (w.slot == s)):
                        m.d.sync += [sv[g][t][s].eq(1), stag[g][t][s].eq(w.tag)]
                with m.If(wr & (w.op == Op.SET_CURRENT) & (w.ktype == t) & (w.group == g) & (w.slot < SLOTS)):
                    m.d.sync += cur[g][t].eq(w.slot)
        m.d.comb += self.refused.eq(Cat(*refused).any())
        for g in range(G):
            with m.If(wr & (w.group == g) & ~refused[0]):
                with m.If((w.op == Op.SET_GROUP) | (w.op == Op.CLEAR_GROUP)):
                    m.d.sync += [gv[g].eq(w.op == Op.SET_GROUP), grkid[g].eq(w.data), glong[g].eq(w.long)]
                    m.d.sync += [sv[g][t][s].eq(0) for t in range(TYPES) for s in range(SLOTS)]
        with m.If(wr & (w.op == Op.SET_DEFAULT)):
            m.d.sync += [dflt_valid.eq(1), dflt.eq(w.group)]
        with m.If(wr & (w.op == Op.CLEAR_DEFAULT)):
            m.d.sync += dflt_valid.eq(0)

        # ---- lookup, stage A1: the Root Key ID compares, registered with the query ------
        # (a write is not taken while a lookup is in A1, and no lookup is taken on a cycle
        # a write is offered, so A2 below reads the table as it was when the lookup was
        # taken: no write lands between A1 and A2)
        a1_valid = Signal()
        a1 = Signal(query_layout(self._groups, self._tag_shape))
        a1_hit = Signal(G)
        adv_b = Signal()
        adv_a1 = ~a1_valid | adv_b
        m.d.comb += [self.q.ready.eq(adv_a1 & ~self.wr.valid), self.wr.ready.eq(~a1_valid)]
        qi = self.q.payload
        with m.If(adv_a1):
            m.d.sync += [a1_valid.eq(self.q.valid & ~self.wr.valid), a1.eq(qi),
                         a1_hit.eq(Cat(*[gv[g] & (grkid[g] == qi.rkid) & (glong[g] == qi.long) for g in range(G)]))]

        # ---- lookup, stage A2: group and slots -------------------------------------------
        q = a1
        by_rkid = ~q.send & q.k
        hit = [a1_hit[g] for g in range(G)]
        g_rkid = Const(0, _group_bits(G))
        for g in reversed(range(G)):     # Root Key IDs are unique: at most one hit
            g_rkid = Mux(hit[g], g, g_rkid)
        group = Signal(_group_bits(G))
        m.d.comb += group.eq(Mux(by_rkid, g_rkid, Mux(q.send, q.group, dflt)))
        is_default = dflt_valid & (dflt == group)
        group_ok = Mux(by_rkid, Cat(*hit).any(),
                       Cat(*[gv[g] & (group == g) for g in range(G)]).any() & (q.send & q.k | is_default))
        slot_of, slot_ok, cur_tags = [], [], []
        for t in range(TYPES):
            want = q.tags[4 - 2 * t: 6 - 2 * t]      # zone tag in bits 5..4
            s_tag, s_hit, s_cur, s_cur_ok, s_cur_tag = Const(0, 2), Const(0), Const(0, 2), Const(0), Const(0, 2)
            for g in range(G):
                sel = group == g
                for s in range(SLOTS):
                    h = sel & sv[g][t][s] & (stag[g][t][s] == want)
                    s_tag, s_hit = Mux(h, s, s_tag), s_hit | h
                s_cur = Mux(sel, cur[g][t], s_cur)
                s_cur_ok = Mux(sel, Cat(*[sv[g][t][s] & (cur[g][t] == s) for s in range(SLOTS)]).any(), s_cur_ok)
                s_cur_tag = Mux(sel, Cat(*stag[g][t]).word_select(cur[g][t], 2), s_cur_tag)
            slot_of.append(Mux(by_rkid, s_tag, s_cur))
            slot_ok.append(Mux(by_rkid, s_hit, s_cur_ok))
            cur_tags.append(s_cur_tag)
        code = Mux(~group_ok, Code.UNKNOWN_GROUP.value,
                   Mux(Cat(*slot_ok).all(), 0, Code.UNKNOWN_KEY.value))

        # stage B registers and the key memories' read, on the same edge (A2 -> B): the
        # lookup sees every earlier write, in the registers and in the memories alike;
        # then the master key (B -> out)
        b_valid, out_valid = Signal(), Signal()
        b = Signal(answer_layout(self._groups, self._tag_shape))
        out = Signal(answer_layout(self._groups, self._tag_shape))
        adv_out = ~out_valid | self.r.ready
        m.d.comb += adv_b.eq(~b_valid | adv_out)
        with m.If(adv_b):
            m.d.sync += [
                b_valid.eq(a1_valid),
                b.code.eq(code), b.group.eq(group), b.tag.eq(q.tag),
                b.rkid.eq(Mux(q.send, Cat(*grkid).word_select(group, 256), q.rkid)),
                b.long.eq(Mux(q.send, Cat(*glong).word_select(group, 1), q.long)),
                b.tags.eq(Mux(q.send, Cat(cur_tags[2], cur_tags[1], cur_tags[0]), q.tags)),
            ]
        reads = []
        for t, mem in enumerate(mems):
            port = mem.read_port(transparent_for=())
            m.d.comb += [port.addr.eq(group * SLOTS + slot_of[t]), port.en.eq(adv_b)]
            reads.append(port.data)
        with m.If(adv_out):
            m.d.sync += [out_valid.eq(b_valid), out.eq(b),
                         out.mk.eq(Mux(b.code == 0, reads[0] ^ reads[1] ^ reads[2], 0))]
        m.d.comb += [self.r.valid.eq(out_valid), self.r.payload.eq(out)]
        return m

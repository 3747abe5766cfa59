"""Key table of docs/spec.md section 4: trust groups, three root-key types x three tagged
slots, root-key XOR into the master key. Keys go in through management writes and only
come out XORed into a master key for the datapath; no port reads a key back.

:class:`KeyTable` ports (``amaranth.lib.stream``):

* ``wr`` (sink, :func:`write_layout`), management writes, one every three cycles, in
  effect from the third cycle after the transfer's (the write is registered with its
  Root Key ID compares and duplicate-tag checks, then decoded against the table, then
  applied); ready unless a write is in those registers or a lookup is in the first
  three of its stages (registers, so a waiting write is taken as soon as they drain:
  lookups wait while a write is offered or registered):

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
  answered in order after :data:`LATENCY` = 5 cycles (the Root Key ID compares
  registered with the query in 32-bit chunks; the hits; the group; the slot choice and the key memories' registered read on the
  same clock edge; then a registered XOR); ``tag`` is passed through. ``q`` is not ready on a cycle ``wr`` is
  valid or a write is registered (writes go first). A lookup is atomic with respect to writes: the group, the
  slots and the keys it answers with are those of the table as every write accepted
  before the lookup's cycle left it (no write is taken on that cycle nor while the
  lookup is in its first three stages, and none is applied on the edge that takes it), so a frame never gets a key of one write and a tag or
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

Storage: the keys in three ``lib.memory`` memories (one a type, ``groups * 4`` x 256,
addressed by {group, slot}: slot 3 unused, and no multiply in the address),
everything else in registers. ``groups`` is a parameter (default 4).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from common.codes import Code

__all__ = ["KeyTable", "Op", "write_layout", "query_layout", "answer_layout", "LATENCY"]

TYPES, SLOTS = 3, 3
#: a 256-bit Root Key ID compare is registered as this many 32-bit chunk compares
CHUNKS = 8
#: cycles from a lookup's transfer on ``q`` to its answer on ``r`` (``r`` ready)
LATENCY = 5


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
    Output ``refused``: a write is refused this cycle, the second after its transfer's
    (counted by the top, spec 11.1).
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
            mem = Memory(shape=256, depth=G * 4, init=[])     # address {group, slot}: no multiply
            m.submodules[f"keys{t}"] = mem
            mems.append(mem)

        # ---- management writes, one at a time through two registers (none taken while
        # one is in them): W0 the write as offered with its Root Key ID compares in 16-bit
        # chunks and its duplicate-tag checks; W1 the write decoded against the table (the
        # refusals decided); applied on the edge that ends W1. So the checks see every
        # earlier write, and no LUT path runs from a 256-bit compare to an enable.
        wi = self.wr.payload
        w0_valid, w1_valid = Signal(), Signal()
        w0, w1 = Signal(write_layout(G)), Signal(write_layout(G))
        w0_eq = [Signal(CHUNKS + 1, name=f"w0_eq{g}") for g in range(G)]   # chunks, length
        w0_dup = Signal(TYPES)      # another valid slot of the write's group and type has its tag
        taken = self.wr.valid & self.wr.ready
        m.d.sync += [w0_valid.eq(taken), w1_valid.eq(w0_valid)]
        with m.If(taken):
            m.d.sync += [w0.eq(wi), *[w0_eq[g].eq(Cat(_chunks_equal(grkid[g], wi.data), glong[g] == wi.long))
                                       for g in range(G)],
                         w0_dup.eq(Cat(*[Cat(*[(wi.group == g) & (wi.slot != s) & sv[g][t][s] & (stag[g][t][s] == wi.tag)
                                               for g in range(G) for s in range(SLOTS)]).any() for t in range(TYPES)]))]
        same_id = Cat(*[gv[g] & (w0.group != g) & w0_eq[g].all() for g in range(G)]).any()
        # W1: what the write does, decoded (each 1 only if the write is not refused)
        set_group, clear_group = Signal(G), Signal(G)
        write_slot = [Signal(G * SLOTS, name=f"write_slot{t}") for t in range(TYPES)]
        set_current = [Signal(G, name=f"set_current{t}") for t in range(TYPES)]
        set_default, clear_default, w1_refused = Signal(), Signal(), Signal()
        op, grp = w0.op, w0.group
        m.d.sync += [
            set_group.eq(Cat(*[w0_valid & (op == Op.SET_GROUP) & (grp == g) & ~same_id for g in range(G)])),
            clear_group.eq(Cat(*[w0_valid & (op == Op.CLEAR_GROUP) & (grp == g) for g in range(G)])),
            *[write_slot[t].eq(Cat(*[w0_valid & (op == Op.WRITE_SLOT) & (w0.ktype == t) & ~w0_dup[t]
                                     & (grp == g) & (w0.slot == s) for g in range(G) for s in range(SLOTS)]))
              for t in range(TYPES)],
            *[set_current[t].eq(Cat(*[w0_valid & (op == Op.SET_CURRENT) & (w0.ktype == t) & (grp == g)
                                      & (w0.slot < SLOTS) for g in range(G)])) for t in range(TYPES)],
            set_default.eq(w0_valid & (op == Op.SET_DEFAULT)),
            clear_default.eq(w0_valid & (op == Op.CLEAR_DEFAULT)),
            w1_refused.eq(w0_valid & (((op == Op.SET_GROUP) & same_id)
                                      | ((op == Op.WRITE_SLOT) & (w0_dup & (1 << w0.ktype)[:TYPES]).any()))),
            w1.eq(w0),
        ]
        m.d.comb += self.refused.eq(w1_refused)
        for t, mem in enumerate(mems):
            port = mem.write_port()
            m.d.comb += [port.addr.eq(Cat(w1.slot, w1.group)), port.data.eq(w1.data), port.en.eq(write_slot[t].any())]
            for g in range(G):
                for s in range(SLOTS):
                    with m.If(write_slot[t][g * SLOTS + s]):
                        m.d.sync += [sv[g][t][s].eq(1), stag[g][t][s].eq(w1.tag)]
                with m.If(set_current[t][g]):
                    m.d.sync += cur[g][t].eq(w1.slot)
        for g in range(G):
            with m.If(set_group[g] | clear_group[g]):
                m.d.sync += [gv[g].eq(set_group[g]), grkid[g].eq(w1.data), glong[g].eq(w1.long)]
                m.d.sync += [sv[g][t][s].eq(0) for t in range(TYPES) for s in range(SLOTS)]
        with m.If(set_default):
            m.d.sync += [dflt_valid.eq(1), dflt.eq(w1.group)]
        with m.If(clear_default):
            m.d.sync += dflt_valid.eq(0)

        # ---- lookups: A0 the query with its Root Key ID compares in 32-bit chunks, A1 the
        # hits, A2 the group, then the slot choice and the key memories' read into B.
        # No write is taken while a lookup is in A0-A2, and no lookup is taken on a cycle
        # a write is offered or in W0/W1, so a lookup reads the table as one state in
        # every stage (a write taken while it is in B or later lands after its reads).
        a0_valid, a1_valid, a2_valid = Signal(), Signal(), Signal()
        a0, a1 = Signal(query_layout(self._groups, self._tag_shape)), Signal(query_layout(self._groups, self._tag_shape))
        a0_eq = [Signal(CHUNKS, name=f"a0_eq{g}") for g in range(G)]
        a1_hit = Signal(G)
        adv_b = Signal()
        adv_a2 = ~a2_valid | adv_b
        adv_a1 = ~a1_valid | adv_a2
        adv_a0 = ~a0_valid | adv_a1
        writing = self.wr.valid | w0_valid | w1_valid
        m.d.comb += [self.q.ready.eq(adv_a0 & ~writing),
                     self.wr.ready.eq(~a0_valid & ~a1_valid & ~a2_valid & ~w0_valid & ~w1_valid)]
        qi = self.q.payload
        with m.If(adv_a0):
            m.d.sync += [a0_valid.eq(self.q.valid & ~writing), a0.eq(qi),
                         *[a0_eq[g].eq(_chunks_equal(grkid[g], qi.rkid)) for g in range(G)]]
        with m.If(adv_a1):
            m.d.sync += [a1_valid.eq(a0_valid), a1.eq(a0),
                         a1_hit.eq(Cat(*[gv[g] & a0_eq[g].all() & (glong[g] == a0.long) for g in range(G)]))]

        # ---- lookup, stage A2: the group ------------------------------------------------
        by_rkid = ~a1.send & a1.k
        g_rkid = Const(0, _group_bits(G))
        for g in reversed(range(G)):     # Root Key IDs are unique: at most one hit
            g_rkid = Mux(a1_hit[g], g, g_rkid)
        group = Signal(_group_bits(G))
        m.d.comb += group.eq(Mux(by_rkid, g_rkid, Mux(a1.send, a1.group, dflt)))
        is_default = dflt_valid & (dflt == group)
        a2 = Signal(query_layout(self._groups, self._tag_shape))
        a2_group, a2_ok, a2_by_rkid = Signal.like(group), Signal(), Signal()
        with m.If(adv_a2):
            m.d.sync += [
                a2_valid.eq(a1_valid), a2.eq(a1), a2_group.eq(group), a2_by_rkid.eq(by_rkid),
                a2_ok.eq(Mux(by_rkid, a1_hit.any(),
                             Cat(*[gv[g] & (group == g) for g in range(G)]).any() & (a1.send & a1.k | is_default))),
            ]

        # ---- lookup, stage A3: the slots, the memories' address ------------------------
        q, group = a2, a2_group
        slot_of, slot_ok, cur_tags = [], [], []
        for t in range(TYPES):
            want = q.tags[4 - 2 * t: 6 - 2 * t]      # zone tag in bits 5..4
            # the group's slots first (a mux on the registered group), then the compares
            g_sv = [Cat(*[sv[g][t][s] for g in range(G)]).bit_select(group, 1) for s in range(SLOTS)]
            g_tag = [Cat(*[stag[g][t][s] for g in range(G)]).word_select(group, 2) for s in range(SLOTS)]
            g_cur = Cat(*[cur[g][t] for g in range(G)]).word_select(group, 2)
            hits = [g_sv[s] & (g_tag[s] == want) for s in range(SLOTS)]
            s_tag = Const(0, 2)
            for s in reversed(range(SLOTS)):    # tags are unique per type: at most one hit
                s_tag = Mux(hits[s], s, s_tag)
            slot_of.append(Mux(a2_by_rkid, s_tag, g_cur))
            slot_ok.append(Mux(a2_by_rkid, Cat(*hits).any(), Cat(*g_sv).bit_select(g_cur, 1)))
            cur_tags.append(Cat(*g_tag).word_select(g_cur, 2))
        code = Mux(~a2_ok, Code.UNKNOWN_GROUP.value, Mux(Cat(*slot_ok).all(), 0, Code.UNKNOWN_KEY.value))

        # stage B registers and the key memories' read, on the same edge (A3 -> B): the
        # lookup sees every earlier write, in the registers and in the memories alike;
        # then the master key (B -> out)
        b_valid, out_valid = Signal(), Signal()
        b = Signal(answer_layout(self._groups, self._tag_shape))
        out = Signal(answer_layout(self._groups, self._tag_shape))
        adv_out = ~out_valid | self.r.ready
        m.d.comb += adv_b.eq(~b_valid | adv_out)
        with m.If(adv_b):
            m.d.sync += [
                b_valid.eq(a2_valid),
                b.code.eq(code), b.group.eq(group), b.tag.eq(q.tag),
                b.rkid.eq(Mux(q.send, Cat(*grkid).word_select(group, 256), q.rkid)),
                b.long.eq(Mux(q.send, Cat(*glong).word_select(group, 1), q.long)),
                b.tags.eq(Mux(q.send, Cat(cur_tags[2], cur_tags[1], cur_tags[0]), q.tags)),
            ]
        reads = []
        for t, mem in enumerate(mems):
            port = mem.read_port(transparent_for=())
            m.d.comb += [port.addr.eq(Cat(slot_of[t], group)), port.en.eq(adv_b)]
            reads.append(port.data)
        with m.If(adv_out):
            m.d.sync += [out_valid.eq(b_valid), out.eq(b),
                         out.mk.eq(Mux(b.code == 0, reads[0] ^ reads[1] ^ reads[2], 0))]
        m.d.comb += [self.r.valid.eq(out_valid), self.r.payload.eq(out)]
        return m


def _chunks_equal(a, b):
    """Per 32-bit chunk of two 256-bit values, 1 where they are equal (:data:`CHUNKS` bits)."""
    return Cat(*[a[32 * k: 32 * (k + 1)] == b[32 * k: 32 * (k + 1)] for k in range(CHUNKS)])

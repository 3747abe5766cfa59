"""Endpoint datapath of docs/spec.md: decap (receive) and encap (send) of frames.

:class:`Decap` opens frames per spec sections 2, 4, 5 and 6: header parsing at any octet
offset, key lookup with root-key XOR, a data key per frame from the KDF engine, AES-GCM
decryption with tag check, and realignment of what is left (``outer || payload``).

Ports (``amaranth.lib.stream``; AXI-Stream lane order: octet k of a beat in bits
8k+7..8k, ``keep`` contiguous from lane 0, every beat but a frame's last full):

* ``s`` (sink) frame beats ``data``/``keep``/``last``, ``user.offset`` = the header
  offset O of the frame, read on its first beat;
* ``m`` (source) the opened frames: ``F[0..O) || F[O+4HL .. O+4HL+4COffset) || plaintext``,
  ``user.error`` = 0. A refused frame (spec 2.2 codes 1-11) is dropped when ``drop_bad``
  is 1; with ``drop_bad`` = 0 it leaves as its outer octets ``F[0..O)`` only, with
  ``user.error`` = its code on every beat (nothing after the outer octets, so no
  plaintext and no ICV of a refused frame ever leaves; spec section 10);
* ``wr`` (sink) management writes of the key table (:mod:`hw.keytable`), ordered with
  the frames: a write applies to exactly the frames whose first beat comes after it
  (it waits until earlier frames are past their key lookup, and no frame starts while it
  waits: spec 4.2; the same holds for the encap's ``ctxwr``);
* ``drop_bad`` (in) configuration bit; ``stat_addr`` (in) / ``stat_data`` (out), the
  status counters (:mod:`hw.counters`), read combinationally.

Frames are stored whole twice: on input, because the data key needs the header and the
ICV check needs the end, and on output, because plaintext may leave only after its tag
verified. Each store holds ``2 * max_frame`` octets (parameter, default
:data:`MAX_FRAME`). A frame longer than ``max_frame`` octets is refused with TOO_LONG
(code 14): its first beats, up to the one that passes the limit, are stored and end the
frame there, the rest is taken and discarded, and the frame leaves as any refused frame
does (dropped, or ``F[0..O)`` with its code); the next frame is processed as usual.

Throughput: one 16-octet beat per cycle. Decap: one cycle per GCM beat (each region,
outer octets, AAD, ciphertext and ICV, rounded up to whole beats; at most 3 more than the
input beats). Encap: one cycle per output beat (measured by tb/endpoint_tb.py,
docs/spec.md section 11).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from common.codes import Code

from .counters import wire_stats
from .datapath import (ALL, LEN, MAX_FRAME, InUser, OpenJob, OutUser, Verdict, beats_to_gcm, first_code,
                       frames_to_segmenter, gated, octets_of, open_frames, receive_ingress, refused_cut, release,
                       repack_gcm, send_ingress, write_barrier)
from .gcm import Gcm, Kind
from .kdf import KdfEngine
from .keytable import KeyTable, write_layout
from .parser import HeaderCheck, Parsed
from .realign import Inserter, Packer, Segmenter, beat

__all__ = ["Decap", "Encap", "MetaUser", "Desc", "encap_user", "context_layout", "ContextState",
           "eesp_check", "eesp_key_query", "eesp_key_answer", "eesp_open_job"]

#: A frame's ingress facts beside its code: O, the trust group its keys came from, and
#: the header's COffset and IOffset (``user`` of ``Decap(meta=True)``, for the proxy).
MetaUser = data.StructLayout({"error": 5, "offset": LEN, "group": 8, "coffset": 8, "ioffset": 8})
#: What travels with a frame from its header to its output.
Desc = data.StructLayout({"p": Parsed, "o": LEN, "n": LEN, "code": 5, "group": 8})


def eesp_check(m, cap, ended):
    """The EESP receive front, step 1: rules 1-10 of spec 2.2 on the header ``cap``
    (:class:`hw.datapath.HeaderCapture`) captured; ``ended``: the ingress code (TOO_LONG,
    BAD_FRAMING, 0), which comes first. Returns the frame's :data:`Desc`."""
    m.submodules.chk = chk = HeaderCheck(LEN)
    desc = Signal(Desc)
    m.d.comb += [chk.hdr.eq(cap.hdr), chk.length.eq(cap.length), chk.offset.eq(cap.at),
                 desc.p.eq(chk.parsed), desc.o.eq(cap.at), desc.n.eq(cap.length),
                 desc.code.eq(Mux(ended != 0, ended, chk.parsed.code))]
    return desc


def eesp_key_query(m, keys, d) -> None:
    """Step 2: the key-table query (rules 11, 12) of the frame whose :data:`Desc` is ``d``
    (the caller drives ``valid``, ``ready`` and ``tag``)."""
    q = keys.q.payload
    m.d.comb += [q.k.eq(d.p.k), q.rkid.eq(d.p.rkid), q.long.eq(d.p.rkid_long), q.tags.eq(d.p.tags)]


def eesp_key_answer(m, ans, d):
    """Step 3: the frame's :data:`Desc` ``d`` with the key table's answer ``ans``: its
    code (the header's first) and trust group."""
    job = Signal(Desc)
    m.d.comb += [job.eq(d), job.code.eq(Mux(d.code != 0, d.code, ans.code)), job.group.eq(ans.group)]
    return job


def eesp_open_job(m, done, dk):
    """Step 4: the :data:`hw.datapath.OpenJob` of a frame (``done``: its :data:`Desc`; ``dk``:
    its data key, spec 5) for :func:`hw.datapath.open_frames`: nonce, AAD from
    ``O - 4 IOffset``, the header removed, the clear words, the verdict."""
    p = done.p
    hdr_end = done.o + Cat(Const(0, 2), p.hl)
    opened = Signal(OpenJob)
    m.d.comb += [
        opened.key.eq(dk), opened.nonce.eq(Cat(p.counter, p.epoch, p.ident[:32])),
        opened.aad.eq(done.o - Cat(Const(0, 2), p.ioffset)),
        opened.text.eq(hdr_end + Cat(Const(0, 2), p.coffset)),
        opened.drop.eq(hdr_end), opened.n.eq(done.n),
        opened.v.code.eq(done.code), opened.v.o.eq(refused_cut(done.o, done.n)), opened.v.n.eq(ALL),
        opened.v.group.eq(done.group), opened.v.coffset.eq(p.coffset), opened.v.ioffset.eq(p.ioffset),
    ]
    return opened


class Decap(wiring.Component):
    """Receive side of the endpoint (see module docstring). ``meta``: ``m.user`` is
    :data:`MetaUser` (the error code and the frame's O, trust group, COffset and IOffset,
    on every beat) instead of :data:`OutUser`."""

    def __init__(self, groups: int = 4, max_frame: int = MAX_FRAME, meta: bool = False):
        self._groups = groups
        self._meta = meta
        self._max_frame = max_frame
        self._depth = 2 * ((max_frame + 15) // 16) + 4
        super().__init__({
            "s": In(stream.Signature(beat(InUser))),
            "m": Out(stream.Signature(beat(MetaUser if meta else OutUser))),
            "wr": In(stream.Signature(write_layout(groups))),
            "drop_bad": In(1),
            "stat_addr": In(6),
            "stat_data": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self._depth

        # ---- ingress: store the frame, capture and check its header -----------------
        m.submodules.descs = descs = fifo.SyncFIFOBuffered(width=Desc.size, depth=8)
        m.submodules.keys = keys = KeyTable(self._groups, tag_shape=Desc)
        open_, hold = write_barrier(m, self.s, keys.r.valid & keys.r.ready, [self.wr])
        frames, cap, fire_in, ended = receive_ingress(m, self.s, depth, self._max_frame, descs, hold)
        m.d.comb += [descs.w_en.eq(cap.done), descs.w_data.eq(eesp_check(m, cap, ended))]

        # ---- key lookup (rules 11, 12), then the KDF -------------------------------------
        m.submodules.kdf = kdf = KdfEngine(tag_width=Desc.size)
        d = data.View(Desc, descs.r_data)
        gated(m, self.wr, keys.wr, open_)
        eesp_key_query(m, keys, d)
        m.d.comb += [keys.q.valid.eq(descs.r_rdy), descs.r_en.eq(keys.q.ready), keys.q.payload.tag.eq(d)]
        ans = keys.r.payload
        job = eesp_key_answer(m, ans, ans.tag)
        m.d.comb += [
            kdf.i.valid.eq(keys.r.valid), keys.r.ready.eq(kdf.i.ready),
            # a refused frame's key is never derived: MK 0 (a public value) into the KDF
            kdf.i.payload.mk.eq(Mux(job.code == 0, ans.mk, 0)), kdf.i.payload.kind.eq(job.p.kind),
            kdf.i.payload.ident.eq(job.p.ident), kdf.i.payload.epoch.eq(job.p.epoch),
            kdf.i.payload.tag.eq(job),
        ]

        # ---- open: GCM, header removed, held until the tag, released by the verdict -------
        opened = eesp_open_job(m, data.View(Desc, kdf.o.payload.tag), kdf.o.payload.dk)
        ready, egress = open_frames(m, self, frames, opened, kdf.o.valid, depth, MetaUser if self._meta else OutUser)
        m.d.comb += kdf.o.ready.eq(ready)
        wire_stats(m, self, fire_in, egress, key_refused=keys.refused)
        return m


def encap_user(contexts: int, chained: bool = False) -> data.StructLayout:
    """``user`` of :class:`Encap`'s input, read on a frame's first beat (``chained``:
    with ``error``, a code the frame is refused with when not 0)."""
    fields = {"offset": LEN, "ctx": max(1, (contexts - 1).bit_length()), "coffset": 8, "ioffset": 8}
    if chained:
        fields["error"] = 5
    return data.StructLayout(fields)


def context_layout(groups: int, contexts: int) -> data.StructLayout:
    """A management write of a sender context (:class:`Encap`): ``valid`` 1 installs
    the context, 0 clears it."""
    return data.StructLayout({"index": max(1, (contexts - 1).bit_length()), "valid": 1,
                              "group": max(1, (groups - 1).bit_length()),
                              "kind": 1, "ident": 64, "epoch": 16, "k": 1, "counter": 49})


#: What :class:`Encap`'s ``ctx_state`` reads of the context at ``ctx_addr``.
ContextState = data.StructLayout({"valid": 1, "counter": 49})


def header_octets(kind, k, long, hl, coffset, ioffset, ident, rkid, tags, epoch, counter):
    """The security header of spec 2.1 as octets (octet j in bits 8j+7..8j), 56 octets
    wide, for each of the six layouts (ID kind x option none / 16 / 32), chosen by Mux."""
    word0 = [Cat(hl, Const(1, 4)), Cat(Const(0, 5), k, kind, Const(0, 1)), coffset, ioffset]
    tail = octets_of(epoch, 2) + octets_of(counter, 6)
    out = Const(0, 8 * 56)
    for kk in (0, 1):
        ident_octets = octets_of(ident, 8) if kk else octets_of(ident[:32], 4)
        for opt in (0, 16, 32):
            option = [] if not opt else \
                [Const(1, 8), Const(opt + 4, 8), Cat(Const(0, 2), tags), Const(0, 8)] + octets_of(rkid[:8 * opt], opt)
            octets = word0 + ident_octets + option + tail
            sel = (kind == kk) & (Mux(k, Mux(long, 32, 16), 0) == opt)
            out = Mux(sel, Cat(*octets), out)
    return out


class Encap(wiring.Component):
    """Send side of the endpoint: seals ``outer || payload`` frames (spec sections 6, 7).

    Ports as :class:`Decap`, except:

    * ``s.user`` (:func:`encap_user`), read on a frame's first beat: ``offset`` O (where
      the header goes: ``outer`` = the first O octets), ``ctx`` the sender context,
      ``coffset`` and ``ioffset`` of this frame;
    * ``ctxwr`` (sink, :func:`context_layout`, ordered with the frames as ``wr`` is):
      management writes of sender context ``index``: ``valid`` 1 installs trust group,
      ID kind and ID (a DeviceID in bits 31..0), Epoch, K, and the counter value its next
      frame takes; ``valid`` 0 clears it (its ID, Epoch and counter are kept for the
      check below). A context's *counter identity* is (ID kind, ID, Epoch), whatever its
      group and K. An install is refused (nothing changes, counted at status address 9)
      if another valid context has the same counter identity, or if any context, valid
      or cleared, with that identity has a counter above the one written (a frame that
      takes that counter on the same cycle counts): a counter never moves backwards
      under one data key (spec 7.1). After reset every context is cleared;
    * ``ctx_addr`` (in) / ``ctx_state`` (out, :data:`ContextState`): the valid bit and
      next counter value of context ``ctx_addr`` (combinational; not secret), so the
      management plane can keep a high-water mark it re-installs after a reset.

    ``m`` carries ``outer || header || payload[0..4 COffset) || C || ICV``. Refused, with
    the code counted (and the frame dropped, or cut to ``F[0..min(O, N))`` with the code
    in ``user.error``), first rule first (spec 7.2): ingress (TOO_LONG, BAD_FRAMING; the
    proxy's ingress code when ``chained``), the context not installed (NO_CONTEXT), O
    past the frame's end (TRUNCATED), IOffset past the frame's start (BAD_IOFFSET),
    COffset past its end (BAD_COFFSET), the group missing or, K = 0, not the default
    group (UNKNOWN_GROUP), a current key missing (UNKNOWN_KEY), the counter exhausted
    (COUNTER_EXHAUSTED). A refused frame spends no counter value and derives no key: its
    KDF and GCM inputs are zero. The header takes the group's Root Key ID and current
    tags when K = 1 (spec 4.3).
    """

    def __init__(self, groups: int = 4, contexts: int = 16, max_frame: int = MAX_FRAME, chained: bool = False):
        self._groups = groups
        self._max_frame = max_frame
        self._chained = chained
        self._contexts = contexts
        self._depth = 2 * ((max_frame + 15) // 16) + 4
        super().__init__({
            "s": In(stream.Signature(beat(encap_user(contexts, chained)))),
            "m": Out(stream.Signature(beat(OutUser))),
            "wr": In(stream.Signature(write_layout(groups))),
            "ctxwr": In(stream.Signature(context_layout(groups, contexts))),
            "ctx_addr": In(max(1, (contexts - 1).bit_length())),
            "ctx_state": Out(ContextState),
            "drop_bad": In(1),
            "stat_addr": In(6),
            "stat_data": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        C = self._contexts
        cl = context_layout(self._groups, C)
        EDesc = data.StructLayout({"o": LEN, "n": LEN, "ctx": cl["index"].shape, "coffset": 8, "ioffset": 8,
                                   "error": 5})
        Job = data.StructLayout({"d": EDesc, "ctx": cl, "rkid": 256, "long": 1, "tags": 6, "code": 5})

        # ---- ingress: store the frame; its length and sideband go to a descriptor ----------
        m.submodules.descs = descs = fifo.SyncFIFOBuffered(width=EDesc.size, depth=8)
        m.submodules.keys = keys = KeyTable(self._groups, tag_shape=EDesc)
        open_, hold = write_barrier(m, self.s, keys.r.valid & keys.r.ready, [self.wr, self.ctxwr])
        frames, fire_in, cur_side, n_now, ended = send_ingress(m, self.s, self._depth, self._max_frame, descs,
                                                                hold)
        desc_in = Signal(EDesc)
        m.d.comb += [
            desc_in.o.eq(cur_side.offset), desc_in.n.eq(n_now), desc_in.ctx.eq(cur_side.ctx),
            desc_in.coffset.eq(cur_side.coffset), desc_in.ioffset.eq(cur_side.ioffset),
            desc_in.error.eq(Mux(ended != 0, ended, cur_side.error) if self._chained else ended),
            descs.w_data.eq(desc_in),
        ]

        # ---- sender contexts and their counters ----------------------------------------------
        ctxs = Array([Signal(cl, name=f"ctx{c}") for c in range(C)])
        m.d.comb += [self.ctx_state.valid.eq(ctxs[self.ctx_addr].valid),
                     self.ctx_state.counter.eq(ctxs[self.ctx_addr].counter)]

        # ---- key lookup of the sender's group, then checks and the counter -------------------
        m.submodules.kdf = kdf = KdfEngine(tag_width=Job.size)
        d = data.View(EDesc, descs.r_data)
        gated(m, self.wr, keys.wr, open_)
        m.d.comb += [
            keys.q.valid.eq(descs.r_rdy), descs.r_en.eq(keys.q.ready),
            keys.q.payload.send.eq(1), keys.q.payload.group.eq(ctxs[d.ctx].group), keys.q.payload.k.eq(ctxs[d.ctx].k),
            keys.q.payload.tag.eq(d),
        ]
        ans = keys.r.payload
        job = Signal(Job)
        c = ctxs[ans.tag.ctx]
        t = ans.tag
        code = first_code([
            (t.error != 0, t.error),
            (~c.valid, Code.NO_CONTEXT),
            (t.o > t.n, Code.TRUNCATED),
            (Cat(Const(0, 2), t.ioffset) > t.o, Code.BAD_IOFFSET),
            (t.o + Cat(Const(0, 2), t.coffset) > t.n, Code.BAD_COFFSET),
            (ans.code != 0, ans.code),
            (c.counter[48], Code.COUNTER_EXHAUSTED),
        ])
        m.d.comb += [
            job.d.eq(ans.tag), job.ctx.eq(c), job.rkid.eq(ans.rkid), job.long.eq(ans.long),
            job.tags.eq(ans.tags), job.code.eq(code),
            kdf.i.valid.eq(keys.r.valid), keys.r.ready.eq(kdf.i.ready),
            kdf.i.payload.mk.eq(Mux(code == 0, ans.mk, 0)), kdf.i.payload.kind.eq(c.kind),
            kdf.i.payload.ident.eq(c.ident), kdf.i.payload.epoch.eq(c.epoch),
            kdf.i.payload.tag.eq(job),
        ]
        spend = kdf.i.valid & kdf.i.ready & (code == 0)
        with m.If(spend):
            m.d.sync += ctxs[ans.tag.ctx].counter.eq(c.counter + 1)
        ctx_refused = _context_writes(m, self.ctxwr, ctxs, spend, ans.tag.ctx, open_)

        # ---- fork: GCM context, cut positions, header, verdict --------------------------------
        j = data.View(Job, kdf.o.payload.tag)
        ok = j.code == 0
        jc, jd = j.ctx, j.d
        hl = Signal(4)
        m.d.comb += hl.eq((12 + Mux(jc.kind, 8, 4) + Mux(jc.k, Mux(j.long, 36, 20), 0)) >> 2)
        hdr = header_octets(jc.kind, jc.k, j.long, hl, jd.coffset, jd.ioffset, jc.ident, j.rkid, j.tags,
                            jc.epoch, jc.counter[:48])
        Bounds3 = data.ArrayLayout(LEN, 3)
        m.submodules.ctxq = ctxq = fifo.SyncFIFOBuffered(width=256 + 96, depth=4)
        m.submodules.segq = segq = fifo.SyncFIFOBuffered(width=Bounds3.size, depth=4)
        m.submodules.hdrq = hdrq = fifo.SyncFIFOBuffered(width=8 * 64 + 7, depth=4)
        m.submodules.vq = vq = fifo.SyncFIFOBuffered(width=Verdict.size, depth=8)
        forks = (ctxq, segq, hdrq, vq)
        all_room = Cat(*[q.w_rdy for q in forks]).all()
        bounds = Signal(Bounds3)
        verdict = Signal(Verdict)
        m.d.comb += [
            bounds[0].eq(Mux(ok, jd.o - Cat(Const(0, 2), jd.ioffset), jd.n)),
            bounds[1].eq(Mux(ok, jd.o, jd.n)),
            bounds[2].eq(Mux(ok, jd.o + Cat(Const(0, 2), jd.coffset), jd.n)),
            verdict.code.eq(j.code), verdict.o.eq(refused_cut(jd.o, jd.n)), verdict.n.eq(ALL),
            kdf.o.ready.eq(all_room),
            # a refused frame: nothing derived from a key (its GCM packet is all PASS under key 0)
            ctxq.w_data.eq(Mux(ok, Cat(jc.counter[:48], jc.epoch, jc.ident[:32], kdf.o.payload.dk), 0)),
            segq.w_data.eq(bounds),
            hdrq.w_data.eq(Cat(hdr, Const(0, 64), Mux(ok, Cat(Const(0, 2), hl), 0))),
            vq.w_data.eq(verdict),
        ]
        m.d.comb += [q.w_en.eq(kdf.o.valid & all_room) for q in forks]

        # ---- PASS | AAD (prefix, header, clear words) | TEXT into the GCM ----------------------
        m.submodules.seg = seg = Segmenter(4, user_shape=1, len_bits=LEN)
        m.submodules.ins = ins = Inserter(2, user_shape=1, cls_bits=2, max_len=64)
        m.submodules.pack = pack = Packer(user_shape=1, cls_bits=2)
        m.submodules.gcm = gcm = Gcm(side_width=1)
        frames_to_segmenter(m, frames, seg, segq)
        wiring.connect(m, seg.o, ins.i)
        m.d.comb += [ins.h.valid.eq(hdrq.r_rdy), hdrq.r_en.eq(ins.h.ready), ins.h.payload.eq(hdrq.r_data)]
        kinds = Array([k.value for k in (Kind.PASS, Kind.AAD, Kind.AAD, Kind.TEXT)])
        m.d.comb += [
            pack.i.valid.eq(ins.o.valid), ins.o.ready.eq(pack.i.ready),
            pack.i.payload.data.eq(ins.o.payload.data), pack.i.payload.count.eq(ins.o.payload.count),
            pack.i.payload.last.eq(ins.o.payload.last), pack.i.payload.cls.eq(kinds[ins.o.payload.cls]),
        ]
        beats_to_gcm(m, pack.o, gcm, ctxq, None, decrypt=0)

        # ---- repack everything the GCM returns (tag included) into one frame ------------------
        egress = release(m, self, repack_gcm(m, gcm), vq)
        wire_stats(m, self, fire_in, egress, key_refused=keys.refused, ctx_refused=ctx_refused)
        return m


def _context_writes(m, wr, ctxs, spend, spent, open_):
    """Management writes of :class:`Encap`'s sender contexts ``ctxs`` from stream ``wr``
    (taken when ``open_``, :func:`write_barrier`), with the refusals of its docstring;
    ``spend``: a frame takes context ``spent``'s counter this cycle. Returns the refusal
    strobe."""
    w = wr.payload
    behind, dup = [], []
    for k, e in enumerate(ctxs):
        same_id = (e.kind == w.kind) & (e.ident == w.ident) & (e.epoch == w.epoch)
        spent_here = spend & (spent == k)
        behind.append(same_id & Mux(spent_here, w.counter <= e.counter, w.counter < e.counter))
        dup.append(same_id & e.valid & (w.index != k))
    refused = Signal()
    take = wr.valid & open_
    m.d.comb += [wr.ready.eq(open_), refused.eq(take & w.valid & (Cat(*behind).any() | Cat(*dup).any()))]
    with m.If(take & ~refused):     # a management write wins over a frame's increment
        with m.If(w.valid):
            m.d.sync += ctxs[w.index].eq(w)
        with m.Else():
            m.d.sync += ctxs[w.index].valid.eq(0)
    return refused


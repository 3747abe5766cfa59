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

from .aes import check_sbox
from .counters import wire_stats
from .datapath import (ALL, InUser, LEN, MAX_FRAME, OpenJob, OutUser, SealJob, control_ports, first_code, gated,
                       octets_of, open_frames, receive_ingress, refused_cut, seal_frames, send_ingress, store_depth,
                       write_barrier, write_entry)
from .kdf import KdfEngine
from .keytable import KeyTable, write_layout
from .parser import HeaderCheck, Parsed
from .realign import beat

__all__ = ["Decap", "Encap", "MetaUser", "Desc", "encap_user", "context_layout", "ContextState",
           "eesp_check", "eesp_key_query", "eesp_key_answer", "eesp_open_job", "eesp_send_desc", "eesp_send_state", "eesp_sender_ports",
           "eesp_send_fields", "eesp_contexts", "eesp_send_query", "eesp_send_check", "eesp_seal_job",
           "eesp_context_spend"]

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


def eesp_open_job(m, done, dk, h):
    """Step 4: the :data:`hw.datapath.OpenJob` of a frame (``done``: its :data:`Desc`; ``dk``:
    its data key, spec 5, ``h`` its hash key AES(DK, 0)) for :func:`hw.datapath.open_frames`: nonce, AAD from
    ``O - 4 IOffset``, the header removed, the clear words, the verdict."""
    p = done.p
    hdr_end = done.o + Cat(Const(0, 2), p.hl)
    opened = Signal(OpenJob)
    m.d.comb += [
        opened.key.eq(dk), opened.h.eq(h), opened.nonce.eq(Cat(p.counter, p.epoch, p.ident[:32])),
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
    on every beat) instead of :data:`OutUser`.
    ``sbox``: where the AES pipelines keep their S-boxes, ``"lut"`` or ``"bram"`` (:class:`hw.aes.Aes`).
    """

    def __init__(self, groups: int = 4, max_frame: int = MAX_FRAME, meta: bool = False, sbox: str = "lut"):
        self._sbox = check_sbox(sbox)
        self._groups = groups
        self._meta = meta
        self._max_frame = max_frame
        self._depth = store_depth(max_frame)
        super().__init__({
            "s": In(stream.Signature(beat(InUser))),
            "m": Out(stream.Signature(beat(MetaUser if meta else OutUser))),
            "wr": In(stream.Signature(write_layout(groups))),
            **control_ports(),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self._depth

        # ---- ingress: store the frame, capture and check its header -----------------
        m.submodules.descs = descs = fifo.SyncFIFOBuffered(width=Desc.size, depth=8)
        m.submodules.keys = keys = KeyTable(self._groups, tag_shape=Desc)
        open_, hold = write_barrier(m, self.s, keys.r.valid & keys.r.ready, [self.wr])
        frames, cap, ins, ended = receive_ingress(m, self.s, depth, self._max_frame, descs, hold)
        m.d.comb += [descs.w_en.eq(cap.done), descs.w_data.eq(eesp_check(m, cap, ended))]

        # ---- key lookup (rules 11, 12), then the KDF -------------------------------------
        m.submodules.kdf = kdf = KdfEngine(tag_width=Desc.size, sbox=self._sbox)
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
        opened = eesp_open_job(m, data.View(Desc, kdf.o.payload.tag), kdf.o.payload.dk, kdf.o.payload.h)
        ready, egress = open_frames(m, self, frames, opened, kdf.o.valid, depth, MetaUser if self._meta else OutUser,
                                    sbox=self._sbox)
        m.d.comb += kdf.o.ready.eq(ready)
        wire_stats(m, self, ins, egress, key_refused=keys.refused)
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
    ``sbox``: where the AES pipelines keep their S-boxes, ``"lut"`` or ``"bram"`` (:class:`hw.aes.Aes`).
    """

    def __init__(self, groups: int = 4, contexts: int = 16, max_frame: int = MAX_FRAME,
                 chained: bool = False, sbox: str = "lut"):
        self._sbox = check_sbox(sbox)
        self._groups = groups
        self._max_frame = max_frame
        self._chained = chained
        self._contexts = contexts
        self._depth = store_depth(max_frame)
        super().__init__({
            "s": In(stream.Signature(beat(encap_user(contexts, chained)))),
            "m": Out(stream.Signature(beat(OutUser))),
            **eesp_sender_ports(groups, contexts),
            **control_ports(),
        })

    def elaborate(self, platform):
        m = Module()
        EDesc = eesp_send_desc(self._contexts)
        Job = data.StructLayout({"d": EDesc, "s": eesp_send_state(self._groups, self._contexts), "code": 5})

        # ---- ingress: store the frame; its length and sideband go to a descriptor ----------
        m.submodules.descs = descs = fifo.SyncFIFOBuffered(width=EDesc.size, depth=8)
        m.submodules.keys = keys = KeyTable(self._groups, tag_shape=EDesc)
        open_, hold = write_barrier(m, self.s, keys.r.valid & keys.r.ready, [self.wr, self.ctxwr])
        frames, ins, side, n_now, ended = send_ingress(m, self.s, self._depth, self._max_frame, descs, hold)
        m.d.comb += descs.w_data.eq(eesp_send_fields(m, self._contexts, side, n_now, ended, self._chained))
        ctxs = eesp_contexts(m, self, self._groups, self._contexts)

        # ---- key lookup of the sender's group, then checks and the counter -------------------
        m.submodules.kdf = kdf = KdfEngine(tag_width=Job.size, sbox=self._sbox)
        d = data.View(EDesc, descs.r_data)
        gated(m, self.wr, keys.wr, open_)
        eesp_send_query(m, keys, ctxs, d)
        m.d.comb += [keys.q.valid.eq(descs.r_rdy), descs.r_en.eq(keys.q.ready), keys.q.payload.tag.eq(d)]
        ans = keys.r.payload
        t = data.View(EDesc, ans.tag)
        code, state = eesp_send_check(m, t, ctxs, ans, self._groups)
        c = state.ctx
        job = Signal(Job)
        m.d.comb += [
            job.d.eq(t), job.s.eq(state), job.code.eq(code),
            kdf.i.valid.eq(keys.r.valid), keys.r.ready.eq(kdf.i.ready),
            kdf.i.payload.mk.eq(Mux(code == 0, ans.mk, 0)), kdf.i.payload.kind.eq(c.kind),
            kdf.i.payload.ident.eq(c.ident), kdf.i.payload.epoch.eq(c.epoch),
            kdf.i.payload.tag.eq(job),
        ]
        spend = kdf.i.valid & kdf.i.ready & (code == 0)
        ctx_refused = eesp_context_spend(m, self.ctxwr, ctxs, spend, t.ctx, open_)

        # ---- seal: header inserted at O, GCM, egress ---------------------------------------
        j = data.View(Job, kdf.o.payload.tag)
        sealed = eesp_seal_job(m, j.d, j.s, j.code, kdf.o.payload.dk, kdf.o.payload.h)
        ready, egress = seal_frames(m, self, frames, sealed, kdf.o.valid, sbox=self._sbox)
        m.d.comb += kdf.o.ready.eq(ready)
        wire_stats(m, self, ins, egress, key_refused=keys.refused, ctx_refused=ctx_refused)
        return m


def eesp_sender_ports(groups: int, contexts: int) -> dict:
    """The management ports of an EESP sender (:class:`Encap`): ``wr`` key table,
    ``ctxwr`` sender contexts, ``ctx_addr`` / ``ctx_state`` a context's state."""
    return {"wr": In(stream.Signature(write_layout(groups))),
            "ctxwr": In(stream.Signature(context_layout(groups, contexts))),
            "ctx_addr": In(max(1, (contexts - 1).bit_length())),
            "ctx_state": Out(ContextState)}


def eesp_send_desc(contexts: int) -> data.StructLayout:
    """What travels with an EESP frame to be sealed from its last beat to its key
    lookup: O, N, the sender context, COffset, IOffset and the ingress code."""
    return data.StructLayout({"o": LEN, "n": LEN, "ctx": max(1, (contexts - 1).bit_length()), "coffset": 8,
                              "ioffset": 8, "error": 5})


def eesp_send_state(groups: int, contexts: int) -> data.StructLayout:
    """A frame's sender state as its counter was taken: its context, and its group's
    Root Key ID (``long``: 32 octets) and current tags (spec 4.3)."""
    return data.StructLayout({"ctx": context_layout(groups, contexts), "rkid": 256, "long": 1, "tags": 6})


def eesp_send_fields(m, contexts: int, side, n, ended, chained: bool):
    """The EESP send descriptor (:func:`eesp_send_desc`) of a frame from its sideband
    ``side``, its length ``n`` and ``ended``, the ingress code (which comes first)."""
    desc = Signal(eesp_send_desc(contexts))
    m.d.comb += [desc.o.eq(side.offset), desc.n.eq(n), desc.ctx.eq(side.ctx), desc.coffset.eq(side.coffset),
                 desc.ioffset.eq(side.ioffset),
                 desc.error.eq(Mux(ended != 0, ended, side.error) if chained else ended)]
    return desc


def eesp_contexts(m, top, groups: int, contexts: int):
    """The sender contexts of ``top`` (:class:`Encap`'s rules), cleared at reset;
    ``top.ctx_addr`` / ``top.ctx_state`` read them."""
    ctxs = Array([Signal(context_layout(groups, contexts), name=f"ctx{c}") for c in range(contexts)])
    m.d.comb += [top.ctx_state.valid.eq(ctxs[top.ctx_addr].valid),
                 top.ctx_state.counter.eq(ctxs[top.ctx_addr].counter)]
    return ctxs


def eesp_send_query(m, keys, ctxs, d) -> None:
    """The key-table query of the frame whose send descriptor is ``d``: its context's
    group and K (the caller drives ``valid``, ``ready`` and ``tag``)."""
    m.d.comb += [keys.q.payload.send.eq(1), keys.q.payload.group.eq(ctxs[d.ctx].group),
                 keys.q.payload.k.eq(ctxs[d.ctx].k)]


def eesp_send_check(m, t, ctxs, ans, groups: int):
    """The EESP send refusals of :class:`Encap` (spec 7.2), first rule first, for the frame
    whose send descriptor is ``t`` and key-table answer ``ans``. Returns (code, its
    :func:`eesp_send_state`)."""
    c = ctxs[t.ctx]
    state = Signal(eesp_send_state(groups, len(ctxs)))
    m.d.comb += [state.ctx.eq(c), state.rkid.eq(ans.rkid), state.long.eq(ans.long), state.tags.eq(ans.tags)]
    code = first_code([
        (t.error != 0, t.error),
        (~c.valid, Code.NO_CONTEXT),
        (t.o > t.n, Code.TRUNCATED),
        (Cat(Const(0, 2), t.ioffset) > t.o, Code.BAD_IOFFSET),
        (t.o + Cat(Const(0, 2), t.coffset) > t.n, Code.BAD_COFFSET),
        (ans.code != 0, ans.code),
        (c.counter[48], Code.COUNTER_EXHAUSTED),
    ])
    return code, state


def eesp_seal_job(m, d, st, code, dk, h):
    """The :data:`hw.datapath.SealJob` of an EESP frame (``d`` its send descriptor, ``st``
    its :func:`EespSendState`, ``code``, ``dk`` its data key, ``h`` its hash key): the header of spec 2.1 at O,
    AAD from ``O - 4 IOffset`` to the end of the clear words, nonce of spec 6."""
    c = st.ctx
    hl = Signal(4)
    m.d.comb += hl.eq((12 + Mux(c.kind, 8, 4) + Mux(c.k, Mux(st.long, 36, 20), 0)) >> 2)
    hdr = header_octets(c.kind, c.k, st.long, hl, d.coffset, d.ioffset, c.ident, st.rkid, st.tags, c.epoch,
                        c.counter[:48])
    job = Signal(SealJob)
    m.d.comb += [
        job.key.eq(dk), job.h.eq(h), job.nonce.eq(Cat(c.counter[:48], c.epoch, c.ident[:32])),
        job.at.eq(d.o), job.n.eq(d.n), job.hdr.eq(hdr), job.hdr_len.eq(Cat(Const(0, 2), hl)),
        job.aad.eq(d.o - Cat(Const(0, 2), d.ioffset)),
        job.text.eq(d.o + Cat(Const(0, 2), hl) + Cat(Const(0, 2), d.coffset)),
        job.v.code.eq(code), job.v.o.eq(refused_cut(d.o, d.n)), job.v.n.eq(ALL),
    ]
    return job


def eesp_context_spend(m, wr, ctxs, spend, spent, open_):
    """Context ``spent`` takes its counter value when ``spend``, and management writes of
    the sender contexts ``ctxs`` from stream ``wr`` (taken when ``open_``,
    :func:`hw.datapath.write_barrier`) with the refusals of :class:`Encap`; a write wins
    over a frame's increment. Returns the refusal strobe."""
    with m.If(spend):
        m.d.sync += ctxs[spent].counter.eq(ctxs[spent].counter + 1)
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
    write_entry(m, ctxs, w, take & ~refused)
    return refused

"""One receive datapath and one send datapath for several profiles, chosen per frame
(docs/spec.md sections 14.1, 14.2): EESP and PSP frames back to back through one frame
store, one key-derivation engine (one AES-256-CMAC pipeline, :class:`hw.kdf.Cmac2`) and
one GCM engine (AES-128 and AES-256, key per block).

:class:`MultiEncap` composes the profiles' send steps (``hw.endpoint.eesp_send_*`` and
``hw.psp.psp_send_*``: sender state, refusals, key request, header and seal job) around
:func:`hw.datapath.seal_frames`; it is described in its own docstring.

:class:`MultiDecap` composes the profiles' receive fronts (``hw.endpoint.eesp_*`` and
``hw.psp.psp_*``: header rules, key request, open job) around the shared blocks of
:mod:`hw.datapath`. Per frame, ``user.profile`` on its first beat says which front reads
its header (the stage in front of the engine, which found the header, knows which it
found): 0 EESP, 1 PSP. Both fronts check every header in parallel; the frame's
descriptor keeps the chosen one's result. Every frame, of either profile, passes the EESP
key table's lookup stage, so frames leave in arrival order and the management writes of
both profiles (``wr``: the EESP key table; ``mkwr``: the PSP master keys) are ordered
with the frames at one point, as in the single-profile tops (spec 4.2).

Ports (``amaranth.lib.stream``, AXI-Stream lane order as :mod:`hw.datapath`):

* ``s`` (sink) frame beats; ``user`` = :data:`MultiInUser` (``offset`` O, ``profile``),
  read on a frame's first beat;
* ``m`` (source) opened frames, ``user`` = :data:`hw.datapath.NextHeaderUser`: ``error``
  (0, or a refused frame's code when ``drop_bad`` = 0: it leaves as ``F[0..min(O, N))``)
  and ``next_header`` (PSP frames; 0 for EESP frames, which carry none);
* ``wr`` (sink) EESP key-table writes (:mod:`hw.keytable`); ``mkwr`` (sink) PSP
  master-key writes (:data:`hw.psp.MasterKeyWrite`);
* ``drop_bad`` (in); ``stat_addr`` (in) / ``stat_data`` (out), :mod:`hw.counters`: one
  set of counters for the frames of both profiles (each code counted under its number).

Throughput: one 16-octet beat per cycle; the CMAC engine derives one data key (and its
GCM hash key) every 4 cycles for either profile, so frames of at least 4 beats keep the
line rate whatever the mix. Frames are stored whole (twice), ``2 * max_frame`` octets each.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .aes import check_sbox
from .counters import wire_stats
from .datapath import (LEN, MAX_FRAME, NextHeaderUser, OpenJob, OutUser, SealJob, control_ports, gated, open_frames,
                       receive_ingress, seal_frames, send_ingress, store_depth, write_barrier)
from .endpoint import (Desc, eesp_check, eesp_context_spend, eesp_contexts, eesp_key_answer, eesp_key_query,
                       eesp_open_job, eesp_seal_job, eesp_send_check, eesp_send_desc, eesp_send_fields,
                       eesp_send_query, eesp_send_state, eesp_sender_ports)
from .kdf import Cmac2, fixed_block
from .keytable import KeyTable, write_layout
from .psp import (MasterKeyWrite, PspDesc, psp_check, psp_kdf_input, psp_key_request, psp_master_keys,
                  psp_open_job, psp_sa_layout, psp_sa_spend, psp_sa_table, psp_seal_job, psp_send_check,
                  psp_send_desc, psp_send_fields, psp_sender_ports)
from .realign import beat

__all__ = ["MultiDecap", "MultiEncap", "MultiInUser", "multi_encap_user", "PROFILES"]

#: Profile numbers of ``user.profile``.
PROFILES = {"eesp": 0, "psp": 1}
#: ``user`` of :class:`MultiDecap`'s input, read on a frame's first beat.
MultiInUser = data.StructLayout({"offset": LEN, "profile": 1})
#: A frame's descriptor: its profile and the descriptor of that profile's front.
MultiDesc = data.StructLayout({"profile": 1, "d": data.UnionLayout({"eesp": Desc, "psp": PspDesc})})


class MultiDecap(wiring.Component):
    """Receive side for EESP and PSP frames, the profile chosen per frame (module
    docstring). ``groups``: EESP trust groups; ``max_frame``: the longest frame, octets.
    ``sbox``: where the AES pipelines keep their S-boxes, ``"lut"`` or ``"bram"`` (:class:`hw.aes.Aes`).
    """

    def __init__(self, groups: int = 4, max_frame: int = MAX_FRAME, sbox: str = "lut"):
        self._sbox = check_sbox(sbox)
        self._groups, self._max_frame = groups, max_frame
        self._depth = store_depth(max_frame)
        super().__init__({
            "s": In(stream.Signature(beat(MultiInUser))),
            "m": Out(stream.Signature(beat(NextHeaderUser))),
            "wr": In(stream.Signature(write_layout(groups))),
            "mkwr": In(stream.Signature(MasterKeyWrite)),
            **control_ports(),
        })

    def elaborate(self, platform):
        m = Module()

        # ---- ingress: one store; both fronts read the captured header -------------------
        m.submodules.descs = descs = fifo.SyncFIFOBuffered(width=MultiDesc.size, depth=8)
        m.submodules.keys = keys = KeyTable(self._groups, tag_shape=MultiDesc)
        open_, hold = write_barrier(m, self.s, keys.r.valid & keys.r.ready, [self.wr, self.mkwr])
        frames, cap, ins, ended = receive_ingress(m, self.s, self._depth, self._max_frame, descs, hold)
        first = Signal(init=1)          # the next beat starts a frame
        profile = Signal()              # the profile of the frame being received
        with m.If(ins.valid & ins.ready):
            m.d.sync += first.eq(ins.payload.last)
            with m.If(first):
                m.d.sync += profile.eq(ins.payload.user.profile)
        desc_in = Signal(MultiDesc)
        eesp_in, psp_in = eesp_check(m, cap, ended), psp_check(m, cap, ended)
        m.d.comb += desc_in.profile.eq(profile)
        with m.If(profile):
            m.d.comb += desc_in.d.psp.eq(psp_in)
        with m.Else():
            m.d.comb += desc_in.d.eesp.eq(eesp_in)
        m.d.comb += [descs.w_en.eq(cap.done), descs.w_data.eq(desc_in)]

        # ---- keys: the EESP key table (every frame passes, in order), the PSP phases -------
        d = data.View(MultiDesc, descs.r_data)
        gated(m, self.wr, keys.wr, open_)
        phases = psp_master_keys(m, self.mkwr, open_)
        eesp_key_query(m, keys, d.d.eesp)       # a PSP frame's answer is not used
        m.d.comb += [keys.q.valid.eq(descs.r_rdy), descs.r_en.eq(keys.q.ready), keys.q.payload.tag.eq(d)]
        ans = keys.r.payload
        t = data.View(MultiDesc, ans.tag)
        eesp_job = eesp_key_answer(m, ans, t.d.eesp)
        psp_job, psp_key, psp_m1, psp_m2, psp_k128 = psp_key_request(m, phases, t.d.psp)
        job = Signal(MultiDesc)
        m.d.comb += job.profile.eq(t.profile)
        m.submodules.cmac = cmac = Cmac2(tag_width=MultiDesc.size, key_sizes=(128, 256), sbox=self._sbox)
        c = cmac.i.payload
        with m.If(t.profile):
            m.d.comb += [job.d.psp.eq(psp_job), c.key.eq(psp_key), c.m1.eq(psp_m1), c.m2.eq(psp_m2),
                         c.k128.eq(psp_k128)]
        with m.Else():
            p = t.d.eesp.p
            m.d.comb += [job.d.eesp.eq(eesp_job),
                         # a refused frame's key is never derived: MK 0 (a public value)
                         c.key.eq(Mux(eesp_job.code == 0, ans.mk, 0)),
                         c.m1.eq(fixed_block(1, p.kind, p.ident, p.epoch)),
                         c.m2.eq(fixed_block(2, p.kind, p.ident, p.epoch))]
        m.d.comb += [cmac.i.valid.eq(keys.r.valid), keys.r.ready.eq(cmac.i.ready), c.tag.eq(job)]

        # ---- open: the profile's job into the shared receive back half ----------------------
        done = data.View(MultiDesc, cmac.o.payload.tag)
        t1, t2, h = cmac.o.payload.t1, cmac.o.payload.t2, cmac.o.payload.h
        eesp_open = eesp_open_job(m, done.d.eesp, Cat(t2, t1), h)      # DK = T1 || T2 (spec 5)
        psp_open = psp_open_job(m, done.d.psp, t1, t2, h)
        opened = Signal(OpenJob)
        m.d.comb += opened.eq(Mux(done.profile, psp_open, eesp_open))
        ready, egress = open_frames(m, self, frames, opened, cmac.o.valid, self._depth, NextHeaderUser,
                                    key_sizes=(128, 256), sbox=self._sbox)
        m.d.comb += cmac.o.ready.eq(ready)
        wire_stats(m, self, ins, egress, key_refused=keys.refused)
        return m


def multi_encap_user(contexts: int, sas: int) -> data.StructLayout:
    """``user`` of :class:`MultiEncap`'s input, read on a frame's first beat: ``offset`` O
    and ``profile``; for EESP frames the sender context ``ctx``, ``coffset``, ``ioffset``
    (as :func:`hw.endpoint.encap_user`), for PSP frames the SA ``sa`` and ``next_header``
    (as :func:`hw.datapath.sa_in_user`); the other profile's fields are not read."""
    return data.StructLayout({"offset": LEN, "profile": 1, "ctx": max(1, (contexts - 1).bit_length()),
                              "coffset": 8, "ioffset": 8, "sa": max(1, (sas - 1).bit_length()), "next_header": 8})


class MultiEncap(wiring.Component):
    """Send side for EESP and PSP frames, the profile chosen per frame by ``user.profile``
    (0 EESP, 1 PSP; spec 14.2): one frame store, one AES-256-CMAC pipeline, one two-size
    GCM. ``groups`` EESP trust groups, ``contexts`` EESP sender contexts, ``sas`` PSP
    sending SAs, ``max_frame`` the longest frame in octets.

    Ports: ``s`` (sink, ``user`` = :func:`multi_encap_user`); ``m`` (source, ``user`` =
    :data:`hw.datapath.OutUser`): an EESP frame leaves as :class:`hw.endpoint.Encap` seals
    it, a PSP frame as :class:`hw.psp.PspEncap` does, refused frames (each profile's
    rules, first rule first) dropped or cut to ``F[0..min(O, N))`` with their code;
    management, each as on its single-profile top and all ordered with the frames at one
    point (every frame passes the EESP key table's lookup): ``wr`` EESP key table,
    ``ctxwr`` / ``ctx_addr`` / ``ctx_state`` EESP sender contexts, ``mkwr`` PSP master
    keys, ``sawr`` / ``sa_addr`` / ``sa_state`` PSP SAs; ``drop_bad``; ``stat_addr`` /
    ``stat_data`` (:mod:`hw.counters`; address 9 counts refused context and SA writes,
    both when both are refused on one cycle).

    Throughput: one 16-octet beat per cycle out; one data key every 4 cycles for either
    profile. Frames are stored whole once, ``2 * max_frame`` octets.
    ``sbox``: where the AES pipelines keep their S-boxes, ``"lut"`` or ``"bram"`` (:class:`hw.aes.Aes`).
    """

    def __init__(self, groups: int = 4, contexts: int = 16, sas: int = 8, max_frame: int = MAX_FRAME,
                 sbox: str = "lut"):
        self._sbox = check_sbox(sbox)
        for name, value in (("groups", groups), ("contexts", contexts), ("sas", sas)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1")
        self._groups, self._contexts, self._sas, self._max_frame = groups, contexts, sas, max_frame
        self._depth = store_depth(max_frame)
        super().__init__({
            "s": In(stream.Signature(beat(multi_encap_user(contexts, sas)))),
            "m": Out(stream.Signature(beat(OutUser))),
            **eesp_sender_ports(groups, contexts),
            **psp_sender_ports(sas),
            **control_ports(),
        })

    def elaborate(self, platform):
        m = Module()
        G, C, S = self._groups, self._contexts, self._sas
        Descs = data.UnionLayout({"eesp": eesp_send_desc(C), "psp": psp_send_desc(S)})
        MDesc = data.StructLayout({"profile": 1, "d": Descs})
        State = data.UnionLayout({"eesp": eesp_send_state(G, C),
                                  "psp": data.StructLayout({"sa": psp_sa_layout(S), "co": 6})})
        Job = data.StructLayout({"profile": 1, "code": 5, "d": Descs, "s": State})

        # ---- ingress: one store; the descriptor of the frame's profile ----------------------
        m.submodules.descs = descs = fifo.SyncFIFOBuffered(width=MDesc.size, depth=8)
        m.submodules.keys = keys = KeyTable(G, tag_shape=MDesc)
        open_, hold = write_barrier(m, self.s, keys.r.valid & keys.r.ready,
                                    [self.wr, self.ctxwr, self.mkwr, self.sawr])
        frames, ins, side, n_now, ended = send_ingress(m, self.s, self._depth, self._max_frame, descs, hold)
        desc_in = Signal(MDesc)
        eesp_in = eesp_send_fields(m, C, side, n_now, ended, chained=False)
        psp_in = psp_send_fields(m, S, side, n_now, ended, chained=False)
        m.d.comb += [desc_in.profile.eq(side.profile), descs.w_data.eq(desc_in)]
        with m.If(side.profile):
            m.d.comb += desc_in.d.psp.eq(psp_in)
        with m.Else():
            m.d.comb += desc_in.d.eesp.eq(eesp_in)

        # ---- sender state of both profiles; every frame passes the key table, in order ------
        ctxs = eesp_contexts(m, self, G, C)
        phases = psp_master_keys(m, self.mkwr, open_)
        sas = psp_sa_table(m, self, S, phases, open_)
        d = data.View(MDesc, descs.r_data)
        gated(m, self.wr, keys.wr, open_)
        eesp_send_query(m, keys, ctxs, d.d.eesp)        # a PSP frame's answer is not used
        m.d.comb += [keys.q.valid.eq(descs.r_rdy), descs.r_en.eq(keys.q.ready), keys.q.payload.tag.eq(d)]

        # ---- the profile's refusals, its counter or IV, its CMAC request --------------------
        ans = keys.r.payload
        t = data.View(MDesc, ans.tag)
        eesp_code, eesp_state = eesp_send_check(m, t.d.eesp, ctxs, ans, G)
        psp_code, co, sa = psp_send_check(m, t.d.psp, sas, phases, chained=False)
        code = Mux(t.profile, psp_code, eesp_code)
        m.submodules.cmac = cmac = Cmac2(tag_width=Job.size, key_sizes=(128, 256), sbox=self._sbox)
        job = Signal(Job)
        c = cmac.i.payload
        m.d.comb += [job.profile.eq(t.profile), job.code.eq(code), job.d.eq(t.d)]
        with m.If(t.profile):
            m.d.comb += [job.s.psp.sa.eq(sa), job.s.psp.co.eq(co),
                         Cat(c.key, c.m1, c.m2, c.k128).eq(Cat(*psp_kdf_input(phases, code == 0, sa.spi, sa.version)))]
        with m.Else():
            ctx = eesp_state.ctx
            m.d.comb += [job.s.eesp.eq(eesp_state),
                         # a refused frame's key is never derived: MK 0 (a public value)
                         c.key.eq(Mux(code == 0, ans.mk, 0)),
                         c.m1.eq(fixed_block(1, ctx.kind, ctx.ident, ctx.epoch)),
                         c.m2.eq(fixed_block(2, ctx.kind, ctx.ident, ctx.epoch))]
        m.d.comb += [cmac.i.valid.eq(keys.r.valid), keys.r.ready.eq(cmac.i.ready), c.tag.eq(job)]
        spend = cmac.i.valid & cmac.i.ready & (code == 0)
        ctx_refused = eesp_context_spend(m, self.ctxwr, ctxs, spend & ~t.profile, t.d.eesp.ctx, open_)
        sa_refused = psp_sa_spend(m, self.sawr, sas, spend & t.profile, t.d.psp.sa, open_)

        # ---- seal: the profile's job into the shared send back half ------------------------
        j = data.View(Job, cmac.o.payload.tag)
        t1, t2, h = cmac.o.payload.t1, cmac.o.payload.t2, cmac.o.payload.h
        eesp_seal = eesp_seal_job(m, j.d.eesp, j.s.eesp, j.code, Cat(t2, t1), h)      # DK = T1 || T2 (spec 5)
        psp_seal = psp_seal_job(m, j.d.psp, j.s.psp.sa, j.s.psp.co, j.code, t1, t2, h)
        sealed = Signal(SealJob)
        m.d.comb += sealed.eq(Mux(j.profile, psp_seal, eesp_seal))
        ready, egress = seal_frames(m, self, frames, sealed, cmac.o.valid, key_sizes=(128, 256), sbox=self._sbox)
        m.d.comb += cmac.o.ready.eq(ready)
        refused = Signal(2)         # both tables may refuse a write on one cycle
        m.d.comb += refused.eq(ctx_refused + sa_refused)
        wire_stats(m, self, ins, egress, key_refused=keys.refused, ctx_refused=refused)
        return m

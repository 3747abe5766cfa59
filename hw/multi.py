"""One receive datapath for several profiles, chosen per frame (docs/spec.md section 14.1):
EESP and PSP frames back to back through one frame store, one key-derivation engine
(one AES-256-CMAC pipeline, :class:`hw.kdf.Cmac2`) and one GCM engine (AES-128 and
AES-256, key per block).

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

Throughput: one 16-octet beat per cycle; the CMAC engine derives one data key every 3
cycles for either profile, so frames of at least 3 beats keep the line rate whatever the
mix. Frames are stored whole (twice), ``2 * max_frame`` octets each.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .counters import wire_stats
from .datapath import LEN, MAX_FRAME, NextHeaderUser, OpenJob, gated, open_frames, receive_ingress, write_barrier
from .endpoint import Desc, eesp_check, eesp_key_answer, eesp_key_query, eesp_open_job
from .kdf import Cmac2, fixed_block
from .keytable import KeyTable, write_layout
from .psp import MasterKeyWrite, PspDesc, psp_check, psp_key_request, psp_master_keys, psp_open_job
from .realign import beat

__all__ = ["MultiDecap", "MultiInUser", "PROFILES"]

#: Profile numbers of ``user.profile``.
PROFILES = {"eesp": 0, "psp": 1}
#: ``user`` of :class:`MultiDecap`'s input, read on a frame's first beat.
MultiInUser = data.StructLayout({"offset": LEN, "profile": 1})
#: A frame's descriptor: its profile and the descriptor of that profile's front.
MultiDesc = data.StructLayout({"profile": 1, "d": data.UnionLayout({"eesp": Desc, "psp": PspDesc})})


class MultiDecap(wiring.Component):
    """Receive side for EESP and PSP frames, the profile chosen per frame (module
    docstring). ``groups``: EESP trust groups; ``max_frame``: the longest frame, octets."""

    def __init__(self, groups: int = 4, max_frame: int = MAX_FRAME):
        self._groups, self._max_frame = groups, max_frame
        self._depth = 2 * ((max_frame + 15) // 16) + 4
        super().__init__({
            "s": In(stream.Signature(beat(MultiInUser))),
            "m": Out(stream.Signature(beat(NextHeaderUser))),
            "wr": In(stream.Signature(write_layout(groups))),
            "mkwr": In(stream.Signature(MasterKeyWrite)),
            "drop_bad": In(1),
            "stat_addr": In(6),
            "stat_data": Out(32),
        })

    def elaborate(self, platform):
        m = Module()

        # ---- ingress: one store; both fronts read the captured header -------------------
        m.submodules.descs = descs = fifo.SyncFIFOBuffered(width=MultiDesc.size, depth=8)
        m.submodules.keys = keys = KeyTable(self._groups, tag_shape=MultiDesc)
        open_, hold = write_barrier(m, self.s, keys.r.valid & keys.r.ready, [self.wr, self.mkwr])
        frames, cap, fire_in, ended = receive_ingress(m, self.s, self._depth, self._max_frame, descs, hold)
        first = Signal(init=1)          # the next beat starts a frame
        profile = Signal()              # the profile of the frame being received
        with m.If(fire_in):
            m.d.sync += first.eq(self.s.payload.last)
            with m.If(first):
                m.d.sync += profile.eq(self.s.payload.user.profile)
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
        psp_job, psp_key, psp_m1, psp_m2 = psp_key_request(m, phases, t.d.psp)
        job = Signal(MultiDesc)
        m.d.comb += job.profile.eq(t.profile)
        m.submodules.cmac = cmac = Cmac2(tag_width=MultiDesc.size)
        c = cmac.i.payload
        with m.If(t.profile):
            m.d.comb += [job.d.psp.eq(psp_job), c.key.eq(psp_key), c.m1.eq(psp_m1), c.m2.eq(psp_m2)]
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
        t1, t2 = cmac.o.payload.t1, cmac.o.payload.t2
        eesp_open = eesp_open_job(m, done.d.eesp, Cat(t2, t1))      # DK = T1 || T2 (spec 5)
        psp_open = psp_open_job(m, done.d.psp, t1, t2)
        opened = Signal(OpenJob)
        m.d.comb += opened.eq(Mux(done.profile, psp_open, eesp_open))
        ready, egress = open_frames(m, self, frames, opened, cmac.o.valid, self._depth, NextHeaderUser,
                                    key_sizes=(128, 256))
        m.d.comb += cmac.o.ready.eq(ready)
        wire_stats(m, self, fire_in, egress, key_refused=keys.refused)
        return m

"""Shared datapath plumbing of the tops (every profile): frame ingress with the stream
contract guard, the write barrier that orders management writes with frames, the
connections into and out of the GCM engine, and :class:`Egress`, which releases or
refuses a stored frame by its verdict.

Lane order as AXI-Stream: octet k of a beat in bits 8k+7..8k, ``keep`` contiguous from
lane 0, every beat but a frame's last full.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from common.codes import Code

from .gcm import Gcm, Kind
from .parser import HeaderCapture
from .pipe import RegisterSlice
from .realign import FrameBeat, Inserter, Packer, RegionPacker, Segmenter, TailFold, beat, keep_count, keep_lanes

__all__ = ["LEN", "MAX_FRAME", "ICV", "ALL", "InUser", "OutUser", "NextHeaderUser", "sa_in_user", "octets_of", "from_octets", "Verdict", "OpenJob", "open_frames",
           "SealJob", "SEAL_HEADER", "seal_frames", "write_entry", "control_ports", "store_depth",
           "Egress", "first_code", "trim",
           "write_barrier", "gated", "receive_ingress", "send_ingress", "refused_cut", "unpack_gcm",
           "frames_to_segmenter", "beats_to_gcm", "repack_gcm", "release"]

LEN = 16
#: Default longest frame, in octets, of every top (parameter ``max_frame``).
MAX_FRAME = 2048
InUser = data.StructLayout({"offset": LEN})
OutUser = data.StructLayout({"error": 5})
ICV = 16


#: A frame's verdict for :class:`Egress`: its code (0 = good), its header offset O, the
#: octets a good frame keeps (``n``, all ones: all), and (decap) its trust group and
#: header offsets, for :data:`MetaUser`, (ESP, PSP) its Next Header, (PSP) its SPI.
Verdict = data.StructLayout({"code": 5, "o": LEN, "n": LEN, "group": 8, "coffset": 8, "ioffset": 8,
                             "next_header": 8, "spi": 32})
ALL = (1 << LEN) - 1
#: ``user`` of an opened frame whose protocol header names its payload (ESP, PSP).
NextHeaderUser = data.StructLayout({"error": 5, "next_header": 8})


def control_ports() -> dict:
    """The ports every top level has beside its frames and tables: ``drop_bad`` (refused
    frames dropped, or passed cut with their code: spec 10) and the status counters'
    ``stat_addr`` / ``stat_data`` (:mod:`hw.counters`)."""
    return {"drop_bad": In(1), "stat_addr": In(6), "stat_data": Out(32)}


def store_depth(max_frame: int) -> int:
    """Beats of a frame store: two frames of ``max_frame`` octets, and 4 for the pipeline."""
    return 2 * ((max_frame + 15) // 16) + 4


def octets_of(value, n: int) -> list:
    """The ``n`` octets of a big-endian ``value``, the first (most significant) first."""
    return [value[8 * (n - 1 - j): 8 * (n - j)] for j in range(n)]


def from_octets(octets):
    """Big-endian integer of a list of 8-bit values (the first one most significant):
    the inverse of :func:`octets_of`."""
    return Cat(*reversed(octets))


def sa_in_user(sas: int) -> data.StructLayout:
    """``user`` of a send top whose frames name their SA (ESP, PSP), read on a frame's
    first beat: O, the SA's index, and the Next Header the header carries."""
    return data.StructLayout({"offset": LEN, "sa": max(1, (sas - 1).bit_length()), "next_header": 8})

#: A stored frame, its key known, as a receive top hands it to :func:`open_frames`: the
#: GCM context (``key``, an AES-128 key in bits 255..128 with ``k128``; ``nonce``; ``h``,
#: the key's hash key AES(key, 0) from the KDF's pipeline, :class:`hw.kdf.Cmac2`), where
#: its AAD and its ciphertext start and where the part of it removed from the output
#: ends (the removed part starts at ``v.o``), its length ``n``, and its verdict so far.
OpenJob = data.StructLayout({"key": 256, "k128": 1, "nonce": 96, "h": 128, "aad": LEN, "text": LEN, "drop": LEN,
                             "n": LEN, "v": Verdict})


#: The longest string a send top inserts at O (the EESP header with a 32-octet Root Key
#: ID option is 56 octets; PSP's header and VC 24).
SEAL_HEADER = 64
#: A stored frame, its key known, as a send top hands it to :func:`seal_frames`: the GCM
#: context (as :data:`OpenJob`'s), the string ``hdr`` (its first ``hdr_len`` octets, octet
#: j in bits 8j+7..8j) inserted at ``at`` = O, where its AAD and its plaintext start in the
#: output frame ``F[0..O) || hdr || F[O..n)``, its length ``n``, and its verdict.
SealJob = data.StructLayout({"key": 256, "k128": 1, "nonce": 96, "h": 128, "at": LEN, "n": LEN,
                             "hdr": 8 * SEAL_HEADER, "hdr_len": 7, "aad": LEN, "text": LEN, "v": Verdict})


def first_code(rules):
    """The code of the first (condition, code) pair whose condition holds, else 0."""
    code = Const(0, 5)
    for cond, value in reversed(rules):
        code = Mux(cond, value, code)
    return code


class Egress(wiring.Component):
    """Releases frames by their verdicts: a good frame, its first ``n`` octets (the rest
    is taken and discarded), with ``user.error`` = 0; a refused one dropped
    (``drop_bad``) or cut to its first O octets with ``user.error`` = its code. ``i``:
    beats (data, keep, last); ``v``: one verdict a frame, held until the frame's last beat
    is taken. ``done``: a frame was finished this cycle, ``code`` its code;
    ``octets_out``: octets of good frames leaving this cycle. ``user``: the layout of
    ``m.user``, ``error`` and any of ``offset`` (the verdict's O), ``group``, ``coffset``,
    ``ioffset``, ``next_header`` (the verdict's)."""

    def __init__(self, user=OutUser):
        self._user = user
        super().__init__({
            "i": In(stream.Signature(FrameBeat)),
            "v": In(stream.Signature(Verdict)),
            "m": Out(stream.Signature(beat(user))),
            "drop_bad": In(1),
            "done": Out(1), "code": Out(5), "octets_out": Out(5),
        })

    def elaborate(self, platform):
        m = Module()
        ib, v = self.i.payload, self.v.payload
        code = v.code
        both = self.i.valid & self.v.valid
        pos = Signal(LEN)               # octets of the frame before this beat
        cut = Signal()                  # the octets to send are out: drain the rest
        cnt = keep_count(ib.keep)
        limit = Mux(code == 0, v.n, v.o)    # octets of the frame to send
        room = limit - pos
        end_here = ib.last | (~cut & (pos + cnt >= limit))
        keep = Signal(16)
        m.d.comb += keep.eq(ib.keep & Cat(*[(room > k) for k in range(16)]))
        send = ~cut & ((code == 0) | ~self.drop_bad)
        mp = self.m.payload
        m.d.comb += [
            mp.data.eq(keep_lanes(ib.data, keep)),
            mp.keep.eq(keep),
            mp.last.eq(end_here),
            mp.user.error.eq(code),
            self.m.valid.eq(both & send),
        ]
        for name, _ in self._user:
            if name != "error":
                m.d.comb += mp.user[name].eq(v["o" if name == "offset" else name])
        take = both & (~send | self.m.ready)       # this beat leaves or is dropped now
        m.d.comb += [
            self.i.ready.eq(take), self.v.ready.eq(take & ib.last),
            self.done.eq(take & ib.last), self.code.eq(code),
            self.octets_out.eq(Mux(take & send & (code == 0), keep_count(keep), 0)),
        ]
        with m.If(take):
            m.d.sync += pos.eq(pos + cnt)
            with m.If(ib.last):
                m.d.sync += [pos.eq(0), cut.eq(0)]
            with m.Elif(end_here):
                m.d.sync += cut.eq(1)
        return m


def trim(m, s, fire, max_frame: int):
    """Ingress guard of a top's frame port ``s`` (``fire``: a beat is taken), which ends
    a frame early at the first beat that breaks the stream contract or takes it past
    ``max_frame`` octets, so that what follows it is always well formed. Returns
    (``store``, ``keep``, ``last``, ``code``): whether the beat goes to the frame store,
    the ``keep`` and ``last`` it goes there with, and the code of a frame this beat ends
    early (0 if it does not).

    * A beat whose ``keep`` is not contiguous from lane 0, or a beat that is not its
      frame's last and not full (a null one included), is BAD_FRAMING: it is stored as a
      null last beat (none of its octets), the frame ends there.
    * The beat that takes the frame past ``max_frame`` octets is TOO_LONG: it is stored
      with ``last`` = 1 and ends the frame.

    Either way the frame's later beats, up to its ``last``, are taken and not stored;
    the next frame starts after that ``last``."""
    seen = Signal(LEN)          # octets of the frame before this beat (not counted once ended)
    drain = Signal()            # the frame was ended early: discard up to its last beat
    p = s.payload
    bad = (p.keep & (p.keep + 1)).any() | (~p.last & ~p.keep.all())
    keep = Mux(bad, 0, p.keep)
    long = ~bad & (seen + keep_count(p.keep) > max_frame)
    ends = ~drain & (bad | long)
    with m.If(fire):
        with m.If(p.last):
            m.d.sync += [seen.eq(0), drain.eq(0)]
        with m.Elif(ends):
            m.d.sync += drain.eq(1)
        with m.Elif(~drain):
            m.d.sync += seen.eq(seen + keep_count(p.keep))
    code = Mux(ends, Mux(bad, Code.BAD_FRAMING.value, Code.TOO_LONG.value), 0)
    return ~drain, keep, p.last | ends, code


def write_barrier(m, s, done, ports):
    """Orders the management writes on ``ports`` (sink streams of the top) with the frames
    on ``s`` (spec 4.2): a write is taken only once every frame whose first beat was taken
    before it is past its key lookup (``done``: a frame's lookup answer is consumed), and
    while a write waits no frame starts. So a write applies to exactly the frames whose
    first beat comes after it, as the model applies them. Returns (``open``, ``hold``):
    writes may be taken this cycle; ``s`` must not take a frame's first beat."""
    first = Signal(init=1)              # the next beat on s starts a frame
    pending = Signal(8)                 # frames started and not yet past their lookup
    fire = s.valid & s.ready
    with m.If(fire):
        m.d.sync += first.eq(s.payload.last)
    m.d.sync += pending.eq(pending + (fire & first) - done)
    waiting = Cat(*[p.valid for p in ports]).any()
    open_ = Signal()
    m.d.comb += open_.eq(pending == 0)
    return open_, waiting & first


def write_entry(m, table, w, take) -> None:
    """A management write ``w`` (``index``, ``valid``, the entry's fields) of ``table`` (an
    ``Array`` of entries of ``w``'s layout) when ``take``: ``valid`` 1 installs the entry,
    0 clears its valid bit only (the rest stays, for the checks a later install meets)."""
    with m.If(take):
        with m.If(w.valid):
            m.d.sync += table[w.index].eq(w)
        with m.Else():
            m.d.sync += table[w.index].valid.eq(0)


def gated(m, outer, inner, open_):
    """Connect sink stream ``outer`` of the top to ``inner``, transfers only when ``open_``."""
    m.d.comb += [inner.valid.eq(outer.valid & open_), outer.ready.eq(inner.ready & open_),
                 inner.payload.eq(outer.payload)]


def _ingress_slice(m, s, hold):
    """The top's frame port ``s`` through a :class:`hw.pipe.RegisterSlice` (nothing the
    ingress computes hangs on the port's wires); a frame's first beat is held at the port
    while ``hold`` (:func:`write_barrier` counts frames as they pass the port). Returns
    the slice's output stream."""
    m.submodules.ingress = sl = RegisterSlice(s.payload.shape())
    m.d.comb += [sl.i.valid.eq(s.valid & ~hold), s.ready.eq(sl.i.ready & ~hold), sl.i.payload.eq(s.payload)]
    return sl.o


def receive_ingress(m, s, depth: int, max_frame: int, descs, hold=0):
    """Ingress of a receive top: the beats of ``s`` (``user.offset`` = O), past a register
    slice (:func:`_ingress_slice`), through :func:`trim` into a frame store ``frames`` (a
    null last beat folded into the beat before), watched by a :class:`HeaderCapture` ``cap``. ``s`` waits unless ``descs``
    (written by the caller when ``cap.done``, the cycle after a frame's last beat) has
    two free places, or while ``hold`` (:func:`write_barrier`). Returns (frames, cap,
    ins, ended): ``ins``, the stream past the slice (its transfers are the beats taken);
    ``ended``, the code (TOO_LONG, BAD_FRAMING or 0) of the frame
    ``cap`` is done with."""
    m.submodules.frames = frames = fifo.SyncFIFOBuffered(width=FrameBeat.size, depth=depth)
    m.submodules.cap = cap = HeaderCapture(LEN)
    m.submodules.fold = fold = TailFold()
    s = _ingress_slice(m, s, hold)
    fire_in = s.valid & s.ready
    store, keep, last, code = trim(m, s, fire_in, max_frame)
    ended = Signal(5)
    with m.If(fire_in & store & last):
        m.d.sync += ended.eq(code)
    m.d.comb += [
        s.ready.eq(fold.i.ready & (descs.w_level < descs.depth - 1)),
        fold.i.valid.eq(fire_in & store),
        fold.i.payload.eq(Cat(s.payload.data, keep, last)),
        frames.w_en.eq(fold.o.valid), fold.o.ready.eq(frames.w_rdy), frames.w_data.eq(fold.o.payload),
        cap.fire.eq(fire_in & store), cap.data.eq(s.payload.data), cap.keep.eq(keep),
        cap.last.eq(last), cap.offset.eq(s.payload.user.offset),
    ]
    return frames, cap, s, ended


def send_ingress(m, s, depth: int, max_frame: int, descs, hold=0):
    """Ingress of a send top: the beats of ``s``, past a register slice
    (:func:`_ingress_slice`), through :func:`trim` into a frame store
    ``frames``; ``descs`` is written (by the caller's ``w_data``) on each frame's last
    stored beat; ``s`` waits while ``hold``. Returns (frames, ins, side, n, code): the
    stream past the slice (its transfers are the beats taken), the frame's ``user`` (from its
    first beat), its octets up to this beat, and the code (TOO_LONG, BAD_FRAMING or 0)
    of a frame this beat ends."""
    m.submodules.frames = frames = fifo.SyncFIFOBuffered(width=FrameBeat.size, depth=depth)
    s = _ingress_slice(m, s, hold)
    fire_in = s.valid & s.ready
    store, keep, last, code = trim(m, s, fire_in, max_frame)
    first = Signal(init=1)
    n = Signal(LEN)
    held = Signal.like(s.payload.user)
    side = Signal.like(s.payload.user)
    n_now = Mux(first, 0, n) + keep_count(keep)
    m.d.comb += [
        side.eq(Mux(first, s.payload.user, held)),
        s.ready.eq(frames.w_rdy & descs.w_rdy),
        frames.w_en.eq(fire_in & store),
        frames.w_data.eq(Cat(s.payload.data, keep, last)),
        descs.w_en.eq(fire_in & store & last),
    ]
    with m.If(fire_in):
        m.d.sync += [first.eq(s.payload.last), n.eq(n_now), held.eq(side)]
    return frames, s, side, n_now, code


def refused_cut(o, n):
    """Where a refused frame of ``n`` octets with header offset ``o`` is cut: ``min(o, n)``
    (spec section 10), so nothing past the frame's own octets (e.g. an encrypt engine's
    tag beat) can leave with it."""
    return Mux(o > n, n, o)


def unpack_gcm(m, gcm, boundsq, regions: int, dropped):
    """What ``gcm`` returns, cut into ``regions`` at the per-frame positions read from
    ``boundsq`` (a FIFO of Segmenter descriptors), the regions in ``dropped`` left out,
    packed into beats with ``user`` = the GCM's ``tag_ok``. Returns the Packer."""
    m.submodules.oseg = oseg = Segmenter(regions, user_shape=1, len_bits=LEN)
    m.submodules.opack = opack = Packer(user_shape=1, cls_bits=1)
    go, pc = gcm.o.payload, oseg.o.payload
    drop = Const(0, 1)
    for r in dropped:
        drop = drop | (pc.cls == r)
    m.d.comb += [
        oseg.i.valid.eq(gcm.o.valid), gcm.o.ready.eq(oseg.i.ready),
        oseg.i.payload.data.eq(go.data), oseg.i.payload.keep.eq(go.keep), oseg.i.payload.last.eq(go.last),
        oseg.i.payload.user.eq(go.user.tag_ok),
        oseg.d.valid.eq(boundsq.r_rdy), boundsq.r_en.eq(oseg.d.ready), oseg.d.payload.eq(boundsq.r_data),
    ]
    # a register slice between the cut and the pack: the Segmenter's compares and the
    # Packer's shift are not one path
    m.submodules.ocut = ocut = RegisterSlice(opack.i.payload.shape())
    cut = ocut.i.payload
    m.d.comb += [
        ocut.i.valid.eq(oseg.o.valid), oseg.o.ready.eq(ocut.i.ready),
        cut.data.eq(pc.data), cut.count.eq(Mux(drop, 0, pc.count)), cut.last.eq(pc.last), cut.user.eq(pc.user),
    ]
    wiring.connect(m, ocut.o, opack.i)
    return opack


def frames_to_segmenter(m, frames, seg, segq):
    """Stored beats and their cut positions into a Segmenter or a RegionPacker."""
    fr = data.View(FrameBeat, frames.r_data)
    m.d.comb += [
        seg.i.valid.eq(frames.r_rdy), frames.r_en.eq(seg.i.ready),
        seg.i.payload.data.eq(fr.data), seg.i.payload.keep.eq(fr.keep), seg.i.payload.last.eq(fr.last),
        seg.d.valid.eq(segq.r_rdy), segq.r_en.eq(seg.d.ready), seg.d.payload.eq(segq.r_data),
    ]


def beats_to_gcm(m, beats, gcm, ctxq, kinds, decrypt):
    """Beats of class ``cls`` (GCM kind ``kinds[cls]``, or ``cls`` itself if ``kinds`` is
    None) into the GCM; its context from ``ctxq``: ``Cat(nonce (96), h (128), key (256),
    k128 (1))``, ``h`` only where the GCM takes its hash key with the context and ``k128``
    only where it has AES-128 built in. The beats pass a register slice on the way (the
    realignment's compares and the GCM's issue are not one path)."""
    m.submodules.gcm_in = sl = RegisterSlice(beats.payload.shape())
    wiring.connect(m, beats, sl.i)
    beats = sl.o
    b = beats.payload
    kind = b.cls if kinds is None else Array([k.value for k in kinds])[b.cls]
    fields, at = dict(iter(gcm.ctx.payload.shape())), 0
    for name in ("nonce", "h", "key", "k128"):
        if name in fields:
            m.d.comb += gcm.ctx.payload[name].eq(ctxq.r_data[at:at + fields[name].width])
            at += fields[name].width
    m.d.comb += [
        gcm.ctx.valid.eq(ctxq.r_rdy), ctxq.r_en.eq(gcm.ctx.ready),
        gcm.ctx.payload.decrypt.eq(decrypt),
        gcm.i.valid.eq(beats.valid), beats.ready.eq(gcm.i.ready),
        gcm.i.payload.data.eq(b.data), gcm.i.payload.keep.eq(b.keep), gcm.i.payload.last.eq(b.last),
        gcm.i.payload.user.kind.eq(kind),
    ]


def _fork(m, job, job_valid, key_sizes, **queues):
    """The FIFOs a frame's job (:data:`OpenJob` or :data:`SealJob`) forks into, written
    together while ``job_valid`` and all have room: ``ctxq`` the GCM context (nonce, hash
    key, key, and ``k128`` with AES-128 built in; 0 for a refused job: nothing derived
    from a key),
    ``queues`` (name: (value, depth)) in that order, ``vq`` the verdict. Returns (all have
    room, the FIFOs)."""
    ok = job.v.code == 0
    ctx_width = 96 + 128 + 256 + (1 if 128 in key_sizes else 0)
    values = {"ctxq": (Mux(ok, Cat(job.nonce, job.h, job.key, job.k128)[:ctx_width], 0), 4), **queues,
              "vq": (job.v, 8)}
    fifos = []
    for name, (value, depth) in values.items():
        q = fifo.SyncFIFOBuffered(width=len(Value.cast(value)), depth=depth)
        m.submodules[name] = q
        m.d.comb += q.w_data.eq(value)
        fifos.append(q)
    all_room = Cat(*[q.w_rdy for q in fifos]).all()
    m.d.comb += [q.w_en.eq(job_valid & all_room) for q in fifos]
    return all_room, fifos


def open_frames(m, top, frames, job, job_valid, depth: int, user, key_sizes=(256,), sbox="lut"):
    """The back half of every receive top: opens the stored ``frames`` (FIFO of
    :data:`FrameBeat`, one frame after another) in the order of their jobs (``job``, an
    :data:`OpenJob`, offered while ``job_valid``; a job whose ``v.code`` is not 0 is
    refused: all PASS under key 0, nothing derived), decrypts ``F[aad .. text)`` as AAD
    and ``F[text .. n - 16)`` as ciphertext under the 16-octet ICV at the end, removes
    ``F[v.o .. drop)`` from the output, holds each frame until its tag is known and
    releases it by its verdict through an :class:`Egress` (``user`` its ``m.user``) on
    ``top.m``, with ``top.drop_bad``. A refused frame's ``next_header`` leaves as 0 (it is
    unauthenticated). Returns (``job_ready``, the egress)."""
    ok = job.v.code == 0
    bounds3 = Signal(data.ArrayLayout(LEN, 3))
    bounds2 = Signal(data.ArrayLayout(LEN, 2))
    # a refused frame is all PASS for the GCM (regions 1-3 empty at its end)
    m.d.comb += [
        bounds3[0].eq(Mux(ok, job.aad, job.n)),
        bounds3[1].eq(Mux(ok, job.text, job.n)),
        bounds3[2].eq(Mux(ok, job.n - ICV, job.n)),
        bounds2[0].eq(job.v.o),
        bounds2[1].eq(Mux(ok, job.drop, job.v.o)),
    ]
    all_room, (ctxq, segq, osegq, vq) = _fork(m, job, job_valid, key_sizes, segq=(bounds3, 4), osegq=(bounds2, 8))

    # ---- realign into GCM beats: PASS | AAD | TEXT | TAG --------------------------------
    m.submodules.regions = regions = RegionPacker(4, len_bits=LEN)
    m.submodules.gcm = gcm = Gcm(side_width=1, key_sizes=key_sizes, h_in_ctx=True, sbox=sbox)
    frames_to_segmenter(m, frames, regions, segq)
    beats_to_gcm(m, regions.o, gcm, ctxq, [Kind.PASS, Kind.AAD, Kind.TEXT, Kind.TAG], decrypt=1)

    # ---- drop the header from what the GCM returns, repack, hold until the verdict ----
    opack = unpack_gcm(m, gcm, osegq, 3, dropped=(1,))     # region 1: the header
    m.submodules.out = out = fifo.SyncFIFOBuffered(width=FrameBeat.size, depth=depth)
    m.submodules.tagq = tagq = fifo.SyncFIFOBuffered(width=1, depth=8)
    m.d.comb += [
        # the tag queue always has room for a frame's verdict when its last beat goes in
        opack.o.ready.eq(out.w_rdy & tagq.w_rdy),
        out.w_en.eq(opack.o.valid & opack.o.ready),
        out.w_data.eq(Cat(opack.o.payload.data, opack.o.payload.keep, opack.o.payload.last)),
        tagq.w_en.eq(opack.o.valid & opack.o.ready & opack.o.payload.last),
        tagq.w_data.eq(opack.o.payload.user),
    ]

    # ---- egress: a frame starts once all of it and its tag are in --------------------
    m.submodules.egress = egress = Egress(user)
    v = data.View(Verdict, vq.r_data)
    code = Signal(5)
    m.d.comb += [
        code.eq(Mux(v.code != 0, v.code, Mux(tagq.r_data[0], 0, Code.AUTH_FAIL.value))),
        egress.i.valid.eq(out.r_rdy), out.r_en.eq(egress.i.ready), egress.i.payload.eq(out.r_data),
        egress.v.valid.eq(vq.r_rdy & tagq.r_rdy),
        egress.v.payload.eq(v),
        egress.v.payload.code.eq(code),
        egress.v.payload.next_header.eq(Mux(code == 0, v.next_header, 0)),
        vq.r_en.eq(egress.v.ready), tagq.r_en.eq(egress.v.ready),
        egress.drop_bad.eq(top.drop_bad),
    ]
    wiring.connect(m, egress.m, wiring.flipped(top.m))
    return all_room, egress


def seal_frames(m, top, frames, job, job_valid, key_sizes=(256,), sbox="lut"):
    """The back half of the EESP and PSP send tops: seals the stored ``frames`` (FIFO of
    :data:`FrameBeat`) in the order of their jobs (``job``, a :data:`SealJob`, offered
    while ``job_valid``): ``F[0..at) || hdr || F[at..n)``, of which ``[aad .. text)`` is
    AAD and ``[text ..)`` plaintext, encrypted, the ICV after it; a job whose ``v.code``
    is not 0 is refused: nothing inserted, all PASS under key 0, nothing derived. The
    frames leave through :func:`release` by their verdicts. Returns (``job_ready``, the
    egress). One GCM beat per cycle: a frame takes one cycle per 16 octets of each region
    (``F[0..aad)``, AAD, plaintext) rounded up, and one for the ICV."""
    ok = job.v.code == 0
    cut, regions = Signal(data.ArrayLayout(LEN, 1)), Signal(data.ArrayLayout(LEN, 2))
    ins_len = Mux(ok, job.hdr_len, 0)
    grown = job.n + ins_len
    m.d.comb += [
        cut[0].eq(Mux(ok, job.at, job.n)),
        # PASS F[0..aad) | AAD | TEXT the rest; a refused frame: all PASS
        regions[0].eq(Mux(ok, job.aad, grown)),
        regions[1].eq(Mux(ok, job.text, grown)),
    ]
    all_room, (ctxq, segq, hdrq, rq, vq) = _fork(m, job, job_valid, key_sizes, segq=(cut, 4),
                                                 hdrq=(Cat(job.hdr, ins_len), 4), rq=(regions, 8))

    # ---- F[0..at) | hdr | F[at..n), repacked, cut into PASS | AAD | TEXT ----------------
    m.submodules.seg = seg = Segmenter(2, user_shape=1, len_bits=LEN)
    m.submodules.ins = ins = Inserter(1, user_shape=1, cls_bits=1, max_len=SEAL_HEADER)
    m.submodules.pack = pack = Packer(user_shape=1, cls_bits=1)
    m.submodules.icut = icut = RegisterSlice(pack.i.payload.shape())
    wiring.connect(m, icut.o, pack.i)
    m.submodules.skid = skid = fifo.SyncFIFOBuffered(width=FrameBeat.size, depth=4)
    m.submodules.recut = recut = RegionPacker(3, len_bits=LEN)
    m.submodules.gcm = gcm = Gcm(side_width=1, key_sizes=key_sizes, h_in_ctx=True, sbox=sbox)
    frames_to_segmenter(m, frames, seg, segq)
    wiring.connect(m, seg.o, ins.i)
    m.d.comb += [
        ins.h.valid.eq(hdrq.r_rdy), hdrq.r_en.eq(ins.h.ready), ins.h.payload.eq(hdrq.r_data),
        # a register slice between the cut and insert and the pack (not one path)
        icut.i.valid.eq(ins.o.valid), ins.o.ready.eq(icut.i.ready),
        icut.i.payload.data.eq(ins.o.payload.data), icut.i.payload.count.eq(ins.o.payload.count),
        icut.i.payload.last.eq(ins.o.payload.last),     # one class: full beats but the last
        # a skid buffer: the packer absorbs a piece without a beat out, the re-cutter sends
        # a beat without one in; each keeps its own pace instead of adding the other's stalls
        skid.w_en.eq(pack.o.valid), pack.o.ready.eq(skid.w_rdy),
        skid.w_data.eq(Cat(pack.o.payload.data, pack.o.payload.keep, pack.o.payload.last)),
        recut.i.valid.eq(skid.r_rdy), skid.r_en.eq(recut.i.ready), recut.i.payload.eq(skid.r_data),
        recut.d.valid.eq(rq.r_rdy), rq.r_en.eq(recut.d.ready), recut.d.payload.eq(rq.r_data),
    ]
    beats_to_gcm(m, recut.o, gcm, ctxq, [Kind.PASS, Kind.AAD, Kind.TEXT], decrypt=0)
    return all_room, release(m, top, repack_gcm(m, gcm), vq)


def repack_gcm(m, gcm):
    """Everything ``gcm`` returns (the tag beat of an encrypt included) packed into full
    beats, one frame per packet. Returns the :class:`Packer`."""
    m.submodules.opack = opack = Packer(user_shape=1, cls_bits=1)
    go = gcm.o.payload
    m.d.comb += [
        opack.i.valid.eq(gcm.o.valid), gcm.o.ready.eq(opack.i.ready),
        opack.i.payload.data.eq(go.data), opack.i.payload.count.eq(keep_count(go.keep)),
        opack.i.payload.last.eq(go.last),
    ]
    return opack


def release(m, top, opack, vq):
    """A send top's output: the frames ``opack`` (a :class:`Packer`) sends, through an
    :class:`Egress` with the verdicts of FIFO ``vq`` (one per frame), onto ``top.m``
    (``user`` = :data:`OutUser`), with ``top.drop_bad``. Returns the egress."""
    m.submodules.egress = egress = Egress()
    m.d.comb += [
        egress.i.valid.eq(opack.o.valid), opack.o.ready.eq(egress.i.ready),
        egress.i.payload.data.eq(opack.o.payload.data), egress.i.payload.keep.eq(opack.o.payload.keep),
        egress.i.payload.last.eq(opack.o.payload.last),
        egress.v.valid.eq(vq.r_rdy), vq.r_en.eq(egress.v.ready), egress.v.payload.eq(vq.r_data),
        egress.drop_bad.eq(top.drop_bad),
    ]
    wiring.connect(m, egress.m, wiring.flipped(top.m))
    return egress

"""PSP profile (docs/spec.md section 13): Google's PSP Security Protocol, version 0
(AES-GCM-128) and version 1 (AES-GCM-256), on the shared datapath blocks: frame stores,
the KDF engine's AES-256-CMAC pipeline (:class:`hw.kdf.Cmac2`), the two-size GCM engine,
the realignment and the egress of :mod:`hw.datapath`.

:class:`PspDecap` opens ``outer (O octets) || PSP header || [VC] || payload || ICV`` into
``outer || payload`` with the header's Next Header beside it; :class:`PspEncap` seals.
Ports (``amaranth.lib.stream``, AXI-Stream lane order as :mod:`hw.datapath`; every input
beat but a frame's last full):

* ``s`` (sink) frame beats: decap ``user.offset`` = O; encap ``user`` =
  :func:`hw.datapath.sa_in_user` (O, the sending SA, Next Header), read on the first beat
  (``PspEncap(chained=True)``, the EESP -> PSP proxy's: :func:`chained_sa_user`);
* ``m`` (source) frames out: decap ``user`` = :data:`hw.datapath.NextHeaderUser`
  (``error`` 0, ``next_header``; ``PspDecap(meta=True)``, the PSP -> EESP proxy's:
  :data:`PspMetaUser`); encap ``user`` = :data:`hw.datapath.OutUser`. A refused
  frame is dropped (``drop_bad`` = 1) or leaves as ``F[0..min(O, N))`` with its code in
  ``user.error`` (spec 10); its Next Header leaves as 0;
* ``mkwr`` (sink, :data:`MasterKeyWrite`) master-key writes, ordered with the frames as
  the EESP tops' key writes are (spec 4.2): ``phase`` (0 or 1, SPI bit 31), ``valid``
  (0 clears the phase), ``key`` (256 bits, the first octet in bits 255..248); a key
  never comes back out. Rotation is two writes' worth of policy the management plane
  owns: the new key into the phase not in use (spec 13.2);
* encap: ``sawr`` (sink, :func:`psp_sa_layout`, ordered with the frames likewise) the
  sending SAs, and ``sa_addr`` (in) / ``sa_state`` (out, :data:`SaState`): the valid bit
  and next IV of SA ``sa_addr``;
* ``drop_bad`` (in); ``stat_addr`` (in) / ``stat_data`` (out), :mod:`hw.counters`
  (encap: refused SA writes at address 9).

Key per frame: the SPI's phase key into the CMAC engine with the two fixed-input
blocks of spec 13.2 (L = 128 or 256 in both); version 0 uses the first block's output
as an AES-128 key, version 1 both; the same pipeline computes the key's GCM hash key
(:class:`hw.kdf.Cmac2`). Throughput: one 16-octet beat per cycle; the CMAC engine
derives one key every 4 cycles, so frames of at least 4 beats keep the line rate. Frames are stored whole (decap twice, encap once), ``2 * max_frame`` octets each.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from common.codes import Code

from .aes import check_sbox
from .counters import wire_stats
from .datapath import (ALL, ICV, InUser, LEN, MAX_FRAME, NextHeaderUser, OpenJob, OutUser, SealJob, control_ports,
                       first_code, from_octets, octets_of, open_frames, receive_ingress, refused_cut, sa_in_user,
                       seal_frames, send_ingress, store_depth, write_barrier, write_entry)
from .kdf import Cmac2
from .realign import beat

__all__ = ["PspDecap", "PspEncap", "MasterKeyWrite", "psp_sa_layout", "SaState", "psp_block", "chained_sa_user",
           "PspMetaUser", "PspDesc", "psp_check", "psp_key_request", "psp_open_job", "psp_master_keys",
           "psp_kdf_input", "psp_sender_ports", "psp_send_desc", "psp_send_fields", "psp_sa_table", "psp_send_check", "psp_seal_job",
           "psp_sa_spend"]

HDR = 16                    #: Next Header .. IV
VC = 8
#: ``user`` of ``PspDecap(meta=True)`` (the PSP -> EESP proxy, spec 8.1): the code, the
#: frame's O, Next Header and SPI, and ``coffset``, its clear words after the removed
#: extension: ``max(0, CO - 2 (HdrExtLen - 1))``.
PspMetaUser = data.StructLayout({"error": 5, "offset": LEN, "next_header": 8, "spi": 32, "coffset": 8})
#: A master-key write (both tops).
MasterKeyWrite = data.StructLayout({"phase": 1, "valid": 1, "key": 256})
#: What ``sa_state`` reads of a sending SA: ``next_iv`` = 2^64 once the IV space is used up.
SaState = data.StructLayout({"valid": 1, "next_iv": 65})


def psp_sa_layout(sas: int) -> data.StructLayout:
    """A write of sending SA ``index`` (:class:`PspEncap`): ``valid`` 0 clears it."""
    return data.StructLayout({"index": max(1, (sas - 1).bit_length()), "valid": 1, "spi": 32, "version": 1,
                              "crypt_offset": 6, "v": 1, "vc": 64, "next_iv": 65})


def chained_sa_user(sas: int) -> data.StructLayout:
    """``user`` of ``PspEncap(chained=True)`` (the EESP -> PSP proxy, spec 8.1): that of
    :func:`hw.datapath.sa_in_user`, the ingress ``error`` (a frame refused upstream passes
    refused) and ``clear``, the inner words that stay clear: the crypt offset is
    ``clear + 2 V`` instead of the SA's (above 63: PSP_BAD_OFFSET)."""
    return data.StructLayout({**{k: f.shape for k, f in sa_in_user(sas)}, "error": 5, "clear": 8})


def psp_block(i: int, version, spi):
    """PRF input block ``i`` of spec 13.2 as a big-endian 128-bit value:
    ``[i]_32 || 50 76 (30 + version) 00 || SPI || [L]_32``, L = 128 or 256."""
    return Cat(Mux(version, Const(256, 32), Const(128, 32)), spi, Const(0, 8), Const(0x30, 8) | version, Const(0x5076, 16),
               Const(i, 32))


def _header_fields(octets):
    """The fields of a PSP header (``octets``: 16 8-bit values, the first first)."""
    o3 = octets[3]
    return {"nh": octets[0], "ext": octets[1], "co": octets[2][:6], "version": o3[2:6], "v": o3[1],
            "one": o3[0], "spi": from_octets(octets[4:8]), "iv": from_octets(octets[8:16])}


def psp_kdf_input(phases, ok, spi, version):
    """A frame's CMAC request (spec 13.2): (its phase's key, 0 unless ``ok``: a refused
    frame derives nothing; block 1; block 2; ``k128``, its key is AES-128 (version 0))."""
    return Mux(ok, phases[spi[31]].key, 0), psp_block(1, version, spi), psp_block(2, version, spi), ~version


#: What travels with a received PSP frame from its header to its output.
PspDesc = data.StructLayout({"o": LEN, "n": LEN, "hdr": 8 * HDR, "code": 5})


def psp_check(m, cap, ended):
    """The PSP receive front, step 1: rules 1-7 of spec 13.3 on the header ``cap``
    (:class:`hw.datapath.HeaderCapture`) captured; ``ended``: the ingress code, first.
    Returns the frame's :data:`PspDesc`."""
    f = _header_fields([cap.hdr[8 * j: 8 * j + 8] for j in range(HDR)])
    o, n = cap.at, cap.length
    room = Signal(LEN + 1)          # P = N - O - 32, when not truncated
    m.d.comb += room.eq(n - o - (HDR + ICV))
    code = first_code([
        (ended != 0, ended),
        (Cat(o, Const(0, 1)) + HDR + ICV > n, Code.PSP_TRUNCATED),
        (f["version"] > 1, Code.PSP_BAD_VERSION),
        (~f["one"], Code.PSP_BAD_HEADER),
        (f["ext"] < 1 + f["v"], Code.PSP_BAD_HEADER),
        (f["spi"][:31] == 0, Code.PSP_BAD_SPI),
        (Cat(Const(0, 3), (f["ext"] - 1)[:8]) > room, Code.PSP_BAD_OFFSET),
        (Cat(Const(0, 2), f["co"]) > room, Code.PSP_BAD_OFFSET),
    ])
    desc = Signal(PspDesc)
    m.d.comb += [desc.o.eq(o), desc.n.eq(n), desc.hdr.eq(cap.hdr[:8 * HDR]), desc.code.eq(code)]
    return desc


def psp_key_request(m, phases, d):
    """Step 2: rule 8 and the CMAC request of the frame whose :data:`PspDesc` is ``d``.
    Returns (the :data:`PspDesc` with its code, the phase's key (0 for a refused frame:
    it derives nothing), the two blocks of spec 13.2, ``k128``)."""
    h = _header_fields([d.hdr[8 * j: 8 * j + 8] for j in range(HDR)])
    job = Signal(PspDesc)
    m.d.comb += [job.eq(d), job.code.eq(Mux(d.code != 0, d.code,
                                            Mux(phases[h["spi"][31]].valid, 0, Code.UNKNOWN_KEY.value)))]
    return (job, *psp_kdf_input(phases, job.code == 0, h["spi"], h["version"][0]))


def psp_open_job(m, done, t1, t2, h):
    """Step 3: the :data:`hw.datapath.OpenJob` of a frame (``done``: its :data:`PspDesc`;
    ``t1``, ``t2``: its CMAC blocks, spec 13.2; ``h`` its key's hash key) for :func:`hw.datapath.open_frames`: the
    key of its version, nonce SPI || IV, AAD from O, the header and extension removed,
    the verdict with Next Header, SPI and the clear words after the extension."""
    g = _header_fields([done.hdr[8 * j: 8 * j + 8] for j in range(HDR)])
    opened = Signal(OpenJob)
    m.d.comb += [
        opened.key.eq(Cat(t2, t1)), opened.k128.eq(~g["version"][0]), opened.h.eq(h),
        opened.nonce.eq(Cat(g["iv"], g["spi"])),
        opened.aad.eq(done.o), opened.text.eq(done.o + HDR + Cat(Const(0, 2), g["co"])),
        opened.drop.eq(done.o + HDR + Cat(Const(0, 3), (g["ext"] - 1)[:8])), opened.n.eq(done.n),
        opened.v.code.eq(done.code), opened.v.o.eq(refused_cut(done.o, done.n)), opened.v.n.eq(ALL),
        opened.v.next_header.eq(g["nh"]), opened.v.spi.eq(g["spi"]),
    ]
    ext_words = Signal(9)           # 2 (HdrExtLen - 1): the extension removed, in words
    m.d.comb += ext_words.eq((g["ext"] - 1)[:8] << 1)
    with m.If(g["co"] > ext_words):
        m.d.comb += opened.v.coffset.eq(g["co"] - ext_words)
    return opened


def psp_master_keys(m, mkwr, open_):
    """The two master-key phases, written from ``mkwr`` when ``open_``."""
    phases = Array([Signal(data.StructLayout({"valid": 1, "key": 256}), name=f"phase{p}") for p in range(2)])
    w = mkwr.payload
    m.d.comb += mkwr.ready.eq(open_)
    with m.If(mkwr.valid & open_):
        m.d.sync += [phases[w.phase].valid.eq(w.valid), phases[w.phase].key.eq(Mux(w.valid, w.key, 0))]
    return phases


class PspDecap(wiring.Component):
    """PSP receive side (see module docstring; spec 13.3).
    ``sbox``: where the AES pipelines keep their S-boxes, ``"lut"`` or ``"bram"`` (:class:`hw.aes.Aes`).
    """

    def __init__(self, max_frame: int = MAX_FRAME, meta: bool = False, sbox: str = "lut"):
        self._sbox = check_sbox(sbox)
        self._max_frame = max_frame
        self._depth = store_depth(max_frame)
        self._user = PspMetaUser if meta else NextHeaderUser
        super().__init__({
            "s": In(stream.Signature(beat(InUser))),
            "m": Out(stream.Signature(beat(self._user))),
            "mkwr": In(stream.Signature(MasterKeyWrite)),
            **control_ports(),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.descs = descs = fifo.SyncFIFOBuffered(width=PspDesc.size, depth=8)
        m.submodules.cmac = cmac = Cmac2(tag_width=PspDesc.size, key_sizes=(128, 256), sbox=self._sbox)
        open_, hold = write_barrier(m, self.s, cmac.i.valid & cmac.i.ready, [self.mkwr])
        frames, cap, ins, ended = receive_ingress(m, self.s, self._depth, self._max_frame, descs, hold)
        phases = psp_master_keys(m, self.mkwr, open_)
        m.d.comb += [descs.w_en.eq(cap.done), descs.w_data.eq(psp_check(m, cap, ended))]

        # ---- rule 8 (the phase's key) and the KDF ----------------------------------------
        job, key, m1, m2, k128 = psp_key_request(m, phases, data.View(PspDesc, descs.r_data))
        m.d.comb += [cmac.i.valid.eq(descs.r_rdy), descs.r_en.eq(cmac.i.ready),
                     cmac.i.payload.key.eq(key), cmac.i.payload.m1.eq(m1), cmac.i.payload.m2.eq(m2),
                     cmac.i.payload.k128.eq(k128),
                     cmac.i.payload.tag.eq(job)]

        # ---- rule 9 and the rest: the shared receive back half ----------------------------
        r = cmac.o.payload
        opened = psp_open_job(m, data.View(PspDesc, r.tag), r.t1, r.t2, r.h)
        ready, egress = open_frames(m, self, frames, opened, cmac.o.valid, self._depth, self._user,
                                    key_sizes=(128, 256), sbox=self._sbox)
        m.d.comb += cmac.o.ready.eq(ready)
        wire_stats(m, self, ins, egress)
        return m


class PspEncap(wiring.Component):
    """PSP send side (see module docstring; spec 13.4). ``sas``: sending SA entries.

    ``sawr``: SA ``index`` takes ``spi`` (bit 31: the phase whose key seals), ``version``
    (0: AES-GCM-128, 1: AES-GCM-256), ``crypt_offset`` (4-octet units), ``v`` and ``vc``
    (the Virtualization Cookie, when ``v``), and ``next_iv``, the IV of its next frame
    (1..2^64; 2^64: used up). ``valid`` 0 clears the entry, keeping its SPI and IV for the
    checks below. An install is refused (nothing changes; counted at status address 9)
    if its SPI's low 31 bits are 0, if ``next_iv`` is 0, if another valid entry holds the
    same SPI, or if an entry with that SPI, valid or cleared, has a next IV above the one
    written (a frame taking its IV on the same cycle counts): an IV never repeats under
    one SPI and master key. A write of a phase's master key (a rotation: a key is never
    written twice) forgets the IVs of the cleared entries whose SPIs are in that phase,
    so an SPI may start again at IV 1 under the new key. After reset every entry is
    cleared and every mark forgotten (the management plane re-installs from its own
    high-water marks, as spec 7.1 says of the EESP counters).

    Refused frames, first rule first, spending no IV: TOO_LONG / BAD_FRAMING, the SA not
    installed (NO_CONTEXT), O past the frame's end (PSP_TRUNCATED), ``4 CO`` past the
    payload (PSP_BAD_OFFSET), the IV space used up (COUNTER_EXHAUSTED), the SPI's phase
    without a key (UNKNOWN_KEY).
    ``sbox``: where the AES pipelines keep their S-boxes, ``"lut"`` or ``"bram"`` (:class:`hw.aes.Aes`).
    """

    def __init__(self, sas: int = 8, max_frame: int = MAX_FRAME, chained: bool = False, sbox: str = "lut"):
        self._sbox = check_sbox(sbox)
        if sas < 1:
            raise ValueError("at least one SA")
        self._sas, self._max_frame, self._chained = sas, max_frame, chained
        self._depth = store_depth(max_frame)
        self._sa = psp_sa_layout(sas)
        super().__init__({
            "s": In(stream.Signature(beat(chained_sa_user(sas) if chained else sa_in_user(sas)))),
            "m": Out(stream.Signature(beat(OutUser))),
            **psp_sender_ports(sas),
            **control_ports(),
        })

    def elaborate(self, platform):
        m = Module()
        EDesc = psp_send_desc(self._sas)
        Job = data.StructLayout({"d": EDesc, "sa": self._sa, "co": 6, "code": 5})

        # ---- ingress: store the frame; its length and sideband go to a descriptor ----------
        m.submodules.descs = descs = fifo.SyncFIFOBuffered(width=EDesc.size, depth=8)
        m.submodules.cmac = cmac = Cmac2(tag_width=Job.size, key_sizes=(128, 256), sbox=self._sbox)
        open_, hold = write_barrier(m, self.s, cmac.i.valid & cmac.i.ready, [self.mkwr, self.sawr])
        frames, ins, side, n_now, ended = send_ingress(m, self.s, self._depth, self._max_frame, descs, hold)
        m.d.comb += descs.w_data.eq(psp_send_fields(m, self._sas, side, n_now, ended, self._chained))
        phases = psp_master_keys(m, self.mkwr, open_)
        sas = psp_sa_table(m, self, self._sas, phases, open_)

        # ---- checks, the IV, the key request ------------------------------------------------
        d = data.View(EDesc, descs.r_data)
        code, co, sa = psp_send_check(m, d, sas, phases, self._chained)
        job = Signal(Job)
        c = cmac.i.payload
        m.d.comb += [job.d.eq(d), job.sa.eq(sa), job.co.eq(co), job.code.eq(code),
                     cmac.i.valid.eq(descs.r_rdy), descs.r_en.eq(cmac.i.ready), c.tag.eq(job),
                     Cat(c.key, c.m1, c.m2, c.k128).eq(Cat(*psp_kdf_input(phases, code == 0, sa.spi, sa.version)))]
        spend = cmac.i.valid & cmac.i.ready & (code == 0)
        sa_refused = psp_sa_spend(m, self.sawr, sas, spend, d.sa, open_)

        # ---- seal: header and VC inserted at O, GCM, egress --------------------------------
        j = data.View(Job, cmac.o.payload.tag)
        r = cmac.o.payload
        sealed = psp_seal_job(m, j.d, j.sa, j.co, j.code, r.t1, r.t2, r.h)
        ready, egress = seal_frames(m, self, frames, sealed, cmac.o.valid, key_sizes=(128, 256), sbox=self._sbox)
        m.d.comb += cmac.o.ready.eq(ready)
        wire_stats(m, self, ins, egress, ctx_refused=sa_refused)
        return m


def psp_sender_ports(sas: int) -> dict:
    """The management ports of a PSP sender (:class:`PspEncap`): ``mkwr`` master keys,
    ``sawr`` SAs, ``sa_addr`` / ``sa_state`` an SA's state."""
    sa = psp_sa_layout(sas)
    return {"mkwr": In(stream.Signature(MasterKeyWrite)), "sawr": In(stream.Signature(sa)),
            "sa_addr": In(sa["index"].shape), "sa_state": Out(SaState)}


def psp_send_desc(sas: int) -> data.StructLayout:
    """What travels with a PSP frame to be sealed from its last beat to its key request:
    O, N, the SA, Next Header, the ingress code and (chained) the clear words."""
    return data.StructLayout({"o": LEN, "n": LEN, "sa": max(1, (sas - 1).bit_length()), "nh": 8, "error": 5,
                              "clear": 8})


def psp_send_fields(m, sas: int, side, n, ended, chained: bool):
    """The PSP send descriptor (:func:`psp_send_desc`) of a frame from its sideband
    ``side``, its length ``n`` and ``ended``, the ingress code (which comes first)."""
    desc = Signal(psp_send_desc(sas))
    m.d.comb += [desc.o.eq(side.offset), desc.n.eq(n), desc.sa.eq(side.sa), desc.nh.eq(side.next_header)]
    if chained:     # the ingress code of a chained frame; TOO_LONG / BAD_FRAMING first
        m.d.comb += [desc.error.eq(Mux(ended != 0, ended, side.error)), desc.clear.eq(side.clear)]
    else:
        m.d.comb += desc.error.eq(ended)
    return desc


def psp_sa_table(m, top, sas: int, phases, open_):
    """The sending SAs of ``top`` (:class:`PspEncap`'s rules): ``sas`` entries, cleared at
    reset; ``top.sa_addr`` / ``top.sa_state`` read them. A master-key write on ``top.mkwr``
    starts new IV spaces for the SPIs of its phase: the marks cleared entries of that
    phase keep are forgotten (valid entries count on)."""
    table = Array([Signal(psp_sa_layout(sas), name=f"sa{k}") for k in range(sas)])
    with m.If(top.mkwr.valid & open_):
        for e in table:
            with m.If(~e.valid & (e.spi[31] == top.mkwr.payload.phase)):
                m.d.sync += e.next_iv.eq(0)
    m.d.comb += [top.sa_state.valid.eq(table[top.sa_addr].valid),
                 top.sa_state.next_iv.eq(table[top.sa_addr].next_iv)]
    return table


def psp_send_check(m, d, sas, phases, chained: bool):
    """The PSP send refusals of :class:`PspEncap`, first rule first, for the frame whose
    descriptor (:func:`psp_send_desc`) is ``d``. Returns (code, the crypt offset (the
    SA's, or chained: clear + 2 V), the SA)."""
    sa = sas[d.sa]
    payload = Signal(LEN + 1)       # octets after the IV: VC and F[O..N)
    co = Signal(9)
    m.d.comb += [payload.eq(d.n - d.o + Mux(sa.v, VC, 0)),
                 co.eq(d.clear + Mux(sa.v, 2, 0) if chained else sa.crypt_offset)]
    code = first_code([
        (d.error != 0, d.error),
        (~sa.valid, Code.NO_CONTEXT),
        (d.o > d.n, Code.PSP_TRUNCATED),
        *([(co > 63, Code.PSP_BAD_OFFSET)] if chained else []),   # an SA's is 6 bits
        (Cat(Const(0, 2), co) > payload, Code.PSP_BAD_OFFSET),
        (sa.next_iv[64], Code.COUNTER_EXHAUSTED),
        (~phases[sa.spi[31]].valid, Code.UNKNOWN_KEY),
    ])
    return code, co[:6], sa


def psp_seal_job(m, d, sa, co, code, t1, t2, h):
    """The :data:`hw.datapath.SealJob` of a PSP frame (``d`` its send descriptor, ``sa``
    its SA as its IV was taken, ``co`` its crypt offset, ``code``, ``t1`` / ``t2`` its CMAC
    blocks, ``h`` its key's hash key): header (and VC) at O, AAD header + 4 CO octets, nonce SPI || IV."""
    hdr = Cat(d.nh, Cat(Mux(sa.v, 2, 1), Const(0, 6)), Cat(co, Const(0, 2)),
              Cat(Const(1, 1), sa.v, sa.version, Const(0, 5)),
              *octets_of(sa.spi, 4), *octets_of(sa.next_iv[:64], 8), *octets_of(sa.vc, 8))
    job = Signal(SealJob)
    m.d.comb += [
        job.key.eq(Cat(t2, t1)), job.k128.eq(~sa.version), job.h.eq(h), job.nonce.eq(Cat(sa.next_iv[:64], sa.spi)),
        job.at.eq(d.o), job.n.eq(d.n), job.hdr.eq(hdr), job.hdr_len.eq(HDR + Mux(sa.v, VC, 0)),
        job.aad.eq(d.o), job.text.eq(d.o + HDR + Cat(Const(0, 2), co)),
        job.v.code.eq(code), job.v.o.eq(refused_cut(d.o, d.n)), job.v.n.eq(ALL),
    ]
    return job


def psp_sa_spend(m, sawr, sas, spend, spent, open_):
    """SA ``spent`` takes its IV when ``spend``, and SA writes from ``sawr`` (taken when
    ``open_``) with the refusals of :class:`PspEncap`; a write wins over a frame's
    increment. Returns the refusal strobe."""
    with m.If(spend):
        m.d.sync += sas[spent].next_iv.eq(sas[spent].next_iv + 1)
    w = sawr.payload
    behind, dup = [], []
    for k, e in enumerate(sas):
        same = e.spi == w.spi
        behind.append(same & Mux(spend & (spent == k), w.next_iv <= e.next_iv, w.next_iv < e.next_iv))
        dup.append(same & e.valid & (w.index != k))
    refused = Signal()
    take = sawr.valid & open_
    m.d.comb += [
        sawr.ready.eq(open_),
        refused.eq(take & w.valid & ((w.spi[:31] == 0) | (w.next_iv == 0) | Cat(*behind).any()
                                     | Cat(*dup).any())),
    ]
    write_entry(m, sas, w, take & ~refused)
    return refused

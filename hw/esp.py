"""Minimal ESP (docs/spec.md section 9): RFC 4303 frames with AES-GCM per RFC 4106 (a
128- or 256-bit key per SA),
SA tables keyed by SPI (receive) and by index (send), ESN, the anti-replay window, the
padding and its check. :class:`EspDecap` receives, :class:`EspEncap` sends.

:class:`EspDecap` opens ``outer (O octets) || SPI || SN || IV || C || ICV`` into
``outer || payload`` with the Next Header beside it. Ports (``amaranth.lib.stream``,
AXI-Stream lane order as :mod:`hw.datapath`; every input beat but a frame's last full):

* ``s`` (sink) frame beats, ``user.offset`` = O, read on a frame's first beat;
* ``m`` (source) the opened frames, ``user`` = :data:`NextHeaderUser`: ``error`` 0 and
  ``next_header``. A refused frame (codes ESP_TRUNCATED, ESP_BAD_SPI, ESP_UNKNOWN_SPI,
  ESP_STALE, ESP_REPLAY, AUTH_FAIL, ESP_BAD_PAD, TOO_LONG) is dropped when ``drop_bad``
  is 1, else it leaves as ``F[0..O)`` with its code in ``user.error`` (no plaintext of a
  refused frame ever leaves). A dummy frame (Next Header 59) is verified, marked in the
  window and always dropped, counted as ESP_DUMMY;
* ``sawr`` (sink, :func:`sa_layout`) management writes, always ready, in effect from the
  next cycle: SA ``index`` holds ``spi``, ``key`` (the first key octet in bits
  255..248: AES-256, or with ``k128`` = 1 AES-128 in bits 255..128, the rest ignored), ``salt`` (the first salt octet in bits 31..24), ``esn``, ``check_pad`` (the
  padding octets must be 1, 2, ...), and its receive window restarts at ``highest``
  (the highest SN T, normally 0) with no SN marked; ``valid`` = 0 removes the SA. Keys
  never come back out of a port. A write that would install an SPI below 256, or one
  another valid SA holds, is refused and counted (``stat_addr`` :data:`REJECTED`);
* ``drop_bad`` (in); ``stat_addr`` (in) / ``stat_data`` (out): the counters of
  :mod:`hw.counters` (:data:`REJECTED` refused SA writes; 16 + code frames refused, or
  dropped as dummies, with that code).

The spec 9.3 checks come in its order: length, SPI, the window (against the window as
it stands after every earlier frame, so a replay of a frame still in flight is caught),
ICV, window update (only for a frame whose ICV verified), padding, dummy. With ESN the
high half of SN (part of the AAD) is inferred (RFC 4303 appendix A2.2) from the window
when the frame's header is looked up. Frames still in flight then may move the window;
so the verdict infers again from the window as it stands: when the two differ, the
frame is judged with the later SN, which is what a receiver that takes one frame at a
time does (its ICV cannot verify: its AAD would differ).

Frames are stored whole twice, like :class:`hw.endpoint.Decap` (``2 * max_frame``
octets each). Throughput: one 16-octet beat per cycle; per frame, one cycle for each
GCM beat: the outer octets, the 16 octets of SPI, SN and IV, the AAD beat, the
ciphertext and the ICV, each rounded up to whole beats.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from common.codes import Code

from .aes import check_sbox
from .counters import STAT, wire_stats
from .datapath import (ALL, Egress, ICV, InUser, LEN, MAX_FRAME, NextHeaderUser, OutUser, Verdict, beats_to_gcm,
                       control_ports, frames_to_segmenter, from_octets, receive_ingress, refused_cut, release,
                       sa_in_user, send_ingress, store_depth, unpack_gcm)
from .gcm import Gcm, Kind
from .realign import FrameBeat, Inserter, Packer, Prepender, RegionPacker, Segmenter, beat, keep_count

__all__ = ["EspDecap", "EspEncap", "sa_layout", "tx_sa_layout", "REJECTED", "DUMMY"]

#: Status address of the count of refused SA writes.
REJECTED = STAT["refused_ctx_writes"]
DUMMY = 59
HDR = 16                    # SPI, SN, IV
MIN = HDR + 2 + ICV         # and Pad Length, Next Header (spec 9.3 step 1)


def tx_sa_layout(sas: int) -> data.StructLayout:
    """A management write of a sending SA (:class:`EspEncap`)."""
    return data.StructLayout({"index": max(1, (sas - 1).bit_length()), "valid": 1, "spi": 32, "key": 256,
                              "salt": 32, "esn": 1, "next_sn": 65, "k128": 1})


def sa_layout(sas: int) -> data.StructLayout:
    """A management write of an SA (:class:`EspDecap`)."""
    return data.StructLayout({"index": max(1, (sas - 1).bit_length()), "valid": 1, "spi": 32, "key": 256,
                              "salt": 32, "esn": 1, "check_pad": 1, "highest": 64, "k128": 1})


def _stored_key(w):
    """The key of SA write ``w`` as the table keeps it: an AES-128 key (``k128``) in bits
    255..128, the ignored half zeroed, so that equal keys compare equal (spec 9.5)."""
    return Mux(w.k128, Cat(Const(0, 128), w.key[128:]), w.key)


def _aad_keep(aad_len):
    """``keep`` of an AAD beat of ``aad_len`` (0, 8 or 12) octets."""
    return Cat(*[(aad_len > k) for k in range(12)], Const(0, 4))


def _trailer_octet(k: int, pad, nh):
    """Octet k of ``padding (pad octets 1, 2, ...) || Pad Length || Next Header``, pad 0..3."""
    v = nh
    if k <= 3:
        v = Mux(pad == k, pad, v)
    if k <= 2:
        v = Mux(pad > k, k + 1, v)
    return v[:8]



class _Window:
    """Combinational RFC 4303 window logic over one SA's state ``t`` (highest SN T) and
    ``bitmap`` (bit i: SN T - i received), window size ``w``."""

    def __init__(self, t, bitmap, w: int):
        self.t, self.bitmap, self.w = t, bitmap, w

    def infer(self, seq, esn):
        """(SN, sendable) of the wire SN ``seq``: the high half by appendix A2.2 with
        ESN; ``sendable`` = 0 for an SN no sender uses (0, or outside 1..2^64-1)."""
        th, tl = self.t[32:], self.t[:32]
        bottom = (tl - (self.w - 1))[:32]
        above = seq >= bottom
        case_a = tl >= self.w - 1
        high = Mux(case_a, Mux(above, th, th + 1), Mux(above, th - 1, th))[:32]
        off_end = Mux(case_a, ~above & (th == 0xFFFF_FFFF), above & (th == 0))
        sn = Mux(esn, Cat(seq, high), Cat(seq, Const(0, 32)))
        return sn, (sn != 0) & ~(esn & off_end)

    def check(self, sn, sendable):
        """Spec 9.3 step 3: the code (0, ESP_STALE or ESP_REPLAY) of SN ``sn``."""
        ahead = sn > self.t
        dist = (self.t - sn)[:64]
        stale = ~sendable | (~ahead & (dist >= self.w))
        seen = ~ahead & self.bitmap.bit_select(dist[:max(1, (self.w - 1).bit_length())], 1)
        return Mux(stale, Code.ESP_STALE.value, Mux(seen, Code.ESP_REPLAY.value, 0))

    def update(self, m, sn, t_sig, bitmap_sig):
        """Step 5 in ``m.d.sync``: mark ``sn`` received, sliding the window up to it."""
        w = self.w
        with m.If(sn > self.t):
            shift = (sn - self.t)[:64]
            m.d.sync += [t_sig.eq(sn),
                         bitmap_sig.eq(Mux(shift < w, (self.bitmap << shift[:w.bit_length()])[:w] | 1, 1))]
        with m.Else():
            m.d.sync += bitmap_sig.eq(self.bitmap | (Const(1, w) << (self.t - sn)[:max(1, (w - 1).bit_length())])[:w])


class EspDecap(wiring.Component):
    """ESP receive side (see module docstring). ``sas``: SA table entries; ``window``:
    anti-replay window size W (>= 64, RFC 4303 section 3.4.3); ``max_frame`` as
    :class:`hw.endpoint.Decap`.
    ``sbox``: where the AES pipelines keep their S-boxes, ``"lut"`` or ``"bram"`` (:class:`hw.aes.Aes`).
    """

    def __init__(self, sas: int = 8, window: int = 64, max_frame: int = MAX_FRAME, sbox: str = "lut"):
        self._sbox = check_sbox(sbox)
        if window < 64:
            raise ValueError(f"replay window {window} < 64 (RFC 4303 section 3.4.3)")
        if sas < 1:
            raise ValueError("at least one SA")
        self._sas, self._w, self._max_frame = sas, window, max_frame
        self._depth = store_depth(max_frame)
        super().__init__({
            "s": In(stream.Signature(beat(InUser))),
            "m": Out(stream.Signature(beat(NextHeaderUser))),
            "sawr": In(stream.Signature(sa_layout(sas))),
            **control_ports(),
        })

    def elaborate(self, platform):
        m = Module()
        S, W = self._sas, self._w
        Sa = data.StructLayout({"valid": 1, "spi": 32, "key": 256, "k128": 1, "salt": 32, "esn": 1, "check_pad": 1})
        sas = Array([Signal(Sa, name=f"sa{k}") for k in range(S)])
        ts = Array([Signal(64, name=f"t{k}") for k in range(S)])
        maps = Array([Signal(W, name=f"bitmap{k}") for k in range(S)])
        Desc = data.StructLayout({"o": LEN, "n": LEN, "hdr": 8 * HDR, "code": 5})

        # ---- ingress: store the frame, capture SPI, SN and IV --------------------------
        m.submodules.descs = descs = fifo.SyncFIFOBuffered(width=Desc.size, depth=8)
        frames, cap, ins, ended = receive_ingress(m, self.s, self._depth, self._max_frame, descs)
        desc_in = Signal(Desc)
        m.d.comb += [
            desc_in.o.eq(cap.at), desc_in.n.eq(cap.length), desc_in.hdr.eq(cap.hdr[:8 * HDR]),
            desc_in.code.eq(Mux(ended != 0, ended,
                                Mux(cap.length < cap.at + MIN, Code.ESP_TRUNCATED.value, 0))),
            descs.w_en.eq(cap.done), descs.w_data.eq(desc_in),
        ]

        # ---- SA lookup by SPI, SN inference; fork to the GCM, the realigners, the verdict --
        d = data.View(Desc, descs.r_data)
        octet = [d.hdr[8 * j: 8 * j + 8] for j in range(HDR)]
        spi, seq, iv = from_octets(octet[0:4]), from_octets(octet[4:8]), from_octets(octet[8:16])
        idx = Signal(range(S))      # the SA whose SPI matches (writes keep SPIs unique)
        hit, pick = Const(0, 1), Const(0, range(S))
        for k in range(S):
            match = sas[k].valid & (sas[k].spi == spi)
            hit, pick = hit | match, Mux(match, k, pick)
        m.d.comb += idx.eq(pick)
        sa = sas[idx]
        win = _Window(ts[idx], maps[idx], W)
        sn, sendable = win.infer(seq, sa.esn)
        code = Mux(d.code != 0, d.code, Mux(spi < 256, Code.ESP_BAD_SPI.value,
                                            Mux(~hit, Code.ESP_UNKNOWN_SPI.value, 0)))
        ok = code == 0
        Job = data.StructLayout({"o": LEN, "n": LEN, "code": 5, "sa": range(S), "seq": 32, "sn": 64,
                                 "sendable": 1})
        Bounds3 = data.ArrayLayout(LEN, 3)
        m.submodules.ctxq = ctxq = fifo.SyncFIFOBuffered(width=256 + 96 + 1, depth=4)
        m.submodules.rpq = rpq = fifo.SyncFIFOBuffered(width=Bounds3.size, depth=4)
        m.submodules.aadq = aadq = fifo.SyncFIFOBuffered(width=FrameBeat.size, depth=4)
        m.submodules.osegq = osegq = fifo.SyncFIFOBuffered(width=Bounds3.size, depth=8)
        m.submodules.jobq = jobq = fifo.SyncFIFOBuffered(width=Job.size, depth=8)
        forks = (ctxq, rpq, aadq, osegq, jobq)
        all_room = Cat(*[q.w_rdy for q in forks]).all()
        aad_len = Mux(ok, Mux(sa.esn, 12, 8), 0)    # a refused frame gets a null AAD beat
        aad_octets = [spi[24 - 8 * j: 32 - 8 * j] for j in range(4)]
        high = [sn[56 - 8 * j: 64 - 8 * j] for j in range(4)]
        low = [seq[24 - 8 * j: 32 - 8 * j] for j in range(4)]
        aad = Mux(sa.esn, Cat(*aad_octets, *high, *low), Cat(*aad_octets, *low, Const(0, 32)))
        rp, ob, job = Signal(Bounds3), Signal(Bounds3), Signal(Job)
        m.d.comb += [
            rp[0].eq(Mux(ok, d.o, d.n)), rp[1].eq(Mux(ok, d.o + HDR, d.n)), rp[2].eq(Mux(ok, d.n - ICV, d.n)),
            ob[0].eq(aad_len), ob[1].eq(aad_len + d.o), ob[2].eq(aad_len + d.o + HDR),
            job.o.eq(d.o), job.n.eq(d.n), job.code.eq(code), job.sa.eq(idx), job.seq.eq(seq),
            job.sn.eq(sn), job.sendable.eq(sendable),
            descs.r_en.eq(all_room),
            ctxq.w_data.eq(Mux(ok, Cat(iv, sa.salt, sa.key, sa.k128), 0)),     # a refused frame: key 0
            rpq.w_data.eq(rp), osegq.w_data.eq(ob), jobq.w_data.eq(job),
            aadq.w_data.eq(Cat(aad, Const(0, 32), _aad_keep(aad_len), Const(0, 1))),
        ]
        m.d.comb += [q.w_en.eq(descs.r_rdy & all_room) for q in forks]

        # ---- GCM: AAD beat first, then PASS (outer) | PASS (SPI, SN, IV) | TEXT | TAG ----
        m.submodules.regions = regions = RegionPacker(4, len_bits=LEN)
        m.submodules.prep = prep = Prepender(cls_bits=2)
        m.submodules.gcm = gcm = Gcm(side_width=1, key_sizes=(128, 256), sbox=self._sbox)
        frames_to_segmenter(m, frames, regions, rpq)
        kinds = Array([k.value for k in (Kind.PASS, Kind.PASS, Kind.TEXT, Kind.TAG)])
        ab = data.View(FrameBeat, aadq.r_data)
        m.d.comb += [
            prep.i.valid.eq(regions.o.valid), regions.o.ready.eq(prep.i.ready),
            prep.i.payload.data.eq(regions.o.payload.data), prep.i.payload.keep.eq(regions.o.payload.keep),
            prep.i.payload.last.eq(regions.o.payload.last), prep.i.payload.cls.eq(kinds[regions.o.payload.cls]),
            prep.h.valid.eq(aadq.r_rdy), aadq.r_en.eq(prep.h.ready),
            prep.h.payload.data.eq(ab.data), prep.h.payload.keep.eq(ab.keep), prep.h.payload.cls.eq(Kind.AAD.value),
        ]
        beats_to_gcm(m, prep.o, gcm, ctxq, None, decrypt=1)

        # ---- keep outer || plaintext, check the trailer, hold until the verdict -----------
        opack = unpack_gcm(m, gcm, osegq, 4, dropped=(0, 2))   # the AAD beat; SPI, SN, IV
        m.submodules.trailer = trailer = Trailer()
        m.submodules.out = out = fifo.SyncFIFOBuffered(width=FrameBeat.size, depth=self._depth)
        Tail = data.StructLayout({"tag_ok": 1, "pad_len": 8, "next_header": 8, "pad_ok": 1})
        m.submodules.tagq = tagq = fifo.SyncFIFOBuffered(width=Tail.size, depth=8)
        pk = opack.o
        m.d.comb += [
            pk.ready.eq(out.w_rdy & tagq.w_rdy),
            out.w_en.eq(pk.valid & pk.ready),
            out.w_data.eq(Cat(pk.payload.data, pk.payload.keep, pk.payload.last)),
            trailer.fire.eq(pk.valid & pk.ready), trailer.data.eq(pk.payload.data),
            trailer.keep.eq(pk.payload.keep), trailer.last.eq(pk.payload.last),
            tagq.w_en.eq(pk.valid & pk.ready & pk.payload.last),
            tagq.w_data.eq(Cat(pk.payload.user, trailer.pad_len, trailer.next_header, trailer.pad_ok)),
        ]

        # ---- verdict, in frame order: window (as it stands now), ICV, update, padding, dummy --
        j = data.View(Job, jobq.r_data)
        t = data.View(Tail, tagq.r_data)
        cur = _Window(ts[j.sa], maps[j.sa], W)
        jsa = sas[j.sa]
        sn_now, sendable_now = cur.infer(j.seq, jsa.esn)
        moved = sn_now != j.sn          # the window moved the inferred SN since the lookup
        win_code = Mux(moved, cur.check(sn_now, sendable_now), cur.check(j.sn, j.sendable))
        plain = j.n - j.o - (HDR + ICV)
        pad_bad = (t.pad_len > plain - 2) | (jsa.check_pad & ~t.pad_ok)
        vcode = Mux(j.code != 0, j.code,
                    Mux(win_code != 0, win_code,
                        Mux(moved | ~t.tag_ok, Code.AUTH_FAIL.value,
                            Mux(pad_bad, Code.ESP_BAD_PAD.value,
                                Mux(t.next_header == DUMMY, Code.ESP_DUMMY.value, 0)))))
        m.submodules.vq = vq = fifo.SyncFIFOBuffered(width=Verdict.size, depth=8)
        verdict = Signal(Verdict)
        m.d.comb += [
            # a refused frame's Next Header is unauthenticated plaintext: never output
            verdict.code.eq(vcode), verdict.o.eq(refused_cut(j.o, j.n)), verdict.next_header.eq(Mux(vcode == 0, t.next_header, 0)),
            verdict.n.eq(j.o + plain - 2 - t.pad_len),
            vq.w_data.eq(verdict),
            vq.w_en.eq(jobq.r_rdy & tagq.r_rdy & vq.w_rdy), jobq.r_en.eq(vq.w_en), tagq.r_en.eq(vq.w_en),
        ]
        w = self.sawr.payload
        spi_taken = Const(0, 1)
        for k in range(S):
            spi_taken = spi_taken | ((w.index != k) & sas[k].valid & (sas[k].spi == w.spi))
        refuse = w.valid & ((w.spi < 256) | spi_taken)
        m.d.comb += self.sawr.ready.eq(1)
        with m.If(vq.w_en & (j.code == 0) & (win_code == 0) & ~moved & t.tag_ok):
            cur.update(m, j.sn, ts[j.sa], maps[j.sa])
        with m.If(self.sawr.valid & ~refuse):       # a management write wins over an update
            m.d.sync += [sas[w.index].valid.eq(w.valid), sas[w.index].spi.eq(w.spi),
                         sas[w.index].key.eq(_stored_key(w)), sas[w.index].k128.eq(w.k128),
                         sas[w.index].salt.eq(w.salt), sas[w.index].esn.eq(w.esn), sas[w.index].check_pad.eq(w.check_pad),
                         ts[w.index].eq(w.highest), maps[w.index].eq(0)]

        # ---- egress: good frames cut after the payload; dummies always dropped -------------
        m.submodules.egress = egress = Egress(NextHeaderUser)
        v = data.View(Verdict, vq.r_data)
        m.d.comb += [
            egress.i.valid.eq(out.r_rdy), out.r_en.eq(egress.i.ready), egress.i.payload.eq(out.r_data),
            egress.v.valid.eq(vq.r_rdy), vq.r_en.eq(egress.v.ready), egress.v.payload.eq(v),
            egress.drop_bad.eq(self.drop_bad | (v.code == Code.ESP_DUMMY.value)),
        ]
        wiring.connect(m, egress.m, wiring.flipped(self.m))
        wire_stats(m, self, ins, egress, ctx_refused=self.sawr.valid & refuse)
        return m


class Trailer(wiring.Component):
    """Watches the beats of ``outer || plaintext`` frames (``fire``: a beat is taken;
    every beat but the last full) and reports, from the cycle after a frame's last beat
    until the next frame's last beat, the frame's last two octets as ``pad_len`` and
    ``next_header``, and ``pad_ok``: Pad Length is 0, or the ``pad_len`` octets before
    them are 1, 2, ..., Pad Length. Reported combinationally on the last beat's cycle
    (``fire`` & ``last``), when they are taken."""

    def __init__(self):
        super().__init__({"fire": In(1), "data": In(128), "keep": In(16), "last": In(1),
                          "pad_len": Out(8), "next_header": Out(8), "pad_ok": Out(1)})

    def elaborate(self, platform):
        m = Module()
        run = Signal(8)         # the octets so far end with 1, 2, ..., run (0: they do not)
        run_m1 = Signal(8)      # the same, without the previous beat's last octet
        prev = Signal(8)        # the previous beat's last octet
        v = [self.data[8 * k: 8 * k + 8] for k in range(16)]
        # the run after lane k is v[k] or 0: v[k] if v[k] is 1, or if it is one more
        # than the octet before it (the run before the beat for lane 0) and that octet's
        # run is its value. The compares side by side, then a carry-like chain of 1-bit
        # flags (not of 8-bit values through compares)
        follows = [v[0] == run + 1] + [v[k] == v[k - 1] + 1 for k in range(1, 16)]
        on = follows[0] | (v[0] == 1)
        runs = []
        for k in range(16):     # the run after lane k
            if k:
                on = (v[k] == 1) | (follows[k] & on)
            runs.append(Mux(on, v[k], 0))
        cnt = keep_count(self.keep)
        before = Array([run, *runs])    # before[i]: the run after the beat's first i octets
        end_run = Mux(cnt >= 2, before[(cnt - 2)[:4]], run_m1)
        pad_len = Mux(cnt >= 2, Array(v)[(cnt - 2)[:4]], prev)
        m.d.comb += [
            self.pad_len.eq(pad_len),
            self.next_header.eq(Array(v)[(cnt - 1)[:4]]),
            self.pad_ok.eq((pad_len == 0) | (end_run == pad_len)),
        ]
        with m.If(self.fire):
            m.d.sync += [run.eq(runs[15]), run_m1.eq(runs[14]), prev.eq(v[15])]
            with m.If(self.last):
                m.d.sync += [run.eq(0), run_m1.eq(0), prev.eq(0)]
        return m


class EspEncap(wiring.Component):
    """ESP send side: seals ``outer || payload`` into ``outer || SPI || [SN]_32 || IV ||
    C || ICV`` (spec 9.2: IV = [SN]_64, minimal padding 1, 2, 3 to a 4-octet multiple,
    Pad Length, Next Header; AAD = SPI || SN, or SPI || SN high || SN low with ESN).

    Ports as :class:`EspDecap`, except:

    * ``s.user`` (:func:`hw.datapath.sa_in_user`), read on a frame's first beat: ``offset`` O (the
      outer octets, never rewritten), ``sa`` the sending SA, ``next_header``;
    * ``m.user`` = :data:`hw.endpoint.OutUser` (``error``);
    * ``sawr`` (sink, :func:`tx_sa_layout`): SA ``index`` holds ``spi`` (256..2^32-1,
      else the write is refused and counted at :data:`REJECTED`), ``key``, ``salt``,
      ``esn`` and ``next_sn``, the SN its next frame takes (1 for a new SA); also refused
      and counted: ``next_sn`` = 0, and an install with the key and salt the entry
      holds (installed or cleared; a clear keeps them) and a ``next_sn`` below its
      own (a frame taking an SN on the same cycle counts), which would repeat IVs.

    Refused, counted, and dropped or cut to ``F[0..O)`` with the code (no SN spent): an
    invalid SA (ESP_UNKNOWN_SPI), O past the frame's end (ESP_TRUNCATED), an SN that
    would pass 2^32 - 1 (2^64 - 1 with ESN): ESP_SN_EXHAUSTED, TOO_LONG.

    Throughput: one beat a cycle on ``m`` while the input keeps up; per frame the input
    side spends a cycle on the beat cut at O, one on each of the header, the trailer and
    the AAD beat (measured in ``results/espencap_verilator.txt``).
    ``sbox``: where the AES pipelines keep their S-boxes, ``"lut"`` or ``"bram"`` (:class:`hw.aes.Aes`).
    """

    def __init__(self, sas: int = 8, max_frame: int = MAX_FRAME, sbox: str = "lut"):
        self._sbox = check_sbox(sbox)
        if sas < 1:
            raise ValueError("at least one SA")
        self._sas, self._max_frame = sas, max_frame
        self._depth = store_depth(max_frame)
        super().__init__({
            "s": In(stream.Signature(beat(sa_in_user(sas)))),
            "m": Out(stream.Signature(beat(OutUser))),
            "sawr": In(stream.Signature(tx_sa_layout(sas))),
            **control_ports(),
        })

    def elaborate(self, platform):
        m = Module()
        S = self._sas
        Sa = data.StructLayout({"valid": 1, "spi": 32, "key": 256, "k128": 1, "salt": 32, "esn": 1})
        sas = Array([Signal(Sa, name=f"sa{k}") for k in range(S)])
        sns = Array([Signal(65, name=f"sn{k}") for k in range(S)])
        Desc = data.StructLayout({"o": LEN, "n": LEN, "sa": range(S), "nh": 8, "ended": 5})

        # ---- ingress: store the frame; its length and sideband go to a descriptor ---------
        m.submodules.descs = descs = fifo.SyncFIFOBuffered(width=Desc.size, depth=8)
        frames, ins, cur, n_now, ended = send_ingress(m, self.s, self._depth, self._max_frame, descs)
        desc_in = Signal(Desc)
        m.d.comb += [
            desc_in.o.eq(cur.offset), desc_in.n.eq(n_now), desc_in.sa.eq(cur.sa), desc_in.nh.eq(cur.next_header),
            desc_in.ended.eq(ended), descs.w_data.eq(desc_in),
        ]

        # ---- the SA, its next SN; fork to the GCM, the inserters, the output cut ------------
        d = data.View(Desc, descs.r_data)
        sa, sn = sas[d.sa], sns[d.sa]
        limit = Mux(sa.esn, sn[64], sn[32:].any())
        code = Mux(d.ended != 0, d.ended, Mux(~sa.valid, Code.ESP_UNKNOWN_SPI.value,
                   Mux(d.o > d.n, Code.ESP_TRUNCATED.value, Mux(limit, Code.ESP_SN_EXHAUSTED.value, 0))))
        ok = code == 0
        plain = d.n - d.o
        pad = (-(plain + 2))[:2]
        Bounds3 = data.ArrayLayout(LEN, 3)
        m.submodules.ctxq = ctxq = fifo.SyncFIFOBuffered(width=256 + 96 + 1, depth=4)
        m.submodules.segq = segq = fifo.SyncFIFOBuffered(width=Bounds3.size, depth=4)
        m.submodules.hdrq = hdrq = fifo.SyncFIFOBuffered(width=8 * 16 + 5, depth=4)
        m.submodules.trlq = trlq = fifo.SyncFIFOBuffered(width=8 * 16 + 5, depth=4)
        m.submodules.aadq = aadq = fifo.SyncFIFOBuffered(width=FrameBeat.size, depth=4)
        m.submodules.osegq = osegq = fifo.SyncFIFOBuffered(width=LEN, depth=8)
        m.submodules.vq = vq = fifo.SyncFIFOBuffered(width=Verdict.size, depth=8)
        forks = (ctxq, segq, hdrq, trlq, aadq, osegq, vq)
        all_room = Cat(*[q.w_rdy for q in forks]).all()
        spi_o = [sa.spi[24 - 8 * j: 32 - 8 * j] for j in range(4)]
        sn_o = [sn[56 - 8 * j: 64 - 8 * j] for j in range(8)]
        aad_len = Mux(ok, Mux(sa.esn, 12, 8), 0)
        aad = Mux(sa.esn, Cat(*spi_o, *sn_o), Cat(*spi_o, *sn_o[4:], Const(0, 32)))
        trailer = Cat(*[_trailer_octet(k, pad, d.nh) for k in range(5)])
        bounds, verdict = Signal(Bounds3), Signal(Verdict)
        m.d.comb += [
            bounds[0].eq(Mux(ok, d.o, d.n)), bounds[1].eq(Mux(ok, d.o, d.n)), bounds[2].eq(d.n),
            # refused: F[0..O), or the whole frame if O is past its end (not the tag beat)
            verdict.code.eq(code), verdict.o.eq(refused_cut(d.o, d.n)), verdict.n.eq(ALL),
            descs.r_en.eq(all_room),
            ctxq.w_data.eq(Mux(ok, Cat(sn[:64], sa.salt, sa.key, sa.k128), 0)),     # a refused frame: key 0
            segq.w_data.eq(bounds),
            hdrq.w_data.eq(Cat(*spi_o, *sn_o[4:], *sn_o, Mux(ok, 16, 0)[:5])),
            trlq.w_data.eq(Cat(trailer, Const(0, 88), Mux(ok, pad + 2, 0)[:5])),
            aadq.w_data.eq(Cat(aad, Const(0, 32), _aad_keep(aad_len), Const(0, 1))),
            osegq.w_data.eq(aad_len), vq.w_data.eq(verdict),
        ]
        m.d.comb += [q.w_en.eq(descs.r_rdy & all_room) for q in forks]
        spend = descs.r_rdy & all_room & ok
        with m.If(spend):
            m.d.sync += sns[d.sa].eq(sn + 1)

        # ---- PASS (outer, header) | TEXT (payload, trailer), after the AAD beat -------------
        m.submodules.seg = seg = Segmenter(4, user_shape=1, len_bits=LEN)
        m.submodules.hdr = hdr = Inserter(1, user_shape=1, cls_bits=2, max_len=16)
        m.submodules.trl = trl = Inserter(3, user_shape=1, cls_bits=2, max_len=16)
        m.submodules.pack = pack = Packer(user_shape=1, cls_bits=2)
        m.submodules.prep = prep = Prepender(cls_bits=2)
        m.submodules.gcm = gcm = Gcm(side_width=1, key_sizes=(128, 256), sbox=self._sbox)
        frames_to_segmenter(m, frames, seg, segq)
        wiring.connect(m, seg.o, hdr.i)
        wiring.connect(m, hdr.o, trl.i)
        kinds = Array([k.value for k in (Kind.PASS, Kind.PASS, Kind.TEXT, Kind.TEXT)])
        ab = data.View(FrameBeat, aadq.r_data)
        m.d.comb += [
            hdr.h.valid.eq(hdrq.r_rdy), hdrq.r_en.eq(hdr.h.ready), hdr.h.payload.eq(hdrq.r_data),
            trl.h.valid.eq(trlq.r_rdy), trlq.r_en.eq(trl.h.ready), trl.h.payload.eq(trlq.r_data),
            pack.i.valid.eq(trl.o.valid), trl.o.ready.eq(pack.i.ready),
            pack.i.payload.data.eq(trl.o.payload.data), pack.i.payload.count.eq(trl.o.payload.count),
            pack.i.payload.last.eq(trl.o.payload.last), pack.i.payload.cls.eq(kinds[trl.o.payload.cls]),
            prep.i.valid.eq(pack.o.valid), pack.o.ready.eq(prep.i.ready),
            prep.i.payload.data.eq(pack.o.payload.data), prep.i.payload.keep.eq(pack.o.payload.keep),
            prep.i.payload.last.eq(pack.o.payload.last), prep.i.payload.cls.eq(pack.o.payload.cls),
            prep.h.valid.eq(aadq.r_rdy), aadq.r_en.eq(prep.h.ready),
            prep.h.payload.data.eq(ab.data), prep.h.payload.keep.eq(ab.keep), prep.h.payload.cls.eq(Kind.AAD.value),
        ]
        beats_to_gcm(m, prep.o, gcm, ctxq, None, decrypt=0)

        # ---- drop the AAD beat from what the GCM returns (tag included), repack ------------
        egress = release(m, self, unpack_gcm(m, gcm, osegq, 2, dropped=(0,)), vq)
        w = self.sawr.payload
        # IV = [SN]_64 under the SA's key and salt: an install never moves the SN of that
        # key backwards (a frame taking the SN on this cycle counts), and never gives SN 0
        old, old_sn = sas[w.index], sns[w.index]
        same_key = (old.key == _stored_key(w)) & (old.k128 == w.k128) & (old.salt == w.salt)
        behind = same_key & Mux(spend & (d.sa == w.index), w.next_sn <= old_sn, w.next_sn < old_sn)
        refuse = w.valid & ((w.spi < 256) | (w.next_sn == 0) | behind)
        m.d.comb += self.sawr.ready.eq(1)
        with m.If(self.sawr.valid & ~refuse):       # a management write wins over a frame's SN
            with m.If(w.valid):
                m.d.sync += [sas[w.index].valid.eq(1), sas[w.index].spi.eq(w.spi),
                             sas[w.index].key.eq(_stored_key(w)), sas[w.index].k128.eq(w.k128),
                             sas[w.index].salt.eq(w.salt), sas[w.index].esn.eq(w.esn), sns[w.index].eq(w.next_sn)]
            with m.Else():      # cleared: key, salt and SN kept for the check above
                m.d.sync += sas[w.index].valid.eq(0)
        wire_stats(m, self, ins, egress, ctx_refused=self.sawr.valid & refuse)
        return m

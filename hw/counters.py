"""Status counters of every top (docs/spec.md section 11.1), read on ``stat_addr`` /
``stat_data``.

:class:`Stats` counts what its top reports each cycle and answers reads combinationally
(``stat_data`` follows ``stat_addr`` in the same cycle). Address map (:data:`STAT`):

=========  ================================================================  ============
address    counter                                                           width
=========  ================================================================  ============
0, 1       frames in (low word, high word)                                   64, wrapping
2, 3       octets in                                                         64, wrapping
4, 5       frames out (good frames)                                          64, wrapping
6, 7       octets out (of good frames)                                       64, wrapping
8          refused key-table writes                                          32, saturating
9          refused sender-context writes (Encap) and SA writes (ESP, PSP)    32, saturating
16 + c     frames refused with code c, c = 1 .. :data:`CODES`                32, saturating
=========  ================================================================  ============

Other addresses read 0. A 64-bit counter is read low word first: presenting the low
word's address copies the counter's high word, as it is on that cycle, into a holding
register, and the high word's address reads that register. So a reader that samples the
low word on the last cycle it presents its address, then presents the high word's,
gets one consistent 64-bit value while the counter keeps counting.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from common.codes import Code

from .realign import keep_count

__all__ = ["Stats", "STAT", "CODES", "wire_stats"]

#: The highest result code counted (address 16 + CODES is the last counter).
CODES = max(c.value for c in Code)
_WIDE = ("frames_in", "octets_in", "frames_out", "octets_out")
#: Status addresses by name; a 64-bit counter by the address of its low word.
STAT = {**{name: 2 * k for k, name in enumerate(_WIDE)},
        "refused_key_writes": 8, "refused_ctx_writes": 9,
        **{f"refused_{c.name.lower()}": 16 + c.value for c in Code if c.value}}


def _saturating_add(m, counter, inc):
    """``counter`` += ``inc`` (an unsigned count), stopping at all ones."""
    total = Signal(len(counter) + 1)
    m.d.comb += total.eq(counter + inc)
    m.d.sync += counter.eq(Mux(total[-1], (1 << len(counter)) - 1, total))


class Stats(wiring.Component):
    """The counters of :data:`STAT`. Inputs, sampled each cycle: ``in_fire`` a frame
    beat is taken at the top's input, ``in_octets`` its octets, ``in_last`` it ends a
    frame; ``out_done`` a frame is finished at the output with code ``out_code``
    (0 = good), ``out_octets`` octets of a good frame leave; ``key_refused`` a
    key write is refused; ``ctx_refused`` context or SA writes are refused, how many (a
    top with both ports may refuse one of each in a cycle)."""

    def __init__(self):
        super().__init__({
            "in_fire": In(1), "in_octets": In(5), "in_last": In(1),
            "out_done": In(1), "out_code": In(5), "out_octets": In(5),
            "key_refused": In(1), "ctx_refused": In(2),
            "stat_addr": In(6), "stat_data": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        wide = {name: Signal(64, name=name) for name in _WIDE}
        narrow = {8: Signal(32, name="refused_key_writes"), 9: Signal(32, name="refused_ctx_writes")}
        per_code = Array([Signal(32, name=f"refused_code{c}") for c in range(CODES + 1)])   # [0] unused
        with m.If(self.in_fire):
            m.d.sync += wide["octets_in"].eq(wide["octets_in"] + self.in_octets)
            with m.If(self.in_last):
                m.d.sync += wide["frames_in"].eq(wide["frames_in"] + 1)
        m.d.sync += wide["octets_out"].eq(wide["octets_out"] + self.out_octets)
        with m.If(self.out_done & (self.out_code == 0)):
            m.d.sync += wide["frames_out"].eq(wide["frames_out"] + 1)
        for c in range(1, CODES + 1):
            _saturating_add(m, per_code[c], self.out_done & (self.out_code == c))
        _saturating_add(m, narrow[8], self.key_refused)
        _saturating_add(m, narrow[9], self.ctx_refused)

        # reads: the high word of a 64-bit counter from the copy its low word's read made
        a = self.stat_addr
        high = Signal(32)
        words = [w for name in _WIDE for w in (wide[name][:32], high)]
        with m.If(~a[0] & (a < 2 * len(_WIDE))):
            m.d.sync += high.eq(Array(wide[name][32:] for name in _WIDE)[a[1:3]])
        value = Mux(a < 8, Array(words)[a[:3]], 0)
        value = Mux(a == 8, narrow[8], Mux(a == 9, narrow[9], value))
        value = Mux((a >= 17) & (a <= 16 + CODES), per_code[(a - 16)[:5]], value)
        m.d.comb += self.stat_data.eq(value)
        return m


def wire_stats(m, top, ins, egress, key_refused=0, ctx_refused=0) -> Stats:
    """A :class:`Stats` in ``m`` counting the beats of ``ins`` (the frame stream past the
    top's ingress register slice) and the frames ``egress`` (:class:`hw.datapath.Egress`)
    finishes, read on ``top.stat_addr``."""
    m.submodules.stats = stats = Stats()
    s = ins.payload
    m.d.comb += [
        stats.in_fire.eq(ins.valid & ins.ready), stats.in_octets.eq(keep_count(s.keep)), stats.in_last.eq(s.last),
        stats.out_done.eq(egress.done), stats.out_code.eq(egress.code), stats.out_octets.eq(egress.octets_out),
        stats.key_refused.eq(key_refused), stats.ctx_refused.eq(ctx_refused),
        stats.stat_addr.eq(top.stat_addr), top.stat_data.eq(stats.stat_data),
    ]
    return stats

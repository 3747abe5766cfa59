"""The AXI4-Lite register map of a top level (docs/registers.md), from one description.

:func:`regmap` derives a top's registers from its signature, in the order of its ports,
so the map, the RTL that decodes it (:class:`hw.axi.AxiTop`), the documentation
(:func:`markdown`), the C header (:func:`c_header`) and the Python driver
(:class:`Driver`) all come from this one function:

* ``ID`` (0x000, read-only): :data:`MAGIC`;
* ``CONTROL`` (0x004, read-write): one bit per 1-bit configuration input (``drop_bad``);
* per management stream ``P`` (``wr``, ``ctxwr``, ``mkwr``, ``sawr``, ...), a block of
  :data:`BLOCK` octets from ``0x100 + BLOCK * k``: ``P_DATA0 .. P_DATAn`` (write-only,
  byte strobes; word j holds payload bits 32j+31..32j; reads return 0 with SLVERR: key
  material never comes back) and ``P_COMMIT`` at the block's last word (write-only):
  writing bit 0 = 1 hands the staged payload to ``P`` as one write; the write's response
  comes once ``P`` took it (it waits behind the frames before it, spec 4.2); the staged
  words stay as they are;
* per index/state pair (``ctx_addr`` / ``ctx_state``, ``sa_addr`` / ``sa_state``), a
  read-only window at ``0x800 + WINDOW * k``: entry i's state in ``ceil(width / 32)``
  words from ``base + span * i``, ``span`` that many words rounded up to a power of two;
* ``STAT`` (0x400 .. 0x4FC, read-only): counter a (:mod:`hw.counters`) at ``0x400 + 4 a``;
  a 64-bit counter is read low word first, then high word, as on ``stat_addr``.

Every other address answers SLVERR (reads return 0), as do writes to read-only words.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Shape
from amaranth.lib import data, wiring

__all__ = ["Register", "regmap", "fields", "MAGIC", "BLOCK", "WINDOW", "STAT_BASE", "ADDR_BITS", "markdown", "c_header",
           "Driver"]

MAGIC = 0x4545_5350         #: "EESP"
ADDR_BITS = 12
BLOCK = 0x40
STREAM_BASE = 0x100
STAT_BASE = 0x400
WINDOW_BASE = 0x800
WINDOW = 0x100


@dataclass(frozen=True)
class Register:
    """One 32-bit word (``count`` > 1: an array of words or entries, ``stride`` apart).
    ``kind``: id, control, data, commit, stat or state; ``port``: the top's port it
    drives or reads; ``word``: the payload / state word it holds; ``fields``: (name,
    high bit, low bit) within the word."""
    name: str
    offset: int
    access: str
    kind: str
    doc: str
    port: str = ""
    word: int = 0
    count: int = 1
    stride: int = 4
    fields: tuple = ()


def fields(shape, base: int = 0, prefix: str = "") -> list[tuple[str, int, int]]:
    """(field path, high bit, low bit) of a ``lib.data`` layout, nested fields included."""
    out = []
    if isinstance(shape, data.StructLayout):
        for name, f in shape:
            out.append((prefix + name, base + f.offset + Shape.cast(f.shape).width - 1, base + f.offset))
            out += fields(f.shape, base + f.offset, prefix + name + ".")
    return out


def _fields_in_word(layout, word: int) -> tuple:
    """The parts of ``layout``'s leaf fields (nested structures flattened, :func:`fields`)
    that fall in payload word ``word``: (name[hi:lo] of the field, high bit, low bit) in
    the word."""
    every = fields(layout)
    out = []
    for name, hi, lo in every:
        if any(other.startswith(name + ".") for other, _, _ in every):
            continue        # a structure: its fields are listed
        a, b = max(lo, 32 * word), min(hi, 32 * word + 31)
        if a <= b:
            part = "" if (a, b) == (lo, hi) else f"[{b - lo}:{a - lo}]"
            out.append((name + part, b - 32 * word, a - 32 * word))
    return tuple(out)


def regmap(top: wiring.Component) -> list[Register]:
    """The registers of ``top`` (see module docstring)."""
    members = dict(top.signature.members)
    regs = [Register("ID", 0x000, "ro", "id", f"reads {MAGIC:#010x}")]
    controls = [n for n, mb in members.items() if mb.is_port and mb.flow == wiring.In
                and Shape.cast(mb.shape).width == 1 and not n.endswith("_addr")]
    regs.append(Register("CONTROL", 0x004, "rw", "control", "configuration bits",
                         fields=tuple((n, k, k) for k, n in enumerate(controls))))
    streams = [n for n, mb in members.items() if mb.is_signature and n not in ("s", "m")]
    for k, name in enumerate(streams):
        layout = members[name].signature.members["payload"].shape
        words = (Shape.cast(layout).width + 31) // 32
        base = STREAM_BASE + BLOCK * k
        if words > BLOCK // 4 - 1:
            raise ValueError(f"{name}: {words} payload words do not fit a {BLOCK}-octet block")
        for j in range(words):
            regs.append(Register(f"{name.upper()}_DATA{j}", base + 4 * j, "wo", "data",
                                 f"`{name}` payload bits {32 * j + 31}..{32 * j}", port=name, word=j,
                                 fields=_fields_in_word(layout, j)))
        regs.append(Register(f"{name.upper()}_COMMIT", base + BLOCK - 4, "wo", "commit",
                             f"bit 0 = 1: the staged `{name}` payload is written", port=name,
                             fields=(("go", 0, 0),)))
    regs.append(Register("STAT", STAT_BASE, "ro", "stat", "status counter a at STAT + 4 a (hw/counters.py)",
                         port="stat_data", count=64))
    pairs = [n[:-len("_addr")] for n in members if n.endswith("_addr") and n != "stat_addr"]
    for k, name in enumerate(pairs):
        state = members[f"{name}_state"].shape
        addr_width = Shape.cast(members[f"{name}_addr"].shape).width
        words = (Shape.cast(state).width + 31) // 32
        span = 4 << (words - 1).bit_length()       # an entry's octets: a power of two
        if span << addr_width > WINDOW:
            raise ValueError(f"{name}: {1 << addr_width} entries do not fit a {WINDOW}-octet window")
        for j in range(words):
            regs.append(Register(f"{name.upper()}_STATE{j}", WINDOW_BASE + WINDOW * k + 4 * j, "ro", "state",
                                 f"`{name}_state` of entry i, bits {32 * j + 31}..{32 * j}",
                                 port=name, word=j, count=1 << addr_width, stride=span,
                                 fields=_fields_in_word(state, j)))
    return regs


def markdown(maps: dict[str, list[Register]]) -> str:
    """docs/registers.md: every top's map."""
    out = ["# AXI4-Lite register maps", "",
           "Generated by `eesp registers` from `hw/regmap.py` (do not edit; `tests/test_regmap.py`",
           "checks that this file, `include/eesp_regs.h` and the RTL agree). 32-bit registers,",
           "byte addresses; unmapped addresses and writes to read-only words answer SLVERR,",
           "reads of write-only words return 0 with SLVERR (key material never comes back out).",
           "A management write is staged in its `_DATA` words and handed to the datapath by",
           "writing 1 to its `_COMMIT` word; the response comes once the datapath took it.", ""]
    for top, regs in maps.items():
        out += [f"## {top}", "", "| offset | name | access | what | fields (bits) |", "|---|---|---|---|---|"]
        for r in regs:
            where = f"{r.offset:#05x}" if r.count == 1 else f"{r.offset:#05x} + {r.stride} i, i < {r.count}"
            fields = ", ".join(f"{n} [{hi}:{lo}]" if hi != lo else f"{n} [{lo}]" for n, hi, lo in r.fields)
            out.append(f"| {where} | {r.name} | {r.access.upper()} | {r.doc} | {fields} |")
        out.append("")
    return "\n".join(out)


def c_header(maps: dict[str, list[Register]]) -> str:
    """include/eesp_regs.h: the offsets and field positions of every top's map."""
    out = ["/* AXI4-Lite register maps of the EESP datapath tops.", " * Generated by `eesp registers` from hw/regmap.py: do not edit. */",
           "#ifndef EESP_REGS_H", "#define EESP_REGS_H", "", f"#define EESP_MAGIC 0x{MAGIC:08X}u", ""]
    for top, regs in maps.items():
        t = top.upper()
        for r in regs:
            out.append(f"#define {t}_{r.name} 0x{r.offset:03X}u")
            if r.count > 1:
                out.append(f"#define {t}_{r.name}_COUNT {r.count}u")
                out.append(f"#define {t}_{r.name}_STRIDE {r.stride}u")
            for n, hi, lo in r.fields:
                c = "".join(ch if ch.isalnum() else "_" for ch in n.upper()).strip("_")
                out.append(f"#define {t}_{r.name}_{c}_LSB {lo}u")
                out.append(f"#define {t}_{r.name}_{c}_WIDTH {hi - lo + 1}u")
        out.append("")
    out += ["#endif /* EESP_REGS_H */", ""]
    return "\n".join(out)


class Driver:
    """The Python driver of one top's map over a bus with ``async read(address) -> int``
    and ``async write(address, value)`` (e.g. cocotbext-axi's ``AxiLiteMaster`` through
    :func:`tb.axi.lite_bus`): management writes from field values, counters, states."""

    def __init__(self, top: wiring.Component, bus):
        self.regs = {r.name: r for r in regmap(top)}
        self.layouts = {n: mb.signature.members["payload"].shape for n, mb in top.signature.members.items()
                        if mb.is_signature and n not in ("s", "m")}
        self.bus = bus

    async def control(self, **bits: int) -> None:
        r = self.regs["CONTROL"]
        value = 0
        for n, hi, lo in r.fields:
            value |= bits.pop(n, 0) << lo
        if bits:
            raise KeyError(f"no such control bits: {sorted(bits)}")
        await self.bus.write(r.offset, value)

    def write_words(self, port: str, payload: int) -> list[tuple[int, int]]:
        """The (address, value) writes of one management write of ``port`` (a packed
        payload, :func:`tb.stream.pack`): its data words, then its commit."""
        words = [(r.offset, (payload >> (32 * r.word)) & 0xFFFF_FFFF) for r in self.regs.values()
                 if r.kind == "data" and r.port == port]
        return words + [(self.regs[f"{port.upper()}_COMMIT"].offset, 1)]

    async def write(self, port: str, payload: int) -> None:
        """One management write of ``port``, through the bus."""
        for address, value in self.write_words(port, payload):
            await self.bus.write(address, value)

    async def stat(self, address: int, wide: bool = False) -> int:
        """Counter ``address`` (:data:`hw.counters.STAT`); ``wide``: the 64-bit counter whose
        low word it is, low word first."""
        base = self.regs["STAT"].offset
        low = await self.bus.read(base + 4 * address)
        if not wide:
            return low
        return low | await self.bus.read(base + 4 * (address + 1)) << 32

    async def state(self, name: str, index: int) -> int:
        """The state of entry ``index`` of pair ``name`` (``ctx``, ``sa``), as one integer."""
        words = sorted((r for r in self.regs.values() if r.kind == "state" and r.port == name), key=lambda r: r.word)
        value = 0
        for r in words:
            value |= await self.bus.read(r.offset + r.stride * index) << (32 * r.word)
        return value

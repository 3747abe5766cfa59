"""``eesp``: the project's command line.

``eesp verilog [DESIGN ...] [--out DIR] [--groups G] [--contexts C] [--sas S] [--window W] [--max-frame N]
[--sbox lut|bram]``
writes the Verilog (of the designs named, default all) of the eleven top levels (``decap.sv``, ``encap.sv``, ``proxy.sv``,
``espdecap.sv``, ``espencap.sv``, ``pspdecap.sv``, ``pspencap.sv``, the proxies between
profiles ``e2p.sv`` (EESP -> PSP) and ``p2e.sv`` (PSP -> EESP), and ``multidecap.sv`` and
``multiencap.sv`` (EESP and PSP, the profile per frame)), ``axi_decap.sv`` (the decap with
AXI4-Stream and AXI4-Lite ports, :mod:`hw.axi`) and of each core
(``aes256`` / ``gcm``: AES-256 only; ``aes128`` / ``gcm128``: both key sizes), one file a
design (the same text the simulations run, :func:`hw.verilog.to_verilog`), and
``SUMMARY.txt``: each design's parameters and ports (Verilog name, direction, width,
and the bit range of every field of a stream payload).

``eesp registers [--docs FILE] [--header FILE]`` writes the AXI4-Lite register maps of the
top levels (:mod:`hw.regmap`, as :class:`hw.axi.AxiTop` decodes them) as markdown
(default ``docs/registers.md``) and as a C header (default ``include/eesp_regs.h``).

``eesp synth [DESIGN ...] [--pnr DESIGN ...] [--per-module DESIGN ...] [--out DIR]`` synthesises
them with open tools (:mod:`hw.synth`): a Xilinx 7-series mapping of each (the
``--per-module`` ones module by module), an ECP5-85 place and route of the ``--pnr`` ones,
and a table in ``DIR/SUMMARY.md``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from amaranth.hdl import Shape
from amaranth.lib import wiring

from .aes import SBOX_STYLES, Aes
from .axi import AxiTop
from .endpoint import Decap, Encap
from .esp import EspDecap, EspEncap
from .gcm import Gcm
from .ghash import Ghash
from .kdf import KdfEngine
from .keytable import KeyTable
from .multi import MultiDecap, MultiEncap
from .proxy import EespToPsp, Proxy, PspToEesp
from .psp import PspDecap, PspEncap
from .regmap import fields
from .verilog import to_verilog

__all__ = ["main", "designs", "ports", "fields", "register_maps"]


def designs(groups: int, contexts: int, max_frame: int, sas: int = 8, window: int = 64, sbox: str = "lut"
            ) -> dict[str, tuple[object, dict]]:
    """name -> (factory of the component, parameters) of everything ``eesp verilog`` writes
    (factories: only the designs asked for are built); ``sbox`` reaches every design
    with AES pipelines (:class:`hw.aes.Aes`)."""
    return {
        "espdecap": (lambda: EspDecap(sas=sas, window=window, max_frame=max_frame, sbox=sbox),
                     {"sas": sas, "window": window, "max_frame": max_frame, "sbox": sbox}),
        "espencap": (lambda: EspEncap(sas=sas, max_frame=max_frame, sbox=sbox),
                     {"sas": sas, "max_frame": max_frame, "sbox": sbox}),
        "decap": (lambda: Decap(groups=groups, max_frame=max_frame, sbox=sbox),
                  {"groups": groups, "max_frame": max_frame, "sbox": sbox}),
        "axi_decap": (lambda: AxiTop(Decap(groups=groups, max_frame=max_frame, sbox=sbox)),
                      {"groups": groups, "max_frame": max_frame, "wraps": "decap", "sbox": sbox}),
        "encap": (lambda: Encap(groups=groups, contexts=contexts, max_frame=max_frame, sbox=sbox),
                  {"groups": groups, "contexts": contexts, "max_frame": max_frame, "sbox": sbox}),
        "proxy": (lambda: Proxy(groups_a=groups, groups_b=groups, contexts=contexts, max_frame=max_frame, sbox=sbox),
                  {"groups_a": groups, "groups_b": groups, "contexts": contexts, "max_frame": max_frame, "sbox": sbox}),
        "e2p": (lambda: EespToPsp(groups=groups, sas=sas, max_frame=max_frame, sbox=sbox),
                {"groups": groups, "sas": sas, "max_frame": max_frame, "sbox": sbox}),
        "p2e": (lambda: PspToEesp(groups=groups, contexts=contexts, max_frame=max_frame, sbox=sbox),
                {"groups": groups, "contexts": contexts, "maps": 8, "max_frame": max_frame, "sbox": sbox}),
        "multidecap": (lambda: MultiDecap(groups=groups, max_frame=max_frame, sbox=sbox),
                       {"groups": groups, "max_frame": max_frame, "sbox": sbox}),
        "multiencap": (lambda: MultiEncap(groups=groups, contexts=contexts, sas=sas, max_frame=max_frame, sbox=sbox),
                       {"groups": groups, "contexts": contexts, "sas": sas, "max_frame": max_frame, "sbox": sbox}),
        "pspdecap": (lambda: PspDecap(max_frame=max_frame, sbox=sbox), {"max_frame": max_frame, "sbox": sbox}),
        "pspencap": (lambda: PspEncap(sas=sas, max_frame=max_frame, sbox=sbox),
                     {"sas": sas, "max_frame": max_frame, "sbox": sbox}),
        "gcm": (lambda: Gcm(side_width=8, sbox=sbox), {"side_width": 8, "sbox": sbox}),
        "gcm128": (lambda: Gcm(side_width=8, key_sizes=(128, 256), sbox=sbox),
                   {"side_width": 8, "key_sizes": "128,256", "sbox": sbox}),
        "kdf": (lambda: KdfEngine(tag_width=8, sbox=sbox), {"tag_width": 8, "depth": 64, "sbox": sbox}),
        "aes256": (lambda: Aes(user_shape=16, sbox=sbox), {"user_width": 16, "sbox": sbox}),
        "aes128": (lambda: Aes(user_shape=16, key_sizes=(128, 256), sbox=sbox),
                   {"user_width": 16, "key_sizes": "128,256", "sbox": sbox}),
        "ghash": (lambda: Ghash(), {}),
        "keytable": (lambda: KeyTable(groups=groups, tag_shape=8), {"groups": groups, "tag_width": 8}),
    }


def register_maps() -> dict:
    """Top name -> its register map (:func:`hw.regmap.regmap`), every top level at the
    default parameters."""
    from .regmap import regmap

    maps = {}
    for name, (make, _) in designs(4, 16, 2048).items():
        top = make()
        for built in (top, getattr(top, "_inner", None)):   # built for the signature only
            if built is not None:
                built._MustUse__silence = True
        if "stat_addr" in top.signature.members:
            maps[name] = regmap(top)
    return maps


def ports(top: wiring.Component) -> list[tuple[str, str, int, object]]:
    """(Verilog port name, "input"/"output", width, shape) of every port, clock and reset first."""
    out = [("clk", "input", 1, 1), ("rst", "input", 1, 1)]
    for path, member, _ in top.signature.flatten(top):
        name = "__".join(str(p) for p in path)
        flow = "input" if member.flow == wiring.In else "output"
        out.append((name, flow, Shape.cast(member.shape).width, member.shape))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="eesp", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verilog", help="write the Verilog of the top levels and cores, with a port summary")
    v.add_argument("designs", nargs="*", help="designs to write (default: every top and core)")
    v.add_argument("--out", default="build/verilog", help="output directory (default build/verilog)")
    r = sub.add_parser("registers", help="write the AXI4-Lite register maps (markdown and C header)")
    r.add_argument("--docs", default="docs/registers.md", help="markdown file (default docs/registers.md)")
    r.add_argument("--header", default="include/eesp_regs.h", help="C header (default include/eesp_regs.h)")
    y = sub.add_parser("synth", help="area (Xilinx 7-series mapping) and Fmax (ECP5-85 place and route) report")
    y.add_argument("designs", nargs="*", help="designs to synthesise (default: every core and top)")
    y.add_argument("--pnr", nargs="*", default=["aes256", "ghash", "kdf", "keytable"],
                   help="designs also placed and routed on an ECP5-85 (default: aes256 ghash kdf keytable)")
    y.add_argument("--per-module", nargs="*", default=["proxy", "e2p", "p2e"],
                   help="designs mapped module by module, too large to flatten before mapping in the "
                        "WebAssembly Yosys (default: proxy e2p p2e)")
    y.add_argument("--out", default="results/synth", help="output directory (default results/synth)")
    for parser in (v, y):
        parser.add_argument("--groups", type=int, default=4, help="trust groups of the key table (default 4)")
        parser.add_argument("--contexts", type=int, default=16, help="sender contexts of the encap and proxy (default 16)")
        parser.add_argument("--sas", type=int, default=8, help="SA table entries of the ESP tops (default 8)")
        parser.add_argument("--window", type=int, default=64, help="anti-replay window of the ESP decap (default 64)")
        parser.add_argument("--max-frame", type=int, default=2048, help="largest frame in octets (default 2048)")
        parser.add_argument("--sbox", choices=SBOX_STYLES, default="lut",
                            help="where the AES pipelines keep their S-boxes: LUTs (default) or block RAM")
    args = ap.parse_args(argv)
    if args.cmd == "registers":
        from .regmap import c_header, markdown

        maps = register_maps()
        for path, text in ((args.docs, markdown(maps)), (args.header, c_header(maps))):
            pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
            pathlib.Path(path).write_text(text)
            print(f"wrote {path}")
        return 0
    for name, value, low in (("--groups", args.groups, 1), ("--contexts", args.contexts, 1),
                             ("--sas", args.sas, 1), ("--window", args.window, 64),
                             ("--max-frame", args.max_frame, 64)):
        if value < low:
            ap.error(f"{name} must be at least {low}")
    if args.max_frame >= 1 << 16:
        ap.error("--max-frame must be below 65536 (16-bit frame lengths)")
    every = designs(args.groups, args.contexts, args.max_frame, args.sas, args.window, args.sbox)
    unknown = sorted(set(args.designs + getattr(args, "pnr", []) + getattr(args, "per_module", [])) - set(every))
    if unknown:
        ap.error(f"no such designs: {unknown} (known: {sorted(every)})")
    if args.cmd == "synth":
        from .synth import run

        print(run({name: (make(), params) for name, (make, params) in every.items()
                   if name in (args.designs or list(every))}, args.designs or list(every), args.pnr,
                  pathlib.Path(args.out), args.per_module))
        return 0
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = []
    for name in args.designs or list(every):
        make, params = every[name]
        top = make()
        (out / f"{name}.sv").write_text(to_verilog(top, name))
        summary.append(f"module {name}  ({', '.join(f'{k}={v}' for k, v in params.items()) or 'no parameters'})")
        for n, d, w, shape in ports(top):
            summary.append(f"  {d:6} {f'[{w - 1}:0]' if w > 1 else '':9} {n}")
            summary += [f"      {n}[{hi}:{lo}]  {path}" for path, hi, lo in fields(shape)]
        summary.append("")
        print(f"wrote {out / (name + '.sv')}")
    (out / "SUMMARY.txt").write_text("\n".join(summary))
    print(f"wrote {out / 'SUMMARY.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

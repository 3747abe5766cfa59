"""``python -m tb.axi_example DIR``: the plain-Verilog example of ``examples/axi_decap/``
(its ``tb.v``, the generated ``axi_decap.sv``, ``stimulus.hex`` and ``stimulus.vh``) in DIR,
ready for
``iverilog -g2012 -o sim tb.v axi_decap.sv && vvp sim``.

The stimulus comes from the golden model: the key-table writes of a trust-group set-up
(as the register map stages and commits them), CONTROL (``drop_bad`` 0), then three frames
the model's endpoint sealed (a DeviceID frame, a ConnectionID frame with the Master Key
Option, and the second one with a bit of its ICV flipped) with what ``Endpoint.open``
returns for each: the opened frames with code 0, the damaged one as its outer octets
with AUTH_FAIL.
"""

from __future__ import annotations

import pathlib
import random
import shutil
import sys

from hw.axi import AxiTop
from hw.endpoint import Decap
from hw.regmap import Driver
from hw.verilog import to_verilog
from model.endpoint import SenderContext
from model.errors import EespError
from tb.endpoint_tb import DEFAULT, World, write_payloads

__all__ = ["stimulus", "write_example"]

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "axi_decap"


def _words(octets: bytes) -> list[int]:
    padded = octets + bytes(-len(octets) % 4)
    return [int.from_bytes(padded[k:k + 4], "little") for k in range(0, len(padded), 4)]


def stimulus(seed: int = 1) -> list[int]:
    """The words of stimulus.hex (format in examples/axi_decap/tb.v)."""
    rng = random.Random(seed)
    world = World(random.Random(seed + 1))
    top = Decap()
    top._MustUse__silence = True        # built for its register map only
    drv = Driver(top, bus=None)         # only its address lists: the Verilog testbench writes them
    writes = [w for payload in write_payloads(world.writes) for w in drv.write_words("wr", payload)]
    writes.append((drv.regs["CONTROL"].offset, 0))      # drop_bad 0: a refused frame leaves with its code
    frames = []
    for group, kind, option in ((DEFAULT, 0, False), (1, 1, True)):
        ctx = SenderContext(group, kind, rng.randbytes(4 << kind), rng.randrange(1 << 16), key_option=option)
        frames.append((world.ep.seal(rng.randbytes(34) + rng.randbytes(rng.randrange(20, 100)), 34, ctx), 34))
    damaged = bytearray(frames[-1][0])
    damaged[-1] ^= 0x10
    frames.append((bytes(damaged), 34))
    out = [len(writes), *[v for pair in writes for v in pair], len(frames)]
    for frame, o in frames:
        try:
            opened, code = world.ep.open(frame, o).frame, 0
        except EespError as e:
            opened, code = frame[:o], int(e.code)
        out += [o, len(frame), *_words(frame), len(opened), code, *_words(opened)]
    return out


def write_example(directory: pathlib.Path, seed: int = 1, spoil: bool = False) -> None:
    """tb.v, axi_decap.sv and stimulus.hex in ``directory`` (``spoil``: one expected
    octet changed, so that the testbench must fail)."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE / "tb.v", directory / "tb.v")
    (directory / "axi_decap.sv").write_text(to_verilog(AxiTop(Decap()), "axi_decap"))
    words = stimulus(seed)
    if spoil:
        words[-1] ^= 0x01
    words += [0] * 4        # a beat's worth past the end: the last frame's reads stay defined
    (directory / "stimulus.hex").write_text("".join(f"{w:08x}\n" for w in words))
    (directory / "stimulus.vh").write_text(f"localparam WORDS = {len(words)};\n")


if __name__ == "__main__":
    write_example(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build/axi_example"))

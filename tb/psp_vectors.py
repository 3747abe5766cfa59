"""Google's PSP reference outputs (``../shared/vectors/google-psp/``, outside the project):
the cases of its ``manifest.tsv`` as the model and the RTL benches take them.

Each case names an encrypt configuration (``cfg/*.cfg``: master keys 0 and 1, SPI,
``transport`` / ``tunnel``, ``aes-gcm-128`` / ``aes-gcm-256``, the crypt offsets for
transport, IPv4 tunnel and IPv6 tunnel in 4-octet units, ``vc`` / ``no-vc``), a cleartext
pcap and the reference implementation's output pcap (none for the two ``_err`` cases,
whose reference encrypts and then sets the top R bit of header octet 2, so that the
receiver must refuse the frame).

What the stage in front of our engine would hand it (spec 12.6), derived here from the
cleartext frame: transport mode protects the IP payload (O = 14 + the IP header length,
Next Header = the IP protocol); tunnel mode the whole IP packet (O = 14, Next Header 4 or
41). In the reference output the PSP header sits after the outer IP and UDP headers
(octet 42 for IPv4, 62 for IPv6); from there to the end the octets are the engine's.
"""

from __future__ import annotations

import dataclasses
import pathlib

__all__ = ["ROOT", "PspCase", "cases", "available"]

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "vectors" / "google-psp"


@dataclasses.dataclass
class PspCase:
    name: str
    master_keys: tuple[bytes, bytes]
    spi: int
    version: int
    crypt_offset: int
    vc: bool
    clear: bytes                  #: the cleartext frame
    offset: int                   #: O: where the PSP header goes in the cleartext frame
    next_header: int
    reference: bytes | None       #: the reference output frame (None: an _err case)
    psp_at: int                   #: where the PSP header is in the reference output


def available() -> bool:
    return (ROOT / "manifest.tsv").exists()


def _frames(path: pathlib.Path) -> list[bytes]:
    from scapy.utils import rdpcap      # a pcap reader nobody here wrote
    return [bytes(p) for p in rdpcap(str(path))]


def cases() -> list[PspCase]:
    """Every row of the manifest, in its order."""
    rows = (ROOT / "manifest.tsv").read_text().splitlines()
    out = []
    for row in rows[1:]:
        name, cfg_name, clear_name, ref_name = row.split("\t")
        tok = (ROOT / "cfg" / cfg_name).read_text().split()
        mk0, mk1 = bytes(int(t, 16) for t in tok[0:32]), bytes(int(t, 16) for t in tok[32:64])
        spi, mode, alg = int(tok[64], 16), tok[65], tok[66]
        co_transport, co_tun4, co_tun6, vc = int(tok[67]), int(tok[68]), int(tok[69]), tok[70] == "vc"
        (clear,) = _frames(ROOT / "pcap" / clear_name)
        v4 = clear[12:14] == b"\x08\x00"
        if mode == "tunnel":
            offset, nh, co = 14, 4 if v4 else 41, co_tun4 if v4 else co_tun6
        else:
            offset = 14 + (4 * (clear[14] & 0xF) if v4 else 40)
            nh, co = clear[14 + 9] if v4 else clear[14 + 6], co_transport
        reference = None if ref_name.startswith("(none") else _frames(ROOT / ref_name)[0]
        out.append(PspCase(name, (mk0, mk1), spi, {"aes-gcm-128": 0, "aes-gcm-256": 1}[alg], co, vc,
                           clear, offset, nh, reference, 42 if v4 else 62))
    return out

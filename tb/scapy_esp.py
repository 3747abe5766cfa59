"""Packets for the Minimal ESP interop checks with scapy (an ESP implementation nobody
here wrote): the same inner packet in each framing of RFC 4303, as scapy's
``SecurityAssociation`` takes it and as our model and RTL take it (frame and header
offset), and the outer-header fix-up the stage in front of the engine does (spec 9.4).
Used by tests/test_model_esp.py (model) and tb/esp_tb.py (RTL)."""

from __future__ import annotations

__all__ = ["MODES", "layers", "scenario", "as_esp_packet"]


def layers():
    """The scapy names the checks use (scapy is a test dependency)."""
    from scapy.compat import raw
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.ipsec import ESP, SecurityAssociation as ScapySA
    from scapy.packet import Raw
    return raw, IP, IPv6, UDP, TCP, ESP, ScapySA, Raw


MODES = ["tunnel4in4", "tunnel6in4", "tunnel4in6", "transport4", "transport6"]


def scenario(mode: str, body: bytes):
    """(scapy SA kwargs, packet given to scapy, our frame, our offset, Next Header)."""
    raw, IP, IPv6, UDP, TCP, _, _, Raw = layers()
    v4 = IP(src="192.0.2.1", dst="198.51.100.7", id=7) / UDP(sport=4500, dport=53) / Raw(body)
    v6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=1234, dport=80, flags="PA") / Raw(body)
    if mode.startswith("tunnel"):
        inner = v4 if mode.startswith("tunnel4") else v6
        outer = IP(src="203.0.113.1", dst="203.0.113.2") if mode.endswith("in4") else IPv6(src="2001:db8:f::1", dst="2001:db8:f::2")
        inner = inner.__class__(raw(inner))
        return dict(tunnel_header=outer), inner, raw(outer) + raw(inner), len(raw(outer)), 4 if inner.version == 4 else 41
    pkt = v4 if mode == "transport4" else v6
    pkt = pkt.__class__(raw(pkt))
    hl = 20 if mode == "transport4" else 40
    return {}, pkt, raw(pkt), hl, 17 if mode == "transport4" else 6


def as_esp_packet(frame: bytes, offset: int):
    """What the stage in front of the engine does (spec 9.4): outer Protocol = 50, lengths."""
    raw, IP, IPv6, *_ = layers()
    if frame[0] >> 4 == 4:
        h = IP(frame[:offset])
        h.proto, h.len, h.chksum = 50, len(frame), None
    else:
        h = IPv6(frame[:offset])
        h.nh, h.plen = 50, len(frame) - offset
    return h.__class__(raw(h)[:offset] + frame[offset:])

"""Reference values several benches need, computed with ``cryptography`` (never by the
code under test)."""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["hash_key"]


def hash_key(key: bytes) -> int:
    """GCM's hash key H = AES(key, 0^128) (SP 800-38D 6.4) of a 16- or 32-octet key, as a
    big-endian integer (the first octet in bits 127..120)."""
    e = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return int.from_bytes(e.update(bytes(16)) + e.finalize(), "big")

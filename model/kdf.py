"""Key derivation (docs/spec.md section 5), on the ``cryptography`` package.

One SP 800-108 counter-mode KDF with an AES-CMAC PRF serves three users:

* :func:`kbkdf_cmac` — the generic form, fixed input given as bytes (the NIST CAVP
  ``KBKDF-CTR`` records are written that way);
* :func:`data_key` — the profile's data key: label "E0"/"E1", context ID8 || Epoch,
  8-bit counter, 16-bit length, so each PRF input is exactly one AES block;
* :func:`psp_key` — Google PSP's key derivation (label "Pv0"/"Pv1", context SPI,
  32-bit counter and length), which checks the same code against the PSP spec's
  published example keys.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.kbkdf import CounterLocation, KBKDFCMAC, Mode

__all__ = ["LABELS", "kbkdf_cmac", "fixed_input", "data_key", "master_key", "psp_key", "id8", "cmac_subkey"]

#: KDF label per ID kind V (spec section 5): "E0" DeviceID, "E1" ConnectionID.
LABELS: dict[int, bytes] = {0: b"E0", 1: b"E1"}
#: Octets of the ID per ID kind V.
ID_LEN: dict[int, int] = {0: 4, 1: 8}


def kbkdf_cmac(key: bytes, fixed: bytes, length: int, rlen: int) -> bytes:
    """SP 800-108 counter mode, PRF = AES-CMAC, counter ``[i]_(8*rlen)`` before ``fixed``.

    ``length`` is the output length in octets; ``key`` 16, 24 or 32 octets.
    """
    kdf = KBKDFCMAC(
        algorithm=algorithms.AES,
        mode=Mode.CounterMode,
        length=length,
        rlen=rlen,
        llen=None,
        location=CounterLocation.BeforeFixed,
        label=None,
        context=None,
        fixed=fixed,
    )
    return kdf.derive(key)


def id8(kind: int, ident: bytes) -> bytes:
    """The ID as the 8-octet ``ID8`` of spec section 3 (a DeviceID zero-extended on the left)."""
    if kind not in ID_LEN:
        raise ValueError(f"ID kind must be 0 (DeviceID) or 1 (ConnectionID), not {kind}")
    if len(ident) != ID_LEN[kind]:
        raise ValueError(f"ID kind {kind} takes {ID_LEN[kind]} octets, got {len(ident)}")
    return bytes(8 - len(ident)) + ident


def fixed_input(kind: int, ident: bytes, epoch: int) -> bytes:
    """The 15 octets after the counter: Label || 00 || ID8 || [Epoch]_16 || [256]_16."""
    if not 0 <= epoch < 1 << 16:
        raise ValueError(f"epoch must fit 16 bits, not {epoch}")
    ident8 = id8(kind, ident)
    return LABELS[kind] + b"\x00" + ident8 + epoch.to_bytes(2, "big") + (256).to_bytes(2, "big")


def data_key(mk: bytes, kind: int, ident: bytes, epoch: int) -> bytes:
    """The 256-bit data key ``DK = CMAC(MK, [1]_8 || f) || CMAC(MK, [2]_8 || f)``."""
    if len(mk) != 32:
        raise ValueError("the master key is 32 octets")
    return kbkdf_cmac(mk, fixed_input(kind, ident, epoch), 32, rlen=1)


def master_key(zone: bytes, user: bytes, task: bytes) -> bytes:
    """``MK = K_zone xor K_user xor K_task`` (spec section 4.2)."""
    if not len(zone) == len(user) == len(task) == 32:
        raise ValueError("root keys are 32 octets")
    return bytes(a ^ b ^ c for a, b, c in zip(zone, user, task))


def psp_key(master: bytes, spi: int, version: int) -> bytes:
    """Google PSP's SA key (PSP Architecture Specification, "Key derivation").

    Fixed input = ``"Pv" version 00 || SPI || [L]_32``, counter 32 bits; version 0 gives
    a 128-bit key, version 1 a 256-bit key. ``master`` is the key selected by SPI bit 31.
    """
    bits = {0: 128, 1: 256}[version]
    fixed = b"Pv" + bytes([0x30 + version, 0]) + spi.to_bytes(4, "big") + bits.to_bytes(4, "big")
    return kbkdf_cmac(master, fixed, bits // 8, rlen=4)


def cmac_subkey(key: bytes) -> bytes:
    """SP 800-38B subkey ``K1 = dbl(AES(key, 0^128))``: what the one-block CMAC XORs in.

    Not used by :func:`data_key` (the ``cryptography`` CMAC does this itself); it is
    listed in the worked examples for hardware implementers of spec section 5.
    """
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    ell = int.from_bytes(enc.update(bytes(16)) + enc.finalize(), "big")
    k1 = (ell << 1) & ((1 << 128) - 1)
    return (k1 ^ (0x87 if ell >> 127 else 0)).to_bytes(16, "big")

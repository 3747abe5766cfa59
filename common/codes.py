"""Result codes of the profile (docs/spec.md section 2.2, "Validity rules and result codes").

The numeric values are part of the spec: the RTL reports the same numbers in the
``user`` sideband of a frame it passes with an error, and its per-class drop counters
are indexed by them. Every refusal in the model raises ``model.errors.EespError``
carrying one of these codes, so a test can tell *which* rule a frame broke.
"""

from __future__ import annotations

import enum

__all__ = ["Code"]


class Code(enum.IntEnum):
    """Why a frame was refused (0 = accepted). Five bits wide on the wire of the RTL."""

    OK = 0
    # Security header validity, checked in this order (spec 2.2).
    TRUNCATED = 1          #: frame ends before the word being read, or before header + ICV
    BAD_VERSION = 2        #: Version != 1
    BAD_ID_KIND = 3        #: V = 2 or 3 (reserved ID kinds)
    BAD_RESERVED = 4       #: a Reserve bit of word 0 is set
    BAD_OPTION = 5         #: Master Key Option: Type, Length, Root Key Index or Padding invalid
    BAD_HL = 6             #: HL differs from the length the fields imply
    BAD_IOFFSET = 7        #: IOffset reaches before the start of the frame
    BAD_COFFSET = 8        #: COffset reaches into the ICV or past the frame
    # Key resolution.
    UNKNOWN_GROUP = 9      #: no trust group has this Root Key ID (or no default group, K = 0)
    UNKNOWN_KEY = 10       #: a generation tag matches no installed slot of its root-key type
    # Cryptography.
    AUTH_FAIL = 11         #: the ICV does not verify
    COUNTER_EXHAUSTED = 12 #: the sender's 48-bit counter is used up for this (ID, epoch)
    # Proxy.
    NO_MAPPING = 13        #: the proxy has no egress mapping for the ingress trust group
    # Datapath limits (RTL only: the model has no frame length limit and no beats).
    TOO_LONG = 14          #: the frame is longer than the datapath's ``max_frame`` octets
    BAD_FRAMING = 15       #: a beat broke the stream contract (keep not contiguous, a non-last beat not full)
    # Minimal ESP mode (spec section 9).
    ESP_BAD_SPI = 16       #: SPI 0..255 (reserved) on receive
    ESP_UNKNOWN_SPI = 17   #: no SA has this SPI
    ESP_REPLAY = 18        #: SN already received inside the window
    ESP_STALE = 19         #: SN left of the anti-replay window
    ESP_BAD_PAD = 20       #: padding bytes are not 1, 2, 3, ... or Pad Length too large
    ESP_DUMMY = 21         #: Next Header 59: verified and dropped silently (counted, not an error)
    ESP_SN_EXHAUSTED = 22  #: the sender's sequence number would wrap
    ESP_TRUNCATED = 23     #: frame shorter than SPI + SN + IV + trailer + ICV
    # Sender side (EESP).
    NO_CONTEXT = 24        #: the sender context was never written, or was cleared (or lost at reset)
    # PSP profile (spec section 12); PSP also uses UNKNOWN_KEY, AUTH_FAIL, COUNTER_EXHAUSTED,
    # NO_CONTEXT, TOO_LONG and BAD_FRAMING.
    PSP_TRUNCATED = 25     #: frame shorter than O + header (16) + ICV (16), or (send) O past its end
    PSP_BAD_VERSION = 26   #: Version not 0 (AES-GCM-128) or 1 (AES-GCM-256)
    PSP_BAD_HEADER = 27    #: the always-1 bit is 0, or Hdr Ext Len < 1 (+1 with V set)
    PSP_BAD_SPI = 28       #: SPI's low 31 bits are 0 (reserved)
    PSP_BAD_OFFSET = 29    #: header extension or crypt offset reaches past the payload

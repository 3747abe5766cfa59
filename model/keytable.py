"""Key table with root-key XOR and generation-tag rotation (docs/spec.md section 4).

Groups are addressed by an integer index, as in the RTL's table. The low-level writes
(:meth:`KeyTable.write_slot`, :meth:`KeyTable.set_current`) are what the RTL's
management port does; :meth:`KeyTable.provision` and :meth:`KeyTable.rotate` are the
spec's procedures built on them. No method returns a root key or a master key to the
caller except :meth:`KeyTable.master_key` and :meth:`KeyTable.sender_master_key`, which
the datapath itself uses to derive data keys.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .errors import Code, EespError
from .header import OPTION_LEN, KeyOption
from .kdf import master_key

__all__ = ["KeyType", "KeyTable"]

SLOTS = 3


class KeyType(enum.IntEnum):
    """Root-key types, in the order of their tags in the Root Key Index."""

    ZONE = 0
    USER = 1
    TASK = 2


@dataclass
class _Slot:
    tag: int
    key: bytes = field(repr=False)


@dataclass
class _Group:
    root_key_id: bytes
    slots: list[list[_Slot | None]] = field(default_factory=lambda: [[None] * SLOTS for _ in KeyType])
    current: list[int | None] = field(default_factory=lambda: [None] * len(KeyType))


class KeyTable:
    """Trust groups, each with three root-key types x three tagged slots."""

    def __init__(self) -> None:
        self._groups: dict[int, _Group] = {}
        self.default_group: int | None = None

    # -- management plane -------------------------------------------------------------
    def add_group(self, group: int, root_key_id: bytes) -> None:
        """Create (or re-create, emptied) group ``group`` named by ``root_key_id``."""
        if len(root_key_id) not in OPTION_LEN:
            raise ValueError("Root Key ID is 16 or 32 octets")
        if any(g.root_key_id == root_key_id for i, g in self._groups.items() if i != group):
            raise ValueError("Root Key ID already names another group")
        self._groups[group] = _Group(bytes(root_key_id))

    def write_slot(self, group: int, ktype: KeyType, slot: int, tag: int, key: bytes) -> None:
        """Install ``key`` with generation ``tag`` into a slot of one root-key type."""
        if len(key) != 32 or not 0 <= tag < 4 or not 0 <= slot < SLOTS:
            raise ValueError("a 32-octet key, a 2-bit tag and a slot 0..2")
        g = self._group(group)
        others = [s for i, s in enumerate(g.slots[ktype]) if i != slot and s is not None]
        if any(s.tag == tag for s in others):
            raise ValueError(f"tag {tag} already installed for {KeyType(ktype).name}")
        g.slots[ktype][slot] = _Slot(tag, bytes(key))

    def set_current(self, group: int, ktype: KeyType, slot: int) -> None:
        """Mark the slot a sender uses (and K = 0 frames resolve to) for one type."""
        g = self._group(group)
        if g.slots[ktype][slot] is None:
            raise ValueError("current slot must hold a key")
        g.current[ktype] = slot

    def provision(self, group: int, ktype: KeyType, pre: bytes, cur: bytes, nxt: bytes, tag: int) -> None:
        """Install pre/current/next with tags ``tag-1, tag, tag+1`` (mod 4) in slots 0, 1, 2."""
        g = self._group(group)
        g.slots[ktype] = [None] * SLOTS
        g.current[ktype] = None
        for slot, (key, t) in enumerate(((pre, tag - 1), (cur, tag), (nxt, tag + 1))):
            self.write_slot(group, ktype, slot, t % 4, key)
        self.set_current(group, ktype, 1)

    def rotate(self, group: int, ktype: KeyType, new_key: bytes) -> None:
        """Spec 4.4: next becomes current; ``new_key`` takes tag c+2 in the pre slot."""
        g = self._group(group)
        c = self._current_slot(g, ktype).tag
        by_tag = {s.tag: i for i, s in enumerate(g.slots[ktype]) if s is not None}
        if (c + 1) % 4 not in by_tag or (c - 1) % 4 not in by_tag:
            raise ValueError("rotation needs pre, current and next installed")
        pre_slot = by_tag[(c - 1) % 4]
        g.current[ktype] = by_tag[(c + 1) % 4]
        g.slots[ktype][pre_slot] = None
        self.write_slot(group, ktype, pre_slot, (c + 2) % 4, new_key)

    # -- datapath -----------------------------------------------------------------------
    def sender_option(self, group: int) -> KeyOption:
        """The Master Key Option a sender in ``group`` writes: its ID and current tags."""
        g = self._group(group)
        tags = tuple(self._current_slot(g, t).tag for t in KeyType)
        return KeyOption(g.root_key_id, tags)  # type: ignore[arg-type]

    def sender_master_key(self, group: int) -> bytes:
        """MK from the current slot of each type."""
        g = self._group(group)
        return master_key(*(self._current_slot(g, t).key for t in KeyType))

    def sender(self, group: int, key_option: bool) -> tuple[KeyOption | None, bytes]:
        """Send-side lookup (spec 4.3): the option a sender in ``group`` writes (None for
        K = 0) and its MK. UNKNOWN_GROUP: no such group, or K = 0 and ``group`` is not
        the default group; UNKNOWN_KEY: a type has no current key."""
        if group not in self._groups:
            raise EespError(Code.UNKNOWN_GROUP, f"no trust group {group}")
        if not key_option and self.default_group != group:
            raise EespError(Code.UNKNOWN_GROUP, "K = 0 only for the default group (spec 4.3)")
        mk = self.sender_master_key(group)
        return (self.sender_option(group) if key_option else None), mk

    def master_key(self, option: KeyOption | None) -> tuple[int, bytes]:
        """Receive-side lookup (rules 11 and 12): the group index and its MK for a frame."""
        if option is None:
            if self.default_group is None or self.default_group not in self._groups:
                raise EespError(Code.UNKNOWN_GROUP, "K = 0 and no default group")
            return self.default_group, self.sender_master_key(self.default_group)
        for index, g in self._groups.items():
            if g.root_key_id == option.root_key_id:
                break
        else:
            raise EespError(Code.UNKNOWN_GROUP, f"Root Key ID {option.root_key_id.hex()}")
        keys = []
        for t, tag in zip(KeyType, option.tags):
            slot = next((s for s in g.slots[t] if s is not None and s.tag == tag), None)
            if slot is None:
                raise EespError(Code.UNKNOWN_KEY, f"{t.name} tag {tag}")
            keys.append(slot.key)
        return index, master_key(*keys)

    # -- helpers ------------------------------------------------------------------------
    def _group(self, group: int) -> _Group:
        if group not in self._groups:
            raise KeyError(f"no trust group {group}")
        return self._groups[group]

    @staticmethod
    def _current_slot(g: _Group, ktype: KeyType) -> _Slot:
        slot = g.current[ktype]
        if slot is None:
            raise EespError(Code.UNKNOWN_KEY, f"{KeyType(ktype).name} has no current key")
        return g.slots[ktype][slot]  # type: ignore[return-value]

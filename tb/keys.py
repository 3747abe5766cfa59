"""The golden model's key table and the management writes that give hw.keytable the same
contents, operation by operation (tests and testbenches of the key table and the endpoint)."""

from __future__ import annotations

import random

from hw.keytable import Op
from model.keytable import KeyTable as ModelTable
from model.keytable import KeyType

__all__ = ["Shadow"]


class Shadow:
    """Model table plus the HW writes that mirror each model operation."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.model = ModelTable()
        self.slot_tags: dict[tuple[int, int], list[int]] = {}   # (group, type) -> tag of slot 0..2
        self.cur: dict[tuple[int, int], int] = {}               # (group, type) -> current slot

    def add_group(self, g: int, rkid: bytes) -> list[dict]:
        self.model.add_group(g, rkid)
        writes = [dict(op=Op.SET_GROUP, group=g, long=int(len(rkid) == 32), data=int.from_bytes(rkid, "big"))]
        for t in KeyType:
            keys = [self.rng.randbytes(32) for _ in range(3)]
            c = self.rng.randrange(4)
            self.model.provision(g, t, *keys, c)
            self.slot_tags[g, t] = [(c - 1) % 4, c, (c + 1) % 4]
            self.cur[g, t] = 1
            writes += [dict(op=Op.WRITE_SLOT, group=g, ktype=t, slot=s, tag=self.slot_tags[g, t][s],
                            data=int.from_bytes(keys[s], "big")) for s in range(3)]
            writes.append(dict(op=Op.SET_CURRENT, group=g, ktype=t, slot=1))
        return writes

    def rotate(self, g: int, t: KeyType) -> list[dict]:
        tags = self.slot_tags[g, t]
        c = tags[self.cur[g, t]]
        nxt, pre = tags.index((c + 1) % 4), tags.index((c - 1) % 4)
        new = self.rng.randbytes(32)
        self.model.rotate(g, t, new)
        tags[pre] = (c + 2) % 4
        self.cur[g, t] = nxt
        return [dict(op=Op.SET_CURRENT, group=g, ktype=t, slot=nxt),
                dict(op=Op.WRITE_SLOT, group=g, ktype=t, slot=pre, tag=(c + 2) % 4, data=int.from_bytes(new, "big"))]

"""hw.keytable.KeyTable against the golden model's ``model.keytable.KeyTable``, in
amaranth.sim: the same management history (groups, provisioning, rotations of each type,
default group) applied to both, then lookups of every kind compared answer for answer
(code, group, master key; for sends the Root Key ID and current tags too), with lookups
running between and during the writes of a rotation.
"""

from __future__ import annotations

import random

from amaranth.sim import Simulator

from hw.keytable import KeyTable, Op, query_layout, write_layout
from model.errors import Code, EespError
from model.header import KeyOption
from model.keytable import KeyTable as ModelTable
from model.keytable import KeyType
from tb.keys import Shadow

G = 4


def expected(model: ModelTable, q: dict, rkids: dict[int, bytes]) -> dict:
    try:
        if q["send"]:
            opt = model.sender_option(q["group"])
            mk = model.sender_master_key(q["group"])
            z, u, t = opt.tags
            return dict(code=0, group=q["group"], mk=int.from_bytes(mk, "big"), tags=z << 4 | u << 2 | t,
                        rkid=int.from_bytes(opt.root_key_id, "big"), long=int(len(opt.root_key_id) == 32))
        if q["k"]:
            tags = q["tags"]
            opt = KeyOption(q["rkid"].to_bytes(32 if q["long"] else 16, "big"), (tags >> 4, tags >> 2 & 3, tags & 3))
            g, mk = model.master_key(opt)
        else:
            g, mk = model.master_key(None)
        return dict(code=0, group=g, mk=int.from_bytes(mk, "big"))
    except (EespError, KeyError) as e:
        code = e.code if isinstance(e, EespError) else Code.UNKNOWN_GROUP  # KeyError: no such group
        return dict(code=int(code), mk=0)


def random_query(rng: random.Random, rkids: dict[int, bytes]) -> dict:
    kind = rng.choice(["rkid", "rkid", "rkid", "default", "send"])
    q = dict(send=int(kind == "send"), k=int(kind == "rkid"), group=rng.randrange(G), tags=rng.randrange(64),
             rkid=0, long=0)
    if kind == "rkid":
        rkid = rng.choice(list(rkids.values()) + [rng.randbytes(16)])
        if rng.random() < 0.1:
            rkid = bytes(16) + rkid if len(rkid) == 16 else rkid  # the same integer, 32 octets long
        q.update(rkid=int.from_bytes(rkid, "big"), long=int(len(rkid) == 32))
    return q


def test_key_table_matches_model_through_rotations() -> None:
    rng = random.Random(3)
    top = KeyTable(groups=G, tag_shape=16)
    shadow = Shadow(rng)
    rkids = {0: rng.randbytes(16), 1: rng.randbytes(32), 2: rng.randbytes(16)}
    steps: list[tuple[str, object]] = []   # ("w", write) or ("q", query) in order
    for g, rkid in rkids.items():
        steps += [("w", w) for w in shadow.add_group(g, rkid)]
    # group 3: named, never provisioned (no current key: UNKNOWN_KEY)
    rkids[3] = rng.randbytes(16)
    shadow.model.add_group(3, rkids[3])
    steps.append(("w", dict(op=Op.SET_GROUP, group=3, long=0, data=int.from_bytes(rkids[3], "big"))))
    shadow.model.default_group = 1
    steps.append(("w", dict(op=Op.SET_DEFAULT, group=1)))
    expect: list[dict] = []

    def query():
        q = random_query(rng, rkids)
        steps.append(("q", q))
        expect.append(expected(shadow.model, q, rkids))

    for _ in range(60):
        query()
    for _ in range(40):   # rotations, with lookups in between and between the two writes
        g, t = rng.choice([0, 1, 2]), rng.choice(list(KeyType))
        w1, w2 = shadow.rotate(g, t)
        steps.append(("w", w1))
        steps.append(("w", w2))
        for _ in range(rng.randrange(6)):
            query()
    # a duplicate Root Key ID is refused and changes nothing
    steps.append(("w", dict(op=Op.SET_GROUP, group=3, long=0, data=int.from_bytes(rkids[0], "big"))))
    for _ in range(30):
        query()

    WL = write_layout(G)
    QL = query_layout(G, 16)
    got: list[dict] = []
    rejected: list[int] = []

    async def bench(ctx):
        n = 0
        for kind, item in steps:
            if kind == "w":
                ctx.set(top.wr.valid, 1)
                ctx.set(top.wr.payload, {**{f: 0 for f, _ in WL}, **item})
                await ctx.tick()
                ctx.set(top.wr.valid, 0)
            else:
                ctx.set(top.q.valid, 1)
                ctx.set(top.q.payload, {**{f: 0 for f, _ in QL}, **item, "tag": n})
                n += 1
                await ctx.tick().until(top.q.ready)
                ctx.set(top.q.valid, 0)
        for _ in range(10):
            await ctx.tick()
        rejected.append(ctx.get(top.rejected))

    async def sink(ctx):
        stall = random.Random(9)
        while True:
            ready = stall.random() < 0.7
            ctx.set(top.r.ready, ready)
            await ctx.delay(1e-9)
            if ready and ctx.get(top.r.valid):
                r = ctx.get(top.r.payload)
                got.append(dict(code=r.code, group=r.group, mk=r.mk, tags=r.tags, rkid=r.rkid, long=r.long, tag=r.tag))
            await ctx.tick()

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_testbench(sink, background=True)
    sim.run()
    assert len(got) == len(expect)
    assert {e["code"] for e in expect} >= {0, Code.UNKNOWN_GROUP, Code.UNKNOWN_KEY}
    for n, (g, e) in enumerate(zip(got, expect)):
        assert g["tag"] == n, "answers out of order"
        assert {k: g[k] for k in e} == e, f"query {n}: got {g}, expected {e}"
    assert rejected == [1], "the duplicate Root Key ID write is counted as refused"

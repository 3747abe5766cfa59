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
            _, mk = model.sender(q["group"], bool(q["k"]))     # K = 0: the default group only
            opt = model.sender_option(q["group"])              # the header's fields, for K = 1
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
    except EespError as e:
        return dict(code=int(e.code), mk=0)


def random_query(rng: random.Random, rkids: dict[int, bytes]) -> dict:
    kind = rng.choice(["rkid", "rkid", "rkid", "default", "send"])
    k = int(kind == "rkid" or (kind == "send" and rng.random() < 0.7))
    q = dict(send=int(kind == "send"), k=k, group=rng.randrange(G), tags=rng.randrange(64),
             rkid=0, long=0)
    if kind == "rkid":
        rkid = rng.choice(list(rkids.values()) + [rng.randbytes(16)])
        if rng.random() < 0.1:
            rkid = bytes(16) + rkid if len(rkid) == 16 else rkid  # the same integer, 32 octets long
        q.update(rkid=int.from_bytes(rkid, "big"), long=int(len(rkid) == 32))
    return q


def _simulate(top, bench, background=None) -> None:
    """Run ``bench`` (and ``background`` beside it, if given) on ``top`` until ``bench`` ends."""
    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    if background is not None:
        sim.add_testbench(background, background=True)
    sim.run()


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
                while not ctx.get(top.wr.ready):     # a lookup in the table's first stages, a write in W
                    await ctx.tick()
                await ctx.tick()
                ctx.set(top.wr.valid, 0)
                await ctx.tick()
                rejected.append(ctx.get(top.refused))   # two cycles after the transfer's
            else:
                ctx.set(top.q.valid, 1)
                ctx.set(top.q.payload, {**{f: 0 for f, _ in QL}, **item, "tag": n})
                n += 1
                await ctx.tick().until(top.q.ready)
                ctx.set(top.q.valid, 0)
        for _ in range(10):
            await ctx.tick()

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

    _simulate(top, bench, sink)
    assert len(got) == len(expect)
    assert {e["code"] for e in expect} >= {0, Code.UNKNOWN_GROUP, Code.UNKNOWN_KEY}
    for n, (g, e) in enumerate(zip(got, expect)):
        assert g["tag"] == n, "answers out of order"
        assert {k: g[k] for k in e} == e, f"query {n}: got {g}, expected {e}"
    assert sum(rejected) == 1 and rejected[-1], "the duplicate Root Key ID write (only) is refused"


def apply_write(model: ModelTable, w: dict) -> None:
    """A management write of hw.keytable applied to the model, operation by operation."""
    op = w["op"]
    if op == Op.SET_CURRENT:
        model.set_current(w["group"], KeyType(w["ktype"]), w["slot"])
    elif op == Op.WRITE_SLOT:
        model.write_slot(w["group"], KeyType(w["ktype"]), w["slot"], w["tag"], w["data"].to_bytes(32, "big"))
    elif op == Op.SET_GROUP:
        model.add_group(w["group"], w["data"].to_bytes(32 if w["long"] else 16, "big"))
    elif op == Op.SET_DEFAULT:
        model.default_group = w["group"]
    else:
        raise AssertionError(f"no model operation for {op}")


def test_lookup_is_atomic_with_respect_to_a_rotation_on_the_same_cycles() -> None:
    """Issue 12 defect 4: a lookup takes its slot and its key from one state of the table.
    Lookups every cycle under heavy backpressure while rotations write on any cycle
    (the cycle a lookup is offered, or while one waits in the pipeline); each answer must
    be the model's for the writes accepted before the lookup's cycle (the table takes no
    lookup on a cycle a write is offered or registered, and no write while a lookup is in
    its first two stages or a write is registered). Before the fix the key memories were read a cycle or more after the
    slot was chosen, so a WRITE_SLOT in between gave the frame the new key."""
    rng = random.Random(12)
    top = KeyTable(groups=G, tag_shape=16)
    shadow = Shadow(rng)
    rkids = {g: rng.randbytes(32 if g == 1 else 16) for g in range(3)}
    setup = [w for g, rkid in rkids.items() for w in shadow.add_group(g, rkid)] + [dict(op=Op.SET_DEFAULT, group=2)]
    # tags the queries ask for: the installed ones of each group, so lookups hit the slots
    # being rotated (pre, current, next) as often as not
    rotations = [w for _ in range(150) for w in shadow.rotate(rng.randrange(3), KeyType(rng.randrange(3)))]
    WL, QL = write_layout(G), query_layout(G, 16)
    events: list[tuple[str, dict]] = []     # in the order the table must apply them
    answers: list[dict] = []

    def query(model_tags):
        kind = rng.choice(["rkid", "rkid", "send", "default"])
        g = rng.randrange(3)
        q = dict(send=int(kind == "send"), k=int(kind != "default"), group=g, rkid=0, long=0, tags=0)
        if kind == "rkid":
            z, u, t = (rng.choice(model_tags[g, ty]) for ty in range(3))
            q.update(rkid=int.from_bytes(rkids[g], "big"), long=int(len(rkids[g]) == 32), tags=z << 4 | u << 2 | t)
        return q

    async def bench(ctx):
        for w in setup:
            ctx.set(top.wr.valid, 1)
            ctx.set(top.wr.payload, {**{f: 0 for f, _ in WL}, **w})
            events.append(("w", w))
            await ctx.tick().until(top.wr.ready)
        ctx.set(top.wr.valid, 0)
        tags = {(g, t): list(range(4)) for g in range(3) for t in range(3)}
        pending = list(rotations)
        held = None     # a write offered and not yet taken (wr.ready low): offered again
        n = 0
        spare = 700     # cycles of lookups after the last write
        while pending or spare or len(answers) < n:
            spare -= not pending and spare > 0
            ctx.set(top.r.ready, rng.random() < 0.4)
            w = held if held is not None else (pending.pop(0) if pending and rng.random() < 0.5 else None)
            ctx.set(top.wr.valid, w is not None)
            if w is not None:
                ctx.set(top.wr.payload, {**{f: 0 for f, _ in WL}, **w})
            q = query(tags) if pending or spare else None
            ctx.set(top.q.valid, q is not None)
            if q is not None:
                ctx.set(top.q.payload, {**{f: 0 for f, _ in QL}, **q, "tag": n})
                if ctx.get(top.q.ready):
                    events.append(("q", q))
                    n += 1
            if w is not None:
                assert not (q is not None and ctx.get(top.q.ready)), "a lookup taken beside a write"
                held = None if ctx.get(top.wr.ready) else w
                if held is None:
                    events.append(("w", w))
            if ctx.get(top.r.valid) and ctx.get(top.r.ready):
                r = ctx.get(top.r.payload)
                answers.append(dict(code=r.code, group=r.group, mk=r.mk, tags=r.tags, rkid=r.rkid, long=r.long,
                                    tag=r.tag))
            await ctx.tick()

    _simulate(top, bench)
    model = ModelTable()
    expect = []
    for kind, item in events:
        if kind == "w":
            apply_write(model, item)
        else:
            expect.append(expected(model, item, rkids))
    assert len(answers) == len(expect) > 300
    assert {e["code"] for e in expect} >= {0, Code.UNKNOWN_KEY}
    for n, (g, e) in enumerate(zip(answers, expect)):
        assert g["tag"] == n, "answers out of order"
        assert {k: g[k] for k in e} == e, f"query {n}: got {g}, expected {e}"


def test_lookups_one_a_cycle_answered_after_latency() -> None:
    """Back-to-back lookups (``r`` always ready): one taken every cycle, each answered
    :data:`hw.keytable.LATENCY` cycles after its transfer, in order."""
    from hw.keytable import LATENCY

    top = KeyTable(groups=G, tag_shape=16)
    taken, answered = [], []

    async def bench(ctx):
        ctx.set(top.r.ready, 1)
        for w in (dict(op=Op.SET_GROUP, group=2, long=0, data=5), dict(op=Op.SET_DEFAULT, group=2)):
            ctx.set(top.wr.valid, 1)
            ctx.set(top.wr.payload, w)
            await ctx.tick().until(top.wr.ready)
        ctx.set(top.wr.valid, 0)
        await ctx.tick().repeat(2)      # the last write leaves W0 and W1
        for cycle in range(40):
            ctx.set(top.q.valid, cycle < 12)
            ctx.set(top.q.payload, dict(send=0, k=0, tag=cycle))
            if ctx.get(top.r.valid):
                answered.append((ctx.get(top.r.payload.tag), cycle, ctx.get(top.r.payload.code)))
            if cycle < 12 and ctx.get(top.q.ready):
                taken.append((cycle, cycle))
            await ctx.tick()

    _simulate(top, bench)
    assert [c for c, _ in taken] == list(range(12)), "a lookup refused with no write offered"
    assert [(tag, cycle) for tag, cycle, _ in answered] == [(t, c + LATENCY) for t, c in taken]
    assert {code for _, _, code in answered} == {int(Code.UNKNOWN_KEY)}, "default group 2 has no keys"


def test_back_to_back_writes_see_each_other() -> None:
    """Writes offered on consecutive cycles: each one's checks see the one before it (a
    second group with the same Root Key ID, a second slot of a type with the same tag:
    both refused, spec 4.1), as the model refuses them."""
    top = KeyTable(groups=G, tag_shape=16)
    WL = write_layout(G)
    writes = [dict(op=Op.SET_GROUP, group=0, long=0, data=77), dict(op=Op.SET_GROUP, group=1, long=0, data=77),
              dict(op=Op.WRITE_SLOT, group=0, ktype=1, slot=0, tag=2, data=5),
              dict(op=Op.WRITE_SLOT, group=0, ktype=1, slot=1, tag=2, data=6),
              dict(op=Op.WRITE_SLOT, group=0, ktype=1, slot=2, tag=3, data=7)]
    refused = []

    async def bench(ctx):
        n = 0
        for _ in range(40):
            ctx.set(top.wr.valid, n < len(writes))
            if n < len(writes):
                ctx.set(top.wr.payload, {**{f: 0 for f, _ in WL}, **writes[n]})
            refused.append(ctx.get(top.refused))
            taken = n < len(writes) and ctx.get(top.wr.ready)
            await ctx.tick()
            n += taken

    _simulate(top, bench)
    model = ModelTable()
    expect = []
    for w in writes:
        try:
            apply_write(model, w)
            expect.append(0)
        except (EespError, ValueError):     # the model's refusals of management writes
            expect.append(1)
    assert expect == [0, 1, 0, 1, 0], "the model's own verdicts"
    assert sum(refused) == sum(expect), f"refusals {sum(refused)}, expected {sum(expect)}"

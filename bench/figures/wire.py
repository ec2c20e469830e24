"""Encode + decode of one realistic push batch (1,000 ledger entries + 100 sales of 2-3 lines): the
wire schema's library chosen on this figure. No dataset needed; runs in-process.

Candidates, interleaved round by round (each round times every candidate once, in a rotating order,
so drift in the machine touches all alike): msgspec Structs (`wire/`, kept), pydantic v2 models of the
same constraints (strict, patterns, bounds, the cross-field checks; only when pydantic is installed:
it is not a dependency), and the hand validation `wire/` replaced (`_wire_hand`, the baseline).
Decode includes validation, as head office runs it on every push. Medians and tails in ms per batch.
Target: the kept library is the fastest on the median and on the tail, judged by `bench.method.judge`
against the hand validation (NOISY when the baseline's halves of the rounds disagree, or the halves'
verdicts do), and faster than pydantic too when it is installed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.background import Watch
from bench.env import BenchEnv
from bench.figures._wire_hand import PushBatch as HandBatch
from bench.method import Rounds, judge
from bench.stats import MISS, PASS, Figure, Measure
from wire.batches import PushBatch, encode

KEY = "wire"
TITLE = "push batch encode + decode (1,000 entries + 100 sales)"
TARGET = "the kept library fastest on median and p99"
T0 = "2026-03-01T10:00:00.000000+00:00"


def push_body(entries: int = 1000, sales: int = 100) -> dict[str, Any]:
    """A push as a till builds it: this till's entries (earn, some redeem) and its sales with lines."""
    rows = [{"entry_id": uuid.uuid4().hex, "member_id": f"m{i % 300}", "store_id": "S1", "till_id": "T1",
             "seq": i + 1, "kind": "redeem" if i % 10 == 9 else "earn", "points": -50 if i % 10 == 9 else 3,
             "sale_id": f"s{i % sales}", "amount_cents": 300, "created_at": T0, "operator": "ann", "reason": None,
             "ref": None} for i in range(entries)]
    out = []
    for i in range(sales):
        lines: list[dict[str, Any]] = [
            {"line_no": n + 1, "sku": f"SKU{n}", "ean": "4006381333931" if n else None, "name": f"Item {n}",
             "category": "general", "qty": n + 1, "unit_cents": 150, "amount_cents": (n + 1) * 150, "points": n + 1}
            for n in range(2 + i % 2)]
        out.append({"sale_id": f"s{i}", "store_id": "S1", "till_id": "T1", "member_id": f"m{i}",
                    "total_cents": sum(li["amount_cents"] for li in lines), "tender": "card", "points_earned": 6,
                    "operator": "ann", "created_at": T0, "lines": lines})
    return {"version": 1, "store_id": "S1", "till_id": "T1", "entries": rows, "sales": out, "members": [],
            "cards": [], "docs": []}


Codec = tuple[Callable[[], bytes], Callable[[bytes], int]]  # (encode the batch, decode + validate -> entries)


def _msgspec(body: dict[str, Any]) -> Codec:
    batch = PushBatch.parse(body)
    return (lambda: encode(batch)), (lambda raw: len(PushBatch.decode(raw).entries))


def _hand(body: dict[str, Any]) -> Codec:
    batch = HandBatch.parse(body)
    return ((lambda: json.dumps(batch.to_dict()).encode()),
            (lambda raw: len(HandBatch.parse(json.loads(raw)).entries)))


def _pydantic(body: dict[str, Any]) -> Codec | None:
    try:
        # why: pydantic is only a candidate, not a dependency: compared when installed
        from bench.figures._wire_pydantic import PushBatch as PydanticBatch
    except ImportError:
        return None
    batch = PydanticBatch.model_validate(body)
    return ((lambda: batch.model_dump_json().encode()),
            (lambda raw: len(PydanticBatch.model_validate_json(raw).entries)))


def compare(rounds: int, body: dict[str, Any] | None = None) -> dict[str, dict[str, list[float]]]:
    """Milliseconds to encode, to decode, and both, per candidate, over `rounds` interleaved rounds."""
    body = body or push_body()
    found = {"msgspec": _msgspec(body), "hand": _hand(body), "pydantic": _pydantic(body)}
    codecs = {name: codec for name, codec in found.items() if codec is not None}
    counts = {dec(enc()) for enc, dec in codecs.values()}  # warm up, and every candidate reads the same batch
    assert counts == {len(body["entries"])}, counts
    samples: dict[str, dict[str, list[float]]] = {name: {"encode": [], "decode": [], "both": []} for name in codecs}
    order = list(codecs)
    for r in range(rounds):
        for name in order[r % len(order):] + order[:r % len(order)]:
            enc, dec = codecs[name]
            t0 = time.perf_counter()
            raw = enc()
            t1 = time.perf_counter()
            dec(raw)
            t2 = time.perf_counter()
            got = samples[name]
            got["encode"].append((t1 - t0) * 1000)
            got["decode"].append((t2 - t1) * 1000)
            got["both"].append((t2 - t0) * 1000)
    return samples


def run(env: BenchEnv) -> Figure:
    n = env.samples(200, 100)
    with Watch(env.db) as watch:  # no till opens here; a check left running by an earlier figure would show
        samples = compare(n)
    m = {name: Measure.of(f"{name}: encode + decode, 1,000 entries + 100 sales", "ms", s["both"])
         for name, s in samples.items()}
    half = n // 2
    kept_s, hand_s = samples["msgspec"]["both"], samples["hand"]["both"]
    v = judge(Rounds((kept_s[:half], kept_s[half:]), (hand_s[:half], hand_s[half:])),
              lambda a, b: a.median < b.median and a.tail_value < b.tail_value, unit="ms",
              measured=m["msgspec"].what, baseline=m["hand"].what)
    kept, base = v.measure, v.baseline
    others = [x for name, x in m.items() if name != "msgspec"]
    status = v.status
    if status == PASS and not all(kept.median < x.median and kept.tail_value < x.tail_value for x in others):
        status = MISS
    notes = [f"{x.what}: median {x.median:.2f} ms, p{x.claim} {x.tail_value:.2f} ms "
             f"({x.median / kept.median:.1f}x msgspec)"
             for x in others]
    parts = {name: {part: Measure.of(part, "ms", v) for part, v in s.items() if part != "both"}
             for name, s in samples.items()}
    notes += [f"{name} alone: " + ", ".join(f"{part} median {x.median:.2f} ms / p99 {x.p99:.2f} ms"
                                            for part, x in by.items()) for name, by in parts.items()]
    notes.append(watch.words())
    if "pydantic" not in m:
        notes.append("pydantic not installed: compared with the hand validation only")
    extra = {name: {part: {"median_ms": round(x.median, 3), "p99_ms": round(x.p99, 3), "n": x.n}
                    for part, x in {"both": m[name], **parts[name]}.items()} for name in m}
    return Figure(KEY, TITLE, TARGET, status, measure=kept, baseline=base, notes=notes, extra=extra,
                  judged=v.judged)

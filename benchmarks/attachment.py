"""Benchmark: household attachment of records without a date of birth (council tax accounts,
electors) to the person index, against the synthetic county's truth, beside a naive rule.

    python benchmarks/attachment.py                  # 1,500 residents
    python benchmarks/attachment.py --people 5000    # the run in docs/person-index.md

Setup (not timed): the demo partnership on a synthetic county (seed 1), its person index built;
the indexed records and the attached datasets' records read through the data plane (the
internal person-index grant, audited). Timed: `linkage.person_index.attach.choose` (the rule
every index run applies) and, side by side, the baseline: attach each record to the first
indexed resident at its property with the same surname. Truth: each record's person in the
county's truth files. `precision`: attached records whose anchors are all truly the record's
person; `recall`: correctly attached records over all records of the attached datasets;
`recall_reachable`: over those whose person has any record in the index. The last line of
output is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from rich.console import Console  # noqa: E402
from sqlalchemy import select  # noqa: E402

from civicshare import db, demo  # noqa: E402
from civicshare.config import Settings  # noqa: E402
from civicshare.linkage.models import IndexedLink, IndexedRecord, LinkOrigin  # noqa: E402
from civicshare.linkage.person_index import attach, sources  # noqa: E402


def read(session, settings, plans) -> pd.DataFrame:
    frames = [
        sources.canonical(
            plan,
            sources.read_source(
                session,
                settings,
                plan,
                actor=None,
                action="person_index_read",
                purpose=sources.PURPOSE,
                details={"benchmark": "attachment"},
            ),
        )
        for plan in plans
    ]
    return pd.concat(frames, ignore_index=True)


def naive(records: pd.DataFrame, indexed: pd.DataFrame) -> dict:
    """The first indexed resident at the property with the same surname."""
    residents: dict[str, list] = {}
    for row in indexed.itertuples(index=False):
        for _, key in attach.property_keys(row.uprn, row.address, row.postcode):
            residents.setdefault(key, []).append((attach.surname_of(row.surname), row))
    chosen = {}
    for row in records.itertuples(index=False):
        surname = attach.surname_of(row.surname)
        for _, key in attach.property_keys(row.uprn, row.address, row.postcode):
            hit = next((r for s, r in residents.get(key, ()) if s == surname), None)
            if hit is not None:
                chosen[(row.source, row.record_id)] = [(hit.source, hit.record_id)]
                break
    return chosen


def score(chosen: dict, person, records: pd.DataFrame, reachable: set) -> dict:
    right = sum(
        1
        for record, anchors in chosen.items()
        if person(*record) is not None and all(person(*a) == person(*record) for a in anchors)
    )
    total = len(records)
    in_index = sum(
        1
        for s, r in zip(records["source"], records["record_id"], strict=True)
        if person(s, r) in reachable
    )
    return {
        "attached": len(chosen),
        "wrong": len(chosen) - right,
        "precision": round(right / len(chosen), 4) if chosen else None,
        "recall": round(right / total, 4) if total else None,
        "recall_reachable": round(right / in_index, 4) if in_index else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=1500, help="Residents in the county.")
    parser.add_argument("--seed", type=int, default=1, help="The county's seed.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="civicshare-attach-") as tmp:
        work = Path(tmp)
        settings = Settings(
            data_dir=work / "data",
            database_url=f"sqlite:///{work / 'db'}",
            audit_checkpoint_every=0,
        )
        began = time.perf_counter()
        demo.prepare(
            settings, people=args.people, seed=args.seed, console=Console(file=io.StringIO())
        )
        print(f"county prepared in {time.perf_counter() - began:.0f} s", file=sys.stderr)
        truth_dir = settings.data_dir / "synthetic" / "truth"
        owners: dict[str, dict] = {}

        def person(source: str, record_id: str):
            name = source.partition("/")[2]
            if name not in owners:
                path = truth_dir / f"{name}.parquet"
                owners[name] = {}
                if path.is_file():
                    table = pq.read_table(path, columns=["record_id", "person_id"])
                    owners[name] = dict(zip(*(c.to_pylist() for c in table.columns), strict=True))
            return owners[name].get(record_id)

        engine = db.make_engine(settings.effective_database_url)
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            key_of = {
                (r.source, r.record_id): r.person_key
                for r in session.scalars(select(IndexedRecord))
            }
            indexed = read(session, settings, sources.person_sources(session, settings))
            indexed["person_key"] = [
                key_of.get((s, r))
                for s, r in zip(indexed["source"], indexed["record_id"], strict=True)
            ]
            indexed = indexed[indexed["person_key"].notna()]
            records = read(session, settings, attach.attachment_sources(session, settings))
            in_run = sum(
                1
                for link in session.scalars(select(IndexedLink))
                if link.origin == LinkOrigin.attachment
            )
        engine.dispose()
        reachable = {
            person(s, r) for s, r in zip(indexed["source"], indexed["record_id"], strict=True)
        } - {None}
        started = time.perf_counter()
        choice = attach.choose(records, indexed)
        rule_seconds = time.perf_counter() - started
        started = time.perf_counter()
        baseline = naive(records, indexed)
        baseline_seconds = time.perf_counter() - started
        chosen = {r: list(candidate.anchors) for r, (candidate, _) in choice.attached.items()}
        rule = score(chosen, person, records, reachable)  # the truth files are still here
        naive_score = score(baseline, person, records, reachable)
    levels = Counter(candidate.level for candidate, _ in choice.attached.values())
    result = {
        "people": args.people,
        "records": len(records),
        **rule,
        "ambiguous": len(choice.ambiguous),
        "no_household": choice.no_household,
        "no_name": choice.no_name,
        "by_level": dict(levels),
        "links_in_demo_index": in_run,
        "rule_seconds": round(rule_seconds, 3),
        "baseline": naive_score,
        "baseline_seconds": round(baseline_seconds, 3),
        "precision_ratio": round(rule["precision"] / naive_score["precision"], 4)
        if rule["precision"] and naive_score["precision"]
        else None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

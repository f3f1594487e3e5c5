"""Benchmark: births and changes of address against deaths of the same residents, through the
whole life events path (publish, link, match, decide, outbox).

    python benchmarks/life_event_types.py               # 30 of each
    python benchmarks/life_event_types.py --events 150  # the run in docs/benchmarks.md

Setup (not timed): the demo partnership on a synthetic county (at least 1,500 residents, eight
per event), its person index built; N living women aged 18 to 44 (mothers) and N living
residents aged 20+ (movers) chosen with a fixed seed.

Timed, each type in turn: N births to the mothers, N moves of the movers, then (the baseline) N
deaths of the same movers; each published in one batch, a truth-knowing clerical reviewer
decides the index's open pairs for these people, and held events are re-checked.

Ground truth, per event: the partners that truly hold the matched person (the county's truth
files), receive under an active agreement with the type's purpose, and whose dataset is in the
person index. `told` counts (event, partner) notifications, `wrong` those to a partner the truth
does not call for, `lost` pairs called for and not told; recall = 1 - lost / expected. The
moves are compared with the deaths of the same people (the same holders, the address evidence
whole): `move_recall_ratio` = move recall / death recall. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rich.console import Console  # noqa: E402
from sqlalchemy import select  # noqa: E402

from civicshare import db, demo  # noqa: E402
from civicshare.accounts.service import actor_for  # noqa: E402
from civicshare.agreements import service as agreements  # noqa: E402
from civicshare.config import Settings  # noqa: E402
from civicshare.events import service  # noqa: E402
from civicshare.events.models import EventType  # noqa: E402
from civicshare.linkage.models import IndexedSource  # noqa: E402
from civicshare.partners import service as partners  # noqa: E402
from civicshare.synthetic import registrations  # noqa: E402

REGISTRAR = "streetworks@worcestershire-cc.example"
ADMIN = "admin@worcestershire-cc.example"


def acting(session, email):
    return actor_for(partners.get_person_by_email(session, email).memberships[0], "benchmark")


def receivers(session, purpose: str) -> set[str]:
    return {
        party.partner.key
        for version in agreements.active_versions(session)
        if purpose in version.purpose_codes()
        for party in version.parties
        if party.role.receives
    }


def measure(sessions, settings, county, kind, body, entries) -> dict:
    truth = registrations.holders(county, set(entries.values()))
    with db.session_scope(sessions) as session:
        started = time.perf_counter()
        published = service.publish(
            session, settings, acting(session, REGISTRAR), body, event_type=kind.type
        )
        keys = {e.person_key for e in published.events if e.person_key}
        registrations.review_by_truth(session, settings, keys, entries, acting(session, ADMIN))
        service.recheck_held(session, settings)
        session.flush()
        seconds = time.perf_counter() - started
        held = set(session.scalars(select(IndexedSource.source)))
        parties = receivers(session, kind.purpose)
        expected, told = set(), set()
        for event in published.events:
            person = entries[event.reference]
            for partner, names in truth.get(person, {}).items():
                if partner in parties and any(f"{partner}/{n}" in held for n in names):
                    expected.add((event.reference, partner))
            told |= {(event.reference, n.recipient) for n in event.notifications}
    return {
        "events": len(entries),
        "expected": len(expected),
        "told": len(told),
        "wrong": len(told - expected),
        "lost": len(expected - told),
        "recall": round(1 - len(expected - told) / len(expected), 4) if expected else 1.0,
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=30, help="Events of each type.")
    parser.add_argument("--people", type=int, default=None, help="County size (default 8/event).")
    parser.add_argument("--seed", type=int, default=5, help="Seed of the synthetic county.")
    args = parser.parse_args()
    people = args.people or max(1500, 8 * args.events)
    with tempfile.TemporaryDirectory(prefix="life-event-types-") as tmp:
        work = Path(tmp)
        settings = Settings(data_dir=work / "data", database_url=f"sqlite:///{work / 'store.db'}")
        print(f"Preparing the demo on {people:,} residents ...", flush=True)
        demo.prepare(settings, people=people, seed=args.seed, console=Console(file=io.StringIO()))
        county = settings.data_dir / "synthetic"
        mothers = registrations.living_mothers(county, args.events, seed=1)
        movers = registrations.living_residents(county, args.events, seed=2, min_age=20)
        births, born = registrations.birth_registrations(county, mothers)
        moves, moved, _ = registrations.address_changes(county, movers, seed=3)
        deaths, died = registrations.death_registrations(county, movers)
        engine = db.make_engine(settings.effective_database_url)
        sessions = db.make_sessionmaker(engine)
        results = {}
        for name, event_type, body, entries in (
            ("births", EventType.birth, births, born),
            ("moves", EventType.change_of_address, moves, moved),
            ("deaths (baseline)", EventType.death, deaths, died),
        ):
            results[name] = measure(
                sessions, settings, county, service.KINDS[event_type], body, entries
            )
            print(f"{name:18} {json.dumps(results[name])}", flush=True)
        engine.dispose()
    base = results["deaths (baseline)"]
    ratio = results["moves"]["recall"] / base["recall"] if base["recall"] else None
    print(f"move recall / death recall of the same residents: {ratio:.3f}")
    out = {"people": people, "events": args.events, "move_recall_ratio": round(ratio, 4)}
    for name, key in (("births", "births"), ("moves", "moves"), ("deaths (baseline)", "deaths")):
        out.update({f"{key}_{k}": v for k, v in results[name].items() if k != "events"})
    print(json.dumps(out))


if __name__ == "__main__":
    main()

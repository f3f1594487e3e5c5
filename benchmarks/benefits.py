"""Benchmark: the benefits page's counting over a large audit log, against a raw SQL count.

    python benchmarks/benefits.py                   # 20,000 records, a temporary SQLite store
    python benchmarks/benefits.py --size 1000000    # the run recorded in docs/benchmarks.md
    python benchmarks/benefits.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench

Writes `--size` audit records spread evenly over the last 12 UTC months with `append_many`
(stamped in their month; the chain is real): a mix of the actions the page counts (share
decisions allowed and refused, incident lists, notification deliveries and pulls, discharge
lists, clash notices) and others it must not (person index reads, ingests, agreement changes).
Timed, `--repeat` times, median: `benefits.service.report(months=12)`, all the page computes;
baseline in the same process and store: one raw SQL `count(*)` of the same actions over the
same 12 months, on the DBAPI cursor, with no months, grouping, distinct counts, assumptions or
suppression. Ratio = report / baseline. Also checks the counts are exact
against what was written. The last line of output is one JSON object. A PostgreSQL URL must
name an empty database; it is migrated first.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from civicshare import db  # noqa: E402
from civicshare.audit import service as audit  # noqa: E402
from civicshare.audit import signing  # noqa: E402
from civicshare.rights.benefits import service  # noqa: E402

MONTHS = 12
BATCH = 1000
# (action, share of records, outcome) in the order drawn; the rest are not counted.
MIX = (
    ("share_allowed", 0.55, "allowed"),
    ("share_denied", 0.08, "denied"),
    ("incident_households_viewed", 0.05, None),
    ("incident_exported", 0.01, None),
    ("events.delivery_attempt", 0.06, None),
    ("events.notification_pulled", 0.03, None),
    ("discharge_list_viewed", 0.02, None),
    ("works.clashes_notified", 0.002, None),
)
NOISE = ("person_index_read", "dataset.ingest_accepted", "agreement_updated")


def pick(draw: float) -> tuple[str, str | None] | None:
    """The MIX action (and outcome) a uniform draw in [0, 1) falls on; None: a noise record."""
    for action, share, outcome in MIX:
        if draw < share:
            return action, outcome
        draw -= share
    return None


def entry(rng: random.Random, number: int, truth: Counter) -> audit.Entry:
    """One record, drawn from MIX, and what it adds to the truth of its month's figures."""
    picked = pick(rng.random())
    if picked is None:
        return audit.Entry(None, rng.choice(NOISE), "bench", number)
    action, outcome = picked
    facts: dict = {"outcome": outcome} if outcome else {}
    entity = number
    if action == "share_allowed":
        truth["deliveries"] += 1
    elif action in ("incident_households_viewed", "incident_exported"):
        truth["incident_lists"] += 1
        entity = f"INC-{number % 50}"
    elif action == "events.delivery_attempt":
        # One in five attempts fails; a failed notification is tried again with a new id here.
        facts["outcome"] = "allowed" if rng.random() < 0.8 else "denied"
        truth["notifications"] += facts["outcome"] == "allowed"
    elif action == "events.notification_pulled":
        truth["notifications"] += 1
    elif action == "discharge_list_viewed":
        truth["discharge_lists"] += 1
    elif action == "works.clashes_notified":
        clashes = rng.randint(1, 6)
        facts["details"] = {"count": clashes, "clashes": []}
        truth["works_clashes"] += clashes
    return audit.Entry(None, action, "bench", entity, facts)


def populate(sessions, size: int, seed: int) -> dict[str, Counter]:
    """`size` records, evenly over the last MONTHS months (oldest first); the truth by month."""
    rng = random.Random(seed)
    months = list(reversed(service.recent_months(MONTHS)))
    truth: dict[str, Counter] = defaultdict(Counter)
    written = 0
    for index, month in enumerate(months):
        share = size * (index + 1) // MONTHS - written
        moment = month.start + timedelta(days=14)
        original = audit.utcnow
        audit.utcnow = lambda moment=moment: moment  # every record stamped inside its month
        try:
            while share > 0:
                with db.session_scope(sessions) as session:
                    batch = [
                        entry(rng, written + i, truth[month.key]) for i in range(min(BATCH, share))
                    ]
                    audit.append_many(session, batch, checkpoint_every=0)
                written += len(batch)
                share -= len(batch)
        finally:
            audit.utcnow = original
    return truth


COUNTED = tuple(action for action, _, _ in MIX if action != "share_denied")


def baseline(sessions) -> tuple[float, int]:
    """One raw count(*) of the same actions over the same 12 months: reading the records the
    page counts once, and nothing more."""
    months = service.recent_months(MONTHS)
    start, end = months[-1].start, months[0].end
    began = time.perf_counter()
    with db.session_scope(sessions) as session:
        connection = session.connection()
        postgres = connection.dialect.name == "postgresql"
        mark = "%s" if postgres else "?"
        cursor = connection.connection.cursor()
        # SQLite: the bounds as SQLAlchemy stores times there.
        bounds = (
            (start, end) if postgres else tuple(f"{b:%Y-%m-%d %H:%M:%S.%f}" for b in (start, end))
        )
        cursor.execute(
            f"SELECT count(*) FROM audit_records WHERE at >= {mark} AND at < {mark} "
            f"AND action IN ({', '.join([mark] * len(COUNTED))})",
            (*bounds, *COUNTED),
        )
        total = cursor.fetchone()[0]
    return time.perf_counter() - began, total


def timed_report(sessions) -> tuple[float, service.Report]:
    began = time.perf_counter()
    with db.session_scope(sessions) as session:
        made = service.report(session, MONTHS)
    return time.perf_counter() - began, made


def exact(sessions, truth: dict[str, Counter]) -> bool:
    with db.session_scope(sessions) as session:
        for month in service.recent_months(MONTHS):
            counted = service.counts(session, month.start, month.end)
            wanted = {name: truth[month.key][name] for name in service.BY_NAME}
            if counted != wanted:
                print(f"{month.key}: counted {counted}, wrote {wanted}", file=sys.stderr)
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=20_000, help="audit records to write")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each, median")
    parser.add_argument("--seed", type=int, default=31)
    parser.add_argument("--postgres", help="an empty PostgreSQL database's URL (else SQLite)")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="benefits-bench-") as scratch:
        workdir = Path(scratch)
        signing.use_keys_dir(workdir / "keys")
        url = options.postgres or f"sqlite:///{workdir / 'store.db'}"
        engine = db.make_engine(url)
        try:
            db.upgrade(engine)
            sessions = db.make_sessionmaker(engine)
            began = time.perf_counter()
            truth = populate(sessions, options.size, options.seed)
            write_s = time.perf_counter() - began
            print(f"wrote {options.size:,} audit records in {write_s:.1f} s", file=sys.stderr)
            timed_report(sessions), baseline(sessions)  # warm the caches for both
            reports = [timed_report(sessions)[0] for _ in range(options.repeat)]
            baselines = [baseline(sessions) for _ in range(options.repeat)]
            is_exact = exact(sessions, truth)
            backend = engine.dialect.name
        finally:
            engine.dispose()
    report_s = statistics.median(reports)
    baseline_s = statistics.median(b[0] for b in baselines)
    result = {
        "benchmark": "benefits",
        "backend": backend,
        "records": options.size,
        "months": MONTHS,
        "counted_records": baselines[0][1],
        "exact": is_exact,
        "report_s": round(report_s, 4),
        "baseline_s": round(baseline_s, 4),
        "ratio": round(report_s / baseline_s, 2),
        "write_s": round(write_s, 1),
    }
    print(
        f"report of {MONTHS} months over {options.size:,} records: {report_s * 1000:.1f} ms "
        f"(one raw count {baseline_s * 1000:.1f} ms, {result['ratio']} x); exact: {is_exact}",
        file=sys.stderr,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()

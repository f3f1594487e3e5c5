"""Benchmark: subject access exports against the ground truth of whose each record is.

    python benchmarks/subject_access.py                          # 600 residents, 20 requests
    python benchmarks/subject_access.py --people 5000 --sample 100   # the run in docs/benchmarks.md
    python benchmarks/subject_access.py --no-address                 # asking without an address

Setup (not timed): the demo partnership on a synthetic county of --people residents, its person
index built. --sample residents who have at least one record in a searched dataset (those the
person index links or attaches: council tax and electoral registers too) are chosen with a
fixed seed; each asks with their true name, date of birth, NHS number, address and postcode,
and, as a request form asks, any previous surname and previous address (as a resident would
give them; the records themselves carry the county's injected errors). --no-address leaves
out both addresses.

Timed: for each, the rights desk opens a request (every person-holding dataset searched, the
index's strong links followed) and reads the export's records through the subject access grant.

Measured against the truth files: `recall` is the share of the residents' true records in the
export; `foreign_records` counts exported records that are someone else's; `missed_listed`
how many missed records were listed as uncertain candidates for the IG lead; `missed_unlisted`
those not even listed. The baseline is what a rights officer does by hand without the gateway:
search each dataset for the NHS number given (exact), taking what matches.
The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import pyarrow.parquet as pq  # noqa: E402
from rich.console import Console  # noqa: E402

from civicshare import db, demo  # noqa: E402
from civicshare.accounts.service import actor_for  # noqa: E402
from civicshare.config import Settings  # noqa: E402
from civicshare.linkage.person_index import sources  # noqa: E402
from civicshare.partners import service as partners  # noqa: E402
from civicshare.rights.access import finding, matching, service  # noqa: E402
from civicshare.rights.access.models import EXPORTED, Match  # noqa: E402

RIGHTS_DESK = "admin@worcestershire-cc.example"


def truth_of(settings: Settings, indexed: list[str]) -> dict[int, set]:
    where = Path(settings.data_dir) / "synthetic" / "truth"
    by_person: dict[int, set] = defaultdict(set)
    for source in indexed:
        path = where / f"{source.split('/', 1)[1]}.parquet"
        if path.exists():
            for row in pq.read_table(path, columns=["record_id", "person_id"]).to_pylist():
                if row["person_id"] is not None:
                    by_person[row["person_id"]].add((source, str(row["record_id"])))
    return by_person


def baseline(session, settings, actor, person: matching.Details) -> set:
    """Exact NHS number search of each dataset, as by hand (reads the same sources)."""
    found = set()
    for plan in finding.search_plans(session, settings):
        table = sources.read_source(
            session, settings, plan, actor=actor, action="benchmark.baseline",
            purpose="Benchmark baseline: exact NHS number search.",
        )  # fmt: skip
        for row in sources.canonical(plan, table).to_dict("records"):
            digits = "".join(c for c in str(row.get("nhs_number") or "") if c.isdigit())
            if person.nhs_number and digits == person.nhs_number:
                found.add((plan.source, str(row["record_id"])))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=600, help="County size.")
    parser.add_argument("--sample", type=int, default=20, help="Requests (residents asking).")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--no-address", action="store_true", help="Residents ask without their addresses."
    )
    args = parser.parse_args()
    console = Console(stderr=True)
    work = Path(tempfile.mkdtemp(prefix="civicshare-sar-"))
    settings = Settings(data_dir=work / "data", database_url=f"sqlite:///{work / 'store.db'}")
    started = time.perf_counter()
    demo.prepare(settings, people=args.people, seed=args.seed, console=Console(file=io.StringIO()))
    console.print(
        f"Demo county of {args.people:,} prepared in {time.perf_counter() - started:.0f} s"
    )
    engine = db.open_store(settings)
    people_table = pq.read_table(Path(settings.data_dir) / "synthetic/truth/people.parquet")
    people = {r["person_id"]: r for r in people_table.to_pylist()}
    properties = {
        r["uprn"]: r
        for r in pq.read_table(
            Path(settings.data_dir) / "synthetic/geography/properties.parquet"
        ).to_pylist()
    }

    def place(uprn) -> tuple[str, str]:
        if args.no_address or uprn is None or uprn not in properties:
            return "", ""
        return properties[uprn]["address_line_1"], properties[uprn]["postcode"]

    totals = defaultdict(int)
    seconds = base_seconds = 0.0
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        actor = actor_for(
            next(
                m
                for m in partners.get_person_by_email(session, RIGHTS_DESK).memberships
                if m.partner.key == settings.host_partner
            ),
            "benchmark",
        )
        indexed = [p.source for p in finding.search_plans(session, settings)]
        truth = truth_of(settings, indexed)
        chosen = random.Random(args.seed).sample(sorted(truth), min(args.sample, len(truth)))
        for person_id in chosen:
            p = people[person_id]
            (address, postcode), (previous_address, previous_postcode) = (
                place(p["uprn"]), place(p["previous_uprn"])
            )  # fmt: skip
            person = matching.details(
                given_name=p["forename"], surname=p["surname"],
                date_of_birth=str(p["date_of_birth"]), nhs_number=p["nhs_number"] or "",
                address=address, postcode=postcode, previous_surname=p["maiden_surname"] or "",
                previous_address=previous_address, previous_postcode=previous_postcode,
            )  # fmt: skip
            t = time.perf_counter()
            request = service.open_request(session, settings, actor, person)
            exported = {(r.source, r.record_id) for r in request.records if r.match in EXPORTED}
            for source in {s for s, _ in exported}:
                service.read_records(
                    session, settings, actor, source,
                    [i for s, i in exported if s == source], note=request.reference,
                )  # fmt: skip
            seconds += time.perf_counter() - t
            listed = {
                (r.source, r.record_id) for r in request.records if r.match == Match.uncertain
            }
            theirs = truth[person_id]
            missed = theirs - exported
            totals["records"] += len(theirs)
            totals["found"] += len(theirs & exported)
            totals["foreign"] += len(exported - theirs)
            totals["missed_listed"] += len(missed & listed)
            totals["missed_unlisted"] += len(missed - listed)
            t = time.perf_counter()
            naive = baseline(session, settings, actor, person)
            base_seconds += time.perf_counter() - t
            totals["base_found"] += len(theirs & naive)
            totals["base_foreign"] += len(naive - theirs)
            session.rollback()  # each request measured alone; nothing kept
    engine.dispose()
    n = len(chosen)
    recall = totals["found"] / totals["records"] if totals["records"] else 1.0
    base_recall = totals["base_found"] / totals["records"] if totals["records"] else 1.0
    missed = totals["records"] - totals["found"]
    ratio = recall / max(base_recall, 1e-9)
    console.print(
        f"{'':<26}{'gateway':>12}{'baseline':>12}{'ratio':>8}\n"
        f"{'recall':<26}{recall:>12.3f}{base_recall:>12.3f}{ratio:>8.2f}\n"
        f"{'foreign records':<26}{totals['foreign']:>12}{totals['base_foreign']:>12}\n"
        f"{'seconds per request':<26}{seconds / n:>12.2f}{base_seconds / n:>12.2f}"
        f"{(seconds / n) / max(base_seconds / n, 1e-9):>8.2f}\n"
        f"{n} requests, {totals['records']} true records; missed {missed} "
        f"({totals['missed_listed']} listed as uncertain, {totals['missed_unlisted']} not listed)"
    )
    print(
        json.dumps(
            {
                "people": n,
                "county": args.people,
                "addresses_given": not args.no_address,
                "records": totals["records"],
                "recall": round(recall, 4),
                "foreign_records": totals["foreign"],
                "missed": missed,
                "missed_listed": totals["missed_listed"],
                "missed_unlisted": totals["missed_unlisted"],
                "baseline_recall": round(base_recall, 4),
                "baseline_foreign_records": totals["base_foreign"],
                "seconds_per_request": round(seconds / n, 2),
                "baseline_seconds_per_request": round(base_seconds / n, 2),
            }
        )
    )


if __name__ == "__main__":
    main()

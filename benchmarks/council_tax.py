"""Benchmark: the single person discount review against the synthetic county's planted truth.

    python benchmarks/council_tax.py                    # 3,000 residents
    python benchmarks/council_tax.py --people 20000     # the run in docs/benchmarks.md
    python benchmarks/council_tax.py --county DIR       # reuse a county already generated

Setup: a synthetic county (`civicshare.synthetic.generate`, seed 1 unless --seed) pushed into a
fresh SQLite store with the demo partnership and its agreements (the review's agreement in force
between the six district councils and the ICB), as `civicshare demo` does, dated the county's
reference date (2026-04-01). For every district, that council's IG lead runs the review
(`counciltax.service.review`: every source read through decide -> execute, audited). A case is
right when the county's truth says another adult lives at the account's property
(`other_adult` in truth/council-tax-<district>.parquet).

Side by side, on the very same rows read through the gateway (`read_sources`), a naive
baseline: flag an account with the discount when any elector other than the account holder
(same forename and surname, exactly) is registered at its UPRN, the classic single-source
electoral register match. The last line of output is one JSON object with `precision` and
`recall` of the review and of the baseline, per kind of planted case found and flagged.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import pyarrow.csv as pacsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from rich.console import Console  # noqa: E402

from civicshare import db  # noqa: E402
from civicshare.accounts.service import actor_for  # noqa: E402
from civicshare.agreements.demo import seed_demo_agreements  # noqa: E402
from civicshare.config import Settings  # noqa: E402
from civicshare.counciltax import service  # noqa: E402
from civicshare.dataplane.query import build_postcode_directory  # noqa: E402
from civicshare.datasets import service as datasets  # noqa: E402
from civicshare.demo import ig_leads_by_partner, seed_governance, seed_store  # noqa: E402
from civicshare.synthetic.service import generate  # noqa: E402

REFERENCE_DATE = date(2026, 4, 1)  # the synthetic county's "today"


def naive_cases(sources: service.Sources) -> set[str]:
    """Any elector other than the account holder (exact name) at the account's UPRN."""
    flagged = set()
    for account in sources.accounts:
        for forenames, surname, _ in sources.electors.get(account.property_ref, []):
            same = (
                service.first_forename(forenames) == account.forename
                and service.normalised_name(surname) == account.surname
            )
            if not same:
                flagged.add(account.account_ref)
                break
    return flagged


def score(flagged: set[str], truth: dict[str, bool]) -> dict:
    true_cases = {ref for ref, other in truth.items() if other}
    hits = flagged & true_cases
    return {
        "flagged": len(flagged),
        "true_positives": len(hits),
        "precision": round(len(hits) / len(flagged), 4) if flagged else 1.0,
        "recall": round(len(hits) / len(true_cases), 4) if true_cases else 1.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=3000, help="residents in the county")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--county", type=Path, help="a county already generated (else made)")
    args = parser.parse_args()
    console = Console(stderr=True)
    work = Path(tempfile.mkdtemp(prefix="council-tax-bench-"))
    county = args.county
    if county is None:
        county = work / "county"
        console.print(f"Generating a county of {args.people:,} residents (seed {args.seed})...")
        generate(args.people, args.seed, county)
    manifest = json.loads((county / "manifest.json").read_text())
    settings = Settings(data_dir=work / "data", host_partner="worcestershire-cc")
    settings.ensure_dirs()
    engine = db.make_engine(settings.effective_database_url)
    db.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    started = time.perf_counter()
    with db.session_scope(sessions) as session:
        seed_store(session, manifest)
        seed_governance(session, manifest)
        seed_demo_agreements(session, ig_leads_by_partner(session), today=REFERENCE_DATE)
        datasets.ingest_demo(session, settings, county)
    build_postcode_directory(county / "geography" / "properties.parquet", settings.data_dir)
    console.print(f"Store ready in {time.perf_counter() - started:.1f} s.")

    review_flags: set[str] = set()
    naive_flags: set[str] = set()
    truth: dict[str, bool] = {}
    kind: dict[str, str] = {}
    review_seconds = 0.0
    for district, partner in service.DISTRICTS.items():
        table = pq.read_table(county / "truth" / f"council-tax-{district}.parquet").to_pylist()
        accounts = pacsv.read_csv(
            county / "datasets" / f"council-tax-{district}.csv",
            convert_options=pacsv.ConvertOptions(column_types={"account_ref": "string"}),
        ).to_pylist()
        spd = {row["account_ref"]: row["spd"] == "Y" for row in accounts}
        for row in table:
            if spd.get(row["record_id"]):
                truth[row["record_id"]] = bool(row["other_adult"])
                kind[row["record_id"]] = row["spd_case"] or "single adult"
        with db.session_scope(sessions) as session:
            actor = actor_for(ig_leads_by_partner(session)[partner], "cli")
            tick = time.perf_counter()
            run = service.review(
                session, settings, actor, district, via="benchmark", today=REFERENCE_DATE
            )
            review_seconds += time.perf_counter() - tick
            review_flags |= {case.account_ref for case in run.cases}
            sources = service.read_sources(
                session, settings, actor, district, via="benchmark", today=REFERENCE_DATE
            )
            naive_flags |= naive_cases(sources)
            console.print(
                f"{district:14} {run.review.discounts:5,} discounts, "
                f"{run.review.cases_found:4,} cases (baseline {len(naive_cases(sources)):4,})"
            )
    engine.dispose()
    review = score(review_flags, truth)
    naive = score(naive_flags, truth)
    by_kind = {
        k: {"accounts": n, "review_flagged": sum(1 for r in review_flags if kind.get(r) == k),
            "baseline_flagged": sum(1 for r in naive_flags if kind.get(r) == k)}
        for k, n in sorted(Counter(kind.values()).items())
    }  # fmt: skip
    console.print(f"review:   {review}")
    console.print(f"baseline: {naive}")
    for k, counts in by_kind.items():
        console.print(f"  {k:20} {counts}")
    print(
        json.dumps(
            {
                "benchmark": "council_tax",
                "people": manifest["people"],
                "seed": manifest["seed"],
                "discounts": len(truth),
                "true_cases": sum(truth.values()),
                "precision": review["precision"],
                "recall": review["recall"],
                "flagged": review["flagged"],
                "baseline_precision": naive["precision"],
                "baseline_recall": naive["recall"],
                "baseline_flagged": naive["flagged"],
                "by_kind": by_kind,
                "review_seconds": round(review_seconds, 2),
            }
        )
    )


if __name__ == "__main__":
    main()

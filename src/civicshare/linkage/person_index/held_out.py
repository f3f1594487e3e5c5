"""The person index built, as the product builds it, over a held-out council file and GP file.

``benchmarks/households.py`` and ``tests/linkage`` measure the index on
``civicshare.synthetic.linkage_pair`` (residents in households with twins, same-name fathers
and sons, siblings). ``index_pair`` makes a scratch store (SQLite under ``work``), two partners
with one dataset each whose contracts declare ``one_record_per_person``, pushes the two files
through ingest (rows that fail validation, such as a mistyped NHS number, are quarantined as
for any partner), runs the index once and returns its clusters by the pair's source names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from civicshare.config import Settings

# The pair's source name -> (partner, partner type, dataset)
DATASETS = {
    "council": ("worcestershire-cc", "county_council", "residents"),
    "gp": ("hw-icb", "icb", "gp-list"),
}
COLUMNS = [  # the pair's columns: (name, identifier kind or None, type)
    ("record_id", None, "string"),
    ("given_name", "given_name", "string"),
    ("surname", "family_name", "string"),
    ("date_of_birth", "date_of_birth", "date"),
    ("sex", None, "string"),
    ("nhs_number", "nhs_number", "string"),
    ("address", "address", "string"),
    ("postcode", "postcode", "string"),
]


@dataclass
class IndexedPair:
    clusters: pd.DataFrame  # source ("council"/"gp"), record_id, cluster_id (the person key)
    held: dict[str, int]  # records of each source in the index (quarantined rows are not)
    report: dict  # the run's report
    review_items: int
    review_within_source: int  # of the review items, pairs of two records of one source
    seconds: float  # the index run alone (not the pushes)


def contract(source: str, one_record_per_person: bool = True):
    from civicshare.datasets.contracts import Contract

    partner, _, name = DATASETS[source]
    return Contract.model_validate(
        {
            "partner": partner,
            "name": name,
            "title": f"Held-out {source} file",
            "format": "csv",
            "bad_rows": "quarantine",
            "record_id": "record_id",
            "one_record_per_person": one_record_per_person,
            "columns": [
                {
                    "name": column,
                    "type": kind,
                    "required": column == "record_id",
                    **({"identifier": identifier} if identifier else {}),
                }
                for column, identifier, kind in COLUMNS
            ],
        }
    )


def index_pair(
    paths: dict[str, Path],
    work: Path,
    *,
    one_record_per_person: bool = True,
    incremental: bool = False,
) -> IndexedPair:
    """``paths``: ``LinkagePair.write``'s council and gp files. The store lives under ``work``.
    ``incremental``: first the council file and half the GP file indexed, then the whole GP
    file pushed and linked in a second (incremental) run."""
    import time

    from sqlalchemy import func, select

    from civicshare import db
    from civicshare.datasets import service as datasets
    from civicshare.linkage.models import IndexedRecord, ReviewItem
    from civicshare.linkage.person_index.run import run
    from civicshare.partners import service as partners

    settings = Settings(
        data_dir=work / "data", database_url=f"sqlite:///{work / 'store.db'}",
        audit_checkpoint_every=0,
    )  # fmt: skip
    settings.ensure_dirs()
    engine = db.make_engine(settings.effective_database_url)
    db.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    try:
        with db.session_scope(sessions) as session:
            partners.upsert(
                session,
                [
                    {"key": key, "name": key, "type": kind, "status": "endorsed"}
                    for key, kind, _ in DATASETS.values()
                ],
            )
        pushes = list(DATASETS.items())
        if incremental:
            half = work / "gp-first-half.csv"
            gp = pd.read_csv(paths["gp"], dtype=str, keep_default_na=False)
            gp.head(len(gp) // 2).to_csv(half, index=False)
            pushes.insert(1, ("gp", DATASETS["gp"]))
        for number, (source, (partner, _, name)) in enumerate(pushes):
            path = half if incremental and number == 1 else paths[source]
            with db.session_scope(sessions) as session:
                datasets.register_contract(session, contract(source, one_record_per_person))
                pushed = datasets.push(session, settings, partner, name, path)
            if pushed.outcome != "accepted":
                raise ValueError(f"{source}: the push was refused: {pushed.report['reasons']}")
            if incremental and number == 1:
                with db.session_scope(sessions) as session:
                    run(session, settings)
        started = time.perf_counter()
        with db.session_scope(sessions) as session:
            outcome = run(session, settings)
            seconds = time.perf_counter() - started
            source_of = {f"{p}/{n}": s for s, (p, _, n) in DATASETS.items()}
            rows = session.execute(
                select(IndexedRecord.source, IndexedRecord.record_id, IndexedRecord.person_key)
            ).all()
            report, review_items = dict(outcome.run.report or {}), outcome.run.review_items
            within = session.scalar(
                select(func.count()).where(ReviewItem.source_l == ReviewItem.source_r)
            )
    finally:
        engine.dispose()
    clusters = pd.DataFrame(
        [(source_of[s], r, k) for s, r, k in rows], columns=["source", "record_id", "cluster_id"]
    )
    held = clusters["source"].value_counts().to_dict()
    return IndexedPair(clusters, held, report, review_items, within, round(seconds, 2))

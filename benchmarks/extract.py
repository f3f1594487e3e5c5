"""Governed extract benchmark: share() against a raw DuckDB export of the same rows and columns.

Builds a scratch gateway (SQLite store in a temporary directory) with an acute trust, a county
council and the hospital discharge agreement between them (active), pushes a synthetic
admissions extract of --size rows through validated ingest, then times, side by side in the
same process, for each request shape:

  governed  share(): decide, audit the decision, compile the grant, run it in DuckDB over the
            snapshot, decrypt identifiable values, write the Parquet file (hashing its bytes
            as they are written), audit record and receipt
  raw       DuckDB reading the same snapshot Parquet and writing the same rows and stored
            columns to Parquet, with no governance, tokens or decryption (for identifiers
            delivered in clear, whose values the snapshot keeps only sealed: their tokens)
  plain     (identifiable shapes) DuckDB reading a Parquet copy of the snapshot that holds the
            identifiers in clear (as an ungoverned store would), written once before timing,
            and writing exactly the rows and values share() delivers: the stricter baseline

Shapes: `minimised` (pseudonymised NHS number, generalised postcode sector and birth year,
plain clinical columns; no row scope), and `discharge` (the template as written: identifiable
names, NHS number, date of birth and postcode for adults, so every adult's date of birth is
needed in clear for the age check). Ratio = governed / baseline (median of --repeat runs; the
first governed run of a shape is also reported alone, since it derives the agreement's
pseudonyms that later runs reuse). Last line: JSON; its top-level `ratio` is the worse of the
two shapes' governed / raw ratios.

    .venv/bin/python benchmarks/extract.py                # 50,000 rows
    .venv/bin/python benchmarks/extract.py --size 1000000
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console

from civicshare import db
from civicshare.accounts.service import actor_for
from civicshare.agreements import service as agreements
from civicshare.config import Settings
from civicshare.datasets import service as datasets
from civicshare.datasets.contracts import example_contracts
from civicshare.partners import service as partners
from civicshare.sharing.delivery import share
from civicshare.sharing.service import ShareRequest
from civicshare.synthetic.common import nhs_check_digit

TODAY = date.today()
PURPOSE = "discharge-planning"  # one of the hospital-discharge template's permitted purposes
SHAPES = {
    "minimised": {
        "items": [
            ("NHS_NO", "pseudonymised", None, None),
            ("POSTCODE", "generalised", "postcode_sector", None),
            ("DOB", "generalised", "birth_year", None),
            ("ADMIT_DT", "identifiable", None, None),
            ("DISCH_DT", "identifiable", None, None),
            ("DISCH_PATHWAY", "identifiable", None, "health"),
            ("CFS_SCORE", "identifiable", None, "health"),
        ],
        "row_scope": {"description": "Every spell in the extract."},
        "raw_columns": [
            "NHS_NO__token",
            "POSTCODE__sector",
            "DOB__year",
            "ADMIT_DT",
            "DISCH_DT",
            "DISCH_PATHWAY",
            "CFS_SCORE",
        ],  # fmt: skip
        "raw_where": "",
    },
    "discharge": {
        "items": None,  # the hospital-discharge template's own items and row scope (adults)
        # The snapshot keeps these identifiers' values only sealed (decision 0039): the
        # stored columns a raw export of them can read are their tokens.
        "raw_columns": [
            "NHS_NO__token",
            "PAT_SURNAME__token",
            "PAT_FORENAME__token",
            "DOB__token",
            "POSTCODE__token",
            "ADMIT_DT",
            "DISCH_DT",
            "DISCH_PATHWAY",
            "CFS_SCORE",
        ],  # fmt: skip
        # The template's row scope: adults, on discharge pathways 1 to 3 (a row condition).
        "raw_where": f"WHERE DOB__year <= {TODAY.year - 18} AND DISCH_PATHWAY IN ('1', '2', '3')",
        "plain_columns": [
            "NHS_NO",
            "PAT_SURNAME",
            "PAT_FORENAME",
            "DOB",
            "POSTCODE",
            "ADMIT_DT",
            "DISCH_DT",
            "DISCH_PATHWAY",
            "CFS_SCORE",
        ],  # fmt: skip
        "plain_where": f"WHERE date_sub('year', CAST(DOB AS DATE), DATE '{TODAY}') >= 18 "
        "AND DISCH_PATHWAY IN ('1', '2', '3')",
    },
}
IDENTIFIERS = ["NHS_NO", "PAT_SURNAME", "PAT_FORENAME", "DOB", "POSTCODE"]


def make_admissions(path: Path, rows: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    first9 = rng.integers(900_000_000, 999_999_999, rows)
    check = nhs_check_digit(first9)
    nhs = np.char.add(first9.astype(str), check.astype(str))
    nhs[check == 10] = ""  # no valid number exists for these nine digits: recorded as missing
    dob = (np.datetime64("1925-01-01") + rng.integers(0, 36_000, rows)).astype("datetime64[D]")
    admit = np.datetime64("2025-06-01T00:00") + rng.integers(0, 400_000, rows).astype(
        "timedelta64[m]"
    )
    los = rng.integers(0, 30, rows)
    discharge = admit + (los * 1440 + rng.integers(0, 600, rows)).astype("timedelta64[m]")
    names = np.array(["SMITH", "JONES", "TAYLOR", "BROWN", "PATEL", "WILSON", "KHAN", "EVANS"])
    given = np.array(["JOHN", "MARGARET", "DAVID", "SUSAN", "PRIYA", "LINDA", "JAMES", "MARY"])
    table = pa.table({
        "SPELL_ID": np.char.add("SP", np.arange(rows).astype(str)),
        "NHS_NO": nhs,
        "PAT_SURNAME": names[rng.integers(0, 8, rows)],
        "PAT_FORENAME": given[rng.integers(0, 8, rows)],
        "DOB": np.char.replace(dob.astype(str), "-", ""),
        "SEX": np.array(["M", "F"])[rng.integers(0, 2, rows)],
        "ADDR1": np.char.add(rng.integers(1, 200, rows).astype(str), " HIGH STREET"),
        "POSTCODE": np.char.add(
            np.char.add("WR", rng.integers(1, 15, rows).astype(str)),
            np.char.add(" 1", np.array(["AB", "PS", "YD"])[rng.integers(0, 3, rows)]),
        ),
        "SITE_CODE": np.full(rows, "R9W01"),
        "ADMIT_DT": np.char.replace(admit.astype(str), "T", " "),
        "DISCH_DT": np.char.replace(discharge.astype(str), "T", " "),
        "LOS_DAYS": los.astype(str),
        "ADMIT_METHOD": np.array(["11", "21", "22"])[rng.integers(0, 3, rows)],
        "SPECIALTY": np.array(["100", "300", "430"])[rng.integers(0, 3, rows)],
        "CFS_SCORE": rng.integers(1, 10, rows).astype(str),
        "DISCH_METHOD": np.full(rows, "1"),
        "DISCH_PATHWAY": rng.choice(["0", "1", "2", "3"], rows, p=[0.5, 0.45, 0.04, 0.01]),
        "READMIT_30D": np.array(["Y", "N"])[(rng.random(rows) < 0.1).astype(int) ^ 1],
    })  # fmt: skip
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="all_valid"))


def build(settings: Settings, rows: int, tmp: Path) -> dict:
    engine = db.make_engine(settings.effective_database_url)
    db.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    with db.session_scope(sessions) as session:
        acute, county, city = partners.upsert(session, [
            {"key": "worcs-acute", "name": "Acute Trust", "type": "nhs_trust",
             "status": "endorsed"},
            {"key": "worcestershire-cc", "name": "County Council", "type": "county_council",
             "status": "endorsed"},
            {"key": "worcester-city", "name": "City Council", "type": "district_council",
             "status": "endorsed"},
        ])  # fmt: skip
        for partner in (acute, county, city):  # activation needs each party's DPO on record
            partner.dpo_name, partner.dpo_email = "DPO", f"dpo@{partner.key}.example"
        leads = {}
        # The city's IG lead, party to neither agreement, records the IG group's endorsement.
        for partner in (acute, county, city):
            person = partners.create_person(
                session, email=f"ig@{partner.key}.example", display_name="IG"
            )
            leads[partner.key] = actor_for(
                partners.add_membership(session, person, partner, ["ig_lead"]), "cli"
            )
        analyst = partners.create_person(session, email="analyst@county.example", display_name="A")
        membership = partners.add_membership(session, analyst, county, ["analyst"])
        contract = next(c for c in example_contracts() if c.name == "acute-admissions")
        datasets.register_contract(session, contract)
    csv_path = tmp / "acute-admissions.csv"
    make_admissions(csv_path, rows)
    started = time.perf_counter()
    with db.session_scope(sessions) as session:
        pushed = datasets.push(session, settings, "worcs-acute", "acute-admissions", csv_path)
    if pushed.snapshot is None:
        raise SystemExit(f"the benchmark extract was refused: {pushed.report}")
    ingest_seconds = time.perf_counter() - started
    refs = {}
    with db.session_scope(sessions) as session:
        for shape, spec in SHAPES.items():
            version = agreements.create_draft(session, leads["worcs-acute"], title=f"Bench {shape}",
                                              template_key="hospital-discharge")  # fmt: skip
            changes = {"start_date": TODAY, "review_date": TODAY + timedelta(days=365),
                       "dpia_outcome": "DPIA completed: residual risk low.",
                       "dpia_completed_on": TODAY - timedelta(days=10)}  # fmt: skip
            if spec["items"]:
                changes["row_scope"] = spec["row_scope"]
            agreements.update_draft(session, leads["worcs-acute"], version, changes, reason="bench")
            if spec["items"]:
                agreements.set_data_items(session, version, [
                    {"provider": "worcs-acute", "dataset": "acute-admissions", "column": c,
                     "treatment": t, "generalisation": g, "special_category": k}
                    for c, t, g, k in spec["items"]
                ])  # fmt: skip
            agreements.submit(session, leads["worcs-acute"], version, today=TODAY)
            agreements.approve(session, leads["worcs-acute"], version)
            agreements.approve(session, leads["worcestershire-cc"], version)
            agreements.endorse(session, leads["worcester-city"], version, meeting_date=TODAY,
                               minute_reference="BENCH/1", today=TODAY)  # fmt: skip
            agreements.activate(session, leads["worcs-acute"], version, today=TODAY)
            refs[shape] = version.agreement.reference
        snapshot = datasets.current_snapshot(session, "worcs-acute", "acute-admissions", settings)
    plain_path = tmp / "plain-copy.parquet"
    write_plain_copy(settings, snapshot, plain_path)
    return {"engine": engine, "sessions": sessions, "membership_id": membership.id, "refs": refs,
            "snapshot_path": str(snapshot.data_path), "plain_path": str(plain_path),
            "ingest_seconds": ingest_seconds}  # fmt: skip


def write_plain_copy(settings: Settings, snapshot, target: Path) -> None:
    """The snapshot with its identifiers in clear (normalised text), same rows, same order,
    zstd like the snapshot: what a store without encryption would hold. Benchmark only."""
    from civicshare.identity import service as identity

    table = pq.read_table(snapshot.data_path)
    for column in IDENTIFIERS:
        stored = snapshot.storage[column]
        path = snapshot.directory / stored["sealed"]
        plain = identity.unseal_column(settings, snapshot, column, path, table.num_rows)
        assert plain.column("_row").equals(table.column("_row"))
        table = table.append_column(column, plain.column("value"))
    pq.write_table(table, target, compression="zstd")


def governed(settings: Settings, world: dict, shape: str, out: Path) -> tuple[float, int]:
    from civicshare.partners.models import Membership

    started = time.perf_counter()
    with db.session_scope(world["sessions"]) as session:
        actor = actor_for(session.get(Membership, world["membership_id"]), "cli")
        request = ShareRequest(actor, PURPOSE, "worcs-acute", "acute-admissions",
                               agreement=world["refs"][shape])  # fmt: skip
        # Written by share() as raw writes it (pyarrow's defaults), hashed as it is written.
        delivery = share(session, settings, request, via="cli", output_format="parquet", out=out)
    return time.perf_counter() - started, delivery.table.num_rows


def _duckdb_export(path: str, columns: list[str], where: str, out: Path) -> tuple[float, int]:
    selected = ", ".join(f'"{c}"' for c in columns)
    started = time.perf_counter()
    with duckdb.connect() as connection:
        table = connection.sql(
            f"SELECT {selected} FROM read_parquet('{path}') {where}"
        ).to_arrow_table()
        pq.write_table(table, out)
    return time.perf_counter() - started, table.num_rows


def raw(world: dict, shape: str, out: Path) -> tuple[float, int]:
    spec = SHAPES[shape]
    return _duckdb_export(world["snapshot_path"], spec["raw_columns"], spec["raw_where"], out)


def plain(world: dict, shape: str, out: Path) -> tuple[float, int]:
    spec = SHAPES[shape]
    return _duckdb_export(world["plain_path"], spec["plain_columns"], spec["plain_where"], out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=50_000, help="rows in the extract")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results: dict = {"rows": args.size}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings = Settings(data_dir=tmp / "data", database_url=f"sqlite:///{tmp / 'store.db'}")
        settings.ensure_dirs()
        world = build(settings, args.size, tmp)
        results["ingest_seconds"] = round(world["ingest_seconds"], 2)
        console = Console(file=io.StringIO())
        for shape in SHAPES:
            g_times, r_times, p_times = [], [], []
            for _ in range(args.repeat):
                # Each export writes a new file: the last run's is removed before timing (share()
                # moves its file onto the path, which costs the removal of what was there).
                outputs = {name: tmp / f"{name}.parquet" for name in ("governed", "raw", "plain")}
                for path in outputs.values():
                    path.unlink(missing_ok=True)
                seconds, g_rows = governed(settings, world, shape, outputs["governed"])
                g_times.append(seconds)
                seconds, r_rows = raw(world, shape, outputs["raw"])
                r_times.append(seconds)
                if "plain_columns" in SHAPES[shape]:
                    seconds, p_rows = plain(world, shape, outputs["plain"])
                    p_times.append(seconds)
            g, r = statistics.median(g_times), statistics.median(r_times)
            results[shape] = {"rows_out": g_rows, "raw_rows_out": r_rows,
                              "governed_first_seconds": round(g_times[0], 3),
                              "governed_seconds": round(g, 3), "raw_seconds": round(r, 3),
                              "ratio": round(g / r, 2)}  # fmt: skip
            line = (f"{shape:>10}: governed {g:.3f}s (first {g_times[0]:.3f}s), raw DuckDB "
                    f"{r:.3f}s, ratio {g / r:.2f}x")  # fmt: skip
            if p_times:
                p = statistics.median(p_times)
                results[shape].update(plain_rows_out=p_rows, plain_seconds=round(p, 3),
                                      plain_ratio=round(g / p, 2))  # fmt: skip
                line += f"; plain-copy DuckDB {p:.3f}s, ratio {g / p:.2f}x"
            print(f"{line} ({g_rows:,} rows)")
        del console
        world["engine"].dispose()
    results["ratio"] = max(results[shape]["ratio"] for shape in SHAPES)
    print(json.dumps(results))


if __name__ == "__main__":
    main()

"""Backends: where Splink runs. One interface, ``Backend``; DuckDB in process, or Spark.

Each step that differs between the two is a method, so the training and prediction code
reads the same for both: ``prepare`` (standardised records registered with Splink),
``split_two_sources``, ``before_predict``, ``pairs_frame`` and ``release``.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
import weakref
from typing import Any, Protocol

import duckdb
import pandas as pd

from civicshare.linkage import splink_internals
from civicshare.linkage.engine.standardise import standardise_into
from civicshare.linkage.standardised import FIELD_COLUMNS, is_standardised, profile

RECORDS_TABLE = "civicshare_records"


# DuckDB's own default is 80% of the machine's memory. A linkage run inside the gateway shares
# the machine, so it gets a budget and spills to disk beyond it (docs/linkage.md, "Memory").
DEFAULT_MEMORY_LIMIT = "1536MB"

PAIR_COLUMNS = [
    "source_l",
    "record_id_l",
    "source_r",
    "record_id_r",
    "match_weight",
    "match_probability",
]


class Backend(Protocol):
    """What training and prediction ask of the database Splink runs in."""

    name: str

    def prepare(self, records: Any, existing: Any = None) -> tuple[Any, Any, dict[str, Any]]:
        """Standardised records registered with Splink: (db_api, table, profile).

        With ``existing``, the table holds both, ``is_new`` telling them apart (a record in
        both counts as new)."""
        ...

    def split_two_sources(self, db_api: Any) -> list[Any] | None:
        """The records as one registered table per source when there are exactly two, or None
        where the backend keeps one table."""
        ...

    def before_predict(self, linker: Any) -> None:
        """Anything the backend does to the linker before ``linker.inference.predict``."""
        ...

    def pairs_frame(self, db_api: Any, predictions: Any, detail: bool = True) -> pd.DataFrame:
        """Only the columns callers use, best pairs first."""
        ...

    def release(self, db_api: Any) -> None:
        """Free what the linkage held."""
        ...


def spark_session(master: str = "local[2]", conf: dict[str, str] | None = None) -> Any:
    """A SparkSession Splink can run on: its string-similarity jar (``jaro_winkler`` ...) and a
    checkpoint directory; in local mode the driver on loopback, since it serves the jar.
    ``conf`` is passed as it is (docs/person-index.md, "On Spark")."""
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    builder = (
        SparkSession.builder.master(master)
        .appName("civicshare-linkage")
        .config("spark.jars", similarity_jar_location())
        .config("spark.ui.enabled", "false")
    )
    if master.startswith("local"):
        builder = builder.config("spark.driver.bindAddress", "127.0.0.1").config(
            "spark.driver.host", "127.0.0.1"
        )
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if not session.sparkContext.getCheckpointDir():
        session.sparkContext.setCheckpointDir(
            (conf or {}).get("spark.checkpoint.dir") or tempfile.mkdtemp(prefix="civicshare-spark-")
        )
    return session


def backend_for(backend: str, spark: Any = None, memory_limit: str | None = None) -> Backend:
    """The backend named ``"duckdb"`` or ``"spark"`` (which needs a SparkSession)."""
    if backend == "duckdb":
        return DuckDBBackend(memory_limit)
    if backend == "spark":
        return SparkBackend(spark)
    raise ValueError(f"unknown backend {backend!r}: use 'duckdb' or 'spark'")


def tidy_pairs(scored: pd.DataFrame, detail: bool = True) -> pd.DataFrame:
    extra = [c for c in scored.columns if detail and c.startswith(("gamma_", "mw_"))]
    pairs = scored[PAIR_COLUMNS + extra].copy()
    return pairs.sort_values(
        ["match_probability", "source_l", "record_id_l", "source_r", "record_id_r"],
        ascending=[False, True, True, True, True],
        ignore_index=True,
    )


# -- DuckDB ------------------------------------------------------------------------------------


def connect(memory_limit: str | None) -> tuple[duckdb.DuckDBPyConnection, str]:
    """A connection with a memory budget, spilling to its own directory (not the cwd)."""
    spill = tempfile.mkdtemp(prefix="civicshare-linkage-")
    con = duckdb.connect(
        config={"memory_limit": memory_limit or DEFAULT_MEMORY_LIMIT, "temp_directory": spill}
    )
    return con, spill


# Records that share a surname and an address with a record of another first name in their
# own source, as a share of all records, above which the records are taken to hold families.
# A council or GP list: about half its records; FEBRL4 or a list of clients: next to none. Only
# then are relatives at one address kept apart (comparisons.household): in records without
# families, a first name that differs at one address is far more often a keying error (FEBRL4
# replaces whole first names) than a twin.
HOUSEHOLD_SHARE = 0.02


def profile_table(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, Any]:
    columns = [*FIELD_COLUMNS.values(), "postcode_sector"]
    counted = con.execute(
        "SELECT count(*), " + ", ".join(f'count("{c}")' for c in columns) + f" FROM {table}"
    ).fetchone()
    names = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    found = profile(dict(zip(columns, counted[1:], strict=True)), counted[0], names)
    found["households"] = _holds_households(con, table, names, counted[0])
    return found


def _holds_households(con: duckdb.DuckDBPyConnection, table: str, names: list, rows: int) -> bool:
    if not rows or not {"source", "surname", "given_name"} <= set(names):
        return False
    home = [c for c in ("address_compact", "uprn", "postcode") if c in names]
    if not home:
        return False
    place = f"coalesce({', '.join(home)})"
    in_families = con.execute(
        f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM {table} "
        f"WHERE surname IS NOT NULL AND given_name IS NOT NULL AND {place} IS NOT NULL "
        f"GROUP BY source, surname, {place} HAVING count(DISTINCT given_name) > 1)"
    ).fetchall()[0][0]
    return float(in_families) >= HOUSEHOLD_SHARE * rows


def _into(con: duckdb.DuckDBPyConnection, records: pd.DataFrame, table: str) -> None:
    if is_standardised(records):
        con.register("civicshare_input", records)
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM civicshare_input")
        con.unregister("civicshare_input")
    else:
        standardise_into(con, records, table)


class DuckDBBackend:
    """In process, with a memory budget (``DEFAULT_MEMORY_LIMIT`` unless given)."""

    name = "duckdb"

    def __init__(self, memory_limit: str | None = None) -> None:
        self.memory_limit = memory_limit

    def prepare(
        self, records: pd.DataFrame, existing: pd.DataFrame | None = None
    ) -> tuple[Any, Any, dict[str, Any]]:
        """The records are standardised inside the connection Splink then uses, so nothing
        is copied back to pandas."""
        from splink import DuckDBAPI

        con, spill = connect(self.memory_limit)
        _into(con, records, "civicshare_new")
        if existing is not None:
            _into(con, existing, "civicshare_existing")
            con.execute(
                f"CREATE TABLE {RECORDS_TABLE} AS "
                "SELECT *, true AS is_new FROM civicshare_new UNION ALL BY NAME "
                "SELECT *, false AS is_new FROM civicshare_existing "
                "WHERE uid NOT IN (SELECT uid FROM civicshare_new)"
            )
        else:
            con.execute(f"ALTER TABLE civicshare_new RENAME TO {RECORDS_TABLE}")
        counts = profile_table(con, RECORDS_TABLE)
        db_api = DuckDBAPI(connection=con)
        weakref.finalize(db_api, shutil.rmtree, spill, True)
        return db_api, db_api.register(RECORDS_TABLE, dataset_display_name=RECORDS_TABLE), counts

    def split_two_sources(self, db_api: Any) -> list[Any] | None:
        con = db_api.duckdb_con
        sources = [
            r[0] for r in con.execute(f"SELECT DISTINCT source FROM {RECORDS_TABLE}").fetchall()
        ]
        if len(sources) != 2:
            return None
        tables = []
        for number, source in enumerate(sorted(sources)):
            name = f"{RECORDS_TABLE}_{number}"
            con.execute(
                f"CREATE TABLE {name} AS SELECT * FROM {RECORDS_TABLE} WHERE source = ?", [source]
            )
            tables.append(db_api.register(name, dataset_display_name=name))
        con.execute(f"DROP TABLE {RECORDS_TABLE}")
        return tables

    def before_predict(self, linker: Any) -> None:
        """Blocking one rule at a time (``splink_internals.register_blocked_pairs``)."""
        splink_internals.register_blocked_pairs(linker)

    def pairs_frame(self, db_api: Any, predictions: Any, detail: bool = True) -> pd.DataFrame:
        """Selected and sorted in SQL."""
        per_comparison = ", COLUMNS('^(mw|gamma)_')" if detail else ""
        return db_api.duckdb_con.execute(
            f"SELECT {', '.join(PAIR_COLUMNS)}{per_comparison} "
            f"FROM {predictions.physical_name} "
            "ORDER BY match_probability DESC, source_l, record_id_l, source_r, record_id_r"
        ).df()

    def release(self, db_api: Any) -> None:
        """Close the DuckDB connection Splink worked in: its tables are gigabytes at scale."""
        db_api.duckdb_con.close()


# -- Spark: records standardised inside Spark (linkage/spark_standardise.py), never on the driver


class SparkBackend:
    """A SparkSession; records as a pandas or a Spark DataFrame."""

    name = "spark"

    def __init__(self, spark: Any) -> None:
        if spark is None:
            raise ValueError("backend='spark' needs a SparkSession (spark=...)")
        self.spark = spark

    def prepare(self, records: Any, existing: Any = None) -> tuple[Any, Any, dict[str, Any]]:
        """Standardised by Spark SQL functions into the columns DuckDB makes; only counts
        reach the driver."""
        from splink import SparkAPI

        from civicshare.linkage import spark_standardise

        spark = self.spark
        frame = spark_standardise.standardise(spark, records)
        if existing is not None:
            frame = spark_standardise.with_existing(
                frame, spark_standardise.standardise(spark, existing)
            )
        frame = spark_standardise.materialise(spark, frame)
        counts = spark_standardise.profile(frame)
        db_api = SparkAPI(spark_session=spark)
        # A view of its own per call: a session can run several linkages (Splink refuses to
        # register a name that is already a table).
        view = f"{RECORDS_TABLE}_{uuid.uuid4().hex}"
        frame.createOrReplaceTempView(view)
        return db_api, db_api.register(view, dataset_display_name=RECORDS_TABLE), counts

    def split_two_sources(self, db_api: Any) -> list[Any] | None:
        return None  # one table: Splink's link_only joins need one per source

    def before_predict(self, linker: Any) -> None:
        return None  # Splink's own blocking

    def pairs_frame(self, db_api: Any, predictions: Any, detail: bool = True) -> pd.DataFrame:
        return tidy_pairs(predictions.as_pandas_dataframe(), detail)

    def release(self, db_api: Any) -> None:
        return None  # the session is the caller's

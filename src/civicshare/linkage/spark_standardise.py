"""Standardisation inside Spark: the columns of ``engine.standardise``, for the Spark backend.

``engine.standardise`` runs one SQL statement in DuckDB; this module computes the same
columns with ``pyspark.sql.functions`` (higher-order ``filter``/``transform`` on token arrays,
a broadcast join for nickname groups, a CASE for abbreviations), so records never pass
through the driver: a Spark DataFrame of canonical records is standardised where it lies,
and a pandas frame is handed to Spark once, as Arrow, with every canonical column as text.

Byte for byte equal to DuckDB (``tests/linkage/test_spark.py`` checks it column by column).
Where the two engines' string functions differ, the DuckDB behaviour is reproduced:

- Accents: Spark has no ``strip_accents``, and its ``upper`` follows Java (``ß`` becomes
  ``SS``). Every non-ASCII code point that DuckDB's ``upper(strip_accents(c))`` turns into
  an ASCII letter, digit or comma, or into nothing (combining marks, apostrophes), is read
  from DuckDB itself once per process and applied with ``translate``; anything else is
  punctuation in both engines. ``upper`` then sees ASCII only.
- ``trim`` in DuckDB strips Unicode space separators (category Zs), Spark's only ``' '``.
- Dates: DuckDB's ``strptime('%Y-%m-%d')`` takes 1-4 digit years, 1-2 digit months and
  days and surrounding ASCII white space; the parts are parsed here with a regular
  expression and checked against the calendar, so no date function can raise under ANSI.
- Java's ``$`` also matches before a final line break; patterns end in ``\\z`` instead.
- ``address_tokens`` holds the same words; DuckDB's ``list_distinct`` leaves them in hash
  order, Spark's ``array_distinct`` in the order of the address (comparisons intersect them,
  so order does not matter).
"""

from __future__ import annotations

import functools
from typing import Any

import duckdb
import pandas as pd

from civicshare.linkage import standardised as shared

# DuckDB's strptime skips these around the date (C isspace).
_ASCII_SPACE = "\\t\\n\\x0B\\f\\r "
_DATE = f"^[{_ASCII_SPACE}]*([0-9]{{1,4}})-([0-9]{{1,2}})-([0-9]{{1,2}})[{_ASCII_SPACE}]*\\z"
_HOUSE_NUMBER = "^[0-9]+[A-Z]?\\z"
_UK_POSTCODE = "^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}\\z"

# What Spark reads as extra types when a standardised pandas frame is handed over.
_SPARK_TYPES = {
    "given_aliases": "array<string>",
    "surname_tokens": "array<string>",
    "address_tokens": "array<string>",
    "given_is_initial": "boolean",
    "nhs_valid": "boolean",
    "is_new": "boolean",
    "dob_year": "bigint",
    "dob_month": "bigint",
    "easting": "double",
    "northing": "double",
}


@functools.cache
def _character_maps() -> dict[str, tuple[str, str]]:
    """``translate`` arguments that make Spark's text cleaning agree with DuckDB's.

    ``text``: DuckDB's ``upper(strip_accents(c))`` less apostrophes, for the code points
    where that is one ASCII letter, digit or comma (``É`` -> ``E``) or nothing (a combining
    mark, an apostrophe; these are listed last, unmatched, so ``translate`` deletes them).
    ``ident``: DuckDB's ``upper(c)`` where that is an ASCII letter or digit (``ı`` -> ``I``).
    """
    con = duckdb.connect()
    try:
        rows = con.execute(
            """
            SELECT cp, regexp_replace(upper(strip_accents(chr(cp::INTEGER))), '[''`’]', '', 'g'),
                   upper(chr(cp::INTEGER))
            FROM range(1114112) r(cp)
            WHERE (cp >= 128 OR cp IN (39, 96)) AND (cp < 55296 OR cp > 57343)
            """
        ).fetchall()
    finally:
        con.close()
    keep = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,")
    mapped = [(chr(cp), text) for cp, text, _ in rows if text in keep]
    deleted = [chr(cp) for cp, text, _ in rows if text == ""]
    ident = [(chr(cp), upper) for cp, _, upper in rows if cp >= 128 and upper in keep - {","}]
    return {
        "text": ("".join(c for c, _ in mapped) + "".join(deleted), "".join(t for _, t in mapped)),
        "ident": ("".join(c for c, _ in ident), "".join(t for _, t in ident)),
    }


def _nullif_empty(column: Any) -> Any:
    from pyspark.sql import functions as F

    return F.when(column != "", column)


def _zs_trim(column: Any) -> Any:
    """DuckDB's ``trim``: Unicode space separators off both ends."""
    from pyspark.sql import functions as F

    return F.regexp_replace(column, "^\\p{Zs}+|\\p{Zs}+\\z", "")


def _clean_text(column: Any, address: bool = False) -> Any:
    """``engine.standardise.clean_text_sql``: upper case, accents and apostrophes dropped, the rest
    (digits and commas too, unless ``address``) to single spaces."""
    from pyspark.sql import functions as F

    source, target = _character_maps()["text"]
    text = F.translate(column, source, target)
    text = F.upper(F.regexp_replace(text, "[^A-Za-z0-9 ,]" if address else "[^A-Za-z ]", " "))
    return _nullif_empty(F.trim(F.regexp_replace(text, " +", " ")))


def _clean_ident(column: Any) -> Any:
    """``regexp_replace(upper(x), '[^A-Z0-9]', '')`` as DuckDB computes it."""
    from pyspark.sql import functions as F

    source, target = _character_maps()["ident"]
    text = F.regexp_replace(F.translate(column, source, target), "[^A-Za-z0-9]", "")
    return _nullif_empty(F.upper(text))


def _expand(word: Any) -> Any:
    """Address abbreviations to words (RD -> ROAD)."""
    from pyspark.sql import functions as F

    expanded = None
    for short, long in shared.ABBREVIATIONS.items():
        expanded = (F if expanded is None else expanded).when(word == short, long)
    return expanded.otherwise(word)


def _iso(year: Any, month: Any, day: Any) -> Any:
    from pyspark.sql import functions as F

    # format_string writes NULL as "null": no date, no text.
    known = year.isNotNull() & month.isNotNull() & day.isNotNull()
    return F.when(known, F.format_string("%04d-%02d-%02d", year, month, day))


def _spark_input(spark: Any, frame: pd.DataFrame) -> Any:
    """A pandas frame as a Spark DataFrame via Arrow: canonical columns as text (as DuckDB
    casts them), extras with the types Arrow infers."""
    import pyarrow as pa

    arrays, names = [], []
    for name in frame.columns:
        values = frame[name]
        if name in shared.CANONICAL_COLUMNS or name in shared.STANDARD_COLUMNS:
            text = values.astype("string")
            if pd.api.types.is_bool_dtype(values):
                text = text.str.lower()  # DuckDB casts true to 'true'
            array = pa.array(text, type=pa.string(), from_pandas=True)
        else:
            try:
                array = pa.array(values, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                array = pa.array(values.astype("string"), type=pa.string(), from_pandas=True)
            if pa.types.is_null(array.type):
                array = array.cast(pa.string())
        arrays.append(array)
        names.append(str(name))
    return spark.createDataFrame(pa.Table.from_arrays(arrays, names=names))


def _spark_frame(spark: Any, std: pd.DataFrame) -> Any:
    """An already standardised pandas frame as a Spark DataFrame with explicit types (an
    all-null column would otherwise be VOID), through Arrow."""
    import pyarrow as pa

    kinds = {
        "array<string>": pa.list_(pa.string()),
        "boolean": pa.bool_(),
        "bigint": pa.int64(),
        "double": pa.float64(),
    }
    arrays = []
    for name in std.columns:
        kind = kinds.get(_SPARK_TYPES.get(name, "string"), pa.string())
        values = std[name]
        if pa.types.is_list(kind):
            values = [
                None if v is None or (not hasattr(v, "__len__") and pd.isna(v)) else list(v)
                for v in values
            ]
        elif kind == pa.string():
            values = values.astype("string")
        elif kind == pa.int64():
            values = values.astype("Int64")
        elif kind == pa.bool_():
            values = values.astype("boolean")
        arrays.append(pa.array(values, type=kind, from_pandas=True))
    return spark.createDataFrame(pa.Table.from_arrays(arrays, names=[str(c) for c in std.columns]))


def _check_ids(raw: Any) -> None:
    """The checks of ``engine.standardise.standardise_into``: every record has a record_id,
    unique within its source. One small aggregation; only the first offending keys reach the
    driver."""
    from pyspark.sql import functions as F

    found = (
        raw.groupBy("source", "record_id")
        .count()
        .where(F.col("record_id").isNull() | (F.col("count") > 1))
        .orderBy(F.col("record_id").isNotNull(), "source", "record_id")
        .limit(3)
        .collect()
    )
    if found and found[0]["record_id"] is None:
        raise ValueError("every record needs a record_id")
    if found:
        raise ValueError(
            "record_id must be unique within each source; repeated: "
            + ", ".join(f"{row['source']} row id {row['record_id']!r}" for row in found)
        )


def standardise(spark: Any, records: Any) -> Any:
    """Canonical records (pandas or Spark DataFrame) standardised in Spark: a Spark DataFrame
    with the columns (and order) of ``engine.standardise``, extras passed through."""
    from pyspark.sql import functions as F

    if isinstance(records, pd.DataFrame):
        if shared.is_standardised(records):
            return _spark_frame(spark, records)
        records = _spark_input(spark, records)
    if shared.is_standardised(records):
        return records
    present = set(records.columns)
    extras = [
        c
        for c in records.columns
        if c not in shared.CANONICAL_COLUMNS and c not in shared.STANDARD_COLUMNS
    ]
    extra_columns = [F.col(f"`{c}`") for c in extras]

    text = {}
    for name in shared.CANONICAL_COLUMNS:
        if name in present:
            trimmed = _zs_trim(F.col(f"`{name}`").cast("string"))
            text[name] = _nullif_empty(trimmed)
        else:
            text[name] = F.lit(None).cast("string")
    raw = records.select(
        *(column.alias(name) for name, column in text.items()), *extra_columns
    ).withColumn("source", F.coalesce("source", F.lit("records")))
    _check_ids(raw.select("source", "record_id"))
    return _without_common_words(_standardised(_named(spark, raw, extra_columns), extra_columns))


def _not_number(t: Any) -> Any:
    return ~t.rlike(_HOUSE_NUMBER)


def _named(spark: Any, raw: Any, extra_columns: list[Any]) -> Any:
    """Text cleaned, dates parsed, names split into tokens, nickname groups joined."""
    from pyspark.sql import functions as F

    date = F.col("date_of_birth")
    parsed = [F.regexp_extract(date, _DATE, i).cast("int") for i in (1, 2, 3)]
    cleaned = raw.select(
        "source",
        "record_id",
        _clean_text(F.col("given_name")).alias("given_clean"),
        _clean_text(F.col("surname")).alias("surname_clean"),
        *(
            F.when(date.rlike(_DATE), part).alias(f"_{n}")
            for part, n in zip(parsed, "ymd", strict=True)
        ),
        F.when(date.rlike("^[0-9]{4}-[0-9]{2}-[0-9]{2}\\z"), date).alias("dob_text"),
        F.upper(F.col("sex")).alias("sex_raw"),
        _nullif_empty(F.regexp_replace("nhs_number", "[^0-9]", "")).alias("nhs_digits"),
        _clean_ident(F.col("other_id")).alias("other_id"),
        _clean_ident(F.col("postcode")).alias("_pc"),
        _nullif_empty(F.regexp_replace("uprn", "[^0-9]", "")).alias("uprn_digits"),
        _clean_text(F.col("address"), address=True).alias("address_clean"),
        *extra_columns,
    )

    y, m, d = F.col("_y"), F.col("_m"), F.col("_d")
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    month_days = (
        F.when(m == 2, F.when(leap, 29).otherwise(28)).when(m.isin(4, 6, 9, 11), 30).otherwise(31)
    )
    real_date = m.between(1, 12) & d.between(1, month_days)
    pc = F.col("_pc")
    parts = cleaned.select(
        "*",
        F.filter(F.split("given_clean", " "), lambda t: t != "").alias("given_tokens"),
        F.filter(F.split("surname_clean", " "), lambda t: t != "").alias("surname_parts"),
        F.when(
            pc.rlike(_UK_POSTCODE),
            F.concat(pc.substr(F.lit(1), F.length(pc) - 3), F.lit(" "), F.substring(pc, -3, 3)),
        ).alias("uk_postcode"),
        F.when(real_date, y).alias("_dob_y"),
        F.when(real_date, m).alias("_dob_m"),
        F.when(real_date, d).alias("_dob_d"),
        F.split(F.regexp_replace("address_clean", ",", " "), " ").alias("_words"),
    )
    named = parts.withColumn("first_given", F.get("given_tokens", 0)).withColumn(
        "second_given", F.get("given_tokens", 1)
    )
    nicknames = spark.createDataFrame(
        shared.nickname_groups(), schema="alias_name string, alias_groups array<string>"
    )
    return named.join(F.broadcast(nicknames), named.first_given == nicknames.alias_name, "left")


def _standardised(named: Any, extra_columns: list[Any]) -> Any:
    """The standardised columns, before common address words are known."""
    from pyspark.sql import functions as F

    pc = F.col("_pc")
    not_number = _not_number
    first, surname_parts = F.col("first_given"), F.col("surname_parts")
    dob_y, dob_m, dob_d = F.col("_dob_y"), F.col("_dob_m"), F.col("_dob_d")
    nhs = F.col("nhs_digits")
    checksum = sum(F.substring(nhs, i + 1, 1).cast("int") * (10 - i) for i in range(9))
    address = F.col("address_clean")
    words = F.col("_words")
    words_in_order = F.transform(
        F.filter(words, lambda t: (t != "") & (t != F.coalesce(pc, F.lit(""))) & not_number(t)),
        _expand,
    )
    first_part = F.get(F.filter(F.split(address, ","), lambda p: p.rlike("[A-Z]")), 0)
    street_words = F.filter(F.split(first_part, " "), lambda t: (t != "") & not_number(t))
    uk = F.col("uk_postcode")
    empty = F.array().cast("array<string>")
    return named.select(
        F.concat("source", F.lit("|"), "record_id").alias("uid"),
        "source",
        "record_id",
        first.alias("given_name"),
        F.col("second_given").alias("given_other"),
        F.coalesce("alias_groups", empty).alias("given_aliases"),
        F.substring(first, 1, 1).alias("given_initial"),
        F.coalesce(F.length(first) == 1, F.lit(False)).alias("given_is_initial"),
        _nullif_empty(F.array_join(surname_parts, "")).alias("surname"),
        F.when(F.size(surname_parts) > 1, surname_parts).alias("surname_tokens"),
        F.coalesce(_iso(dob_y, dob_m, dob_d), F.col("dob_text")).alias("dob"),
        F.when((dob_d <= 12) & (dob_d != dob_m), _iso(dob_y, dob_d, dob_m)).alias("dob_swap"),
        dob_y.cast("bigint").alias("dob_year"),
        dob_m.cast("bigint").alias("dob_month"),
        F.when(F.col("sex_raw").isin("M", "MALE", "1", "MAN"), "M")
        .when(F.col("sex_raw").isin("F", "FEMALE", "2", "WOMAN"), "F")
        .alias("sex"),
        nhs.alias("nhs_number"),
        F.when(
            F.length(nhs) == 10,
            (11 - checksum % 11) % 11 == F.substring(nhs, 10, 1).cast("int"),
        )
        .otherwise(False)
        .alias("nhs_valid"),
        "other_id",
        _nullif_empty(
            F.trim(F.regexp_replace(F.regexp_replace(address, ",", " "), " +", " "))
        ).alias("address"),
        _nullif_empty(F.regexp_replace(address, "[, ]", "")).alias("address_compact"),
        words_in_order.alias("_words_in_order"),
        F.array_distinct(words_in_order).alias("_distinct_words"),
        F.get(F.filter(words, lambda t: t.rlike(_HOUSE_NUMBER)), 0).alias("house_number"),
        _nullif_empty(F.array_join(F.transform(street_words, _expand), " ")).alias("street"),
        F.coalesce(uk, pc).alias("postcode"),
        F.array_join(F.array_sort(F.filter(F.split(pc, ""), lambda c: c != "")), "").alias(
            "postcode_sorted"
        ),
        F.when(uk.isNotNull(), uk.substr(F.lit(1), F.length(uk) - 2)).alias("postcode_sector"),
        F.substring_index(uk, " ", 1).alias("postcode_district"),
        F.col("uprn_digits").alias("uprn"),
        *extra_columns,
    )


def _without_common_words(standardised: Any) -> Any:
    """Address tokens without the common words, and the parts blocking rules compare."""
    from pyspark.sql import functions as F

    # Words shared by many addresses (STREET, a county, a big town) say little about a person:
    # more than 20 addresses and more than 0.2% of them (500 * n > rows, exactly).
    counts = standardised.select(F.explode("_distinct_words").alias("word")).groupBy("word").count()
    rows = standardised.agg(F.count(F.lit(1)).alias("rows"))
    common = (
        counts.crossJoin(rows)
        .where((F.col("count") > 20) & (F.col("count") * 500 > F.col("rows")))
        .agg(F.collect_list("word").alias("_common"))
    )
    uncommon = lambda t: ~F.array_contains(F.col("_common"), t)  # noqa: E731
    tokens = F.filter("_distinct_words", uncommon)
    return (
        standardised.crossJoin(F.broadcast(common))
        # Parts that blocking rules compare, as engine.standardise.standardise_into computes them.
        .withColumn("surname_initial", F.substring("surname", 1, 1))
        .withColumn("surname_prefix", F.substring("surname", 1, 2))
        .withColumn("dob_month_day", F.substring("dob", 6, 5))
        .withColumn("dob_year_month", F.substring("dob", 1, 7))
        .withColumn("dob_year_day", F.concat(F.substring("dob", 1, 4), F.substring("dob", 9, 2)))
        .withColumn("address_tokens", F.when(F.size(tokens) > 0, tokens))
        .withColumn(
            "address_key", F.try_element_at(F.filter("_words_in_order", uncommon), F.lit(-1))
        )
        .drop("_words_in_order", "_distinct_words", "_common")
    )


def with_existing(new: Any, existing: Any) -> Any:
    """New and existing records in one frame, ``is_new`` telling them apart (a record in both
    counts as new), as ``engine.DuckDBBackend.prepare`` builds it on DuckDB."""
    from pyspark.sql import functions as F

    old = existing.join(new.select("uid"), "uid", "left_anti")
    return new.withColumn("is_new", F.lit(True)).unionByName(
        old.withColumn("is_new", F.lit(False)), allowMissingColumns=True
    )


def materialise(spark: Any, frame: Any, name: str = "civicshare_records") -> Any:
    """The standardised records computed once, as Splink stores its own intermediate tables.

    Splink reads its input table in several queries; without this each would rerun (and
    re-plan) the standardisation. Written as parquet under the session's checkpoint directory
    (which Splink's default ``break_lineage_method`` needs too) and read back; without a
    checkpoint directory, a local checkpoint (kept by the executors, freed by Spark when the
    frame is no longer referenced).
    """
    import os
    import uuid

    directory = spark.sparkContext.getCheckpointDir()
    if not directory:
        return frame.localCheckpoint(eager=True)
    path = os.path.join(directory, f"{name}_{uuid.uuid4().hex}")
    frame.write.parquet(path)
    return spark.read.parquet(path)


def profile(frame: Any) -> dict[str, Any]:
    """``engine.backends.profile_table`` in Spark: one aggregation, counts back to the driver."""
    from pyspark.sql import functions as F

    columns = [*shared.FIELD_COLUMNS.values(), "postcode_sector"]
    counted = frame.agg(F.count(F.lit(1)), *(F.count(F.col(c)) for c in columns)).first()
    counts = dict(zip(columns, (int(v) for v in counted[1:]), strict=True))
    found = shared.profile(counts, int(counted[0]), list(frame.columns))
    found["households"] = _holds_households(frame, int(counted[0]))
    return found


def _holds_households(frame: Any, rows: int) -> bool:
    """``engine.backends``' test for families in Spark: records sharing a surname and a home
    with a record of another first name in their own source, at least ``HOUSEHOLD_SHARE`` of
    all records. With it the model keeps relatives at one address apart, as on DuckDB."""
    from pyspark.sql import functions as F

    from civicshare.linkage.engine.backends import HOUSEHOLD_SHARE

    names = set(frame.columns)
    home = [c for c in ("address_compact", "uprn", "postcode") if c in names]
    if not rows or not home or not {"source", "surname", "given_name"} <= names:
        return False
    place = F.coalesce(*(F.col(c) for c in home))
    groups = (
        frame.where(F.col("surname").isNotNull() & F.col("given_name").isNotNull())
        .where(place.isNotNull())
        .groupBy("source", "surname", place.alias("place"))
        .agg(F.count(F.lit(1)).alias("n"), F.countDistinct("given_name").alias("names"))
    )
    in_families = groups.where(F.col("names") > 1).agg(F.sum("n")).first()[0] or 0
    return float(in_families) >= HOUSEHOLD_SHARE * rows

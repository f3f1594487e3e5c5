"""The same engine on Splink's Spark backend, in pyspark local mode.

Skips without pyspark or Java (saying how to enable it); under CI=true it must run.
"""

from __future__ import annotations

import json
import os
import shutil

import pandas as pd
import pytest

from civicshare.linkage import engine
from tests.conftest import unavailable
from tests.linkage.test_engine import two_sources


@pytest.fixture(scope="module")
def spark():
    try:
        import pyspark  # noqa: F401
    except ImportError:
        unavailable("pyspark is not installed", "Install the project's test requirements")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        unavailable(
            "Java is not installed (Spark needs it)",
            "Install a JDK 17 (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME",
        )
    session = engine.spark_session("local[2]", {"spark.sql.shuffle.partitions": "4"})
    yield session
    session.stop()


@pytest.fixture(scope="module")
def trained_on_spark(spark):
    a, b = two_sources(n=150)
    records = pd.concat([a, b], ignore_index=True)
    model, pairs = engine.train_and_predict(
        records, backend="spark", spark=spark, link_only=True, score_floor=0.01
    )
    return b, records, model, pairs


def test_spark_backend_trains_and_links(trained_on_spark):
    b, _, model, pairs = trained_on_spark
    accepted = pairs[pairs.match_probability >= model.recommended_threshold]
    same_person = accepted.record_id_l.str[1:] == accepted.record_id_r.str[1:]
    assert same_person.sum() >= 0.97 * len(b)
    assert (~same_person).sum() <= 2
    assert {"mw_surname", "gamma_surname", "source_l", "record_id_r"} <= set(pairs.columns)


def test_spark_dataframe_is_scored_without_collecting_records(
    spark, trained_on_spark, tmp_path, monkeypatch
):
    """Records that live in Spark (here a parquet file Spark reads) are standardised and
    scored there: only counts, at most three ids and the scored pairs reach the driver."""
    from civicshare.linkage import spark_standardise

    _, records, model, pairs = trained_on_spark
    records.to_parquet(tmp_path / "records.parquet", index=False)
    frame = spark.read.parquet(str(tmp_path / "records.parquet"))

    def refuse(*args, **kwargs):
        raise AssertionError("records went through pandas")

    monkeypatch.setattr(engine, "standardise", refuse)
    monkeypatch.setattr(spark_standardise, "_spark_input", refuse)
    monkeypatch.setattr(spark_standardise, "_spark_frame", refuse)
    # Every way a DataFrame reaches the driver (take, first and head go through collect).
    collected: list[set[str]] = []
    kind = type(frame)
    for name in ("collect", "toLocalIterator", "toPandas", "toArrow", "_collect_as_arrow"):
        original = getattr(kind, name)

        def spy(self, *args, _original=original, **kwargs):
            collected.append(set(self.columns))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(kind, name, spy)

    scored = engine.predict(
        model, frame, threshold=0.01, link_only=True, backend="spark", spark=spark
    )
    record_columns = {"uid", "given_name", "surname", "date_of_birth", "address"}
    assert any("match_probability" in columns for columns in collected)  # the spy sees pairs
    assert not any(record_columns & columns for columns in collected)
    # The same model on the same records: the pairs the pandas input scored in training.
    pd.testing.assert_frame_equal(scored, pairs, check_exact=False, rtol=1e-9)


def _messy() -> pd.DataFrame:
    """Records that exercise every cleaning rule, plus plain ones so some address words are
    common (shared by more than 20 addresses)."""
    rows = [
        # source, record_id, given, surname, dob, sex, nhs, other_id, address, postcode, uprn
        ("s", "1", "  Bill  Henry", "O'Brien-Smith", "1950-03-07", "male", "943 476 5919",
         "ab-123", "12a High St, Evesham", "wr11 4ab", "100120000001"),
        ("s", "2", "Zoë", "smith", "not a date", "2", "9434765918", "ß12", None, "12345", None),
        ("s", "3", "José María", "Núñez de la Cruz", "1945-04-93", "F", "0000000000", "ı9",
         "Flat 3, 14 Church Rd., Worcester WR1 2AB", "WR1 2AB", "UPRN 12"),
        ("s", "4", "Æthelred", "D’Arcy", "1950-12-11", "woman", "94347659190", None,
         "1, The Green", "SW1A 1AA", ""),
        ("s", "5", "ﬁona", "O`Neil", "1950-3-7", " M ", "abc", "x", ", , ,", "EC1A1BB", None),
        ("s", "6", "Ste\u0301phane", "Bonham Carter", "1950-05-05", "x", None, "12 34",
         "Apt 5b Main Ave", "75008", "1"),
        ("s", "7", "\u00a0Łukasz\u00a0", "Lloyd-Webber", "2000-02-29", "1", "4010232137", "",
         "221B Baker Street London NW1 6XE", "K1A 0B1", None),
        ("s", "8", "Øystein", "van der Berg", "1900-02-29", "MAN", "401 023 2137", None,
         "Gdns Cres Tce Sq Hse Flt Apt Cir Pde Hwy Cl Dr Ln Pl Ct Grn Gr Ter Av", "ＷＲ１", None),
        ("s", "9", "J. R. R.", "Tolkien", "07/03/1950", "ｍ", None, None, "   ", "wr1ı 4ab", None),
        ("s", "10", "Mary-Jane", "Straße", " 1950-03-07\n", "F", None, None,
         "3 Mill Lane,Evesham", "WR11 4AB ", None),
        ("s", "11", "", "\t", "0950-01-01", "", None, None, "Flat 2A, 7B Mill Ln", "wr114ab", None),
        ("s", "12", None, None, "1950-13-01", None, None, None, "Rd St Ave", None, None),
        ("t", "1", "Bob", "Σοφία Jones", "", "F", None, None, "9 Station Rd", "WR9 9ZZ", None),
        ("t", "2", "J", "smith", None, "M", None, None, "10 Downing St", "SW1A 2AA", None),
        ("t", "3", " ".join(chr(c) for c in range(0xC0, 0x250)),
         "X" + "".join(chr(c) for c in range(0x300, 0x370)) + "Y",
         "1950-02-28", "f", None, None, "".join(chr(c) for c in range(0x2000, 0x2070)), None,
         None),
        ("t", "4", "Liz", "Ann\u0303e", "1950-01-01\t", "F", None, None,
         "\U0001d400 1 Mill Lane", "W1A 0AX", None),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(engine.CANONICAL_COLUMNS))
    a, b = two_sources(n=60)
    plain = pd.concat([a, b], ignore_index=True).reindex(columns=frame.columns)
    frame = pd.concat([frame, plain], ignore_index=True)
    frame["ethnic_group"] = ["A", None] * (len(frame) // 2) + ["B"] * (len(frame) % 2)
    frame["easting"] = [float(i) for i in range(len(frame))]
    return frame


def _values(series: pd.Series, as_set: bool = False) -> list:
    """Python values, None for every kind of missing, lists for arrays."""
    out = []
    for value in series:
        if value is None or (not hasattr(value, "__len__") and pd.isna(value)):
            out.append(None)
        elif hasattr(value, "__len__") and not isinstance(value, str):
            out.append(sorted(value) if as_set else list(value))
        elif isinstance(value, float) and value.is_integer() and series.name != "easting":
            out.append(int(value))
        else:
            out.append(value.item() if hasattr(value, "item") else value)
    return out


def test_spark_standardises_exactly_as_duckdb(spark):
    from civicshare.linkage import spark_standardise

    messy = _messy()
    without = messy.drop(columns=["sex", "other_id", "uprn", "address", "easting"])
    for frame in (messy, without, messy.head(16)):
        expected = engine.standardise(frame).sort_values("uid", ignore_index=True)
        got = spark_standardise.standardise(spark, frame).toPandas()
        got = got.sort_values("uid", ignore_index=True)
        assert list(got.columns) == list(expected.columns)
        assert len(got) == len(expected)
        for column in expected.columns:
            # address_tokens: the same words; DuckDB's list_distinct leaves them in hash order.
            as_set = column == "address_tokens"
            assert _values(got[column], as_set) == _values(expected[column], as_set), column
    # Some words are common (ROAD, STREET ...) and some are not: both paths are exercised.
    assert expected.address_key.notna().any()
    # Records standardised already (by DuckDB) are handed over typed, unchanged.
    again = spark_standardise.standardise(spark, expected).toPandas()
    for column in expected.columns:
        assert _values(again[column]) == _values(expected[column]), column


def test_spark_standardise_checks_record_ids(spark):
    from civicshare.linkage import spark_standardise

    frame = pd.DataFrame({"source": ["s", "s"], "record_id": ["7", "7"], "surname": ["A", "B"]})
    with pytest.raises(ValueError, match="s row id '7'"):
        spark_standardise.standardise(spark, frame)
    with pytest.raises(ValueError, match="needs a record_id"):
        spark_standardise.standardise(spark, frame.assign(record_id=["7", " "]))


def test_spark_incremental_table_holds_new_and_existing_once(spark):
    a, b = two_sources(n=30)
    new = pd.concat([b.head(5), a.head(2)], ignore_index=True)
    _, table, profile = engine.SparkBackend(spark).prepare(new, existing=a)
    flags = dict(spark.table(table.physical_name).groupBy("is_new").count().collect())
    # A record in both counts as new, once.
    assert flags == {True: 7, False: len(a) - 2}
    assert profile["rows"] == len(a) + 5


# -- the person index on Spark ----------------------------------------------------------------


def _same_person_pairs(keys: dict[str, str]) -> set[frozenset[str]]:
    by_key: dict[str, list[str]] = {}
    for record, key in keys.items():
        by_key.setdefault(key, []).append(record)
    return {
        frozenset((a, b)) for members in by_key.values() for a in members for b in members if a < b
    }


def _index_keys(sessions, settings, county) -> dict[str, str]:
    from tests.linkage.test_index import ACUTE, GP, keys, push, run

    push(sessions, settings, county, GP)
    push(sessions, settings, county, ACUTE)
    message, run_id = run(sessions, settings)
    assert run_id is not None, message
    return {f"gp/{r}": k for r, k in keys(sessions, GP).items()} | {
        f"acute/{r}": k for r, k in keys(sessions, ACUTE).items()
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_person_index_runs_on_spark_as_on_duckdb(
    spark, seeded, settings, county, tmp_path_factory, monkeypatch
):
    """``linkage_backend = "spark"``: the same run (train, score, the household rule, keys) on
    the Spark session the settings name; its links agree with the in-process run's."""
    from civicshare import db
    from civicshare.config import Settings
    from civicshare.demo import seed_store
    from tests.linkage.test_index import truth

    on_spark = settings.model_copy(
        update={"linkage_backend": "spark", "spark_master": "local[2]",
                "spark_conf": {"spark.sql.shuffle.partitions": "4"}}
    )  # fmt: skip
    prepared = []

    def on_spark_only(backend, records, existing=None):
        prepared.append(len(records))
        return spark_prepare(backend, records, existing)

    def not_in_process(*args, **kwargs):
        raise AssertionError("the Spark run used DuckDB")

    spark_prepare = engine.SparkBackend.prepare
    with monkeypatch.context() as patch:
        patch.setattr(engine.SparkBackend, "prepare", on_spark_only)
        patch.setattr(engine.DuckDBBackend, "prepare", not_in_process)
        spark_keys = _index_keys(seeded, on_spark, county)
    assert prepared  # trained and scored on Spark

    other = tmp_path_factory.mktemp("duckdb-index")
    in_process = Settings(data_dir=other / "data", database_url=f"sqlite:///{other}/store.db")
    in_process.ensure_dirs()
    store = db.make_engine(in_process.effective_database_url)
    db.upgrade(store)
    sessions = db.make_sessionmaker(store)
    with db.session_scope(sessions) as session:
        seed_store(session, json.loads((county / "manifest.json").read_text()))
    duckdb_keys = _index_keys(sessions, in_process, county)
    store.dispose()

    assert spark_keys.keys() == duckdb_keys.keys()
    on_spark_pairs, in_process_pairs = (_same_person_pairs(k) for k in (spark_keys, duckdb_keys))
    agreed = len(on_spark_pairs & in_process_pairs)
    assert agreed >= 0.98 * max(len(on_spark_pairs), len(in_process_pairs)), (
        len(on_spark_pairs), len(in_process_pairs), agreed
    )  # fmt: skip
    # And against the county's truth: the Spark run links people, not households.
    people = {f"gp/{r}": p for r, p in truth(county, ("hw-icb", "gp-registrations")).items()}
    acute = truth(county, ("worcs-acute", "acute-admissions"))
    people |= {f"acute/{r}": p for r, p in acute.items()}
    wrong = [pair for pair in on_spark_pairs if len({people[r] for r in pair}) > 1]
    assert len(wrong) <= 0.02 * len(on_spark_pairs), (len(wrong), len(on_spark_pairs), wrong[:5])


def test_spark_keeps_twins_apart_as_duckdb_does(spark):
    """Records of families (a council file and a GP file of households): the Spark backend
    finds the families, so its model holds the household comparison, and no pair of twins
    (nor a father and son of one name) is linked."""
    from civicshare.linkage import spark_standardise
    from civicshare.synthetic.linkage_pair import build_linkage_pair

    pair = build_linkage_pair(people=400, seed=4)
    records = pd.concat(
        [pair.council.assign(source="council"), pair.gp.assign(source="gp")], ignore_index=True
    )
    assert pair.relatives("twins")
    frame = spark_standardise.standardise(spark, records)
    assert spark_standardise.profile(frame)["households"] is True
    single = records.drop_duplicates(["surname", "address"]).reset_index(drop=True)
    alone = spark_standardise.standardise(spark, single)
    assert spark_standardise.profile(alone)["households"] is False

    model, pairs = engine.train_and_predict(
        records, backend="spark", spark=spark, link_only=True, score_floor=0.01
    )
    names = [c["output_column_name"] for c in model.settings["comparisons"]]
    assert "household" in names
    linked = pairs[pairs["match_probability"] >= model.recommended_threshold]
    ends = zip(pair.truth["source"], pair.truth["record_id"], strict=True)
    person = dict(zip(ends, pair.truth["entity_id"], strict=True))
    people = {
        frozenset((person[(sl, rl)], person[(sr, rr)]))
        for sl, rl, sr, rr in linked[["source_l", "record_id_l", "source_r", "record_id_r"]]
        .astype(str)
        .itertuples(index=False)
    }
    for kind in ("twins", "namesake_parent_child"):
        relatives = {frozenset(p) for p in pair.relatives(kind)}
        assert not people & relatives, kind
    # The household comparison as on DuckDB: two people at one address weigh 2^-30.
    household = next(
        c for c in model.settings["comparisons"] if c["output_column_name"] == "household"
    )
    first = household["comparison_levels"][0]
    assert first["m_probability"] / first["u_probability"] <= 2**-30
    evaluated = pair.evaluate(
        (rl, rr) if sl == "council" else (rr, rl)
        for sl, rl, rr in linked[["source_l", "record_id_l", "record_id_r"]]
        .astype(str)
        .itertuples(index=False)
    )
    assert evaluated["precision"] >= 0.99 and evaluated["recall"] >= 0.95, evaluated

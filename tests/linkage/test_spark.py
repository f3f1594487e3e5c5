"""The same engine on Splink's Spark backend, in pyspark local mode.

Skips without pyspark or Java (saying how to enable it); under CI=true it must run.
"""

from __future__ import annotations

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
        from pyspark.sql import SparkSession
    except ImportError:
        unavailable("pyspark is not installed", "Install the project's test requirements")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        unavailable(
            "Java is not installed (Spark needs it)",
            "Install a JDK 17 (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME",
        )
    from splink.backends.spark import similarity_jar_location

    session = (
        SparkSession.builder.master("local[2]")
        # Splink's string-similarity functions (jaro_winkler ...) live in this jar.
        .config("spark.jars", similarity_jar_location())
        .appName("civicshare-linkage-test")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        # Local mode on loopback: the jar is served by the driver, which must be reachable.
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setCheckpointDir(str(_checkpoints()))
    yield session
    session.stop()


def _checkpoints():
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="civicshare-spark-"))


def test_spark_backend_trains_and_links(spark):
    a, b = two_sources(n=150)
    records = pd.concat([a, b], ignore_index=True)
    model, pairs = engine.train_and_predict(
        records, backend="spark", spark=spark, link_only=True, score_floor=0.01
    )
    accepted = pairs[pairs.match_probability >= model.recommended_threshold]
    same_person = accepted.record_id_l.str[1:] == accepted.record_id_r.str[1:]
    assert same_person.sum() >= 0.97 * len(b)
    assert (~same_person).sum() <= 2
    assert {"mw_surname", "gamma_surname", "source_l", "record_id_r"} <= set(pairs.columns)

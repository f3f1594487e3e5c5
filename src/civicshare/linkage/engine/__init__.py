"""The linkage engine: standardise person records, train a Splink 5 model, score and cluster.

This is the part of linkage the person index, file mode and evaluations share. It knows nothing
of the governance store: callers pass pandas frames of *canonical records* and get frames back.

Canonical records
    ``CANONICAL_COLUMNS``: ``source`` (which dataset or file), ``record_id`` (unique within its
    source), ``given_name``, ``surname``, ``date_of_birth`` (ISO ``yyyy-mm-dd`` string or None),
    ``sex``, ``nhs_number``, ``other_id`` (any identifier the sources share), ``address`` (one
    line), ``postcode``, ``uprn``; every value a ``str`` or None. A column that is absent is
    treated as all-None, and its comparison is left out of a model trained on such records.
    Extra columns (``age_band``, ``ethnic_group``, ``easting``/``northing`` in metres ...) pass
    through ``standardise`` untouched.

Public functions
    ``standardise(frame) -> DataFrame``
        Cleaned records for comparison (upper case, accents and punctuation removed, name
        tokens and aliases, day/month-swapped date of birth, postcode sector and district,
        address tokens, NHS number check digit). ``train`` and ``predict`` call it themselves
        when given canonical records; calling it first is only a saving when reusing records.
    ``train(records, *, seed=1, backend="duckdb", spark=None, labels=None) -> LinkageModel``
        Estimates the model on the records themselves (u by random sampling, m by EM, then
        reviewers' accepted pairs in ``labels`` when there are enough). The
        ``LinkageModel`` dataclass holds the Splink settings JSON (``to_json``/``from_json``)
        and ``recommended_threshold``, the match probability that maximises the F1 the model
        itself expects on the training records (see decision 0009).
    ``predict(model, records, *, existing=None, threshold=None, link_only=False,
    backend="duckdb", spark=None, detail=True) -> DataFrame``
        Scored candidate pairs: ``source_l, record_id_l, source_r, record_id_r, match_weight,
        match_probability``, then per comparison ``gamma_<name>`` and ``mw_<name>`` (its match
        weight) so a reviewer can draw a waterfall; ``detail=False`` leaves those out, which
        makes scoring about a tenth cheaper (a caller that only thresholds and clusters).
        ``threshold`` filters on match probability (None: every candidate pair). With
        ``existing`` (canonical records already linked) only new-new and new-existing pairs
        are scored, never existing-existing: incremental linking. ``link_only`` scores only
        pairs from different sources.
    ``train_and_predict(records, *, seed=1, link_only=False, score_floor=None, detail=True,
    ...)``
        ``train`` and ``predict`` in one pass over the same records: ``(model, pairs)``, the
        pairs with probability at least ``score_floor`` (``detail`` as in ``predict``).
    ``cluster(records, pairs, threshold) -> DataFrame``
        ``source, record_id, cluster_id``: connected components of the pairs at or above the
        threshold; every record gets a cluster, singletons included. ``cluster_id`` is the
        smallest ``source|record_id`` of its members, so it is stable across runs.
    ``one_to_one(pairs, threshold, duplicate_free) -> DataFrame``
        The pairs at the threshold, with ``one_to_one`` False on those dropped so that each
        record of a duplicate-free source links to at most one record of each other such
        source (maximum total match weight, ``assignment``).
    ``one_person_per_source(records, links, duplicate_free) -> (keep, splits)``
        Which of the links (pairs already decided) stand when no person may hold two records
        of a duplicate-free source: none within such a source, ``one_to_one`` between two,
        then ``split_clusters``. The person index and its benchmark use it.
    ``household_apart(model, records, *, existing=None, threshold) -> DataFrame``
        Pairs the household comparison kept apart (twins, a same-name father and son) that
        the rest of the evidence puts at the threshold: the person index reviews them.
    ``split_clusters(records, pairs, threshold, duplicate_free) -> (clusters, splits)``
        ``cluster``, with each cluster holding two records of one duplicate-free source split
        at its weakest link; ``splits`` lists them for the report.

Backends: DuckDB (default, in process) or Spark (``backend="spark"`` with a SparkSession) for
data beyond one machine; the model and the SQL are the same. On DuckDB, ``memory_limit`` (on
``train``, ``predict`` and ``train_and_predict``; default ``DEFAULT_MEMORY_LIMIT``) bounds the
connection, which spills to a private temporary directory beyond it. On Spark, ``records``
may also be a Spark DataFrame of canonical columns: it is standardised in Spark
(``spark_standardise``, the same values as ``standardise``) and never collected to the driver.

Modules
    ``standardise`` (DuckDB SQL; the Spark twin is ``linkage/spark_standardise.py``, what both
    share is ``linkage/standardised.py``), ``model`` (``LinkageModel``, comparisons, settings,
    training rules, the recommended threshold), ``blocking``, ``backends`` (the ``Backend``
    interface: ``DuckDBBackend``, ``SparkBackend``), ``training``, ``prediction``,
    ``clustering``. Every use of Splink's internals is in ``linkage/splink_internals.py``.
    The names below are re-exported here; import them from ``civicshare.linkage.engine``.
"""

from __future__ import annotations

import logging

from civicshare.linkage import splink_internals
from civicshare.linkage.engine.assignment import one_person_per_source, one_to_one
from civicshare.linkage.engine.backends import (
    DEFAULT_MEMORY_LIMIT,
    PAIR_COLUMNS,
    RECORDS_TABLE,
    Backend,
    DuckDBBackend,
    SparkBackend,
    backend_for,
    spark_session,
)
from civicshare.linkage.engine.blocking import blocking_rules, restrict
from civicshare.linkage.engine.clustering import cluster, split_clusters
from civicshare.linkage.engine.model import (
    MAX_RECOMMENDED_THRESHOLD,
    MIN_RECOMMENDED_THRESHOLD,
    LinkageModel,
    recommended_threshold,
    settings_for,
)
from civicshare.linkage.engine.prediction import household_apart, predict
from civicshare.linkage.engine.standardise import standardise
from civicshare.linkage.engine.training import (
    LABEL_PRIOR_STRENGTH,
    MIN_LABELLED_MATCHES,
    MOVED_M_PROBABILITY,
    UNOBSERVED_M_PROBABILITY,
    train,
    train_and_predict,
)
from civicshare.linkage.splink_internals import M_PROBABILITY_FLOOR
from civicshare.linkage.standardised import (
    CANONICAL_COLUMNS,
    STANDARD_COLUMNS,
    is_standardised,
)

__all__ = [
    "CANONICAL_COLUMNS",
    "DEFAULT_MEMORY_LIMIT",
    "LABEL_PRIOR_STRENGTH",
    "M_PROBABILITY_FLOOR",
    "MAX_RECOMMENDED_THRESHOLD",
    "MIN_LABELLED_MATCHES",
    "MIN_RECOMMENDED_THRESHOLD",
    "MOVED_M_PROBABILITY",
    "PAIR_COLUMNS",
    "RECORDS_TABLE",
    "STANDARD_COLUMNS",
    "UNOBSERVED_M_PROBABILITY",
    "Backend",
    "DuckDBBackend",
    "LinkageModel",
    "SparkBackend",
    "backend_for",
    "blocking_rules",
    "household_apart",
    "cluster",
    "is_standardised",
    "one_person_per_source",
    "one_to_one",
    "predict",
    "recommended_threshold",
    "restrict",
    "settings_for",
    "spark_session",
    "split_clusters",
    "standardise",
    "train",
    "train_and_predict",
]

# Splink logs every step at INFO; the CLI has its own progress output.
logging.getLogger("splink").setLevel(logging.ERROR)

splink_internals.install_em_m_floor()

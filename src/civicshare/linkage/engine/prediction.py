"""Prediction: a trained model scores candidate pairs, incrementally when records are indexed."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from civicshare.linkage.engine.backends import backend_for
from civicshare.linkage.engine.blocking import blocking_rules, restrict
from civicshare.linkage.engine.model import LinkageModel


def predict(
    model: LinkageModel,
    records: pd.DataFrame,
    *,
    existing: pd.DataFrame | None = None,
    threshold: float | None = None,
    link_only: bool = False,
    backend: str = "duckdb",
    spark: Any = None,
    detail: bool = True,
    memory_limit: str | None = None,
    blocking: list[str] | None = None,
) -> pd.DataFrame:
    """Score candidate pairs of the records (and against ``existing`` when given).
    ``blocking``: rules instead of the model's (``household_apart`` uses its own)."""
    from splink import Linker

    incremental = existing is not None and len(existing) > 0
    engine = backend_for(backend, spark, memory_limit)
    db_api, table, _ = engine.prepare(records, existing if incremental else None)
    conditions = ["l.is_new OR r.is_new"] if incremental else []
    if link_only:
        conditions.append("l.source <> r.source")
    condition = " AND ".join(f"({c})" for c in conditions) or None
    settings = dict(model.settings)
    # One table here, whatever the model was trained on; the conditions above restrict pairs.
    settings["link_type"] = "dedupe_only"
    settings.pop("source_dataset_column_name", None)
    settings["retain_matching_columns"] = detail
    settings["retain_intermediate_calculation_columns"] = detail
    settings["blocking_rules_to_generate_predictions"] = restrict(
        blocking_rules(model.fields) if blocking is None else blocking, condition
    )
    linker = Linker(table, settings, log_level=None)
    engine.before_predict(linker)
    predictions = linker.inference.predict(
        threshold_match_probability=threshold, warning_mode="never"
    )
    pairs = engine.pairs_frame(db_api, predictions, detail)
    engine.release(db_api)
    return pairs


# Relatives at one home: the pairs the household comparison can have kept apart.
HOUSEHOLD_BLOCKING = {
    "address": "l.address_compact = r.address_compact",
    "uprn": "l.uprn = r.uprn",
    "postcode": "l.postcode = r.postcode AND l.dob = r.dob",
}


def household_apart(
    model: LinkageModel,
    records: pd.DataFrame,
    *,
    existing: pd.DataFrame | None = None,
    threshold: float,
    memory_limit: str | None = None,
    backend: str = "duckdb",
    spark: Any = None,
) -> pd.DataFrame:
    """Pairs the household comparison kept apart that the rest of the evidence puts at or above
    ``threshold``: twins, a father and son of one name. The person index sends them to review
    rather than leaving them unseen; the model never links them. Empty when the model has no
    household comparison. Columns as ``predict`` with ``detail``."""
    names = [c.get("output_column_name") for c in model.settings.get("comparisons", [])]
    rules = [rule for field, rule in HOUSEHOLD_BLOCKING.items() if field in model.fields]
    if "household" not in names or not rules or not 0 < threshold < 1:
        return pd.DataFrame(columns=["source_l", "record_id_l", "source_r", "record_id_r"])
    pairs = predict(
        model,
        records,
        existing=existing,
        memory_limit=memory_limit,
        blocking=rules[:1],
        backend=backend,
        spark=spark,
    )
    bar = math.log2(threshold / (1 - threshold))
    without = pairs["match_weight"].astype(float) - pairs["mw_household"].astype(float)
    # The household level weighs -30; the "no effect" level 0.
    kept_apart = pairs["mw_household"].astype(float) < -20
    return pairs[kept_apart & (without >= bar)].reset_index(drop=True)

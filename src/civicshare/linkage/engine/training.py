"""Training: a model estimated on the records themselves, then scored on the same records."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from civicshare.linkage import splink_internals
from civicshare.linkage.engine.backends import backend_for
from civicshare.linkage.engine.blocking import restrict
from civicshare.linkage.engine.model import (
    LinkageModel,
    deterministic_rules,
    recommended_threshold,
    settings_for,
    training_rules,
)
from civicshare.linkage.splink_internals import M_PROBABILITY_FLOOR


def train_and_predict(
    records: pd.DataFrame,
    *,
    seed: int = 1,
    backend: str = "duckdb",
    spark: Any = None,
    link_only: bool = False,
    score_floor: float | None = None,
    em_max_pairs: float = 1e6,
    u_max_pairs: float = 1e6,
    detail: bool = True,
    memory_limit: str | None = None,
    labels: pd.DataFrame | None = None,
) -> tuple[LinkageModel, pd.DataFrame]:
    """Train on the records and score the same records: the model and its scored pairs.

    File mode and benchmarks use this to score once; ``train`` discards the pairs."""
    from splink import Linker

    engine = backend_for(backend, spark, memory_limit)
    db_api, table, profile = engine.prepare(records)
    fields = profile["fields"]
    condition = "l.source <> r.source" if link_only else None
    settings = settings_for(
        fields,
        profile["distance"],
        profile["uk"],
        detail=detail,
        households=profile.get("households", False),
    )
    settings.blocking_rules_to_generate_predictions = restrict(
        settings.blocking_rules_to_generate_predictions, condition
    )
    tables = engine.split_two_sources(db_api) if link_only else None
    if tables:
        # Two sources: Splink joins one against the other instead of the whole table against
        # itself, a quarter of the rows through every blocking join.
        settings.link_type = "link_only"
        settings.source_dataset_column_name = "source"
    linker = Linker(tables or table, settings, log_level=None)
    deterministic = restrict(deterministic_rules(fields), condition)
    if deterministic:
        linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    # A file with no sure matches estimates a prior of 0, which breaks the weights: floor it at
    # one expected match among all pairs.
    all_pairs = max(profile["rows"] * (profile["rows"] - 1) / 2, 1)
    splink_internals.clamp_prior(linker, 1 / all_pairs, 0.5)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
    for rule in training_rules(fields):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                restrict([rule], condition)[0], max_pairs=em_max_pairs
            )
        except (ValueError, ZeroDivisionError) as exc:
            # Too few pairs under this rule to estimate from (a small or clean file): the
            # other sessions and the default m values stand.
            logging.getLogger(__name__).warning("EM session %s skipped: %s", rule, exc)
    fill_unobserved_m(linker)
    labelled = train_from_labels(linker, labels, records, link_only) if labels is not None else 0
    floor_moved_m(linker)
    engine.before_predict(linker)
    predictions = linker.inference.predict(
        threshold_match_probability=score_floor, warning_mode="never"
    )
    pairs = engine.pairs_frame(db_api, predictions, detail)
    settings_dict = linker.misc.save_model_to_json()
    engine.release(db_api)
    threshold = recommended_threshold(pairs["match_probability"].to_numpy())
    return LinkageModel(settings_dict, threshold, fields, labelled), pairs


# Fewer accepted pairs than this say too little about how often each level occurs among
# matches: they are kept for a later run rather than trained on.
MIN_LABELLED_MATCHES = 10


# The model's own m counts as this many reviewed pairs when reviewers' labels update it: a
# few dozen decisions move it visibly, a handful cannot overturn what EM saw in a million pairs.
LABEL_PRIOR_STRENGTH = 100


def train_from_labels(linker, labels: pd.DataFrame, records: Any, link_only: bool) -> int:
    """Reviewers' accepted pairs update m: how often each level occurs among matches.

    For each comparison, the accepted pairs are counted by level and added to the model's m
    (worth ``LABEL_PRIOR_STRENGTH`` pairs): m = (strength * m + count) / (strength + n), so
    each comparison's m still sums to what it did. The pairs reviewers see are the uncertain
    ones, so this mostly teaches which disagreements still occur among matches (a nickname, a
    typo in a surname). Rejected pairs do not train m (m is about matches); the person index
    keeps them apart instead. Returns the accepted pairs used; fewer than
    ``MIN_LABELLED_MATCHES`` and none are.
    """
    accepted = labels[labels["is_match"].astype(bool)]
    uid_l = accepted["source_l"].astype(str) + "|" + accepted["record_id_l"].astype(str)
    uid_r = accepted["source_r"].astype(str) + "|" + accepted["record_id_r"].astype(str)
    keep = np.ones(len(accepted), dtype=bool)
    if link_only:
        keep &= (accepted["source_l"] != accepted["source_r"]).to_numpy()
    if isinstance(records, pd.DataFrame):  # both records in this run (a Spark frame: the join)
        present = set(records["source"].astype(str) + "|" + records["record_id"].astype(str))
        keep &= uid_l.isin(present).to_numpy() & uid_r.isin(present).to_numpy()
    frame = pd.DataFrame(
        {
            "source_l": accepted["source_l"].astype(str).to_numpy()[keep],
            "uid_l": uid_l.to_numpy()[keep],
            "source_r": accepted["source_r"].astype(str).to_numpy()[keep],
            "uid_r": uid_r.to_numpy()[keep],
        }
    )
    if len(frame) < MIN_LABELLED_MATCHES:
        return 0
    gammas = splink_internals.label_comparison_vectors(linker, frame)
    for comparison in splink_internals.comparisons(linker):
        # Levels with a fixed m (set by design, such as swapped names) keep it; the others
        # share what is left between them, as before.
        levels = list(splink_internals.estimable_levels(comparison))
        observed = gammas[splink_internals.gamma_column(comparison)]
        observed = observed[observed.isin([level.comparison_vector_value for level in levels])]
        if observed.empty:
            continue
        counts = observed.value_counts()
        priors = [
            m
            if isinstance(m := splink_internals.m_of(level), (int, float))
            else UNOBSERVED_M_PROBABILITY
            for level in levels
        ]
        mass = sum(priors)
        for level, prior in zip(levels, priors, strict=True):
            count = int(counts.get(level.comparison_vector_value, 0))
            share = (LABEL_PRIOR_STRENGTH * prior / mass + count) / (
                LABEL_PRIOR_STRENGTH + len(observed)
            )
            level.m_probability = max(mass * share, M_PROBABILITY_FLOOR)
    return len(frame)


UNOBSERVED_M_PROBABILITY = 1e-4


MOVED_M_PROBABILITY = 0.01


def floor_moved_m(linker) -> None:
    """At least 1% of true matches live somewhere else now: people move.

    Address and postcode change together when someone moves, and EM reads that joint change
    as "not the same person", estimating m near 0 for the last level of both (seen at 350,000
    records and more: recall fell to 0.95, every miss a mover). A floor of 1% keeps a move
    a strong signal (about -6.6 per comparison) without making it a veto.
    """
    for comparison in splink_internals.comparisons(linker):
        if comparison.output_column_name not in ("address", "postcode"):
            continue
        last = comparison.comparison_levels[-1]
        m = splink_internals.m_of(last)
        if not splink_internals.m_is_fixed(last) and (
            not isinstance(m, (int, float)) or m < MOVED_M_PROBABILITY
        ):
            last.m_probability = MOVED_M_PROBABILITY


def fill_unobserved_m(linker) -> None:
    """Levels no true match reached in training get a small m, not Splink's default.

    A level can go unobserved because it is rare among matches (a date of birth ten years
    out) or because the training data is small; either way "rare among matches" is the safe
    reading. Splink would otherwise fall back to a default m that makes a generation's
    difference in date of birth look like mild disagreement.
    """
    for comparison in splink_internals.comparisons(linker):
        for level in comparison.comparison_levels:
            if level.is_null_level or splink_internals.m_is_fixed(level):
                continue
            if splink_internals.m_unobserved(level):
                level.m_probability = UNOBSERVED_M_PROBABILITY


def train(
    records: pd.DataFrame,
    *,
    seed: int = 1,
    backend: str = "duckdb",
    spark: Any = None,
    link_only: bool = False,
    memory_limit: str | None = None,
    labels: pd.DataFrame | None = None,
) -> LinkageModel:
    """Estimate a model on canonical (or standardised) records.

    ``labels`` (``source_l, record_id_l, source_r, record_id_r, is_match``): reviewers'
    decisions; see ``train_from_labels``."""
    model, _ = train_and_predict(
        records,
        seed=seed,
        backend=backend,
        spark=spark,
        link_only=link_only,
        score_floor=0.01,
        memory_limit=memory_limit,
        labels=labels,
    )
    return model

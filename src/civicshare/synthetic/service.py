"""Public entry point: ``generate(people, seed, out)`` writes the synthetic county.

Layout written under ``out``::

    manifest.json          what was written: partners, datasets, row counts, columns, error rates
    datasets/<name>.csv|parquet   one file per partner dataset, as that partner would send it
    geography/             districts (GeoJSON, Parquet), settlements, streets, properties, postcodes
    truth/                 record -> person mappings, injected errors, people, households and the
                           discharge outcome model's true probabilities (evaluations only)

Only ``datasets/``, ``geography/``, ``truth/`` and ``manifest.json`` inside ``out`` are replaced.
Output is a pure function of (people, seed, rates): no clock, no global random state.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from . import datasets as ds
from .common import REF_DATE, rng_for
from .geography import (
    build_geography,
    district_polygons,
    districts_geojson,
    make_settlements,
)
from .mess import MessRates
from .outcomes import make_spells, model_summary
from .partnership import PARTNERS
from .people import make_population, place_households, settle_households

GENERATOR = "civicshare.synthetic"
VERSION = 5  # 3: district files, planted discount cases; 4: inpatients, the data opt-out;
# 5: the need for care after discharge not additive (interactions, thresholds, a J in age)
VACANCY = 0.04  # share of properties with nobody living there

__all__ = ["MessRates", "generate"]

TRUTH_README = """\
This folder is the ground truth of a synthetic county: who every record really is, which errors
were injected and the discharge outcome model's true probabilities. It exists for evaluations and
tests only. No product pipeline may read it. See docs/synthetic-county.md.
"""


def _steps(progress: bool):
    """A context manager yielding run(label, fn) that optionally shows a Rich progress bar."""
    from contextlib import contextmanager

    @contextmanager
    def manager(total: int):
        if not progress:
            yield lambda label, fn: fn()
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("[bold]synth[/] {task.description:<34}"),
            BarColumn(),
            TimeElapsedColumn(),
            transient=False,
        ) as bar:
            task = bar.add_task("starting", total=total)

            def run(label: str, fn: Callable):
                bar.update(task, description=label)
                result = fn()
                bar.advance(task)
                return result

            yield run
            bar.update(task, description="done")

    return manager


def generate(
    people: int,
    seed: int,
    out: Path,
    rates: MessRates | None = None,
    progress: bool = False,
) -> dict:
    """Write a synthetic county of ``people`` residents under ``out``; return the manifest."""
    if int(people) < 50:
        raise ValueError("people must be at least 50")
    rates = rates or MessRates()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("datasets", "truth", "geography"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
        (out / sub).mkdir()

    state: dict = {}

    def geography():
        polys = district_polygons()
        settlements = make_settlements(rng_for(seed, "settlements"), polys)
        state.update(polys=polys, settlements=settlements)

    def population():
        state["pop"] = make_population(rng_for(seed, "people"), int(people))

    def homes():
        pop, settlements = state["pop"], state["settlements"]
        worcester = next(i for i, s in enumerate(settlements) if s.name == "Worcester")
        h_settle = settle_households(rng_for(seed, "settle"), pop, settlements, worcester)
        counts = np.bincount(h_settle, minlength=len(settlements))
        n_props = np.where(counts > 0, np.ceil(counts * (1 + VACANCY)).astype(int) + 1, 0)
        geo = build_geography(rng_for(seed, "geography"), state["polys"], settlements, n_props)
        place_households(
            rng_for(seed, "homes"), pop, h_settle, geo.properties["settlement"], geo.properties
        )
        state["geo"] = geo

    def write_geography():
        geo = state["geo"]
        gdir = out / "geography"
        for name, table in geo.tables.items():
            pq.write_table(table, gdir / f"{name}.parquet", compression="zstd")
        (gdir / "districts.geojson").write_text(json.dumps(districts_geojson(geo.districts)))

    def spells():
        state["spells"] = make_spells(rng_for(seed, "spells"), state["pop"])
        state["ctx"] = ds.Context(seed, state["pop"], state["geo"], state["spells"], rates, out)

    def acute():
        ctx = state["ctx"]
        ds.acute_admissions(ctx)
        n0 = len(ctx.spells["person"])
        ds.discharge_outcomes(ctx, ctx.last_ids[:n0])

    builders: list[tuple[str, Callable]] = [
        ("geography: districts and settlements", geography),
        ("people and households", population),
        ("streets, properties, postcodes", homes),
        ("writing geography", write_geography),
        ("hospital spells and outcomes", spells),
        ("acute admissions", acute),
        ("council tax discount cases", lambda: ds.plant_discount(state["ctx"])),
        ("GP registrations", lambda: ds.gp_registrations(state["ctx"])),
        ("over-65 register", lambda: ds.over_65_register(state["ctx"])),
        ("community health", lambda: ds.community_health(state["ctx"])),
        ("adult social care", lambda: ds.adult_social_care(state["ctx"])),
        ("death registrations", lambda: ds.death_registrations(state["ctx"])),
        ("child protection", lambda: ds.child_protection(state["ctx"])),
        ("fire safety visits", lambda: ds.fire_visits(state["ctx"])),
        ("police vulnerability markers", lambda: ds.police_markers(state["ctx"])),
        ("district council datasets", lambda: ds.district_datasets(state["ctx"])),
        ("priority services register", lambda: ds.priority_services(state["ctx"])),
        ("works programme", lambda: ds.works(state["ctx"])),
        ("traffic counts", lambda: ds.traffic_counts(state["ctx"])),
        ("people truth", lambda: ds.write_people_truth(state["ctx"])),
    ]
    with _steps(progress)(len(builders)) as run:
        for label, fn in builders:
            run(label, fn)

    ctx = state["ctx"]
    geo = state["geo"]
    entries = sorted(ctx.entries, key=lambda e: (e["partner"], e["name"]))
    manifest = {
        "generator": GENERATOR,
        "version": VERSION,
        "seed": int(seed),
        "people": int(people),
        "reference_date": str(REF_DATE),
        "crs": "EPSG:27700",
        "partners": PARTNERS,
        "datasets": entries,
        "geography": {
            "districts": "geography/districts.geojson",
            "districts_table": "geography/districts.parquet",
            "settlements": "geography/settlements.parquet",
            "streets": "geography/streets.parquet",
            "properties": "geography/properties.parquet",
            "postcodes": "geography/postcodes.parquet",
            "counts": {k: int(t.num_rows) for k, t in geo.tables.items()},
        },
        "truth": {
            "people": "truth/people.parquet",
            "households": "truth/households.parquet",
            "discharge_outcomes": "truth/discharge_outcomes.parquet",
            "per_dataset": "truth/<dataset name>.parquet",
            "works_planted": "truth/works-planted.json",
            "council_tax_planted": "truth/council-tax-planted.json",
        },
        "mess_rates": rates.as_dict(),
        "outcome_model": _clean(model_summary(state["spells"])),
    }
    (out / "truth" / "README.txt").write_text(TRUTH_README)
    ds.dump_json(manifest, out / "manifest.json")
    return manifest


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj

"""`civicshare demo`: the embedded store with a synthetic county, prepared once and reused."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from civicshare import db
from civicshare.config import Settings
from civicshare.datasets import service as datasets
from civicshare.partners import service as partners


@dataclass(frozen=True)
class DemoSummary:
    partners: int
    datasets: int
    rows: int
    generated: bool


def county_dir(settings: Settings) -> Path:
    return settings.data_dir / "synthetic"


def prepare(settings: Settings, *, people: int, seed: int, console: Console) -> DemoSummary:
    settings.ensure_dirs()
    engine = db.make_engine(settings.effective_database_url)
    try:
        db.upgrade(engine)
        manifest, generated = ensure_county(county_dir(settings), people, seed, console)
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            summary = seed_store(session, manifest)
    finally:
        engine.dispose()
    return DemoSummary(*summary, generated=generated)


def ensure_county(
    target: Path, people: int, seed: int, console: Console
) -> tuple[dict[str, Any], bool]:
    """The county at `target`, generated only when missing or made with other parameters.

    Generation writes beside the target and swaps it in whole, so an interrupted run
    never leaves a half-written county behind."""
    manifest_path = target / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("people") == people and manifest.get("seed") == seed:
            console.print(f"Reusing the synthetic county in {target} ({people:,} residents).")
            return manifest, False

    from civicshare.synthetic.service import generate

    console.print(f"Generating a synthetic county of {people:,} residents (seed {seed})...")
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    manifest = generate(people=people, seed=seed, out=staging, progress=True)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return manifest, True


def seed_store(session, manifest: dict[str, Any]) -> tuple[int, int, int]:
    """Partners and their datasets from a synthetic county's manifest (idempotent)."""
    members = partners.upsert(
        session, [{**partner, "status": "endorsed"} for partner in manifest["partners"]]
    )
    by_key = {partner.key: partner for partner in members}
    rows = 0
    for index, entry in enumerate(manifest["datasets"], start=1):
        partner = by_key.get(entry["partner"])
        if partner is None:
            raise ValueError(
                f"manifest dataset {index} ({entry.get('name')}): field 'partner' names "
                f"{entry['partner']!r}, which is not among the manifest's partners"
            )
        datasets.register(
            session,
            partner_id=partner.id,
            name=entry["name"],
            title=entry.get("title", entry["name"]),
            file_format=entry["format"],
            row_count=entry["rows"],
            column_count=len(entry["columns"]),
        )
        rows += entry["rows"]
    return len(members), len(manifest["datasets"]), rows

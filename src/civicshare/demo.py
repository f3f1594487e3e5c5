"""`civicshare demo`: the embedded store with a synthetic county, prepared once and reused."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console

from civicshare import db
from civicshare.accounts import service as accounts
from civicshare.agreements.demo import seed_demo_agreements
from civicshare.audit import checkpoints, signing
from civicshare.config import Settings
from civicshare.dataplane.query import build_postcode_directory
from civicshare.datasets import service as datasets
from civicshare.enquiries.demo import seed_enquiries
from civicshare.incidents.demo import seed_incident_response
from civicshare.linkage import service as linkage
from civicshare.partners import service as partners
from civicshare.partners.models import Role
from civicshare.rights.benefits.demo import seed_benefits_activity

# Every demo account signs in with this password. Demo stores only: never seeded otherwise.
DEMO_PASSWORD = "civicshare-demo"
DEMO_HOST = "worcestershire-cc"

# Fictional staff. (e-mail, name, job title, {partner key: roles})
DEMO_PEOPLE = [
    (
        "admin@worcestershire-cc.example",
        "Priya Shah",
        "Partnership data manager",
        {"worcestershire-cc": ["admin", "ig_lead"]},
    ),
    (
        "analyst@worcestershire-cc.example",
        "Tom Hughes",
        "Office of data analytics analyst",
        {"worcestershire-cc": ["analyst"]},
    ),
    (
        "provider@worcs-acute.example",
        "Grace Okafor",
        "Information systems lead",
        {"worcs-acute": ["data_provider"]},
    ),
    ("crew.manager@hw-fire.example", "Dan Whitfield", "Watch manager", {"hw-fire": ["responder"]}),
    # Street works: the county's co-ordinator and a utility's planner publish and read works.
    (
        "streetworks@worcestershire-cc.example",
        "Alan Marsh",
        "Street works co-ordinator",
        {"worcestershire-cc": ["data_provider", "analyst"]},
    ),
    (
        "works.planner@mercia-water.example",
        "Sian Lloyd",
        "Network works planner",
        {"mercia-water": ["data_provider", "analyst"]},
    ),
    (
        "revenues@worcester-city.example",
        "Amira Shah",
        "Council tax revenues officer",
        {"worcester-city": ["analyst"]},
    ),
    # Bromsgrove and Redditch share one IG team: one person, two memberships, acting as one.
    (
        "jo.kaur@bromsgrove-redditch.example",
        "Jo Kaur",
        "Shared information governance lead",
        {"bromsgrove-dc": ["ig_lead"], "redditch-bc": ["ig_lead", "admin"]},
    ),
]
CHIEF_EXECUTIVES = [
    "Paul Robinson",
    "Meera Iyer",
    "Stephen Walsh",
    "Angela Moss",
    "David Kerr",
    "Ruth Adeyemi",
    "Ian Fletcher",
    "Nadia Hussain",
    "Colin Marsh",
    "Joanne Pike",
    "Martin Cole",
    "Elaine Ward",
    "Simon Tate",
    "Bethan Rees",
    "Hugh Palmer",
    "Rebecca Holt",
    "Tariq Aziz",
    "Morag Sinclair",
]
IG_LEAD_NAMES = [
    "Helen Price",
    "Marcus Reid",
    "Aisha Begum",
    "Owen Griffiths",
    "Claire Dunn",
    "Ravi Mistry",
    "Sarah Lloyd",
    "Kwame Mensah",
    "Fiona Hart",
    "Gareth Evans",
    "Lucy Chen",
    "Noah Bennett",
    "Yasmin Farah",
    "Declan Boyle",
    "Megan Hughes",
]

DEMO_CONTENT = Path(__file__).parent / "demo_content"
CHARTER_V1 = (DEMO_CONTENT / "charter-v1.md").read_text()

CHARTER_V2_CHANGES = (
    "Adds emergency sharing under the Civil Contingencies Act 2004 with a time limit, "
    "and retrospective review of every break-glass access."
)
CHARTER_V2 = CHARTER_V1 + "\n" + (DEMO_CONTENT / "charter-v2-addition.md").read_text()


@dataclass(frozen=True)
class DemoSummary:
    partners: int
    datasets: int
    rows: int
    generated: bool


def county_dir(settings: Settings) -> Path:
    return settings.data_dir / "synthetic"


def prepare(
    settings: Settings, *, people: int, seed: int, console: Console, activity: bool = False
) -> DemoSummary:
    """The demo store. `activity`: also run some incidents, works clash notices and council
    tax reviews, so the benefits page has figures (`civicshare demo` does; the tests' stores
    do not, so each domain's tests start where nothing has happened yet)."""
    settings.ensure_dirs()
    signing.use_keys_dir(settings.effective_keys_dir)  # the audit log's checkpoints
    engine = db.make_engine(settings.effective_database_url)
    try:
        db.upgrade(engine)
        manifest, generated = ensure_county(county_dir(settings), people, seed, console)
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            summary = seed_store(session, manifest)
            seed_governance(session, manifest)
            seed_demo_agreements(session, ig_leads_by_partner(session))
            pushed = datasets.ingest_demo(session, settings, county_dir(settings))
            if pushed:
                console.print(f"Pushed {len(pushed)} partner datasets into governed snapshots.")
            seed_incident_response(
                session, settings, county_dir(settings), ig_leads_by_partner(session), DEMO_PASSWORD
            )
            seed_enquiries(session, DEMO_PASSWORD)
        build_postcode_directory(
            county_dir(settings) / "geography" / "properties.parquet", settings.data_dir
        )
        linkage.index_demo(settings, engine, console)
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            if activity and seed_benefits_activity(session, settings):
                console.print(
                    "Ran incidents, works clash notices and council tax reviews for the "
                    "benefits page (/benefits)."
                )
        # A fresh demo store starts with its log signed, as a serving gateway keeps it.
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            entry, made = checkpoints.checkpoint_if_new(session)
        if made:
            console.print(
                f"Signed audit checkpoint {entry.number:,} at seq {entry.seq:,} "
                "(see /register/checkpoints)."
            )
    finally:
        engine.dispose()
    return DemoSummary(*summary, generated=generated)


def ensure_county(
    target: Path, people: int, seed: int, console: Console
) -> tuple[dict[str, Any], bool]:
    """The county at `target`, generated only when missing or made with other parameters or
    by an older version of the generator.

    Generation writes beside the target and swaps it in whole, so an interrupted run
    never leaves a half-written county behind."""
    from civicshare.synthetic.service import VERSION, generate

    manifest_path = target / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        # a county from an older generator lacks what this one writes (version 2: the works;
        # 3: current inpatients and the national data opt-out)
        same = (manifest.get("people"), manifest.get("seed"), manifest.get("version"))
        if same == (people, seed, VERSION):
            console.print(f"Reusing the synthetic county in {target} ({people:,} residents).")
            return manifest, False

    console.print(f"Generating a synthetic county of {people:,} residents (seed {seed})...")
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    manifest = generate(people=people, seed=seed, out=staging, progress=True)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return manifest, True


def demo_dpo(partner: dict[str, Any]) -> dict[str, str]:
    """A synthetic data protection officer contact for a demo partner (the register shows it;
    activation needs it)."""
    return {
        "dpo_name": "Data Protection Officer",
        "dpo_email": f"dpo@{partner['key']}.example",
        "dpo_address": f"Data Protection Officer, {partner['name']}, Freepost CIVICSHARE DEMO",
    }


def seed_store(session, manifest: dict[str, Any]) -> tuple[int, int, int]:
    """Partners and their datasets from a synthetic county's manifest (idempotent)."""
    members = partners.upsert(
        session,
        [
            {**demo_dpo(partner), **partner, "status": "endorsed"}
            for partner in manifest["partners"]
        ],
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


def ig_leads_by_partner(session) -> dict[str, Any]:
    """One IG lead membership per partner (the first found), to act in the demo's agreements."""
    leads = {}
    for partner in partners.list_partners(session):
        found = partners.members_with_role(session, partner.id, Role.ig_lead)
        if found:
            leads[partner.key] = found[0]
    return leads


def seed_governance(session, manifest: dict[str, Any]) -> None:
    """Demo people, memberships and the charter, once: later runs leave them as they are."""
    if partners.get_person_by_email(session, DEMO_PEOPLE[0][0]) is not None:
        return
    by_key = {p.key: p for p in partners.list_partners(session)}
    for email, name, title, roles_at in DEMO_PEOPLE:
        person = partners.create_person(session, email=email, display_name=name)
        accounts.set_password(session, person, DEMO_PASSWORD)
        for key, roles in roles_at.items():
            partners.add_membership(session, person, by_key[key], roles, job_title=title)
    has_ig_lead = {
        key for *_, roles_at in DEMO_PEOPLE for key, r in roles_at.items() if "ig_lead" in r
    }
    names = iter(IG_LEAD_NAMES)
    for entry in manifest["partners"]:
        if entry["key"] in has_ig_lead:
            continue
        person = partners.create_person(
            session, email=f"ig.lead@{entry['key']}.example", display_name=next(names)
        )
        accounts.set_password(session, person, DEMO_PASSWORD)
        partners.add_membership(
            session,
            person,
            by_key[entry["key"]],
            ["ig_lead"],
            job_title="Information governance lead",
        )

    v1 = partners.publish_charter(
        session,
        title="Data sharing charter",
        body=CHARTER_V1,
        summary_of_changes="",
        on=date(2024, 4, 1),
    )
    v2 = partners.publish_charter(
        session,
        title="Data sharing charter",
        body=CHARTER_V2,
        summary_of_changes=CHARTER_V2_CHANGES,
        on=date(2026, 10, 1),
    )
    early_adopters = {
        "worcestershire-cc",
        "worcs-acute",
        "hw-fire",
        "west-mercia-police",
        "hw-health-care",
    }
    chiefs = iter(CHIEF_EXECUTIVES)
    for key, partner in by_key.items():
        chief = next(chiefs)
        partners.endorse_charter(
            session,
            partner,
            v1,
            signatory_name=chief,
            signatory_role="Chief Executive",
            on=date(2024, 5, 1),
        )
        if key in early_adopters:
            partners.endorse_charter(
                session,
                partner,
                v2,
                signatory_name=chief,
                signatory_role="Chief Executive",
                on=date(2026, 10, 20),
            )

"""`civicshare incidents`: open an incident, list its vulnerable households, close it, read its
log; IG leads list break-glass access and record each review. Acts as an API token's membership."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from civicshare.accounts.cli import TokenRun
from civicshare.config import get_settings
from civicshare.incidents import service
from civicshare.maps import reference

app = typer.Typer(
    help="Incident response: vulnerable households in an incident area.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()
TOKEN = typer.Option(
    ...,
    envvar="CIVICSHARE_TOKEN",
    help="An API token with scope incidents:read (open, close, review: incidents:write).",
    show_default=False,
)


@app.command("open")
def open_incident(
    title: str = typer.Option(..., help="For example: House fire, 12 Mill Lane."),
    kind: str = typer.Option("other", help=f"One of {', '.join(service.KINDS)}."),
    easting: float | None = typer.Option(None, help="Centre, National Grid metres."),
    northing: float | None = typer.Option(None),
    latitude: float | None = typer.Option(None, help="Centre in WGS84 instead."),
    longitude: float | None = typer.Option(None),
    radius: float | None = typer.Option(None, help="Radius in metres."),
    geojson: Path | None = typer.Option(None, help="A polygon (cordon, flood area) as GeoJSON."),
    agreement: str | None = typer.Option(None, help="When several emergency agreements apply."),
    confirm_outside_area: bool = typer.Option(
        False,
        "--confirm-outside-area",
        help="Open it even though the area is more than 10 km from every property and "
        "district the partnership knows (recorded in the incident log and the audit).",
    ),
    token: str = TOKEN,
) -> None:
    """Open an incident: a centre and radius, or a polygon.

    An area far outside the partnership's (more than 10 km from every property and district it
    knows) is refused with exit code 2 unless --confirm-outside-area is given."""
    with TokenRun(token, "incidents:write") as run:
        area = service.area_from_input(
            easting=easting, northing=northing, radius_m=radius, latitude=latitude,
            longitude=longitude, geojson=geojson.read_text() if geojson else None,
        )  # fmt: skip
        incident = service.open_incident(
            run.session, run.actor, title=title, kind=kind, area=area, agreement=agreement,
            settings=run.settings, confirm_outside_area=confirm_outside_area,
        )  # fmt: skip
        console.print(f"Opened {incident.reference} under {incident.agreement}.")


@app.command("list")
def list_incidents(token: str = TOKEN) -> None:
    """Incidents your partner may see."""
    with TokenRun(token, "incidents:read") as run:
        table = Table("reference", "title", "kind", "agreement", "opened", "status")
        for i in service.list_for(run.session, run.actor):
            table.add_row(i.reference, i.title, i.kind, i.agreement,
                          f"{i.opened_at:%Y-%m-%d %H:%M}", i.status.value)  # fmt: skip
        console.print(table)


@app.command("households")
def households(
    reference: str = typer.Argument(..., help="INC-0001"),
    out: Path | None = typer.Option(None, help="Write .csv or .geojson instead of a table."),
    token: str = TOKEN,
) -> None:
    """The vulnerable households in the incident's area, by priority then distance (audited)."""
    with TokenRun(token, "incidents:read") as run:
        incident = service.get_for(run.session, run.actor, reference)
        result = service.households(run.session, run.settings, run.actor, incident, via="cli")
        if out is not None:
            fmt = "geojson" if out.suffix in (".geojson", ".json") else "csv"
            if fmt == "csv":
                out.write_text(service.export_csv(result))
            else:
                out.write_text(json.dumps(service.export_geojson(result)))
            service.record_export(run.session, run.actor, incident, result, fmt)
            console.print(f"{len(result.households)} households written to {out}.")
            return
        table = Table("priority", "address", "distance", "needs", "source (verified)", "location",
                      title=f"{reference}: {len(result.households)} vulnerable households, "
                      f"{result.properties_in_area:,} properties in the area")  # fmt: skip
        for h in result.households:
            table.add_row(
                str(h["priority"]), f"{h['address']}, {h['postcode']}", f"{h['distance_m']:,.0f} m",
                "; ".join(service.SHORT[n] for n in h["needs"]),
                "; ".join(f"{s['partner_key']} {s['last_verified']}" for s in h["sources"]),
                "UPRN" if h["precision"] == "uprn" else "postcode",
            )  # fmt: skip
        console.print(table)
        for w in result.withheld:
            console.print(f"[yellow]Not shown:[/] {w.dataset} from {w.provider}: {w.reason}")


@app.command("close")
def close(
    reference: str = typer.Argument(...),
    note: str = typer.Option(..., help="Why it is closed (stood down, ...)."),
    token: str = TOKEN,
) -> None:
    """Close (stand down) an incident; break-glass grants under it end."""
    with TokenRun(token, "incidents:write") as run:
        incident = service.get_for(run.session, run.actor, reference)
        service.close_incident(run.session, run.actor, incident, note)
        console.print(f"Closed {reference}.")


@app.command("log")
def log(reference: str = typer.Argument(...), token: str = TOKEN) -> None:
    """Everything done and seen in an incident."""
    with TokenRun(token, "incidents:read") as run:
        incident = service.get_for(run.session, run.actor, reference)
        table = Table("when (UTC)", "who", "what", "detail", title=f"{reference} log")
        for e in service.events(run.session, incident):
            table.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}",
                          service.membership_label(run.session, e.membership_id),
                          e.action, e.summary)  # fmt: skip
        console.print(table)


@app.command("reviews")
def reviews(token: str = TOKEN) -> None:
    """Break-glass access to your partner's data, for IG leads to review."""
    with TokenRun(token, "incidents:read") as run:
        found = service.review_queue(run.session, run.actor)
        table = Table("id", "incident", "who", "reason", "records", "status")
        for r in found:
            grant = r.break_glass
            table.add_row(str(r.id), grant.incident.reference,
                          service.membership_label(run.session, grant.membership_id),
                          grant.reason, str(r.records_seen), r.status.value)  # fmt: skip
        console.print(table)


@app.command("review")
def review(
    review_id: int = typer.Argument(..., help="The review's id, as `incidents reviews` lists it."),
    outcome: str = typer.Option(
        ...,
        help="appropriate or inappropriate: was this break-glass access to your partner's "
        "data appropriate?",
        show_default=False,
    ),
    comment: str = typer.Option(
        "", help="Required when inappropriate: what was wrong and what happens next."
    ),
    token: str = TOKEN,
) -> None:
    """Record the outcome of a break-glass review (IG leads; logged and audited)."""
    with TokenRun(token, "incidents:write") as run:
        found = service.review(run.session, run.actor, review_id, outcome, comment)
        console.print(
            f"Review {found.id} of break-glass {found.break_glass_id} in "
            f"{found.break_glass.incident.reference}: {found.status.value}."
        )


@app.command("install-reference")
def install_reference(
    geography: Path = typer.Argument(..., help="A folder with properties, districts, streets."),
) -> None:
    """Install the address gazetteer, districts and streets that incidents use (operators)."""
    settings = get_settings()
    copied = reference.install_reference(settings, geography)
    for path in copied:
        console.print(f"Installed {path}")

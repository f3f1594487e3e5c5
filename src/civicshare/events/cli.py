"""`civicshare events`: publish registrations (as an API token's membership), pull your
notifications, and, at the gateway's command line, run the delivery worker, see the outbox and
its dead letters, replay one, and set a partner's webhook and keys."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from civicshare import db
from civicshare.accounts.cli import StoreRun, TokenRun, token_option

app = typer.Typer(
    help="Life events: registrations told to every partner that needs to know.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()


@app.command("publish")
def publish(
    path: Path = typer.Argument(
        ..., metavar="FILE", help="Registrations: CSV in the dataset's columns."
    ),
    event_type: str = typer.Option(
        "death",
        "--type",
        help="death (the default), birth or change-of-address: which registrations FILE holds.",
    ),
    token: str = token_option("events:write"),
) -> None:
    """Publish registrations (deaths, births or changes of address): checked whole (problems by
    row and field, nothing stored), new entries linked, matched and told to every partner that
    holds the person."""
    from civicshare.events import service

    try:
        kind = service.kind_of(event_type)
    except service.EventsError as error:
        raise typer.BadParameter(str(error), param_hint="--type") from None
    if not path.is_file():
        raise typer.BadParameter(f"{path} is not a file", param_hint="FILE")
    with TokenRun(token, "events:write") as run:
        published = service.publish(
            run.session, run.settings, run.actor, path.read_bytes(), file_name=path.name,
            via="cli", event_type=kind.type,
        )  # fmt: skip
        counts = {s: published.count(s) for s in service.MatchStatus}
        made = published.notifications
    console.print(
        f"Published {len(published.events):,} new registration(s) in {published.dataset} "
        f"(version {published.snapshot_version}); {published.unchanged:,} already published. "
        f"Matched {counts[service.MatchStatus.matched]:,}, held for review "
        f"{counts[service.MatchStatus.held]:,}, unmatched "
        f"{counts[service.MatchStatus.unmatched]:,}; {made:,} notification(s) in the outbox.",
        highlight=False,
        soft_wrap=True,
    )


@app.command("pull")
def pull(
    after: int = typer.Option(
        0, "--after", min=0, max=db.MAX_ROW_ID, help="Only notifications after this sequence."
    ),
    ack: bool = typer.Option(False, "--ack", help="Acknowledge what is printed (marks it pulled)."),
    token: str = token_option("events:read"),
) -> None:
    """Print your organisation's notifications as JSON lines, in sequence order."""
    from civicshare.events import inbox

    with TokenRun(token, "events:read") as run:
        rows = inbox.inbox(run.session, run.actor, after=after)
        for row in rows:
            typer.echo(json.dumps(row.payload, sort_keys=True))
        if ack and rows:
            inbox.acknowledge(run.session, run.actor, rows[-1].sequence, via="cli")


@app.command("deliver")
def deliver(
    loop: bool = typer.Option(False, "--loop", help="Keep delivering until interrupted."),
    every: float = typer.Option(2.0, "--every", min=0.1, help="Seconds between passes (--loop)."),
) -> None:
    """Send the outbox's due notifications to each recipient's webhook (at the gateway)."""
    from civicshare.events import outbox

    while True:
        with StoreRun() as store:
            tick = outbox.deliver_due(store.session, store.settings)
        if tick.attempted or tick.released or not loop:
            console.print(
                f"Attempted {tick.attempted:,}: {tick.delivered:,} delivered, {tick.failed:,} to "
                f"retry, {tick.dead:,} dead-lettered; {tick.released:,} released by review.",
                highlight=False,
            )
        if not loop:
            return
        time.sleep(every)


@app.command("deliveries")
def deliveries(
    status: str | None = typer.Option(
        None, "--status", help="Only pending, delivered, dead or pulled."
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
) -> None:
    """The outbox, newest first: each notification's recipient, status and attempts."""
    from civicshare.events import inbox

    with StoreRun() as store:
        rows = [
            inbox.delivery_row(r)
            for r in inbox.deliveries(
                store.session, None, store.settings, status=status, limit=limit
            )
        ]
    table = Table(title=f"{len(rows)} notification(s)")
    for name in ("id", "event", "recipient", "seq", "status", "attempts", "last error"):
        table.add_column(name)
    for r in rows:
        table.add_row(
            str(r["id"]), r["event_reference"], r["recipient"], str(r["sequence"]), r["status"],
            str(r["attempts"]), r["last_error"] or "",
        )  # fmt: skip
    console.print(table)


@app.command("replay")
def replay(
    notification_id: int = typer.Argument(..., metavar="ID", min=1, max=db.MAX_ROW_ID),
) -> None:
    """Send a dead-lettered (or delivered) notification again, now, with its own delivery id."""
    from civicshare.events import inbox

    with StoreRun() as store:
        row = inbox.replay(store.session, store.settings, None, notification_id)
        status, error = row.status.value, row.last_error
    console.print(
        f"Notification {notification_id}: {status}" + (f" ({error})" if error else ""),
        highlight=False,
    )


@app.command("endpoint")
def endpoint(
    partner: str = typer.Argument(..., help="The recipient partner's key."),
    url: str = typer.Argument(..., help="Its webhook URL (https; http only to this machine)."),
) -> None:
    """Set a partner's webhook URL; the first time, print its signing key (shown once)."""
    from civicshare.events import keys

    with StoreRun() as store:
        _, made = keys.set_endpoint(store.session, store.settings, None, partner, url)
    console.print(f"{partner} receives its notifications at {url}.", highlight=False)
    if made:
        console.print(f"Signing key {made[0]}: {made[1]}  (shown once)", highlight=False)


@app.command("rotate-key")
def rotate_key(
    partner: str = typer.Argument(..., help="The partner's key."),
    inbound: bool = typer.Option(
        False, "--inbound", help="The key its registration system signs posts to the gateway with."
    ),
) -> None:
    """Make a new signing key; the previous one keeps signing for events_key_overlap_hours."""
    from civicshare.events import keys
    from civicshare.events.models import KeyKind

    kind = KeyKind.inbound if inbound else KeyKind.webhook
    with StoreRun() as store:
        key_id, secret = keys.rotate(store.session, store.settings, None, partner, kind)
        hours = store.settings.events_key_overlap_hours
    console.print(
        f"New {kind.value} key {key_id} for {partner}: {secret}  (shown once; the previous key "
        f"keeps signing for {hours:g} hours)",
        highlight=False,
        soft_wrap=True,
    )

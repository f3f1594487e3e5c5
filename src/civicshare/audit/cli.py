"""`civicshare audit`: verify the chain, sign a checkpoint, show the public key, list records."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from civicshare import db
from civicshare.audit import chain, signing
from civicshare.audit import service as audit
from civicshare.config import get_settings

app = typer.Typer(
    help="The tamper-evident audit log: verify it, sign checkpoints, read it.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()


def _sessions():
    settings = get_settings()
    engine = db.open_store(settings)
    signing.use_keys_dir(settings.effective_keys_dir)
    return db.make_sessionmaker(engine)


@app.command("verify")
def verify(
    public_key: Path | None = typer.Option(
        None,
        "--public-key",
        exists=True,
        dir_okay=False,
        help="Check checkpoints against this public key (PEM) rather than the gateway's copy; "
        "use a copy kept away from the gateway.",
    ),
) -> None:
    """Check every record against its hash and the one before it, and every signed checkpoint.

    Exits 0 when the log is intact, 1 when it is not (naming the first bad record)."""
    key = signing.load_public_key(public_key) if public_key else None
    with db.session_scope(_sessions()) as session:
        result = audit.verify(session, public_key=key)
    for warning in result.warnings:
        console.print(f"[yellow]Warning:[/] {warning}")
    if result.intact:
        console.print(f"[green]{result.message}[/] (checked in {result.seconds:.2f} s)")
        return
    console.print(f"[red bold]{result.message}[/]", highlight=False)
    raise typer.Exit(1)


@app.command("checkpoint")
def checkpoint() -> None:
    """Sign a checkpoint of the chain as it stands now (also done every 1,000 records)."""
    with db.session_scope(_sessions()) as session:
        entry = audit.checkpoint(session)
        if entry is None:
            console.print("The audit log is empty; there is nothing to sign yet.")
            return
        console.print(
            f"Signed checkpoint {entry.number:,} at seq {entry.seq:,} "
            f"(record hash {entry.record_hash[:16]}…, key {entry.key_id})."
        )


@app.command("public-key")
def public_key() -> None:
    """Print the public key that checkpoints are signed with (PEM); keep a copy elsewhere."""
    _sessions()
    key = signing.load_or_create_private_key().public_key()
    console.print(signing.public_pem(key).rstrip(), highlight=False)
    console.print(
        f"key id {signing.key_id(key)}; file {signing.keys_dir() / signing.PUBLIC_NAME}",
        highlight=False,
    )


@app.command("list")
def list_records(
    last: int = typer.Option(20, help="How many of the latest records."),
    action: str | None = typer.Option(None, help="Only this action."),
) -> None:
    """The latest records, newest first."""
    from sqlalchemy import select

    from civicshare.audit.models import AuditRecord

    with db.session_scope(_sessions()) as session:
        query = select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(last)
        if action:
            query = query.where(AuditRecord.action == action)
        table = Table("seq", "at (UTC)", "action", "entity", "by", "outcome", "dataset", "rows")
        for entry in session.scalars(query):
            table.add_row(
                f"{entry.seq:,}",
                chain.utc_text(entry.at)[:19].replace("T", " "),
                entry.action,
                f"{entry.entity_type} {entry.entity_id or ''}".strip(),
                entry.actor_label,
                entry.outcome or "",
                entry.dataset or "",
                "" if entry.row_count is None else f"{entry.row_count:,}",
            )
        console.print(table)

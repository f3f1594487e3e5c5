"""`civicshare audit`: verify the chain, sign a checkpoint, show the public key, list records."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from civicshare import db
from civicshare.audit import chain, checkpoints, signing
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
    against: Path | None = typer.Option(
        None,
        "--against",
        exists=True,
        dir_okay=False,
        help="Also check the log against this checkpoint saved earlier (by `audit checkpoint "
        "--out` or from GET /register/checkpoints/latest): every record it covers must still be "
        "there, unchanged.",
    ),
) -> None:
    """Check every record against its hash and the one before it, and every signed checkpoint.

    Exits 0 when the log is intact, 1 when it is not (naming the first bad record, or the
    records a saved checkpoint covers that are missing or changed)."""
    saved = _saved_checkpoint(against) if against else None
    key = signing.load_public_key(public_key) if public_key else None
    with db.session_scope(_sessions()) as session:
        if saved is not None:
            result = checkpoints.verify_against(session, saved, public_key=key)
        else:
            result = audit.verify(session, public_key=key)
    for warning in result.warnings:
        console.print(f"[yellow]Warning:[/] {warning}")
    if result.intact:
        console.print(f"[green]{result.message}[/] (checked in {result.seconds:.2f} s)")
        return
    console.print(f"[red bold]{result.message}[/]", highlight=False)
    raise typer.Exit(1)


def _saved_checkpoint(path: Path) -> checkpoints.Saved:
    """A checkpoint file, or exit 2 saying why it cannot be read."""
    try:
        return checkpoints.parse(json.loads(path.read_text()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, checkpoints.BadCheckpoint) as error:
        console.print(f"[red]Error:[/] {path} is not a saved checkpoint: {error}", highlight=False)
        raise typer.Exit(2) from None  # the command could not run as asked


@app.command("checkpoint")
def checkpoint(
    out: Path | None = typer.Option(
        None,
        "--out",
        dir_okay=False,
        help="Save the latest checkpoint (with the public key) as JSON in this file; keep it "
        "away from the gateway and check the log against it with `audit verify --against`.",
    ),
) -> None:
    """Sign a checkpoint of the chain as it stands now, if records were written since the last
    one (the gateway also signs one every `audit_checkpoint_every` records, every
    `audit_checkpoint_minutes` while serving, and as the server stops)."""
    with db.session_scope(_sessions()) as session:
        entry, made = checkpoints.checkpoint_if_new(session)
        document = checkpoints.document(entry, signing.load_public_key()) if entry else None
    if entry is None:
        console.print("The audit log is empty; there is nothing to sign yet.")
        if out is not None:
            raise typer.Exit(2)  # nothing to save
        return
    if made:
        console.print(
            f"Signed checkpoint {entry.number:,} at seq {entry.seq:,} "
            f"(record hash {entry.record_hash[:16]}…, key {entry.key_id})."
        )
    else:
        console.print(
            f"No records since checkpoint {entry.number:,} at seq {entry.seq:,}; it is the latest."
        )
    if out is not None:
        try:
            out.write_text(json.dumps(document, indent=2) + "\n")
        except OSError as error:
            console.print(f"[red]Error:[/] cannot write {out}: {error}", highlight=False)
            raise typer.Exit(2) from None
        console.print(f"Saved checkpoint {entry.number:,} to {out}.", highlight=False)


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

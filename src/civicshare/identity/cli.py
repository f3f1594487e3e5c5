"""`civicshare keys`: the gateway's keys (see docs/keys.md)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from civicshare.config import get_settings
from civicshare.core.errors import DomainError
from civicshare.identity import service

app = typer.Typer(
    help="The gateway's keys: status and rotation.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()


@app.command("status")
def status() -> None:
    """Each key file, its fingerprint (never the key), created and permissions."""
    settings = get_settings()
    settings.ensure_dirs()
    store = service.keystore(settings)
    table = Table("key", "fingerprint", "created", "mode", title=str(store.dir))
    current = store.current_pseudonymisation_version()
    for info in store.status():
        label = info.name
        if info.name == f"pseudonymisation-v{current}.key":
            label += " (current)"
        table.add_row(
            label, info.fingerprint, info.created_at.strftime("%Y-%m-%d %H:%M"), info.mode
        )
    console.print(table)


@app.command("rotate")
def rotate(
    pseudonymisation: bool = typer.Option(
        False, "--pseudonymisation", help="Make a new pseudonymisation key version."
    ),
) -> None:
    """Rotate a key. New snapshots use the new version; old snapshots stay readable."""
    if not pseudonymisation:
        raise DomainError("Say which key to rotate: --pseudonymisation.")
    settings = get_settings()
    settings.ensure_dirs()
    version = service.keystore(settings).rotate_pseudonymisation()
    console.print(
        f"Pseudonymisation key v{version} created; snapshots ingested from now on use it. "
        "Back up the keys directory now (docs/keys.md)."
    )

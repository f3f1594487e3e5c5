"""`civicshare share pull`: shared data to a file, as an API token's membership."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from civicshare import db
from civicshare.accounts import service as accounts
from civicshare.config import get_settings
from civicshare.core.errors import DomainError
from civicshare.sharing.delivery import Denied, share
from civicshare.sharing.service import IDENTIFIER_IN_PURPOSE, MALFORMED, request_from_params

app = typer.Typer(
    help="Shared data, under an active agreement.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console(stderr=True)


@app.command("pull")
def pull(
    provider: str = typer.Argument(..., help="The providing partner's key."),
    dataset: str = typer.Argument(..., help="The dataset's name."),
    purpose: str = typer.Option(
        ...,
        help="The code of one of the agreement's permitted purposes, e.g. discharge-planning "
        "(recorded).",
    ),
    out: Path = typer.Option(..., help="File to write; .csv or .parquet."),
    token: str = typer.Option(
        ...,
        envvar="CIVICSHARE_TOKEN",
        help="An API token with scope share:read.",
        show_default=False,
    ),
    columns: str | None = typer.Option(None, help="Comma-separated; default every granted column."),
    agreement: str | None = typer.Option(None, help="Agreement reference, if several apply."),
    group_by: str | None = typer.Option(None, help="Comma-separated: suppressed counts instead."),
    note: str | None = typer.Option(
        None, help="Your own words about this request (recorded); no NHS numbers or postcodes."
    ),
) -> None:
    """Write what an active agreement grants your partner from PROVIDER's DATASET to a file.

    The token decides who you are acting as; the request and its outcome are audited."""
    output_format = "parquet" if out.suffix == ".parquet" else "csv"
    settings = get_settings()
    engine = db.open_store(settings)
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        actor = accounts.token_actor(session, token)
        request = request_from_params(
            actor,
            purpose=purpose,
            provider=provider,
            dataset=dataset,
            columns=columns,
            agreement=agreement,
            group_by=group_by,
            note=note,
        )
        try:
            delivery = share(
                session, settings, request, via="cli", output_format=output_format, out=out
            )
        except Denied as error:
            clause = error.decision.clause
            if clause in MALFORMED:  # bad input: a refusal (exit 2), not a failed check
                field = "purpose" if clause == IDENTIFIER_IN_PURPOSE else None
                raise DomainError(error.decision.reason, field=field, status=422) from None
            console.print(f"[red]Denied ({error.decision.clause}):[/] {error.decision.reason}")
            raise typer.Exit(1) from None
    engine.dispose()
    console.print(
        f"{delivery.table.num_rows:,} rows, {delivery.table.num_columns} columns written to "
        f"{out} under {delivery.decision.agreement} version {delivery.decision.version} "
        f"(receipt {delivery.receipt_id}, sha256 {delivery.output_sha256[:12]}…)."
    )

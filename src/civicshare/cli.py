"""The `civicshare` command."""

from __future__ import annotations

import errno

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from civicshare import __version__
from civicshare.config import get_settings

# Exit codes, the same for every command (docs/running.md):
OK = 0
CHECK_FAILED = 1  # a check said no: a tampered audit log, a denied request, a rejected push
USAGE_ERROR = 2  # could not run as asked: bad input, a refusal, a missing or unmigrated store
CRASHED = 3  # a bug or a failure of the machine: the traceback, never read as a failed check


class _Gateway(TyperGroup):
    """The root command and every command group under it (`_add_group`): the one place where a
    refusal becomes one line on standard error and an exit code.

    A `DomainError` (bad input, something unknown, not allowed) or a store that is missing,
    cannot be opened or is not migrated exits 2 with `Error: <message>`, naming the option at
    fault when the error has a field. An unexpected exception prints its traceback (without
    local variables: they may hold a token or a resident's details) and exits 3, so that a
    scheduled `audit verify` never reads a crash as tampering (exit 1)."""

    def invoke(self, ctx: typer.Context):
        from pydantic import ValidationError

        from civicshare.core.errors import DomainError
        from civicshare.db import StoreUnavailable

        try:
            return super().invoke(ctx)
        except StoreUnavailable as error:
            _refuse(str(error))
        except DomainError as error:
            _refuse(error.message, _at_fault(self, ctx, error))
        except ValidationError as error:
            if error.title != "Settings" or ctx.parent is not None:
                raise
            _refuse(f"The settings are not valid: {_settings_problems(error)}")
        except Exception as error:
            if ctx.parent is not None or _handled_by_typer(error):
                raise
            Console(stderr=True).print_exception(show_locals=False)
            raise typer.Exit(CRASHED) from None


def _handled_by_typer(error: Exception) -> bool:
    """Usage errors, exits and a closed pipe (`civicshare audit list | head`): Typer's own."""
    if isinstance(error, (typer.TyperException, typer.Exit, typer.Abort)):
        return True
    return isinstance(error, OSError) and error.errno == errno.EPIPE


def _refuse(message: str, at_fault: str | None = None) -> None:
    typer.echo(f"Error: {message}" + (f" ({at_fault})" if at_fault else ""), err=True)
    raise typer.Exit(USAGE_ERROR) from None


def _at_fault(group: TyperGroup, ctx: typer.Context, error) -> str | None:
    """The option or argument of the command that ran named by the error's field, as the
    person typed it (`--confirm-outside-area`, `REFERENCE`); else the field itself, unless the
    message already names it."""
    if not error.field:
        return None
    command = group.get_command(ctx, ctx.invoked_subcommand or "")
    for param in command.params if command else ():
        if param.name == error.field:
            if param.param_type_name == "option":
                return next((o for o in param.opts if o.startswith("--")), param.opts[0])
            return param.name.upper()
    return None if error.field in error.message else f"field {error.field}"


def _settings_problems(error) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors()
    )


app = typer.Typer(
    cls=_Gateway,
    name="civicshare",
    help="An information sharing gateway for a local public-sector partnership.\n\n"
    "Settings come from CIVICSHARE_* environment variables and an optional civicshare.toml "
    "(see `civicshare config show`).",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(
    help="The governance store: migrations.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
config_app = typer.Typer(
    help="The settings in force.", no_args_is_help=True, pretty_exceptions_show_locals=False
)


def _add_group(group: typer.Typer, name: str) -> None:
    """Register a command group, and every group inside it, with the one error handler."""
    app.add_typer(group, name=name, cls=_Gateway)
    inner = list(group.registered_groups)
    while inner:
        info = inner.pop()
        info.cls = _Gateway
        inner.extend(info.typer_instance.registered_groups)


_add_group(db_app, "db")
_add_group(config_app, "config")

console = Console()


def _version(value: bool) -> None:
    if value:
        console.print(f"civicshare {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """An information sharing gateway for a local public-sector partnership."""


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Address to listen on (default from settings)."),
    port: int | None = typer.Option(None, help="Port to listen on (default from settings)."),
    workers: int = typer.Option(
        1, min=1, help="Worker processes (PostgreSQL; see `civicshare scheduler`)."
    ),
) -> None:
    """Serve the web UI and the API (OpenAPI at /docs)."""
    from civicshare import db

    settings = get_settings()
    db.open_store(settings, migrated=False).dispose()  # /healthz reports a pending upgrade
    if workers > 1 and settings.background_jobs:
        console.print(
            "[yellow]Each of the workers runs the schedules: set CIVICSHARE_BACKGROUND_JOBS="
            "false and run one `civicshare scheduler` instead.[/]"
        )
    _serve(host or settings.host, port or settings.port, workers)


def _serve(host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    from civicshare.logs import server_log_config

    console.print(f"Serving on [bold]http://{host}:{port}[/]  (API documentation at /docs)")
    # The access log keeps paths only: a query string may hold what a person typed.
    uvicorn.run(
        "civicshare.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # A worker imports the whole CLI before it can answer the supervisor's first ping.
        timeout_worker_healthcheck=60,
        log_config=server_log_config(get_settings().log_format),
    )


@app.command()
def scheduler() -> None:
    """Run the schedules alone (retention, audit checkpoints, life-event deliveries), for
    deployments whose API workers set CIVICSHARE_BACKGROUND_JOBS=false. Stops on SIGTERM,
    signing a last audit checkpoint."""
    import asyncio
    import signal

    from civicshare import app as gateway
    from civicshare import db

    settings = get_settings()
    engine = db.open_store(settings)
    gateway.use_audit_settings(settings)
    sessions = db.make_sessionmaker(engine)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        jobs = gateway.start_background_jobs(sessions, settings)
        names = [job.get_name() for job in jobs]
        console.print(f"Scheduler running: {', '.join(names) or 'nothing is scheduled'}.")
        await stop.wait()
        await gateway.stop_background_jobs(jobs, sessions)

    try:
        asyncio.run(run())
    finally:
        engine.dispose()
    console.print("Scheduler stopped.")


@app.command()
def demo(
    people: int | None = typer.Option(None, help="Residents in the synthetic county."),
    seed: int | None = typer.Option(None, help="Seed of the synthetic county."),
    host: str | None = typer.Option(None, help="Address to listen on."),
    port: int | None = typer.Option(None, help="Port to listen on."),
    no_serve: bool = typer.Option(False, "--no-serve", help="Prepare the store, do not serve."),
) -> None:
    """Prepare the embedded store with a synthetic county, then serve it.

    The county is generated once into DATA_DIR/synthetic and reused by later runs.
    """
    from civicshare import demo as demo_service

    settings = get_settings()
    summary = demo_service.prepare(
        settings,
        people=people or settings.demo_people,
        seed=seed if seed is not None else settings.demo_seed,
        console=console,
        activity=True,
    )
    console.print(
        f"Demo store ready: {summary.partners} partners, {summary.datasets} datasets, "
        f"{summary.rows:,} records ({settings.database_backend} at {settings.data_dir})."
    )
    if not no_serve:
        _serve(host or settings.host, port or settings.port)


@db_app.command("upgrade")
def db_upgrade(
    revision: str = typer.Argument("head", help="Target revision."),
) -> None:
    """Create or migrate the governance store to the latest schema."""
    from civicshare import db

    settings = get_settings()
    settings.ensure_dirs()
    engine = db.make_engine(settings.effective_database_url)
    before = db.current_revision(engine)
    db.upgrade(engine, revision)
    after = db.current_revision(engine)
    engine.dispose()
    if before == after:
        console.print(
            f"Governance store already at revision {after} ({settings.database_backend})."
        )
    else:
        console.print(
            f"Governance store upgraded from {before or 'empty'} to {after} "
            f"({settings.database_backend})."
        )


@db_app.command("current")
def db_current() -> None:
    """Show the store's schema revision and the latest one."""
    from civicshare import db

    settings = get_settings()
    engine = db.open_store(settings, migrated=False)
    current, head = db.current_revision(engine), db.head_revision()
    engine.dispose()
    state = "up to date" if current == head else "needs `civicshare db upgrade`"
    console.print(f"revision {current or 'none'}; latest {head}: {state}")


@config_app.command("show")
def config_show() -> None:
    """Print the effective settings, where each came from, with secrets masked."""
    from civicshare import db

    settings = get_settings()
    table = Table("setting", "value", "from", title="civicshare settings")
    for name, value, source in settings.described():
        table.add_row(name, value, source)
    console.print(table)
    data_dir = settings.data_dir.resolve()
    state = "exists" if data_dir.is_dir() else "does not exist"
    console.print(f"Data directory: {data_dir} ({state})", highlight=False, soft_wrap=True)
    path = db.sqlite_path(settings.effective_database_url)
    if path is None:
        found = "not checked here (a server); `civicshare db current` connects to it"
    elif path.is_file():
        found = "exists"
    else:
        found = "does not exist here; `civicshare db upgrade` creates it"
    console.print(
        f"Governance store: {db.shown_url(settings.effective_database_url)} ({found})",
        highlight=False,
        soft_wrap=True,
    )


def _register_domain_commands() -> None:
    from civicshare.agreements import cli as agreements_cli
    from civicshare.audit import cli as audit_cli
    from civicshare.counciltax import cli as counciltax_cli
    from civicshare.datasets import cli as datasets_cli
    from civicshare.discharge import cli as discharge_cli
    from civicshare.enquiries import cli as enquiries_cli
    from civicshare.events import cli as events_cli
    from civicshare.identity import cli as identity_cli
    from civicshare.incidents import cli as incidents_cli
    from civicshare.linkage import cli as link_cli
    from civicshare.linkage import index_cli, pprl_cli
    from civicshare.partners import cli as partners_cli
    from civicshare.retention import cli as retention_cli
    from civicshare.rights import cli as rights_cli
    from civicshare.rights.access import cli as rights_access_cli
    from civicshare.rights.benefits import cli as rights_benefits_cli
    from civicshare.sharing import cli as sharing_cli
    from civicshare.synthetic.cli import synth
    from civicshare.works import cli as works_cli

    _add_group(partners_cli.partners_app, "partners")
    _add_group(partners_cli.people_app, "people")
    _add_group(partners_cli.charter_app, "charter")
    _add_group(partners_cli.tokens_app, "tokens")
    app.command("synth")(synth)
    _add_group(sharing_cli.app, "share")
    _add_group(agreements_cli.app, "agreements")
    _add_group(datasets_cli.app, "datasets")
    _add_group(identity_cli.app, "keys")
    _add_group(link_cli.app, "link")
    _add_group(audit_cli.app, "audit")
    _add_group(incidents_cli.app, "incidents")
    _add_group(enquiries_cli.app, "enquiries")
    _add_group(retention_cli.app, "retention")
    _add_group(index_cli.app, "index")
    _add_group(pprl_cli.app, "pprl")
    _add_group(works_cli.app, "works")
    _add_group(counciltax_cli.app, "counciltax")
    _add_group(events_cli.app, "events")
    _add_group(rights_access_cli.app, "sar")
    _add_group(discharge_cli.app, "discharge")
    _add_group(rights_cli.app, "rights")
    _add_group(rights_benefits_cli.app, "benefits")


_register_domain_commands()

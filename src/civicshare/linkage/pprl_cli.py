"""`civicshare pprl`: privacy-preserving linkage (see docs/pprl.md).

`keygen` and `encode` run at a partner, with the partner's secret; `link` runs at the
gateway, with encoding files only, and appends one audit record per run (`--no-audit` only
where no governance store is initialised: an analyst linking files on their own machine).
"""

from __future__ import annotations

import getpass
import hashlib
import os
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from civicshare.linkage import pprl

app = typer.Typer(
    help="Privacy-preserving linkage: partners encode identifiers with a shared secret the "
    "gateway never holds; the gateway links the encodings.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()


@app.command("keygen")
def keygen(
    out: Path = typer.Argument(..., help="Key file to create (refused if it exists)."),
) -> None:
    """Create a linkage secret (at a partner): 32 random bytes as hex, mode 0600.

    Share it with the other partners in this linkage by a channel that does not pass through
    the gateway. Never send it to the gateway.
    """
    try:
        pprl.write_secret(out, pprl.generate_secret())
    except FileExistsError:
        raise pprl.PprlError(f"{out}: already exists; a key file is never overwritten") from None
    except OSError as exc:
        raise pprl.PprlError(f"{out}: cannot write ({exc.strerror})") from exc
    console.print(
        f"Wrote {out} (key check {pprl.key_check(pprl.read_secret(out))}). Keep it at the "
        "partners; the gateway must never receive it."
    )


def _column_map(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise pprl.PprlError(f"--map {pair!r}: expected FIELD=COLUMN")
        mapping[field.strip()] = column.strip()
    return mapping


@app.command("encode")
def encode(
    data: Path = typer.Argument(..., help="The partner's CSV file (header row, UTF-8)."),
    scheme_file: Path = typer.Option(
        ..., "--scheme", help="Scheme YAML agreed by all partners (fields, bits, salt, ...)."
    ),
    secret_file: Path = typer.Option(..., "--secret", help="Key file from `pprl keygen`."),
    out: Path = typer.Option(..., "--out", help="Encoding file to write (JSON lines)."),
    source: str = typer.Option(..., "--source", help="Name of this partner's file, e.g. ODS code."),
    id_column: str = typer.Option("record_id", "--id-column", help="Column with the record id."),
    mapping: list[str] = typer.Option(
        [], "--map", help="FIELD=COLUMN when a scheme field has another column name; repeat."
    ),
) -> None:
    """Encode a CSV of identifiers into Bloom-filter encodings (at a partner)."""
    started = time.perf_counter()
    try:
        scheme = pprl.load_scheme(scheme_file)
        secret = pprl.read_secret(secret_file)
        ids, values = pprl.read_identifiers(data, scheme, _column_map(mapping), id_column)
        encodings = pprl.encode(scheme, secret, values, ids, source=source)
        pprl.write_encodings(out, encodings)
    except OSError as exc:
        raise pprl.PprlError(f"{out}: cannot write ({exc.strerror})") from exc
    console.print(
        f"Encoded {len(encodings):,} records from {data} into {out} "
        f"({scheme.output_bits} bits each, key check {encodings.key_check}) "
        f"in {time.perf_counter() - started:.2f} s."
    )


AUDIT_ACTION = "pprl_link"


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _store_location(settings: Any) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


def _store_initialised(settings: Any) -> bool:
    """Whether a migrated governance store is where the settings point; creates nothing.

    Raises PprlError when a store is configured but cannot be reached (fail closed: the run
    could not be audited)."""
    from sqlalchemy.engine import make_url

    from civicshare import db

    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return False
    engine = db.make_engine(settings.effective_database_url)
    try:
        return db.current_revision(engine) is not None
    except Exception as exc:
        raise pprl.PprlError(
            f"cannot reach the governance store at {_store_location(settings)} "
            f"({type(exc).__name__}), so the run could not be audited; nothing was linked"
        ) from exc
    finally:
        engine.dispose()


def _audit_link(settings: Any, details: dict[str, Any], out: Path, pairs: int, digest: str):
    """Append the run's audit record (the operator at the server's command line is the
    actor, as for `index run` and `retention run`); returns the record."""
    from civicshare import db
    from civicshare.audit import service as audit
    from civicshare.audit import signing

    signing.use_keys_dir(settings.effective_keys_dir)
    engine = db.make_engine(settings.effective_database_url)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            return audit.record(
                session,
                None,
                AUDIT_ACTION,
                "pprl_run",
                out.resolve().name[:64] or None,
                reason="Linked two PPRL encoding files by Dice similarity at the gateway.",
                row_count=pairs,
                output_sha256=digest,
                details=details,
            )
    finally:
        engine.dispose()


@app.command("link")
def link(
    file_a: Path = typer.Argument(..., help="Encoding file of the first partner."),
    file_b: Path = typer.Argument(..., help="Encoding file of the second partner."),
    out: Path = typer.Option(..., "--out", help="Directory for pairs.csv and report.md."),
    threshold: float = typer.Option(
        0.5, help="Least Dice similarity of a linked pair; calibrate per scheme (docs/pprl.md)."
    ),
    blocking: str = typer.Option(
        "keys", help="`keys`: compare records sharing a blocking key; `none`: every pair."
    ),
    solver: str = typer.Option(
        "optimal",
        help="One-to-one: `optimal` (maximum total Dice, an assignment solver) or `greedy` "
        "(best score first; for comparison).",
    ),
    checks: bool = typer.Option(
        True,
        "--checks/--no-checks",
        help="Refuse pairs whose per-field checks disagree (schemes with `check` fields); "
        "--no-checks only to measure what the checks change.",
    ),
    no_audit: bool = typer.Option(
        False,
        "--no-audit",
        help="Link without an audit record. Only where no governance store is initialised "
        "(an analyst's own machine); at the gateway every run is audited.",
    ),
) -> None:
    """Link two encoding files by Dice similarity, one-to-one (at the gateway).

    Appends one audit record (action pprl_link): the files' names and SHA-256, the scheme
    fingerprint and key check, the parameters, the counts and where the output went."""
    from civicshare.audit.service import AuditWriteError, IdentifierInAudit
    from civicshare.config import get_settings

    settings = get_settings()
    try:
        audited = _store_initialised(settings)
        if audited and no_audit:
            raise pprl.PprlError(
                f"a governance store is initialised at {_store_location(settings)}: every "
                "`pprl link` there is audited, so --no-audit is refused; run without it"
            )
        if not audited and not no_audit:
            raise pprl.PprlError(
                f"no governance store is initialised at {_store_location(settings)} "
                "(CIVICSHARE_DATA_DIR, CIVICSHARE_DATABASE_URL), so this run could not be "
                "audited and nothing was linked. At the gateway, check the settings "
                "(`civicshare config show`) or run `civicshare db upgrade`; to link files on "
                "your own machine without an audit record, add --no-audit"
            )
        hashes = [_sha256(file_a), _sha256(file_b)]
        a = pprl.read_encodings(file_a)
        b = pprl.read_encodings(file_b)
        pprl.check_compatible(a, b, str(file_a), str(file_b))
        for path, digest in zip((file_a, file_b), hashes, strict=True):
            # The audit record names the content that was linked: refuse a file that changed
            # while it was being read.
            if _sha256(path) != digest:
                raise pprl.PprlError(f"{path}: the file changed while it was being read")
        result = pprl.link(
            a, b, threshold=threshold, blocking=blocking, solver=solver, checks=checks
        )
    except OSError as exc:
        raise pprl.PprlError(f"{exc.filename}: cannot read ({exc.strerror})") from exc

    pairs_path, report_path = out / "pairs.csv", out / "report.md"
    partial = [Path(f"{pairs_path}.partial"), Path(f"{report_path}.partial")]
    try:
        out.mkdir(parents=True, exist_ok=True)
        pprl.write_pairs(partial[0], result)
        summary = pprl.report(result, str(file_a), str(file_b))
        partial[1].write_text(summary, encoding="utf-8")
        digests = [_sha256(partial[0]), _sha256(partial[1])]
    except OSError as exc:
        for path in partial:
            path.unlink(missing_ok=True)
        raise pprl.PprlError(f"{out}: cannot write ({exc.strerror})") from exc

    entry = None
    if audited:
        details = _audit_details(
            (file_a, file_b), hashes, (a, b), (threshold, blocking, solver), result, out, digests
        )
        try:
            entry = _audit_link(settings, details, out, len(result.i), digests[0])
        except (AuditWriteError, IdentifierInAudit) as exc:
            # Fail closed: without its audit record the run's output is not released.
            for path in partial:
                path.unlink(missing_ok=True)
            raise pprl.PprlError(f"{exc} Nothing was written to {out}.") from exc
    try:
        os.replace(partial[0], pairs_path)
        os.replace(partial[1], report_path)
    except OSError as exc:
        raise pprl.PprlError(f"{out}: cannot write ({exc.strerror})") from exc
    refused = (
        f", {result.refused_pairs:,} refused by the per-field checks" if result.refused else ""
    )
    console.print(
        f"Linked {len(result.i):,} pairs ({len(a):,} x {len(b):,} records, "
        f"{result.comparisons:,} comparisons{refused}, {result.seconds:.2f} s): "
        f"{pairs_path}, {report_path}",
        highlight=False,
    )
    if entry is not None:
        console.print(f"Audit record {entry.seq:,} ({AUDIT_ACTION}) appended.", highlight=False)
    else:
        console.print(
            "No audit record was written (--no-audit: no governance store is initialised "
            "here). Keep this run's files under the agreement yourself.",
            highlight=False,
        )


def _audit_details(paths, hashes, encodings, settings, result, out, digests) -> dict:
    """What the audit record of one `pprl link` says: the files, the scheme, the run."""
    file_a, file_b = paths
    a, b = encodings
    threshold, blocking, solver = settings
    pairs_path, report_path = out / "pairs.csv", out / "report.md"
    files = [
        {
            "side": side,
            "name": path.name,
            "path": str(path.resolve()),
            "sha256": digest,
            "source": enc.source,
            "records": len(enc),
            "created": enc.created,
        }
        for side, path, digest, enc in zip("ab", (file_a, file_b), hashes, (a, b), strict=True)
    ]
    details = {
        "files": files,
        "scheme_fingerprint": pprl.scheme_fingerprint(a.scheme),
        "key_check": a.key_check,
        "key_check_matches": a.key_check == b.key_check,
        "threshold": threshold,
        "blocking": blocking,
        "solver": solver,
        "comparisons": result.comparisons,
        "pairs_at_or_above_threshold": result.candidates,
        "checks_applied": bool(result.refused),
        "pairs_refused_by_checks": result.refused_pairs,
        "pairs_linked": len(result.i),
        "output": {
            "directory": str(out.resolve()),
            "pairs_csv": pairs_path.name,
            "pairs_csv_sha256": digests[0],
            "report_md": report_path.name,
            "report_md_sha256": digests[1],
        },
        "run_by": _login(),
    }
    return details


def _login() -> str:
    """The operating-system account that ran the command (the audit actor is the gateway's
    operator; this says which login)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name (e.g. a container without a passwd entry)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"

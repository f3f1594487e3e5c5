"""`civicshare pprl`: privacy-preserving linkage (see docs/pprl.md).

`keygen` and `encode` run at a partner, with the partner's secret; `link` runs at the
gateway, with encoding files only.
"""

from __future__ import annotations

import time
from pathlib import Path

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
err_console = Console(stderr=True)


def _fail(exc: Exception) -> typer.Exit:
    err_console.print(f"[bold red]Error:[/] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


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
        exists = pprl.PprlError(f"{out}: already exists; a key file is never overwritten")
        raise _fail(exists) from None
    except OSError as exc:
        raise _fail(pprl.PprlError(f"{out}: cannot write ({exc.strerror})")) from exc
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
    except pprl.PprlError as exc:
        raise _fail(exc) from exc
    except OSError as exc:
        raise _fail(pprl.PprlError(f"{out}: cannot write ({exc.strerror})")) from exc
    console.print(
        f"Encoded {len(encodings):,} records from {data} into {out} "
        f"({scheme.output_bits} bits each, key check {encodings.key_check}) "
        f"in {time.perf_counter() - started:.2f} s."
    )


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
        "greedy", help="One-to-one: `greedy` (best score first) or `optimal` (assignment)."
    ),
) -> None:
    """Link two encoding files by Dice similarity, one-to-one (at the gateway)."""
    try:
        a = pprl.read_encodings(file_a)
        b = pprl.read_encodings(file_b)
        pprl.check_compatible(a, b, str(file_a), str(file_b))
        result = pprl.link(a, b, threshold=threshold, blocking=blocking, solver=solver)
        out.mkdir(parents=True, exist_ok=True)
        pprl.write_pairs(out / "pairs.csv", result)
        summary = pprl.report(result, str(file_a), str(file_b))
        (out / "report.md").write_text(summary, encoding="utf-8")
    except pprl.PprlError as exc:
        raise _fail(exc) from exc
    except OSError as exc:
        raise _fail(pprl.PprlError(f"{out}: cannot write ({exc.strerror})")) from exc
    console.print(
        f"Linked {len(result.i):,} pairs ({len(a):,} x {len(b):,} records, "
        f"{result.comparisons:,} comparisons, {result.seconds:.2f} s): "
        f"{out / 'pairs.csv'}, {out / 'report.md'}"
    )

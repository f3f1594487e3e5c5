"""Benchmark: audit appends per second and the time to verify the chain, against baselines.

    python benchmarks/audit.py                    # 20,000 records in a temporary SQLite store
    python benchmarks/audit.py --size 1000000     # the run recorded in docs/benchmarks.md
    python benchmarks/audit.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench

Appends, three shapes: `audit.record()` (chain head lock, SHA-256, one INSERT, automatic signed
checkpoint every 1,000 records) in one-record transactions (`--single` of them); `audit.record()`
called in a loop inside transactions of `--batch` records (`--looped` of them); and
`audit.append_many()` in transactions of `--batch` records (the rest of `--size`). Baseline, same
process, same store: plain INSERTs of the same rows into a copy of the table without the hashing,
the head or the triggers, in the same transaction sizes (one execute per row for the first two
shapes, one executemany per transaction for the third). Verify: `audit.verify()` over all
records against a baseline that reads the same rows in the same order and hashes nothing (the
raw DBAPI cursor, `fetchmany`, no SQLAlchemy rows; the faster of a read before and after
verify). On SQLite, from 200,000 records verify walks the chain in two processes; it is also
timed in one (`verify_one_process_s`). Ratios are audit / baseline; `ratio` is verify's. The
last line of output is one JSON object. A PostgreSQL URL must name an empty database; it is
migrated first.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import Column, Index, MetaData, Table, insert  # noqa: E402

from civicshare import db  # noqa: E402
from civicshare.audit import service as audit  # noqa: E402
from civicshare.audit import signing  # noqa: E402
from civicshare.audit.models import AuditRecord  # noqa: E402
from civicshare.db import utcnow  # noqa: E402


def baseline_like_audit() -> Table:
    """The audit table's columns and indexes (so index upkeep is in both), without its
    foreign keys, chain head or triggers."""
    source = AuditRecord.__table__
    table = Table(
        "baseline_records",
        MetaData(),
        *(Column(c.name, c.type, primary_key=c.primary_key, unique=c.unique) for c in source.c),
    )
    for index in source.indexes:
        Index(
            index.name.replace("audit_records", "baseline"),
            *(table.c[c.name] for c in index.columns),
        )
    return table


def facts(number: int) -> dict:
    return {
        "reason": "",
        "details": {"request": number, "via": "api"},
        "purpose": "Vulnerable people at an incident",
        "agreement_ref": "ISA-0004",
        "agreement_version": 2,
        "dataset": "worcestershire-cc/adult-social-care",
        "columns": ["person_token", "uprn", "mobility", "oxygen"],
        "row_count": number % 500,
        "output_sha256": f"{number:064x}",
        "outcome": "allowed" if number % 7 else "denied",
    }


def append(sessions, start: int, count: int, per_transaction: int) -> float:
    began = time.perf_counter()
    done = 0
    while done < count:
        with db.session_scope(sessions) as session:
            for _ in range(min(per_transaction, count - done)):
                number = start + done
                audit.record(session, None, "share_decided", "dataset", number, **facts(number))
                done += 1
    return time.perf_counter() - began


def append_many(sessions, start: int, count: int, per_transaction: int) -> float:
    began = time.perf_counter()
    done = 0
    while done < count:
        with db.session_scope(sessions) as session:
            numbers = range(start + done, start + min(done + per_transaction, count))
            audit.append_many(
                session,
                [audit.Entry(None, "share_decided", "dataset", n, facts(n)) for n in numbers],
            )
            done += len(numbers)
    return time.perf_counter() - began


def baseline_row(number: int) -> dict:
    return dict(
        seq=number + 1,
        prev_hash="0" * 64,
        record_hash="0" * 64,
        at=utcnow(),
        action="share_decided",
        entity_type="dataset",
        entity_id=str(number),
        actor_label="system",
        **facts(number),
    )


def baseline_append(
    sessions, table, start: int, count: int, per_transaction: int, many: bool = False
) -> float:
    """Plain INSERTs: one execute per row, or (many) one executemany per transaction."""
    began = time.perf_counter()
    done = 0
    while done < count:
        with db.session_scope(sessions) as session:
            numbers = range(start + done, start + min(done + per_transaction, count))
            if many:
                session.execute(insert(table), [baseline_row(n) for n in numbers])
            else:
                for number in numbers:
                    session.execute(insert(table).values(**baseline_row(number)))
            done += len(numbers)
    return time.perf_counter() - began


def baseline_read(sessions, batch: int = 20_000) -> tuple[float, int]:
    """Read every record's columns in chain order; hash nothing."""
    began = time.perf_counter()
    count = 0
    with db.session_scope(sessions) as session:
        connection = session.connection()
        raw = connection.connection
        if connection.dialect.name == "postgresql":
            cursor = raw.cursor(name="baseline_read")
        else:
            cursor = raw.cursor()
        cursor.execute("SELECT * FROM audit_records ORDER BY seq, id")
        while rows := cursor.fetchmany(batch):
            count += len(rows)
        cursor.close()
    return time.perf_counter() - began, count


def cpu() -> tuple[float, float]:
    """CPU seconds of this process, and of its finished children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time(), children.ru_utime + children.ru_stime


def timed_verifies(sessions, backend: str) -> tuple:
    """verify() (two processes on SQLite from 200,000 records), verify() in one process
    (SQLite), and the raw read baseline (the faster of one before and one after), with the CPU
    each used: on a shared, loaded machine wall times depend on the other work, while the CPU
    of the longer of the two processes is what verify takes on two idle cores."""
    read_s, _ = baseline_read(sessions)  # first too, so the store's file is in the page cache
    before = cpu()
    with db.session_scope(sessions) as session:
        result = audit.verify(session)
    after = cpu()
    assert result.intact, result.message
    out = {
        "verify_s": round(result.seconds, 2),
        "verify_cpu_s": round(after[0] - before[0], 2),
        "verify_child_cpu_s": round(after[1] - before[1], 2),
        "verify_one_process_s": None,
        "verify_one_process_cpu_s": None,
    }
    if backend == "sqlite":
        with db.session_scope(sessions) as session:
            alone = audit.verify(session, split=False)
        assert alone.intact and alone.records == result.records, alone.message
        out["verify_one_process_s"] = round(alone.seconds, 2)
        out["verify_one_process_cpu_s"] = round(cpu()[0] - after[0], 2)
    began = cpu()[0]
    again_s, _ = baseline_read(sessions)
    out["read_baseline_cpu_s"] = round(cpu()[0] - began, 2)
    read_s = min(read_s, again_s)
    out.update(
        read_baseline_s=round(read_s, 2),
        verify_ratio=round(result.seconds / read_s, 2),
        ratio=round(result.seconds / read_s, 2),
    )
    return result, out


def verify_only(workdir: Path) -> None:
    """Time verify again on a store an earlier run left in `workdir` (its store.db, keys/)."""
    if not (workdir / "store.db").is_file() or not (workdir / "keys").is_dir():
        raise SystemExit(f"{workdir} holds no store.db and keys/ from an earlier SQLite run")
    signing.use_keys_dir(workdir / "keys")
    engine = db.make_engine(f"sqlite:///{workdir / 'store.db'}")
    result, out = timed_verifies(db.make_sessionmaker(engine), "sqlite")
    engine.dispose()
    print(result.message)
    print(json.dumps({"backend": "sqlite", "records": result.records, **out}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000, help="Records appended and verified.")
    parser.add_argument("--single", type=int, default=2_000, help="One-record transactions.")
    parser.add_argument(
        "--looped", type=int, default=10_000, help="record() calls in batched transactions."
    )
    parser.add_argument("--batch", type=int, default=1_000, help="Records per transaction.")
    parser.add_argument("--postgres", help="An empty PostgreSQL database to use instead.")
    parser.add_argument(
        "--verify-only",
        metavar="DIR",
        type=Path,
        help="Only time verify, on the store an earlier run left in DIR (it prints DIR).",
    )
    args = parser.parse_args()
    if args.verify_only:
        verify_only(args.verify_only)
        return

    workdir = Path(tempfile.mkdtemp(prefix="civicshare-audit-bench-"))
    print(f"store and keys in {workdir} (time verify again with --verify-only {workdir})")
    signing.use_keys_dir(workdir / "keys")
    url = args.postgres or f"sqlite:///{workdir / 'store.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    baseline_table = baseline_like_audit()
    baseline_table.create(engine)
    backend = engine.dialect.name

    single = min(args.single, args.size)
    looped = min(args.looped, args.size - single)
    rest = args.size - single - looped
    print(f"{backend}: appending {single:,} records, one per transaction …", flush=True)
    single_s = append(sessions, 0, single, 1)
    single_base = baseline_append(sessions, baseline_table, 0, single, 1)
    print(
        f"{backend}: appending {looped:,} records with record(), {args.batch:,} per transaction …",
        flush=True,
    )
    looped_s = append(sessions, single, looped, args.batch)
    looped_base = baseline_append(sessions, baseline_table, single, looped, args.batch)
    print(
        f"{backend}: appending {rest:,} records with append_many(), {args.batch:,} per "
        "transaction …",
        flush=True,
    )
    batch_s = append_many(sessions, single + looped, rest, args.batch)
    batch_base = baseline_append(
        sessions, baseline_table, single + looped, rest, args.batch, many=True
    )

    print(f"{backend}: verifying …", flush=True)
    result, verified = timed_verifies(sessions, backend)
    read_s, read_count = verified["read_baseline_s"], result.records
    one_s = verified["verify_one_process_s"]
    engine.dispose()

    out = {
        "backend": backend,
        "records": result.records,
        "appended": args.size,
        "checkpoints": result.checkpoints,
        "single_per_s": round(single / single_s),
        "single_baseline_per_s": round(single / single_base),
        "single_ratio": round(single_s / single_base, 2),
        "looped_per_s": round(looped / looped_s) if looped else None,
        "looped_baseline_per_s": round(looped / looped_base) if looped else None,
        "looped_ratio": round(looped_s / looped_base, 2) if looped else None,
        "batch_per_s": round(rest / batch_s) if rest else None,
        "batch_baseline_per_s": round(rest / batch_base) if rest else None,
        "batch_ratio": round(batch_s / batch_base, 2) if rest else None,
        "verify_s": round(result.seconds, 2),
        "verify_per_s": round(result.records / result.seconds),
        "read_baseline_s": round(read_s, 2),
        "verify_ratio": round(result.seconds / read_s, 2),
        **verified,
    }
    print(result.message)
    print(
        f"appends, one per transaction: {out['single_per_s']:,}/s "
        f"(baseline {out['single_baseline_per_s']:,}/s, ratio {out['single_ratio']} ×)"
    )
    if looped:
        print(
            f"appends, record() looped, {args.batch:,} per transaction: "
            f"{out['looped_per_s']:,}/s (baseline {out['looped_baseline_per_s']:,}/s, "
            f"ratio {out['looped_ratio']} ×)"
        )
    if rest:
        print(
            f"appends, append_many(), {args.batch:,} per transaction: {out['batch_per_s']:,}/s "
            f"(baseline {out['batch_baseline_per_s']:,}/s, ratio {out['batch_ratio']} ×)"
        )
    print(
        f"verify {result.records:,} records: {out['verify_s']} s "
        f"(CPU {out['verify_cpu_s']} s here, {out['verify_child_cpu_s']} s in the second process) "
        f"(baseline read {read_count:,} rows {out['read_baseline_s']} s, "
        f"ratio {out['verify_ratio']} ×)"
        + (f"; in one process {out['verify_one_process_s']} s" if one_s is not None else "")
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()

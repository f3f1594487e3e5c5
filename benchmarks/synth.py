"""Benchmark: the synthetic county generator against the floor of writing the same data.

    python benchmarks/synth.py                 # 20,000 people (quick)
    python benchmarks/synth.py --size 1000000  # the full run recorded in docs/benchmarks.md

The baseline, run side by side in the same process, writes random data of exactly the same shape
(every file the generator wrote: same format, same rows, same number of columns, string columns
for CSV) with pyarrow and nothing else: the floor under any generator. The ratio is generator
time / baseline time. Peak memory is the process's peak resident set size (the generator runs
first, so the peak is the generator's). The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from civicshare.synthetic.service import generate  # noqa: E402


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def shapes(out: Path) -> list[tuple[str, int, int]]:
    """(format, rows, columns) of every CSV/Parquet file the generator wrote."""
    found = []
    for path in sorted(out.rglob("*")):
        if path.suffix == ".parquet":
            md = pq.read_metadata(path)
            found.append(("parquet", md.num_rows, md.num_columns))
        elif path.suffix == ".csv":
            with path.open() as fh:
                ncols = len(next(fh).split('","'))
                nrows = sum(1 for _ in fh)
            found.append(("csv", nrows, ncols))
    return found


def baseline(files: list[tuple[str, int, int]], where: Path, seed: int) -> float:
    rng = np.random.default_rng(seed)
    where.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for i, (fmt, rows, cols) in enumerate(files):
        data = {}
        for c in range(cols):
            values = pa.array(rng.integers(0, 10**9, rows))
            data[f"c{c}"] = values.cast(pa.string()) if fmt == "csv" else values
        table = pa.table(data)
        if fmt == "csv":
            pacsv.write_csv(table, where / f"{i}.csv")
        else:
            pq.write_table(table, where / f"{i}.parquet", compression="zstd")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=20_000, help="number of people")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="keep the county here")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="civicshare-synth-bench-"))
    out = args.out or tmp / "county"
    try:
        start = time.perf_counter()
        manifest = generate(args.size, args.seed, out)
        seconds = time.perf_counter() - start
        peak = peak_rss_mib()
        files = shapes(out)
        rows = sum(r for _, r, _ in files)
        base = baseline(files, tmp / "baseline", args.seed)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "people": args.size,
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(peak, 1),
        "baseline_seconds": round(base, 2),
        "ratio": round(seconds / base, 2) if base > 0 else None,
        "rows_written": rows,
        "datasets": len(manifest["datasets"]),
        "files": len(files),
    }
    print(
        f"synthetic county: {args.size:,} people, {len(manifest['datasets'])} datasets, "
        f"{len(files)} tables, {rows:,} rows written"
    )
    print(f"  generator  {seconds:8.2f} s   peak RSS {peak:,.0f} MiB")
    print(f"  baseline   {base:8.2f} s   (random data of the same shape, pyarrow only)")
    print(f"  ratio      {result['ratio']:8.2f} x")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pyarrow.parquet as pq

from civicshare.synthetic.common import nhs_is_valid
from civicshare.synthetic.datasets.works_format import PROMOTERS
from civicshare.synthetic.geography import DISTRICT_KEYS
from civicshare.synthetic.mess import KINDS, MessRates
from civicshare.synthetic.service import generate

from .helpers import read_dataset


def digest(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_different_seed_different(tmp_path):
    a = generate(600, 11, tmp_path / "a")
    b = generate(600, 11, tmp_path / "b")
    c = generate(600, 12, tmp_path / "c")
    da, db, dc = digest(tmp_path / "a"), digest(tmp_path / "b"), digest(tmp_path / "c")
    assert da == db
    assert a == b
    assert len(da) > 40
    assert da.keys() == dc.keys()
    same = {k for k in da if da[k] == dc[k]}
    # only the fixed district boundaries and the truth README do not depend on the seed
    assert same == {
        "geography/districts.geojson",
        "geography/districts.parquet",
        "truth/README.txt",
    }
    assert c["seed"] == 12
    text = (tmp_path / "a" / "manifest.json").read_text()
    assert json.loads(text) == a
    # regenerating into the same directory replaces, never accumulates
    generate(600, 11, tmp_path / "a")
    assert digest(tmp_path / "a") == da


def _canonical(value):
    """Floats to 9 significant digits, so a last-bit difference in a CPU's exp() cannot show."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else float(f"{value:.9g}")
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value


def content_digests(root, manifest) -> dict[str, str]:
    """sha256 of each file's content: tables and JSON by value (not by the writer's bytes, which
    name the pyarrow version), other files by bytes."""
    csvs = {d["file"]: d for d in manifest["datasets"] if d["format"] != "parquet"}
    digests = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        if rel in csvs:
            value = read_dataset(root, csvs[rel]).to_pydict()
        elif path.suffix == ".parquet":
            value = pq.read_table(path).to_pydict()
        elif path.suffix in (".json", ".geojson"):
            value = json.loads(path.read_text())
        else:
            digests[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            continue
        text = json.dumps(_canonical(value), default=str, sort_keys=True)
        digests[rel] = hashlib.sha256(text.encode()).hexdigest()
    return digests


# What seed 11 with 600 people has always given (first 16 hex digits of content_digests).
# A change here means the county a seed names has changed: every random draw must stay in the
# same order. Update these only for a deliberate change to the generator, and bump its VERSION.
GOLDEN = {
    "geography/streets.parquet": "0c561cbf9ba3cfd7",
    "geography/properties.parquet": "2c3bbe805163432a",
    "geography/postcodes.parquet": "c0d8105f5fef8eff",
    "truth/people.parquet": "5b70364048971727",
    "truth/households.parquet": "127699af26e6c43d",
    # council tax truth gained `joint_liable` (2026-12-04; the datasets are unchanged)
    "everything": "c5d8d00c76c44eaf",
    # every file the works programme (version 2), the discount cases (version 3) and the
    # inpatients and opt-out (version 4) left alone, as version 1 wrote them
    "everything but works, discounts and discharges": "13a2846966f4ae6a",
}
# What version 2's works programme rewrote or added; everything else is byte-for-byte version 1.
WORKS_FILES = {
    "manifest.json",
    "truth/works-planted.json",
    "datasets/traffic-counts.csv",
    "datasets/rights-of-way-works.csv",
    *(f"datasets/{p.dataset}.csv" for p in PROMOTERS),
}

# What version 3's single person discount cases rewrote or added (the manifest is a works file).
DISCOUNT_FILES = {
    "truth/council-tax-planted.json",
    "datasets/gp-registrations.parquet",
    "truth/gp-registrations.parquet",
    *(
        f"{folder}/{name}-{district}.{ext}"
        for district in DISTRICT_KEYS
        for name in ("council-tax", "electoral-register", "housing-tenancies")
        for folder, ext in (("datasets", "csv"), ("truth", "parquet"))
    ),
}

# What version 4's current inpatients and national data opt-out rewrote (spells, the social care
# they lead to, the opt-out flag on GP registrations), and version 5's need for care after
# discharge (not additive in the features) rewrote again: the same files.
DISCHARGE_FILES = {
    "truth/discharge_outcomes.parquet",
    *(
        f"{folder}/{name}.{ext}"
        for name in ("acute-admissions", "asc-care-packages", "asc-clients")
        for folder, ext in (("datasets", "csv"), ("truth", "parquet"))
    ),
}


def test_a_seed_gives_the_county_it_always_gave(tmp_path):
    manifest = generate(600, 11, tmp_path)
    digests = content_digests(tmp_path, manifest)
    everything = hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()
    got = {k: digests[k][:16] for k in GOLDEN if not k.startswith("everything")}
    got["everything"] = everything[:16]
    changed = WORKS_FILES | DISCOUNT_FILES | DISCHARGE_FILES
    others = {k: v for k, v in digests.items() if k not in changed}
    assert len(others) == 23
    got["everything but works, discounts and discharges"] = hashlib.sha256(
        json.dumps(others, sort_keys=True).encode()
    ).hexdigest()[:16]
    assert got == GOLDEN


def test_zero_rates_give_clean_data(tmp_path):
    m = generate(800, 5, tmp_path, rates=MessRates(**{k: 0.0 for k in KINDS}))
    for d in m["datasets"]:
        if "truth" not in d:
            continue
        truth = pq.read_table(tmp_path / d["truth"]).to_pandas()
        errs = [c for c in truth.columns if c.startswith("err_")]
        assert not truth[errs].to_numpy().any(), d["name"]
        assert all(c["applied"] == 0 for c in d["error_counts"].values())
    gp = read_dataset(tmp_path, next(d for d in m["datasets"] if d["name"] == "gp-registrations"))
    assert nhs_is_valid(np.array(gp.column("nhs_number").to_pylist())).all()


def test_high_rates_are_honoured(tmp_path):
    rates = MessRates(typo=0.5, duplicate=0.2, missing_nhs=0.4)
    m = generate(800, 5, tmp_path, rates=rates)
    gp = next(d for d in m["datasets"] if d["name"] == "gp-registrations")
    c = gp["error_counts"]
    assert 0.44 < c["typo"]["applied"] / c["typo"]["eligible"] < 0.56
    assert 0.15 < c["duplicate"]["applied"] / c["duplicate"]["eligible"] < 0.25
    assert gp["error_rates"]["typo"] == 0.5


def test_mess_rates_parse_and_validate():
    r = MessRates.parse(["typo=0.1", "date-swap=0"])
    assert r.typo == 0.1 and r.date_swap == 0.0 and r.nickname == MessRates().nickname
    for bad in (["typo"], ["nonsense=0.1"], ["typo=1.5"]):
        try:
            MessRates.parse(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad} accepted")

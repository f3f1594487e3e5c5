"""Keys, keyed tokens per agreement, rotation, envelope encryption."""

from __future__ import annotations

import stat

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from civicshare import db
from civicshare.datasets import service
from civicshare.identity import service as identity
from civicshare.identity.keys import KeyStore
from tests.datasets.conftest import GOOD_ROWS, simple_contract, write_csv


@pytest.fixture
def plain_settings(tmp_path):
    from civicshare.config import Settings

    return Settings(data_dir=tmp_path / "data", database_url="sqlite://")


def test_keys_are_created_once_with_owner_only_permissions(tmp_path):
    store = KeyStore(tmp_path / "keys")
    kek = store.kek()
    assert len(kek) == 32 and KeyStore(tmp_path / "keys").kek() == kek
    assert store.current_pseudonymisation_version() == 1
    for path in (tmp_path / "keys").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert store.rotate_pseudonymisation() == 2
    assert store.pseudonymisation_key(1) != store.pseudonymisation_key(2)
    assert [k.name for k in store.status()] == [
        "kek.key",
        "agreement-master.key",
        "pseudonymisation-v1.key",
        "pseudonymisation-v2.key",
    ]


def test_agreement_tokens_are_stable_within_an_agreement_and_differ_between(plain_settings):
    values = pa.array(["9434765919", "9434765870", None, "9434765919"])
    base = identity.base_tokens(plain_settings, values, 1)
    a = identity.agreement_tokens(plain_settings, base, "ISA-0001")
    b = identity.agreement_tokens(plain_settings, base, "ISA-0002")
    assert a[0] == a[3] and a[0] != a[1] and a[2].as_py() is None
    assert set(a.to_pylist()) & set(b.to_pylist()) == {None}
    assert identity.agreement_token(plain_settings, base[0].as_py(), "ISA-0001") == a[0].as_py()
    assert identity.agreement_tokens(plain_settings, base, "ISA-0001") == a
    assert a[0].as_py() != base[0].as_py()
    assert len(a[0].as_py()) == 64


def test_rotation_new_snapshots_use_the_new_key_and_old_ones_stay_readable(
    seeded, settings, tmp_path
):
    with db.session_scope(seeded) as session:
        service.register_contract(session, simple_contract())
        v1 = service.push(
            session,
            settings,
            "worcs-acute",
            "test-people",
            write_csv(tmp_path / "a.csv", GOOD_ROWS),
        ).snapshot
    assert identity.keystore(settings).rotate_pseudonymisation() == 2
    with db.session_scope(seeded) as session:
        v2 = service.push(
            session,
            settings,
            "worcs-acute",
            "test-people",
            write_csv(tmp_path / "b.csv", GOOD_ROWS),
        ).snapshot
    assert (v1.pseudonymisation_key_version, v2.pseudonymisation_key_version) == (1, 2)
    t1, t2 = pq.read_table(v1.data_path), pq.read_table(v2.data_path)
    assert t1["nhs__token"][0] != t2["nhs__token"][0]

    def unsealed(snapshot, column):
        path = snapshot.directory / snapshot.storage[column]["sealed"]
        values = identity.unseal_column(settings, snapshot, column, path, snapshot.row_count)
        return values.column("value").combine_chunks()

    assert (
        t1["nhs__token"].to_pylist()
        == identity.base_tokens(settings, unsealed(v1, "nhs"), 1).to_pylist()
    )
    assert (
        unsealed(v1, "surname").to_pylist()
        == unsealed(v2, "surname").to_pylist()
        == ["SMITH", "JONES", "BROWN"]
    )


def test_a_data_key_wrapped_by_another_kek_is_refused_by_name(plain_settings, tmp_path):
    from civicshare.config import Settings

    _, wrapped = identity.new_data_key(plain_settings)
    other = Settings(data_dir=tmp_path / "other", database_url="sqlite://")
    with pytest.raises(identity.DecryptionError, match="not by the gateway's current"):
        identity.unwrap_data_key(other, wrapped)
    assert len(identity.unwrap_data_key(plain_settings, wrapped)) == 32


def test_the_upload_spool_is_encrypted_on_disk_and_reads_back(tmp_path):
    from civicshare.dataplane.ingest import EncryptedSpool

    spool = EncryptedSpool(tmp_path / "spool")
    payload = b"id,nhs\nA1,9434765919\n" * 1000
    for i in range(0, len(payload), 777):
        spool.append(payload[i : i + 777])
    spool.finish()
    assert b"9434765919" not in (tmp_path / "spool").read_bytes()
    spool.seek(5)
    assert spool.read(10) == payload[5:15]
    spool.seek(0)
    assert spool.read() == payload
    spool.close()
    assert not (tmp_path / "spool").exists()


# -- sealed columns ------------------------------------------------------------------------


def _seal(path, key, ref, column, chunks, stream=3):
    writer = identity.SealedWriter(path, key, ref, column, stream)
    row = 0
    for chunk in chunks:
        writer.write(pa.array(chunk, pa.string()), range(row + 1, row + 1 + len(chunk)))
        row += len(chunk)
    writer.close()


def _frames(data: bytes) -> list[bytes]:
    frames, offset = [], 0
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        frames.append(data[offset : offset + 4 + length])
        offset += 4 + length
    return frames


def test_a_sealed_column_reads_back_in_order_and_holds_no_plaintext(tmp_path):
    key = bytes(range(32))
    chunks = [["9434765919", None, "9434765870"], [], ["4010232137"] * 5]
    _seal(tmp_path / "c.bin", key, "acute/adm/v1", "NHS_NO", chunks)
    values = identity.unseal_values(key, tmp_path / "c.bin", "acute/adm/v1", "NHS_NO", 8)
    assert values.column("value").to_pylist() == [v for chunk in chunks for v in chunk]
    assert values.column("_row").to_pylist() == list(range(1, 9))
    raw = (tmp_path / "c.bin").read_bytes()
    assert b"9434765919" not in raw and b"4010232137" not in raw


@pytest.mark.parametrize("attack", ["swap", "drop last", "other column", "other snapshot",
                                    "other key", "one bit", "row count"])  # fmt: skip
def test_a_sealed_column_that_was_moved_cut_or_altered_does_not_read(tmp_path, attack):
    key = bytes(range(32))
    path = tmp_path / "c.bin"
    _seal(path, key, "acute/adm/v1", "NHS_NO", [["9434765919"], ["9434765870"], ["4010232137"]])
    frames = _frames(path.read_bytes())
    ref, column, rows = "acute/adm/v1", "NHS_NO", 3
    if attack == "swap":
        path.write_bytes(frames[1] + frames[0] + frames[2])
    elif attack == "drop last":
        path.write_bytes(frames[0] + frames[1])
    elif attack == "other column":
        column = "PAT_SURNAME"
    elif attack == "other snapshot":
        ref = "acute/adm/v2"
    elif attack == "other key":
        key = bytes(32)
    elif attack == "one bit":
        data = bytearray(path.read_bytes())
        data[30] ^= 1
        path.write_bytes(bytes(data))
    else:
        rows = 4
    with pytest.raises(identity.DecryptionError) as error:
        identity.unseal_values(key, path, ref, column, rows)
    assert "94347" not in str(error.value)


def test_ingest_seals_each_identifier_and_its_tokens_are_the_reference_hmac(
    plain_settings, tmp_path
):
    from civicshare.dataplane import ingest
    from civicshare.datasets.contracts import FileFormat, parse_contract

    contract = parse_contract(simple_contract(bad_rows="quarantine"))
    csv = write_csv(tmp_path / "people.csv", GOOD_ROWS * 3)
    with open(csv, "rb") as handle:
        staged = ingest.stage(
            plain_settings, contract, handle, file_name="people.csv",
            file_format=FileFormat.csv, size=csv.stat().st_size, snapshot_ref="p/people/v1",
        )  # fmt: skip
    table = pq.read_table(staged.directory / "data.parquet")
    data_key = identity.unwrap_data_key(plain_settings, staged.wrapped_data_key)
    for name, entry in staged.storage.items():
        if entry["stored_as"] != "pseudonymised":
            assert "sealed" not in entry
            continue
        assert "encrypted" not in entry and f"{name}__enc" not in table.column_names
        sealed = identity.unseal_values(
            data_key, staged.directory / entry["sealed"], "p/people/v1", name, table.num_rows
        )
        plain = sealed.column("value").combine_chunks()
        assert sealed.column("_row").equals(table.column("_row"))
        # Base tokens (computed in DuckDB at ingest, once per distinct value of a batch) are
        # the Python reference HMAC of every row's value, in row order.
        reference = identity.base_tokens(plain_settings, plain, staged.key_version)
        assert table.column(entry["token"]).to_pylist() == reference.to_pylist()
        assert any(v is None for v in plain.to_pylist()) or name != "nhs"


NORMALISE_CASES = {
    "nhs_number": [" 943 476 5919", "943-476-5919", "9434765919", "", None, "\t94\n34"],
    "postcode": ["wr5 1ps", "WR51PS", " b98  1yd ", "WR5\t1PS", "1PS", "X", "", None, "wr 5 1 ps"],
    "uprn": ["000100120001916", " 1001 2000 ", "0", "00", "", None],
    "phone": ["+44 7700 900123", "447700900123", "01905 123456", "(01905) 123-456", None],
    "family_name": ["  o'neil ", "Smith,  Jones", "MARY\tANN", "a  b   c", "", None, "é\u00a0e"],
    "given_name": ["jo", " Jo  Ann ", "x\ny", None],
    "date_of_birth": ["1950-02-01", " 1950-02-01 ", None],
}


@pytest.mark.parametrize("kind", sorted(NORMALISE_CASES))
def test_normalise_changes_only_what_the_patterns_say(kind):
    """normalise() runs a costly regex replacement only on values that need it (0039); the
    result is that of the plain replacements, value by value."""
    import re

    def reference(value):
        if value is None:
            return None
        if kind == "nhs_number":
            value = re.sub(r"[ \t\n\r\f\v\-]", "", value)
        elif kind == "postcode":
            value = re.sub(r"[ \t\n\r\f\v]+", "", value.upper())
            value = re.sub(r"^(.+)(\d[A-Z]{2})$", r"\1 \2", value)
        elif kind == "uprn":
            value = re.sub(r"^0+(\d)", r"\1", re.sub(r"[ \t\n\r\f\v]+", "", value))
        elif kind == "phone":
            value = re.sub(r"^44(\d{10})$", r"0\1", re.sub(r"\D", "", value))
        else:
            if kind != "date_of_birth":
                value = value.replace(",", " ").upper()
            value = re.sub(r"[ \t\n\r\f\v]+", " ", value.strip(" \t\n\r\f\v"))
        return value or None

    values = NORMALISE_CASES[kind] * 3
    expected = [reference(v) for v in values]
    assert identity.normalise(kind, pa.array(values, pa.string())).to_pylist() == expected
    clean = [v for v in expected if v is not None]  # already normal: nothing changes
    assert identity.normalise(kind, pa.array(clean, pa.string())).to_pylist() == clean


def test_tokens_of_values_known_from_earlier_batches_are_the_reference_hmac():
    """Ingest hashes each distinct value of a batch once, keeps the tokens of columns whose
    values repeat for later batches, and hashes all a batch's columns in one call
    (staging._Hashing); two threads at once, as ingest runs it. Every token must still be
    HMAC-SHA256 of its own value."""
    import hmac
    from concurrent.futures import ThreadPoolExecutor

    from civicshare.dataplane.ingest.staging import _Hashing, _Known

    key = bytes(range(32))
    names = ["SMITH", "JONES", None, "O'NEIL", "ÉMILE", ""]
    batches = []
    for number in range(12):
        size = 500 + 37 * number
        batches.append(
            {
                "name": pa.array([names[(i * 7 + number) % 6] for i in range(size)]),
                "id": pa.array(
                    [None if i % 10 == 3 else f"{number:02d}-{i:05d}" for i in range(size)]
                ),
                "unique": pa.array([f"{number:02d}-{i:05d}" for i in range(size)]),
                "date": pa.array([f"19{(i + number) % 97:02d}-01-01" for i in range(size)]),
                "empty": pa.nulls(size, pa.string()),
            }
        )
    hashing = _Hashing(key)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(hashing.tokens, batches))
    for columns, tokens in zip(batches, results, strict=True):
        for name, values in columns.items():
            expected = [
                None if v is None else hmac.digest(key, v.encode(), "sha256").hex()
                for v in values.to_pylist()
            ]
            assert tokens[name].to_pylist() == expected
    known = hashing._known
    assert known["name"].useful and known["date"].useful  # they repeat: kept
    assert not known["id"].useful and not known["unique"].useful  # hashed value by value
    assert isinstance(known["id"], _Known)


def test_hmac_over_an_array_is_hmac_of_each_value(monkeypatch):
    """identity.hmac_hex hashes whole arrays (DataFusion's sha256, the padding and hex in
    numpy); each value must be what the standard library gives for that value alone: empty
    text, accents, long values, nulls, slices, chunks, keys longer than a block, and arrays
    longer than one DataFusion call."""
    import hmac

    values = ["", "a", "O'NEIL", "ÉMILE ŁUKASZ", None, "x" * 300, "WR5 1PS", "\t"]
    values += [f"{i:010d}" for i in range(2000)]
    for key in (bytes(range(32)), b"k", bytes(range(100))):
        expected = [
            None if v is None else hmac.digest(key, v.encode(), "sha256").hex() for v in values
        ]
        assert identity.hmac_hex(key, pa.array(values)).to_pylist() == expected
        assert identity.hmac_hex(key, pa.array(values).slice(3, 50)).to_pylist() == expected[3:53]
        chunked = pa.chunked_array([pa.array(values[:5]), pa.array(values[5:])])
        assert identity.hmac_hex(key, chunked).to_pylist() == expected
    monkeypatch.setattr(identity, "HMAC_SLICE", 7)  # several calls, joined in order
    key = bytes(range(32))
    expected = [None if v is None else hmac.digest(key, v.encode(), "sha256").hex() for v in values]
    assert identity.hmac_hex(key, pa.array(values)).to_pylist() == expected
    assert identity.hmac_hex(key, pa.array([], pa.string())).to_pylist() == []
    assert identity.hmac_hex(key, pa.nulls(3, pa.string())).to_pylist() == [None] * 3

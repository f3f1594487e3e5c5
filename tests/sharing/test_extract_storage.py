"""share() over a real ingested snapshot: sealed identifier columns and derived per-agreement
pseudonyms give exactly what per-value decryption and the in-query HMAC give, and change
nothing about who gets what (decision 0013)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from civicshare import db
from civicshare.agreements import service as agreements
from civicshare.dataplane import query as compiler
from civicshare.dataplane.query import snapshot_view
from civicshare.datasets import service as datasets
from civicshare.datasets.contracts import example_contracts
from civicshare.identity import service as identity
from civicshare.sharing.delivery import Denied, share
from civicshare.sharing.service import ShareRequest, decide
from tests.agreements.conftest import TODAY, make_active
from tests.dataplane.legacy import make_per_value
from tests.datasets.conftest import county  # noqa: F401  (a fixture)
from tests.sharing.test_decide import PURPOSE, analyst_at

SCOPE = {"description": "Every spell in the extract."}
PSEUDONYMISED = [
    ("NHS_NO", "pseudonymised", None, None),
    ("POSTCODE", "generalised", "postcode_sector", None),
    ("DOB", "generalised", "age_band", None),
    ("CFS_SCORE", "identifiable", None, "health"),
]


@pytest.fixture
def pushed(sessions, settings, world, county):  # noqa: F811
    with db.session_scope(sessions) as session:
        contract = next(c for c in example_contracts() if c.name == "acute-admissions")
        datasets.register_contract(session, contract)
    with db.session_scope(sessions) as session:
        result = datasets.push(
            session, settings, "worcs-acute", "acute-admissions",
            county / "datasets" / "acute-admissions.csv",
        )  # fmt: skip
        assert result.snapshot is not None, result.report
    return world


def _activate(session, world, items):
    from tests.agreements.conftest import draft

    version = draft(session, world.acute)
    agreements.update_draft(session, world.acute, version, {"row_scope": SCOPE}, reason="all rows")
    agreements.set_data_items(session, version, [
        {"provider": "worcs-acute", "dataset": "acute-admissions", "column": c, "treatment": t,
         "generalisation": g, "special_category": k} for c, t, g, k in items
    ])  # fmt: skip
    agreements.submit(session, world.acute, version, today=TODAY)
    agreements.approve(session, world.acute, version)
    agreements.approve(session, world.county, version)
    agreements.endorse(session, world.police, version, meeting_date=TODAY,
                       minute_reference="IGG/1", today=TODAY)  # fmt: skip
    agreements.activate(session, world.acute, version, today=TODAY)
    return version


def _share(session, settings, analyst, reference):
    request = ShareRequest(analyst, PURPOSE, "worcs-acute", "acute-admissions", agreement=reference)
    return share(session, settings, request, via="api", today=TODAY).table


def _rows(table: pa.Table) -> list[tuple]:
    return sorted(tuple(str(v) for v in row.values()) for row in table.to_pylist())


@pytest.mark.parametrize("sealed", [True, False])
def test_snapshots_made_before_0039_still_deliver_the_same_rows(sessions, settings, pushed, sealed):
    """A snapshot with per-value ciphertext (before decision 0039), with sealed columns too
    (0013) or without (before 0013), delivers exactly what the sealed-only snapshot did."""
    with db.session_scope(sessions) as session:
        reference = make_active(session, pushed).agreement.reference  # identifiable, adults
        analyst = analyst_at(session, "worcestershire-cc")
        delivered = _share(session, settings, analyst, reference)
        snapshot = datasets.current_snapshot(session, "worcs-acute", "acute-admissions", settings)
    view = snapshot_view(settings, snapshot)
    assert any(c.sealed for c in view.columns.values())
    assert not any(c.encrypted for c in view.columns.values())
    make_per_value(settings, sessions, snapshot, sealed=sealed)
    with db.session_scope(sessions) as session:
        snapshot = datasets.current_snapshot(session, "worcs-acute", "acute-admissions", settings)
        legacy = snapshot_view(settings, snapshot)
        assert all(bool(c.sealed) == sealed for c in legacy.columns.values() if c.encrypted)
        if not sealed:  # per-value AES-GCM after the query, every date of birth decrypted first
            grant = decide(session, ShareRequest(analyst, PURPOSE, "worcs-acute",
                                                 "acute-admissions", agreement=reference),
                           TODAY).grant  # fmt: skip
            compiled = compiler.compile_grant(grant, legacy, today=TODAY)
            assert compiled.decrypt and compiled.prepare and not compiled.unseal
        again = _share(session, settings, analyst, reference)
    assert delivered.num_rows > 0 and delivered.column_names == again.column_names
    assert _rows(delivered) == _rows(again)


def test_derived_pseudonyms_are_the_agreements_own_and_stop_with_the_agreement(
    sessions, settings, pushed
):
    with db.session_scope(sessions) as session:
        first = _activate(session, pushed, PSEUDONYMISED)
        second = _activate(session, pushed, PSEUDONYMISED)
        analyst = analyst_at(session, "worcestershire-cc")
        cold = _share(session, settings, analyst, first.agreement.reference)
        snapshot = datasets.current_snapshot(session, "worcs-acute", "acute-admissions", settings)
        derived = sorted((snapshot.directory / "derived").iterdir())
        assert len(derived) == 1
        warm = _share(session, settings, analyst, first.agreement.reference)
        other = _share(session, settings, analyst, second.agreement.reference)
        assert len(sorted((snapshot.directory / "derived").iterdir())) == 2
        # Stable within one agreement, whether derived now or read back.
        assert _rows(cold) == _rows(warm)
        # The agreement's HMAC of the base token, as identity.service defines it.
        base = datasets_column(snapshot, "NHS_NO__token")
        mine = set(identity.agreement_tokens(settings, base, first.agreement.reference).to_pylist())
        assert set(cold.column("NHS_NO").to_pylist()) == mine
        # Unrelated between agreements: the two extracts do not join.
        ours = set(cold.column("NHS_NO").drop_null().to_pylist())
        theirs = set(other.column("NHS_NO").drop_null().to_pylist())
        assert ours and theirs and not ours & theirs
        # Suspension and revocation stop the next request, derived file or not.
        agreements.suspend(session, pushed.acute, first, reason="breach at recipient")
        with pytest.raises(Denied) as denied:
            _share(session, settings, analyst, first.agreement.reference)
        assert denied.value.decision.clause == "no active agreement"
        agreements.revoke(session, pushed.acute, second, reason="no longer needed")
        with pytest.raises(Denied):
            _share(session, settings, analyst, second.agreement.reference)


def datasets_column(snapshot, name: str) -> pa.Array:
    import pyarrow.parquet as pq

    return pq.read_table(snapshot.data_path, columns=[name]).column(name).combine_chunks()

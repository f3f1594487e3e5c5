"""The discharge_models table on SQLite and PostgreSQL (migration 0018): a training run's row
keeps its snapshots, receipts and report as JSON, the latest version is found, and a missing
one is a clear 404."""

from __future__ import annotations

from datetime import date

import pytest

from civicshare import db
from civicshare.discharge import service
from civicshare.discharge.features import DischargeError
from civicshare.discharge.models import DischargeModel


def a_row(version: int) -> DischargeModel:
    return DischargeModel(
        version=version,
        chosen="logistic",
        agreement_ref="ISA-0009",
        agreement_version=1,
        snapshots={"worcs-acute/acute-admissions": 3, "hw-icb/gp-registrations": 1},
        receipts=[11, 12, 13, 14, 15],
        as_of=date(2026, 4, 1),
        periods={"train": {"from": "2025-03-03", "to": "2025-10-13"}},
        report={"chosen": "logistic", "models": {"logistic": {"auroc": 0.89}}},
        file=f"discharge/models/discharge-model-v{version}.joblib",
        file_sha256="0" * 64,
    )


def test_models_are_kept_with_their_training_facts_and_found_by_version(sessions):
    with db.session_scope(sessions) as session:
        with pytest.raises(DischargeError, match="civicshare discharge train") as missing:
            service.latest(session)
        assert missing.value.status == 404
        session.add_all([a_row(1), a_row(2)])
    with db.session_scope(sessions) as session:
        latest = service.get(session, None)
        assert latest.version == 2
        assert latest.snapshots["worcs-acute/acute-admissions"] == 3
        assert latest.receipts == [11, 12, 13, 14, 15]
        assert latest.report["models"]["logistic"]["auroc"] == 0.89
        assert [row.version for row in service.all_models(session)] == [2, 1]
        assert service.get(session, 1).as_of == date(2026, 4, 1)
        with pytest.raises(DischargeError) as unknown:
            service.get(session, 7)
        assert unknown.value.status == 404

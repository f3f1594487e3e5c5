"""Datasets: what each partner provides to the gateway."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicshare.datasets.models import Dataset


@dataclass(frozen=True)
class PartnerHoldings:
    """What one partner shares through the gateway, in counts."""

    partner_id: int
    datasets: int
    rows: int
    titles: tuple[str, ...]


def register(
    session: Session,
    *,
    partner_id: int,
    name: str,
    title: str,
    file_format: str,
    row_count: int,
    column_count: int,
    description: str = "",
) -> Dataset:
    """Create or update the dataset `name` of a partner."""
    dataset = session.scalars(
        select(Dataset).where(Dataset.partner_id == partner_id, Dataset.name == name)
    ).one_or_none() or Dataset(partner_id=partner_id, name=name)
    dataset.title = title
    dataset.description = description
    dataset.file_format = file_format
    dataset.row_count = row_count
    dataset.column_count = column_count
    session.add(dataset)
    session.flush()
    return dataset


def holdings_by_partner(session: Session) -> dict[int, PartnerHoldings]:
    totals = session.execute(
        select(Dataset.partner_id, func.count(Dataset.id), func.sum(Dataset.row_count)).group_by(
            Dataset.partner_id
        )
    ).all()
    titles: dict[int, list[str]] = {}
    for partner_id, title in session.execute(
        select(Dataset.partner_id, Dataset.title).order_by(Dataset.title)
    ):
        titles.setdefault(partner_id, []).append(title)
    return {
        partner_id: PartnerHoldings(partner_id, count, int(rows or 0), tuple(titles[partner_id]))
        for partner_id, count, rows in totals
    }

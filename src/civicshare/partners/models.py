from __future__ import annotations

import enum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from civicshare.db import Base, Timestamped, text_enum


class PartnerType(enum.StrEnum):
    county_council = "county_council"
    district_council = "district_council"
    nhs_trust = "nhs_trust"
    icb = "icb"
    police = "police"
    fire_and_rescue = "fire_and_rescue"
    childrens_trust = "childrens_trust"
    other = "other"

    @property
    def label(self) -> str:
        return {
            "county_council": "County council",
            "district_council": "District council",
            "nhs_trust": "NHS trust",
            "icb": "Integrated care board",
            "police": "Police",
            "fire_and_rescue": "Fire and rescue",
            "childrens_trust": "Children's trust",
            "other": "Other",
        }[self.value]


class PartnerStatus(enum.StrEnum):
    invited = "invited"
    endorsed = "endorsed"
    suspended = "suspended"
    left = "left"


class Partner(Timestamped, Base):
    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[PartnerType] = mapped_column(text_enum(PartnerType, "partner_type"))
    status: Mapped[PartnerStatus] = mapped_column(
        text_enum(PartnerStatus, "partner_status"), default=PartnerStatus.invited
    )
    ods_code: Mapped[str | None] = mapped_column(String(16))
    district: Mapped[str | None] = mapped_column(String(64))

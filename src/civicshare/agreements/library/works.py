"""Agreement templates: Street works co-ordination (no personal data)."""

from __future__ import annotations

from civicshare.agreements.library.base import (
    ALL_NO,
    TRAFFIC_COUNT_COLUMNS,
    WORKS_COLUMNS,
    WORKS_PROMOTERS,
    Template,
    data_items,
)

TEMPLATES = [
    Template(
        key="street-works",
        title="Street works co-ordination",
        summary="The highway authority, the district councils and the utilities share their "
        "planned works, rights of way closures and the street traffic counts, to co-ordinate "
        "works on the same streets and paths. No personal data.",
        parties=[(key, kind, "both") for key, kind, _ in WORKS_PROMOTERS],
        fields={
            "purposes": [
                "works-coordination: Co-ordinate street works on the same street so that they "
                "disrupt it less (New Roads and Street Works Act 1991 s59 and s60).",
            ],
            "purpose": "Co-ordinate street works and rights of way closures to reduce "
            "disruption (New Roads and Street Works Act 1991 s59 and s60).",
            "necessity": "The street authority must co-ordinate works and undertakers must "
            "co-operate; every promoter's planned works by street, and the traffic on those "
            "streets, make that possible.",
            "data_subjects": "",
            "controller_arrangement": "separate",
            "statutory_powers": [
                "New Roads and Street Works Act 1991 s59",
                "New Roads and Street Works Act 1991 s60",
            ],
            "row_scope": {
                "recipient_district_only": False,
                "min_age": None,
                "max_age": None,
                "description": "",
            },
            "frequency": "daily",
            "retention": "2 years after the works end.",
            "deletion_method": "Deleted from the gateway 2 years after the works end.",
            "security": "Transferred through the gateway over TLS; no personal data.",
            "rights_handling": "",
            "dpia_answers": dict(ALL_NO),
        },
        items=[
            {**item, "personal": False}
            for key, _, datasets in WORKS_PROMOTERS
            for dataset in datasets
            for item in data_items(
                key,
                dataset,
                *[
                    (column, "identifiable")
                    for column in (
                        TRAFFIC_COUNT_COLUMNS if dataset == "traffic-counts" else WORKS_COLUMNS
                    )
                ],
            )
        ],
    ),
]

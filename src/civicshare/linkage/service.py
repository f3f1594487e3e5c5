"""The person index: every person-holding dataset linked, each record given a stable
pseudonymous person key, and the uncertain pairs put to a person for clerical review.

Interface for the API, pages, CLI and other domains
---------------------------------------------------
* `run(session, settings, actor=None, retrain=False) -> RunOutcome` links each current
  person-holding snapshot not yet in the index, incrementally: new records are compared with
  each other and with the index, never the index with itself. The model is trained on the first
  run (or with `retrain`) and stored with that run.
* `status(session) -> IndexStatus`, `runs(session)`, `get_run(session, id)`.
* `queue(session, status="open")`, `review_pair(session, settings, actor, item_id)` (the two
  records decrypted for the reviewer; the view is audited), `decide(session, settings, actor,
  item_id, accept=..., reason=...)`: accepted pairs merge (the older key stays), rejected pairs
  are never linked again (splitting a cluster if they shared one). Both are kept as labels.
* `person_keys_of(session, source)`: record id -> person key (for tests and the API).

The read path
-------------
Linkage reads identifiers, so it is a read path like any other: `read_source` builds an
internal grant (the person-index purpose, the contract's identifier columns only, identifiable)
and hands it to the data plane's compiler, `compile_grant` and `run`, the one executor of the data
plane. Every read is audited (`person_index_read`) with the purpose, the columns and the row
count; a reviewer's view of a pair is audited (`person_index_pair_viewed`) before it is shown.
Nothing here writes a value: the store holds source names, record ids, random person keys,
weights and HMACs; the mapping Parquet holds the same. See docs/decisions/0011-person-index.md.

The code is in the ``civicshare.linkage.person_index`` package (``sources``, ``keys``, ``run``,
``status``, ``review``, ``demo``); this module re-exports its public names, the interface
other packages import.
"""

from __future__ import annotations

from civicshare.linkage.person_index.demo import (
    index_demo,
)
from civicshare.linkage.person_index.keys import (
    Components,
    merge_keys,
    new_person_key,
    pair_key,
)
from civicshare.linkage.person_index.review import (
    decide,
    get_item,
    item_dict,
    may_review,
    queue,
    review_pair,
    waterfall,
)
from civicshare.linkage.person_index.run import (
    RunOutcome,
    current_model,
    labels,
    run,
    write_mapping,
)
from civicshare.linkage.person_index.sources import (
    CANONICAL_OF,
    DEFAULT_REVIEW_LOWER,
    FIELD_LABELS,
    INDEX_DIR,
    INTERNAL_GRANT,
    MAPPING_FILE,
    MAPPING_SCHEMA,
    PURPOSE,
    REVIEW_PURPOSE,
    REVIEWER_ROLES,
    SEX_COLUMNS,
    LinkageError,
    NotAllowed,
    NotFound,
    SourcePlan,
    canonical,
    evidence,
    person_sources,
    plan_for,
    read_source,
)
from civicshare.linkage.person_index.status import (
    IndexStatus,
    get_run,
    person_keys_of,
    report_html,
    run_dict,
    runs,
    status,
)

__all__ = [
    "PURPOSE",
    "REVIEW_PURPOSE",
    "INTERNAL_GRANT",
    "DEFAULT_REVIEW_LOWER",
    "INDEX_DIR",
    "MAPPING_FILE",
    "MAPPING_SCHEMA",
    "CANONICAL_OF",
    "SEX_COLUMNS",
    "REVIEWER_ROLES",
    "FIELD_LABELS",
    "LinkageError",
    "NotAllowed",
    "NotFound",
    "SourcePlan",
    "plan_for",
    "person_sources",
    "read_source",
    "canonical",
    "evidence",
    "new_person_key",
    "Components",
    "merge_keys",
    "pair_key",
    "RunOutcome",
    "current_model",
    "labels",
    "run",
    "write_mapping",
    "IndexStatus",
    "status",
    "runs",
    "get_run",
    "report_html",
    "run_dict",
    "person_keys_of",
    "may_review",
    "queue",
    "get_item",
    "item_dict",
    "waterfall",
    "review_pair",
    "decide",
    "index_demo",
]

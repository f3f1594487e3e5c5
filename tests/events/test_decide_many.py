"""A batch of review decisions writes the person mapping file once, not once per decision
(the benchmark's stand-in reviewer decides a hundred and more pairs per batch of deaths)."""

from __future__ import annotations

from types import SimpleNamespace

from civicshare.linkage.models import ReviewStatus
from civicshare.linkage.person_index import review


def test_decide_many_writes_the_mapping_once_and_skips_superseded_items(monkeypatch):
    items = {
        1: SimpleNamespace(id=1, status=ReviewStatus.open),
        2: SimpleNamespace(id=2, status=ReviewStatus.open),
        3: SimpleNamespace(id=3, status=ReviewStatus.open),
    }
    decided, written = [], []

    def fake_decide(session, settings, actor, item_id, *, accept, reason=""):
        items[item_id].status = ReviewStatus.accepted if accept else ReviewStatus.rejected
        if item_id == 1:  # accepting 1 made 2's records one person
            items[2].status = ReviewStatus.superseded
        decided.append(item_id)
        return items[item_id]

    monkeypatch.setattr(review, "_decide", fake_decide)
    monkeypatch.setattr(review, "get_item", lambda session, item_id: items[item_id])
    monkeypatch.setattr(review, "write_mapping", lambda *a: written.append(a))
    done = review.decide_many(None, None, None, [(1, True, ""), (2, True, ""), (3, False, "")])
    assert [i.id for i in done] == decided == [1, 3]
    assert len(written) == 1
    assert review.decide_many(None, None, None, []) == [] and len(written) == 1

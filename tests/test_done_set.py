"""The workers' per-article done-set belongs to one plan: an article planned again with other items (a
corrected charset or base URL) never counts what the replaced plan marked done, so the version is
written when, and only when, each item of the current plan has ended (archiver/coordination.py
mark_item_done, workers/tasks.py). On a real redis-server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from archiver.coordination import RedisCoordinator, mark_item_done, plan_done_group
from archiver.discover.model import ImageRef
from archiver.records.plan import ImageItem, Plan
from archiver.records.result import ImageResult

SHA = "ab" * 32


def plan_of(*names: str, base: str = "https://news.example/") -> Plan:
    """A plan of the article "a" (one source) whose items are the images `names` under `base`."""
    items = [ImageItem(item_id=f"{n:0>8}", url=f"{base}{n}.jpg",
                       occurrences=[ImageRef(url=f"{base}{n}.jpg", start=i * 10, end=i * 10 + 5, form="img")])
             for i, n in enumerate(names)]
    return Plan(article_id="a", source_sha256=SHA, encoding="utf-8", created_at="2026-01-01T00:00:00Z",
                items=items)


@pytest.fixture
def coord(redis_url: str) -> Iterator[RedisCoordinator]:
    c = RedisCoordinator(redis_url, prefix=f"t-{uuid.uuid4().hex[:12]}")
    yield c
    for key in c.redis.scan_iter(f"{c.prefix}:*"):
        c.redis.delete(key)
    c.redis.close()


def test_a_replanned_article_counts_only_its_new_plans_items(coord: RedisCoordinator) -> None:
    old = plan_of("a1", "a2", "a3")
    for it in old.items:
        mark_item_done(coord, old, it.item_id)
    new = plan_of("b1", "b2")  # the same source planned again, with other items
    assert plan_done_group(new) != plan_done_group(old) and plan_done_group(new).startswith(new.group + ":")
    assert mark_item_done(coord, new, new.items[0].item_id) == 1  # not 4: the old plan's marks are not its
    assert mark_item_done(coord, new, new.items[0].item_id) == 1  # idempotent
    # An item of the replaced plan ending late (its task loaded the new plan) is not counted either.
    assert mark_item_done(coord, new, old.items[0].item_id) == 0
    assert mark_item_done(coord, new, new.items[1].item_id) == 2 == len(new.items)
    # Plans with the same items (only the encoding changed) share one set: their results are the same.
    same = plan_of("b1", "b2").model_copy(update={"encoding": "windows-1251"})
    assert plan_done_group(same) == plan_done_group(new)
    assert mark_item_done(coord, same, same.items[0].item_id) == 2


def test_the_workers_finalize_only_once_the_current_plans_items_have_ended(
        coord: RedisCoordinator, monkeypatch: pytest.MonkeyPatch) -> None:
    import workers.tasks as tasks

    finalized: list[tuple[str, ...]] = []
    monkeypatch.setattr(tasks, "_finalize_here",
                        lambda rt, plan, reason: finalized.append(tuple(it.item_id for it in plan.items)))
    monkeypatch.setattr(tasks, "_note_for_timestamps", lambda rt, result: None)
    rt: Any = SimpleNamespace(coordinator=coord)

    def ended(plan: Plan, item_id: str) -> None:
        url = plan.item(item_id).url if any(it.item_id == item_id for it in plan.items) else "https://x.example/"
        tasks._after_capture(rt, plan, item_id, ImageResult(item_id=item_id, url=url, status="rejected",
                                                            occurrences=1), attempt=0)

    old = plan_of("a1", "a2", "a3", "a4", base="https://wrong.example/")
    for it in old.items[:3]:  # three of four ended before the article was planned again
        ended(old, it.item_id)
    assert finalized == []
    new = plan_of("b1", "b2", "b3")
    ended(new, new.items[0].item_id)
    assert finalized == []  # was finalized here: 3 stale marks + 1 reached the new plan's total of 3
    ended(new, old.items[3].item_id)  # the replaced plan's last item, its task run on the new plan
    ended(new, new.items[1].item_id)
    assert finalized == []
    ended(new, new.items[2].item_id)
    assert finalized == [tuple(it.item_id for it in new.items)]

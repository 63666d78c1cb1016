"""The local runner's per-article costs (issue 18): one capture pool per Runtime, not a pool (and a
thread per item) per article; every article's images archived all the same."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from archiver.config.settings import Settings
from archiver.runners import local
from archiver.runtime import Runtime
from archiver.testing.fixture_origin import FixtureOrigin
from archiver.testing.fixtures import make_image


def test_articles_share_the_runtimes_capture_threads(tmp_settings: Callable[..., Settings],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Six articles of three images each, archived one after another and then three at once on one
    Runtime, are captured on at most `capture_threads` threads in all, which `close()` ends."""
    ran_on: list[threading.Thread] = []  # the thread objects themselves: an ident may be reused
    capture_item = local.capture_item

    def recording(*args: Any, **kw: Any) -> Any:
        ran_on.append(threading.current_thread())
        return capture_item(*args, **kw)

    monkeypatch.setattr(local, "capture_item", recording)
    with FixtureOrigin() as origin:
        urls = [origin.add_image(f"/p{i}.jpg", make_image(f"p{i}", 120, 90)) for i in range(18)]
        rt = Runtime.from_settings(tmp_settings(**origin.settings_overrides(), capture_threads=3))
        try:
            def one(a: int) -> None:
                page = "".join(f'<p>{a}.{i} <img src="{u}"></p>' for i, u in enumerate(urls[a * 3:a * 3 + 3]))
                rep = local.archive(rt, page.encode(), article_id=f"a{a}")
                assert [im["status"] for im in rep["images"]] == ["archived"] * 3, rep

            for a in range(3):
                one(a)
            at_once = [threading.Thread(target=one, args=(a,)) for a in range(3, 6)]
            for t in at_once:
                t.start()
            for t in at_once:
                t.join(60)
        finally:
            rt.close()
    assert len(ran_on) == 18
    assert len(set(ran_on)) <= 3
    assert not any(t.is_alive() for t in ran_on)  # close() ended them


def test_captures_start_one_host_at_a_time_in_turn(tmp_settings: Callable[..., Settings],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Items start host by host in turn, each host's in page order: a page's many images on one slow
    host cannot take every capture slot while another host's image waits (it was reached last, after
    the article's deadline)."""
    started: list[str] = []
    capture_item = local.capture_item

    def recording(rt: Runtime, plan: Any, item_id: str, **kw: Any) -> Any:
        started.append(plan.item(item_id).url)
        return capture_item(rt, plan, item_id, **kw)

    monkeypatch.setattr(local, "capture_item", recording)
    with FixtureOrigin() as origin:
        slow = [origin.add_image(f"/slow{i}.jpg", make_image(f"s{i}", 60, 40)) for i in range(4)]
        other = origin.add_image("/other.jpg", make_image("o", 60, 40)).replace("127.0.0.1", "localhost")
        page = "".join(f'<p><img src="{u}"></p>' for u in [*slow, other])
        overrides = {**origin.settings_overrides(), "fetch_allow": "127.0.0.1,localhost"}
        with Runtime.from_settings(tmp_settings(**overrides, capture_threads=1)) as rt:
            rep = local.archive(rt, page.encode(), article_id="fair")
    assert [im["status"] for im in rep["images"]] == ["archived"] * 5, rep
    assert started == [slow[0], other, slow[1], slow[2], slow[3]]

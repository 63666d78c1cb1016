"""A hold and a takedown of one post sent at the same time are both kept: each action's read-modify-write
of the post's compliance state runs under the post's lock, between threads of one server and between
processes (the CLI beside a server), so the stored state (compliance/posts/<provider>/<post_id>.json),
the catalog's index of it and the audit trail always agree."""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections.abc import Callable
from typing import Any

from archiver.compliance import audit
from archiver.compliance.holds import hidden_reason, post_state, set_hold
from archiver.config.settings import Settings, load_settings
from archiver.health.restore import takedown_post
from archiver.runtime import Runtime
from archiver.storage.layout import compliance_state_key, post_prefix
from tests.apikit import TWEET, api, archive_sample, fixture_origin


def _stored(rt: Runtime) -> dict[str, Any]:
    return json.loads(rt.store.get(compliance_state_key("twitter", TWEET)))


def _agree(rt: Runtime, hold: str | None, takedown: str | None) -> None:
    """The stored state and the catalog both hold exactly this hold and this takedown."""
    stored, indexed = _stored(rt), post_state(rt, "twitter", TWEET)
    for state in (stored, indexed):
        assert (state["hold"] or {}).get("reason") == hold, state
        assert (state["takedown"] or {}).get("reason") == takedown, state
    row = rt.catalog.query("SELECT held, taken_down FROM post_compliance WHERE provider = ? AND post_id = ?",
                           ["twitter", TWEET])[0]
    assert (bool(row["held"]), bool(row["taken_down"])) == (hold is not None, takedown is not None)
    assert hidden_reason(rt, post_prefix("twitter", TWEET) + "x.json") == takedown


def _together(*actions: Callable[[], Any]) -> list[Any]:
    """Run the actions at the same moment, one thread each; their answers (an exception fails)."""
    barrier = threading.Barrier(len(actions))
    answers: list[Any] = [None] * len(actions)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            answers[i] = actions[i]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return answers


def test_a_hold_and_a_takedown_sent_at_once_are_both_kept(tmp_settings: Callable[..., Settings]) -> None:
    with fixture_origin() as o, api(tmp_settings(broker_url="", **o.settings_overrides())) as a:
        rt = a.rt
        archive_sample(rt, o)
        for i in range(12):
            held, down = _together(
                lambda i=i: set_hold(rt, None, "twitter", TWEET, on=True, reason=f"case {i}"),
                lambda i=i: takedown_post(rt, None, "twitter", TWEET, on=True, reason=f"order {i}"))
            assert held["changed"] and down["changed"]
            _agree(rt, f"case {i}", f"order {i}")
            released, lifted = _together(lambda: set_hold(rt, None, "twitter", TWEET, on=False),
                                         lambda: takedown_post(rt, None, "twitter", TWEET, on=False))
            assert released["outcome"] == "hold released" and lifted["outcome"] == "served publicly again"
            _agree(rt, None, None)
        actions = [e["action"] for e in audit.list_events(rt, limit=1000)]
        assert actions.count("hold") == actions.count("takedown") == 12
        assert actions.count("release_hold") == actions.count("restore_public") == 12


def _act(home: str, verb: str, reason: str, barrier: Any) -> None:
    """One process's action (as the CLI's `archiver hold` / `archiver takedown` does it)."""
    rt = Runtime.from_settings(load_settings(env={}).replace(home=home))
    try:
        barrier.wait()
        if verb == "hold":
            set_hold(rt, None, "twitter", TWEET, on=True, reason=reason)
        else:
            takedown_post(rt, None, "twitter", TWEET, on=True, reason=reason)
    finally:
        rt.close()


def test_a_hold_and_a_takedown_from_two_processes_are_both_kept(tmp_settings: Callable[..., Settings]) -> None:
    with fixture_origin() as o, api(tmp_settings(broker_url="", **o.settings_overrides())) as a:
        rt = a.rt
        archive_sample(rt, o)
        ctx = multiprocessing.get_context("spawn")
        for i in range(3):
            barrier = ctx.Barrier(2)
            procs = [ctx.Process(target=_act, args=(rt.settings.home, verb, f"{verb} {i}", barrier))
                     for verb in ("hold", "takedown")]
            for p in procs:
                p.start()
            for p in procs:
                p.join(120)
                assert p.exitcode == 0
            _agree(rt, f"hold {i}", f"takedown {i}")

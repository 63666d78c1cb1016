"""What compliance keeps about a hold or a takedown beyond the fact of it (its reason, who placed it, what
the store enforced, notes, history) reaches only REASON_ROLES (compliance, admin), by one rule
(``roles.may_read_reasons``, applied by ``holds.visible_state``): editors see THAT a post is held or taken
down, and since when, on every page and API answer they can open, and nothing more."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from archiver.roles import REASON_ROLES, ROLES
from tests.apikit import TWEET
from tests.test_web_defects import Env, _env

HOLD_REASON = "legal hold case LH-2026-0815 of the district court"
TAKEDOWN_REASON = "court order 9911 withdrawing the words"
PLACED_BY = "t-compliance"  # the compliance token's name (test_web_defects._env)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from _env(Path(tmp_path_factory.mktemp("hold-reasons")))


@pytest.fixture(scope="module")
def held(env: Env) -> Env:
    client = env.client()
    for action, reason in (("hold", HOLD_REASON), ("takedown", TAKEDOWN_REASON)):
        r = client.put(f"/v1/posts/twitter/{TWEET}/{action}", json={"reason": reason}, headers=env.h("compliance"))
        assert r.status_code == 200, r.text
    return env


def _secrets_in(text: str) -> dict[str, bool]:
    return {"hold reason": HOLD_REASON in text, "takedown reason": TAKEDOWN_REASON in text,
            "placed by": PLACED_BY in text}


@pytest.mark.parametrize("role", ["editor", "compliance", "admin"])
def test_a_holds_reason_and_who_placed_it_reach_only_reason_roles_on_pages(held: Env, role: str) -> None:
    shown = role in REASON_ROLES
    client = held.signed_in(role)
    page = client.get(f"/posts/twitter/{TWEET}")
    assert page.status_code == 200, page.text[:300]
    assert "Legal hold" in page.text and 'class="badge status-hold"' in page.text  # THAT it is held
    assert "Taken down" in page.text
    assert _secrets_in(page.text) == dict.fromkeys(("hold reason", "takedown reason", "placed by"), shown), role
    hits = client.get("/search", params={"q": "Lavrov"})
    assert f"/posts/twitter/{TWEET}" in hits.text and 'class="badge status-hold"' in hits.text
    secrets = _secrets_in(hits.text)  # the hit's badges: the takedown's reason, who placed the hold
    assert (secrets["takedown reason"], secrets["placed by"]) == (shown, shown), role
    assert not secrets["hold reason"] or shown, role


@pytest.mark.parametrize("role", ["editor", "compliance", "admin"])
def test_a_holds_reason_and_who_placed_it_reach_only_reason_roles_in_the_api(held: Env, role: str) -> None:
    shown = role in REASON_ROLES
    client = held.client()
    answer = client.get(f"/v1/posts/twitter/{TWEET}", headers=held.h(role)).json()
    state = answer["compliance"]
    assert state["hold"] and state["takedown"] and state["hold"]["at"]  # THAT it is held, and since when
    assert _secrets_in(json.dumps(state)) == dict.fromkeys(("hold reason", "takedown reason", "placed by"),
                                                           shown), role
    found = client.get("/v1/search", params={"q": "Lavrov"}, headers=held.h(role)).json()
    (hit,) = [h for h in found["hits"] if h["post_id"] == TWEET]
    assert hit["compliance"]["hold"] is not None
    assert _secrets_in(json.dumps(found)) == dict.fromkeys(("hold reason", "takedown reason", "placed by"),
                                                           shown), role


def test_editors_are_kept_from_the_holds_page_and_the_audit_log(held: Env) -> None:
    editor = held.signed_in("editor")
    assert editor.get("/holds").status_code == 403
    assert held.client().get("/v1/audit", headers=held.h("editor")).status_code == 403
    holds = held.signed_in("compliance").get("/holds").text
    assert HOLD_REASON in holds and PLACED_BY in holds


def test_the_one_rule_keeps_only_the_fact_and_its_time_for_others() -> None:
    from archiver.compliance.holds import visible_state
    from archiver.roles import may_read_reasons

    state = {"hold": {"reason": HOLD_REASON, "by": PLACED_BY, "at": "2026-12-01T10:00:00Z", "object_lock": True,
                      "objects": 7, "notes": "call counsel", "history": [{"reason": "old"}]},
             "takedown": None, "changed": True, "outcome": "held", "previous_reason": "old"}
    assert [r for r in ROLES if may_read_reasons(r)] == list(REASON_ROLES)
    assert not may_read_reasons(None)
    for role in ROLES:
        seen = visible_state(role, state)
        if role in REASON_ROLES:
            assert seen == state
        else:
            assert seen == {"hold": {"at": "2026-12-01T10:00:00Z"}, "takedown": None}, role
    assert visible_state(None, state) == {"hold": {"at": "2026-12-01T10:00:00Z"}, "takedown": None}

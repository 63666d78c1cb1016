"""`archiver hold`, `archiver release` and `archiver takedown`: the compliance actions of the API
(``PUT/DELETE /v1/posts/{provider}/{post_id}/hold`` and ``/takedown``) from a terminal, each audited
under the operating-system user who ran it (archiver.cli.output.os_user), as a CLI export is.
"""

from __future__ import annotations

import argparse

from archiver.auth import Principal
from archiver.cli.output import cli_principal, print_json
from archiver.compliance.holds import check_post, clean_reason, set_hold, visible_state
from archiver.config.settings import Settings
from archiver.errors import InputError
from archiver.health.restore import takedown_post
from archiver.runtime import Runtime


def _principal() -> Principal:
    """The CLI's principal (`cli_principal`) in the compliance role."""
    return cli_principal("compliance")


def _post(ref: str) -> tuple[str, str]:
    """``provider/post_id`` as (provider, post_id); InputError when it is not one."""
    provider, _, post_id = ref.partition("/")
    return check_post(provider, post_id)


def _reason(reason: str | None, what: str) -> str:
    """The reason as it will be stored (``holds.clean_reason``: controls removed, one line); InputError
    when it has no visible character (a hold or takedown needs one) or is too long."""
    if not (reason or "").strip():
        raise InputError(f"{what} needs a reason: --reason \"...\"")
    return clean_reason(reason)


def _show(state: dict[str, object], as_json: bool, line: str) -> None:
    """Print ``line``, or with --json the state as the CLI's principal may see it (``holds.visible_state``,
    the one rule the pages and the API answers follow)."""
    print_json(visible_state(_principal().role, state)) if as_json else print(line)


def cmd_hold(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver hold POST --reason R`: put the post under legal hold (S3 Object Lock where the bucket has
    it); prints the new state; returns 0. InputError for a bad post or an empty reason, PostNotFound
    (an InputError) when nothing of the post is stored."""
    provider, post_id = _post(args.post)
    reason = _reason(args.reason, "a hold")
    with Runtime.from_settings(settings) as rt:
        state = set_hold(rt, _principal(), provider, post_id, on=True, reason=reason)
    hold = state["hold"] or {}
    locked = (f" ({hold.get('objects', 0)} objects locked"
              f"{'' if hold.get('object_lock') else ': the store has no object lock, recorded only'})")
    _show(state, args.json, f"{provider}/{post_id}: {state['outcome']}" + (locked if state["changed"] else ""))
    return 0


def cmd_release(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver release POST`: lift the post's legal hold; prints the outcome ("not held: nothing changed"
    when there was none) or the state with --json; returns 0 either way."""
    provider, post_id = _post(args.post)
    with Runtime.from_settings(settings) as rt:
        state = set_hold(rt, _principal(), provider, post_id, on=False)
    _show(state, args.json, f"{provider}/{post_id}: {state['outcome']}")
    return 0


def cmd_takedown(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver takedown POST --reason R` hides the post from public serving (the evidence is kept) and
    withholds its restored cards in articles; `--lift` serves it again and names the articles where an
    editor may restore it again. Prints the outcome (or the state with --json); returns 0, also when
    nothing changed (a lift without a takedown: "not taken down: nothing changed")."""
    provider, post_id = _post(args.post)
    reason = "" if args.lift else _reason(args.reason, "a takedown")
    with Runtime.from_settings(settings) as rt:
        state = takedown_post(rt, _principal(), provider, post_id, on=not args.lift, reason=reason)
    line = f"{provider}/{post_id}: {state['outcome']}"
    if state.get("withheld"):
        line += f"; withheld in {len(state['withheld'])} article(s): {', '.join(state['withheld'][:20])}"
    if state.get("still_carried"):
        line += (f"; STILL SHOWN (card not found or not replaced) in {len(state['still_carried'])} article(s): "
                 f"{', '.join(state['still_carried'][:20])}")
    if state.get("restore_again"):
        line += f"; an editor may restore it again in: {', '.join(state['restore_again'][:20])}"
    _show(state, args.json, line)
    return 0

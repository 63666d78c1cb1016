"""`archiver hold`, `archiver release` and `archiver takedown`: the compliance actions of the API
(``PUT/DELETE /v1/posts/{provider}/{post_id}/hold`` and ``/takedown``) from a terminal, each audited
under the operating-system user who ran it (archiver.cli.output.os_user), as a CLI export is.
"""

from __future__ import annotations

import argparse

from archiver.auth import Principal
from archiver.cli.output import cli_principal, print_json
from archiver.compliance.holds import check_post, set_hold, set_takedown
from archiver.config.settings import Settings
from archiver.errors import InputError
from archiver.runtime import Runtime


def _principal() -> Principal:
    """The CLI's principal (`cli_principal`) in the compliance role."""
    return cli_principal("compliance")


def _post(ref: str) -> tuple[str, str]:
    """``provider/post_id`` as (provider, post_id); InputError when it is not one."""
    provider, _, post_id = ref.partition("/")
    return check_post(provider, post_id)


def _reason(reason: str | None, what: str) -> str:
    """The reason, one trimmed line; InputError when it is empty (a hold or takedown needs one)."""
    text = " ".join((reason or "").split())
    if not text:
        raise InputError(f"{what} needs a reason: --reason \"...\"")
    if len(text) > 1000:
        raise InputError(f"the reason is {len(text)} characters long; at most 1000")
    return text


def _show(state: dict[str, object], as_json: bool, line: str) -> None:
    print_json(state) if as_json else print(line)


def cmd_hold(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver hold POST --reason R`: put the post under legal hold (S3 Object Lock where the bucket has
    it); prints the new state; returns 0. InputError for a bad post or an empty reason, PostNotFound
    (an InputError) when nothing of the post is stored."""
    provider, post_id = _post(args.post)
    reason = _reason(args.reason, "a hold")
    with Runtime.from_settings(settings) as rt:
        state = set_hold(rt, _principal(), provider, post_id, on=True, reason=reason)
    hold = state["hold"] or {}
    _show(state, args.json, f"{provider}/{post_id}: held ({hold.get('objects', 0)} objects locked"
                            f"{'' if hold.get('object_lock') else ': the store has no object lock, recorded only'})")
    return 0


def cmd_release(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver release POST`: lift the post's legal hold; prints the new state; returns 0."""
    provider, post_id = _post(args.post)
    with Runtime.from_settings(settings) as rt:
        state = set_hold(rt, _principal(), provider, post_id, on=False)
    _show(state, args.json, f"{provider}/{post_id}: hold released")
    return 0


def cmd_takedown(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver takedown POST --reason R` hides the post from public serving (the evidence is kept);
    `--lift` serves it again. Prints the new state; returns 0."""
    provider, post_id = _post(args.post)
    reason = "" if args.lift else _reason(args.reason, "a takedown")
    with Runtime.from_settings(settings) as rt:
        state = set_takedown(rt, _principal(), provider, post_id, on=not args.lift, reason=reason)
    _show(state, args.json, f"{provider}/{post_id}: " + ("served publicly again" if args.lift
                                                         else "taken down from public serving (evidence kept)"))
    return 0

"""The roles an API token can have, in a module that imports nothing: the CLI's parser offers them
(`archiver token create --role`) without loading the token code (``archiver.auth`` re-exports ROLES)."""

ROLES = ("publisher", "editor", "compliance", "admin")

# Who may read a hold's or a takedown's internal reason (and who placed it, its notes and history), wherever
# it is shown: the 410 of a withdrawn copy, the post page, the holds page, search hits, the API's post and
# search answers (others see only THAT the post is held or taken down, and since when).
REASON_ROLES = ("compliance", "admin")


def may_read_reasons(role: str | None) -> bool:
    """Whether a caller of ``role`` may read what compliance keeps about a hold or a takedown beyond the
    fact of it: its reason, who placed it, its notes and history, the audit entries of it (REASON_ROLES).
    The one check every page, API answer, CLI output and export asks (``holds.visible_state``); None
    (nobody signed in) may not."""
    return role in REASON_ROLES

"""Capture statuses: what one capture ended with, and how the rest of the archiver groups them.

Plain constants with no dependency, so that what only needs a status name (the provider interface,
discovery, the CLI's parser) does not load the manifest's models and pydantic with them.
``archiver.capture.manifest`` re-exports every name.
"""

from __future__ import annotations

from typing import Literal, get_args

# Outcome of one capture (documented in the README, "Capture statuses"):
# - archived: every part the sources show was captured; partial: captured, but parts the sources show
#   exist are missing (``missing`` lists them; retried);
# - unavailable: the platform did not answer (retried); failed: nothing could be captured (retried);
# - what the platform says instead of the post: deleted (by its author, or gone from every source),
#   suspended (the account), protected (the account limits who sees it), withheld (in some countries,
#   ``withheld_in_countries``), age_restricted (not shown to logged-out readers), violated_rules
#   (removed for breaking the rules), tombstoned (any other tombstone, its text kept in ``tombstone``);
# - unresolved: the article shows a post without a link to it (nothing to ask the platform about).
EmbedStatus = Literal["archived", "partial", "unavailable", "deleted", "suspended", "protected", "withheld",
                      "age_restricted", "violated_rules", "tombstoned", "unresolved", "failed"]
EMBED_STATUSES: tuple[str, ...] = get_args(EmbedStatus)
# Version 1's statuses: a version 1 manifest has one of these.
V1_STATUSES = ("archived", "unavailable", "deleted", "protected", "tombstoned", "unresolved", "failed")
# The platform shows something else instead of the post: the post is gone for readers.
GONE_STATUSES: tuple[str, ...] = ("deleted", "suspended", "protected", "withheld", "age_restricted",
                                  "violated_rules", "tombstoned")
# A capture holds the post's content: the article can point at it.
CAPTURED_STATUSES: tuple[str, ...] = ("archived", "partial")
# Worth capturing again; the rest are final.
RETRYABLE_STATUSES: tuple[str, ...] = ("partial", "unavailable", "failed")
FINAL_STATUSES: tuple[str, ...] = tuple(s for s in EMBED_STATUSES if s not in RETRYABLE_STATUSES)
# The plain words the cards, the report and the UI use for each status.
STATUS_WORDS: dict[str, str] = {
    "archived": "archived",
    "partial": "archived in part",
    "unavailable": "the platform did not answer",
    "deleted": "deleted",
    "suspended": "from a suspended account",
    "protected": "from a protected account",
    "withheld": "withheld by the platform",
    "age_restricted": "age-restricted by the platform",
    "violated_rules": "removed for breaking the platform's rules",
    "tombstoned": "not shown by the platform",
    "unresolved": "not linked to a post",
    "failed": "could not be captured",
}

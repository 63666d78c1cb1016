"""Threads: its post URLs (threads.net and threads.com) and the ``text-post-media`` blockquote.
No public endpoint to ask: the shared markup capture and the generic page probe.
"""

from __future__ import annotations

import re

from archiver.discover.readers import permalink_blockquote
from archiver.discover.shortcodes import id_reader
from archiver.lazyre import lazy
from archiver.providers.base import EmbedForms, PostUrl, ProviderSpec

NAME = "threads"
# threads.com (the domain since 2025) and threads.net: /@user/post/CODE (and its /embed/ and /media
# forms) and the short /t/CODE/ that names no user.
_POST = lazy(r"https?://(?:www\.)?threads\.(?:net|com)/@(?P<user>[\w.]{1,40})/post/(?P<id>[-\w]{5,40})", re.I)
_T = lazy(r"https?://(?:www\.)?threads\.(?:net|com)/t/(?P<id>[-\w]{5,40})", re.I)

PROVIDER = ProviderSpec(
    name=NAME,
    loader_hosts=("threads.net", "threads.com"),
    platform_domains=("threads.net",),
    order=6,
    urls=(PostUrl(_POST, "https://www.threads.com/@{user}/post/{id}"), PostUrl(_T, "https://www.threads.com/t/{id}/")),
    handle_in_url=re.compile(r"threads\.com/@([\w.]+)/"),
    embeds=EmbedForms(blockquotes={"text-post-media": permalink_blockquote(NAME, "data-text-post-permalink")},
                      shortcodes={"threads": id_reader(NAME, "https://www.threads.net/t/{id}/", r"[-\w]{5,40}")}),
)

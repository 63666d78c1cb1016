"""What the registered providers recognise, gathered into the lookup tables the scanners use: post URL
spellings in the order they are tried, embed classes and tag names with their readers, shortcode
names, plain-text forms, short-link hosts, the words naming each platform and its id attributes.

The scanners know no platform by name; every platform's constructs come from its provider module
(``archiver/providers/<name>.py``) through the registry. The tables are built once and rebuilt only
when the set of providers changes (``registry.on_change``), so discovery costs what it cost with the
tables written inline.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from archiver.discover.model import Embed
from archiver.discover.tokens import QUOTED_VALUE as _QUOTED
from archiver.providers import registry
from archiver.providers.base import (
    BlockquoteReader,
    IdReader,
    PostUrl,
    ScriptReader,
    ShortcodeReader,
    TagReader,
)


@dataclass(frozen=True)
class Constructs:
    """The registered providers' declarations, flattened for lookup (see ``ProviderSpec``)."""

    generation: int
    # (provider, spelling), in the order URLs are tried.
    post_urls: tuple[tuple[str, PostUrl], ...]
    # (provider, short-link pattern), tried after every post URL spelling.
    short_links: tuple[tuple[str, re.Pattern[str]], ...]
    # provider -> pattern of the account name in its canonical post URLs.
    handles: dict[str, re.Pattern[str]]
    # Blockquote class -> (provider, reader), in provider order.
    blockquotes: dict[str, tuple[str, BlockquoteReader]]
    divs: dict[str, TagReader]
    # Finds an opening <div> carrying one of the classes in ``divs``; None when no provider has one.
    div_candidate: re.Pattern[str] | None
    amp: dict[str, TagReader]
    iframe_ids: tuple[tuple[str, IdReader], ...]
    scripts: tuple[tuple[str, ScriptReader], ...]
    shortcodes: dict[str, ShortcodeReader]
    text_forms: tuple[Callable[[str], list[Embed]], ...]
    finish: dict[str, Callable[[Embed], None]]
    redirect_hosts: tuple[str, ...]
    # Word naming a platform in markup ("tweet", "youtube") -> provider.
    names: dict[str, str]
    # Attribute or props key naming a post id ("videoid") -> (provider, reader), in provider order.
    id_attrs: dict[str, tuple[tuple[str, IdReader], ...]]
    # Where the any-element rule looks: "http:"/"https:", "at://" or a platform's name (inside a tag).
    element_hint: re.Pattern[str]
    # Widget name, class or embed type that shows no post ("fb-like") -> provider (``EmbedForms.not_posts``).
    not_posts: dict[str, str]


_lock = threading.Lock()
_current: Constructs | None = None


def current() -> Constructs:
    """The tables for the providers registered now."""
    found = _current
    if found is not None:
        return found
    with _lock:
        return _current if _current is not None else _build()


def _forget() -> None:
    global _current
    _current = None


registry.on_change(_forget)


def _build() -> Constructs:
    global _current
    gen = registry.generation()
    specs = registry.providers()
    blockquotes: dict[str, tuple[str, BlockquoteReader]] = {}
    divs: dict[str, TagReader] = {}
    amp: dict[str, TagReader] = {}
    iframe_ids: list[tuple[str, IdReader]] = []
    scripts: list[tuple[str, ScriptReader]] = []
    shortcodes: dict[str, ShortcodeReader] = {}
    names: dict[str, str] = {}
    id_attrs: dict[str, list[tuple[str, IdReader]]] = {}
    not_posts: dict[str, str] = {}
    for spec in specs:
        forms = spec.embeds
        for cls, reader in forms.blockquotes.items():
            blockquotes.setdefault(cls, (spec.name, reader))
        for cls, tag_reader in forms.divs.items():
            divs.setdefault(cls, tag_reader)
        for tag, tag_reader in forms.amp.items():
            amp.setdefault(tag, tag_reader)
        iframe_ids += forms.iframe_ids.items()
        scripts += forms.scripts.items()
        for name, shortcode in forms.shortcodes.items():
            shortcodes.setdefault(name, shortcode)
        for word in forms.names:
            names.setdefault(word.lower(), spec.name)
        for attr, id_reader in forms.id_attrs.items():
            id_attrs.setdefault(attr.lower(), []).append((spec.name, id_reader))
        for word in forms.not_posts:
            not_posts.setdefault(word.lower(), spec.name)
    div_candidate = None
    if divs:
        # Divs are the commonest tag; only those with an embed class are worth parsing.
        classes = "|".join(re.escape(c) for c in divs)
        div_candidate = re.compile(
            rf"<[dD][iI][vV](?=[\s/>])(?>{_QUOTED}|[^<>]){{0,3000}}?class\s*+=[^<>]{{0,500}}?(?:{classes})", re.I)
    built = Constructs(
        generation=gen,
        post_urls=tuple((spec.name, u) for spec in specs for u in spec.urls),
        short_links=tuple((spec.name, p) for spec in specs for p in spec.short_links),
        handles={spec.name: spec.handle_in_url for spec in specs if spec.handle_in_url is not None},
        blockquotes=blockquotes,
        divs=divs,
        div_candidate=div_candidate,
        amp=amp,
        iframe_ids=tuple(iframe_ids),
        scripts=tuple(scripts),
        shortcodes=shortcodes,
        text_forms=tuple(spec.embeds.text for spec in specs if spec.embeds.text is not None),
        finish={spec.name: spec.finish for spec in specs if spec.finish is not None},
        redirect_hosts=tuple(host for spec in specs for host in spec.redirect_hosts),
        names=names,
        id_attrs={attr: tuple(readers) for attr, readers in id_attrs.items()},
        element_hint=re.compile(
            "|".join(["https?:", "at://", *(re.escape(w) for w in sorted(names, key=len, reverse=True))]), re.I),
        not_posts=not_posts,
    )
    _current = built
    return built

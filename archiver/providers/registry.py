"""Provider registry: finds every platform's module, so discovery, capture, health and settings iterate
one list and a new platform is one file.

A provider module is any module under ``archiver/providers/`` (subpackages included) that defines
``PROVIDER = ProviderSpec(...)`` (``base.py``); shared helper modules (``markup``, ``oembed``,
``sources``, ...) define none and are skipped. Modules are found by walking the package with
``pkgutil`` and imported with ``importlib``, never statically: the settings module imports this one,
and a static import of the provider modules would make a cycle (config -> registry -> twitter ->
capture.fetch -> config). For the same reason the settings module calls ``provider_settings()`` only
when a ``Settings`` is made, never while it loads. The shared markup capture and the share-link
resolver are imported by name on first use (``get_provider``): they load the manifest's models
(pydantic), which what imports this module for names and URL patterns (discovery, the search
syntax, the CLI's parser) does not need.

Providers from outside the package: ``register_package("pkg")`` walks another package the same way,
and installed distributions can name a module or package in the entry-point group
``archiver.providers`` (read once, on first use).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import threading
from collections.abc import Callable
from types import ModuleType

from archiver.providers.base import Provider, ProviderSpec, SettingSpec

ENTRY_POINT_GROUP = "archiver.providers"
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")

_lock = threading.RLock()
_packages: list[str] = [__name__.rsplit(".", 1)[0]]
_entry_points_read = False
_providers: tuple[ProviderSpec, ...] | None = None
_by_name: dict[str, ProviderSpec] = {}
_generation = 0
_listeners: list[Callable[[], None]] = []


def register_package(name: str) -> None:
    """Add the providers found in package (or module) ``name``, importable from ``sys.path``. Raises
    ImportError if it cannot be imported and ValueError when a provider name or setting is taken."""
    with _lock:
        if name not in _packages:
            _packages.append(name)
            _invalidate()
        providers()


def unregister_package(name: str) -> None:
    """Drop the providers of a package added with ``register_package`` (tests clean up with it)."""
    with _lock:
        if name in _packages[1:]:
            _packages.remove(name)
            _invalidate()


def providers() -> tuple[ProviderSpec, ...]:
    """Every registered provider, in the order post URLs are tried: by ``order``, then name; those
    whose URLs live on any host (``any_host``) last."""
    found = _providers
    if found is None:
        with _lock:
            found = _providers if _providers is not None else _load()
    return found


def find(name: str | None) -> ProviderSpec | None:
    """The provider called ``name``, or None."""
    providers()
    return _by_name.get(name or "")


def names() -> tuple[str, ...]:
    """The registered providers' names, in ``providers()`` order."""
    return tuple(p.name for p in providers())


def generation() -> int:
    """A number that changes whenever the set of providers changes."""
    if _providers is None:
        providers()
    return _generation


def on_change(listener: Callable[[], None]) -> None:
    """Call ``listener`` (no arguments) whenever the set of providers changes: caches built from the
    providers drop themselves there and rebuild on next use."""
    _listeners.append(listener)


def get_provider(name: str) -> Provider:
    """The capture for ``name`` ("twitter", "youtube", ...): the provider's own, or the shared markup
    capture for a platform that declares none or is not registered; wrapped in the share-link
    resolver (``shortlinks.ShortLinkCapture``) when the provider declares ``short_links``. Raises
    ValueError for a malformed name."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"not a provider name: {name!r}")
    spec = find(name)
    if spec is not None and spec.capture is not None:
        inner: Provider = spec.capture()
    else:
        inner = importlib.import_module("archiver.providers.markup").MarkupProvider(name)
    # A provider with share links gets them resolved before its own capture runs.
    if spec is not None and spec.short_links:
        return importlib.import_module("archiver.providers.shortlinks").ShortLinkCapture(spec, inner)
    return inner


def provider_settings() -> list[SettingSpec]:
    """Every setting the registered providers declare, in ``providers()`` order (each provider's in its
    own order). Names are unique (checked when the providers are collected)."""
    return [setting for spec in providers() for setting in spec.settings]


def _invalidate() -> None:
    global _providers, _generation
    _providers = None
    _generation += 1
    for listener in _listeners:
        listener()


def _load() -> tuple[ProviderSpec, ...]:
    """Collect the providers of every package (caller holds the lock)."""
    global _providers, _by_name, _entry_points_read
    if not _entry_points_read:
        _entry_points_read = True
        # Imported here, not at module level: it loads email.* and zipfile (about 17 ms), needed only
        # when the providers are first collected.
        from importlib import metadata

        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.module not in _packages:
                _packages.append(ep.module)
    found: dict[str, ProviderSpec] = {}
    settings: dict[str, str] = {}
    for package in _packages:
        for module in _modules(package):
            spec = getattr(module, "PROVIDER", None)
            if not isinstance(spec, ProviderSpec):
                continue
            if spec.name in found and found[spec.name] is not spec:
                raise ValueError(f"provider {spec.name!r} is declared twice (again in {module.__name__})")
            for s in spec.settings:
                if settings.setdefault(s.name, spec.name) != spec.name:
                    raise ValueError(f"setting {s.name!r} of provider {spec.name!r} is already "
                                     f"declared by {settings[s.name]!r}")
            found[spec.name] = spec
    ordered = tuple(sorted(found.values(), key=lambda p: (p.any_host, p.order, p.name)))
    _by_name = {p.name: p for p in ordered}
    _providers = ordered
    return ordered


def _modules(package: str) -> list[ModuleType]:
    """The module ``package`` and, if it is a package, every module below it (names starting with "_"
    are private and skipped)."""
    root = importlib.import_module(package)
    out = [root]
    path = getattr(root, "__path__", None)
    if path is None:
        return out
    for info in pkgutil.walk_packages(path, prefix=f"{package}."):
        if not any(part.startswith("_") for part in info.name[len(package) + 1:].split(".")):
            out.append(importlib.import_module(info.name))
    return out

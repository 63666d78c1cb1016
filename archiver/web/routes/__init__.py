"""Route modules of the web app, one per area; each defines `router` (a fastapi.APIRouter).

`archiver.web.app.create_app` includes every module's router, in name order.
"""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    """The `router` of every module in this package, in module-name order (importing each)."""
    mods = sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
    return [importlib.import_module(f"{__name__}.{m.name}").router for m in mods]

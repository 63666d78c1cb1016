"""Jinja2's bytecode cache for the cards' templates (archiver/capture/cards/jinja.py): compiled once per
user, loaded by later processes, never an error when the cache folder is damaged or unsafe."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

_RENDER_IN_A_FRESH_PROCESS = """
import json

from archiver.capture.cards import jinja
env = jinja.environment()
compiled = []
real = env.compile
def counting(*args, **kwargs):
    compiled.append(1)
    return real(*args, **kwargs)
env.compile = counting
names = sorted(env.list_templates())
for name in names:
    jinja.template(name)
cache = env.bytecode_cache
print(json.dumps({"compiled": len(compiled), "templates": len(names),
                  "cache": getattr(cache, "directory", None)}))
"""


def _fresh_render(tmp: Path) -> dict[str, object]:
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.run([sys.executable, "-c", _RENDER_IN_A_FRESH_PROCESS], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(proc.stdout)


def test_compiled_templates_are_kept_for_the_next_process(tmp_path: Path) -> None:
    """The first process compiles the card templates into Jinja2's per-user bytecode cache (a 0700 folder
    of the temp directory); the next loads them from there instead of compiling (about 140 ms)."""
    first = _fresh_render(tmp_path)
    folder = tmp_path / f"_jinja2-cache-{os.getuid()}"
    assert first["cache"] == str(folder) and first["templates"] and first["compiled"] == first["templates"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and len(list(folder.iterdir())) == first["templates"]
    second = _fresh_render(tmp_path)
    assert second["compiled"] == 0 and second["templates"] == first["templates"]
    # a damaged entry is compiled again, not an error
    for entry in folder.iterdir():
        entry.write_bytes(entry.read_bytes()[:40])
    third = _fresh_render(tmp_path)
    assert third["compiled"] == third["templates"]


def test_an_unsafe_cache_folder_is_not_used(tmp_path: Path) -> None:
    """Where the cache folder cannot be used (here a file stands in its place), templates are compiled in
    each process as before."""
    (tmp_path / f"_jinja2-cache-{os.getuid()}").write_text("not a folder")
    got = _fresh_render(tmp_path)
    assert got["cache"] is None and got["compiled"] == got["templates"]

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
    """The first process compiles the card templates into Jinja2's bytecode cache (this user's 0700 folder
    of the temp directory); the next loads them from there instead of compiling (about 140 ms)."""
    first = _fresh_render(tmp_path)
    folder = tmp_path / f"archiver-jinja-{os.getuid()}"
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
    (tmp_path / f"archiver-jinja-{os.getuid()}").write_text("not a folder")
    got = _fresh_render(tmp_path)
    assert got["cache"] is None and got["compiled"] == got["templates"]


def test_a_link_planted_where_the_folder_goes_is_neither_used_nor_followed(tmp_path: Path) -> None:
    """Another user of a shared /tmp plants a symlink at the cache folder's path: it is not used, and what
    it points to keeps its mode and contents (Jinja2's own default folder chmods through such a link)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("data")
    victim.chmod(0o644)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    for target in (victim, elsewhere):
        link = tmp_path / f"archiver-jinja-{os.getuid()}"
        link.unlink(missing_ok=True)
        link.symlink_to(target)
        got = _fresh_render(tmp_path)
        assert got["cache"] is None and got["compiled"] == got["templates"]
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644 and victim.read_text() == "data"
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o755 and list(elsewhere.iterdir()) == []


def test_a_folder_others_may_write_to_is_not_used_nor_changed(tmp_path: Path) -> None:
    folder = tmp_path / f"archiver-jinja-{os.getuid()}"
    folder.mkdir()
    folder.chmod(0o777)
    got = _fresh_render(tmp_path)
    assert got["cache"] is None and got["compiled"] == got["templates"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 and list(folder.iterdir()) == []


def test_an_entry_that_unmarshals_to_something_else_is_compiled_again(tmp_path: Path) -> None:
    """An entry damaged past its checksum (its code an int after one flipped byte) is a miss, not a
    failure of every later card."""
    import io
    import marshal
    import pickle

    from jinja2.bccache import bc_magic

    first = _fresh_render(tmp_path)
    folder = tmp_path / f"archiver-jinja-{os.getuid()}"
    for entry in folder.iterdir():
        data = io.BytesIO(entry.read_bytes())
        assert data.read(len(bc_magic)) == bc_magic
        checksum = pickle.load(data)
        entry.write_bytes(bc_magic + pickle.dumps(checksum, 2) + marshal.dumps(5))
    again = _fresh_render(tmp_path)
    assert again["compiled"] == again["templates"] == first["templates"]


def test_something_other_than_a_file_where_an_entry_goes_is_a_miss_not_a_hang(tmp_path: Path) -> None:
    """A FIFO in place of an entry would block the read for ever: it is passed over and the template compiled
    (the subprocess has 120 s; rendering takes well under one)."""
    first = _fresh_render(tmp_path)
    folder = tmp_path / f"archiver-jinja-{os.getuid()}"
    for entry in folder.iterdir():
        entry.unlink()
        os.mkfifo(entry)
    again = _fresh_render(tmp_path)
    assert again["compiled"] == again["templates"] == first["templates"]

"""The README's examples run as written on the demo's data.

The block after the README's ``<!-- examples: ... -->`` marker is read line by line; each line runs in
bash, in order, in a folder whose ARCHIVER_HOME is fresh and which holds a `story.html` (an article
embedding the demo's tweet and a photo, answered by a real fixture origin, so nothing goes to the
network). Each must exit 0 with nothing on stderr but archiver's warnings, and give what it promises:
JSON where `--json` is asked, hits where a search is run, the files an export or a redirect writes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from archiver.cli.demo import TWEET_ID, demo_tweet
from archiver.testing.fixture_origin import FixtureOrigin, make_image

ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- examples:"


def readme_examples() -> list[str]:
    """The command lines of the README's examples block (comments after `#` kept: bash drops them)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    at = text.index(MARKER)
    block = re.search(r"```sh\n(.*?)```", text[at:], re.S)
    assert block, "no ```sh block after the examples marker"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_examples_block_covers_the_commands_that_work_on_local_data() -> None:
    lines = readme_examples()
    commands = {line.split()[1] for line in lines if line.startswith("archiver ")}
    assert lines[0].startswith("archiver demo")
    assert {"demo", "search", "show", "health", "extract", "archive", "retry", "restore", "revert", "reindex",
            "token", "keys", "export", "verify", "hold", "release", "takedown"} <= commands


def _story(origin: FixtureOrigin) -> str:
    photo = origin.add_image("/img/story.jpg", make_image("story", 640, 360))
    return ('<html lang="hi"><head><meta charset="utf-8"><title>तियानजिन में जयशंकर</title></head><body>\n'
            "<h1>तियानजिन में जयशंकर और लावरोव</h1>\n"
            f'<img src="{photo}" alt="Tianjin" width="640" height="360">\n'
            '<blockquote class="twitter-tweet"><p lang="hi" dir="ltr">जयशंकर और लावरोव</p>&mdash; ANI (@ANI) '
            f'<a href="https://twitter.com/ANI/status/{TWEET_ID}">July 15, 2025</a></blockquote>\n'
            "</body></html>\n")


@pytest.mark.integration
def test_every_readme_example_runs_as_written_on_the_demo_data(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    with FixtureOrigin(tweets=[demo_tweet()]) as origin:
        (work / "story.html").write_text(_story(origin), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
        env.update({f"ARCHIVER_{k.upper()}": v for k, v in origin.settings_overrides().items()})
        env["ARCHIVER_HOME"] = str(tmp_path / "home")
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        for line in readme_examples():
            out = subprocess.run(["bash", "-c", line], cwd=work, env=env, capture_output=True, text=True,
                                 timeout=300)
            assert out.returncode == 0, (line, out.stderr[-1500:])
            noise = [x for x in out.stderr.splitlines() if not x.startswith("archiver: warning:")]
            assert not noise, (line, out.stderr[-1500:])
            if "--json" in line.split("#")[0] and ">" not in line:
                assert json.loads(out.stdout), (line, out.stdout[:500])
            elif ">" not in line.split("#")[0]:
                assert out.stdout.strip(), (line, "no output")
            if " search " in line and "| head" not in line:
                assert TWEET_ID in out.stdout, (line, out.stdout[:500])
    # what the examples promise to write
    assert (work / "archive-key.pem").read_text().count("BEGIN PUBLIC KEY") == 1
    for bundle in ("evidence.wacz", "article.wacz"):
        assert (work / bundle).stat().st_size > 1000
    rep = json.loads(subprocess.run(["archiver", "show", "demo-sco-jaishankar-lavrov", "--json"], env=env,
                                    capture_output=True, text=True, timeout=60, check=True).stdout)
    assert rep["current_version"] >= 1 and rep["versions"] and rep["body"]

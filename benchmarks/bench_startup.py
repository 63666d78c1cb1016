"""Start-up cost of the local runner and of `archiver archive` of one small article (issue 18).

Prints, for one archiver tree (--root, default this repository) and any others given with --compare
(measured the same way, interleaved run by run, so a before/after comparison shares the machine's
state):

(a) the cumulative ``-X importtime`` of ``import archiver.runners.local``: the median (and range) of
    --imports fresh interpreters (default 9), each started with PYTHONPATH=<root>;
(b) the 15 modules with the largest self time in the median one of those runs, and the self time
    summed by top-level package (archiver's by subpackage);
(c) the wall time of ``archiver archive`` in a fresh interpreter (the console script's code:
    archiver.cli.launch's console), a fresh ARCHIVER_HOME per run, median and range of --runs runs
    (default 9), of two articles, interleaved run by run:
      - "small article": an HTML page with one small JPEG and one embedded tweet, served by the
        fixture origin the tests use (archiver.testing.fixture_origin, which also answers the tweet's
        oEmbed and syndication requests), archived by URL with default settings except what reaching
        the origin needs (its settings_overrides(); fetch_allow), as benchmarks/bench_peers.py does;
      - "tiny file": a local HTML file with nothing to fetch.

Every run's ``--json`` report is checked: a new version written, the page rewritten (the file exists),
for the small article its tweet and its image "archived"; a run that did less fails the benchmark
(exit 1), so speed cannot come from doing less.

    .venv/bin/python benchmarks/bench_startup.py [--runs 9] [--imports 9]
    # beside the tree before a change, interleaved run by run (a git worktree of the old commit):
    git worktree add /tmp/before <commit> && ln -s /work/main/.venv /tmp/before/.venv
    .venv/bin/python benchmarks/bench_startup.py --compare /tmp/before
"""

from __future__ import annotations

import argparse
import atexit
import collections
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from treeroot import tree_root

ROOT = tree_root()
sys.path.insert(0, str(ROOT))

from archiver.config.settings import load_settings  # noqa: E402
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture  # noqa: E402
from archiver.testing.fixtures import make_image  # noqa: E402
from tests.harness.celery_worker import settings_env  # noqa: E402

MODULE = "archiver.runners.local"
TWEET_ID = "1945048830047662087"
# What the console script `archiver` runs (.venv/bin/archiver), with the tree under test first on the path:
# cli.launch's `console` (the image worker started ahead, then cli.main's), or in a tree older than it
# cli.main's `console` (main, then the exit without the interpreter's teardown), or `main` before that.
CLI = ("import sys\ntry:\n    from archiver.cli.launch import console\nexcept ImportError:\n"
       "    import archiver.cli.main as cli\n    console = getattr(cli, 'console', None) or cli.main\n"
       "sys.exit(console())")
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def base_env(tree: Path = ROOT) -> dict[str, str]:
    """The environment without any ARCHIVER_* setting, `tree` first on PYTHONPATH, and bytecode written
    and read as a user's install has it (no PYTHONDONTWRITEBYTECODE: a module edited since its .pyc was
    written would otherwise be compiled again in every run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(tree)
    return env


# --- (a), (b): import time -----------------------------------------------------------------------------
def import_profile(tree: Path = ROOT) -> tuple[int, list[tuple[int, int, str]]]:
    """(cumulative microseconds of MODULE, [(self us, cumulative us, name)] of everything it imported)
    from `-X importtime` in a fresh interpreter importing it from `tree`."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {MODULE}"], env=base_env(tree),
                          cwd=tree, capture_output=True, text=True, timeout=120, check=True)
    rows = [(int(m[1]), int(m[2]), len(m[3]), m[4]) for m in map(_LINE.match, proc.stderr.splitlines()) if m]
    end = max(i for i, r in enumerate(rows) if r[3] == MODULE)
    start = end  # importtime prints a module's imports (deeper indent) just before it
    while start > 0 and rows[start - 1][2] > rows[end][2]:
        start -= 1
    return rows[end][1], [(s, c, name) for s, c, _, name in rows[start:end + 1]]


def package_of(name: str) -> str:
    """The top-level package of a module, archiver's by subpackage (archiver.capture, ...)."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "archiver" else parts[0]


# --- (c): archive wall time ----------------------------------------------------------------------------
class SmallArticle:
    """One page with one small JPEG and one embedded tweet on the fixture origin."""

    def __init__(self, origin: FixtureOrigin) -> None:
        origin.add_tweet(TweetFixture(id=TWEET_ID, handle="citydesk", name="City Desk",
                                      text="The council passed the budget, seven votes to two."))
        image = origin.add_image("/img/council.jpg", make_image("council", 320, 200), "image/jpeg")
        page = ("<!doctype html><html><head><meta charset='utf-8'><title>Budget passes</title></head><body>"
                "<article><h1>Budget passes</h1><p>The council passed the budget on Tuesday.</p>"
                f'<figure><img src="{image}" alt="The council chamber"></figure>'
                '<blockquote class="twitter-tweet"><p lang="en" dir="ltr">The council passed the budget, seven '
                'votes to two.</p>&mdash; City Desk (@citydesk) '
                f'<a href="https://twitter.com/citydesk/status/{TWEET_ID}">July 15, 2025</a></blockquote>'
                "</article></body></html>").encode()
        self.url = origin.add_image("/news/budget.html", page, "text/html; charset=utf-8")


def archive_once(env: dict[str, str], source: str, home: Path) -> tuple[float, dict[str, Any]]:
    """(wall seconds, the --json report) of `archiver archive SOURCE --json` with ARCHIVER_HOME=`home`."""
    run_env = {**env, "ARCHIVER_HOME": str(home)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CLI, "archive", source, "--json"], env=run_env, cwd=home.parent,
                          capture_output=True, text=True, timeout=120, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"archiver archive {source} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return wall, json.loads(proc.stdout)


def check(report: dict[str, Any], *, embeds: int, images: int, what: str) -> None:
    """SystemExit unless the report is of a new version, rewritten, with `embeds` embeds and `images`
    images, all archived."""
    bad = []
    if not report.get("new_version") or report.get("version") != 1:
        bad.append(f"not a new version 1: {report.get('version')}, new={report.get('new_version')}")
    rewritten = report.get("rewritten")
    if not rewritten or not Path(rewritten).is_file():
        bad.append(f"rewritten page missing: {rewritten}")
    for kind, n in (("embeds", embeds), ("images", images)):
        got = [x.get("status") for x in report.get(kind, [])]
        if got != ["archived"] * n:
            bad.append(f"{kind}: {got}, expected {n} archived")
    if bad:
        raise SystemExit(f"{what}: the run did less than it should: " + "; ".join(bad))


def main() -> int:
    """Run the measures and print them; 1 when a run's result is wrong."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=9, help="archive runs per article (default 9)")
    ap.add_argument("--imports", type=int, default=9, help="fresh interpreters for the import time (default 9)")
    ap.add_argument("--root", default=str(ROOT), help="the archiver tree to benchmark (default: this one)")
    ap.add_argument("--compare", action="append", default=[], metavar="DIR",
                    help="another tree measured the same way, interleaved run by run with --root's (repeatable)")
    args = ap.parse_args()
    trees = [ROOT, *(Path(d).resolve() for d in args.compare)]

    print(f"python {sys.version.split()[0]}; {os.cpu_count()} cores; trees interleaved run by run: "
          + ", ".join(map(str, trees)))
    profiles: dict[Path, list[tuple[int, list[tuple[int, int, str]]]]] = {t: [] for t in trees}
    for tree in trees:
        import_profile(tree)  # not counted: writes the .pyc files of what changed since they were written
    for _ in range(args.imports):
        for tree in trees:
            profiles[tree].append(import_profile(tree))
    for tree in trees:
        runs = sorted(profiles[tree], key=lambda p: p[0])
        cumulative = [p[0] / 1000 for p in runs]
        median_rows = runs[len(runs) // 2][1]
        print(f"\n== {tree}\n(a) import {MODULE}: cumulative {statistics.median(cumulative):.1f} ms median "
              f"({min(cumulative):.1f}-{max(cumulative):.1f}) of {len(cumulative)} fresh interpreters; "
              f"{len(median_rows)} modules imported")
        print("(b) largest self times (the median run):")
        for s_us, c_us, name in sorted(median_rows, reverse=True)[:15]:
            print(f"  {s_us / 1000:6.1f} ms self {c_us / 1000:7.1f} ms cumulative  {name.strip()}")
        by_package: collections.Counter[str] = collections.Counter()
        for s_us, _, name in median_rows:
            by_package[package_of(name.strip())] += s_us
        print("  by package: " + ", ".join(f"{p} {us / 1000:.1f}" for p, us in by_package.most_common(12)))

    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)  # the homes, catalogs and stores of every run
    tiny = tmp / "tiny.html"
    tiny.write_text("<!doctype html><html><head><title>Tiny</title></head><body><p>Hello world, a small "
                    "article with nothing to fetch.</p></body></html>", encoding="utf-8")
    small, plain = "small article (1 image, 1 tweet, by URL)", "tiny file (nothing to fetch)"
    walls: dict[tuple[Path, str], list[float]] = {(t, w): [] for t in trees for w in (small, plain)}
    with FixtureOrigin() as origin:
        article = SmallArticle(origin)
        overrides = {**origin.settings_overrides(), "fetch_allow": "127.0.0.1,localhost"}
        settings = settings_env(load_settings(env={}).replace(home=str(tmp / "unused"), **overrides))
        envs = {}
        for tree in trees:
            env = {**settings, **base_env(tree)}
            env.pop("ARCHIVER_HOME")  # set per run; catalog and storage default to places under it
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            envs[tree] = env
            archive_once(env, article.url, tmp / f"warm-up-{len(envs)}")  # not counted: .pyc, Jinja2's cache
        for r in range(args.runs):
            for i, tree in enumerate(trees):
                wall, rep = archive_once(envs[tree], article.url, tmp / f"small-{i}-{r}")
                check(rep, embeds=1, images=1, what=f"small article ({tree})")
                walls[tree, small].append(wall)
                wall, rep = archive_once(base_env(tree), str(tiny), tmp / f"tiny-{i}-{r}")
                check(rep, embeds=0, images=0, what=f"tiny file ({tree})")
                walls[tree, plain].append(wall)
    print(f"\n(c) `archiver archive` wall time, fresh interpreter and ARCHIVER_HOME per run, {args.runs} runs "
          "(trees interleaved; every report checked: new version, rewritten, items archived):")
    for (tree, what), vals in walls.items():
        print(f"  {tree!s:<24} {what:<44} median {statistics.median(vals):.3f} s  "
              f"(min {min(vals):.3f}, max {max(vals):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The provider registry: every platform is one module, found by walking the package; a new platform
from outside is ONE file, and discovery (`archiver extract` and the discover API), the health check
and settings all pick it up with no other edit."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from archiver.article.input import ArticleInput
from archiver.cli.main import main as cli_main
from archiver.config.settings import Settings, load_settings
from archiver.discover.scan import discover
from archiver.discover.urls import match_post_url
from archiver.health.originals import article_health, check, enroll, load_record
from archiver.providers import registry
from archiver.providers.base import ProviderSpec, SettingSpec
from archiver.providers.markup import MarkupProvider
from archiver.runners.local import archive
from archiver.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent

# The whole throwaway platform: its URLs, an embed class, an endpoint setting and a liveness probe.
PINBOARD = '''
    """Pinboard, a platform that exists only in this test: everything about it in one file."""

    from __future__ import annotations

    import re

    from archiver.discover.readers import permalink_blockquote
    from archiver.health.state import Probe
    from archiver.providers.base import EmbedForms, PostUrl, ProviderSpec, SettingSpec

    NAME = "pinboard"
    PIN = re.compile(r"https?://(?:www\\.)?pinboard\\.example/(?:embed/)?pin/(?P<id>\\d{1,20})(?!\\d)", re.I)
    CALLS: list[tuple[str, str, str]] = []


    def probe(rt, url, post_id):
        """Pins whose id ends in 0 are gone; the endpoint setting is read as a real probe would."""
        CALLS.append((url, post_id, rt.settings.pinboard_api_url))
        return Probe("failure", "pin removed") if post_id.endswith("0") else Probe("ok", "pin is up")


    PROVIDER = ProviderSpec(
        name=NAME,
        urls=(PostUrl(PIN, "https://pinboard.example/pin/{id}"),),
        embeds=EmbedForms(blockquotes={"pinboard-pin": permalink_blockquote(NAME, "data-pin-url")}),
        settings=(SettingSpec("pinboard_api_url", "https://api.pinboard.example/v1", "Pinboard's API."),),
        probe=probe,
    )
'''

ARTICLE = """<html><body>
<p>Intro</p>
<iframe src="https://pinboard.example/embed/pin/41" width="400"></iframe>
<p>More</p>
https://www.pinboard.example/pin/42
<blockquote class="pinboard-pin" data-pin-url="https://pinboard.example/pin/50"><p>A pin</p></blockquote>
<p>End</p>
</body></html>
"""


def _write_platform(root: Path, package: str) -> None:
    (root / package).mkdir()
    (root / package / "__init__.py").write_text('"""Providers from outside archiver (a test)."""\n')
    (root / package / "pinboard.py").write_text(textwrap.dedent(PINBOARD))


@pytest.fixture
def pinboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The platform registered from a temporary package; unregistered (and forgotten) afterwards."""
    _write_platform(tmp_path, "pinboard_pkg")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.register_package("pinboard_pkg")
    try:
        yield sys.modules["pinboard_pkg.pinboard"]
    finally:
        registry.unregister_package("pinboard_pkg")
        for name in [m for m in sys.modules if m == "pinboard_pkg" or m.startswith("pinboard_pkg.")]:
            del sys.modules[name]
    assert "pinboard" not in registry.names()
    assert match_post_url("https://pinboard.example/pin/42") is None


# --- the package's own providers ----------------------------------------------------------------------
# The platforms the README names: each must be registered; more may be (a new one is one module).
BUILT_IN = {"twitter", "instagram", "facebook", "youtube", "tiktok", "bluesky", "threads", "telegram", "reddit",
            "linkedin", "mastodon"}
# Endpoint settings operators may already set (ARCHIVER_<NAME>): their names and defaults stay.
KNOWN_SETTINGS = {
    ("twitter_oembed_url", "https://publish.twitter.com/oembed"),
    ("twitter_syndication_url", "https://cdn.syndication.twimg.com/tweet-result"),
    ("twitter_shortlink_url", "https://t.co/{code}"),
    ("youtube_oembed_url", "https://www.youtube.com/oembed"),
    ("tiktok_oembed_url", "https://www.tiktok.com/oembed"),
    ("reddit_oembed_url", "https://www.reddit.com/oembed"),
    ("bluesky_oembed_url", "https://embed.bsky.app/oembed"),
    ("mastodon_oembed_url", "https://{host}/api/oembed"),
}


def test_every_platform_is_one_registered_module() -> None:
    names = registry.names()
    assert set(names) >= BUILT_IN
    assert len(names) == len(set(names))
    specs = registry.providers()
    assert list(specs) == sorted(specs, key=lambda p: (p.any_host, p.order, p.name))  # the order URLs are tried
    for spec in specs:
        assert isinstance(spec, ProviderSpec) and spec.urls, spec.name
        assert registry.find(spec.name) is spec
    assert registry.find("markup") is None and registry.find("oembed") is None  # shared helpers are skipped


def test_provider_settings_keep_their_names_and_defaults() -> None:
    settings = registry.provider_settings()
    names = [s.name for s in settings]
    assert len(names) == len(set(names))  # unique
    for setting in settings:  # each declared by exactly one registered provider, and documented
        assert isinstance(setting, SettingSpec) and setting.doc, setting.name
        assert sum(setting.name in {s.name for s in p.settings} for p in registry.providers()) == 1, setting.name
    assert {(s.name, s.default) for s in settings} >= KNOWN_SETTINGS


def test_importing_the_registry_imports_no_provider() -> None:
    # The settings module imports the registry: provider modules (which import what imports the
    # settings) are imported on first use, never with the registry.
    code = ("import sys\nfrom archiver.providers import registry\n"
            "loaded = sorted(m for m in sys.modules if m.startswith(('archiver.providers.', 'archiver.config')))\n"
            "names = registry.names()\n"
            "print(loaded)\n"
            "print(sorted(m for m in loaded if hasattr(sys.modules[m], 'PROVIDER')))\n"
            "print(sorted(names))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    loaded, providers, names = (ast.literal_eval(line) for line in out.stdout.splitlines()[:3])
    assert "archiver.providers.registry" in loaded
    assert not [m for m in loaded if m.startswith("archiver.config")]
    assert providers == []  # no module declaring a PROVIDER was imported with the registry
    assert set(names) >= BUILT_IN  # they are all found on first use


def test_a_provider_name_and_a_setting_are_declared_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "twice_pkg").mkdir()
    (tmp_path / "twice_pkg" / "__init__.py").write_text('"""Two providers that collide."""\n')
    (tmp_path / "twice_pkg" / "clash.py").write_text(
        "from archiver.providers.base import ProviderSpec, SettingSpec\n"
        "PROVIDER = ProviderSpec(name='clash', settings=(SettingSpec('youtube_oembed_url', 'x', 'taken'),))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(ValueError, match="youtube_oembed_url"):
            registry.register_package("twice_pkg")
    finally:
        registry.unregister_package("twice_pkg")
        sys.modules.pop("twice_pkg.clash", None)
        sys.modules.pop("twice_pkg", None)
    assert "clash" not in registry.names()
    with pytest.raises(ValueError):
        ProviderSpec(name="Not A Name")


# --- a new platform is one file -----------------------------------------------------------------------
def test_discovery_finds_the_new_platforms_embeds(pinboard: ModuleType) -> None:
    found = discover(ARTICLE).embeds
    assert [(e.provider, e.post_id, e.url, e.form) for e in found] == [
        ("pinboard", "41", "https://pinboard.example/pin/41", "iframe"),
        ("pinboard", "42", "https://pinboard.example/pin/42", "url-line"),
        ("pinboard", "50", "https://pinboard.example/pin/50", "blockquote"),
    ]
    iframe = found[0]
    assert ARTICLE[iframe.start:iframe.end] == ('<iframe src="https://pinboard.example/embed/pin/41" '
                                                'width="400"></iframe>')
    assert "pinboard" in registry.names() and isinstance(registry.get_provider("pinboard"), MarkupProvider)


def test_archiver_extract_finds_them(pinboard: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ARCHIVER_HOME", str(tmp_path / "home"))
    story = tmp_path / "story.html"
    story.write_text(ARTICLE)
    assert cli_main(["extract", str(story), "--json"]) == 0
    embeds = json.loads(capsys.readouterr().out)["embeds"]
    assert [(e["provider"], e["post_id"], e["form"]) for e in embeds] == [
        ("pinboard", "41", "iframe"), ("pinboard", "42", "url-line"), ("pinboard", "50", "blockquote")]


def test_the_new_platform_adds_exactly_its_own_provider_and_setting(request: pytest.FixtureRequest) -> None:
    names, settings = set(registry.names()), {s.name for s in registry.provider_settings()}
    request.getfixturevalue("pinboard")
    assert "pinboard" not in names and set(registry.names()) == names | {"pinboard"}
    assert {s.name for s in registry.provider_settings()} == settings | {"pinboard_api_url"}


def test_its_setting_is_a_setting(pinboard: ModuleType) -> None:
    assert "pinboard_api_url" in [s.name for s in registry.provider_settings()]
    assert Settings().pinboard_api_url == "https://api.pinboard.example/v1"
    assert load_settings(env={"ARCHIVER_PINBOARD_API_URL": "http://pins.test/"}).pinboard_api_url == "http://pins.test/"


def test_the_health_check_probes_its_originals_through_its_probe(
        pinboard: ModuleType, tmp_settings: Callable[..., Settings]) -> None:
    settings = tmp_settings(pinboard_api_url="http://pins.test/v1", health_dead_after_failures=1,
                            health_dead_after_hours=0.0)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    with Runtime.from_settings(settings) as rt:
        report = archive(rt, ArticleInput(ARTICLE.encode(), url="https://news.example/pins"), article_id="pins")
        assert sorted(e["post_id"] for e in report["embeds"]) == ["41", "42", "50"]
        originals = enroll(rt, "pins", now=now)
        assert sorted((o.provider, o.post_id) for o in originals) == [
            ("pinboard", "41"), ("pinboard", "42"), ("pinboard", "50")]
        states = {o.post_id: check(rt, o, now=now)["state"] for o in originals}
        assert states == {"41": "live", "42": "live", "50": "dead"}
        assert sorted(pinboard.CALLS) == [
            ("https://pinboard.example/pin/41", "41", "http://pins.test/v1"),
            ("https://pinboard.example/pin/42", "42", "http://pins.test/v1"),
            ("https://pinboard.example/pin/50", "50", "http://pins.test/v1"),
        ]
        assert load_record(rt, "https://pinboard.example/pin/50")["last_detail"] == "pin removed"
        report = article_health(rt, "pins")
        assert report["summary"]["dead"] == 1 and report["summary"]["live"] == 2


def test_an_installed_distribution_adds_providers_through_the_entry_point(tmp_path: Path) -> None:
    """`pip install archiver-pinboard` would do this: the entry point group names the package, and a
    fresh `archiver extract` finds the platform's embeds."""
    _write_platform(tmp_path, "pinboard_plugin")
    dist = tmp_path / "archiver_pinboard-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: archiver-pinboard\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\npinboard = pinboard_plugin\n")
    story = tmp_path / "story.html"
    story.write_text(ARTICLE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
           "ARCHIVER_HOME": str(tmp_path / "home")}
    code = "import sys\nfrom archiver.cli.main import main\nsys.exit(main(sys.argv[1:]))"
    out = subprocess.run([sys.executable, "-c", code, "extract", str(story), "--json"], capture_output=True,
                         text=True, timeout=60, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert [e["post_id"] for e in json.loads(out.stdout)["embeds"]] == ["41", "42", "50"]

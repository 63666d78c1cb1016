"""Images our policy rejected (the address guard, the byte cap, the decoding limits) are captured again
by `archiver retry` once the settings that refused them change, and rewritten; content rejections
(an image host answering an HTML page) stay rejected whatever the settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from archiver.article.versions import versions
from archiver.config.settings import Settings
from archiver.records.result import ImageResult
from archiver.runners.local import archive, retry
from archiver.runtime import Runtime
from archiver.steps.policy import POLICY_SETTINGS, governing_settings, policy_changed
from archiver.steps.prepare import load_plan
from archiver.steps.results import load_results
from archiver.storage.layout import version_key
from archiver.testing.fixture_origin import FixtureOrigin, make_image

BASE = "https://archive.example/media"
HTML_PAGE = b"<!doctype html><html><body>Sign in to see this image</body></html>"


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(images={"/media/a.jpg": make_image("a", 64, 48)}) as o:
        o.add_image("/media/page.jpg", HTML_PAGE, "image/jpeg")
        yield o


def article(origin: FixtureOrigin) -> bytes:
    return (f'<html><body><p>Ferry</p><img src="{origin.url("/media/a.jpg")}" alt="a">\n'
            f'<img src="{origin.url("/media/page.jpg")}" alt="p"></body></html>\n').encode()


def runtime(tmp_settings: Callable[..., Settings], origin: FixtureOrigin, **overrides: Any) -> Runtime:
    """A runtime on the same home each time (the settings an operator changed between runs)."""
    return Runtime.from_settings(tmp_settings(**{**origin.settings_overrides(), "public_base_url": BASE,
                                                 "fetch_retries": 0, **overrides}))


def images(rt: Runtime) -> dict[str, ImageResult]:
    """The article's image results by path."""
    plan = load_plan(rt, "story")
    out = {}
    for item in plan.items:
        res = load_results(rt, plan).get(item.item_id)
        assert isinstance(res, ImageResult)
        out[item.url.rsplit("/", 1)[-1]] = res
    return out


def test_a_guard_refusal_is_retried_once_fetch_allow_allows_it(tmp_settings: Callable[..., Settings],
                                                               origin: FixtureOrigin) -> None:
    rt = runtime(tmp_settings, origin, fetch_allow="")
    archive(rt, article(origin), article_id="story", url="https://news.example/story")
    first = images(rt)
    assert {k: r.status for k, r in first.items()} == {"a.jpg": "rejected", "page.jpg": "rejected"}
    assert first["a.jpg"].refused_under == {"fetch_allow": ""} and "loopback" in (first["a.jpg"].error or "")
    assert origin.count("/media/a.jpg") == 0
    rt.close()

    # The same policy: nothing is tried again, no new version.
    rt = runtime(tmp_settings, origin, fetch_allow="")
    rep = retry(rt, "story")
    assert origin.count("/media/a.jpg") == 0 and rep["version"] == 1 and len(versions(rt, "story")) == 1
    rt.close()

    # The host allowed: the image is archived and the article rewritten to its stable copy; the image
    # host answering an HTML page is a content fact, recorded as such.
    rt = runtime(tmp_settings, origin)
    rep = retry(rt, "story")
    now = images(rt)
    assert now["a.jpg"].status == "archived" and now["a.jpg"].refused_under is None
    assert now["page.jpg"].status == "rejected" and now["page.jpg"].refused_under is None
    assert "not an allowed image type: text/html" in (now["page.jpg"].error or "")
    assert rep["version"] == 2 and versions(rt, "story")[-1].reason == "retry"
    body = rt.store.get(version_key("story", 2)).decode()
    assert f'src="{now["a.jpg"].stable_url}"' in body and origin.url("/media/a.jpg") not in body
    assert origin.url("/media/page.jpg") in body
    fetched = origin.count("/media/page.jpg")
    rt.close()

    # Another policy change: the content rejection is not fetched again.
    rt = runtime(tmp_settings, origin, fetch_allow="127.0.0.1,192.0.2.1", max_bytes_image=10 ** 7)
    retry(rt, "story")
    assert origin.count("/media/page.jpg") == fetched and images(rt)["page.jpg"].status == "rejected"
    rt.close()


def test_a_byte_cap_refusal_is_retried_once_the_cap_is_raised(tmp_settings: Callable[..., Settings],
                                                              origin: FixtureOrigin) -> None:
    rt = runtime(tmp_settings, origin, max_bytes_image=100)
    archive(rt, article(origin), article_id="story", url="https://news.example/story")
    a = images(rt)["a.jpg"]
    assert a.status == "rejected" and a.refused_under == {"max_bytes_image": "100"}
    rt.close()
    rt = runtime(tmp_settings, origin, max_bytes_image=100, fetch_allow="127.0.0.1,192.0.2.1")
    before = origin.count("/media/a.jpg")
    retry(rt, "story")  # fetch_allow does not decide a byte cap refusal
    assert origin.count("/media/a.jpg") == before
    rt.close()
    rt = runtime(tmp_settings, origin)
    retry(rt, "story")
    assert images(rt)["a.jpg"].status == "archived"
    rt.close()


def test_which_rejections_are_policy() -> None:
    assert governing_settings("refused http://127.0.0.1:8/x.jpg: a loopback address (port 8)") == ("fetch_allow",)
    assert governing_settings("http://h/x.jpg declares 900 bytes, over the cap of 100") == ("max_bytes_image",)
    assert governing_settings("http://h/x.jpg: body over the cap of 100 bytes") == ("max_bytes_image",)
    assert governing_settings("animation has 2000 frames, over the cap of 1000") == ("max_image_frames",)
    assert governing_settings("image of 20000x20000 pixels is over the ceiling of 100") == ("max_image_pixels",)
    assert governing_settings("image decoding exceeded 15 s") == ("media_time_limit",)
    assert governing_settings("decoding the image ran out of memory") == ("media_memory_budget",)
    assert governing_settings("something new") == POLICY_SETTINGS
    # The URL itself: no setting allows it.
    assert governing_settings("only http and https are fetched, not 'ftp': ftp://h/x") == ()
    assert governing_settings("URLs with credentials are not fetched: h") == ()


def test_policy_changed_reads_old_results_too(tmp_settings: Callable[..., Settings]) -> None:
    settings = tmp_settings(fetch_allow="127.0.0.1")
    base = {"item_id": "i1", "url": "http://127.0.0.1:9/x.jpg", "status": "rejected"}
    same = ImageResult(**base, error="refused …", refused_under={"fetch_allow": "127.0.0.1"})
    other = ImageResult(**base, error="refused …", refused_under={"fetch_allow": ""})
    assert not policy_changed(same, settings) and policy_changed(other, settings)
    # Stored before refused_under existed: a policy refusal by its reason is tried (once: the new
    # result records its policy); a content rejection is not.
    old = ImageResult(**base, error="refused http://127.0.0.1:9/x.jpg: a loopback address (port 9)")
    assert policy_changed(old, settings)
    assert not policy_changed(ImageResult(**base, error="not an allowed image type: text/html"), settings)
    assert not policy_changed(ImageResult(**{**base, "status": "archived"}), settings)
    assert "refused_under" not in ImageResult(**base, error="x").to_json()

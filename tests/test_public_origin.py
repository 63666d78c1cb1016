"""Archived copies linked at the public base URL load wherever that is: the CSP of a served copy, a
static card's frame and a capture page names its origin, and `archiver serve` says when the base URL
is another port of this machine (every archived image in its pages would then fail to load)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from archiver.cli.service import public_base_mismatch
from archiver.config.settings import Settings
from archiver.storage.layout import capture_page_key
from tests.apikit import TWEET, api, archive_sample, fixture_origin

CDN = "https://cdn.news.example"


def test_copies_cards_and_capture_pages_allow_images_from_the_public_base(
        tmp_settings: Callable[..., Settings]) -> None:
    with fixture_origin() as origin, api(tmp_settings(**origin.settings_overrides(), broker_url="",
                                                      public_base_url=f"{CDN}/media")) as a:
        archive_sample(a.rt, origin)
        manifest_key = next(k for k in a.rt.store.list(f"posts/twitter/{TWEET}/") if k.endswith(".json"))
        card = json.loads(a.rt.store.get(manifest_key))["cards"]["html"]
        blob = next(k for k in a.rt.store.list("blobs/"))
        for path in (f"/media/{card}", f"/media/{blob}", f"/media/{capture_page_key(manifest_key)}"):
            csp = a.client.get(path).headers["content-security-policy"]
            assert f"img-src 'self' {CDN};" in csp and "script-src" not in csp and "sandbox" in csp, (path, csp)
        page_csp = a.client.get(f"/media/{capture_page_key(manifest_key)}").headers["content-security-policy"]
        assert f"media-src 'self' {CDN};" in page_csp
        staff = a.call("compliance", "GET", f"/evidence/{card}").headers["content-security-policy"]
        assert f"img-src 'self' {CDN};" in staff and staff.endswith("sandbox")


@pytest.mark.parametrize(("base", "port", "warned"), [
    ("http://localhost:8080/media", 18731, True), ("http://127.0.0.1/media", 8080, True),
    ("http://[::1]:9000/media", 9001, True), ("http://localhost:8080/media", 8080, False),
    ("https://archive.news.example/media", 8080, False), ("http://127.0.0.1:80/media", 80, False),
])
def test_serve_says_when_the_public_base_is_another_port_of_this_machine(base: str, port: int,
                                                                         warned: bool) -> None:
    said = public_base_mismatch(base, port)
    assert (said is not None) == warned
    if said:
        assert f"listens on port {port}" in said and f":{port}/media" in said

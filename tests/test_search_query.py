"""One SearchQuery: the CLI, the API and the web page each build it from their own spelling of its
fields and give the same posts for the same filters; a bad value is one clear error on each face."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from archiver.auth import create_token
from archiver.catalog.query import SearchQuery, flag, is_list
from archiver.cli.main import main
from archiver.config.settings import Settings
from archiver.errors import InputError
from archiver.runtime import Runtime
from archiver.web.app import create_app
from tests.test_search import SHA_A, load

# Filters by SearchQuery field name; each face spells them its own way (see Faces).
CASES: list[dict[str, Any]] = [
    {"q": "jaishankar"},
    {"q": "jaish*", "handle": "PinecrestObs"},
    {"handle": "@ani"},
    {"author": "pinecrest"},
    {"provider": "twitter", "posted_since": "2025-06-01", "posted_until": "2025-07-15"},
    {"posted_since": "2025-07-15T09:12:33Z"},
    {"captured_since": "2026-01-02", "captured_until": "2026-01-04"},
    {"status": "deleted"},
    {"article_id": "story-2"},
    {"image_sha256": SHA_A.upper()},
    {"q": "", "provider": "instagram"},
]


@dataclass
class Faces:
    rt: Runtime
    api: TestClient
    page: TestClient
    headers: dict[str, str]
    cli: Callable[[list[str]], tuple[int, str, str]]

    def by_cli(self, filters: dict[str, Any]) -> list[str]:
        argv = []
        for name, value in filters.items():
            spelled = flag(name)
            argv += [value] if spelled.positional else [spelled.name, value]
        code, out, err = self.cli(["search", *argv, "--json"])
        assert code == 0, err
        return [h["post_id"] for h in json.loads(out)["hits"]]

    def by_api(self, filters: dict[str, Any]) -> list[str]:
        params = {SearchQuery.model_fields[name].alias or name: value for name, value in filters.items()}
        resp = self.api.get("/v1/search", params=params, headers=self.headers)
        assert resp.status_code == 200, resp.text
        return [h["post_id"] for h in resp.json()["hits"]]

    def by_page(self, filters: dict[str, Any]) -> list[str]:
        resp = self.page.get("/search", params=filters)  # the form's fields are named after the model's
        assert resp.status_code == 200, resp.text
        return list(dict.fromkeys(re.findall(r'href="/posts/twitter/(\d+)"', resp.text)))


@pytest.fixture
def faces(tmp_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> Iterator[Faces]:
    settings = tmp_settings()
    monkeypatch.setenv("ARCHIVER_HOME", settings.home)
    monkeypatch.setenv("ARCHIVER_CATALOG", settings.catalog_url)

    def cli(argv: list[str]) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    with Runtime.from_settings(settings) as rt:
        load(rt.catalog)
        token = create_token(rt.catalog, "compliance", "faces")
        app = create_app(settings, runtime=rt)
        with TestClient(app) as api, TestClient(app, follow_redirects=False) as page:
            assert page.post("/login", data={"token": token, "next": "/"}).status_code == 303
            yield Faces(rt, api, page, {"Authorization": f"Bearer {token}"}, cli)


def test_every_face_builds_the_same_query(faces: Faces) -> None:
    for filters in CASES:
        expected = [h["post_id"] for h in faces.rt.catalog.search(SearchQuery(**filters)).hits]
        got = {"cli": faces.by_cli(filters), "api": faces.by_api(filters), "page": faces.by_page(filters)}
        assert got == {"cli": expected, "api": expected, "page": expected}, filters
    # Every case found something but the last, so each filter was really applied.
    assert all(faces.rt.catalog.search(SearchQuery(**f)).total for f in CASES[:-1])


def test_the_public_spellings_stay(faces: Faces) -> None:
    """--since on the CLI, near_phash in the API, the page's former field names in old links."""
    assert flag("posted_since").name == "--since" and flag("article_id").name == "--article"
    assert flag("near_dhash").name == "--near-phash" and flag("max_distance").name == "--distance"
    assert SearchQuery.model_fields["near_dhash"].alias == "near_phash" and is_list("status")
    spec = faces.api.get("/openapi.json", headers=faces.headers).json()
    params = {p["name"] for p in spec["paths"]["/v1/search"]["get"]["parameters"]}
    assert {"q", "posted_since", "captured_until", "article_id", "near_phash", "limit", "offset"} <= params
    old = faces.page.get("/search", params={"posted_from": "2025-06-01", "posted_to": "2025-07-15"}).text
    assert list(dict.fromkeys(re.findall(r'href="/posts/twitter/(\d+)"', old))) == ["1", "2"]
    assert 'name="posted_since" type="date" value="2025-06-01"' in old  # shown back under the model's name


@pytest.mark.parametrize(("filters", "cli_says", "page_says"), [
    ({"posted_since": "yesterday"}, "--since: 'yesterday' is not a date", "posted from: &#39;yesterday&#39; is not"),
    ({"q": "x" * 501}, "query: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…' is 501 characters long; a query may have at "
                       "most 500 characters", "words: &#39;xxxxxxxxxx"),
    ({"status": "gone"}, "--status: expected one of archived", "status: expected one of archived"),
])
def test_a_bad_value_is_one_clear_error_on_every_face(faces: Faces, filters: dict[str, Any], cli_says: str,
                                                      page_says: str) -> None:
    argv = [v for name, value in filters.items() for v in ([value] if flag(name).positional
                                                            else [flag(name).name, value])]
    code, out, err = faces.cli(["search", *argv])
    assert (code, out) == (2, "") and err.count("\n") == 1 and cli_says in err, err
    resp = faces.api.get("/v1/search", params=filters, headers=faces.headers)
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"][:2] == ["query", next(iter(filters))]
    page = faces.page.get("/search", params=filters)
    assert page.status_code == 400 and page_says in page.text and "post-text" not in page.text


def test_the_model_validates_once_for_everyone() -> None:
    query = SearchQuery.parse({"q": "x", "near_phash": "F0F0F0F0F0F0F0F0", "status": "deleted",
                               "posted_until": "2025-07-15"})
    assert query.near_dhash == "f0f0f0f0f0f0f0f0" and query.status == ["deleted"] and query.distance == 8
    assert query.filters() == {"q": "x", "posted_until": "2025-07-15", "status": ["deleted"],
                               "near_phash": "f0f0f0f0f0f0f0f0", "limit": 50, "offset": 0}
    with pytest.raises(InputError, match=r"^limit: .*; offset: .*$"):
        SearchQuery.parse({"offset": -1, "limit": 0})
    with pytest.raises(InputError, match="unknown"):
        SearchQuery.parse({"unknown": 1}, spell=str.upper)

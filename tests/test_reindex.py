"""The catalog is an index: dropped and rebuilt from storage by `archiver reindex`, it answers
searches exactly as before (SQLite over a local directory, PostgreSQL over S3)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from archiver.catalog.backend import open_catalog
from archiver.catalog.schema import RENAMED_COLUMNS
from archiver.config.settings import Settings
from archiver.runners.local import archive
from archiver.runners.reindex import reindex
from archiver.runtime import Runtime
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image
from tests.harness.services import fresh_pg_dsn

HINDI, ARABIC = "1945048830047662087", "1763973978935815120"
QUERIES: list[dict[str, Any]] = [
    {}, {"q": "संबंधों"}, {"q": '"नया आयाम"'}, {"q": "مرحبا"}, {"q": "🤝"}, {"q": "lavr*"},
    {"handle": "ANI"}, {"author": "pinecrest"}, {"status": "archived"}, {"posted_since": "2025-01-01"},
]


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    tweets = [
        TweetFixture(id=HINDI, handle="ANI", name="ANI", text="भारत-रूस संबंधों को मिला नया आयाम 🤝 Lavrov",
                     lang="hi", photos=[{"name": "p1.jpg", "alt": "handshake", "width": 320, "height": 200}],
                     media_code="HA2sQBIEQc"),
        TweetFixture(id=ARABIC, handle="PinecrestObs", name="Pinecrest Observer", text="مرحبا بكم 👇", lang="ar"),
    ]
    images = {"/media/lead.jpg": make_image("lead", 400, 240), "/media/other.jpg": make_image("other", 300, 300)}
    with FixtureOrigin(tweets=tweets, images=images) as o:
        yield o


def story(origin: FixtureOrigin, n: int) -> bytes:
    img = origin.url("/media/lead.jpg" if n < 2 else "/media/other.jpg")
    return (f"<html><body><p>Story {n}</p><img src=\"{img}\">"
            '<blockquote class="twitter-tweet"><p>…</p>&mdash; ANI (@ANI) '
            f'<a href="https://twitter.com/ANI/status/{HINDI}">July 15, 2025</a></blockquote>'
            + (f"<p>https://x.com/PinecrestObs/status/{ARABIC}</p>" if n else "")
            + "</body></html>").encode()


@pytest.fixture(params=["sqlite-file", "postgres-s3"])
def settings(request: pytest.FixtureRequest, tmp_settings: Callable[..., Settings],
             origin: FixtureOrigin, tmp_path: Any) -> Settings:
    extra: dict[str, str] = {}
    if request.param == "postgres-s3":
        s3 = request.getfixturevalue("s3")
        extra = {**s3.settings_overrides(s3.make_bucket(), "news"),
                 "catalog": fresh_pg_dsn(request.getfixturevalue("postgres_dsn"))}
    return tmp_settings(**origin.settings_overrides(), **extra, public_base_url="https://archive.example/media")


def snapshot(rt: Runtime) -> list[Any]:
    out: list[Any] = [rt.catalog.search(**q).to_json() for q in QUERIES]
    lead = rt.catalog.search("संबंधों").hits[0]["media"][0]["sha256"]
    out.append(rt.catalog.search(image_sha256=lead).to_json())
    out.append(rt.catalog.articles_using_blob(lead))
    dhash = rt.catalog.blob(lead)["dhash"]
    out.append([{k: b[k] for k in ("sha256", "distance")} for b in rt.catalog.near_blobs(dhash, 64)])
    out.append([rt.catalog.versions(a) for a in sorted(h for r in out[:1] for hit in r["hits"]
                                                      for h in hit["articles"])])
    return json.loads(json.dumps(out))


def test_drop_and_reindex_gives_the_same_search_results(settings: Settings, origin: FixtureOrigin) -> None:
    rt = Runtime.from_settings(settings)
    articles = [archive(rt, story(origin, n), article_id=f"story-{n}") for n in range(3)]
    assert all(e["status"] == "archived" for a in articles for e in a["embeds"])

    # What the pipeline recorded as it went already answers searches in any script.
    live = rt.catalog.search("संबंधों")
    assert [h["post_id"] for h in live.hits] == [HINDI]
    assert live.hits[0]["articles"] == ["story-0", "story-1", "story-2"]
    assert [h["post_id"] for h in rt.catalog.search("مرحبا").hits] == [ARABIC]

    # The live path indexes exactly what a reindex does (media, lang, image hashes included).
    before = snapshot(rt)
    assert before[0]["total"] == 2
    hindi = rt.catalog.search("संबंधों").hits[0]
    assert hindi["media"] and hindi["media"][0]["thumb_key"].startswith("derived/")
    assert {u["article_id"] for u in before[-3]} == {"story-0", "story-1", "story-2"}
    first = reindex(rt)
    assert first.captures == 2 and first.articles == 3 and first.versions == 3
    assert snapshot(rt) == before

    # Drop the catalog altogether, rebuild it from the bucket: the same answers.
    rt.catalog.clear_index()
    assert rt.catalog.search().total == 0
    again = reindex(rt)
    assert (again.captures, again.articles, again.items) == (first.captures, first.articles, first.items)
    assert snapshot(rt) == before
    # Reindexing twice changes nothing either.
    reindex(rt, fresh=False)
    assert snapshot(rt) == before
    # And the pipeline still finds its fresh captures in the rebuilt catalog: nothing new stored.
    keys = set(rt.store.list(""))
    archive(rt, story(origin, 1), article_id="story-1")
    assert set(rt.store.list("")) == keys
    rt.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_older_catalog_gets_the_new_column_names_when_opened(backend: str, request: pytest.FixtureRequest,
                                                                 tmp_path: Any) -> None:
    """blobs.phash became dhash and items.snapshot_key became manifest_key: a catalog written before
    is renamed in place when opened, rows kept, with no reindex needed."""
    url = (f"sqlite:///{tmp_path}/old.db" if backend == "sqlite"
           else fresh_pg_dsn(request.getfixturevalue("postgres_dsn")))
    old = open_catalog(url)
    old.ensure_schema()
    for table, names in RENAMED_COLUMNS.items():  # back to the names an older release wrote
        for before, after in names.items():
            old.execute(f"ALTER TABLE {table} RENAME COLUMN {after} TO {before}")
    old.execute("INSERT INTO blobs (sha256, key, mime, bytes, width, height, phash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ["ab" * 32, "blobs/sha256/ab/" + "ab" * 32, "image/jpeg", 10, 2, 3, "f0f0f0f0f0f0f0f0"])
    old.execute("INSERT INTO items (article_id, source_sha256, item_id, kind, status, snapshot_key, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", ["a", "s", "i", "embed", "archived", "posts/x/1/c.json", "t"])
    old.close()

    catalog = open_catalog(url)
    assert catalog.blob("ab" * 32)["dhash"] == "f0f0f0f0f0f0f0f0"
    assert [b["sha256"] for b in catalog.near_blobs("f0f0f0f0f0f0f0f1", 1)] == ["ab" * 32]
    assert catalog.items("a", "s")[0]["manifest_key"] == "posts/x/1/c.json"
    catalog.close()
    again = open_catalog(url)  # opening a renamed catalog again changes nothing
    assert "phash" not in again.blob("ab" * 32) and again.blob("ab" * 32)["dhash"] == "f0f0f0f0f0f0f0f0"
    again.close()


def test_reindex_counts_each_blob_once_however_many_uses_it_has(settings: Settings, origin: FixtureOrigin,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`archiver reindex` printed 4 blobs for 3 originals: the lead image used by two articles was
    counted once per article (and an original shared by captures once per capture). Each count it
    prints, as text or --json, counts what it names: blobs are the distinct originals indexed."""
    import argparse

    from archiver.cli.reindex import cmd_reindex

    with Runtime.from_settings(settings) as rt:
        for n in range(3):  # story-0 and story-1 use the same lead image; every story the same tweet
            archive(rt, story(origin, n), article_id=f"story-{n}")
        originals = rt.catalog.query("SELECT COUNT(*) AS n FROM blobs")[0]["n"]
    assert originals == 3  # the tweet's photo, lead.jpg, other.jpg

    def run(**flags: bool) -> str:
        assert cmd_reindex(argparse.Namespace(**{"fresh": False, "json": False, **flags}), settings) == 0
        return capsys.readouterr().out

    fresh = json.loads(run(json=True, fresh=True))
    assert fresh["blobs"] == originals
    assert (fresh["captures"], fresh["articles"], fresh["versions"]) == (2, 3, 3)
    assert json.loads(run(json=True)) == fresh  # a second reindex counts the same
    text = run()
    assert f", {originals} blobs, " in text and f", {fresh['items']} items, " in text
    with Runtime.from_settings(settings) as rt:
        assert rt.catalog.query("SELECT COUNT(*) AS n FROM blobs")[0]["n"] == originals


def test_reindex_counts_blobs_and_skipped_objects_once_when_called_directly(settings: Settings,
                                                                            origin: FixtureOrigin) -> None:
    """The runner's own report (not only the command's) counts distinct originals; an article whose only
    plan is unreadable has each of its objects counted as skipped once (before: the plan, then the
    article again as "no plan stored")."""
    from archiver.storage.layout import ARTICLE_OBJECT_RE

    with Runtime.from_settings(settings) as rt:
        for n in range(3):  # story-0 and story-1 share lead.jpg; story-2 alone uses other.jpg
            archive(rt, story(origin, n), article_id=f"story-{n}")
        objects = [k for k in rt.store.list("articles/story-2/") if ARTICLE_OBJECT_RE.fullmatch(k)]
        plans = [k for k in objects if ARTICLE_OBJECT_RE.fullmatch(k)["plan"]]  # type: ignore[index]
        assert len(plans) == 1 and len(objects) > 2
        rt.store.put(plans[0], b"{not json", content_type="application/json")
        rep = reindex(rt, fresh=True)
        again = reindex(rt)
    # story-2 is not indexed: the originals of the other two, the tweet's photo and lead.jpg, each once.
    assert (rep.articles, rep.blobs) == (2, 2)
    assert rep.skipped == len(objects)
    assert again == rep

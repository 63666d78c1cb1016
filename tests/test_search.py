"""Search over the catalog, the same on SQLite (FTS5) and on a real PostgreSQL (tsvector):
every script, phrases, prefixes, filters, image hashes, near-duplicates, hostile query strings."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from archiver.capture.manifest import Manifest, validate_manifest
from archiver.catalog import search as searching
from archiver.catalog.backend import open_catalog
from archiver.catalog.core import Catalog
from archiver.catalog.indexing import card_words, index_capture
from archiver.catalog.query import SearchQuery
from archiver.catalog.schema import create_schema
from archiver.catalog.syntax import parse_search
from archiver.catalog.text import parse_query, tokenize
from archiver.errors import InputError
from archiver.runners.reindex import reindex
from archiver.runtime import Runtime
from tests.harness.services import fresh_pg_dsn

SHA_A, SHA_B, SHA_C = "aa" * 32, "bb" * 32, "cc" * 32


POSTS: list[dict[str, Any]] = [
    {"post_id": "1", "handle": "ANI", "author": "ANI News", "posted_at": "2025-07-15T09:12:33Z",
     "text": "भारत-रूस संबंधों को मिला नया आयाम: Jaishankar meets Lavrov in Tianjin 🤝",
     "media": [{"type": "photo", "status": "archived", "sha256": SHA_A, "mime": "image/jpeg"}]},
    {"post_id": "2", "handle": "AlJazeera", "author": "الجزيرة", "posted_at": "2025-06-01T12:00:00Z",
     "text": "مَرْحَبًا بِكُم في القاهرة — breaking coverage",
     "media": [{"type": "photo", "status": "archived", "sha256": SHA_B, "mime": "image/png"}]},
    {"post_id": "3", "handle": "nhk_news", "author": "NHK ニュース", "posted_at": "2025-05-20T03:00:00Z",
     "text": "東京都で大雨警報 서울시청 발표 🎉🎉", "media": []},
    {"post_id": "4", "handle": "PinecrestObs", "author": "Pinecrest Observer", "posted_at": "2024-12-31T23:00:00Z",
     "text": "Ice-out on the lake 👇 jaishankar was not here", "media": []},
    {"post_id": "5", "handle": "gone", "author": "Gone Account", "posted_at": None, "text": None, "media": [],
     "status": "deleted"},
]


def load(cat: Catalog) -> None:
    for i, p in enumerate(POSTS):
        cat.record_capture(
            capture_id=f"2026010{i + 1}T000000Z-0000000{i}", provider="twitter", post_id=p["post_id"],
            url=f"https://twitter.com/{p['handle']}/status/{p['post_id']}", status=p.get("status", "archived"),
            manifest_key=f"posts/twitter/{p['post_id']}/c.json", captured_at=f"2026-01-0{i + 1}T00:00:00.000Z",
            handle=p["handle"], author=p["author"], text=p["text"], posted_at=p["posted_at"], lang=None,
            media=p["media"])
    cat.record_item(article_id="story-1", source_sha256="s", item_id="i1", kind="embed", provider="twitter",
                    post_id="1", url=None, status="archived", error=None, manifest_key=None, sha256=None,
                    stable_url=None, occurrences=1, updated_at="2026-01-01T00:00:00Z")
    cat.record_item(article_id="story-2", source_sha256="s", item_id="i2", kind="embed", provider="twitter",
                    post_id="2", url=None, status="archived", error=None, manifest_key=None, sha256=None,
                    stable_url=None, occurrences=1, updated_at="2026-01-01T00:00:00Z")


def ids(cat: Catalog, q: str = "", **kw: Any) -> list[str]:
    """Post ids found, newest archived first unless `sort` says otherwise."""
    res = cat.search(q, **{"sort": "captured", **kw})
    assert res.total == len(res.hits) or kw.get("limit")
    return [h["post_id"] for h in res.hits]


def test_tokens_keep_every_script_whole() -> None:
    assert tokenize("भारत-रूस संबंधों") == ["भारत", "रूस", "संबंधों"]  # vowel signs stay inside words
    assert tokenize("مَرْحَبًا") == ["مرحبا"]  # harakat dropped
    assert tokenize("أإآٱا یىي ةه کك") == ["ااااا", "ييي", "هه", "كك"]  # one letter, one spelling
    assert tokenize("जय\u00adशंकर a\u200fb c\u2060d") == ["जयशंकर", "ab", "cd"]  # invisible format characters
    assert tokenize("東京 ソウル") == ["东", "京", "そ", "う", "る"]  # kana as hiragana, Traditional as Simplified
    assert tokenize("Ｊａｉｓｈａｎｋａｒ 🤝!") == ["jaishankar", "🤝"]
    assert parse_query('"नया आयाम" jai* 東京')[0].tokens == ("नया", "आयाम")


def test_words_in_every_script(catalog: Catalog) -> None:
    load(catalog)
    assert ids(catalog, "संबंधों") == ["1"]
    assert ids(catalog, "आयाम") == ["1"]
    assert ids(catalog, "مرحبا") == ["2"]
    assert ids(catalog, "مَرْحَبًا") == ["2"]  # with or without diacritics
    assert ids(catalog, "القاهرة") == ["2"]
    assert ids(catalog, "東京") == ["3"]  # a substring of 東京都
    assert ids(catalog, "京都") == ["3"]
    assert ids(catalog, "大阪") == []
    assert ids(catalog, "서울시청") == ["3"]
    assert ids(catalog, "🎉") == ["3"]
    assert ids(catalog, "🤝") == ["1"]
    assert ids(catalog, "JAISHANKAR") == ["4", "1"]  # newest capture first
    assert ids(catalog, "jaishankar lavrov") == ["1"]


def test_spellings_of_one_letter_and_invisible_characters_find_the_same_post(catalog: Catalog) -> None:
    """Arabic and Persian write some letters several ways (alef with or without hamza, Farsi yeh and
    keheh, teh marbuta for heh), and copy-paste leaves soft hyphens and direction marks inside words:
    any spelling finds the post, whichever one it holds. A zero-width space still cuts Thai words."""
    posts = {"a": "إجتماع في تيانجين", "b": "کتاب المدرسة", "c": "जय\u00adशंकर ने कहा", "d": "ab\u200fcd x",
             "e": "ไทย\u200bภาษา"}
    for i, (pid, words) in enumerate(posts.items()):
        catalog.record_capture(
            capture_id=f"2026010{i + 1}T000000Z-0000000{i}", provider="twitter", post_id=pid,
            url=f"https://twitter.com/x/status/{pid}", status="archived", manifest_key=f"posts/twitter/{pid}/c.json",
            captured_at=f"2026-01-0{i + 1}T00:00:00.000Z", handle="x", author="X", text=words, posted_at=None,
            lang=None, media=[])
    for q in ("اجتماع", "أجتماع", "إجتماع", "آجتماع", "ٱجتماع", "تیانجین", '"اجتماع فى تيانجين"'):
        assert ids(catalog, q) == ["a"], q
    for q in ("كتاب", "کتاب", "المدرسه", "المدرسة", '"كتاب المدرسه"'):
        assert ids(catalog, q) == ["b"], q
    for q in ("जयशंकर", "जय\u00adशंकर", "जयशं*"):
        assert ids(catalog, q) == ["c"], q
    assert ids(catalog, "abcd") == ids(catalog, "a\u200ebcd") == ["d"]
    # Thai is written without spaces: each character is a token, so a word is found inside running text.
    assert ids(catalog, "ภาษา") == ["e"] and ids(catalog, "ไทยภาษา") == ["e"]


def test_phrases_and_prefixes(catalog: Catalog) -> None:
    load(catalog)
    assert ids(catalog, '"नया आयाम"') == ["1"]
    assert ids(catalog, '"आयाम नया"') == []
    assert ids(catalog, '"meets lavrov"') == ["1"]
    assert ids(catalog, '"lavrov meets"') == []
    assert ids(catalog, "jaish*") == ["4", "1"]
    assert ids(catalog, "संबं*") == ["1"]
    assert ids(catalog, "القاه*") == ["2"]
    assert ids(catalog, '"meets lav"*') == ["1"]
    assert catalog.search("").total == 5


def test_filters(catalog: Catalog) -> None:
    load(catalog)
    assert ids(catalog, handle="@ani") == ["1"]
    assert ids(catalog, "jaishankar", handle="PinecrestObs") == ["4"]
    assert ids(catalog, author="pinecrest") == ["4"]
    assert ids(catalog, author="الجزيرة") == ["2"]
    assert ids(catalog, author="ニュース") == ["3"]
    assert ids(catalog, "lavrov", author="pinecrest") == []
    assert ids(catalog, provider="instagram") == []
    # A query by dates alone, without a sort, lists the newest first by that date.
    assert ids(catalog, posted_since="2025-06-01", posted_until="2025-07-15", sort=None) == ["1", "2"]
    assert ids(catalog, posted_until="2025-05-20", sort=None) == ["3", "4"]
    assert ids(catalog, posted_since="2025-06-01", posted_until="2025-07-15") == ["2", "1"]  # sort="captured"
    assert ids(catalog, posted_since="2025-07-15T09:12:33Z") == ["1"]
    assert ids(catalog, posted_since="2025-07-15T09:12:34Z") == []
    assert ids(catalog, captured_since="2026-01-04", captured_until="2026-01-04") == ["4"]
    assert ids(catalog, status="deleted") == ["5"]
    assert ids(catalog, status=["deleted", "archived"], limit=2) == ["5", "4"]
    assert ids(catalog, article_id="story-2") == ["2"]
    with pytest.raises(InputError):
        catalog.search(posted_since="last tuesday")


def test_hits_show_what_a_result_card_needs(catalog: Catalog) -> None:
    load(catalog)
    hit = catalog.search("lavrov").hits[0]
    assert hit["handle"] == "ANI" and hit["author"] == "ANI News" and hit["status"] == "archived"
    assert hit["articles"] == ["story-1"] and hit["captures"] == 1
    assert hit["media"] == [{"sha256": SHA_A, "key": f"blobs/sha256/aa/{SHA_A}", "mime": "image/jpeg",
                             "type": "photo", "thumb_key": f"derived/{SHA_A}/thumb.webp"}]
    json.dumps(hit)


def test_latest_capture_wins_and_old_words_stay_searchable(catalog: Catalog) -> None:
    load(catalog)
    catalog.record_capture(
        capture_id="20260201T000000Z-0000000a", provider="twitter", post_id="1", url=None, status="deleted",
        manifest_key="posts/twitter/1/d.json", captured_at="2026-02-01T00:00:00.000Z", handle="ANI",
        author="ANI News", text="This post was deleted", posted_at=None, media=[])
    # An older capture recorded late (a reindex, a slow worker) does not replace the newer one.
    catalog.record_capture(
        capture_id="20251201T000000Z-0000000b", provider="twitter", post_id="1", url=None, status="archived",
        manifest_key="posts/twitter/1/o.json", captured_at="2025-12-01T00:00:00.000Z", handle="ANI",
        author="ANI News", text="old words zebra", posted_at=None, media=[])
    # Every capture's words find the post (compliance searches what it ever said); the hit is the latest.
    assert ids(catalog, "lavrov") == ["1"] and ids(catalog, "zebra") == ["1"]
    hits = catalog.search("deleted").hits
    assert [h["post_id"] for h in hits] == ["1"] and hits[0]["captures"] == 3
    assert hits[0]["status"] == "deleted" and hits[0]["text"] == "This post was deleted"
    assert [c["capture_id"][:8] for c in catalog.post_captures("twitter", "1")] == ["20251201", "20260101",
                                                                                    "20260201"]
    # The image of an earlier capture still leads to the post.
    assert ids(catalog, image_sha256=SHA_A) == ["1"]


def test_image_hash_and_near_duplicates(catalog: Catalog) -> None:
    load(catalog)
    catalog.record_blob(sha256=SHA_A, key=f"blobs/sha256/aa/{SHA_A}", mime="image/jpeg", bytes=1, width=1,
                        height=1, dhash="f0f0f0f0f0f0f0f0")
    catalog.record_blob(sha256=SHA_B, key=f"blobs/sha256/bb/{SHA_B}", mime="image/png", bytes=1, width=1,
                        height=1, dhash="0f0f0f0f0f0f0f0f")
    catalog.record_blob(sha256=SHA_C, key=f"blobs/sha256/cc/{SHA_C}", mime="image/png", bytes=1, width=1,
                        height=1, dhash="f0f0f0f0f0f0f0f3")  # 2 bits from A
    catalog.record_blob_use(SHA_C, "story-9", 120, "https://img.example/c.png")
    catalog.record_blob_use(SHA_A, "story-3", 40, "https://img.example/a.jpg")
    assert ids(catalog, image_sha256=SHA_A.upper()) == ["1"]
    assert ids(catalog, image_sha256=SHA_C) == []
    assert ids(catalog, near_phash="f0f0f0f0f0f0f0f1") == ["1"]
    assert ids(catalog, near_phash="f0f0f0f0f0f0f0f1", max_distance=0) == []
    assert ids(catalog, near_phash="0f0f0f0f0f0f0f0e", max_distance=1) == ["2"]
    near = catalog.near_blobs("f0f0f0f0f0f0f0f0", 4)
    assert [(b["sha256"], b["distance"]) for b in near] == [(SHA_A, 0), (SHA_C, 2)]
    uses = catalog.articles_using_blob(SHA_A)
    assert {(u["article_id"], u["via"]) for u in uses} == {("story-3", "image"), ("story-1", "post")}
    with pytest.raises(InputError):
        catalog.search(near_phash="'; DROP TABLE blobs; --")


@pytest.mark.parametrize("q", ["x'); DROP TABLE posts; --", '"unterminated', "NEAR(a b)", "a OR b", "*", "-",
                               "col:lavrov", "author_doc : ani", "' & ! <-> :*", "\\", "\x00", "%_", "ण्" * 300])
def test_hostile_queries_are_only_text(catalog: Catalog, q: str) -> None:
    load(catalog)
    # Built without validation: even what SearchQuery would refuse is only ever a bound value.
    hostile = SearchQuery.model_construct(q=q, handle=q, author=q, provider=q, article_id=q, status=[q],
                                          image_sha256=q)
    try:
        assert catalog.search(hostile).total == 0
    except InputError as exc:  # a q the query language refuses is a clear line, never SQL or backend syntax
        assert "\n" not in str(exc) and len(str(exc)) < 300
    with contextlib.suppress(InputError):  # whatever the words: results or that one line
        catalog.search(SearchQuery.model_construct(q=q))
    try:
        validated = catalog.search(q, handle=q, author=q, provider=q, article_id=q, status=q, image_sha256=q)
    except InputError:
        pass  # a clear error: what SearchQuery refuses (a provider, a status, a hash, 500+ characters)
    else:
        assert validated.total == 0
    assert catalog.search("").total == 5


def test_paging(catalog: Catalog) -> None:
    load(catalog)
    first, second = catalog.search("", limit=2), catalog.search("", limit=2, offset=2)
    assert first.total == second.total == 5
    assert [h["post_id"] for h in first.hits + second.hits] == ["5", "4", "3", "2"]


def test_postgres_default_parser_is_not_enough(postgres_dsn: str) -> None:
    """Why the tsvector is built in Python: the parser (here under the harness's C locale) neither
    cuts CJK, nor folds full-width letters, nor drops Arabic diacritics; under other locales it
    drops letters the locale does not know. Search itself finds all three (test_words_in_every_script)."""
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        for text, query in [("東京都で大雨", "東京"), ("Ｊａｉｓｈａｎｋａｒ", "jaishankar"), ("مَرْحَبًا", "مرحبا")]:
            found = conn.execute("SELECT to_tsvector('simple', %s) @@ plainto_tsquery('simple', %s)",
                                 (text, query)).fetchone()[0]
            assert not found, text


def test_cli_search_gives_the_catalogs_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from archiver.cli.main import main

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    cat = open_catalog(url)
    load(cat)
    monkeypatch.setenv("ARCHIVER_HOME", str(tmp_path))
    monkeypatch.setenv("ARCHIVER_CATALOG", url)
    for argv, kwargs in [
        (["jaish*"], {"q": "jaish*"}),
        (["संबंधों", "--handle", "ANI"], {"q": "संबंधों", "handle": "ANI"}),
        (["", "--since", "2025-06-01", "--until", "2025-07-15", "--provider", "twitter"],
         {"posted_since": "2025-06-01", "posted_until": "2025-07-15", "provider": "twitter"}),
        (["--status", "deleted", "--limit", "1"], {"status": ["deleted"], "limit": 1}),
    ]:
        assert main(["search", *argv, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        expected = cat.search(**kwargs)
        # the API's answer (compliance.answers.search_answer): the catalog's hits, paging and each hit's state
        assert {k: out[k] for k in ("total", "total_exact")} == {"total": expected.total,
                                                                  "total_exact": expected.total_exact}
        assert [{k: v for k, v in h.items() if k != "compliance"} for h in out["hits"]] == \
            json.loads(json.dumps(expected.hits))
        assert all(h["compliance"] == {"hold": None, "takedown": None} for h in out["hits"]), out["hits"][:1]
        assert (out["limit"], out["offset"]) == (kwargs.get("limit", 50), 0)
    assert main(["search", "القاهرة"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 post\n") and "twitter/2" in out and "story-2" in out
    assert main(["search", "x", "--since", "yesterday"]) == 2
    assert "not a date" in capsys.readouterr().err
    cat.close()


def record(cat: Catalog, post_id: str, text: str, *, handle: str = "desk", day: int = 1,
           author: str = "Night Desk") -> None:
    cat.record_capture(
        capture_id=f"202602{day:02d}T000000Z-{int(post_id):08x}", provider="twitter", post_id=post_id, url=None,
        status="archived", manifest_key=f"posts/twitter/{post_id}/c.json",
        captured_at=f"2026-02-{day:02d}T00:00:{int(post_id) % 60:02d}.000Z", handle=handle, author=author,
        text=text, posted_at=None, media=[])


def test_a_phrase_needs_its_words_in_order_not_only_its_pairs(catalog: Catalog) -> None:
    """PostgreSQL finds phrase candidates by their neighbouring pairs: both pairs apart is no phrase."""
    load(catalog)
    record(catalog, "10", "the red fox runs; later a fox jumps", day=2)
    record(catalog, "11", "a red fox jumps high", day=3)
    record(catalog, "12", "東京の都 京都", day=4)
    assert ids(catalog, '"red fox jumps"') == ["11"]
    assert ids(catalog, '"fox jumps"') == ["11", "10"]
    assert ids(catalog, '"red fox ju"*') == ["11"]
    assert ids(catalog, '"a fox ju"*') == ["10"]
    assert ids(catalog, "東京都") == ["3"]  # pairs 東京 and 京都 are in post 12 too, not the phrase
    assert ids(catalog, "京都") == ["12", "3"]
    assert ids(catalog, '"ani news"') == ["1"]  # a phrase of the author's name, as before
    assert ids(catalog, '"night desk"', author="night desk") == ["12", "11", "10"]


def test_words_by_one_handle(catalog: Catalog) -> None:
    load(catalog)
    record(catalog, "20", "fox news of the day", handle="O'Brien\\x_1", day=2)
    record(catalog, "21", "fox news of the day", handle="other", day=3)
    assert ids(catalog, "fox", handle="@o'brien\\X_1") == ["20"]
    assert ids(catalog, "fox", handle="other") == ["21"]
    assert ids(catalog, "fox news", author="night", handle="OTHER") == ["21"]
    assert ids(catalog, "fox", handle="o'brien") == []
    with pytest.raises(InputError, match="not a handle"):  # a blank handle is refused, not an empty result
        ids(catalog, "fox", handle="   ")
    assert ids(catalog, "jaishankar", handle="ani") == ["1"]


def test_pages_beyond_the_count_cap(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the cap the page comes from the database's ordered walk, below it from the ids the
    count collected: the same order either way."""
    for i in range(30):
        record(catalog, str(100 + i), "common words" + (" rare" if i % 7 == 0 else ""), day=1 + i % 28)
    everything = [h["post_id"] for h in catalog.search("common", limit=100).hits]
    assert len(everything) == 30
    monkeypatch.setattr(searching, "COUNT_CAP", 5)
    res = catalog.search("common", limit=7, offset=3)
    assert (res.total, res.total_exact) == (5, False)
    assert [h["post_id"] for h in res.hits] == everything[3:10]
    rare = catalog.search("rare", limit=2, offset=1)
    assert (rare.total, rare.total_exact) == (5, True)
    assert [h["post_id"] for h in rare.hits] == [p for p in everything if (int(p) - 100) % 7 == 0][1:3]
    assert catalog.search("rare", offset=10).hits == []


def test_postgres_picks_the_walk_for_common_words_and_the_sort_for_rare_ones(postgres_dsn: str) -> None:
    cat = open_catalog(fresh_pg_dsn(postgres_dsn))
    for i in range(300):
        record(cat, str(1000 + i), "everywhere" + (" seldom" if i == 7 else ""), day=1 + i % 28)
    cat.execute("ANALYZE posts")
    order = {}
    for q in ("everywhere", "seldom"):
        source, cond, params, col = cat.backend.match_sql(parse_search(q).text, [], None)
        order[q] = cat.backend.page_order(cat._sql(f"SELECT 1 FROM {source} WHERE {cond}"), params, col, 50)
    assert order == {"everywhere": "p.id DESC", "seldom": "p.id + 0 DESC"}
    cat.close()


def test_an_older_postgres_catalog_gets_pairs_and_handles_on_open(postgres_dsn: str) -> None:
    dsn = fresh_pg_dsn(postgres_dsn)
    cat = open_catalog(dsn)
    load(cat)
    # As the first release wrote them: positions only, no pair or handle lexemes, no format mark.
    cat.execute("UPDATE posts SET doc = ts_filter(doc, '{a,b}')")
    cat.execute("DELETE FROM catalog_meta")
    assert ids(cat, '"meets lavrov"') == [] and ids(cat, "lavrov", handle="ani") == []
    cat.close()
    again = open_catalog(dsn)
    assert ids(again, '"meets lavrov"') == ["1"]
    assert ids(again, "lavrov", handle="ani") == ["1"]
    assert ids(again, "東京") == ["3"]
    again.close()


OLD_SQLITE_FTS = [
    """CREATE VIRTUAL TABLE posts_fts USING fts5(
        text_doc, author_doc, content='posts', content_rowid='id', tokenize='ascii', detail='full')""",
    """CREATE TRIGGER posts_fts_ai AFTER INSERT ON posts BEGIN
        INSERT INTO posts_fts (rowid, text_doc, author_doc) VALUES (new.id, new.text_doc, new.author_doc);
    END""",
]


def test_an_older_sqlite_catalog_gets_its_handle_column_on_open(tmp_path: Path) -> None:
    import sqlite3

    from archiver.catalog.schema import posts_table

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(posts_table("id INTEGER PRIMARY KEY", "text_doc TEXT, author_doc TEXT"))
    for stmt in OLD_SQLITE_FTS:
        conn.execute(stmt)
    conn.execute("INSERT INTO posts (id, provider, post_id, capture_id, status, captured_at, handle, handle_norm, "
                 "text, text_doc, author_doc) VALUES (1, 'twitter', '9', 'c', 'archived', "
                 "'2026-01-01T00:00:00Z', 'ANI', 'ani', 'Jaishankar meets Lavrov', "
                 "'jaishankar meets lavrov', 'ani news')")
    conn.commit()
    conn.close()
    cat = open_catalog(f"sqlite:///{path}")
    assert ids(cat, "lavrov", handle="ani") == ["9"]
    assert ids(cat, '"meets lavrov"', author="news") == ["9"]
    assert ids(cat, "lavrov", handle="other") == []
    cat.close()


# --- link cards and polls ------------------------------------------------------------------------
CARD_TITLE_HI = "ग्रामीण विद्युतीकरण सर्वेक्षण"
CARD_DESCRIPTION_AR = "نتائج المسح السنوي للساحل الشمالي"


def card_manifest(post_id: str, capture_id: str, text: str, **fields: Any) -> dict[str, Any]:
    m = Manifest.new(provider="twitter", post_id=post_id, capture_id=capture_id,
                     captured_at=datetime.strptime(capture_id[:16] + "+0000", "%Y%m%dT%H%M%SZ%z"),
                     status="archived", url=f"https://twitter.com/coastlab/status/{post_id}").to_json()
    m.update(text=text, text_expanded=text, lang="en", created_at="2025-07-15T09:00:00.000Z", **fields)
    m["author"].update(name="Coast Lab", handle="coastlab")
    return validate_manifest(m).to_json()


@pytest.fixture(params=["sqlite", "postgres"])
def runtime(request: pytest.FixtureRequest, tmp_settings: Any) -> Iterator[Any]:
    extra = {} if request.param == "sqlite" else {"catalog": fresh_pg_dsn(request.getfixturevalue("postgres_dsn"))}
    rt = Runtime.from_settings(tmp_settings(**extra))
    yield rt
    rt.close()


def test_card_titles_descriptions_and_poll_labels_are_searchable_and_reindexed(runtime: Any) -> None:
    card = {"name": "summary_large_image", "url": "https://t.co/Qw3rTy7uIo", "title": CARD_TITLE_HI,
            "description": CARD_DESCRIPTION_AR, "domain": "coast.example.org"}
    poll = {"name": "poll3choice_text_only", "choices": [{"label": "Trains", "count": 412},
                                                          {"label": "Buses", "count": 198},
                                                          {"label": "Bicycles", "count": 77}]}
    posts = [card_manifest("2001", "20260301T000000Z-00000001", "Survey results are in", card=card,
                           text_complete=False),
             card_manifest("2002", "20260302T000000Z-00000002", "How do you get to work", poll=poll,
                           text_complete=True),
             card_manifest("2003", "20260303T000000Z-00000003", "Nothing but text about trains")]
    for m in posts:
        key = f"posts/twitter/{m['post_id']}/{m['capture_id']}.json"
        runtime.store.put(key, json.dumps(m).encode(), content_type="application/json")
        index_capture(runtime, key, m)
    assert card_words(posts[2]) is None and card_words({"card": {"title": 5}, "poll": {"choices": "x"}}) is None

    def found(q: str) -> list[str]:
        return [h["post_id"] for h in runtime.catalog.search(q).hits]

    def answers() -> list[list[str]]:
        return [found(q) for q in ("विद्युतीकरण", f'"{CARD_TITLE_HI}"', "الشمالي", "المس*", "bicycles", "trains",
                                   '"work trains"', '"in ग्रामीण"', "survey")]

    expected = [["2001"], ["2001"], ["2001"], ["2001"], ["2002"], ["2003", "2002"], [], [], ["2001"]]
    assert answers() == expected
    # What a hit shows stays the post's own text, and says whether it is only a preview.
    assert runtime.catalog.search("bicycles").hits[0]["text"] == "How do you get to work"

    def complete() -> dict[str, bool | None]:
        return {h["post_id"]: h["text_complete"] for h in runtime.catalog.search(provider="twitter").hits}

    assert complete() == {"2001": False, "2002": True, "2003": None}
    # `archiver reindex` rebuilds the same answers from storage, a version 1 manifest beside them.
    v1 = json.loads((Path(__file__).parent / "fixtures" / "manifests" / "twitter-quoted.json").read_text("utf-8"))
    assert v1["schema"] == "archiver.manifest.v1"
    runtime.store.put(f"posts/twitter/{v1['post_id']}/{v1['capture_id']}.json", json.dumps(v1).encode(),
                      content_type="application/json")
    reindex(runtime, fresh=True)
    assert answers() == expected
    assert complete() == {"2001": False, "2002": True, "2003": None, v1["post_id"]: None}
    assert found('"stay off the ice"') == [v1["post_id"]]


def test_an_older_catalog_gets_the_card_and_preview_columns_on_open(catalog: Catalog) -> None:
    load(catalog)
    for table, cols in (("captures", ("card_text", "text_complete")), ("posts", ("text_complete",))):
        for col in cols:
            catalog.execute(f"ALTER TABLE {table} DROP COLUMN {col}")
    assert "text_complete" not in catalog.backend.columns("posts")
    create_schema(catalog.backend)  # what opening the catalog does
    assert {"card_text", "text_complete"} <= catalog.backend.columns("captures")
    assert "text_complete" in catalog.backend.columns("posts")
    assert ids(catalog, "lavrov") == ["1"] and catalog.search("lavrov").hits[0]["text_complete"] is None


def test_a_link_cards_archived_image_is_indexed_as_an_image_blob(runtime: Any) -> None:
    """A card image is an original like the post's photos: image search and dedupe find it, after a
    capture and after a reindex."""
    from archiver.storage.layout import blob_key
    from archiver.testing.fixtures import make_image

    data = make_image("card image", 160, 90)
    sha = hashlib.sha256(data).hexdigest()
    runtime.store.put(blob_key(sha), data, content_type="image/jpeg")
    image = {"type": "photo", "status": "archived", "sha256": sha, "key": blob_key(sha), "mime": "image/jpeg",
             "bytes": len(data), "width": 160, "height": 90, "duration": None,
             "original_url": "https://pbs.twimg.com/card_img/1/AbC?format=jpg&name=orig", "alt_text": None}
    m = card_manifest("2101", "20260304T000000Z-00000004", "A link card",
                      card={"name": "summary_large_image", "title": "Dunes", "image": image})
    key = f"posts/twitter/{m['post_id']}/{m['capture_id']}.json"
    runtime.store.put(key, json.dumps(m).encode(), content_type="application/json")
    assert runtime.catalog.blob(sha) is None
    index_capture(runtime, key, m)
    blob = runtime.catalog.blob(sha)
    assert blob is not None and (blob["width"], blob["height"]) == (160, 90)
    reindex(runtime, fresh=True)
    assert runtime.catalog.blob(sha) is not None

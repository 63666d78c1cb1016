"""Search defects found by an attacker, each fixed by a rule (not by its sample): date bounds at the ends
of the range, words inside scripts written without spaces and Hangul, folding (hamza seats, kana,
O'Brien, parts of emoji ZWJ sequences), input read the same way everywhere (status case, unknown
`name:`, a word before `(`, ^ and ~, an empty handle, the author's words in any order), and a catalog
indexed under the previous cut re-tokenized when opened. SQLite and PostgreSQL alike."""

from __future__ import annotations

import sqlite3
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from archiver.catalog.backend import open_catalog
from archiver.catalog.core import Catalog
from archiver.catalog.query import SearchQuery
from archiver.catalog.syntax import parse_search
from archiver.catalog.text import tokenize
from archiver.errors import InputError
from tests.harness.services import fresh_pg_dsn
from tests.test_search_query import Faces, faces  # noqa: F401 (the fixture)


def post(cat: Catalog, post_id: str, text: str, *, day: int, author: str = "Desk", handle: str = "desk",
         status: str = "archived", posted_at: str | None = "2025-07-01T10:00:00Z") -> None:
    cat.record_capture(
        capture_id=f"202605{day:02d}T000000Z-{day:08x}", provider="twitter", post_id=post_id, url=None,
        status=status, manifest_key=f"posts/twitter/{post_id}/c.json",
        captured_at=f"2026-05-{day:02d}T00:00:00.000Z", handle=handle, author=author, text=text,
        posted_at=posted_at, lang=None, media=[])


def found(cat: Catalog, q: str = "", **kw: Any) -> list[str]:
    return sorted(h["post_id"] for h in cat.search(q, **kw).hits)


# --- 1. date bounds at the ends of the range ------------------------------------------------------------
@pytest.mark.parametrize(("field", "value", "finds"), [
    ("posted_until", "9999-12-31", True), ("posted_until", date(9999, 12, 31), True),
    ("captured_until", "9999-12-31T23:59:59", True), ("captured_until", "9999-12-31T23:59:59Z", True),
    ("posted_since", "0001-01-01T00:00:00+01:00", True), ("posted_since", "0001-01-01", True),
    ("captured_since", "0001-01-01T00:00:00+14:00", True),
    ("posted_until", "0001-01-01T00:00:00+01:00", False),  # in year 0 in UTC: before every post
    ("captured_since", "9999-12-31T23:59:59-01:00", False),  # in year 10000 in UTC: after every post
    ("posted_since", datetime(9999, 12, 31, 23, 59, 59), False),
])
def test_date_bounds_at_the_ends_of_the_range(catalog: Catalog, field: str, value: Any, finds: bool) -> None:
    post(catalog, "1", "summit", day=1)
    assert found(catalog, **{field: value}) == (["1"] if finds else [])
    assert found(catalog, "summit", **{field: value}) == (["1"] if finds else [])


def test_far_off_dates_on_every_face(faces: Faces) -> None:  # noqa: F811
    everything = faces.by_api({})
    assert everything
    for filters in ({"posted_until": "9999-12-31"}, {"captured_until": "9999-12-31T23:59:59"},
                    {"posted_since": "0001-01-01T00:00:00+01:00"}, {"captured_until": "9999-12-31"}):
        expected = [h["post_id"] for h in faces.rt.catalog.search(SearchQuery(**filters)).hits]
        assert expected and set(expected) <= set(everything), filters
        assert faces.by_api(filters) == faces.by_cli(filters) == faces.by_page(filters) == expected, filters
    code, _, err = faces.cli(["search", "x", "--until", "9999-12-31"])
    assert code == 0 and "internal error" not in err


# --- 2. words inside scripts written without spaces, and Hangul -----------------------------------------
THAI = "นายกรัฐมนตรีประกาศนโยบายใหม่วันนี้"


def test_words_inside_unspaced_scripts_and_hangul(catalog: Catalog) -> None:
    post(catalog, "th", THAI, day=1)
    post(catalog, "lo", "ກະຊວງສາທາລະນະສຸກປະກາດມາດຕະການໃໝ່", day=2)
    post(catalog, "km", "រដ្ឋាភិបាលកម្ពុជាប្រកាសគោលនយោបាយថ្មី", day=3)
    post(catalog, "my", "အစိုးရကမူဝါဒသစ်ကြေညာသည်", day=4)
    post(catalog, "ko", "서울에서 기자회견을 열었다", day=5)
    for q in ("นโยบาย", "ประกาศ", "นายกรัฐมนตรี", THAI, "วันนี้", '"ประกาศนโยบาย"', "นโยบ*"):
        assert found(catalog, q) == ["th"], q
    assert found(catalog, "ສາທາລະນະສຸກ") == ["lo"]
    assert found(catalog, "ប្រកាស") == ["km"]
    assert found(catalog, "မူဝါဒ") == ["my"]
    for q in ("서울", "기자회견", "서울에서", '"기자회견을 열었다"', "서울*"):
        assert found(catalog, q) == ["ko"], q
    assert found(catalog, "นโยบายเก่า") == [] and found(catalog, "부산") == []  # not any of its characters
    assert found(catalog, "-นโยบาย status:archived") == ["km", "ko", "lo", "my"]
    assert tokenize("서울") == ["서", "울"]


# --- 3. folding ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("stored", "typed"), [
    ("بيان المسؤول اليوم", "المسئول"), ("بيان المسئول اليوم", "المسؤول"), ("سُئِل الوزير", "سؤل"),
    ("トウキョウ で", "とうきょう"), ("とうきょう で", "トウキョウ"), ("ｶﾀｶﾅ", "かたかな"),
    ("O'Brien's statement", "obrien"), ("O’Brien said", "OBrien"), ("obrien", "O'Brien"),
    ("family 👨\u200d👩\u200d👧 photo", "👨"), ("family 👨\u200d👩\u200d👧 photo", "👧"),
    ("family 👨\u200d👩\u200d👧 photo", "👨\u200d👩\u200d👧"),
])
def test_folding(catalog: Catalog, stored: str, typed: str) -> None:
    post(catalog, "1", stored, day=1)
    post(catalog, "2", "unrelated words", day=2)
    assert found(catalog, typed) == ["1"], typed


def test_folding_keeps_what_it_should(catalog: Catalog) -> None:
    post(catalog, "fr", "l'Europe et d'Italia", day=1)
    post(catalog, "tr", "Erdoğan'ın açıklaması", day=2)
    post(catalog, "sq", "👨\u200d👩\u200d👧", day=3)
    post(catalog, "solo", "👩 alone", day=4)
    assert found(catalog, "europe") == ["fr"] and found(catalog, "italia") == ["fr"]
    assert found(catalog, "erdogan") == ["tr"]
    assert found(catalog, "👨\u200d👩\u200d👧") == ["sq"]  # the sequence is its emoji next to each other
    assert found(catalog, "👩") == ["solo", "sq"]


# --- 4. input read one way everywhere ---------------------------------------------------------------------
def test_status_in_any_case(catalog: Catalog) -> None:
    post(catalog, "1", "summit", day=1)
    post(catalog, "2", "summit", day=2, status="deleted")
    assert found(catalog, "status:ARCHIVED") == found(catalog, status=["ARCHIVED"]) == ["1"]
    assert found(catalog, "summit status:Deleted") == found(catalog, "summit", status="DELETED") == ["2"]
    assert SearchQuery(status=["Archived"]).status == ["archived"]
    with pytest.raises(InputError, match="status: expected one of"):
        catalog.search(status="gone")


def test_pasted_text_is_words(catalog: Catalog) -> None:
    post(catalog, "1", "Note: party leaders of the BJP (Bharatiya Janata Party) met", day=1)
    post(catalog, "2", "a party", day=2)
    assert found(catalog, "Note:party") == ["1"]  # "note party": the words next to each other
    assert found(catalog, "Note:party leaders") == ["1"] and found(catalog, "Leaders:note") == []
    assert found(catalog, "BJP(Bharatiya Janata Party)") == ["1"]
    assert found(catalog, "Leaders:of") == ["1"]
    assert parse_search("colour:red") == parse_search('"colour red"')
    for q in ("NEAR(a b)", "x^y", "a^2", "rally^2", "a~b", "rally~2"):
        with pytest.raises(InputError, match="is not search syntax here"):
            parse_search(q)
    assert found(catalog, '"x^y" party') == []  # quoted, the characters are words


@pytest.mark.parametrize("handle", ["", "   ", "@"])
def test_an_empty_handle_is_refused(catalog: Catalog, handle: str) -> None:
    with pytest.raises(InputError, match=r"handle: .* is not a handle"):
        catalog.search("x", handle=handle)


def test_an_empty_handle_on_the_cli(faces: Faces) -> None:  # noqa: F811
    code, _, err = faces.cli(["search", "x", "--handle", ""])
    assert code == 2 and "--handle" in err and "not a handle" in err
    resp = faces.api.get("/v1/search", params={"handle": ""}, headers=faces.headers)
    assert resp.status_code == 422 and "not a handle" in resp.text


def test_author_words_in_any_order(catalog: Catalog) -> None:
    post(catalog, "1", "news", day=1, author="مستخدم عربي")
    post(catalog, "2", "news", day=2, author="مستخدم آخر")
    assert found(catalog, author="عربي مستخدم") == ["1"]
    assert found(catalog, author="مستخدم عربي") == ["1"]
    assert found(catalog, "news", author="مستخدم") == ["1", "2"]
    assert "any order" in (SearchQuery.model_fields["author"].description or "")


# --- an index cut under the previous rule is re-tokenized when opened ---------------------------------------
def test_an_older_sqlite_catalog_is_retokenized_on_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    cat = open_catalog(url)
    post(cat, "1", THAI, day=1, author="서울 기자")
    cat.close()
    conn = sqlite3.connect(tmp_path / "c.sqlite3")  # as the previous release indexed it
    conn.execute("UPDATE posts SET text_doc = ?, author_doc = ?", (THAI, "서울 기자"))
    conn.execute("DELETE FROM catalog_meta")
    conn.commit()
    conn.close()
    cat = open_catalog(url)
    assert found(cat, "นโยบาย") == ["1"] and found(cat, author="서") == ["1"]
    from archiver.catalog.text import TOKEN_VERSION

    assert cat.query("SELECT value FROM catalog_meta WHERE name = 'token_version'")[0]["value"] == TOKEN_VERSION
    cat.close()


def test_an_older_postgres_catalog_is_retokenized_on_open(postgres_dsn: str) -> None:
    dsn = fresh_pg_dsn(postgres_dsn)
    cat = open_catalog(dsn)
    post(cat, "1", THAI, day=1)
    cat.execute("UPDATE posts SET doc = to_tsvector('simple', 'x')")
    cat.execute("UPDATE catalog_meta SET value = '2' WHERE name = 'doc_format'")
    cat.close()
    cat = open_catalog(dsn)
    assert found(cat, "นโยบาย") == ["1"]
    cat.close()


# --- every capture's words are searched -------------------------------------------------------------------
def test_a_post_is_found_by_the_words_of_any_of_its_captures(catalog: Catalog) -> None:
    """An edit (the same id, other words) or a later capture that kept no text (the post gone, the markup
    carrying none) leaves the earlier words searchable; a phrase never spans two captures' words; the
    hit shows the latest capture. Captures indexed in any order (reindex walks storage) give the same."""
    post(catalog, "1", "Ice report: stay off the lake", day=3)
    post(catalog, "1", "Ice report updated: the lake is safe", day=5)
    post(catalog, "1", None, day=7, status="deleted")  # type: ignore[arg-type]
    post(catalog, "1", "Ice report: stay off the lake", day=1)  # an older one indexed last
    post(catalog, "2", "Harbour news", day=2)
    assert found(catalog, '"stay off"') == ["1"] and found(catalog, "safe") == ["1"]
    assert found(catalog, '"safe ice"') == [] and found(catalog, '"lake ice"') == []  # across two captures
    (hit,) = catalog.search("stay").hits
    assert hit["status"] == "deleted" and hit["text"] is None and hit["captures"] == 4
    assert found(catalog, "harbour") == ["2"] and found(catalog, "stay", status="deleted") == ["1"]


def test_an_older_catalog_gains_the_earlier_captures_words_on_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    cat = open_catalog(url)
    post(cat, "1", "flood warning for the valley", day=1)
    post(cat, "1", "all clear", day=2)
    cat.close()
    conn = sqlite3.connect(tmp_path / "c.sqlite3")  # as the previous release indexed it: the latest only
    conn.execute("UPDATE posts SET text_doc = 'all clear'")
    conn.execute("UPDATE catalog_meta SET value = '3' WHERE name = 'token_version'")
    conn.commit()
    conn.close()
    cat = open_catalog(url)
    assert found(cat, "flood") == ["1"] and found(cat, '"all clear"') == ["1"]
    cat.close()


def test_an_older_postgres_catalog_gains_the_earlier_captures_words_on_open(postgres_dsn: str) -> None:
    dsn = fresh_pg_dsn(postgres_dsn)
    cat = open_catalog(dsn)
    post(cat, "1", "flood warning for the valley", day=1)
    post(cat, "1", "all clear", day=2)
    cat.execute("UPDATE posts SET doc = to_tsvector('simple', 'all clear')")
    cat.execute("UPDATE catalog_meta SET value = '2+t3' WHERE name = 'doc_format'")
    cat.close()
    cat = open_catalog(dsn)
    assert found(cat, "flood") == ["1"] and found(cat, "clear") == ["1"]
    cat.close()


def test_traditional_and_simplified_chinese_are_one_word(catalog: Catalog) -> None:
    post(catalog, "1", "臺灣的國家發展委員會今天宣布", day=1)
    post(catalog, "2", "台湾的国家发展委员会", day=2)
    post(catalog, "3", "東京で会議", day=3)  # Japanese kanji fold the same way
    assert found(catalog, "台湾") == ["1", "2"] and found(catalog, "臺灣") == ["1", "2"]
    assert found(catalog, '"國家發展"') == ["1", "2"] and found(catalog, "东京") == ["3"]
    assert found(catalog, "宣布") == ["1"]  # characters that are one form in both stay themselves


def test_a_chain_of_simplified_forms_folds_to_its_end() -> None:
    assert tokenize("薴麻") == tokenize("苧麻") == tokenize("苎麻")


def test_the_words_of_a_post_captured_many_times_are_read_bounded(catalog: Catalog,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.catalog import schema

    for day in range(1, 29):
        post(catalog, "1", f"word{day:02d} text", day=day)
    post(catalog, "2", "other", day=30)
    # Eight distinct earlier parts at most: the newest ones.
    assert found(catalog, "word20") == ["1"] and found(catalog, "word19") == []
    posts = [("twitter", "1", "20260528T000000Z-0000001c"), ("twitter", "2", "20260530T000000Z-0000001e")]
    conn = catalog.backend.connect()
    got = schema.earlier_words(conn, posts, catalog.backend.placeholder)
    assert len(got[("twitter", "1")]) == 27  # newest first, the latest left out
    assert got[("twitter", "1")][0] == ("20260527T000000Z-0000001b", "word27 text", None)
    assert ("twitter", "2") not in got  # its one capture is its latest
    monkeypatch.setattr(schema, "EARLIER_CAPTURES_READ", 5)  # read per post, in the database
    got = schema.earlier_words(conn, posts, catalog.backend.placeholder)
    assert [t for _, t, _ in got[("twitter", "1")]] == [f"word{d} text" for d in (27, 26, 25, 24, 23)]


def test_a_hit_says_which_capture_its_words_matched(catalog: Catalog) -> None:
    post(catalog, "1", "Ice report: stay off the lake", day=3)
    post(catalog, "1", "Ice report updated: the lake is safe", day=5)
    latest, earlier = "20260505T000000Z-00000005", "20260503T000000Z-00000003"

    def matched(q: str) -> Any:
        (hit,) = catalog.search(q).hits
        return hit["matched_capture_id"]

    assert matched("safe") == latest and matched("lake") == latest  # the text the hit shows
    assert matched('"stay off"') == earlier and matched("sta*") == earlier
    assert matched('"stay off" safe') is None  # spread over two captures
    assert catalog.search("lake -stay").hits == []  # an exclusion holds over every capture's words
    assert "matched_capture_id" not in catalog.search("", provider="twitter").hits[0]  # no words, no claim


def test_the_search_page_says_when_an_earlier_capture_matched(tmp_settings: Any) -> None:
    from fastapi.testclient import TestClient

    from archiver.auth import create_token
    from archiver.runtime import Runtime
    from archiver.web.app import create_app

    settings = tmp_settings()
    rt = Runtime.from_settings(settings)
    post(rt.catalog, "1", "Ice report: stay off the lake", day=3)
    post(rt.catalog, "1", "Ice report updated: the lake is safe", day=5)
    client = TestClient(create_app(settings, runtime=rt), follow_redirects=False)
    assert client.post("/login", data={"token": create_token(rt.catalog, "compliance"), "next": "/"}).status_code == 303
    page = client.get("/search", params={"q": '"stay off"'}).text
    assert "The words matched" in page and "/posts/twitter/1#capture-20260503T000000Z-00000003" in page
    assert "the lake is safe" in page  # the latest capture's text is the one shown
    assert "The words matched" not in client.get("/search", params={"q": "safe"}).text
    api = client.get("/v1/search", params={"q": '"stay off"'})
    assert api.status_code == 200 and api.json()["hits"][0]["matched_capture_id"] == "20260503T000000Z-00000003"
    rt.close()


def test_the_cli_says_when_an_earlier_capture_matched(tmp_settings: Any, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from archiver.cli.main import main
    from archiver.runtime import Runtime

    settings = tmp_settings()
    rt = Runtime.from_settings(settings)
    post(rt.catalog, "1", "Ice report: stay off the lake", day=3)
    post(rt.catalog, "1", "Ice report updated: the lake is safe", day=5)
    rt.close()
    monkeypatch.setenv("ARCHIVER_HOME", settings.home)
    assert main(["search", '"stay off"']) == 0
    out = capsys.readouterr().out
    assert "the lake is safe" in out and "matched an earlier capture, 20260503T000000Z-00000003" in out
    assert main(["search", "safe"]) == 0 and "matched" not in capsys.readouterr().out


def test_two_captures_of_a_post_indexed_at_once_leave_the_latest_with_both_words(
        catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """A capture of a post and one of a post quoting it index the post at once: the row ends as the
    latest capture's, holding both captures' words (as reindex makes it), whichever writes last."""
    import threading

    from archiver.catalog import core

    real = core.earlier_words
    older_reading = threading.Event()

    def slow_for_the_older(conn: Any, posts: Any, mark: str) -> Any:
        found = real(conn, posts, mark)
        if threading.current_thread().name == "older":
            older_reading.set()
            time.sleep(0.5)  # the newer capture is recorded meanwhile (or waits, as it should)
        return found

    monkeypatch.setattr(core, "earlier_words", slow_for_the_older)
    older = threading.Thread(target=post, args=(catalog, "1", "first words glacier"), kwargs={"day": 1},
                             name="older")
    older.start()
    assert older_reading.wait(10)
    post(catalog, "1", "edited wording blizzard", day=2)
    older.join()
    (hit,) = catalog.search("blizzard").hits
    assert hit["capture_id"] == "20260502T000000Z-00000002" and found(catalog, "glacier") == ["1"]


def test_an_exclusion_holds_over_every_capture_and_the_note_names_the_positive_match(catalog: Catalog) -> None:
    post(catalog, "1", "Bob edited text now", day=1)
    post(catalog, "1", "Bob says hello glacier", day=2)
    post(catalog, "2", "glacier report", day=3)
    assert found(catalog, "glacier -edited") == ["2"]  # post 1 once said "edited"
    (hit,) = catalog.search("glacier -report").hits
    assert hit["post_id"] == "1" and hit["matched_capture_id"] == "20260502T000000Z-00000002"

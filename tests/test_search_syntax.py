"""The search query language (archiver/catalog/syntax.py): each construct on SQLite (FTS5) and a
real PostgreSQL (tsvector), Hindi and Arabic phrases, filters inside `q` against the separate
fields, the sort orders, one-line errors on every face, and a fuzzed parser whose output the
backends always accept."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.catalog import search as searching
from archiver.catalog.backend import open_catalog
from archiver.catalog.core import Catalog
from archiver.catalog.query import SYNTAX_HELP, SearchQuery, flag
from archiver.catalog.syntax import MAX_TERMS, SHOWN, Parsed, parse_search
from archiver.errors import InputError
from tests.harness.services import fresh_pg_dsn
from tests.test_search_query import Faces, faces  # noqa: F401 (the fixture)

# post_id: (provider, handle, lang, posted_at, status, text); captured on day 1, 2, ... in this order.
POSTS: dict[str, tuple[str, str, str | None, str | None, str, str]] = {
    "31": ("twitter", "ANI", "hi", "2025-07-15T09:12:33Z", "archived",
           "भारत-रूस संबंधों को मिला नया आयाम: Jaishankar meets Lavrov"),
    "32": ("twitter", "AJArabic", "ar", "2025-06-01T12:00:00Z", "archived",
           "مَرْحَبًا بِكُم في القاهرة — breaking coverage of the summit"),
    "33": ("twitter", "desk", "en-GB", "2025-08-01T00:00:00Z", "archived", "summit summit summit: leaders meet"),
    "34": ("twitter", "desk", "en", None, "deleted", "rally in the capital, no summit today"),
    "35": ("instagram", "ANI", "hi", "2025-01-01T00:00:00Z", "archived", "नया आयाम photo rally"),
}


def load_posts(cat: Catalog) -> None:
    for day, (post_id, (provider, handle, lang, posted, status, text)) in enumerate(POSTS.items(), 1):
        cat.record_capture(
            capture_id=f"202603{day:02d}T000000Z-000000{post_id}", provider=provider, post_id=post_id,
            url=None, status=status, manifest_key=f"posts/{provider}/{post_id}/c.json",
            captured_at=f"2026-03-{day:02d}T00:00:00.000Z", handle=handle, author=f"{handle} desk",
            text=text, posted_at=posted, lang=lang, media=[])


@pytest.fixture
def catalog(catalog: Catalog) -> Catalog:
    """conftest's fresh catalog (SQLite, then PostgreSQL) holding this module's posts."""
    load_posts(catalog)
    return catalog


def found(cat: Catalog, q: str, **kw: Any) -> list[str]:
    """Ids found for `q`, newest archived first unless `sort` is given."""
    res = cat.search(q, **{"sort": "captured", **kw})
    assert res.total == len(res.hits) or "limit" in kw
    return [h["post_id"] for h in res.hits]


# --- each construct, on both backends ---------------------------------------------------------------
@pytest.mark.parametrize(("q", "expected"), [
    ("summit", ["34", "33", "32"]),
    ("summit -rally", ["33", "32"]),
    ('summit -"no summit"', ["33", "32"]),
    ('summit -"summit no"', ["34", "33", "32"]),  # the words of an excluded phrase apart do not exclude
    ("summit -(capital today)", ["33", "32"]),
    ("rally OR lavrov", ["35", "34", "31"]),
    ("rally OR lavrov OR leaders", ["35", "34", "33", "31"]),
    ("summit (rally OR leaders)", ["34", "33"]),
    ("summit rally OR leaders", ["34", "33"]),  # OR binds tighter than the AND of juxtaposition
    ("(summit rally) OR lavrov", ["34", "31"]),
    ("summit AND leaders", ["33"]),
    ("summ*", ["34", "33", "32"]),
    ("jaish* lav*", ["31"]),
    ('"meets lav"*', ["31"]),
    ('"meets lav*"', ["31"]),  # a '*' ending a phrase's last word is the same prefix
    ('"Jaishankar meets Lav*" -"no summit"', ["31"]),
    ('"*modi" OR rally', ["35", "34"]),  # any other '*' in quotes is punctuation, as the quote asks
    ('"नया आयाम"', ["35", "31"]),
    ('"आयाम नया"', []),
    ('"नया आयाम" -photo', ["31"]),
    ("संबं*", ["31"]),
    ('"في القاهرة"', ["32"]),
    ('"بِكُم في القاهرة"', ["32"]),  # with diacritics, as typed from a keyboard that adds them
    ('"القاهرة في"', []),
    ("القاه* OR आयाम", ["35", "32", "31"]),
    ("from:ani", ["35", "31"]),
    ("@ANI rally", ["35"]),
    ("from:desk -rally", ["33"]),
    ("provider:instagram", ["35"]),
    ("provider:twitter rally", ["34"]),
    ("provider:twitter -summit", ["31"]),  # exclusions next to a filter alone
    ("lang:en", ["34", "33"]),  # en also finds en-GB
    ("lang:EN-gb", ["33"]),
    ("lang:hi -rally", ["31"]),
    ("status:deleted", ["34"]),
    ("status:archived summit", ["33", "32"]),
    ("rally !!! —", ["35", "34"]),  # punctuation beside words is not searched
    ("https://t.co/xyz", []),  # a URL is words, not an unknown filter
])
def test_each_construct_on_both_backends(catalog: Catalog, q: str, expected: list[str]) -> None:
    assert found(catalog, q) == expected


def test_a_filter_in_q_and_its_field_both_hold(catalog: Catalog) -> None:
    assert found(catalog, "from:ani", handle="@ANI") == ["35", "31"]
    assert found(catalog, "from:ani", handle="desk") == []
    assert found(catalog, "from:ani from:desk") == []
    assert found(catalog, "provider:instagram", provider="twitter") == []
    assert found(catalog, "provider:twitter", provider="twitter") == ["34", "33", "32", "31"]
    assert found(catalog, "status:deleted", status=["archived"]) == []
    assert found(catalog, "status:deleted", status=["archived", "deleted"]) == ["34"]
    assert found(catalog, "rally", handle="desk") == ["34"]


def test_sort_orders(catalog: Catalog) -> None:
    everything = ["35", "34", "33", "32", "31"]
    assert found(catalog, "", sort=None) == everything  # no words: newest archived first
    assert found(catalog, "from:ani", sort=None) == ["35", "31"]
    assert found(catalog, "", sort="posted") == ["33", "31", "32", "35", "34"]  # undated last
    assert found(catalog, "summit", sort="posted") == ["33", "32", "34"]
    assert found(catalog, "", sort="relevance") == everything  # nothing to rank: newest archived
    # With words, relevance is the default: three "summit"s in a short post come first on both backends.
    for sort in (None, "relevance"):
        hits = found(catalog, "summit", sort=sort)
        assert hits[0] == "33" and sorted(hits) == ["32", "33", "34"]
    assert found(catalog, "summit", sort="captured") == ["34", "33", "32"]
    assert found(catalog, "summit", sort="relevance", limit=1, offset=1)[0] in ("32", "34")
    with pytest.raises(InputError, match="sort: expected one of relevance, posted or captured, not 'best'"):
        catalog.search("summit", sort="best")


# --- errors ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("q", "says"), [
    ('"unterminated phrase', "unbalanced quote: '\"unterminated phrase' has no closing \""),
    ("summit OR", "OR needs a word"),
    ("OR summit", "OR needs a word"),
    ("summit OR OR rally", "OR needs a word"),
    ("summit AND", "AND needs a word"),
    ("summit - rally", "'-' alone"),
    ("-", "'-' alone"),
    ("!!! ... ?", "has no word to search"),
    ('""', "has no word to search"),
    ("-summit -rally", "only leaves out"),
    ("a*", "a prefix needs at least 2 characters"),
    ('"meets l"*', "a prefix needs at least 2 characters"),
    ("*", "a '*' only ends a word"),
    ("*modi", "a '*' only ends a word"),
    ("modi*rally", "a '*' only ends a word"),
    ("modi**", "a '*' only ends a word"),
    ("NEAR(modi rally)", "NEAR is not search syntax"),
    ("modi NOT rally", "NOT is not an operator"),
    ("ANI || evil", "use OR between the alternatives"),
    ("ANI||evil", "use OR"),
    ("ANI && evil", "use a space (a b), or AND"),
    ("+ANI", "drop the '+'"),
    ("summit +rally", "drop the '+'"),
    ("!ANI", "use -word"),
    ("rally~", "no fuzzy or proximity"),
    ("rally~2", "no fuzzy or proximity"),
    ("~rally", "no fuzzy or proximity"),
    ('"meets lavrov"~3', "no proximity or boost"),
    ("rally^2", "no boosting"),
    ('"a b"^2', "no proximity or boost"),
    ("modi NEAR rally", "use a \"phrase\""),
    ("modi NEAR/3 rally", "use a \"phrase\""),
    ('"AMP* tw"', "in a phrase only its last word can be a prefix"),
    ('"AMP tw*"*', "only its last word can be a prefix, with one '*'"),
    ("provider:bogus summit", "unknown provider 'bogus': one of twitter"),
    ("from:", "give the value right after the colon"),
    ("provider:Twitter!", "unknown provider 'Twitter!'"),
    ("status:gone", "expected one of archived"),
    ("lang:1", "expected a language code"),
    ("from:a/b", "expected a handle"),
    ("-from:ani summit", "a filter cannot be excluded"),
    ("summit OR from:ani", "cannot be part of an OR"),
    ("from:ani OR summit", "cannot be part of an OR"),
    ("(from:ani summit)", "not inside ( )"),
    ("summit OR -rally", "cannot be part of an OR"),
    ("(summit", "a '(' has no closing ')'"),
    ("summit ()", "() holds nothing"),
    ("summit (-rally)OR x", "cannot be part of an OR"),
    ("x -(-rally)", "exclusions alone"),
    ("((((((x))))))", "too many parentheses"),
    (" ".join(f"w{i}" for i in range(MAX_TERMS + 1)), f"at most {MAX_TERMS}"),
])
def test_each_error_is_one_line(q: str, says: str) -> None:
    with pytest.raises(InputError) as err:
        parse_search(q)
    message = str(err.value)
    assert says in message and "\n" not in message and len(message) < 200, message
    with pytest.raises(InputError, match=r"^q: "):
        SearchQuery.parse({"q": q})


def test_errors_quote_the_input_cut_and_flat() -> None:
    with pytest.raises(InputError) as err:
        parse_search('"' + "ब" * 300 + "\n\x1b[31m")
    message = str(err.value)
    assert f"'\"{'ब' * (SHOWN - 2)}…'" in message and "\x1b" not in message and "\n" not in message
    with pytest.raises(InputError, match="at most 500 characters"):
        SearchQuery.parse({"q": "x" * 501})


def test_empty_lists_every_post_and_the_syntax_is_documented() -> None:
    assert parse_search("") == parse_search("   ") == Parsed()
    for construct in ('"exact phrase"', "-word", "OR", "prefix*", "from:handle", "@handle", "provider:",
                      "lang:", "status:", "relevance", "posted", "captured"):
        assert construct in SYNTAX_HELP
    readme = (Path(__file__).parent.parent / "README.md").read_text("utf-8")
    assert "## Search syntax" in readme


# --- the same on every face ---------------------------------------------------------------------------
FACE_CASES = [
    {"q": "summit -rally"},
    {"q": "rally OR lavrov", "sort": "posted"},
    {"q": '"नया आयाम"'},
    {"q": '"في القاهرة"'},
    {"q": "from:desk summ*"},
    {"q": "provider:twitter -summit", "sort": "captured"},
    {"q": "summit", "sort": "relevance"},
    {"q": "status:deleted"},
]


def test_cli_api_and_page_give_the_same_hits(faces: Faces) -> None:  # noqa: F811
    load_posts(faces.rt.catalog)
    for filters in FACE_CASES:
        expected = [h["post_id"] for h in faces.rt.catalog.search(SearchQuery(**filters)).hits]
        assert expected, filters
        twitter = [i for i in expected if i != "35"]  # the page's links the test reads are twitter's
        got = {"cli": faces.by_cli(filters), "api": faces.by_api(filters), "page": faces.by_page(filters)}
        assert got == {"cli": expected, "api": expected, "page": twitter}, filters


@pytest.mark.parametrize(("q", "says"), [
    ('"unbalanced', "unbalanced quote"),
    ("!!!", "has no word to search"),
    ("-summit", "only leaves out"),
    ("a*", "a prefix needs at least 2"),
    ("a^2", "no boosting"),
    ("modi*rally", "only ends a word"),
    ("provider:bogus", "unknown provider"),
    ("x" * 501, "is 501 characters long"),
])
def test_a_query_that_does_not_parse_is_one_line_on_every_face(faces: Faces, q: str, says: str) -> None:  # noqa: F811
    code, out, err = faces.cli(["search", "--", q])  # after --: a query may start with -
    assert (code, out) == (2, "") and err.count("\n") == 1 and "query: " in err and says in err, err
    resp = faces.api.get("/v1/search", params={"q": q}, headers=faces.headers)
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"][0]
    assert detail["loc"][:2] == ["query", "q"] and says in detail["msg"]
    assert not detail["msg"].startswith("Value error") and f"query: {detail['msg']}" in err  # the same line
    page = faces.page.get("/search", params={"q": q})
    assert page.status_code == 400 and says in page.text.replace("&#39;", "'").replace("&#34;", '"')
    assert flag("q").positional and flag("sort").name == "--sort"


# --- fuzz: a query or an InputError, and whatever parses the backends accept ----------------------------
_PIECES = st.sampled_from(['"', "(", ")", "-", "*", " OR ", " AND ", " ", ":", "@", "from:", "provider:x",
                           "lang:hi", "status:deleted", "summit", "नया", "القاهرة", "東京", "🎉", "a", "'", "\\",
                           "!", "&", "|", "<->", "NEAR", "^", "\x00", "--", "x:y"])
QUERIES = st.one_of(st.text(max_size=60), st.lists(_PIECES, max_size=14).map("".join))


def _parse_or_none(q: str) -> Parsed | None:
    try:
        return parse_search(q)
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc)
        return None


@pytest.fixture(scope="module")
def sqlite_fuzz_catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    cat = open_catalog(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'c.sqlite3'}")
    load_posts(cat)
    yield cat
    cat.close()


@settings(max_examples=400, deadline=None)
@given(q=QUERIES)
def test_fuzzed_queries_parse_or_fail_cleanly_and_fts5_accepts_them(q: str, sqlite_fuzz_catalog: Catalog) -> None:
    if _parse_or_none(q) is None:
        return
    try:
        sqlite_fuzz_catalog.search(q, sort="relevance")
    except sqlite3.Error as exc:
        raise AssertionError(f"FTS5 refused {q!r}: {exc}") from None


@pytest.fixture(scope="module")
def pg_fuzz_catalog(postgres_dsn: str) -> Iterator[Catalog]:
    cat = open_catalog(fresh_pg_dsn(postgres_dsn))
    load_posts(cat)
    yield cat
    cat.close()


@settings(max_examples=150, deadline=None)
@given(q=QUERIES)
def test_fuzzed_queries_postgres_accepts(q: str, pg_fuzz_catalog: Catalog) -> None:
    if _parse_or_none(q) is None:
        return
    try:
        pg_fuzz_catalog.search(q, sort="relevance")
    except psycopg.Error as exc:
        raise AssertionError(f"PostgreSQL refused {q!r}: {exc}") from None


def test_the_cli_json_is_the_catalogs(faces: Faces) -> None:  # noqa: F811
    load_posts(faces.rt.catalog)
    code, out, err = faces.cli(["search", "rally OR lavrov", "--sort", "posted", "--json"])
    assert code == 0, err
    hits = json.loads(out)["hits"]
    assert all("compliance" in h for h in hits)  # the API's shape: each hit with its hold/takedown state
    plain = [{k: v for k, v in h.items() if k != "compliance"} for h in hits]
    assert plain == json.loads(json.dumps(faces.rt.catalog.search("rally OR lavrov", sort="posted").to_json()))["hits"]
    # Posted newest first (post 1 of test_search's posts was posted the same second as 31), undated last.
    assert [h["post_id"] for h in hits] == ["31", "1", "35", "34"]


def test_relevance_ranks_the_newest_matches_and_the_rest_follow(catalog: Catalog,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the count cap only RANK_POOL matches (the most recently archived) are ranked; pages go on
    through the older rest, newest first: every match once, in one order, whatever the page size."""
    for i in range(12):
        catalog.record_capture(
            capture_id=f"202604{i + 1:02d}T000000Z-{i:08x}", provider="twitter", post_id=str(100 + i), url=None,
            status="archived", manifest_key=None, captured_at=f"2026-04-{i + 1:02d}T00:00:00.000Z", handle="desk",
            author="desk", text="tide " * (3 if i in (2, 9) else 1) + "report " * 8, posted_at=None, media=[])
    monkeypatch.setattr(searching, "COUNT_CAP", 5)
    monkeypatch.setattr(searching, "RANK_POOL", 4)
    whole = [h["post_id"] for h in catalog.search("tide", sort="relevance", limit=50).hits]
    newest = [str(100 + i) for i in range(11, -1, -1)]
    assert whole[0] == "109" and sorted(whole[:4]) == sorted(newest[:4])  # 109 ranked first in the pool
    assert whole[4:] == newest[4:]  # 102 had three tides but was not in the pool: it keeps its place
    for size in (1, 3, 5):
        paged = [h["post_id"] for off in range(0, 12, size)
                 for h in catalog.search("tide", sort="relevance", limit=size, offset=off).hits]
        assert paged == whole, size


def test_posted_order_past_the_count_cap_is_the_same_order(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the cap the dated posts come from a walk of the posting-date index, then the undated
    ones: every page of the same order as a full sort, whatever the page size."""
    for i in range(9):
        catalog.record_capture(
            capture_id=f"202605{i + 1:02d}T000000Z-{i:08x}", provider="twitter", post_id=str(200 + i), url=None,
            status="archived", manifest_key=None, captured_at=f"2026-05-{i + 1:02d}T00:00:00.000Z", handle="desk",
            author="desk", text="harbour news", media=[],
            posted_at=None if i % 3 == 0 else f"2025-0{1 + (i * 5) % 9}-01T00:00:00Z")
    whole = found(catalog, "harbour", sort="posted", limit=50)
    dated = sorted((i for i in range(9) if i % 3), key=lambda i: ((i * 5) % 9, i), reverse=True)
    assert whole == [str(200 + i) for i in dated] + ["206", "203", "200"]
    monkeypatch.setattr(searching, "COUNT_CAP", 2)
    for size in (1, 4, 7):
        paged = [h["post_id"] for off in range(0, 9, size)
                 for h in catalog.search("harbour", sort="posted", limit=size, offset=off).hits]
        assert paged == whole, size
    everything = [h["post_id"] for h in catalog.search("", sort="posted", limit=50).hits]  # no words: all posts
    assert everything[0] == "207" and everything[-4:] == ["206", "203", "200", "34"]  # undated last
    assert [h["post_id"] for h in catalog.search("", sort="posted", limit=3, offset=1).hits] == everything[1:4]


def test_the_provider_filter_is_case_insensitive_and_says_what_the_option_says(catalog: Catalog) -> None:
    assert parse_search("provider:TWITTER summit") == parse_search("provider:twitter summit")
    assert found(catalog, "provider:TWITTER summit") == found(catalog, "provider:twitter summit") != []
    with pytest.raises(InputError) as err:
        parse_search("provider:myspace")
    from archiver.cli.kinds import provider

    with pytest.raises(Exception) as option:  # argparse's ArgumentTypeError
        provider("myspace")
    assert str(option.value) in str(err.value)
    assert provider("Twitter") == "twitter"


def test_cli_value_errors_are_plain_words_and_a_dash_query_gets_the_hint(
        faces: Faces, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    for argv, says in ((["--limit", "0", "x"], "--limit: must be at least 1, not '0'"),
                       (["--offset", "-3", "x"], "--offset: must be at least 0, not '-3'"),
                       (["--limit", "ten", "x"], "--limit: expected a whole number, not 'ten'"),
                       (["--sort", "best", "x"], "--sort: expected one of relevance, posted or captured, not 'best'")):
        code, out, err = faces.cli(["search", *argv])
        assert (code, out) == (2, "") and err.count("\n") == 1 and says in err, (argv, err)
    from archiver.cli.main import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:  # argparse's own error: the hint is added to its one line
        main(["search", "-rally"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert "unrecognized arguments: -rally; put -- before a query that starts with -" in err, err


def test_an_export_query_selects_with_a_filter_alone_and_refuses_nothing() -> None:
    from archiver.catalog.syntax import selects_something

    assert selects_something("from:ANI") and selects_something("summit -rally")
    assert not selects_something("") and not selects_something("   ")
    with pytest.raises(InputError, match="only leaves out"):
        selects_something("-rally")


def test_pasted_text_is_words() -> None:
    # A word right before "(" is the word, then the group; an unknown name: is plain words.
    assert parse_search("modi(rally)") == parse_search("modi (rally)")
    assert parse_search("colour:red") == parse_search('"colour red"')

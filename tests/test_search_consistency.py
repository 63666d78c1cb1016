"""Search gives the same posts on SQLite (FTS5) and PostgreSQL (tsvector), whatever the script,
punctuation or filters: user words only ever match a post's words, a requested sort holds with
every filter, control characters and NULs index alike, typographic quotes make phrases, handles
in any Unicode form are found, emoticons are punctuation, the provider field reads as the
provider: filter, emoji flags and ZWJ sequences are whole tokens and letters are folded as ICU
folding does."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import pytest

from archiver.catalog import search as searching
from archiver.catalog.backend import open_catalog
from archiver.catalog.core import Catalog
from archiver.catalog.query import SearchQuery
from archiver.catalog.syntax import parse_search
from archiver.catalog.text import handle_norm, normalize, tokenize, whole_char
from archiver.errors import InputError
from tests.test_search_query import Faces, faces  # noqa: F401 (the fixture)


def post(cat: Catalog, post_id: str, text: str, *, day: int, handle: str = "desk", posted_at: str | None = None,
         provider: str = "twitter") -> None:
    """Record a post captured on 2026-05-`day` (ids, and so the captured order, follow the day)."""
    cat.record_capture(
        capture_id=f"202605{day:02d}T000000Z-{day:08x}", provider=provider, post_id=post_id, url=None,
        status="archived", manifest_key=f"posts/{provider}/{post_id}/c.json",
        captured_at=f"2026-05-{day:02d}T00:00:00.000Z", handle=handle, author="Desk", text=text,
        posted_at=posted_at, lang=None, media=[])


def found(cat: Catalog, q: str = "", **kw: Any) -> list[str]:
    return [h["post_id"] for h in cat.search(q, **{"sort": "captured", **kw}).hits]


# --- 1. user words never match the handle -------------------------------------------------------
def test_words_match_a_posts_words_never_its_handle(catalog: Catalog) -> None:
    post(catalog, "w", "H7N9 bird flu", day=1, handle="who")
    post(catalog, "r", "market update", day=2, handle="Reuters")
    post(catalog, "a", "rally today", day=3, handle="ani")
    assert found(catalog, "h7*") == ["w"]
    assert found(catalog, "h" + b"ani".hex()) == []  # the handle's hidden token is no word
    assert found(catalog, "h" + b"reuters".hex() + "*") == []
    assert found(catalog, "market OR h" + b"ani".hex()) == ["r"]
    assert found(catalog, "from:reuters -h" + b"reuters".hex()) == ["r"]  # an exclusion neither
    assert found(catalog, "update", handle="reuters") == ["r"]  # the handle filter still finds it
    assert found(catalog, "desk") == ["a", "r", "w"]  # the author's name is words, as before


# --- 2. a requested sort holds with date filters ----------------------------------------------------
@pytest.mark.parametrize("cap", [1000, 1])  # below the count cap, and past it (the backend's walk)
def test_a_requested_sort_holds_with_date_filters(catalog: Catalog, monkeypatch: pytest.MonkeyPatch,
                                                  cap: int) -> None:
    monkeypatch.setattr(searching, "COUNT_CAP", cap)
    # Captured a, b, c in this order; posted May, March, April.
    for day, (pid, posted) in enumerate((("a", "2025-05-01"), ("b", "2025-03-01"), ("c", "2025-04-01")), 1):
        post(catalog, pid, "rally in town", day=day, posted_at=f"{posted}T00:00:00Z")
    since = {"posted_since": "2025-01-01"}, {"captured_since": "2026-01-01"}
    for dates in since:
        for q in ("rally", "", "from:desk", "from:desk rally"):
            assert found(catalog, q, sort="captured", **dates) == ["c", "b", "a"], (q, dates)
            assert found(catalog, q, sort="posted", **dates) == ["a", "c", "b"], (q, dates)
            assert found(catalog, q, sort="captured", limit=1, offset=1, **dates) == ["b"], (q, dates)
    # No sort asked for and no words: newest first by the date filtered on.
    assert found(catalog, posted_since="2025-01-01", sort=None) == ["a", "c", "b"]
    assert found(catalog, captured_since="2026-01-01", sort=None) == ["c", "b", "a"]


# --- 3. control characters and NUL ------------------------------------------------------------------
def test_control_characters_and_nul_index_alike_on_both_backends(catalog: Catalog) -> None:
    post(catalog, "n", "hello\x00world nul", day=1)
    post(catalog, "f", "good\ufffdbye\x07bell", day=2)
    assert found(catalog, '"hello world"') == ["n"]
    assert found(catalog, '"good bye bell"') == ["f"]
    for q in ("\ufffd", "\x00", "\x07 \x00"):
        with pytest.raises(InputError, match="no word to search"):
            catalog.search(q)
    assert tokenize("a\x00b") == tokenize("a\ufffdb") == tokenize("a\x1fb") == tokenize("a\x85b") == ["a", "b"]


# --- 4. typographic quotes --------------------------------------------------------------------------
@pytest.mark.parametrize(("opening", "closing"), [
    ("\u201c", "\u201d"), ("\u201e", "\u201c"), ("\u201e", "\u201d"), ("\u201d", "\u201d"), ("\u201f", "\u201d"),
    ("\u00ab", "\u00bb"), ("\u00bb", "\u00ab"), ("\u2039", "\u203a"), ("\u300c", "\u300d"), ("\u300e", "\u300f"),
    ("\u301d", "\u301e"), ("\uff02", "\uff02"), ("\uff62", "\uff63"), ("\ufe41", "\ufe42"),
])
def test_typographic_quotes_make_phrases(opening: str, closing: str) -> None:
    assert parse_search(f"modi -{opening}red fox{closing}") == parse_search('modi -"red fox"')
    assert parse_search(f"{opening}meets lav{closing}* x") == parse_search('"meets lav"* x')
    assert parse_search(f"a{opening}b c{closing}") == parse_search('a "b c"')
    with pytest.raises(InputError, match="unbalanced quote"):
        parse_search(f"modi {opening}red fox")


def test_apostrophes_stay_inside_words_and_quotes_hold_each_other() -> None:
    assert parse_search("don\u2019t O\u2019Brien") == parse_search("don't O'Brien")
    assert parse_search('"a \u00ab b" c') == parse_search('"a b" c')  # an ASCII " closes only at "
    assert parse_search('\u201ca " b\u201d') == parse_search('"a b"')


def test_a_typographic_phrase_finds_what_the_ascii_one_finds(catalog: Catalog) -> None:
    post(catalog, "1", "modi says red fox", day=1)
    post(catalog, "2", "modi: the fox is red", day=2)
    assert found(catalog, "modi -\u201cred fox\u201d") == found(catalog, 'modi -"red fox"') == ["2"]
    assert found(catalog, "\u300cred fox\u300d") == ["1"]


# --- 5. handles in the forms the catalog stores -------------------------------------------------------
def test_from_finds_every_handle_the_catalog_stores(catalog: Catalog) -> None:
    handles = {"m": "observer@social.example", "h": "मोदी_समाचार", "j": "J\u00f6rg", "t": "\u0130stanbulNews",
               "d": "Jo\u0308rg2"}
    for day, (pid, handle) in enumerate(handles.items(), 1):
        post(catalog, pid, "news of the day", day=day, handle=handle)
    for q, pid in (("from:observer@social.example", "m"), ("@observer@social.example", "m"),
                   ("from:@Observer@Social.Example news", "m"), ("from:मोदी_समाचार", "h"),
                   ("from:jo\u0308rg", "j"), ("from:J\u00d6RG", "j"), ("from:\u0130stanbulNews", "t"),
                   ("@\u0130STANBULNEWS news", "t"), ("from:j\u00f6rg2", "d")):
        assert found(catalog, q) == [pid], q
    assert found(catalog, handle="Jo\u0308rg") == found(catalog, handle="@J\u00f6rg") == ["j"]
    assert found(catalog, "news", handle="J\u00f6rg2") == ["d"]
    assert handle_norm("\uff2a\u00f6rg") == handle_norm("Jo\u0308rg") == "j\u00f6rg"
    long = "u" * 64 + "@" + "host-" * 45 + "example"  # Mastodon: a 64-character user at a long host
    post(catalog, "long", "news", day=9, handle=long)
    assert found(catalog, f"from:{long}") == found(catalog, handle=long) == ["long"]
    for bad in ("from:a/b", "from:a'b", "from:a#b", "from:a\u00a9"):
        with pytest.raises(InputError, match="expected a handle"):
            parse_search(bad)


# --- 6. emoticons and stray parentheses are punctuation ----------------------------------------------
@pytest.mark.parametrize(("q", "same_as"), [
    ("smile :-)", "smile"), ("thanks :)", "thanks"), ("item 1) done", "item 1 done"), ("sad :( day", "sad day"),
    ("(: hi ;-) x:", "hi x"), ("a (b c)) d", "a b c d"), ("summit)", "summit"), (":-( rally", "rally"),
    ("RT @ANI: Modi", "RT from:ani Modi"), ("@ANI, modi", "from:ANI modi"), ("from:ANI: modi", "from:ani modi"),
    ('"smile :-)"', '"smile"'), ("a -(b c) :)", "a -(b c)"), ("(happy :-)) OR sad", "(happy) OR sad"),
    ("-(x :-))) y", "-(x) y"),
])
def test_emoticons_and_unmatched_closing_parentheses_are_punctuation(q: str, same_as: str) -> None:
    assert parse_search(q) == parse_search(same_as)


@pytest.mark.parametrize(("q", "says"), [
    ("(summit", "a '(' has no closing ')'"), ("summit ()", "() holds nothing"), ("-( x", "no closing ')'"),
    ("@:", "no word to search"),
])
def test_groups_still_need_closing(q: str, says: str) -> None:
    with pytest.raises(InputError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_search(q)


def test_emoticons_search_the_words_beside_them(catalog: Catalog) -> None:
    post(catalog, "1", "RT smile for the rally", day=1, handle="ani")
    assert found(catalog, "smile :-)") == found(catalog, "RT @ANI: smile") == ["1"]


# --- 7. the provider field reads as the provider: filter --------------------------------------------
def test_the_provider_field_is_the_query_texts_provider() -> None:
    assert SearchQuery.parse({"provider": "Mastodon"}).provider == "mastodon"
    assert SearchQuery(provider="TWITTER").provider == "twitter"
    with pytest.raises(InputError) as field_err:
        SearchQuery.parse({"provider": "foo"})
    with pytest.raises(InputError) as text_err:
        parse_search("provider:foo")
    assert "provider: unknown provider 'foo': one of twitter" in str(field_err.value)
    assert str(field_err.value).removeprefix("provider: ") in str(text_err.value)


def test_the_api_takes_a_provider_in_any_case_and_refuses_an_unknown_one(faces: Faces) -> None:  # noqa: F811
    twitter = faces.by_api({"q": "jaishankar", "provider": "twitter"})
    assert twitter and faces.by_api({"q": "jaishankar", "provider": "Twitter"}) == twitter
    assert faces.by_api({"q": "jaishankar provider:TWITTER"}) == twitter
    resp = faces.api.get("/v1/search", params={"q": "rally", "provider": "foo"}, headers=faces.headers)
    assert resp.status_code == 422 and "unknown provider 'foo': one of twitter" in resp.text
    assert "pattern" not in resp.text


# --- 8. flags are whole tokens; a ZWJ sequence is its emoji next to each other -----------------------------
def test_flags_and_emoji_sequences_are_whole_tokens(catalog: Catalog) -> None:
    assert tokenize("\U0001f1fa\U0001f1f8\U0001f1e6\U0001f1fa") == ["\U0001f1fa\U0001f1f8", "\U0001f1e6\U0001f1fa"]
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
    # A ZWJ sequence is its emoji next to each other: one of them finds the sequences holding it.
    assert tokenize(f"x{family}y") == ["x", "\U0001f468", "\U0001f469", "\U0001f467", "\U0001f466", "y"]
    assert tokenize("\U0001f469\U0001f3fd\u200d\U0001f4bb \u2764\ufe0f \U0001f44d\U0001f3fd") == [
        "\U0001f469", "\U0001f4bb", "\u2764", "\U0001f44d"]  # skin tones and presentation do not count
    assert whole_char("\U0001f1fa\U0001f1f8") and whole_char(family) and not whole_char("ab")
    post(catalog, "us-au", "flags \U0001f1fa\U0001f1f8\U0001f1e6\U0001f1fa", day=1)
    post(catalog, "sa", "flag \U0001f1f8\U0001f1e6", day=2)
    post(catalog, "fam", f"family {family}", day=3)
    post(catalog, "mum", "mum \U0001f469\u200d\U0001f467", day=4)
    assert found(catalog, "\U0001f1f8\U0001f1e6") == ["sa"]
    assert found(catalog, "\U0001f1e6\U0001f1fa") == ["us-au"]
    assert found(catalog, "\U0001f469\u200d\U0001f467") == ["mum", "fam"]  # the pair is inside the family too
    assert found(catalog, family) == ["fam"]
    assert found(catalog, "\U0001f468") == ["fam"]
    assert found(catalog, "\U0001f1f8\U0001f1e6*") == ["sa"]  # a whole token: nothing to widen


# --- 9. folding -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("stored", "typed"), [
    ("\u0130STANBUL", "istanbul"), ("D\u0130YARBAKIR", "diyarbak\u0131r"), ("diyarbakir", "D\u0130YARBAKIR"),
    ("\u0391\u0398\u0397\u039d\u0391", "\u0391\u03b8\u03ae\u03bd\u03b1"),
    ("\u039f\u03b4\u03c5\u03c3\u03c3\u03ad\u03b1\u03c2", "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03b1\u03c2"),
    ("\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd", "\u05e9\u05dc\u05d5\u05dd"),
    ("1234", "\u0967\u0968\u0969\u096a"), ("\u0663\u0664\u0665", "345"), ("\u06f4\u06f5\u06f6", "\u0664\u0665\u0666"),
    ("\u06a9\u062a\u0627\u0628\u200c\u0647\u0627", "\u06a9\u062a\u0627\u0628"), ("caf\u00e9", "CAFE"),
])
def test_folding_finds_every_spelling(catalog: Catalog, stored: str, typed: str) -> None:
    post(catalog, "1", f"news {stored} today", day=1)
    post(catalog, "2", "other news", day=2)
    assert found(catalog, typed) == ["1"]
    assert found(catalog, f'"news {typed}"') == ["1"]


def test_folding_keeps_the_marks_that_are_letters() -> None:
    assert tokenize("नमस्ते क़िला") == ["नमस्ते", "क़िला"]  # Devanagari vowel signs, virama and nukta stay
    assert tokenize("が ガ") == ["が", "が"]  # dakuten stay; katakana folds to hiragana
    assert normalize("\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd \u05be") == "\u05e9\u05dc\u05d5\u05dd \u05be"
    assert tokenize("\u0915\u094d\u200c\u0937") == ["\u0915\u094d\u0937"]  # a ZWNJ outside Arabic script: dropped


# --- 10. on SQLite the full-text match drives a search with filters --------------------------------
def test_sqlite_walks_the_full_text_matches_first(tmp_path: Path) -> None:
    """With a provider or status filter next to words, the FTS5 matches are the outer loop: each match's
    post is looked up by id, rather than every post of the provider tested against the words."""
    cat = open_catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    for day in range(1, 6):
        post(cat, str(day), "서울 東 北 rally", day=day, provider="facebook" if day % 2 else "twitter")
    conn = cat.backend.connect()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        for sort in ("relevance", "captured", "posted"):
            assert found(cat, 'provider:facebook status:archived "서울 東 北"', sort=sort) != []
    finally:
        conn.set_trace_callback(None)
    matching = [s for s in statements if "MATCH" in s and not s.lstrip().upper().startswith("EXPLAIN")]
    assert matching
    for sql in matching:
        plan = [r["detail"] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        scans = [d for d in plan if d.startswith(("SCAN", "SEARCH"))]
        assert "VIRTUAL TABLE" in scans[0], (sql, plan)
    cat.close()


def test_a_text_in_any_normal_form_folds_alike() -> None:
    """Folding is per character once text is NFKC and case-folded: NFD and NFC spellings of a text
    give the same words, and folded text folds to itself (the scripts with accents, points, digits
    and emoji, every character alone and after a letter)."""
    blocks = ((0x0000, 0x3000), (0xAC00, 0xAD00), (0xFB00, 0xFFFF), (0x1D400, 0x1D800), (0x1F000, 0x1FB00))
    chars = [chr(cp) for a, b in blocks for cp in range(a, b)]
    for joiner in (" ", "a"):
        s = joiner.join(chars)
        folded = normalize(s)
        assert normalize(unicodedata.normalize("NFD", s)) == folded == normalize(folded), repr(joiner)

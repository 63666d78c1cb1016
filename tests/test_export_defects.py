"""Export and verify defects: bundles archiver makes verify, search exports never drop posts silently,
tampered storage is not signed as good, lenient TSA replies, strict packages, CLI output paths."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from archiver.cli.demo import run_demo
from archiver.compliance.evidence import export_bundle, verify_bundle
from archiver.runtime import Runtime

ODD_ID = "1900000000000000016"


def _demo(settings: Any, tmp_path: Path, tweets: list[dict[str, Any]], article_id: str = "art") -> None:
    article = tmp_path / "art.html"
    article.write_text("<h1>A</h1>\n" + "".join(
        f'<blockquote class="twitter-tweet"><p>t</p>&mdash; {t["handle"]} '
        f'<a href="https://twitter.com/{t["handle"]}/status/{t["id"]}">July 1, 2025</a></blockquote>\n'
        for t in tweets), encoding="utf-8")
    path = tmp_path / "tweets.json"
    path.write_text(json.dumps(tweets), encoding="utf-8")
    assert run_demo(settings, as_json=True, out=io.StringIO(), article_path=str(article),
                    tweets_path=str(path), article_id=article_id) == 0


def _export(settings: Any, tmp_path: Path, posts: list[tuple[str, str]], name: str = "x.wacz") -> Path:
    out = tmp_path / name
    with Runtime.from_settings(settings) as rt, out.open("w+b") as fh:
        export_bundle(rt, None, posts, fh)
    return out


def test_a_stated_date_the_id_contradicts_still_verifies(tmp_settings: Any, tmp_path: Path) -> None:
    """Capture shows the id's time when the stated created_at disagrees; the verifier re-derives it by
    the same rule, so the fresh bundle verifies (and a changed created_at_snowflake does not)."""
    settings = tmp_settings()
    _demo(settings, tmp_path, [{"id": ODD_ID, "handle": "odd", "name": "Odd", "text": "odd date",
                                "lang": "en", "created_at": "2025-07-17T10:00:00Z"}])
    bundle = _export(settings, tmp_path, [("twitter", ODD_ID)])
    result = verify_bundle(bundle)
    assert result.ok, result.problems


# --- exports of a search: every match, or refused; never cut silently ------------------------------------
WORDY = [{"id": f"19000000000000001{n}", "handle": f"wordy{n}", "name": f"Wordy {n}", "text": f"bigword number {n}",
          "lang": "en"} for n in range(3)]


def _wordy(tmp_settings: Any, tmp_path: Path) -> Any:
    settings = tmp_settings(broker_url="")
    _demo(settings, tmp_path, WORDY)
    return settings


def _cli_export(settings: Any, *argv: str) -> int:
    from archiver.cli.access import cmd_export
    from archiver.cli.main import build_parser

    return cmd_export(build_parser().parse_args(["export", *argv]), settings)


def _members(bundle: Path | bytes) -> dict[str, bytes]:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(bundle) if isinstance(bundle, bytes) else bundle) as zf:
        return {n: zf.read(n) for n in zf.namelist() if n.startswith("docs/")}


def test_a_cli_search_export_pages_through_every_match_and_records_it(
        tmp_settings: Any, tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    settings = _wordy(tmp_settings, tmp_path)
    monkeypatch.setattr("archiver.compliance.evidence.SEARCH_PAGE", 1)  # one hit a page: the export pages through
    out = tmp_path / "q.wacz"
    assert _cli_export(settings, "--query", "bigword", "-o", str(out)) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["posts"], summary["matched"], summary["exported"]) == (3, 3, 3)
    docs = _members(out)
    meta = json.loads(docs["docs/export.json"])
    assert meta["search_result"] == {"matched": 3, "exported": 3, "cut": False}
    assert "The search matched 3 post(s); all 3 are exported" in docs["docs/README.txt"].decode()
    with Runtime.from_settings(settings) as rt:
        from archiver.compliance import audit
        event = audit.list_events(rt, None, 5, action="export")[0]
    assert event["detail"]["matched"] == 3 and event["detail"]["query"]["matched"] == 3, event
    assert verify_bundle(out).ok


def test_a_search_matching_more_than_the_bound_is_refused_with_the_count(
        tmp_settings: Any, tmp_path: Path, monkeypatch: Any) -> None:
    import pytest

    from archiver.errors import InputError

    settings = _wordy(tmp_settings, tmp_path)
    monkeypatch.setattr("archiver.compliance.evidence.MAX_EXPORT_POSTS", 2)
    with pytest.raises(InputError, match=r"the search matches 3 posts; an export holds at most 2"):
        _cli_export(settings, "--query", "bigword", "-o", str(tmp_path / "q.wacz"))
    assert not (tmp_path / "q.wacz").exists()


def test_the_api_and_the_form_export_every_match_or_refuse(tmp_settings: Any, tmp_path: Path,
                                                          monkeypatch: Any) -> None:
    from tests.apikit import api

    settings = _wordy(tmp_settings, tmp_path)
    monkeypatch.setattr("archiver.compliance.evidence.SEARCH_PAGE", 1)
    with api(settings) as a:
        resp = a.call("compliance", "POST", "/v1/exports", json={"search": {"q": "bigword", "limit": 1000}})
        assert resp.status_code == 200, resp.text
        meta = json.loads(_members(resp.content)["docs/export.json"])
        assert meta["search_result"]["matched"] == 3 and len(meta["posts"]) == 3
        client = a.client
        assert client.post("/login", data={"token": a.tokens["compliance"], "next": "/"},
                           follow_redirects=False).status_code == 303
        csrf = client.get("/exports").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        form = client.post("/exports", data={"csrf": csrf, "q": "bigword"})
        assert form.status_code == 200, form.text
        assert json.loads(_members(form.content)["docs/export.json"])["search_result"]["matched"] == 3
        monkeypatch.setattr("archiver.compliance.evidence.MAX_EXPORT_POSTS", 2)
        resp = a.call("compliance", "POST", "/v1/exports", json={"search": {"q": "bigword"}})
        assert resp.status_code in (400, 422) and "matches 3 posts" in resp.text, resp.text
        again = client.post("/exports", data={"csrf": csrf, "q": "bigword"})
        assert again.status_code == 400 and "matches 3 posts" in again.text


# --- tampered storage is refused, never signed as good ---------------------------------------------------
def test_an_export_of_a_tampered_manifest_is_refused_and_audited(tmp_settings: Any, tmp_path: Path) -> None:
    import pytest

    from archiver.compliance import audit
    from archiver.errors import InputError

    settings = tmp_settings()
    _demo(settings, tmp_path, WORDY[:1])
    post = WORDY[0]["id"]
    with Runtime.from_settings(settings) as rt:
        key = next(k for k in rt.store.list(f"posts/twitter/{post}/") if k.endswith(".json")
                   and not k.endswith(".timestamps.json"))
        doc = json.loads(rt.store.get(key))
        doc["text"] = "words the post never said"
        rt.store.put(key, json.dumps(doc).encode(), content_type="application/json")
    out = tmp_path / "t.wacz"
    with pytest.raises(InputError, match=r"does not verify against its own WARC.*nothing was exported or signed"):
        _export(settings, tmp_path, [("twitter", post)], "t.wacz")
    with Runtime.from_settings(settings) as rt:
        assert audit.list_events(rt, None, 5, action="export_refused")[0]["target"] == f"twitter/{post}"
    del out


# --- a TSA reply whose certificate set is not in DER order ---------------------------------------------
def _unsorted(token: bytes) -> bytes:
    """The token with its SignedData certificates [0] in the reverse of DER's order (as OpenSSL 3.0
    sends a `certs=` chain): only the unsigned set moves."""
    def _tlv(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
        tag, first, pos = buf[pos], buf[pos + 1], pos + 2
        n = first & 0x7F if first & 0x80 else 0
        length = int.from_bytes(buf[pos:pos + n], "big") if n else first
        return tag, pos + n, pos + n + length

    def _children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
        out = []
        while start < end:
            tag, content, stop = _tlv(buf, start, end)
            out.append((tag, start, content, stop))
            start = stop
        return out

    _, start, end = _tlv(token, 0, len(token))
    info = _children(token, *_children(token, start, end)[1][2:4])
    signed = _children(token, *_children(token, *info[1][2:4])[0][2:4])
    _tag, _, content, stop = next(e for e in signed if e[0] == 0xA0)
    members = sorted((token[p:q] for _, p, _, q in _children(token, content, stop)), reverse=True)
    assert len(members) == 2
    return token[:content] + b"".join(members) + token[stop:]


def test_a_token_whose_certificate_set_is_unsorted_is_accepted_and_still_verified() -> None:
    import hashlib

    import pytest

    from archiver.compliance.timestamps import TsaError, check_token
    from tests.harness.tsa import LocalTSA, openssl_verify

    root = hashlib.sha256(b"export defects").digest()
    with LocalTSA("unsorted-set test TSA", chain=True) as tsa:
        token = tsa.reply(tsa.query_for(root.hex()))
        odd = _unsorted(token)
        assert odd != token
        assert openssl_verify(root.hex(), odd, tsa.ca_file)[0]  # OpenSSL accepts it: so must we
        info = check_token(odd, root, [tsa.ca_pem])[1]
        assert info.signature_checked is not False
        with pytest.raises(TsaError, match=r"does not verify|is over"):  # still checked: another root fails
            check_token(odd, hashlib.sha256(b"other").digest(), [tsa.ca_pem])
        broken = bytearray(odd)
        broken[-5] ^= 0xFF  # inside the signature
        with pytest.raises(TsaError):
            check_token(bytes(broken), root, [tsa.ca_pem])


# --- gaps: the bundle's hash in the audit log, partial captures said, a strict package --------------------
PARTIAL = {"id": "1900000000000000200", "handle": "partly", "name": "Partly", "text": "a photo that failed",
           "photos": [{"name": "gone", "alt": "", "width": 40, "height": 30,
                       "extra": {"media_url_https": "https://pbs.twimg.com/media/never-served.jpg"}}]}


def test_the_audit_event_holds_the_bundles_sha256_and_partial_captures_are_said(
        tmp_settings: Any, tmp_path: Path) -> None:
    import hashlib

    from archiver.compliance import audit

    settings = tmp_settings()
    _demo(settings, tmp_path, [PARTIAL])
    with Runtime.from_settings(settings) as rt:
        key = next(k for k in rt.store.list(f"posts/twitter/{PARTIAL['id']}/") if k.endswith(".json"))
        assert json.loads(rt.store.get(key))["status"] == "partial"
    bundle = _export(settings, tmp_path, [("twitter", PARTIAL["id"])])
    with Runtime.from_settings(settings) as rt:
        event = audit.list_events(rt, None, 5, action="export")[0]
    assert event["detail"]["sha256"] == hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert event["detail"]["partial"] == 1
    docs = _members(bundle)
    assert json.loads(docs["docs/export.json"])["partial"] == [key]
    assert "Partial captures (1)" in docs["docs/README.txt"].decode() and key in docs["docs/README.txt"].decode()
    assert verify_bundle(bundle).ok


def test_verify_takes_the_zip_alone_every_file_accounted_for(tmp_settings: Any, tmp_path: Path) -> None:
    import shutil
    import zipfile

    settings = tmp_settings()
    _demo(settings, tmp_path, WORDY[:1])
    bundle = _export(settings, tmp_path, [("twitter", WORDY[0]["id"])])
    assert verify_bundle(bundle).ok
    prefix = tmp_path / "prefix.wacz"
    prefix.write_bytes(b"MZ junk " * 64 + bundle.read_bytes())
    tail = tmp_path / "tail.wacz"
    tail.write_bytes(bundle.read_bytes() + b"trailing")
    comment, folder = tmp_path / "comment.wacz", tmp_path / "folder.wacz"
    for p in (comment, folder):
        shutil.copy(bundle, p)
    with zipfile.ZipFile(comment, "a") as zf:
        zf.comment = b"not evidence"
    with zipfile.ZipFile(folder, "a") as zf:
        zf.writestr("docs/more/", b"")
    for p, said in ((prefix, "bytes before the zip"), (tail, "after the zip's end"), (comment, "a zip comment"),
                    (folder, "a directory entry")):
        result = verify_bundle(p)
        assert not result.ok and any(said in line for line in result.problems), (p.name, result.problems)


# --- the CLI's output path -----------------------------------------------------------------------------
def test_the_output_path_is_checked_and_named_briefly(tmp_settings: Any, tmp_path: Path, capsys: Any) -> None:
    import pytest

    from archiver.errors import InputError

    settings = tmp_settings()
    _demo(settings, tmp_path, WORDY[:1])
    post = f"twitter/{WORDY[0]['id']}"
    with pytest.raises(InputError) as empty:
        _cli_export(settings, post, "-o", "")
    assert "directory" not in str(empty.value) and "-o ''" in str(empty.value)
    long = tmp_path / "missing-folder" / ("n" * 300 + ".wacz")
    with pytest.raises(InputError) as named:
        _cli_export(settings, post, "-o", str(long))
    assert "n" * 70 not in str(named.value) and len(str(named.value)) < 200, str(named.value)
    target = tmp_path / "earlier.wacz"
    target.write_bytes(b"an earlier bundle")
    capsys.readouterr()
    with pytest.raises(InputError, match="give --force"):  # an earlier bundle is evidence: kept
        _cli_export(settings, post, "-o", str(target))
    assert target.read_bytes() == b"an earlier bundle"
    assert _cli_export(settings, post, "-o", str(target), "--force") == 0
    assert "existed and was replaced" in capsys.readouterr().err  # never silently


def test_a_screen_name_the_capture_refuses_as_a_handle_is_not_held_against_it() -> None:
    """Capture takes a syndication screen_name as the handle only when it is one (1-15 of [A-Za-z0-9_]),
    else oEmbed's or the markup's: the verifier reads the answer by the same rule."""
    from archiver.capture.exchange import Exchange
    from archiver.capture.warc import build_warc, derive_from_warc

    body = json.dumps({"__typename": "Tweet", "id_str": "1900000000000000300", "text": "hello",
                       "created_at": "2025-03-01T00:00:00.000Z",
                       "user": {"name": "Someone", "screen_name": "../../etc", "id_str": "7"}}).encode()
    ex = Exchange("GET", "https://cdn.syndication.twimg.com/tweet-result?id=1900000000000000300&token=x",
                  {"Host": "cdn.syndication.twimg.com"}, status=200,
                  response_headers=[("Content-Type", "application/json")], body=body)
    said = derive_from_warc(build_warc([ex], capture_id="c"), "twitter")["posts"]["1900000000000000300"]
    assert said["names"][0]["value"] == "Someone" and said["handles"] == []


def test_a_bundle_written_meanwhile_under_the_same_name_is_never_replaced(tmp_settings: Any, tmp_path: Path,
                                                                         monkeypatch: Any) -> None:
    """Two exports to one new -o FILE at once: the second to finish refuses (it was an exists-check,
    then a rename over whatever the first had written)."""
    import pytest

    from archiver.cli import access
    from archiver.errors import InputError

    settings = tmp_settings()
    _demo(settings, tmp_path, WORDY[:1])
    target = tmp_path / "race.wacz"
    real = access.export_bundle

    def other_export_finishes_first(*args: Any, **kwargs: Any) -> Any:
        summary = real(*args, **kwargs)
        target.write_bytes(b"the other export's bundle")  # lands between the check and the placing
        return summary

    monkeypatch.setattr(access, "export_bundle", other_export_finishes_first)
    with pytest.raises(InputError, match="appeared while the bundle was written"):
        _cli_export(settings, f"twitter/{WORDY[0]['id']}", "-o", str(target))
    assert target.read_bytes() == b"the other export's bundle"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".archiver-export-")] == []


def test_a_capture_that_fetched_nothing_has_no_warc_and_its_bundle_verifies(tmp_settings: Any,
                                                                             tmp_path: Path) -> None:
    """A post kept only as the article showed it (unresolved: no answer fetched) has no WARC; export
    signed it and verify refused it ("its WARC is not in the bundle"). It verifies, saying what it could
    not check; a manifest that claims an answer still needs its WARC."""
    import zipfile

    from archiver.runners.local import archive

    settings = tmp_settings(fetch_retries=0, archive_deadline=10)
    page = ('<p>x</p><iframe src="https://www.facebook.com/plugins/post.php?href=https%3A%2F%2Fwww.facebook.com'
            '%2Fnews%2Fposts%2F1234567890" width="500" height="600"></iframe>')
    with Runtime.from_settings(settings) as rt:
        rep = archive(rt, page.encode(), article_id="m")
        assert [e["status"] for e in rep["embeds"]] == ["unresolved"]
    bundle = _export(settings, tmp_path, [("facebook", "1234567890")])
    result = verify_bundle(bundle)
    assert result.ok, result.problems
    assert any("no WARC: nothing was fetched" in line for line in result.not_checked)
    # The same manifest claiming it was archived must have its WARC.
    forged = tmp_path / "forged.wacz"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(forged, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".json") and b'"status": "unresolved"' in data:
                data = data.replace(b'"status": "unresolved"', b'"status": "archived"')
            dst.writestr(info, data)
    assert not verify_bundle(forged).ok


def test_a_search_export_names_the_earlier_capture_the_words_matched(
        tmp_settings: Any, tmp_path: Path, capsys: Any) -> None:
    settings = tmp_settings(broker_url="", capture_fresh_for=0)
    tweet = {"id": "1900000000000000201", "handle": "desk", "name": "Desk", "lang": "en"}
    _demo(settings, tmp_path, [{**tweet, "text": "glacier melt warning"}])
    later = tmp_path / "later"
    later.mkdir()
    _demo(settings, later, [{**tweet, "text": "all clear now"}], article_id="later")  # edited, captured again
    with Runtime.from_settings(settings) as rt:
        first = rt.catalog.captures("twitter", tweet["id"])[0]["capture_id"]
    out = tmp_path / "q.wacz"
    assert _cli_export(settings, "--query", "glacier", "-o", str(out)) == 0
    docs = _members(out)
    meta = json.loads(docs["docs/export.json"])
    assert meta["query"]["matched_captures"] == {f"twitter/{tweet['id']}": first}
    assert "1 of them matched by the words of an earlier capture" in docs["docs/README.txt"].decode()
    assert verify_bundle(out).ok
    assert _cli_export(settings, "--query", "clear", "-o", str(tmp_path / "r.wacz")) == 0
    assert json.loads(_members(tmp_path / "r.wacz")["docs/export.json"])["query"]["matched_captures"] == {}

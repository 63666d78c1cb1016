"""What Twitter shows instead of a post, long posts, quoted and replied-to copies, edits and counts
(issue 15, points 1, 2, 4, 5, 7 and 8), on the shapes of ../shared/formats/twitter-shapes.md.

Every capture goes through the fixture origin (a real loopback HTTP server), the real fetcher and
``store_capture`` into a LocalStore; each test reads the stored manifest (validated by the model and
by the checked-in v2 JSON Schema) and the stored HTML card, which says each status that is not
"archived" in the words of ``STATUS_WORDS``.
"""

from __future__ import annotations

import html
import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest

from archiver.capture.fetch import Fetcher
from archiver.capture.manifest import (
    GONE_STATUSES,
    STATUS_WORDS,
    checked_in_schema,
    related_capture_id,
    validate_manifest,
)
from archiver.capture.record import CaptureResult, store_capture
from archiver.discover.model import Embed
from archiver.providers.base import CaptureContext, occurrences_in
from archiver.providers.registry import get_provider
from archiver.providers.twitter.provider import probe
from archiver.storage.local import LocalStore
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture
from archiver.testing.shapes import tombstone_json, unavailable_json

SCHEMA = json.loads(checked_in_schema())
_IDS = itertools.count(1850000000000000101)


def _id() -> str:
    return str(next(_IDS))


@pytest.fixture(scope="module")
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(timeout_sleep=1.0) as o:
        yield o


@pytest.fixture
def env(origin: FixtureOrigin, tmp_settings: Callable[..., Any], tmp_path: Path) -> dict[str, Any]:
    settings = tmp_settings(**origin.settings_overrides(), fetch_retries=1, fetch_max_retry_after=2.0,
                            media_derivatives=False)
    return {"settings": settings, "fetcher": Fetcher(settings),
            "store": LocalStore(tmp_path / "objects", "http://127.0.0.1:1/media")}


def _add(origin: FixtureOrigin, **fields: Any) -> TweetFixture:
    fields.setdefault("id", _id())
    fields.setdefault("handle", "CoastDesk")
    fields.setdefault("name", "Coast Desk")
    fields.setdefault("text", "Dune survey day 3: the north beach lost another metre.")
    return origin.add_tweet(TweetFixture(**fields))


def _capture(env: dict[str, Any], t: TweetFixture, markup_text: str | None = None) -> CaptureResult:
    ctx = CaptureContext(settings=env["settings"], fetcher=env["fetcher"], article_id="art-15",
                         article_url="https://news.example/dunes")
    embed = Embed("twitter", t.id, f"https://twitter.com/{t.handle}/status/{t.id}", 0, 0, handle=t.handle,
                  text=markup_text if markup_text is not None else t.text, form="blockquote")
    return store_capture(get_provider("twitter").capture(occurrences_in("", [embed]), ctx), ctx, env["store"])


def _manifest(env: dict[str, Any], key: str | None) -> dict[str, Any]:
    """The stored manifest at ``key``, checked against the model and the checked-in JSON Schema."""
    assert key
    m: dict[str, Any] = json.loads(env["store"].get(key))
    validate_manifest(m)
    errors = [e.message for e in jsonschema.Draft202012Validator(SCHEMA).iter_errors(m)]
    assert errors == []
    return m


def _card(env: dict[str, Any], m: dict[str, Any]) -> str:
    return html.unescape(env["store"].get(m["cards"]["html"]).decode("utf-8"))


def _stored(env: dict[str, Any], res: CaptureResult, status: str) -> dict[str, Any]:
    """The capture's stored manifest, after checking its status, error and card."""
    m = _manifest(env, res.manifest_key)
    assert (res.status, m["status"]) == (status, status), m.get("error")
    if status == "archived":
        assert m.get("error") is None
    else:
        assert m["error"] and "\n" not in m["error"] and len(m["error"]) <= 500
        assert STATUS_WORDS[status] in _card(env, m)
    return m


def _source(m: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in m["sources"] if s["name"] == name)


# --- tombstones ----------------------------------------------------------------------------------
ENGLISH = [
    ("deleted", "This Post was deleted by the Post author. Learn more"),
    ("deleted", "This Tweet was deleted by the Tweet author. Learn more"),
    ("deleted", "This  Post\u00a0was DELETED by the post author.Learn more"),
    ("deleted", "This Post is from an account that no longer exists. Learn more"),
    ("deleted", "This Tweet is from an account that no longer exists."),
    ("suspended", "This Post is from a suspended account. Learn more"),
    ("suspended", "This Tweet is from a suspended account."),
    ("protected", "You\u2019re unable to view this Post because this account owner limits who can view their "
                  "Posts. Learn more"),
    ("protected", "You're unable to view this Tweet because this account owner limits who can view their Tweets."),
    ("violated_rules", "This Post violated the X Rules. Learn more"),
    ("violated_rules", "This Tweet violated the Twitter Rules. Learn more"),
    ("withheld", "This Post from @CoastDesk has been withheld in Germany based on local law(s). Learn more"),
    ("withheld", "This Tweet has been withheld in response to a legal demand."),
    ("age_restricted", "Age-restricted adult content. This content might not be appropriate for people under 18 "
                       "years old. To view this media, you\u2019ll need to log in to X. Learn more"),
    ("tombstoned", "This Post is unavailable. Learn more"),
    ("tombstoned", "Something about this Post changed. Learn more"),
    ("withheld", "This media has been disabled in response to a report by the copyright owner. Learn more"),
    ("suspended", "This Tweet is from an account that is temporarily restricted. Learn more"),
    ("deleted", "This Tweet is from an account that has been deactivated."),
    ("age_restricted", "This Post contains content that is only available to adults. Log in to view."),
    # The first sentence naming a state decides; the "Learn more" link text never does.
    ("deleted", "This Post was deleted by the Post author. Learn more about local laws and how they apply in "
                "your country"),
    ("suspended", "This Post is from a suspended account. X suspends accounts that violate the X Rules."),
    ("violated_rules", "This Post was deleted for violating the X Rules"),
    ("deleted", "\u202bThis\u200b Post was deleted by the Post author.\u202c\u00a0Learn more"),
]
LOCALIZED = [
    ("es", "deleted", "Este post fue eliminado por el autor del post. Más información"),
    ("es", "suspended", "Este post es de una cuenta suspendida. Más información"),
    ("es", "protected", "No puedes ver este post porque el propietario de esta cuenta limita quién puede ver sus "
                        "posts."),
    ("es", "violated_rules", "Este Tweet infringió las Reglas de Twitter. Más información"),
    ("es", "deleted", "Este post es de una cuenta que ya no existe."),
    ("fr", "deleted", "Ce post a été supprimé par son auteur. En savoir plus"),
    ("fr", "suspended", "Ce post provient d\u2019un compte suspendu. En savoir plus"),
    ("fr", "protected", "Vous ne pouvez pas voir ce post, car le propriétaire de ce compte limite qui peut voir ses "
                        "posts."),
    ("fr", "violated_rules", "Ce post enfreint les Règles de X. En savoir plus"),
    ("fr", "deleted", "Ce post provient d\u2019un compte qui n\u2019existe plus."),
    ("fr", "withheld", "Ce post de @CoastDesk a été retenu en France en réponse à une demande légale."),
    ("de", "deleted", "Dieser Post wurde vom Verfasser des Posts gelöscht. Mehr erfahren"),
    ("de", "suspended", "Dieser Post stammt von einem gesperrten Account. Mehr erfahren"),
    ("de", "protected", "Du kannst diesen Post nicht sehen, weil der Inhaber dieses Accounts einschränkt, wer seine "
                        "Posts sehen kann."),
    ("de", "violated_rules", "Dieser Post hat gegen die X Regeln verstoßen. Mehr erfahren"),
    ("de", "deleted", "Dieser Post stammt von einem Account, der nicht mehr existiert."),
    ("de", "age_restricted", "Altersbeschränkte Inhalte für Erwachsene. Melde dich an, um sie anzusehen."),
    ("pt", "deleted", "Este post foi excluído pelo autor do post. Saiba mais"),
    ("pt", "suspended", "Este post é de uma conta suspensa. Saiba mais"),
    ("pt", "protected", "Você não pode ver este post porque o proprietário desta conta limita quem pode ver os "
                        "posts."),
    ("pt", "violated_rules", "Este post violou as Regras do X. Saiba mais"),
    ("pt", "deleted", "Este post é de uma conta que não existe mais."),
    ("it", "deleted", "Questo post è stato eliminato dall\u2019autore del post. Scopri di più"),
    ("it", "suspended", "Questo post proviene da un account sospeso. Scopri di più"),
    ("it", "protected", "Non puoi visualizzare questo post perché il proprietario dell\u2019account limita chi può "
                        "visualizzare i suoi post."),
    ("it", "violated_rules", "Questo post ha violato le Regole di X."),
    ("it", "deleted", "Questo post proviene da un account che non esiste più."),
    ("ja", "deleted", "このポストはポストの作成者によって削除されました。詳細はこちら"),
    ("ja", "suspended", "このポストは凍結されたアカウントのものです。詳細はこちら"),
    ("ja", "protected", "このアカウントの所有者はポストを表示できるユーザーを制限しているため、"
                        "このポストは表示できません。"),
    ("ja", "violated_rules", "このポストはXルールに違反しています。詳細はこちら"),
    ("ja", "deleted", "このポストは存在しないアカウントのものです。"),
    ("ar", "deleted", "تم حذف هذا المنشور بواسطة كاتب المنشور. معرفة المزيد"),
    ("ar", "suspended", "هذا المنشور من حساب معلّق. معرفة المزيد"),
    ("ar", "protected", "لا يمكنك عرض هذا المنشور لأن مالك هذا الحساب يقيّد من يمكنه عرض منشوراته."),
    ("ar", "violated_rules", "انتهك هذا المنشور قواعد X. معرفة المزيد"),
    ("ar", "deleted", "هذا المنشور من حساب لم يعد موجودًا."),
    ("hi", "deleted", "इस पोस्ट को पोस्ट के लेखक ने हटा दिया था. अधिक जानें"),
    ("hi", "suspended", "यह पोस्ट एक निलंबित खाते से है. अधिक जानें"),
    ("hi", "protected", "आप यह पोस्ट नहीं देख सकते क्योंकि इस खाते का स्वामी सीमित करता है कि कौन उनकी पोस्ट देख सकता है."),
    ("hi", "violated_rules", "इस पोस्ट ने X के नियमों का उल्लंघन किया है."),
    ("hi", "deleted", "यह पोस्ट ऐसे खाते से है जो अब मौजूद नहीं है."),
    ("tr", "deleted", "Bu gönderi, gönderinin yazarı tarafından silindi. Daha fazla bilgi al"),
    ("tr", "suspended", "Bu gönderi askıya alınmış bir hesaba ait. Daha fazla bilgi al"),
    ("tr", "protected", "Bu hesabın sahibi gönderilerini kimlerin görebileceğini sınırladığı için bu gönderiyi "
                        "göremiyorsun."),
    ("tr", "violated_rules", "Bu gönderi X Kurallarını ihlal etti."),
    ("tr", "deleted", "Bu gönderi artık mevcut olmayan bir hesaba ait."),
    ("id", "deleted", "Postingan ini dihapus oleh penulis Postingan. Pelajari selengkapnya"),
    ("id", "suspended", "Postingan ini berasal dari akun yang ditangguhkan."),
    ("id", "protected", "Anda tidak dapat melihat postingan ini karena pemilik akun ini membatasi siapa yang dapat "
                        "melihat postingannya."),
    ("id", "violated_rules", "Postingan ini melanggar Peraturan X."),
    ("id", "deleted", "Postingan ini berasal dari akun yang sudah tidak ada."),
    ("ru", "deleted", "Этот пост удалён его автором. Подробнее"),
    ("ru", "suspended", "Этот пост из заблокированной учетной записи. Подробнее"),
    ("ru", "protected", "Вы не можете просмотреть этот пост, потому что владелец этой учетной записи ограничивает "
                        "круг лиц, которые могут просматривать его посты."),
    ("ru", "violated_rules", "Этот пост нарушил Правила X."),
    ("ru", "deleted", "Этот пост из учетной записи, которая больше не существует."),
    ("nl", "deleted", "Deze post is verwijderd door de auteur van de post. Meer informatie"),
    ("nl", "suspended", "Deze post is van een geschorst account. Meer informatie"),
    ("nl", "protected", "Je kunt deze post niet bekijken omdat de eigenaar van dit account beperkt wie de posts "
                        "kan zien."),
    ("nl", "violated_rules", "Deze post schendt de regels van X."),
    ("nl", "withheld", "Deze post is in Duitsland achtergehouden in reactie op een wettelijke eis."),
    ("pl", "deleted", "Ten post został usunięty przez autora posta. Dowiedz się więcej"),
    ("pl", "suspended", "Ten post pochodzi z zawieszonego konta."),
    ("pl", "violated_rules", "Ten post narusza Zasady X."),
    ("pl", "deleted", "Ten post pochodzi z konta, które już nie istnieje."),
    ("sv", "deleted", "Det här inlägget har raderats av inläggets författare. Läs mer"),
    ("sv", "suspended", "Det här inlägget kommer från ett avstängt konto."),
    ("sv", "protected", "Du kan inte se det här inlägget eftersom kontots ägare begränsar vem som kan se "
                        "inläggen."),
    ("nb", "deleted", "Dette innlegget ble slettet av forfatteren. Les mer"),
    ("nb", "suspended", "Dette innlegget er fra en suspendert konto."),
    ("da", "deleted", "Dette opslag blev slettet af opslagets forfatter. Få mere at vide"),
    ("da", "violated_rules", "Dette opslag overtræder X-reglerne."),
    ("fi", "deleted", "Julkaisun kirjoittaja on poistanut tämän julkaisun. Lue lisää"),
    ("fi", "suspended", "Tämä julkaisu on jäädytetyltä tililtä."),
    ("fi", "protected", "Et voi nähdä tätä julkaisua, koska tilin omistaja rajoittaa, ketkä voivat nähdä sen "
                        "julkaisut."),
    ("uk", "deleted", "Цей допис видалив його автор. Докладніше"),
    ("uk", "suspended", "Цей допис з призупиненого облікового запису."),
    ("uk", "violated_rules", "Цей допис порушує Правила X."),
    ("he", "deleted", "הפוסט הזה נמחק על ידי כותב הפוסט. למידע נוסף"),
    ("he", "suspended", "הפוסט הזה הוא מחשבון מושעה."),
    ("he", "protected", "אין לך אפשרות לצפות בפוסט הזה כי בעל החשבון מגביל את מי שיכול לצפות בפוסטים שלו."),
    ("th", "deleted", "โพสต์นี้ถูกลบโดยผู้เขียนโพสต์ เรียนรู้เพิ่มเติม"),
    ("th", "suspended", "โพสต์นี้มาจากบัญชีที่ถูกระงับ"),
    ("vi", "deleted", "Bài đăng này đã bị tác giả bài đăng xóa. Tìm hiểu thêm"),
    ("vi", "suspended", "Bài đăng này đến từ một tài khoản bị tạm ngưng."),
    ("vi", "violated_rules", "Bài đăng này vi phạm Quy tắc của X."),
    ("zh-Hant", "deleted", "此貼文已被貼文作者刪除。瞭解更多"),
    ("zh-Hant", "protected", "你無法查看此貼文，因為此帳戶的擁有者限制了可以查看其貼文的使用者。"),
    ("zh-Hant", "suspended", "此貼文來自已停權的帳戶。"),
    ("fa", "deleted", "این پست توسط نویسنده پست حذف شد. بیشتر بدانید"),
    ("fa", "suspended", "این پست از یک حساب تعلیق‌شده است."),
    ("fa", "age_restricted", "این پست دارای محدودیت سنی است. برای دیدن آن وارد شوید."),
    ("ur", "deleted", "اس پوسٹ کو پوسٹ کے مصنف نے حذف کر دیا۔ مزید جانیں"),
    ("ur", "suspended", "یہ پوسٹ ایک معطل اکاؤنٹ سے ہے۔"),
    ("bn", "deleted", "এই পোস্টটি পোস্টের লেখক মুছে ফেলেছেন। আরও জানুন"),
    ("bn", "suspended", "এই পোস্টটি একটি স্থগিত অ্যাকাউন্টের।"),
    ("bn", "age_restricted", "এই পোস্টটি ১৮ বছরের কম বয়সীদের জন্য নয়: প্রাপ্তবয়স্ক কন্টেন্ট।"),
    ("ms", "deleted", "Siaran ini telah dipadam oleh pengarang siaran. Ketahui lebih lanjut"),
    ("ms", "suspended", "Siaran ini daripada akaun yang digantung."),
    ("tl", "deleted", "Binura ng may-akda ang Post na ito. Alamin pa"),
    ("tl", "suspended", "Ang Post na ito ay mula sa isang account na nasuspinde."),
]


@pytest.mark.parametrize(("status", "text"), ENGLISH, ids=[f"{s}-{i}" for i, (s, _) in enumerate(ENGLISH)])
def test_a_tombstone_says_what_happened(origin: FixtureOrigin, env: dict[str, Any], status: str, text: str) -> None:
    t = _add(origin, state="tombstone", tombstone_text=text)
    m = _stored(env, _capture(env, t), status)
    assert m["tombstone"] == text  # verbatim, whatever it says
    # What the article showed is kept; each source's own answer stays in sources.
    assert m["text"] == t.text and m["text_source"] == "publisher_markup"
    assert (_source(m, "oembed")["http_status"], _source(m, "oembed")["outcome"]) == (404, "not_found")
    synd = _source(m, "syndication")
    assert (synd["http_status"], synd["outcome"], synd["data"]["tombstone"]) == (200, "tombstone", text)
    if status == "tombstoned":
        assert text in _card(env, m)


@pytest.mark.parametrize(("lang", "status", "text"), LOCALIZED,
                         ids=[f"{lang}-{s}-{i}" for i, (lang, s, _) in enumerate(LOCALIZED)])
def test_a_localized_tombstone_says_what_happened(origin: FixtureOrigin, env: dict[str, Any], lang: str,
                                                  status: str, text: str) -> None:
    t = _add(origin, state="tombstone", tombstone_text=text, lang=lang)
    m = _stored(env, _capture(env, t), status)
    assert m["tombstone"] == text


def test_a_tombstone_outranks_an_oembed_answer_and_keeps_its_text(origin: FixtureOrigin,
                                                                   env: dict[str, Any]) -> None:
    # oEmbed answers from its cache (200, the text); syndication says what readers see now.
    text = "This Post was deleted by the Post author. Learn more"
    t = _add(origin, syndication=tombstone_json(text), text="Tide tables for the week, corrected.")
    m = _stored(env, _capture(env, t, markup_text=""), "deleted")
    assert m["tombstone"] == text and m["text"] == t.text and m["text_source"] == "oembed"
    assert (_source(m, "oembed")["http_status"], _source(m, "oembed")["outcome"]) == (200, "ok")
    assert _source(m, "syndication")["outcome"] == "tombstone"


# --- TweetUnavailable ------------------------------------------------------------------------------
# Syndication's current answer outranks oEmbed's cached 200 for every TweetUnavailable: a reason that
# names a state gives it, an unknown one is "tombstoned" with the reason quoted, and "Unavailable" (or
# none) is "deleted" with oEmbed's 404 and "tombstoned" otherwise; never "archived".
@pytest.mark.parametrize(("reason", "oembed", "status"), [
    ("NsfwLoggedOut", "ok", "age_restricted"),
    ("Protected", "ok", "protected"),
    ("Suspended", "ok", "suspended"),
    ("Deactivated", "ok", "deleted"),
    ("UnavailableForLegalReasons", "ok", "withheld"),
    ("DmcaTakedown", "ok", "withheld"),
    ("Bounced", "ok", "tombstoned"),
    ("Bounced", "404", "tombstoned"),
    ("SelfThreadTweetUnavailable", "ok", "tombstoned"),
    ("Unavailable", "404", "deleted"),
    ("Unavailable", "403", "protected"),
    ("Unavailable", "ok", "tombstoned"),     # oEmbed's 200 is its cache
    ("Unavailable", "429", "tombstoned"),
    (None, "404", "deleted"),
    (None, "ok", "tombstoned"),
])
def test_each_unavailable_reason(origin: FixtureOrigin, env: dict[str, Any], reason: str | None, oembed: str,
                                 status: str) -> None:
    t = _add(origin, syndication=unavailable_json(reason))
    origin.set_behaviour(f"/oembed?url=https://twitter.com/{t.handle}/status/{t.id}", oembed, sticky=True)
    m = _stored(env, _capture(env, t), status)
    synd = _source(m, "syndication")
    assert synd["outcome"] == "unavailable" and synd["data"]["typename"] == "TweetUnavailable"
    assert synd["data"].get("reason") == reason
    assert _source(m, "oembed")["http_status"] == (200 if oembed == "ok" else int(oembed))
    if reason is not None and status != "protected":
        assert reason in m["error"]  # the platform's reason is kept, said as it is
    if oembed == "ok":  # oEmbed's text is kept as the post's text, whatever the status
        assert m["text"] == t.text and m["text_source"] == "oembed"


# --- the visibility wrapper ------------------------------------------------------------------------------
def test_a_visibility_wrapper_is_taken_off_and_its_warning_kept(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    warning = "This Post may include sensitive content. The author flagged it."
    t = _add(origin, interstitial=warning, photos=[{"name": "Wr4pP3d01.jpg", "width": 40, "height": 30}])
    m = _stored(env, _capture(env, t), "archived")
    assert m["interstitial"] == warning
    assert m["text"].startswith(t.text) and m["text_source"] == "syndication"
    assert [x["status"] for x in m["media"]] == ["archived"]
    assert _source(m, "syndication")["data"]["typename"] == "TweetWithVisibilityResults"
    assert warning in _card(env, m)


def test_a_wrapped_quoted_copy_is_unwrapped_too(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    warning = "This Post may include sensitive content."
    quoted = _add(origin, interstitial=warning, text="Rip current warning for the north beach.")
    quoting = _add(origin, quoted_id=quoted.id, text="Please read before swimming today.")
    origin.set_behaviour(f"/tweet-result?id={quoted.id}", "404", sticky=True)
    m = _stored(env, _capture(env, quoting), "archived")
    q = _manifest(env, m["quoted"]["manifest_key"])
    assert q["status"] == "archived" and q["interstitial"] == warning
    assert q["text"] == quoted.text and q["text_source"] == "quoting_post"


# --- withheld ---------------------------------------------------------------------------------------
def test_a_full_post_carrying_withheld_countries_stays_archived(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    t = _add(origin, extra={"withheld_in_countries": ["DE", "FR"]})
    m = _stored(env, _capture(env, t), "archived")
    assert m["withheld_in_countries"] == ["DE", "FR"] and m["text"] == t.text


@pytest.mark.parametrize(("given", "codes"), [
    (["IN", "TR"], ["IN", "TR"]),
    (["in", "tr"], ["IN", "TR"]),                            # upper-cased
    ("in, TR", ["IN", "TR"]),                                # one string of codes
    (["IN", "DEU", "", 5, None, "T", "tr", "in"], ["IN", "TR"]),  # two letters only, each once
    (["xx"], ["XX"]), (["XY"], ["XY"]),                      # everywhere; on a copyright claim
])
def test_a_post_whose_content_is_withheld(origin: FixtureOrigin, env: dict[str, Any], given: Any,
                                          codes: list[str]) -> None:
    tid = _id()
    body = {"__typename": "Tweet", "id_str": tid, "withheld_in_countries": given, "text": "",
            "user": {"id_str": "99", "name": "Coast Desk", "screen_name": "CoastDesk"}}
    t = _add(origin, id=tid, syndication=body)
    m = _stored(env, _capture(env, t), "withheld")
    assert m["withheld_in_countries"] == codes and ", ".join(codes) in m["error"]
    assert _source(m, "syndication")["data"]["withheld_in_countries"] == codes


# --- long posts -------------------------------------------------------------------------------------------
PREVIEW = ("Our coastal survey results are in, and the findings on dune erosion are more serious than last year's "
           "projections suggested. Over the next")
FULL = PREVIEW + (" five years the north beach could lose twelve metres. The full report, with maps for every "
                  "section of the coast, is on the council's website.")


def test_a_long_post_whose_whole_text_only_oembed_has(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    t = _add(origin, text=PREVIEW, oembed_text=FULL, extra={"note_tweet": {"id": "Tm90ZVR3ZWV0OjE="}})
    m = _stored(env, _capture(env, t, markup_text=PREVIEW + "…"), "archived")
    assert (m["text"], m["text_source"], m["text_complete"]) == (FULL, "oembed", True)
    texts = {x["source"]: (x["text"], x["complete"]) for x in m["texts"]}
    assert texts["syndication"] == (PREVIEW, False)
    assert texts["oembed"] == (FULL, True)
    assert texts["publisher_markup"] == (PREVIEW + "…", False)  # a cut copy, as its ellipsis says
    assert _source(m, "syndication")["data"]["note_tweet"] is True


def test_a_long_post_whose_whole_text_no_source_has(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    t = _add(origin, text=PREVIEW, oembed_text=PREVIEW + "…", extra={"note_tweet": {"id": "Tm90ZVR3ZWV0OjI="}})
    m = _stored(env, _capture(env, t, markup_text=PREVIEW), "archived")
    assert m["text_complete"] is False and m["text"].startswith(PREVIEW)
    assert {x["source"]: x["complete"] for x in m["texts"]}["syndication"] is False
    assert all(x["complete"] is not True for x in m["texts"])


def test_a_long_post_whose_whole_text_the_article_has(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    t = _add(origin, text=PREVIEW, extra={"note_tweet": {"id": "Tm90ZVR3ZWV0OjM="}})
    m = _stored(env, _capture(env, t, markup_text=FULL), "archived")
    assert (m["text"], m["text_source"], m["text_complete"]) == (FULL, "publisher_markup", True)


def test_a_short_post_is_complete_from_syndication(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    t = _add(origin)
    m = _stored(env, _capture(env, t), "archived")
    assert (m["text"], m["text_source"], m["text_complete"]) == (t.text, "syndication", True)
    assert {x["source"] for x in m["texts"]} == {"publisher_markup", "oembed", "syndication"}


NOTE = {"note_tweet": {"id": "Tm90ZVR3ZWV0OjQ="}}
ADDED = " [Translated by our desk: the council disputes this.]"
# (fields of the fixture, the article's markup text (None: the fixture's text), syndication's behaviour,
#  then the expected text, its source and text_complete): texts.py's one rule.
TEXT_CASES = {
    # The publisher's markup never outranks the platform's whole text, nor makes it a preview.
    "publisher-addition": ({"text": PREVIEW, "oembed_text": FULL, "extra": NOTE}, FULL + ADDED, None,
                           FULL, "oembed", True),
    "markup-and-oembed-whole": ({"text": PREVIEW, "oembed_text": FULL, "extra": NOTE}, FULL, None,
                                FULL, "oembed", True),
    "markup-adds-a-pic-link": ({"text": PREVIEW, "oembed_text": FULL, "extra": NOTE, "media_code": "AbCd1234",
                                "photos": [{"name": "L0ngP1c.jpg"}]},
                               FULL + " pic.twitter.com/AbCd1234", None, FULL + " pic.twitter.com/AbCd1234", "oembed",
                               True),
    # A cut oEmbed text is a preview whatever syndication answered; the markup's whole text wins.
    "oembed-cut-synd-404": ({"text": FULL, "oembed_text": PREVIEW + "\u2026"}, FULL, "404",
                            FULL, "publisher_markup", True),
    "oembed-cut-synd-empty": ({"text": FULL, "oembed_text": PREVIEW + "\u2026"}, FULL, "empty",
                              FULL, "publisher_markup", True),
    "oembed-cut-alone": ({"text": FULL, "oembed_text": PREVIEW + "\u2026"}, "", "404",
                         PREVIEW + "\u2026", "oembed", False),
    # A syndication text another platform text extends is a preview, note_tweet or not.
    "synd-ellipsis-no-note": ({"text": PREVIEW + "\u2026", "oembed_text": FULL}, "", None, FULL, "oembed", True),
    # A whole post that ends in "..." is whole when nothing extends it, or when it extends a preview.
    "whole-post-ends-in-dots": ({"text": "Wait for it...", "oembed_text": "Wait for it..."}, "Wait for it...", None,
                                "Wait for it...", "syndication", True),
    "longer-oembed-ends-in-dots": ({"text": PREVIEW, "oembed_text": FULL + " Wait for it...", "extra": NOTE}, "",
                                   None, FULL + " Wait for it...", "oembed", True),
    # Compared normalized: zero-width and no-break spaces, links shown differently, a reply's @mentions.
    "zero-width-and-nbsp": ({"text": PREVIEW, "extra": NOTE,
                             "oembed_text": FULL.replace(" ", "\u00a0", 3).replace("Our", "Our\u200b")}, "", None,
                            FULL.replace("Our", "Our\u200b"), "oembed", True),  # oEmbed shows no-break spaces as spaces
    "link-shown-differently": ({"text": PREVIEW.replace("results", "results https://t.co/AbC123"), "extra": NOTE,
                                "oembed_text": FULL.replace("results", "results coast.example.org/report")}, "",
                               None, FULL.replace("results", "results coast.example.org/report"), "oembed", True),
    "reply-mention": ({"text": "@CouncilCoast " + PREVIEW, "oembed_text": FULL,
                       "extra": {**NOTE, "display_text_range": [14, 150]}}, "", None, FULL, "oembed", True),
}


@pytest.mark.parametrize("case", list(TEXT_CASES))
def test_one_rule_decides_the_text_and_whether_it_is_whole(origin: FixtureOrigin, env: dict[str, Any],
                                                            case: str) -> None:
    fields, markup_text, synd, text, source, complete = TEXT_CASES[case]
    t = _add(origin, **fields)
    if synd:
        origin.set_behaviour(f"/tweet-result?id={t.id}", synd, sticky=True)
    # Syndication without the post: oEmbed's cache alone says it existed (states.py, rule 7); the text
    # is still chosen by the one rule.
    status = "tombstoned" if synd in ("404", "empty") else "archived"
    m = _stored(env, _capture(env, t, markup_text=markup_text), status)
    assert (m["text"], m["text_source"], m["text_complete"]) == (text, source, complete)
    per_source = {x["source"]: x["complete"] for x in m["texts"]}
    assert per_source[source] is complete
    if complete:  # a whole text: every other text is whole or marked a preview, none claims more
        assert all(x["complete"] is False or len(x["text"]) <= len(text) or x["source"] == "publisher_markup"
                   for x in m["texts"])
    else:
        assert all(v is False for v in per_source.values())
        assert "Preview" in _card(env, m)


def test_choose_text_rule_on_its_own() -> None:
    from archiver.providers.twitter.texts import choose_text, extends, normalize

    assert normalize("@a @b_c  Hi\u200b there https://t.co/x") == normalize("Hi there pic.x.com/y")
    assert extends(FULL, PREVIEW + "\u2026") and not extends(FULL + " pic.twitter.com/Ab", FULL)
    # Syndication whole (no note) and oEmbed the same: both whole, syndication chosen.
    texts, chosen, complete = choose_text([("publisher_markup", None, None), ("oembed", "Short post...", None),
                                           ("syndication", "Short post...", True)])
    assert chosen is not None and (chosen.source, complete) == ("syndication", True)
    assert [t.complete for t in texts] == [True, True]
    # Markup that only repeats a note preview is a preview too.
    texts, chosen, complete = choose_text([("publisher_markup", PREVIEW, None), ("syndication", PREVIEW, False)])
    assert complete is False and [t.complete for t in texts] == [False, False]


# --- quoted and replied-to copies --------------------------------------------------------------------------
@pytest.mark.parametrize("oembed", ["ok", "404"])
def test_a_quote_whose_own_request_answers_404(origin: FixtureOrigin, env: dict[str, Any], oembed: str) -> None:
    quoted = _add(origin, handle="HarbourFerries", name="Harbour Ferries", text="Ferry timetable changes from Monday.",
                  photos=[{"name": "GxAbCdEfGh1.jpg", "width": 48, "height": 32}])
    quoting = _add(origin, quoted_id=quoted.id, text="Note the new Sunday times.")
    origin.set_behaviour(f"/tweet-result?id={quoted.id}", "404", sticky=True)
    # Even with oEmbed's 404 too, the quoting post's answer of the same moment shows the post exists.
    origin.set_behaviour(f"/oembed?url=https://twitter.com/HarbourFerries/status/{quoted.id}", oembed, sticky=True)
    res = _capture(env, quoting)
    m = _stored(env, res, "archived")
    assert m["quoted"]["post_id"] == quoted.id and m["quoted"]["status"] == "archived"
    q = _manifest(env, m["quoted"]["manifest_key"])
    assert q["status"] == "archived" and q["capture_id"] == related_capture_id(m["capture_id"], "quoted")
    assert q["referenced_by"] == [{"capture_id": m["capture_id"], "relation": "quoted"}]
    assert (q["text"], q["text_source"]) == (quoted.text + f" https://t.co/{quoted.media_code}", "quoting_post")
    # The copy's created_at is read (it agrees with the id's time).
    assert q["author"]["handle"] == "HarbourFerries" and q["created_at_consistent"] is True
    assert q["created_at"] == quoted.created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert [x["status"] for x in q["media"]] == ["archived"]
    # Its own 404 is kept; the copy is a source with the quoting post's answer's URL and time.
    own = _source(q, "syndication")
    assert (own["http_status"], own["outcome"]) == (404, "not_found")
    copy, parent_synd = _source(q, "quoting_post"), _source(m, "syndication")
    assert (copy["request_url"], copy["fetched_at"], copy["response_sha256"]) == (
        parent_synd["request_url"], parent_synd["fetched_at"], parent_synd["response_sha256"])
    assert copy["outcome"] == "ok" and copy["data"]["text"].startswith(quoted.text)


def test_a_media_only_quote_whose_own_request_answers_404_is_archived_from_its_copy(
        origin: FixtureOrigin, env: dict[str, Any]) -> None:
    """A copy with a photo and no text is still the post: archived from it, its photo archived."""
    quoted = _add(origin, handle="HarbourFerries", name="Harbour Ferries", text="",
                  photos=[{"name": "GxOnlyPhoto1.jpg", "width": 48, "height": 32}], extra={"text": ""})
    quoting = _add(origin, quoted_id=quoted.id, text="Look at this.")
    origin.set_behaviour(f"/tweet-result?id={quoted.id}", "404", sticky=True)
    origin.set_behaviour(f"/oembed?url=https://twitter.com/HarbourFerries/status/{quoted.id}", "404", sticky=True)
    m = _stored(env, _capture(env, quoting), "archived")
    q = _manifest(env, m["quoted"]["manifest_key"])
    assert q["status"] == "archived" and [x["status"] for x in q["media"]] == ["archived"]


def test_a_quote_whose_own_request_answers_429(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    quoted = _add(origin, text="Harbour closed to small craft until noon.")
    quoting = _add(origin, quoted_id=quoted.id, text="Update from the harbour master.")
    origin.set_behaviour(f"/tweet-result?id={quoted.id}", "429", sticky=True)
    res = _capture(env, quoting)
    m = _manifest(env, res.manifest_key)
    q = _manifest(env, m["quoted"]["manifest_key"])
    assert q["status"] == "partial" and q["text"] == quoted.text and q["text_source"] == "quoting_post"
    assert [(p["part"], p["reason"].startswith("HTTP 429")) for p in q["missing"]] == [("syndication", True)]
    assert _source(q, "syndication")["outcome"] == "rate_limited"
    assert STATUS_WORDS["partial"] in _card(env, q)
    # The quoting post lacks a finished quoted capture: partial too, retried (record.py's side).
    assert m["quoted"]["status"] == "partial"
    assert res.status == m["status"] == "partial"
    assert [(p["part"], p["ref"]) for p in m["missing"]] == [("quoted", quoted.id)]


def test_a_quote_that_is_gone_stays_gone_with_its_copy(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    quoted = _add(origin, text="Beach café opens at 9.")
    quoting = _add(origin, quoted_id=quoted.id, text="Good news for early walkers.")
    # The quoting post was read with the copy; the quoted post's own answer now is a tombstone.
    origin.set_behaviour(f"/tweet-result?id={quoted.id}", "tombstone", sticky=True)
    m = _stored(env, _capture(env, quoting), "archived")
    q = _manifest(env, m["quoted"]["manifest_key"])
    assert q["status"] == "age_restricted" and q["text"] == quoted.text and q["text_source"] == "quoting_post"


def test_a_reply_with_its_parent_copy(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    parent = _add(origin, handle="CouncilCoast", name="Council Coast", text="Survey boats out from 7am.")
    reply = _add(origin, parent_id=parent.id, text="@CouncilCoast Will the north beach be closed?",
                 extra={"in_reply_to_screen_name": "CouncilCoast", "display_text_range": [14, 44]})
    origin.set_behaviour(f"/tweet-result?id={parent.id}", "empty", sticky=True)
    origin.set_behaviour(f"/oembed?url=https://twitter.com/CouncilCoast/status/{parent.id}", "404", sticky=True)
    m = _stored(env, _capture(env, reply), "archived")
    assert m["parent"]["post_id"] == parent.id and m["parent"]["status"] == "archived"
    p = _manifest(env, m["parent"]["manifest_key"])
    assert p["referenced_by"] == [{"capture_id": m["capture_id"], "relation": "parent"}]
    assert (p["text"], p["text_source"], p["author"]["handle"]) == (parent.text, "replying_post", "CouncilCoast")
    assert _source(p, "syndication")["outcome"] == "empty"
    assert _source(p, "replying_post")["request_url"] == _source(m, "syndication")["request_url"]


# A quoted post shown as a tombstone or TweetUnavailable object names no id: the quoting post's
# quoted_status_id_str, quoted_status_permalink or its link to the post does, and the related capture
# takes its status from what the copy shows.
DELETED_TEXT = "This Post was deleted by the Post author. Learn more"
SUSPENDED_TEXT = "This Post is from a suspended account. Learn more"


@pytest.mark.parametrize("named_by", ["permalink", "url_entity", "is_quote_status_and_url"])
def test_a_quoted_tombstone_without_an_id_is_still_captured(origin: FixtureOrigin, env: dict[str, Any],
                                                           named_by: str) -> None:
    qid = _id()  # unknown to the origin: its own requests answer 404
    link = f"https://x.com/HarbourFerries/status/{qid}"
    other = {"url": "https://t.co/0tHeR1", "expanded_url": "https://coast.example.org/x"}
    extra: dict[str, Any] = {
        "permalink": {"quoted_tweet": tombstone_json(DELETED_TEXT),
                      "quoted_status_permalink": {"url": "https://t.co/QqQ1", "expanded": link, "display": "x.com/…"}},
        "url_entity": {"quoted_tweet": tombstone_json(DELETED_TEXT),
                       "entities": {"urls": [other, {"url": "https://t.co/QqQ1", "expanded_url": link}]}},
        "is_quote_status_and_url": {"is_quote_status": True, "quoted_tweet": unavailable_json("Suspended"),
                                    "entities": {"urls": [{"url": "https://t.co/QqQ1", "expanded_url": link}]}},
    }[named_by]
    t = _add(origin, text="Look at this.", extra=extra)
    m = _stored(env, _capture(env, t), "archived")
    assert m["quoted"]["post_id"] == qid
    q = _manifest(env, m["quoted"]["manifest_key"])
    status = "suspended" if named_by == "is_quote_status_and_url" else "deleted"
    assert q["status"] == m["quoted"]["status"] == status
    assert q["author"]["handle"] == "HarbourFerries"
    if status == "deleted":
        assert q["tombstone"] == DELETED_TEXT and "quoting_post tombstone" in q["error"]
    assert _source(q, "quoting_post")["data"]["kind"] == ("unavailable" if status == "suspended" else "tombstone")


def test_a_quoted_tombstone_naming_nothing_is_kept_in_the_source() -> None:
    from archiver.providers.twitter.api import quoted_link, tweet_summary
    from archiver.providers.twitter.states import read_answer

    tweet = {"__typename": "Tweet", "id_str": "1", "text": "x", "quoted_tweet": tombstone_json(DELETED_TEXT),
             "entities": {"urls": [{"url": "https://t.co/a", "expanded_url": "https://x.com/a/status/1/photo/1"}]}}
    assert quoted_link(tweet, "1") is None  # its own link is not the quoted post
    assert quoted_link({"entities": tweet["entities"], "text": "no quote"}, "2") is None  # not a quote at all
    summary = tweet_summary(read_answer(tweet))
    assert summary is not None
    assert summary["quoted_tweet"] == {"kind": "tombstone", "id": None, "tombstone": DELETED_TEXT}


def test_the_fixture_names_the_quoted_post_as_the_endpoint_does(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    # A quoted post whose own answer is now a tombstone: the quoting post's copy is that tombstone, and
    # only quoted_status_id_str names it.
    quoted = _add(origin, text="Beach café opens at 9.", syndication=tombstone_json(SUSPENDED_TEXT))
    gone = _add(origin, text="Old post.", state="tombstone", tombstone_text=DELETED_TEXT)
    for q, status, text in ((quoted, "suspended", SUSPENDED_TEXT), (gone, "deleted", DELETED_TEXT)):
        quoting = _add(origin, quoted_id=q.id, text="Good news for early walkers.")
        body = origin.syndication_json(quoting)
        assert body["quoted_status_id_str"] == q.id and body["quoted_tweet"]["__typename"] == "TweetTombstone"
        m = _stored(env, _capture(env, quoting), "archived")
        assert (m["quoted"]["post_id"], m["quoted"]["status"]) == (q.id, status)
        qm = _manifest(env, m["quoted"]["manifest_key"])
        assert qm["tombstone"] == text


def test_a_quoted_copy_tombstone_leaves_no_tombstone_on_a_live_post(origin: FixtureOrigin,
                                                                     env: dict[str, Any]) -> None:
    q = _add(origin, text="Quoted, and alive.")
    p = _add(origin, text="Quoting it.", extra={"quoted_tweet": tombstone_json(DELETED_TEXT),
                                                 "quoted_status_id_str": q.id})
    m = _stored(env, _capture(env, p), "archived")
    qm = _manifest(env, m["quoted"]["manifest_key"])
    assert qm["status"] == "archived" and qm["text"] == q.text and "tombstone" not in qm
    assert _source(qm, "quoting_post")["data"]["tombstone"] == DELETED_TEXT  # kept where it was read
    assert DELETED_TEXT not in _card(env, qm)


# --- edits ------------------------------------------------------------------------------------------------
def test_an_edited_post_records_its_chain(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    first, latest = _id(), _id()
    t = _add(origin, id=latest, edit_ids=[first, latest], text="Beach open from 9 (corrected).")
    m = _stored(env, _capture(env, t), "archived")
    assert _source(m, "syndication")["data"]["typename"] == "Tweet"
    e = m["edit"]
    assert (e["edit_ids"], e["initial_id"], e["latest_id"]) == ([first, latest], first, latest)
    assert (e["is_latest"], e["is_edited"], e["is_stale"], e["is_edit_eligible"]) == (True, True, False, True)
    assert e["edits_remaining"] == 4 and e["editable_until"].endswith("Z")
    assert "latest_edit" not in m


def test_a_stale_edit_captures_the_latest_version_linked_both_ways(origin: FixtureOrigin,
                                                                   env: dict[str, Any]) -> None:
    first, latest = _id(), _id()
    _add(origin, id=latest, edit_ids=[first, latest], text="Beach open from 9:30 (corrected).")
    t = _add(origin, id=first, edit_ids=[first, latest], text="Beach open from 9.")
    m = _stored(env, _capture(env, t), "archived")
    assert m["edit"]["is_stale"] is True and m["edit"]["is_latest"] is False
    ref = m["latest_edit"]
    assert (ref["post_id"], ref["status"]) == (latest, "archived")
    assert ref["capture_id"] == related_capture_id(m["capture_id"], "latest_edit")
    lm = _manifest(env, ref["manifest_key"])
    assert lm["referenced_by"] == [{"capture_id": m["capture_id"], "relation": "latest_edit"}]
    assert lm["text"] == "Beach open from 9:30 (corrected)." and lm["edit"]["is_latest"] is True
    assert latest in _card(env, m)


# The edit flags are checked against the chain (api.edit_info), which decides when they disagree.
def test_a_chain_without_the_post_is_not_its_edit_chain(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    x, y = _id(), _id()
    _add(origin, id=x, text="someone else's post one")
    _add(origin, id=y, text="someone else's post two", handle="OtherUser")
    t = _add(origin, text="my post", extra={"edit_control": {"edit_tweet_ids": [x, y]}, "isStaleEdit": True,
                                           "isEdited": False})
    m = _stored(env, _capture(env, t), "archived")
    e = m["edit"]
    assert e["edit_ids"] == [x, y]  # recorded as the platform gave it
    assert (e["is_edited"], e["is_stale"], e["is_latest"], e["latest_id"], e["initial_id"]) == (
        False, False, False, None, None)
    assert "latest_edit" not in m and origin.count("/tweet-result", id=y) == 0
    assert "earlier version" not in _card(env, m)


@pytest.mark.parametrize(("flag", "which"), [(True, "latest"), (False, "earlier")])
def test_the_chain_decides_whether_a_version_is_stale(origin: FixtureOrigin, env: dict[str, Any], flag: bool,
                                                      which: str) -> None:
    first, latest = _id(), _id()
    _add(origin, id=first, text="Beach open from 9.", edit_ids=[first, latest])
    _add(origin, id=latest, text="Beach open from 9:30.", edit_ids=[first, latest])
    this = latest if which == "latest" else first
    t = _add(origin, id=this, text="Beach open.", edit_ids=[first, latest], extra={"isStaleEdit": flag})
    m = _stored(env, _capture(env, t), "archived")
    stale = which == "earlier"
    assert (m["edit"]["is_stale"], m["edit"]["is_latest"], m["edit"]["is_edited"]) == (stale, not stale, True)
    assert ("latest_edit" in m) is stale and ("earlier version" in _card(env, m)) is stale
    if stale:
        assert m["latest_edit"]["post_id"] == latest


# --- oEmbed only ------------------------------------------------------------------------------------------
# Syndication's {} or 404 means it has no post under that id (twitter-shapes.md); oEmbed answers from a
# cache that outlives the post. Its text is kept, but the post is not archived as live (states.py, rule 7).
@pytest.mark.parametrize("answer", ["empty", "404"])
def test_oembed_only_is_never_archived_as_live(origin: FixtureOrigin, env: dict[str, Any], answer: str) -> None:
    t = _add(origin, photos=[{"name": "0nLyOe01.jpg"}],
             oembed_text="Storm damage on the promenade pic.x.com/Zx9Qw8Er7T")
    origin.set_behaviour(f"/tweet-result?id={t.id}", answer, sticky=True)
    m = _stored(env, _capture(env, t), "tombstoned")
    assert m["media"] == [] and m["text_source"] == "oembed" and m["text"].startswith("Storm damage")
    assert "only from oEmbed's cache" in m["error"] and "may be gone" in m["error"]
    assert _source(m, "syndication")["http_status"] == (200 if answer == "empty" else 404)
    assert _source(m, "oembed")["outcome"] == "ok"


def test_oembed_only_without_media_is_not_archived_either(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    t = _add(origin)
    origin.set_behaviour(f"/tweet-result?id={t.id}", "empty", sticky=True)
    m = _stored(env, _capture(env, t), "tombstoned")
    assert m["text"] == t.text and "oEmbed's cache" in m["error"]


# --- counts, entities, account flags -------------------------------------------------------------------------
def test_counts_entities_and_account_flags(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    text = "Thanks @SeaWatchOrg for the #DuneErosion data: https://t.co/Qw3rTy7uIo"
    t = _add(origin, text=text, links={"https://t.co/Qw3rTy7uIo": "https://coast.example.org/s25"},
             extra={"favorite_count": 1234, "conversation_count": 56, "retweet_count": 78, "quote_count": 9,
                    "user": {"is_blue_verified": True, "verified_type": "Government", "profile_image_shape": "Square"},
                    "entities": {"user_mentions": [{"id_str": "783214", "name": "Sea Watch",
                                                    "screen_name": "SeaWatchOrg", "indices": [7, 19]}],
                                 "hashtags": [{"text": "DuneErosion", "indices": [28, 40]}]}})
    m = _stored(env, _capture(env, t), "archived")
    synd = _source(m, "syndication")
    assert m["metrics"] == {"read_at": synd["fetched_at"], "favorite_count": 1234, "conversation_count": 56,
                            "retweet_count": 78, "quote_count": 9}
    assert m["author"]["is_blue_verified"] is True and m["author"]["verified_type"] == "Government"
    assert m["author"]["profile_image_shape"] == "Square"
    assert m["entities"] == {
        "mentions": [{"handle": "SeaWatchOrg", "id": "783214", "name": "Sea Watch"}],
        "hashtags": ["DuneErosion"],
        "urls": [{"url": "https://t.co/Qw3rTy7uIo", "expanded_url": "https://coast.example.org/s25",
                  "display_url": "coast.example.org/s25"}]}


def test_hostile_counts_and_entities_never_break_the_capture(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    t = _add(origin, extra={"favorite_count": -5, "conversation_count": "12", "retweet_count": True,
                            "views": {"count": "99999"}, "user": {"is_blue_verified": "yes", "verified_type": 7},
                            "edit_control": {"edit_tweet_ids": "nope", "editable_until_msecs": "9" * 40},
                            "entities": {"user_mentions": [{"screen_name": 5}, "x"], "hashtags": None,
                                         "urls": [{"url": None}]}})
    m = _stored(env, _capture(env, t), "archived")
    assert m["metrics"] == {"read_at": _source(m, "syndication")["fetched_at"], "conversation_count": 12,
                            "view_count": 99999}
    assert m["entities"] == {"mentions": [], "hashtags": [], "urls": []}
    assert m["author"].get("is_blue_verified") is None and m["author"]["verified_type"] is None
    assert m["edit"]["edit_ids"] == [] and m["edit"]["editable_until"] is None


# --- the liveness probe --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("fields", "verdict"), [
    ({}, "ok"),
    ({"state": "tombstone", "tombstone_text": "This Post is from a suspended account. Learn more"}, "failure"),
    ({"syndication": unavailable_json("NsfwLoggedOut")}, "failure"),
    ({"state": "tombstone", "tombstone_text": "This Post violated the X Rules. Learn more"}, "failure"),
])
def test_the_probe_calls_every_gone_state_gone(origin: FixtureOrigin, env: dict[str, Any], fields: dict[str, Any],
                                              verdict: str) -> None:
    t = _add(origin, **fields)
    rt = SimpleNamespace(settings=env["settings"], fetcher=env["fetcher"])
    result = probe(rt, f"https://twitter.com/{t.handle}/status/{t.id}", t.id)  # type: ignore[arg-type]
    assert result.outcome == verdict
    if verdict == "failure":
        assert result.detail.split(":", 1)[0] in GONE_STATUSES

"""What Twitter says instead of a post, read from every source together (issue 15, point 1;
``../shared/formats/twitter-shapes.md``, "Tombstones and unavailable posts").

A syndication body is read once into an ``Answer``: a post (``Tweet``, with any
``TweetWithVisibilityResults`` wrapper taken off and its interstitial kept), a ``TweetTombstone``
(its text kept verbatim), a ``TweetUnavailable`` (its ``reason``), ``{}``, or something else. A
tombstone's text is classified by meaning-bearing fragments (``tombstone_status``) in English, old
("Tweet", "Twitter Rules") and new ("Post", "X Rules") wording, and the languages the endpoint
localizes to, compared case-, accent-, quote-, space- and punctuation-insensitively.

``decide`` gives a capture's status from oEmbed's outcome, syndication's answer and, for a quoted or
replied-to post, the copy its quoting or replying post carried. The rules, first match wins:

1. Syndication states a gone state: a tombstone (its text classified; an unknown text is
   ``tombstoned``), a ``TweetUnavailable`` whose reason names one (``NsfwLoggedOut`` →
   ``age_restricted``, ``Protected`` → ``protected``, ``Suspended`` → ``suspended``, and by the same
   rule reasons naming withholding, deletion or the rules), or a post whose content is withheld (a
   ``withheld_in_countries`` list and no text) → that status, whatever oEmbed said: oEmbed answers
   from a cache that lives for years, syndication says what the platform shows now (oEmbed's text,
   when it answered, is still kept as the post's text, and its outcome stays in ``sources``).
2. Syndication gives the post → ``archived`` (``failed`` when no source has any text). A full post
   carrying ``withheld_in_countries`` is archived with the list recorded. oEmbed's 404 or 403 beside
   it is kept in ``sources`` only.
3. Syndication or oEmbed refuses (401/403) → ``protected``.
4. The embedded copy is itself a tombstone or a gone ``TweetUnavailable`` → that status.
5. Syndication did not answer usefully (429, 5xx, a timeout, a body that is not JSON, another 4xx):
   with an embedded copy the post is ``partial`` (its content from the copy, the failed request a
   missing part, retried); else ``unavailable`` (retried).
6. Syndication has no post (404, ``{}``, a ``TweetUnavailable`` with reason ``Unavailable`` or none):
   an embedded copy shows the post existed at the moment its parent was read → ``archived`` from the
   copy; else oEmbed decides: 404 → ``deleted``, ok with text → ``archived`` (oEmbed-only: the
   capture lists the media it could not get, so it is ``partial``), no answer → ``unavailable``,
   anything else → ``deleted``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from archiver.providers.sources import Fetched

# A tombstone or interstitial text longer than this is cut (kept verbatim up to here).
MAX_NOTICE_CHARS = 5000
# How many TweetWithVisibilityResults wrappers are taken off one inside the other.
_MAX_WRAPPERS = 4

AnswerKind = Literal["tweet", "tombstone", "unavailable", "empty", "other"]


@dataclass(frozen=True)
class Answer:
    """One syndication body (or a quoted/parent object inside one), read.

    ``kind``: "tweet" (``tweet`` is the post's object, unwrapped), "tombstone" (``tombstone`` its
    text, verbatim), "unavailable" (a TweetUnavailable; ``reason`` as given), "empty" (``{}``) or
    "other" (not a post object). ``typename`` is the outermost ``__typename``; ``interstitial`` the
    warning text of a visibility wrapper (``tweetInterstitial.text.text``)."""

    kind: AnswerKind
    typename: str | None = None
    tweet: dict[str, Any] | None = None
    interstitial: str | None = None
    tombstone: str | None = None
    reason: str | None = None


def _notice(value: Any) -> str | None:
    """A platform notice's text: ``{"text": "..."}`` or a plain string, bounded; None when absent."""
    if isinstance(value, dict):
        value = value.get("text")
        if isinstance(value, dict):  # tweetInterstitial.text.text
            value = value.get("text")
    if not isinstance(value, str) or not value.strip():
        return None
    return value[:MAX_NOTICE_CHARS]


def read_answer(body: Any) -> Answer:
    """The ``Answer`` a syndication body (or an embedded quoted_tweet / parent object) gives. Never
    raises: anything that is not one of the shapes is kind "other"."""
    if not isinstance(body, dict):
        return Answer("other")
    if not body:
        return Answer("empty")
    outer = body.get("__typename") if isinstance(body.get("__typename"), str) else None
    interstitial: str | None = None
    for _ in range(_MAX_WRAPPERS):
        if body.get("__typename") != "TweetWithVisibilityResults":
            break
        interstitial = interstitial or _notice(body.get("tweetInterstitial"))
        inner = body.get("tweet")
        if not isinstance(inner, dict):
            return Answer("other", outer, interstitial=interstitial)
        body = inner
    kind = body.get("__typename")
    if kind == "TweetTombstone" or (kind is None and isinstance(body.get("tombstone"), dict | str)):
        return Answer("tombstone", outer, interstitial=interstitial, tombstone=_notice(body.get("tombstone")))
    if kind == "TweetUnavailable":
        reason = body.get("reason")
        return Answer("unavailable", outer, interstitial=interstitial,
                      reason=reason[:200] if isinstance(reason, str) and reason else None)
    if kind == "Tweet" or (kind is None and isinstance(body.get("id_str"), str)):
        return Answer("tweet", outer, tweet=body, interstitial=interstitial)
    return Answer("other", outer, interstitial=interstitial)


# --- tombstone texts ------------------------------------------------------------------------------
_QUOTES = frozenset("'\"`´‘’‚‛“”„‟«»‹›ʼʹ＇＂")


def flatten(text: str) -> str:
    """``text`` reduced for matching: compatibility forms, no accents or other combining marks, case
    folded, quotes and apostrophes dropped, any other run of punctuation or spacing one space:
    "You’re  unable to view this Post." → "youre unable to view this post"."""
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        cat = unicodedata.category(ch)
        if cat in ("Mn", "Me", "Cf") or ch in _QUOTES:
            continue
        for c in ch.casefold():
            out.append(c if c.isalnum() or unicodedata.category(c) == "Mc" else " ")
    flat = "".join(out).replace("ı", "i").replace("ى", "ي").replace("ـ", "")
    return " ".join(flat.split())


def _starts_word(fragment: str) -> bool:
    """Fragments in scripts that write words apart (Latin, Cyrillic, Greek) match at a word's start;
    others (Arabic's glued prefixes, Japanese, Chinese) anywhere."""
    first = fragment[:1]
    return first.isdigit() or unicodedata.name(first, "").startswith(("LATIN", "CYRILLIC", "GREEK"))


# Meaning-bearing fragments of the platform's notices, by the status they mean, tried in this order
# (withholding and age notices may also mention limits or rules; a rules notice may say "deleted").
# Written as the platform writes them; compared after ``flatten``. English with old and new wording,
# then es, fr, de, pt, it, ja, ar, hi, tr, id, ru, zh, ko.
_FRAGMENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("withheld", (
        "withheld", "legal demand", "based on local law", "local laws", "in your country",
        "retenido", "retenida", "requerimiento legal", "demanda legal", "solicitud legal", "en tu país", "en su país",
        "retenu", "retenue", "demande légale", "exigence légale", "injonction légale", "dans votre pays",
        "zurückgehalten", "rechtlichen anforderung", "rechtliche anforderung", "gesetzlichen anforderung",
        "in deinem land", "in ihrem land",
        "retido", "retida", "exigência legal", "solicitação legal", "no seu país", "em seu país",
        "trattenuto", "trattenuta", "richiesta legale", "nel tuo paese",
        "差し控え", "法的要請", "法的な要請", "法的な要求", "お住まいの国",
        "حجب", "محجوب", "طلب قانوني", "مطلب قانوني", "في بلدك",
        "रोक दिया", "रोका गया", "कानूनी मांग", "कानूनी अनुरोध", "आपके देश",
        "alıkonuldu", "alıkonulmuş", "alıkonmuş", "yasal talep", "yasal bir talep", "ülkende", "ülkenizde",
        "ditahan", "tuntutan hukum", "permintaan hukum", "di negara anda", "di negaramu",
        "удерживается", "удержан", "юридическ", "требованию закона", "в вашей стране",
        "扣留", "法律要求", "在你的国家", "법적 요청", "법적 요구", "보류",
    )),
    ("age_restricted", (
        "age-restricted", "age restricted", "adult content", "under 18", "confirm your age", "verify your age",
        "restricción de edad", "restringido por edad", "restringida por edad", "contenido para adultos",
        "contenido adulto", "menores de 18",
        "limite d'âge", "restriction d'âge", "restreint aux adultes", "réservé aux adultes", "contenu pour adultes",
        "contenu adulte", "moins de 18",
        "altersbeschränk", "inhalte für erwachsene", "nicht jugendfrei", "unter 18",
        "restrição de idade", "restrito por idade", "restrita por idade", "conteúdo adulto",
        "conteúdo para adultos", "menores de 18",
        "limiti di età", "limitazioni di età", "restrizioni di età", "contenuti per adulti", "contenuto per adulti",
        "minori di 18",
        "年齢制限", "成人向け", "18歳未満",
        "مقيد بالعمر", "حسب العمر", "تقييد العمر", "للبالغين", "للكبار", "أقل من 18", "دون 18",
        "आयु-प्रतिबंधित", "आयु प्रतिबंधित", "उम्र", "वयस्क",
        "yaş kısıtlama", "yaş kısıtlı", "yaş sınır", "yetişkin",
        "dibatasi usia", "batasan usia", "batas usia", "konten dewasa", "di bawah 18",
        "возрастн", "для взрослых", "младше 18", "моложе 18",
        "年龄限制", "成人内容", "연령 제한", "성인",
    )),
    ("violated_rules", (
        "violated the", "violates the", "violating the", "violation of the", "x rules", "twitter rules",
        "rules of x", "broke the rules", "breaking the rules", "against the rules", "broke our rules",
        "infring", "incumpl", "violó", "viola las reglas", "reglas de x", "reglas de twitter",
        "enfrei", "violé les règles", "viole les règles", "règles de x", "règles de twitter",
        "verstoß", "x-regeln", "x regeln", "twitter-regeln", "twitter regeln", "regeln von x",
        "violou", "viola as regras", "violação das regras", "regras do x", "regras do twitter",
        "violato", "viola le regole", "violazione delle regole", "regole di x", "regole di twitter",
        "ルールに違反", "ルール違反", "違反",
        "انتهك", "ينتهك", "انتهاك", "قواعد x", "قواعد تويتر", "مخالف",
        "उल्लंघन",
        "ihlal",
        "melanggar", "pelanggaran",
        "наруш", "правила x", "правил x", "правила twitter",
        "违反", "위반",
    )),
    ("suspended", (
        "suspended",
        "suspendida", "suspendido",
        "suspendu",
        "gesperrt", "suspendiert",
        "suspensa", "suspenso",
        "sospeso",
        "凍結",
        "معلق", "موقوف",
        "निलंबित",
        "askıya",
        "ditangguhkan",
        "заблокирован", "приостановлен",
        "冻结", "停用", "정지",
    )),
    ("protected", (
        "limits who can", "who can view", "who can see", "protected", "approved followers", "confirmed followers",
        "quién puede ver", "quiénes pueden ver", "protegid",
        "qui peut voir", "qui peut consulter", "les personnes qui peuvent voir", "protégé",
        "einschränkt, wer", "schränkt ein, wer", "beschränkt, wer", "wer seine", "wer ihre", "geschützt",
        "quem pode ver", "quem pode visualizar",
        "chi può visualizzare", "chi può vedere", "limita chi", "protett",
        "ユーザーを制限", "閲覧できる人を制限", "非公開",
        "من يمكنه عرض", "من يمكنه مشاهدة", "يقيد", "محمي",
        "कौन देख", "सीमित करता है कि कौन", "सुरक्षित",
        "kimlerin görebileceği", "görebileceğini sınırl", "korumalı",
        "siapa yang dapat melihat", "siapa yang bisa melihat", "membatasi siapa", "dilindungi",
        "ограничивает круг", "ограничивает, кто", "кто может видеть", "кто может просматривать", "защищен",
        "限制谁可以查看", "受保护", "볼 수 있는 사람을 제한", "비공개",
    )),
    ("deleted", (
        "deleted", "no longer exists", "doesn't exist", "does not exist", "removed by the author",
        "removed by its author", "removed by the post author", "removed by the tweet author", "deactivated",
        "eliminado", "eliminada", "eliminó", "borrado", "borrada", "ya no existe", "no existe",
        "supprimé", "supprimée", "n'existe plus", "n'existe pas",
        "gelöscht", "nicht mehr existiert", "existiert nicht mehr", "nicht mehr vorhanden", "nicht mehr gibt",
        "excluído", "excluída", "apagado", "apagada", "não existe",
        "eliminato", "eliminata", "cancellato", "cancellata", "non esiste",
        "削除", "存在しない", "存在しません",
        "حذف", "محذوف", "لم يعد موجود", "غير موجود",
        "हटा दिया", "हटा दी", "हटाया", "मौजूद नहीं",
        "silindi", "silinmiş", "artık mevcut", "artık var olmayan", "mevcut olmayan",
        "dihapus", "sudah tidak ada", "tidak ada lagi", "tidak lagi ada",
        "удален", "больше не существует", "не существует",
        "删除", "不存在", "삭제", "존재하지 않",
    )),
)
# (status, fragments matched anywhere, fragments matched at a word's start), flattened.
_FLAT: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = tuple(
    (status, tuple(f for f in flat if not _starts_word(f)), tuple(" " + f for f in flat if _starts_word(f)))
    for status, flat in ((s, tuple(dict.fromkeys(flatten(f) for f in frags))) for s, frags in _FRAGMENTS))


def tombstone_status(text: str | None) -> str | None:
    """The status a tombstone's text means (deleted, suspended, protected, withheld,
    age_restricted, violated_rules), or None for a text that names none of them (the capture is
    then ``tombstoned``, the text kept verbatim). "This Post was deleted by the Post author",
    "This Tweet is from a suspended account", "Este post fue eliminado por su autor" …"""
    if not text:
        return None
    flat = " " + flatten(text[:MAX_NOTICE_CHARS])
    for status, anywhere, word_start in _FLAT:
        if any(f in flat for f in anywhere) or any(f in flat for f in word_start):
            return status
    return None


# TweetUnavailable reasons, by a fragment of the (flattened, without spaces) reason: NsfwLoggedOut, Protected,
# Suspended and their kin; "Unavailable" (or none) says nothing and oEmbed decides.
_REASONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("age_restricted", ("nsfw", "adult", "agerestrict", "agegate", "ageverif")),
    ("protected", ("protect",)),
    ("suspended", ("suspend",)),
    ("withheld", ("withh",)),
    ("deleted", ("delet", "notfound", "doesnotexist")),
    ("violated_rules", ("violat", "rule")),
)


def reason_status(reason: str | None) -> str | None:
    """The status a TweetUnavailable ``reason`` names, or None ("Unavailable", none, unknown)."""
    flat = flatten(reason or "").replace(" ", "")
    for status, fragments in _REASONS:
        if any(f in flat for f in fragments):
            return status
    return None


# --- the status -------------------------------------------------------------------------------------
_GONE_WORDS = {
    "deleted": "deleted", "suspended": "from a suspended account", "protected": "from a protected account",
    "withheld": "withheld", "age_restricted": "age-restricted for readers who are not logged in",
    "violated_rules": "removed for breaking the platform's rules", "tombstoned": "not shown",
}


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def withheld_countries(tweet: dict[str, Any] | None) -> list[str]:
    """The post's ``withheld_in_countries`` (country codes, at most 300), or []."""
    raw = (tweet or {}).get("withheld_in_countries")
    if not isinstance(raw, list):
        return []
    return [c for c in raw if isinstance(c, str) and re.fullmatch(r"[A-Za-z]{2}", c)][:300]


def _content_withheld(tweet: dict[str, Any]) -> bool:
    """A post listed as withheld whose text the answer leaves out."""
    text = tweet.get("text") if isinstance(tweet.get("text"), str) else tweet.get("full_text")
    return bool(withheld_countries(tweet)) and not (isinstance(text, str) and text.strip())


def gone_state(answer: Answer | None, source: str = "syndication") -> tuple[str, str] | None:
    """(status, one-line reason) when ``answer`` states the post is gone for readers: a tombstone, a
    TweetUnavailable naming a reason, a post whose content is withheld. None otherwise."""
    if answer is None:
        return None
    if answer.kind == "tombstone":
        status = tombstone_status(answer.tombstone) or "tombstoned"
        said = f": \u201c{_one_line(answer.tombstone)}\u201d" if answer.tombstone else " without a text"
        return status, f"the post is {_GONE_WORDS[status]} ({source} tombstone{said})"
    if answer.kind == "unavailable":
        status = reason_status(answer.reason)
        if status is not None:
            return status, f"the post is {_GONE_WORDS[status]} ({source}: TweetUnavailable, {answer.reason})"
        return None
    if answer.kind == "tweet" and answer.tweet is not None and _content_withheld(answer.tweet):
        countries = ", ".join(withheld_countries(answer.tweet)[:20])
        return "withheld", f"the post is withheld in {countries} ({source} left its text out)"
    return None


def _has_post(answer: Answer | None) -> bool:
    return answer is not None and answer.kind == "tweet"


def decide(oembed: Fetched, synd: Fetched, has_content: bool,
           embedded: Answer | None = None, embedded_name: str = "embedded") -> tuple[str, str | None]:
    """The capture's status and, when it is not archived, a one-line plain reason, from oEmbed's
    outcome, syndication's (``synd.data`` an ``Answer`` when it answered with JSON) and the copy a
    quoting or replying post carried (``embedded``, named ``embedded_name``). ``has_content``: some
    source gave the post's text. The rules are this module's docstring's."""
    own = synd.data if isinstance(synd.data, Answer) else None
    gone = gone_state(own)
    if gone is not None:
        return gone
    if synd.outcome == "ok" and _has_post(own):
        return ("archived", None) if has_content else ("failed", "syndication gave a post without text")
    if synd.outcome == "forbidden" or oembed.outcome == "forbidden":
        which = "syndication" if synd.outcome == "forbidden" else "oEmbed"
        return "protected", f"the post is from a protected account ({which} refused it)"
    gone = gone_state(embedded, embedded_name)
    if gone is not None:
        return gone
    copy = _has_post(embedded) and has_content
    no_post = synd.outcome in ("empty", "not_found") or (own is not None and own.kind == "unavailable")
    if not no_post:
        reason = synd.error or f"syndication: {synd.outcome}"
        if copy:
            return "partial", f"{reason}; content from the copy in the {embedded_name.replace('_', ' ')}"
        return "unavailable", reason
    said = "{}" if synd.outcome == "empty" else "404" if synd.outcome == "not_found" else (
        f"TweetUnavailable ({own.reason or 'no reason'})" if own is not None else synd.outcome)
    if copy:
        return "archived", None
    if oembed.outcome == "not_found":
        return "deleted", f"the post is deleted (oEmbed 404 and syndication {said})"
    if oembed.outcome == "ok" and has_content:
        return "archived", None
    if oembed.transient:
        return "unavailable", oembed.error or f"oembed: {oembed.outcome}"
    return "deleted", f"the post is deleted (syndication {said}, oEmbed {oembed.outcome})"

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
   ``age_restricted``, ``Protected`` → ``protected``, ``Suspended`` → ``suspended``,
   ``Deactivated`` → ``deleted``, ``UnavailableForLegalReasons`` → ``withheld``, and by the same
   rule reasons naming withholding, deletion or the rules; a reason this module does not know, such
   as ``Bounced``, → ``tombstoned`` with the reason quoted in ``error``), or a post whose content is
   withheld (a ``withheld_in_countries`` list and no text) → that status, whatever oEmbed said:
   oEmbed answers from a cache that lives for years, syndication says what the platform shows now
   (oEmbed's text, when it answered, is still kept as the post's text, and its outcome stays in
   ``sources``).
2. Syndication gives the post → ``archived`` (``failed`` when no source has any text). A full post
   carrying ``withheld_in_countries`` is archived with the list recorded. oEmbed's 404 or 403 beside
   it is kept in ``sources`` only.
3. Syndication or oEmbed refuses (401/403) → ``protected``.
4. The embedded copy is itself a tombstone or a gone ``TweetUnavailable`` → that status.
5. Syndication answers ``TweetUnavailable`` with reason ``Unavailable`` or none: the platform does
   not show the post now. With oEmbed's 404 too → ``deleted``; otherwise → ``tombstoned`` (never
   ``archived``: an oEmbed 200 beside it comes from oEmbed's cache, and a quoting post's copy only
   shows the post once existed; their text is kept as the post's text).
6. Syndication did not answer usefully (429, 5xx, a timeout, a body that is not JSON, another 4xx,
   an answer describing another post than the one asked for): with an embedded copy the post is
   ``partial`` (its content from the copy, the failed request a missing part, retried); else
   ``unavailable`` (retried).
7. Syndication has no post (404, ``{}``: "the endpoint has no post under that id",
   twitter-shapes.md): an embedded copy, read moments ago inside its quoting or replying post's
   answer, shows the platform still shows the post → ``archived`` from the copy; else oEmbed
   decides: 404 → ``deleted``; no answer → ``unavailable``; ok → ``tombstoned``, as in rule 5 (never
   ``archived``: oEmbed's 200 comes from its cache, which outlives the post; its text is kept as
   the post's text, ``text_source`` "oembed", and ``error`` says the content came only from
   oEmbed's cache and the post may be gone); anything else → ``deleted``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from archiver.lazyre import lazy

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
    "other" (not a post object, or, ``other_id`` set, a post object describing another post than the
    one asked for: ``tweet`` is then that object, kept for the source entry only, never the post's
    content). ``typename`` is the outermost ``__typename``; ``interstitial`` the warning text of a
    visibility wrapper (``tweetInterstitial.text.text``)."""

    kind: AnswerKind
    typename: str | None = None
    tweet: dict[str, Any] | None = None
    interstitial: str | None = None
    tombstone: str | None = None
    reason: str | None = None
    other_id: str | None = None


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
# Letters written two ways for one meaning: dotless i, the Arabic and Persian/Urdu forms of yeh and kaf,
# the tatweel (a stretch, no letter).
_SAME_LETTERS = str.maketrans({"ı": "i", "ى": "ي", "ی": "ي", "ې": "ي", "ک": "ك", "ـ": None})


def flatten(text: str) -> str:
    """``text`` reduced for matching: compatibility forms, no accents or other combining marks, case
    folded, quotes and apostrophes dropped, any other run of punctuation or spacing one space:
    "You’re  unable to view this Post." → "youre unable to view this post"."""
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        cat = unicodedata.category(ch)
        if cat in ("Mn", "Me", "Cf") or ch in _QUOTES:
            continue
        digit = unicodedata.decimal(ch, None)
        if digit is not None:  # "۱۸", "১৮", "१८" → "18"
            out.append(str(digit))
            continue
        for c in ch.casefold():
            out.append(c if c.isalnum() or unicodedata.category(c) == "Mc" else " ")
    flat = "".join(out).translate(_SAME_LETTERS)
    return " ".join(flat.split())


def _starts_word(fragment: str) -> bool:
    """Fragments in scripts that write words apart (Latin, Cyrillic, Greek) match at a word's start;
    others (Arabic's glued prefixes, Japanese, Chinese) anywhere."""
    first = fragment[:1]
    return first.isdigit() or unicodedata.name(first, "").startswith(("LATIN", "CYRILLIC", "GREEK"))


# Meaning-bearing fragments of the platform's notices, by the status they mean, tried in this order
# (withholding and age notices may also mention limits or rules; a rules notice may say "deleted").
# Written as the platform writes them; compared after ``flatten``. English with old and new wording,
# then es, fr, de, pt, it, ja, ar, hi, tr, id, ru, zh, ko, then nl, pl, sv, no/nb, da, fi, uk, he, th,
# vi, zh-Hant, fa, ur, bn, ms, tl. A fragment ending in "|" matches only a whole word ("xóa|": not
# "xoay").
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
        "copyright", "dmca", "disabled in response to a report",
        # nl, pl, sv, no/nb, da, fi, uk, he, th, vi, zh-Hant, fa, ur, bn, ms, tl
        "achtergehouden", "ingehouden", "wettelijke eis", "juridische eis", "juridisch verzoek", "in je land",
        "in uw land",
        "wstrzyman", "żądanie prawne", "żądania prawnego", "nakaz prawny", "w twoim kraju",
        "undanhållen", "undanhållet", "undanhållits", "juridiskt krav", "rättsligt krav", "i ditt land",
        "tilbakeholdt", "holdt tilbake", "rettslig krav", "juridisk krav", "i landet ditt",
        "tilbageholdt", "retligt krav", "i dit land",
        "pidätetty", "pidätetään", "oikeudellisen vaatimuksen", "oikeudellinen vaatimus", "maassasi",
        "утримується", "утримано", "приховано у", "юридичн", "на вимогу закону", "у вашій країні",
        "נחסם במדינה", "עוכב", "דרישה משפטית", "בקשה משפטית", "במדינה שלך",
        "ถูกระงับในประเทศ", "ถูกระงับการแสดงในประเทศ", "ข้อเรียกร้องทางกฎหมาย", "คำขอทางกฎหมาย", "ในประเทศของคุณ",
        "bị giữ lại", "bị tạm giữ", "yêu cầu pháp lý", "quốc gia của bạn",
        "在你的國家", "在您的國家", "法律要求", "依法",
        "توقیف", "درخواست قانونی", "در کشور شما",
        "روک دیا گیا", "روکا گیا", "قانونی مطالب", "آپ کے ملک",
        "আটকে রাখা", "আটকানো হয়েছে", "আইনি দাবি", "আইনি অনুরোধ", "আপনার দেশে",
        "tuntutan undang-undang", "permintaan undang-undang", "di negara anda",
        "pinigil", "ipinagpigil", "legal na kahilingan", "legal na demand", "sa iyong bansa",
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
        "available to adults", "only for adults", "adults only", "over 18",
        "leeftijdsbeperking", "leeftijdsgebonden", "inhoud voor volwassenen", "jonger dan 18",
        "ograniczenie wiekowe", "ograniczeniem wiekowym", "treści dla dorosłych", "poniżej 18",
        "åldersbegräns", "vuxeninnehåll", "innehåll för vuxna",
        "aldersbegrens", "voksent innhold", "innhold for voksne",
        "aldersbegræns", "voksenindhold", "indhold for voksne",
        "ikärajoit", "aikuisille", "aikuissisältö",
        "вікові обмеження", "вікових обмежень", "вікове обмеження", "для дорослих", "молодше 18",
        "הגבלת גיל", "מוגבל לפי גיל", "תוכן למבוגרים", "מתחת לגיל 18",
        "จำกัดอายุ", "เนื้อหาสำหรับผู้ใหญ่", "อายุต่ำกว่า 18",
        "giới hạn độ tuổi", "giới hạn tuổi", "nội dung người lớn", "dưới 18",
        "年齡限制", "成人內容", "未滿18", "未滿 18",
        "محدودیت سنی", "محتوای بزرگسالان", "بزرگسال",
        "عمر کی پابندی", "بالغوں", "بالغ افراد",
        "বয়স-সীমাবদ্ধ", "বয়সের সীমাবদ্ধতা", "প্রাপ্তবয়স্ক",
        "sekatan umur", "terhad umur", "kandungan dewasa", "bawah 18",
        "limitado sa edad", "paghihigpit sa edad", "pang-adulto", "wala pang 18",
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
        "schendt", "geschonden", "in strijd met", "overtreedt", "overtreden", "regels van x", "x-regels",
        "narusza", "naruszył", "naruszenie", "zasady x", "zasad x",
        "bryter mot", "brutit mot", "xs regler", "x regler",
        "brudd på", "x-reglene", "reglene til x",
        "overtræder", "overtrådt", "brud på", "x-reglerne",
        "rikkoo", "rikkonut", "rikkomisen", "x:n sääntö", "sääntöjen vastai",
        "поруши", "порушує", "порушення", "правила x", "правил x",
        "הפר את", "מפר את", "הפרת הכללים", "הפרה של", "כללי x", "הכללים של x",
        "ละเมิด", "กฎของ x",
        "vi phạm", "quy tắc của x",
        "違反", "x 規則", "x規則",
        "نقض", "قوانین x", "قوانین ایکس",
        "خلاف ورزی", "x کے قواعد",
        "লঙ্ঘন",
        "melanggar", "peraturan x",
        "lumabag", "paglabag", "mga patakaran ng x", "mga panuntunan ng x",
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
        "temporarily restricted",
        "geschorst", "opgeschort",
        "zawieszon",
        "avstängt", "avstängd", "suspenderat",
        "suspendert", "utestengt",
        "suspenderet",
        "jäädytet", "jäädytty",
        "призупин", "заблокован",
        "מושעה", "הושעה", "מושעית",
        "ถูกระงับ", "ระงับการใช้งาน",
        "bị tạm ngưng", "tạm ngưng", "bị đình chỉ",
        "停權", "暫停",
        "تعلیق", "معلق شده",
        "معطل",
        "স্থগিত",
        "digantung",
        "nasuspinde", "sinuspinde", "na-suspend",
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
        "beperkt wie", "wie zijn posts", "wie haar posts", "wie de posts", "beschermd",
        "ogranicza, kto", "ogranicza krąg", "kto może wyświetlać", "kto może zobaczyć", "chronion",
        "begränsar vem", "vem som kan se", "skyddat", "skyddad",
        "begrenser hvem", "hvem som kan se", "beskyttet",
        "begrænser, hvem", "begrænser hvem", "hvem der kan se",
        "rajoittaa", "ketkä voivat nähdä", "kuka voi nähdä", "suojattu", "suojatu",
        "обмежує коло", "обмежує, хто", "хто може переглядати", "хто може бачити", "захищен",
        "מוגן", "מגביל את מי", "מי יכול לצפות", "מי יכולים לצפות",
        "ได้รับการปกป้อง", "จำกัดผู้ที่", "ผู้ที่สามารถดู", "ใครบ้างที่สามารถดู",
        "được bảo vệ", "giới hạn người có thể xem", "ai có thể xem",
        "受保護", "限制誰可以查看", "限制了可以查看",
        "محافظت شده", "محافظت‌شده", "چه کسی می تواند", "چه کسانی می توانند", "محدود می کند",
        "کون دیکھ سکتا", "محدود کرتا ہے کہ کون", "محفوظ",
        "সুরক্ষিত", "কে দেখতে পারবে", "কারা দেখতে পারবে", "কে দেখতে পারে",
        "mengehadkan siapa", "siapa yang boleh melihat",
        "protektado", "nililimitahan kung sino", "kung sino ang makakakita", "kung sino ang maaaring",
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
        "verwijderd", "bestaat niet meer", "bestaat niet",
        "usunięt", "usunął", "usunęła", "już nie istnieje", "nie istnieje",
        "raderat", "raderats", "raderad", "borttagen", "borttaget", "tagits bort", "finns inte",
        "slettet", "fjernet", "finnes ikke", "eksisterer ikke",
        "findes ikke", "eksisterer ikke længere",
        "poistanut", "poistettu", "poisti", "ei ole enää olemassa", "ei ole olemassa",
        "видалив", "видалила", "видален", "видалено", "більше не існує", "не існує",
        "נמחק", "הוסר", "כבר לא קיים", "אינו קיים", "לא קיים",
        "ถูกลบ", "ลบโพสต์", "ไม่มีอยู่",
        "bị xóa", "đã xóa", "xóa|", "không còn tồn tại", "không tồn tại",
        "刪除", "已不存在",
        "حذف", "پاک شد", "وجود ندارد",
        "ہٹا دیا", "ڈیلیٹ", "موجود نہیں",
        "মুছে", "আর নেই", "অস্তিত্ব নেই",
        "dipadam", "tidak wujud", "sudah tiada",
        "binura", "tinanggal", "inalis", "na-delete", "hindi na umiiral", "hindi umiiral",
    )),
)
def _pattern(fragment: str) -> tuple[str, bool]:
    """(flattened fragment as it is searched in " " + flattened text + " ", whether it may match
    inside a word): word-start fragments get a leading space, whole-word ones ("…|") both."""
    whole = fragment.endswith("|")
    flat = flatten(fragment.removesuffix("|"))
    if whole:
        return " " + flat + " ", False
    return (" " + flat, False) if _starts_word(flat) else (flat, True)


@cache
def _flat() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(status, the patterns of its fragments), flattened, in ``_FRAGMENTS``'s order. Computed on first
    use (a few ms of Unicode work a run that reads no notice does not pay), then kept."""
    return tuple((status, tuple(dict.fromkeys(_pattern(f)[0] for f in frags))) for status, frags in _FRAGMENTS)


# The notice's "Learn more" link text, in the languages above: nothing after it says what happened
# ("… Learn more about local laws" is a link, not a withholding).
# Whole words where words are written apart ("les mer", not "les merveilles").
_LEARN_MORE_TEXTS: tuple[str, ...] = (
    "learn more", "más información", "en savoir plus", "mehr erfahren", "weitere informationen", "saiba mais",
    "scopri di più", "詳細はこちら", "معرفة المزيد", "اعرف المزيد", "अधिक जानें", "और जानें", "daha fazla bilgi",
    "pelajari selengkapnya", "подробнее", "узнать больше", "了解更多", "了解详情", "자세히 알아보기",
    "meer informatie", "dowiedz się więcej", "läs mer", "les mer", "lær mere", "få mere at vide", "lue lisää",
    "lisätietoja", "докладніше", "дізнатися більше", "למידע נוסף", "מידע נוסף", "เรียนรู้เพิ่มเติม",
    "tìm hiểu thêm", "瞭解更多", "了解更多資訊", "بیشتر بدانید", "اطلاعات بیشتر", "مزید جانیں", "আরও জানুন",
    "ketahui lebih lanjut", "alamin pa", "matuto pa")


@cache
def _learn_more() -> tuple[str, ...]:
    """``_LEARN_MORE_TEXTS`` as patterns (see ``_pattern``), computed on first use, then kept."""
    return tuple(dict.fromkeys(_pattern(f + "|" if _starts_word(flatten(f)) else f)[0] for f in _LEARN_MORE_TEXTS))


# Where a notice's sentences (and clauses: ":" and ";") end: Latin and Cyrillic stops before a space,
# and the stops of scripts that write no space after them (。！？।۔؟) or a line break anywhere.
_SENTENCE_END = lazy(r"(?<=[.!?;:])\s+|[\u3002\uff01\uff1f\u0964\u06d4\u061f\n]+")


def _sentences(text: str) -> list[str]:
    """``text``'s sentences, each flattened, padded with a space each side and cut before its
    "Learn more" link text; empty ones left out."""
    out = []
    for sentence in _SENTENCE_END.split(text[:MAX_NOTICE_CHARS])[:50]:
        flat = " " + flatten(sentence) + " "
        cut = min((i for i in (flat.find(f) for f in _learn_more()) if i >= 0), default=len(flat))
        flat = flat[:cut] + " "
        if flat.strip():
            out.append(flat)
    return out


def tombstone_status(text: str | None) -> str | None:
    """The status a tombstone's text means (deleted, suspended, protected, withheld,
    age_restricted, violated_rules), or None for a text that names none of them (the capture is
    then ``tombstoned``, the text kept verbatim). "This Post was deleted by the Post author",
    "This Tweet is from a suspended account", "Este post fue eliminado por su autor" …

    The rule: the notice's first sentence that names a status decides (its later sentences explain:
    "This Post is from a suspended account. X suspends accounts that violate the X Rules." is
    suspended); within a sentence the statuses are tried in ``_FRAGMENTS``'s order ("deleted for
    violating the X Rules" is violated_rules); the "Learn more" link text is never read."""
    if not text:
        return None
    for flat in _sentences(text):
        for status, patterns in _flat():
            if any(f in flat for f in patterns):
                return status
    return None


# TweetUnavailable reasons, by a fragment of the (flattened, without spaces) reason: NsfwLoggedOut, Protected,
# Suspended and their kin, Deactivated (the account is gone: deleted, as its tombstone text says),
# UnavailableForLegalReasons and DmcaTakedown (withheld). "Unavailable" (or none) says nothing more than
# that the platform does not show the post; any other reason is one this table does not know.
_REASONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("age_restricted", ("nsfw", "adult", "agerestrict", "agegate", "ageverif")),
    ("protected", ("protect", "notauthorized", "unauthorized")),
    ("suspended", ("suspend",)),
    ("withheld", ("withh", "legal", "dmca", "copyright")),
    ("deleted", ("delet", "notfound", "doesnotexist", "nolongerexist", "deactivat")),
    ("violated_rules", ("violat", "rule")),
)
# Reasons that say only that the post is not shown.
_SILENT_REASONS = frozenset({"", "unavailable", "tweetunavailable", "postunavailable"})


def reason_status(reason: str | None) -> str | None:
    """The status a TweetUnavailable ``reason`` names, or None ("Unavailable", none, unknown)."""
    flat = flatten(reason or "").replace(" ", "")
    for status, fragments in _REASONS:
        if any(f in flat for f in fragments):
            return status
    return None


def silent_reason(reason: str | None) -> bool:
    """Whether a TweetUnavailable ``reason`` says no more than "unavailable" (or is absent)."""
    return flatten(reason or "").replace(" ", "") in _SILENT_REASONS


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
    """The post's ``withheld_in_countries`` as upper-case ISO 3166-1 alpha-2 codes (the platform's
    "XX", withheld everywhere, and "XY", withheld on a copyright claim, are two letters too), in order,
    each once, at most 300; a list of codes or one string of them ("DE" or "DE, FR") is read;
    anything else in it (numbers, three letters, empty strings) is left out. [] when there are none."""
    raw = (tweet or {}).get("withheld_in_countries")
    if isinstance(raw, str):
        raw = re.split(r"[\s,;]+", raw[:2000])
    if not isinstance(raw, list):
        return []
    codes = (c.strip().upper() for c in raw[:1000] if isinstance(c, str))
    return list(dict.fromkeys(c for c in codes if re.fullmatch(r"[A-Z]{2}", c)))[:300]


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
        if not silent_reason(answer.reason):  # a reason this module does not know: kept, said as it is
            return "tombstoned", (f"the post is {_GONE_WORDS['tombstoned']} by the platform ({source}: "
                                  f"TweetUnavailable, reason \u201c{_one_line(answer.reason or '', 100)}\u201d)")
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
    if own is not None and own.kind == "unavailable":  # "Unavailable" or no reason: not shown now
        said = f"TweetUnavailable, {own.reason or 'no reason'}"
        if oembed.outcome == "not_found":
            return "deleted", f"the post is deleted (oEmbed 404 and syndication: {said})"
        cached = "; oEmbed's 200 comes from its cache" if oembed.outcome == "ok" else ""
        return "tombstoned", f"the post is not shown by the platform now (syndication: {said}{cached})"
    copy = _has_post(embedded) and has_content
    no_post = synd.outcome in ("empty", "not_found")
    if not no_post:
        reason = synd.error or f"syndication: {synd.outcome}"
        if copy:
            return "partial", f"{reason}; content from the copy in the {embedded_name.replace('_', ' ')}"
        return "unavailable", reason
    said = "{}" if synd.outcome == "empty" else "404"
    if copy:
        return "archived", None
    if oembed.outcome == "not_found":
        return "deleted", f"the post is deleted (oEmbed 404 and syndication {said})"
    if oembed.outcome == "ok":
        kept = "its content here comes only from oEmbed's cache" if has_content else "oEmbed's cache answered"
        return "tombstoned", (f"the post is not shown by the platform now (syndication {said}: no post under "
                              f"this id); {kept}, and the post may be gone")
    if oembed.transient:
        return "unavailable", oembed.error or f"oembed: {oembed.outcome}"
    return "deleted", f"the post is deleted (syndication {said}, oEmbed {oembed.outcome})"

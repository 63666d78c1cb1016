"""Post URL recognition for every provider, and what is not a post."""

from __future__ import annotations

import pytest

from archiver.discover.scan import discover
from archiver.discover.urls import match_post_url

TWEET = ("twitter", "1764927578469150481", "https://twitter.com/PinecrestObs/status/1764927578469150481")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://x.com/PinecrestObs/status/1764927578469150481", TWEET),
        ("https://mobile.twitter.com/PinecrestObs/status/1764927578469150481", TWEET),
        ("https://twitter.com/#!/PinecrestObs/status/1764927578469150481", TWEET),
        ("https://twitter.com/PinecrestObs/statuses/1764927578469150481", TWEET),
        ("https://fixupx.com/PinecrestObs/status/1764927578469150481?s=20&t=Hx2k", TWEET),
        ("https://x.com/PinecrestObs/status/1764927578469150481/photo/1", TWEET),
        ("//twitter.com/PinecrestObs/status/1764927578469150481/", TWEET),
        ("https://twitter.com/i/web/status/1764927578469150481",
         ("twitter", "1764927578469150481", "https://twitter.com/i/web/status/1764927578469150481")),
        ("https://x.com/i/status/1764927578469150481",
         ("twitter", "1764927578469150481", "https://twitter.com/i/web/status/1764927578469150481")),
        ("https://twitter.com/jack/status/20", ("twitter", "20", "https://twitter.com/jack/status/20")),
        ("https://platform.twitter.com/embed/Tweet.html?dnt=false&id=1748306223249557432&lang=en",
         ("twitter", "1748306223249557432", "https://twitter.com/i/web/status/1748306223249557432")),
        ("https://www.instagram.com/p/C4kP2rTz8Lm/?utm_source=ig_embed",
         ("instagram", "C4kP2rTz8Lm", "https://www.instagram.com/p/C4kP2rTz8Lm/")),
        ("https://www.instagram.com/pineridgeresort/reel/C5aB3cD4eF5/",
         ("instagram", "C5aB3cD4eF5", "https://www.instagram.com/reel/C5aB3cD4eF5/")),
        ("https://www.facebook.com/plugins/post.php?href=https%3A%2F%2Fwww.facebook.com%2FPinecrestObserver%2Fposts%2F10161234567890123&show_text=true",
         ("facebook", "10161234567890123", "https://www.facebook.com/PinecrestObserver/posts/10161234567890123")),
        ("https://m.facebook.com/permalink.php?story_fbid=pfbid02abcDEF123&id=100064",
         ("facebook", "pfbid02abcDEF123", "https://www.facebook.com/permalink.php?story_fbid=pfbid02abcDEF123&id=100064")),
        ("https://www.youtube-nocookie.com/embed/Tq2wE9rY4uI?si=Ab3c",
         ("youtube", "Tq2wE9rY4uI", "https://www.youtube.com/watch?v=Tq2wE9rY4uI")),
        ("https://www.youtube.com/watch?feature=share&v=Tq2wE9rY4uI",
         ("youtube", "Tq2wE9rY4uI", "https://www.youtube.com/watch?v=Tq2wE9rY4uI")),
        ("https://youtu.be/Tq2wE9rY4uI?si=x", ("youtube", "Tq2wE9rY4uI", "https://www.youtube.com/watch?v=Tq2wE9rY4uI")),
        ("https://www.tiktok.com/@pinecrestobserver/video/7342136643995317486?lang=en",
         ("tiktok", "7342136643995317486", "https://www.tiktok.com/@pinecrestobserver/video/7342136643995317486")),
        ("at://did:plc:pft7v4seh2kvj72ceuvw75ef/app.bsky.feed.post/3kmzg4tk6c6zb",
         ("bluesky", "3kmzg4tk6c6zb", "https://bsky.app/profile/did:plc:pft7v4seh2kvj72ceuvw75ef/post/3kmzg4tk6c6zb")),
        ("https://threads.com/@pineridgeresort/post/C4nR8sLq2Xe?xmt=1",
         ("threads", "C4nR8sLq2Xe", "https://www.threads.com/@pineridgeresort/post/C4nR8sLq2Xe")),
        ("https://mastodon.social/@observer@social.pinecrest.example/112036596940807418",
         ("mastodon", "112036596940807418", "https://mastodon.social/@observer/112036596940807418")),
        ("https://t.me/s/lakemontalerts/512", ("telegram", "lakemontalerts/512", "https://t.me/lakemontalerts/512")),
        ("https://old.reddit.com/r/Lakemont/comments/1b6yq2k/ice_out/?utm_source=share",
         ("reddit", "1b6yq2k", "https://www.reddit.com/r/Lakemont/comments/1b6yq2k/")),
        ("https://redd.it/1b6yq2k", ("reddit", "1b6yq2k", "https://www.reddit.com/comments/1b6yq2k/")),
        ("https://www.linkedin.com/posts/pinecrest-observer_ice-activity-7171882352641923661-AbCd",
         ("linkedin", "urn:li:activity:7171882352641923661",
          "https://www.linkedin.com/feed/update/urn:li:activity:7171882352641923661/")),
    ],
)
def test_post_urls(url: str, expected: tuple[str, str, str]) -> None:
    assert match_post_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://twitter.com/PinecrestObs",
        "https://twitter.com/intent/tweet?text=hi",
        "https://twitter.com/hashtag/LakeMont",
        "https://twitter.com/i/moments/1764927578469150481",
        "https://twitter.com/i/spaces/1ypKddXzrqEJW",
        "https://twitter.com/i/lists/1764927578469150481",
        "https://twitter.com/search?q=lake",
        "https://www.facebook.com/tr?id=123&ev=PageView",
        "https://www.facebook.com/LakemontDPW",
        "https://www.youtube.com/embed/videoseries?list=PL123",
        "https://www.tiktok.com/music/original-sound-7342135990123456789",
        "https://www.instagram.com/pineridgeresort/",
        "https://www.tiktok.com/@pinecrestobserver/",
        "https://example.com/@someone/about",
        "javascript:alert(1)",
        "",
        "https://" + "a" * 20000,
    ],
)
def test_not_posts(url: str) -> None:
    assert match_post_url(url) is None


def test_ids_are_strings_even_when_long() -> None:
    found = match_post_url("https://twitter.com/a/status/18446744073709551615")
    assert found is not None and found[1] == "18446744073709551615"


# --- issue 14, kind 1: every current post URL shape of every provider --------------------------------
STATUS = "1943236038893785095"
WEB = ("twitter", STATUS, f"https://twitter.com/i/web/status/{STATUS}")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # Twitter redirects any segment before /status/: only a real handle goes into the canonical URL.
        (f"https://twitter.com/ExampleMinistry1/status/{STATUS}", WEB),
        (f"https://x.com/Ministerio_de_Salud_Publica/status/{STATUS}?s=20&t=abc", WEB),
        (f"https://mobile.twitter.com/Se%C3%B1orEjemplo/status/{STATUS}/photo/1", WEB),
        (f"https://www.x.com/i/web/status/{STATUS}", WEB),
        (f"https://x.com/i/status/{STATUS}/video/1", WEB),
        (f"https://twitter.com/statuses/{STATUS}", WEB),
        (f"https://twitter.com/ExampleMin/statuses/{STATUS}",
         ("twitter", STATUS, f"https://twitter.com/ExampleMin/status/{STATUS}")),
        (f"https://m.twitter.com/ExampleMin/status/{STATUS}/analytics",
         ("twitter", STATUS, f"https://twitter.com/ExampleMin/status/{STATUS}")),
        # TikTok: the iframe player, photo posts, the embed player, the old mobile page.
        ("https://www.tiktok.com/player/v1/7301234567890123456?music_info=1&description=1",
         ("tiktok", "7301234567890123456", None)),
        ("https://www.tiktok.com/@shop/photo/7364097008107300001?lang=en",
         ("tiktok", "7364097008107300001", "https://www.tiktok.com/@shop/photo/7364097008107300001")),
        ("https://www.tiktok.com/embed/v2/7301234567890123456", ("tiktok", "7301234567890123456", None)),
        ("https://m.tiktok.com/v/7301234567890123456.html", ("tiktok", "7301234567890123456", None)),
        # Threads: /t/CODE/ and its embed, both domains.
        ("https://www.threads.net/t/C0zXcQmxO77/", ("threads", "C0zXcQmxO77", "https://www.threads.com/t/C0zXcQmxO77/")),
        ("https://www.threads.com/t/C0zXcQmxO77/embed/",
         ("threads", "C0zXcQmxO77", "https://www.threads.com/t/C0zXcQmxO77/")),
        ("https://www.threads.net/@lake.mont/post/C0zXcQmxO77/embed",
         ("threads", "C0zXcQmxO77", "https://www.threads.com/@lake.mont/post/C0zXcQmxO77")),
        # Instagram: reels, tv, a post under its account, the captioned embed.
        ("https://www.instagram.com/reels/C5aB3cD4eF5/", ("instagram", "C5aB3cD4eF5", "https://www.instagram.com/reel/C5aB3cD4eF5/")),
        ("https://www.instagram.com/tv/C5aB3cD4eF5/", ("instagram", "C5aB3cD4eF5", "https://www.instagram.com/tv/C5aB3cD4eF5/")),
        ("https://www.instagram.com/lake.mont/p/C4kP2rTz8Lm/", ("instagram", "C4kP2rTz8Lm", "https://www.instagram.com/p/C4kP2rTz8Lm/")),
        ("https://www.instagram.com/p/C4kP2rTz8Lm/embed/captioned/",
         ("instagram", "C4kP2rTz8Lm", "https://www.instagram.com/p/C4kP2rTz8Lm/")),
        # YouTube: shorts, live, nocookie, /v/, m. and music., v= anywhere in the query.
        ("https://youtube.com/shorts/Tq2wE9rY4uI?feature=share", ("youtube", "Tq2wE9rY4uI", "https://www.youtube.com/watch?v=Tq2wE9rY4uI")),
        ("https://www.youtube.com/live/Tq2wE9rY4uI?si=x", ("youtube", "Tq2wE9rY4uI", "https://www.youtube.com/watch?v=Tq2wE9rY4uI")),
        ("http://www.youtube.com/v/Tq2wE9rY4uI?version=3", ("youtube", "Tq2wE9rY4uI", "https://www.youtube.com/watch?v=Tq2wE9rY4uI")),
        ("https://music.youtube.com/watch?list=RD1&v=Tq2wE9rY4uI", ("youtube", "Tq2wE9rY4uI", "https://www.youtube.com/watch?v=Tq2wE9rY4uI")),
        ("https://m.youtube.com/watch?app=desktop&v=Tq2wE9rY4uI&t=1s", ("youtube", "Tq2wE9rY4uI", "https://www.youtube.com/watch?v=Tq2wE9rY4uI")),
        # Facebook: groups, reels, watch (live too), video.php, videos with a slug, photo.php.
        ("https://www.facebook.com/groups/lakemontneighbors/posts/7712345678901234/",
         ("facebook", "7712345678901234", "https://www.facebook.com/groups/lakemontneighbors/posts/7712345678901234")),
        ("https://www.facebook.com/groups/123456789/permalink/7712345678901234/",
         ("facebook", "7712345678901234", "https://www.facebook.com/groups/123456789/posts/7712345678901234")),
        ("https://www.facebook.com/reel/1029384756102938/?s=single_unit",
         ("facebook", "1029384756102938", "https://www.facebook.com/reel/1029384756102938")),
        ("https://www.facebook.com/watch/live/?ref=watch_permalink&v=10155512345678901",
         ("facebook", "10155512345678901", "https://www.facebook.com/watch/?v=10155512345678901")),
        ("https://www.facebook.com/video.php?v=10155512345678901",
         ("facebook", "10155512345678901", "https://www.facebook.com/watch/?v=10155512345678901")),
        ("https://www.facebook.com/LakemontDPW/videos/ice-out-2024/10155512345678901/",
         ("facebook", "10155512345678901", "https://www.facebook.com/LakemontDPW/videos/10155512345678901")),
        ("https://www.facebook.com/photo.php?fbid=10155512345678901&set=a.1&type=3",
         ("facebook", "10155512345678901", "https://www.facebook.com/photo.php?fbid=10155512345678901")),
        # Reddit: slugged comments pages on old./new./np.
        ("https://np.reddit.com/r/Lakemont/comments/1b6yq2k/ice_out/",
         ("reddit", "1b6yq2k", "https://www.reddit.com/r/Lakemont/comments/1b6yq2k/")),
        ("https://new.reddit.com/r/Lakemont/comments/1b6yq2k/", ("reddit", "1b6yq2k", "https://www.reddit.com/r/Lakemont/comments/1b6yq2k/")),
        ("https://www.reddit.com/gallery/1b6yq2k", ("reddit", "1b6yq2k", "https://www.reddit.com/comments/1b6yq2k/")),
        # Bluesky and Mastodon.
        ("https://bsky.app/profile/trails.lakemont.example/post/3kmzg4tk6c6zb",
         ("bluesky", "3kmzg4tk6c6zb", "https://bsky.app/profile/trails.lakemont.example/post/3kmzg4tk6c6zb")),
        ("https://social.pinecrest.example/users/observer/statuses/112036596940807418",
         ("mastodon", "112036596940807418", "https://social.pinecrest.example/@observer/112036596940807418")),
        # Mastodon's advanced (deck) and older web interfaces put a prefix before the status path.
        ("https://mastodon.social/deck/@user/112036596940807421",
         ("mastodon", "112036596940807421", "https://mastodon.social/@user/112036596940807421")),
        ("https://mastodon.social/web/@user@social.example/112036596940807422",
         ("mastodon", "112036596940807422", "https://mastodon.social/@user/112036596940807422")),
        # Telegram: private channels (t.me/c/), the /s/ preview, a message in a forum topic.
        ("https://t.me/c/1234567890/55", ("telegram", "c/1234567890/55", "https://t.me/c/1234567890/55")),
        ("https://t.me/c/1234567890/7/55", ("telegram", "c/1234567890/55", "https://t.me/c/1234567890/55")),
        ("https://t.me/lakemontalerts/7/512", ("telegram", "lakemontalerts/512", "https://t.me/lakemontalerts/512")),
        # LinkedIn: the embed iframe's share URN.
        ("https://www.linkedin.com/embed/feed/update/urn:li:share:7171882352641923661?collapsed=1",
         ("linkedin", "urn:li:share:7171882352641923661",
          "https://www.linkedin.com/feed/update/urn:li:share:7171882352641923661/")),
    ],
)
def test_current_post_url_shapes(url: str, expected: tuple[str, str, str | None]) -> None:
    assert match_post_url(url) == expected


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("https://vt.tiktok.com/ZSTD5bW7/", "tiktok"),
        ("https://vm.tiktok.com/ZMr4Xq9Lk/", "tiktok"),
        ("https://www.tiktok.com/t/ZTRq8Hc2/", "tiktok"),
        ("https://www.reddit.com/r/example/s/cv5XKIpUIr", "reddit"),
        ("https://reddit.com/u/pier4regular/s/Ab12Cd34Ef", "reddit"),
        ("https://www.facebook.com/share/p/1BxRgPHRBn/", "facebook"),
        ("https://www.facebook.com/share/v/1BxRgPHRBn/?mibextid=abc", "facebook"),
        ("https://m.facebook.com/share/1BxRgPHRBn/", "facebook"),
        ("https://fb.watch/nQ7s1Zx-Ab/", "facebook"),
        ("https://www.instagram.com/share/reel/BAabcDEF12/", "instagram"),
        ("https://lnkd.in/eAbCdEfG", "linkedin"),  # LinkedIn's share shortener
        ("https://www.youtube.com/clip/UgkxAbCdEfGhIjKlMnOpQrStUvWxYz012345", "youtube"),  # a clip hides its video
    ],
)
def test_share_links_are_posts_without_an_id(url: str, provider: str) -> None:
    """A share link names its provider but not its post until followed: (provider, None, the link)."""
    assert match_post_url(url) == (provider, None, url)
    assert match_post_url(url, provider) == (provider, None, url)
    assert match_post_url(url, "twitter") is None


@pytest.mark.parametrize(
    "url",
    [
        "https://www.tiktok.com/t/",
        "https://vt.tiktok.com/",
        "https://www.facebook.com/share/",
        "https://www.facebook.com/sharer/sharer.php?u=https%3A%2F%2Fnews.example%2F",
        "https://www.reddit.com/r/example/",
        "https://www.reddit.com/r/example/submit?url=x",
        "https://www.threads.net/@lake.mont",
        "https://x.com/ExampleMin/likes",
        "https://x.com/ExampleMin/status/",
        "https://t.me/c/1234567890",
        "https://www.tiktok.com/@shop/photo/",
        "https://lnkd.in/",
        "https://www.youtube.com/clip/",
        "https://mastodon.social/deck/getting-started",
    ],
)
def test_near_misses_are_not_posts(url: str) -> None:
    assert match_post_url(url) is None


def test_status_url_matching_stays_linear() -> None:
    """A long hostile handle segment costs time linear in its length (the pattern is bounded)."""
    import time

    start = time.thread_time()
    for hostile in ("https://twitter.com/" + "a" * 8000 + "/status/1", "https://x.com/" + "%" * 8000,
                    "https://twitter.com/" + "a/" * 4000 + "status/1"):
        assert match_post_url(hostile) is None
    assert time.thread_time() - start < 0.5


def test_a_post_on_a_host_in_another_script_is_matched_by_its_ascii_name() -> None:
    """A Mastodon server may have an internationalized name: a browser sends it in its IDNA (xn--)
    form, so the post is matched, canonical URL in that form, and its embed is found in an article."""
    assert match_post_url("https://mastodon.bücher.social/@leser/111234567890123456") == (
        "mastodon", "111234567890123456", "https://mastodon.xn--bcher-kva.social/@leser/111234567890123456")
    assert match_post_url("https://例え.テスト/@user/111234567890123456") == (
        "mastodon", "111234567890123456", "https://xn--r8jz45g.xn--zckzah/@user/111234567890123456")
    doc = ('<blockquote class="mastodon-embed" data-embed-url="https://mastodon.bücher.social/@leser/'
           '111234567890123456/embed"><a href="https://mastodon.bücher.social/@leser/111234567890123456">'
           'post</a></blockquote>')
    (found,) = discover(doc).embeds
    assert (found.provider, found.post_id) == ("mastodon", "111234567890123456")

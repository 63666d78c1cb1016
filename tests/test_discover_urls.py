"""Post URL recognition for every provider, and what is not a post."""

from __future__ import annotations

import pytest

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

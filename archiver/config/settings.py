"""Settings: documented defaults from config/defaults.toml, overridden by ARCHIVER_* variables.

One frozen object is passed to every step, so a worker and the embedded runner behave alike.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver.errors import ConfigError

DEFAULTS_FILE = Path(__file__).resolve().parent.parent.parent / "config" / "defaults.toml"


@dataclass(frozen=True)
class Settings:
    home: str = "./archiver-data"
    storage: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_connect_timeout: float = 5.0
    s3_read_timeout: float = 30.0
    s3_max_attempts: int = 3
    catalog: str = ""
    broker_url: str = "redis://127.0.0.1:6379/0"
    public_base_url: str = "http://127.0.0.1:8080/media"
    twitter_oembed_url: str = "https://publish.twitter.com/oembed"
    twitter_syndication_url: str = "https://cdn.syndication.twimg.com/tweet-result"
    twitter_shortlink_url: str = "https://t.co/{code}"
    fetch_allow: str = ""
    user_agent: str = "archiver/0.1"
    fetch_connect_timeout: float = 5.0
    fetch_read_timeout: float = 10.0
    fetch_deadline: float = 20.0
    fetch_max_redirects: int = 5
    fetch_retries: int = 2
    fetch_max_retry_after: float = 10.0
    max_bytes_image: int = 25 * 1024 * 1024
    max_bytes_video: int = 500 * 1024 * 1024
    max_bytes_json: int = 2 * 1024 * 1024
    max_bytes_html: int = 5 * 1024 * 1024
    max_article_bytes: int = 25 * 1024 * 1024
    host_concurrency: int = 4
    host_rate_per_second: float = 10.0
    max_image_pixels: int = 100_000_000
    max_image_frames: int = 1000
    media_derivatives: bool = True
    media_time_limit: float = 15.0
    capture_threads: int = 8
    capture_fresh_for: int = 7 * 24 * 3600
    max_redeliveries: int = 3
    archive_deadline: float = 60.0
    media_dedupe_window: int = 30 * 24 * 3600
    visibility_timeout: int = 3600
    task_time_limit: int = 900
    lock_lease: float = 30.0
    capture_retry_delays: str = "60,600,3600"
    health_dead_after_failures: int = 3
    health_dead_after_hours: float = 72.0
    health_round_seconds: float = 300.0
    health_placeholder_sha256s: str = ""
    cms_callback_url: str = ""
    cms_callback_secret: str = ""
    auto_restore_sites: str = ""
    feeds: str = ""
    object_lock_retention_days: int = 0
    fetch_ca_bundle: str = ""
    youtube_oembed_url: str = "https://www.youtube.com/oembed"
    tiktok_oembed_url: str = "https://www.tiktok.com/oembed"
    reddit_oembed_url: str = "https://www.reddit.com/oembed"
    bluesky_oembed_url: str = "https://embed.bsky.app/oembed"
    mastodon_oembed_url: str = "https://{host}/api/oembed"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    # --- derived values -------------------------------------------------------------
    @property
    def home_path(self) -> Path:
        return Path(self.home).expanduser().resolve()

    @property
    def storage_url(self) -> str:
        return self.storage or (self.home_path / "objects").as_uri()

    @property
    def catalog_url(self) -> str:
        return self.catalog or f"sqlite:///{self.home_path / 'catalog.sqlite3'}"

    @property
    def fetch_allow_list(self) -> list[str]:
        return [p.strip() for p in self.fetch_allow.split(",") if p.strip()]

    @property
    def capture_retry_delay_list(self) -> list[float]:
        return [float(p) for p in self.capture_retry_delays.split(",") if p.strip()]

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _coerce(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is bool:
            low = raw.strip().lower()
            if low in {"1", "true", "yes", "on"}:
                return True
            if low in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        return kind(raw)
    except ValueError:
        raise ConfigError(f"ARCHIVER_{name.upper()}={raw!r} is not a valid {kind.__name__}") from None


def load_settings(env: dict[str, str] | None = None, defaults_file: Path | None = None) -> Settings:
    """Defaults file, then ARCHIVER_* environment variables (environment wins)."""
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    path = defaults_file or DEFAULTS_FILE
    if path.exists():
        try:
            values.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    fields = {f.name for f in dataclasses.fields(Settings) if f.name != "extra"}
    unknown = set(values) - fields
    if unknown:
        raise ConfigError(f"{path}: unknown settings {sorted(unknown)}")
    for name in sorted(fields):
        raw = env.get(f"ARCHIVER_{name.upper()}")
        if raw is not None:
            default = Settings.__dataclass_fields__[name].default
            values[name] = _coerce(name, raw, type(default))
    return Settings(**values)

"""Settings: one frozen, validated object passed to every step, so a worker and the local runner behave alike.

The defaults live here and nowhere else, so an installed wheel has them. Where a value comes from, lowest
first: these defaults, then a TOML file named by ``ARCHIVER_CONFIG_FILE`` (``config/archiver.example.toml``
documents every key and what it means), then ``ARCHIVER_<NAME>`` environment variables. ``load_settings``
is the one place that reads the file and the environment; ``Settings(**values)`` is just those values over
the defaults.

Each provider declares its own endpoint settings (``archiver.providers.registry.provider_settings()``).
They are settings like the others (attribute, keyword, ``replace``, ``ARCHIVER_<NAME>``), but they are
looked up when a ``Settings`` is made, not when this module is imported: provider modules import what
imports this module, so reading the registry at import time would be an import cycle at run time.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from archiver.capture.ownsite import parse_own_hosts, parse_own_sites
from archiver.dates import zone
from archiver.errors import ConfigError
from archiver.lazyre import lazy
from archiver.providers.registry import provider_settings
from archiver.redact import MASK, is_secret_name, redact_text

ENV_PREFIX = "ARCHIVER_"
# Names a TOML file of settings (the format of config/archiver.example.toml); the environment wins over it.
CONFIG_FILE_VARIABLE = "ARCHIVER_CONFIG_FILE"

# How many time-stamping authorities ``tsa_urls`` may name.
MAX_TSA_URLS = 8

_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


def _switch(value: Any) -> Any:
    """An on/off value: the words pydantic knows, with blanks around them allowed and "" meaning off."""
    if isinstance(value, str):
        word = value.strip().lower()
        return False if word in _FALSE_WORDS else word
    return value


# The largest value of a number setting, by its unit (from its name): durations up to about a century,
# so that now plus or minus any of them is a date Python holds; sizes and pixel counts are unbounded.
_MAX_SECONDS = 100 * 365 * 24 * 3600
_UNBOUNDED = ("max_bytes_", "max_article_bytes", "max_request_bytes", "max_image_pixels", "media_memory_budget")


def _maximum(name: str) -> float | None:
    """The largest value the number setting `name` may have, None when unbounded."""
    if name.startswith(_UNBOUNDED):
        return None
    if name.endswith("_days"):
        return _MAX_SECONDS / 86400
    if name.endswith("_hours"):
        return _MAX_SECONDS / 3600
    return _MAX_SECONDS


# --- ARCHIVER_FETCH_ALLOW (archiver.capture.guard reads it with this parser; the settings check it
# when they load, so a mistyped entry is one line and exit 2 at start, never an error at fetch time)
@dataclass(frozen=True)
class AllowRule:
    """One entry of ``fetch_allow``: a network, or a host name; either with a port or any port."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    host: str | None
    port: int | None

    def matches(self, host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return ip in self.network
        return self.host == host


# A host name of an allow entry: dot-separated labels of letters, digits, "-" and "_" (RFC 1123, and
# the underscores of service names), not all of them digits (that would be a mistyped IPv4 address).
_ALLOW_HOST = lazy(r"(?=.{1,253}\.?$)(?![0-9.]+$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
                         r"(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?", re.ASCII)
_ALLOW_PREFIX = "ARCHIVER_FETCH_ALLOW: "


def parse_allow(entries: list[str]) -> list[AllowRule]:
    """ARCHIVER_FETCH_ALLOW entries: host, host:port, IP, IP:port, [IPv6]:port or CIDR (a port 1-65535).
    ConfigError naming the first entry that is none of these (`[::1` or `999.1.1.1/99`, say): a
    mistyped allowance is said, not kept as a host name that matches nothing."""
    rules = []
    for raw in entries:
        entry = raw.strip().lower()
        try:
            rules.append(AllowRule(ipaddress.ip_network(entry, strict=False), None, None))
            continue
        except ValueError:
            pass
        host, port = entry, None
        m = re.fullmatch(r"\[([0-9a-f:.]+)\](?::([0-9]+))?|([^:\[\]]+):([0-9]+)", entry)
        if m:
            host = m.group(1) or m.group(3)
            port = int(m.group(2) or m.group(4)) if (m.group(2) or m.group(4)) else None
            if port is not None and not 1 <= port <= 65535:
                raise ConfigError(f"{_ALLOW_PREFIX}{raw.strip()[:80]!r} has a port out of 1-65535")
        try:
            ip = ipaddress.ip_address(host)
            rules.append(AllowRule(ipaddress.ip_network(ip), None, port))
        except ValueError:
            if (m is not None and m.group(1)) or not _ALLOW_HOST.fullmatch(host):
                raise ConfigError(f"{_ALLOW_PREFIX}{raw.strip()[:80]!r} is not a host, host:port, IP address, "
                                  "IP:port, [IPv6]:port or CIDR network") from None
            rules.append(AllowRule(None, host.rstrip("."), port))
    return rules


class SettingValueError(ValueError):
    """A bad value of the setting `name`, found where pydantic does not know the name (a provider's
    setting, kept as an extra): ``_explain`` names its variable or key from it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


# Characters a public base URL may not hold: spliced into an article (an attribute, a srcset list, a
# CSS url()), any of them would end or split the value it is put in.
_UNSPLICEABLE = frozenset("\"'`,()<>\\")


def check_http_url(value: str, *, spliced: bool = False) -> str:
    """`value` itself when it is an absolute http(s) URL with a host (a template's {placeholders} count
    as text) of at most 2048 characters, without whitespace or control characters; with `spliced`, also
    none of the characters that would break an attribute, srcset or CSS url() (`_UNSPLICEABLE`).
    ValueError saying what is wrong otherwise."""
    shown = redact_text(value)[:80]
    if len(value) > 2048 or any(c.isspace() or ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise ValueError(f"{shown!r} is not an absolute http(s) URL (no spaces or control characters, "
                         "at most 2048 characters)")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a port out of range or not a number raises here
    except ValueError:
        raise ValueError(f"{shown!r} is not an absolute http(s) URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or not (parts.hostname or "{" in parts.netloc):
        raise ValueError(f"{shown!r} is not an absolute http(s) URL (http://host/...)")
    if spliced:
        bad = sorted({c for c in value if c in _UNSPLICEABLE})
        if bad:
            raise ValueError(f"{shown!r} holds {' '.join(map(repr, bad))}, which would break the attributes, "
                             "srcset lists and CSS url()s the URL is written into")
    return value


Switch = Annotated[bool, BeforeValidator(_switch)]
# A rate: finite and above zero (inf is not a way to say "no limit"; a very large number is).
FiniteRate = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class Settings(BaseModel):
    """Every setting of archiver with its default; the meaning of each is in config/archiver.example.toml.

    Sizes are bytes and times seconds unless the name says otherwise. Frozen: derive a changed copy with
    ``replace``. Making one with an unknown name, a value of the wrong type or a value out of its range (a
    count, size or time that must be positive, or not negative) raises ``pydantic.ValidationError``
    (``load_settings`` turns that into a ``ConfigError``).
    """

    # No number may be inf or nan: "no limit" is a large number, and inf breaks the time arithmetic.
    model_config = ConfigDict(frozen=True, extra="allow", allow_inf_nan=False)

    # where things live
    home: str = "./archiver-data"
    storage: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_connect_timeout: PositiveFloat = 5.0
    s3_read_timeout: PositiveFloat = 30.0
    s3_max_attempts: PositiveInt = 3
    catalog: str = ""
    broker_url: str = "redis://127.0.0.1:6379/0"
    public_base_url: str = "http://127.0.0.1:8080/media"
    # safe fetching
    fetch_allow: str = ""
    user_agent: str = "archiver/0.1 (+https://github.com/archiver-news/archiver; news archive bot)"
    fetch_connect_timeout: PositiveFloat = 5.0
    fetch_read_timeout: PositiveFloat = 10.0
    fetch_deadline: PositiveFloat = 20.0
    fetch_max_redirects: NonNegativeInt = 5
    fetch_retries: NonNegativeInt = 2
    fetch_max_retry_after: NonNegativeFloat = 10.0
    max_bytes_image: PositiveInt = 25 * 1024 * 1024
    max_bytes_video: PositiveInt = 500 * 1024 * 1024
    max_bytes_json: PositiveInt = 2 * 1024 * 1024
    max_bytes_html: PositiveInt = 5 * 1024 * 1024
    max_article_bytes: PositiveInt = 25 * 1024 * 1024
    host_concurrency: PositiveInt = 4
    host_rate_per_second: FiniteRate = 10.0
    # The article's own site (its registrable domain, when archiver fetched the article from it, the
    # operator gave its URL, or it is in own_sites), the newsroom's domains in own_sites (comma list of
    # registrable domains) and these hosts (comma list: host, IP or *.domain) get their own, higher
    # limits (archiver.capture.ownsite; README "Politeness").
    own_hosts: str = ""
    own_sites: str = ""
    own_host_concurrency: PositiveInt = 16
    own_host_rate_per_second: FiniteRate = 200.0
    # At most this many images of one article are fetched; the rest are stored rejected (retry tries
    # them again once this is raised).
    max_images_per_article: PositiveInt = 500
    fetch_ca_bundle: str = ""
    # media
    max_image_pixels: PositiveInt = 100_000_000
    max_image_frames: PositiveInt = 1000
    media_derivatives: Switch = True
    media_time_limit: PositiveFloat = 15.0
    media_workers: PositiveInt = 4
    media_memory_budget: NonNegativeInt = 1024 * 1024 * 1024
    # capture and the runners
    capture_threads: PositiveInt = 8
    capture_fresh_for: NonNegativeInt = 7 * 24 * 3600
    # Where a provider's share link (vt.tiktok.com/…, reddit /s/, facebook /share/) is asked for its
    # redirect: {host} is the link's host, {path} its path and query (archiver/providers/shortlinks.py).
    shortlink_url: str = "https://{host}{path}"
    max_redeliveries: NonNegativeInt = 3
    archive_deadline: PositiveFloat = 60.0
    # `archiver archive` of many sources: how many articles run at once in the one process (each with
    # its own archive_deadline).
    article_concurrency: PositiveInt = 4
    media_dedupe_window: NonNegativeInt = 30 * 24 * 3600
    visibility_timeout: PositiveInt = 120
    task_time_limit: PositiveInt = 90
    lock_lease: PositiveFloat = 30.0
    capture_retry_delays: str = "60,600,3600"
    fault_retries: NonNegativeInt = 10
    fault_retry_max_delay: PositiveFloat = 60.0
    sweep_interval: PositiveFloat = 60.0
    sweep_stale_after: PositiveFloat = 300.0
    sweep_batch: PositiveInt = 500
    # link health and restoring
    health_dead_after_failures: PositiveInt = 3
    health_dead_after_hours: NonNegativeFloat = 72.0
    health_round_seconds: PositiveFloat = 300.0
    health_placeholder_sha256s: str = ""
    cms_callback_url: str = ""
    cms_callback_secret: str = ""
    auto_restore_sites: str = ""
    # feeds, object lock
    feeds: str = ""
    object_lock_retention_days: NonNegativeInt = 0
    # the web service (`archiver serve`)
    max_request_bytes: PositiveInt = 1024 * 1024
    request_body_timeout: PositiveFloat = 30.0
    session_lifetime: PositiveInt = 8 * 3600
    forwarded_allow_ips: str = "127.0.0.1"
    display_timezone: str = "UTC"
    # how `restore` replaces a dead embed: an inline static card in the article's markup, or the
    # sandboxed iframe of the stored HTML card
    restore_style: Literal["inline", "iframe"] = "inline"
    # trusted time (RFC 3161; archiver/compliance/timestamps.py): no TSA named, no timestamping
    tsa_urls: str = ""
    tsa_ca_certs: str = ""
    tsa_batch_window: NonNegativeFloat = 10.0
    tsa_timeout: PositiveFloat = 10.0
    tsa_retries: NonNegativeInt = 1
    tsa_retry_delays: str = "60,300,1800,3600"
    tsa_lookback: PositiveFloat = 7 * 24 * 3600.0
    tsa_scan_interval: PositiveFloat = 300.0
    tsa_scan_limit: PositiveInt = 1000

    @field_validator("home")
    @classmethod
    def _home(cls, value: str) -> str:
        """Blank (ARCHIVER_HOME= set empty, as a template leaves it) is the default, never the
        current directory."""
        return value if value.strip() else "./archiver-data"

    @field_validator("display_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        """An IANA time zone name that this machine's (or the tzdata package's) database knows."""
        zone(value)
        return value

    @field_validator("capture_retry_delays", "tsa_retry_delays")
    @classmethod
    def _delays(cls, value: str) -> str:
        """A comma list of non-negative numbers of seconds (may be empty: no scheduled retries)."""
        for part in (p.strip() for p in value.split(",")):
            if part:
                try:
                    seconds = float(part)
                except ValueError:
                    raise ValueError(f"{part!r} is not a number of seconds") from None
                if not seconds >= 0 or seconds == float("inf"):
                    raise ValueError(f"{part!r} is not a non-negative number of seconds")
        return value

    @field_validator("own_hosts")
    @classmethod
    def _own_hosts(cls, value: str) -> str:
        """A comma list of host names, IP addresses and *.domain wildcards (not over a public suffix, not
        a platform's host); parsed once per process for a given value (cached)."""
        parse_own_hosts(value)
        return value

    @field_validator("own_sites")
    @classmethod
    def _own_sites(cls, value: str) -> str:
        """A comma list of registrable domains (example.co.uk, not www.example.co.uk; not a platform's)."""
        parse_own_sites(value)
        return value

    @field_validator("tsa_urls")
    @classmethod
    def _tsa_urls(cls, value: str) -> str:
        """A comma list of at most MAX_TSA_URLS distinct http(s) URLs without credentials (may be empty)."""
        urls = [p.strip() for p in value.split(",") if p.strip()]
        if len(urls) > MAX_TSA_URLS:
            raise ValueError(f"at most {MAX_TSA_URLS} time-stamping authorities, not {len(urls)}")
        for url in urls:
            parts = urlsplit(url)
            if (parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2048
                    or parts.username is not None or any(c.isspace() or ord(c) < 32 for c in url)):
                raise ValueError(f"{redact_text(url)[:200]!r} is not an http(s) URL without credentials")
        if len(set(urls)) != len(urls):
            raise ValueError("a time-stamping authority is named twice")
        return value

    @field_validator("fetch_allow")
    @classmethod
    def _fetch_allow(cls, value: str) -> str:
        """A comma list of host, host:port, IP, IP:port, [IPv6]:port or CIDR entries (`parse_allow`)."""
        try:
            parse_allow([p for p in value.split(",") if p.strip()])
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix(_ALLOW_PREFIX)) from None
        return value

    @field_validator("public_base_url")
    @classmethod
    def _public_base_url(cls, value: str) -> str:
        """An absolute http(s) URL that can be spliced into an article as it is (`check_http_url`)."""
        return check_http_url(value, spliced=True)

    @field_validator("shortlink_url")
    @classmethod
    def _url_template(cls, value: str) -> str:
        """An absolute http(s) URL or URL template ({host}, {path}, ...)."""
        return check_http_url(value)

    @field_validator("cms_callback_url", "s3_endpoint_url")
    @classmethod
    def _optional_url(cls, value: str) -> str:
        """Empty (not used) or an absolute http(s) URL."""
        return check_http_url(value) if value.strip() else value

    @field_validator("feeds")
    @classmethod
    def _feeds(cls, value: str) -> str:
        """A comma list of absolute http(s) feed URLs (may be empty)."""
        for url in (p.strip() for p in value.split(",")):
            if url:
                check_http_url(url)
        return value

    @field_validator("health_placeholder_sha256s")
    @classmethod
    def _sha256s(cls, value: str) -> str:
        """A comma list of sha256 digests (64 hex digits each; may be empty)."""
        for digest in (p.strip() for p in value.split(",")):
            if digest and not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
                raise ValueError(f"{digest[:80]!r} is not a sha256 digest (64 hex digits)")
        return value

    if TYPE_CHECKING:
        # The providers' settings (twitter_oembed_url, ...): strings, kept as pydantic extras.
        def __getattr__(self, name: str) -> str: ...

    @field_validator("*")
    @classmethod
    def _bounded(cls, value: Any, info: ValidationInfo) -> Any:
        """Every number within what dates and timers can hold (`_maximum`), so a huge value is a
        configuration error here, not an OverflowError deep in a run."""
        if isinstance(value, int | float) and not isinstance(value, bool) and info.field_name is not None:
            top = _maximum(info.field_name)
            if top is not None and value > top:
                raise ValueError(f"{value} is over the maximum of {top:.0f}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _provider_settings(cls, data: Any) -> Any:
        """Add every provider's setting at its default unless given; refuse names nobody declared."""
        if not isinstance(data, Mapping):
            return data
        declared = {spec.name: spec.default for spec in provider_settings()}
        unknown = sorted(set(data) - set(cls.model_fields) - set(declared))
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        wrong = sorted(name for name in declared if name in data and not isinstance(data[name], str))
        if wrong:
            raise ValueError(f"not a string: {', '.join(wrong)}")
        for name in sorted(declared):  # every provider setting is an endpoint URL or URL template, or
            if name in data and data[name].strip():   # empty: the provider has no endpoint (markup only)
                try:
                    check_http_url(data[name])
                except ValueError as exc:
                    raise SettingValueError(name, str(exc)) from None
        return {**declared, **data}

    # --- derived values -------------------------------------------------------------
    @property
    def home_path(self) -> Path:
        """``home`` as an absolute path (``~`` expanded)."""
        return Path(self.home).expanduser().resolve()

    @property
    def storage_url(self) -> str:
        """``storage``, or ``file://<home>/objects`` when unset."""
        return self.storage or (self.home_path / "objects").as_uri()

    @property
    def catalog_url(self) -> str:
        """``catalog``, or ``sqlite:///<home>/catalog.sqlite3`` when unset."""
        return self.catalog or f"sqlite:///{self.home_path / 'catalog.sqlite3'}"

    @property
    def fetch_allow_list(self) -> list[str]:
        """The non-empty entries of the comma list ``fetch_allow``, stripped."""
        return [p.strip() for p in self.fetch_allow.split(",") if p.strip()]

    @property
    def capture_retry_delay_list(self) -> list[float]:
        """``capture_retry_delays`` as seconds, in order."""
        return [float(p) for p in self.capture_retry_delays.split(",") if p.strip()]

    @property
    def tsa_url_list(self) -> list[str]:
        """``tsa_urls`` as a list, in order: TSA n is the n-th (from 0); empty means no timestamping."""
        return [p.strip() for p in self.tsa_urls.split(",") if p.strip()]

    @property
    def tsa_ca_cert_list(self) -> list[str]:
        """``tsa_ca_certs``: paths of PEM files holding the TSAs' CA certificates (trust roots)."""
        return [p.strip() for p in self.tsa_ca_certs.split(",") if p.strip()]

    @property
    def tsa_retry_delay_list(self) -> list[float]:
        """``tsa_retry_delays`` as seconds, in order (the last repeats)."""
        return [float(p) for p in self.tsa_retry_delays.split(",") if p.strip()]

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied and validated (ValidationError for an unknown name or a bad value)."""
        return type(self)(**{**self.model_dump(), **changes})


def env_name(name: str) -> str:
    """The environment variable of setting ``name``: ``fetch_retries`` -> ``ARCHIVER_FETCH_RETRIES``."""
    return f"{ENV_PREFIX}{name.upper()}"


def load_settings(env: Mapping[str, str] | None = None, config_file: str | Path | None = None) -> Settings:
    """The settings in force: defaults, then the config file, then ``ARCHIVER_<NAME>`` variables of ``env``.

    ``env`` defaults to ``os.environ``; variables that name no setting are ignored. The config file is
    ``config_file`` if given, else ``env[ARCHIVER_CONFIG_FILE]`` if set and not empty, else none.
    Raises ConfigError with a one-line message naming the variable (or the file and key) for a value
    that is not valid, a missing or malformed file, or an unknown key in the file.
    """
    env = os.environ if env is None else env
    path = config_file or env.get(CONFIG_FILE_VARIABLE) or None
    from_file = _read_config_file(Path(path)) if path else {}
    names = Settings().model_dump()
    unknown = sorted(set(from_file) - set(names))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; config/archiver.example.toml lists them")
    from_env = {name: env[env_name(name)] for name in names if env_name(name) in env}
    try:
        return Settings(**{**from_file, **from_env})
    except ValidationError as exc:
        raise ConfigError(_explain(exc, from_env, path)) from None


def _read_config_file(path: Path) -> dict[str, Any]:
    """The top-level keys of a TOML settings file; ConfigError if it is missing, not UTF-8 or not TOML."""
    import tomllib  # here, not at module level: only a run with a settings file reads TOML (~3 ms)

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{CONFIG_FILE_VARIABLE}: no such file: {path}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 TOML file (byte {exc.start}: {exc.reason})") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _shown(name: str, value: Any) -> Any:
    """A setting's value as an error message may quote it: a secret's masked, a URL's credentials masked."""
    if is_secret_name(name):
        return MASK
    return redact_text(value) if isinstance(value, str) else value


def _explain(exc: ValidationError, from_env: Mapping[str, str], path: str | Path | None) -> str:
    """One line naming where the first bad value came from: its variable, or the file and key."""
    error = exc.errors(include_url=False)[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    message = str(error["msg"]).splitlines()[0]
    cause = (error.get("ctx") or {}).get("error")
    if not name and isinstance(cause, SettingValueError):
        name, message = cause.name, str(cause)
        if name not in from_env:
            given = error["input"].get(name) if isinstance(error["input"], Mapping) else None
            return f"{path or 'settings'}: {name} = {_shown(name, given)!r}: {message}"
    if name in from_env:
        return f"{env_name(name)}={_shown(name, from_env[name])!r}: {message}"
    if name:
        return f"{path}: {name} = {_shown(name, error['input'])!r}: {message}"
    return f"{path or 'settings'}: {message}"

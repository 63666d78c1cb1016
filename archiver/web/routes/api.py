"""The JSON API under /v1 and /metrics: publish hook, article status, compliance search and actions.

Every route validates its input with pydantic models and path patterns, answers JSON errors (their
shapes, in the OpenAPI document too, are archiver/web/errors.py's), and names the roles it admits
(admin may do everything). A JSON body's model, and every model inside it, forbids the fields it does
not name (``extra="forbid"``: a 422 naming the field), so a typo never falls back to a default that
widens the action; only the publish hook's ArticleIn takes a WordPress post as it comes, its other
fields ignored. Compliance searches, views, exports, holds
and takedowns are written to the append-only audit log; the log itself is only readable here.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter, ValidationError, field_validator

from archiver.article.input import ArticleInput, is_http_url, utf8_body
from archiver.article.versions import version_listing
from archiver.auth import Principal
from archiver.catalog.query import DATE_PATTERN, Instant, SearchQuery
from archiver.catalog.search import SearchResult
from archiver.compliance import audit
from archiver.compliance.answers import search_answer
from archiver.compliance.evidence import MAX_EXPORT_POSTS, search_posts
from archiver.compliance.holds import manifests, post_state, set_hold
from archiver.errors import InputError
from archiver.health.restore import takedown_post
from archiver.metrics import registry_for
from archiver.records.base import RecordError
from archiver.records.plan import EmbedItem
from archiver.records.result import EmbedResult, ImageResult
from archiver.runners.intake import Intake
from archiver.runtime import Runtime
from archiver.steps.report import article_answer, intake_records
from archiver.storage.layout import POST_ID_RE, PROVIDER_RE
from archiver.web.bundles import BUNDLE_TYPE, bundle_download
from archiver.web.deps import get_intake, get_runtime, require_role, require_token_role
from archiver.web.errors import AUTHENTICATED, error_responses, validation_error
from archiver.web.routes.articles import readable_plan, readable_results
from archiver.web.routes.pages import visible_state

router = APIRouter(responses=error_responses(*AUTHENTICATED))
NOT_FOUND = error_responses(404)

PROVIDER = Path(pattern=PROVIDER_RE.pattern, max_length=32)
POST_ID = Path(pattern=POST_ID_RE.pattern, max_length=200)
ARTICLE_ID = Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", max_length=128)
STATUS = r"^[a-z_]{1,32}$"

Publisher = Annotated[Principal, Depends(require_role("publisher"))]
Editor = Annotated[Principal, Depends(require_role("editor"))]
Reader = Annotated[Principal, Depends(require_role("compliance", "editor"))]
Compliance = Annotated[Principal, Depends(require_role("compliance"))]
# For a GET that does something (an export): the Authorization header only, never the session cookie.
ComplianceByToken = Annotated[Principal, Depends(require_token_role("compliance"))]
Operator = Annotated[Principal, Depends(require_role("editor", "compliance"))]
Rt = Annotated[Runtime, Depends(get_runtime)]


# --- the publish hook -----------------------------------------------------------------------------
class WPText(BaseModel):
    """A WordPress REST text field, `{"raw": ..., "rendered": ...}` (as in `content` and `guid`)."""

    raw: str | None = None
    rendered: str | None = None


class ArticleIn(BaseModel):
    """A plain body {article_id, url, html|body, published_at} or a WordPress post (webhook or REST):
    the one body whose unknown fields are ignored, a WordPress post carrying dozens this hook does not read."""

    model_config = ConfigDict(extra="ignore")
    article_id: str | None = Field(None, max_length=128)
    # Strict: a JSON true or false is no post id (lax int would read them as 1 and 0).
    id: StrictInt | StrictStr | None = Field(None, description="WordPress REST post id")
    ID: StrictInt | StrictStr | None = Field(None, description="WordPress webhook post id")
    url: str | None = Field(None, max_length=2048)
    link: str | None = Field(None, max_length=2048)
    guid: str | WPText | None = None
    base_url: str | None = Field(None, max_length=2048)
    html: str | None = None
    body: str | None = None
    content: str | WPText | None = None
    post_content: str | None = None
    published_at: str | None = Field(None, max_length=40)
    date_gmt: str | None = Field(None, max_length=40)
    post_date_gmt: str | None = Field(None, max_length=40)

    @field_validator("url", "link", "base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not is_http_url(value):
            raise ValueError("must be an absolute http(s) URL")
        return value

    def normalized(self) -> tuple[str, str, str | None, str | None]:
        """(article_id, body, url, published_at); InputError when something essential is missing."""
        article_id = self.article_id or next((str(v) for v in (self.ID, self.id) if v is not None), None)
        content = self.content.raw or self.content.rendered if isinstance(self.content, WPText) else self.content
        body = self.html or self.body or content or self.post_content
        guid = self.guid.rendered if isinstance(self.guid, WPText) else self.guid
        url = self.url or self.link or (guid if guid and guid.startswith(("http://", "https://")) else None)
        if not article_id:
            raise InputError("the article id is missing (article_id, or a WordPress ID/id)")
        if not body:
            raise InputError("the article body is missing (html, body, content or post_content)")
        return article_id, body, url, self.published_at or self.date_gmt or self.post_date_gmt


class JobOut(BaseModel):
    """The publish hook's answer: the job for this article source (`job_id` is `article_id:` plus the first
    16 hex digits of its SHA-256), `mode` "queue" or "embedded", whether this call queued it, where to poll
    (`status_url`: the job's status, GET /v1/jobs/{job_id}, which the publisher's token may read)."""

    job_id: str
    article_id: str
    source_sha256: str
    mode: str
    queued: bool
    status_url: str


@router.post("/v1/articles", status_code=202, response_model=JobOut, tags=["articles"],
             responses=error_responses(400))
def publish(article: ArticleIn, _who: Publisher, rt: Rt, intake: Annotated[Intake, Depends(get_intake)]) -> JobOut:
    """The publish hook: archive this article (idempotent on article id plus content hash)."""
    article_id, body, url, published_at = article.normalized()
    data = utf8_body(body)
    if len(data) > rt.settings.max_article_bytes:
        raise HTTPException(status_code=413, detail=f"article over {rt.settings.max_article_bytes} bytes")
    # The URLs come with the body, claimed, not fetched: the article gets the own-site politeness limits
    # only when its domain is a configured own site (ArticleInput.url_trusted stays False).
    job = intake.submit(article_id, ArticleInput(data, url=url, base_url=article.base_url, published_at=published_at))
    return JobOut(**asdict(job), status_url=f"/v1/jobs/{job.job_id}")


JOB_ID = Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}:[0-9a-f]{16}$", max_length=145)
JobReader = Annotated[Principal, Depends(require_role("publisher", "editor", "compliance"))]


class JobStatusOut(BaseModel):
    """A publish job's status: `status` is the article's catalog status ("queued", "complete", ...) while
    this job's source is the article's current one, "queued" before the article is in the catalog, and
    "superseded" once a later source replaced it (`current` false); `article_url` is the full status
    (editor, compliance)."""

    job_id: str
    article_id: str
    source_sha256: str
    status: str
    current: bool
    received_at: str | None
    article_url: str


@router.get("/v1/jobs/{job_id}", response_model=JobStatusOut, tags=["articles"], responses=NOT_FOUND)
def job_status(rt: Rt, _who: JobReader, job_id: str = JOB_ID) -> JobStatusOut:
    """The status of a job the publish hook answered with (its `status_url`): readable by the publisher
    that sent it, and by editors and compliance; 404 for a job never received."""
    article_id = job_id.rpartition(":")[0]
    records = intake_records(rt, article_id)
    record = next((r for r in reversed(records) if r.get("job_id") == job_id), None)
    if record is None or not isinstance(record.get("source_sha256"), str):
        raise HTTPException(status_code=404, detail="no such job")
    sha = record["source_sha256"]
    row = rt.catalog.article(article_id)
    if row is not None and row.get("source_sha256") == sha:
        status, current = str(row.get("status") or "queued"), True
    elif records[-1].get("job_id") == job_id:  # the latest source received, not in the catalog yet
        status, current = "queued", True
    else:
        status, current = "superseded", False
    received = record.get("received_at")
    return JobStatusOut(job_id=job_id, article_id=article_id, source_sha256=sha, status=status, current=current,
                        received_at=received if isinstance(received, str) else None,
                        article_url=f"/v1/articles/{article_id}")


# --- articles ---------------------------------------------------------------------------------
@router.get("/v1/articles/{article_id}", tags=["articles"], responses=NOT_FOUND)
def article_status(rt: Rt, who: Operator, article_id: str = ARTICLE_ID) -> dict[str, Any]:
    """Status, committed versions, per-item results and the current rewritten body
    (archiver.steps.report.article_answer, what `archiver show --json` prints). A damaged stored record
    is reported for its part and the answer is still 200: a version as {"version", "unreadable": true,
    "key"}, an item whose result is damaged with "status": "unreadable", "unreadable": true and its
    "key", a damaged plan as "plan": {"unreadable": true, "key"} (its items are then not listed).
    Audit-logged as a view of `article:<id>`, as the article page is."""
    try:
        answer = article_answer(rt, article_id)
    except RecordError:
        answer = damaged_article_answer(rt, article_id)
    if answer is None:
        raise HTTPException(status_code=404, detail="no such article")
    audit.record(rt, who, "view", f"article:{article_id}", {"versions": len(answer["versions"]), "via": "api"})
    return answer


def damaged_article_answer(rt: Runtime, article_id: str) -> dict[str, Any] | None:
    """`article_answer` of an article whose stored plan or an item result is damaged: the same shape,
    each damaged record reported where it belongs (see `article_status`), the rest as stored."""
    row = rt.catalog.article(article_id)
    if row is None:
        return None
    sha = row["source_sha256"]
    plan, damaged_plan = readable_plan(rt, article_id, sha)
    results, damaged = readable_results(rt, plan) if plan is not None else ({}, {})
    items = []
    for item in plan.items if plan is not None else ():
        res = results.get(item.item_id)
        embed = res if isinstance(res, EmbedResult) else None
        image = res if isinstance(res, ImageResult) else None
        entry = {
            "item_id": item.item_id, "kind": item.kind,
            "provider": item.provider if isinstance(item, EmbedItem) else None,
            "post_id": embed.post_id if embed else (item.post_id if isinstance(item, EmbedItem) else None),
            "url": (res.url if res else None) or item.url, "status": res.status if res else "pending",
            "error": res.error if res else None, "snapshot": embed.manifest_key if embed else None,
            "sha256": image.sha256 if image else None, "stable_url": image.stable_url if image else None,
            "occurrences": len(item.occurrences)}
        if item.item_id in damaged:
            entry.update(status="unreadable", unreadable=True, key=damaged[item.item_id])
        items.append(entry)
    listing = version_listing(rt, article_id)
    history = listing.readable
    body = None
    if history:
        current = history[-1]
        body = rt.store.get(current.key).decode(current.encoding or (plan.encoding if plan else "utf-8"), "replace")
    received = intake_records(rt, article_id)
    answer = {
        "article_id": article_id, "status": row["status"], "url": row["url"], "source_sha256": sha,
        "job_id": f"{article_id}:{sha[:16]}",
        "published_at": next((r.get("published_at") for r in reversed(received) if r.get("source_sha256") == sha),
                             None),
        "created_at": row["created_at"], "updated_at": row["updated_at"],
        "current_version": history[-1].version if history else None,
        "versions": listing.entries(), "items": items, "body": body,
    }
    if damaged_plan:
        answer["plan"] = {"unreadable": True, "key": damaged_plan}
    return answer


# --- search and posts --------------------------------------------------------------------------------
class SearchParams(SearchQuery):
    """GET /v1/search's query parameters: a SearchQuery (its fields, under their public names),
    whose page is at most 200 hits (each hit reads its compliance state) and 100,000 deep."""

    # Built now, not deferred as SearchQuery is: FastAPI reads it as query parameters when the app is made.
    model_config = ConfigDict(defer_build=False)

    limit: int = Field(50, ge=1, le=200, title="Limit", description="hits on a page")
    offset: int = Field(0, ge=0, le=100_000, title="Offset", description="hits to skip")


def _search(rt: Runtime, params: SearchParams) -> SearchResult:
    return rt.catalog.search(params)


@router.get("/v1/search", tags=["compliance"], responses=error_responses(400))
def search(rt: Rt, who: Reader, params: Annotated[SearchParams, Query()]) -> dict[str, Any]:
    """Posts by words (any script), author, handle, dates, status, article, image; audit-logged. The
    answer is `search_answer`'s, as `archiver search --json` prints it."""
    answer = search_answer(rt, params)
    for hit in answer.get("hits") or []:
        if isinstance(hit, dict) and "compliance" in hit:
            hit["compliance"] = visible_state(who, hit["compliance"])
    audit.record(rt, who, "search", params.q, params.filters(), result_count=answer["total"])
    return answer


def _post_or_404(rt: Runtime, provider: str, post_id: str) -> list[tuple[str, dict[str, Any]]]:
    docs = manifests(rt, provider, post_id)
    if not docs:
        raise HTTPException(status_code=404, detail="no such post")
    return docs


@router.get("/v1/posts/{provider}/{post_id}", tags=["compliance"], responses=NOT_FOUND)
def post(rt: Rt, who: Reader, provider: str = PROVIDER, post_id: str = POST_ID) -> dict[str, Any]:
    """Every capture of a post over time, with its manifest; audit-logged."""
    docs = _post_or_404(rt, provider, post_id)
    lister = getattr(rt.catalog, "post_captures", rt.catalog.captures)
    captures = lister(provider, post_id)
    audit.record(rt, who, "view", f"{provider}/{post_id}", {"captures": len(docs)}, result_count=len(docs))
    return {"provider": provider, "post_id": post_id, "captures": captures,
            "manifests": [{"key": key, "manifest": doc} for key, doc in docs],
            "compliance": visible_state(who, post_state(rt, provider, post_id))}


# --- compliance actions ---------------------------------------------------------------------------
class Reason(BaseModel):
    """Why the post is held or taken down: free text, 1 to 2000 characters; kept with the state and audit-logged."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(..., min_length=1, max_length=2000)


@router.put("/v1/posts/{provider}/{post_id}/hold", tags=["compliance"], responses=NOT_FOUND)
def hold(body: Reason, rt: Rt, who: Compliance, provider: str = PROVIDER, post_id: str = POST_ID) -> dict:
    """Legal hold: Object Lock on every object of the post where the bucket has it; recorded always.
    The post's new compliance state with `changed` (false: it was already held for that reason) and
    `outcome` ("held", "hold updated", "already held: nothing changed"); 400 for a reason without a
    visible character."""
    _post_or_404(rt, provider, post_id)
    return set_hold(rt, who, provider, post_id, on=True, reason=body.reason)


@router.delete("/v1/posts/{provider}/{post_id}/hold", tags=["compliance"], responses=NOT_FOUND)
def release_hold(rt: Rt, who: Compliance, provider: str = PROVIDER, post_id: str = POST_ID) -> dict:
    """Lift the legal hold (and its Object Lock holds); returns the post's new compliance state, `changed`
    and `outcome` (200 with `changed` false and "not held: nothing changed" when there was none); 404 if unknown."""
    _post_or_404(rt, provider, post_id)
    return set_hold(rt, who, provider, post_id, on=False)


@router.put("/v1/posts/{provider}/{post_id}/takedown", tags=["compliance"], responses=NOT_FOUND)
def takedown(body: Reason, rt: Rt, who: Compliance, provider: str = PROVIDER, post_id: str = POST_ID) -> dict:
    """Hide the post's snapshots, cards and media from public serving (410); evidence is kept. Where a
    restore wrote the post's card into an article, a withheld notice replaces it as a new version
    (`withheld`: those article ids). `changed` and `outcome` as for a hold."""
    _post_or_404(rt, provider, post_id)
    return takedown_post(rt, who, provider, post_id, on=True, reason=body.reason)


@router.delete("/v1/posts/{provider}/{post_id}/takedown", tags=["compliance"], responses=NOT_FOUND)
def lift_takedown(rt: Rt, who: Compliance, provider: str = PROVIDER, post_id: str = POST_ID) -> dict:
    """Serve the post publicly again; returns the post's new compliance state, `changed`, `outcome` and
    `restore_again`: the articles showing the withheld notice, where an editor may restore the post again
    (nothing is re-inserted automatically); 404 if unknown."""
    _post_or_404(rt, provider, post_id)
    return takedown_post(rt, who, provider, post_id, on=False)


class PostRef(BaseModel):
    """One archived post: its provider name and its id on that platform."""

    model_config = ConfigDict(extra="forbid")
    provider: str = Field(..., pattern=PROVIDER_RE.pattern.join("^$"))
    post_id: str = Field(..., pattern=POST_ID_RE.pattern.join("^$"))


class ExportSearch(SearchQuery):
    """POST /v1/exports' search: a SearchQuery whose every match is exported (the search is paged
    through: `limit` and `offset` are accepted for compatibility and ignored); one matching more than
    MAX_EXPORT_POSTS posts is refused (400), never cut short."""

    model_config = ConfigDict(defer_build=False)

    limit: int = Field(MAX_EXPORT_POSTS, ge=1, le=MAX_EXPORT_POSTS, title="Limit",
                       description="ignored: an export takes every match")
    offset: int = Field(0, ge=0, le=100_000, title="Offset", description="ignored: an export takes every match")


class ExportIn(BaseModel):
    """Posts, and/or a search whose every match is exported (at most MAX_EXPORT_POSTS in all)."""

    model_config = ConfigDict(extra="forbid")
    posts: list[PostRef] = Field(default_factory=list, max_length=MAX_EXPORT_POSTS)
    search: ExportSearch | None = None


_BUNDLE_DOC = {200: {"description": "a WACZ 1.1.1 evidence bundle (a zip: save it as .wacz), signed with the "
                                    "archive's key when it has one; `X-Archiver-Signed-By` gives that key's "
                                    "fingerprint or `unsigned`. Check it with `archiver verify` or the README's "
                                    "Evidence steps.",
                     "content": {BUNDLE_TYPE: {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/v1/posts/{provider}/{post_id}/export", tags=["compliance"], response_class=Response,
            responses={**_BUNDLE_DOC, **NOT_FOUND})
def export_post(rt: Rt, who: ComplianceByToken, provider: str = PROVIDER, post_id: str = POST_ID) -> Response:
    """Evidence bundle (WACZ) of one post: every capture with its WARC, manifest, cards, page, timestamps,
    originals and derived copies, and the captures of the posts it quotes and replies to and of its latest
    version when it was edited; audit-logged. A GET that does something: the token in the Authorization
    header only (the session cookie alone is a 401; the post page's button posts its form instead)."""
    _post_or_404(rt, provider, post_id)
    return bundle_download(rt, who, [(provider, post_id)], None, f"evidence-{provider}-{post_id}.wacz", via="api")


@router.post("/v1/exports", tags=["compliance"], response_class=Response,
             responses={**_BUNDLE_DOC, **NOT_FOUND})
def export(body: ExportIn, rt: Rt, who: Compliance) -> Response:
    """Evidence bundle (WACZ) of listed posts and/or of every post a search matches (the search paged
    through; one matching more than MAX_EXPORT_POSTS is a 400 saying so). export.json's `query` and
    `search_result` and the audit event record how many posts the search matched."""
    posts = [(p.provider, p.post_id) for p in body.posts]
    query = None
    if body.search is not None:
        given = {k for k in body.search.filters() if k not in ("limit", "offset", "max_distance")}
        if not given:  # a q that validated has something to match (catalog.syntax.selects_something)
            raise validation_error(["body", "search"], "the search searches nothing: give words, \"phrases\" or "
                                   "prefix*, or another filter (to export everything, list the posts)")
        query = body.search.model_dump(mode="json", by_alias=True, exclude={"limit", "offset"})
        try:
            found, query["matched"], query["matched_captures"] = search_posts(rt.catalog.search, body.search)
        except InputError as exc:
            raise validation_error(["body", "search"], str(exc)) from None
        posts += found
    if not posts:
        raise validation_error(["body"], "nothing to export: give posts or a search with hits")
    if len(dict.fromkeys(posts)) > MAX_EXPORT_POSTS:
        raise validation_error(["body"], f"at most {MAX_EXPORT_POSTS} posts per export")
    for provider, post_id in dict.fromkeys(posts):
        _post_or_404(rt, provider, post_id)
    return bundle_download(rt, who, posts, query, "evidence.wacz", via="api")


# --- audit log and metrics -------------------------------------------------------------------------
@router.get("/v1/audit", tags=["compliance"])
def audit_log(rt: Rt, who: Compliance,
              since: Annotated[str | None, Query(pattern=DATE_PATTERN)] = None,
              action: Annotated[str | None, Query(pattern=STATUS)] = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> dict[str, Any]:
    """The audit log, newest first; `since` a real date or ISO 8601 timestamp, checked as the search's
    dates are (2025-13-45 is a 422). Read-only: no route changes or deletes an event."""
    if since is not None:
        try:
            _INSTANT.validate_python(since)
        except ValidationError as exc:
            raise validation_error(["query", "since"], exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
    return {"events": audit.list_events(rt, since, limit, action=action, offset=offset)}


_INSTANT: TypeAdapter[Any] = TypeAdapter(Instant)


@router.get("/metrics", tags=["operations"], response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(request: Request, rt: Rt, _who: Operator,
            intake: Annotated[Intake, Depends(get_intake)]) -> Response:
    """Prometheus text: queue depth, captures and articles by status, fetch latencies."""
    state = request.app.state
    if getattr(state, "metrics_registry", None) is None:
        state.metrics_registry = registry_for(rt, lambda: _queue_depth(intake))
    return Response(generate_latest(state.metrics_registry), media_type=CONTENT_TYPE_LATEST)


def _queue_depth(intake: Intake) -> int | None:
    client = intake.redis()
    return None if client is None else int(client.llen("archiver"))

"""Property-based fuzzing of every operation in the OpenAPI spec: no input makes the API answer 500, and
every answer (status, content type, body) is one the document describes, with a token and without.

The app runs in-process (ASGI) over a real archive, authenticated as admin so every route is
reached; submissions go to a real Redis queue and are never processed, so nothing is fetched.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.apikit import Api, api, archive_sample, fixture_origin, private_redis_db


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Api]:
    from archiver.config.settings import load_settings

    home = tmp_path_factory.mktemp("fuzz")
    with fixture_origin() as origin:
        settings_ = load_settings(env={}).replace(home=str(home), **origin.settings_overrides())
        with api(settings_) as a:
            archive_sample(a.rt, origin)
        broker = private_redis_db(redis_url, 13)
        with api(settings_.replace(broker_url=broker, fetch_allow="")) as a:
            yield a
        redis.Redis.from_url(broker).flushdb()


@pytest.fixture(scope="module")
def api_schema(env: Api) -> object:
    return schemathesis.openapi.from_asgi("/openapi.json", env.client.app, headers=env.h("admin"))


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis' lazy loader reads Node._nodeid, which pytest 9 no longer has
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


# Each answer is checked against the document: no 5xx, a status code it lists for the operation, a
# content type it lists, and a body of the shape it gives for that status (errors and 422 included).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_what_the_document_says(case: schemathesis.Case, env: Api) -> None:
    """Each case as admin (every route reached), as a publisher (403 almost everywhere) and without a
    token (401)."""
    for caller in ("admin", "publisher", None):
        response = case.call_and_validate(headers=env.h(caller) if caller else {}, checks=CHECKS)
        assert b"Traceback" not in response.content, caller
        if response.status_code == 422:
            assert all(set(problem) == {"type", "loc", "msg"} for problem in response.json()["detail"]), caller

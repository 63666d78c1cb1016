"""The datetime of an image Memento's URL (``/media/memento/<YYYYMMDDhhmmss>/<original>``): 14 ASCII digits
of a second that exists, in UTC; anything else is a 400 whose one line names that form and what is wrong,
never a parser's own text."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from archiver.capture.memento import STAMP_FORM, parse_stamp, stamp
from archiver.config.settings import Settings
from archiver.runtime import Runtime
from archiver.web.app import create_app

# value -> what the message says is wrong with it
BAD = {
    "99999999999999": "month 99, which does not exist",
    "20251301000000": "month 13, which does not exist",
    "20250001000000": "month 0, which does not exist",
    "20250132000000": "day 32, which 2025-01 does not have",
    "20250100000000": "day 0, which 2025-01 does not have",
    "20250229120000": "day 29, which 2025-02 does not have",
    "20250715240000": "hour 24, which does not exist",
    "20250715096000": "minute 60, which does not exist",
    "20250715091260": "second 60, which does not exist",
    "00000715091233": "year 0, which does not exist",
    "2025": "not 4 digits",
    "2025071509123": "not 13 digits",
    "202507150912330": "not 15 digits",
    "2025071509123399999": "not 19 digits",
    "2025-07-15T09:12": "something other than digits",
    "2025071509123x": "something other than digits",
    "\u0662\u0660\u0662\u0665\u0660\u0667\u0661\u0665\u0660\u0669\u0661\u0662\u0663\u0663":  # Arabic-Indic digits
        "something other than digits",
    "": "not 0 digits",
}


@pytest.mark.parametrize("value", list(BAD))
def test_a_malformed_or_impossible_datetime_names_the_form_and_the_fault(value: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_stamp(value)
    message = str(err.value)
    assert message.startswith(f"a Memento's datetime is {STAMP_FORM}") and BAD[value] in message, message
    assert "unconverted" not in message and "does not match format" not in message and "\n" not in message


def test_every_real_second_reads_back() -> None:
    for when in (datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC),
                 datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2025, 7, 15, 9, 12, 33, tzinfo=UTC)):
        assert parse_stamp(stamp(when)) == when


@pytest.fixture
def client(tmp_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    settings = tmp_settings(broker_url="")
    with Runtime.from_settings(settings) as rt, TestClient(create_app(settings, runtime=rt)) as c:
        yield c


@pytest.mark.parametrize("value", [v for v in BAD if v and "-" not in v])
def test_the_route_answers_400_with_that_line(client: TestClient, value: str) -> None:
    for method in ("GET", "HEAD"):
        got = client.request(method, f"/media/memento/{value}/https://x.example/a.jpg")
        assert got.status_code == 400, (method, value, got.status_code)
    detail = client.get(f"/media/memento/{value}/https://x.example/a.jpg").json()["detail"]
    assert detail.startswith(f"a Memento's datetime is {STAMP_FORM}") and BAD[value] in detail, detail

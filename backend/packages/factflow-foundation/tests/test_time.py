from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from factflow_foundation import parse_rfc3339, rfc3339, rfc3339_or_none, utc_now, utc_now_rfc3339


def test_rfc3339_is_utc_with_microseconds_and_z() -> None:
    moment = datetime(2025, 3, 1, 10, 30, 12, 345678, tzinfo=timezone(timedelta(hours=1)))
    assert rfc3339(moment) == "2025-03-01T09:30:12.345678Z"
    assert rfc3339(datetime(2025, 3, 1, 9, 30, 12)) == "2025-03-01T09:30:12.000000Z"
    assert rfc3339_or_none(None) is None
    assert rfc3339_or_none(moment) == "2025-03-01T09:30:12.345678Z"


def test_rfc3339_converts_offsets_to_utc_and_pads_every_field() -> None:
    east = timezone(timedelta(hours=5, minutes=30))
    assert rfc3339(datetime(2025, 3, 1, 15, 0, 12, 5, tzinfo=east)) == "2025-03-01T09:30:12.000005Z"
    assert rfc3339(datetime(2025, 1, 1, 0, 0, 0, 1, tzinfo=timezone(timedelta(hours=-1)))) == (
        "2025-01-01T01:00:00.000001Z"
    )
    assert rfc3339(datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0999-01-02T03:04:05.000000Z"


def test_now_is_aware_and_round_trips() -> None:
    assert utc_now().tzinfo is UTC
    text = utc_now_rfc3339()
    assert text.endswith("Z") and len(text) == len("2025-03-01T09:30:12.345678Z")
    assert rfc3339(parse_rfc3339(text)) == text


def test_parse_accepts_offsets_and_naive_text() -> None:
    assert parse_rfc3339("2025-03-01T10:30:12+01:00") == datetime(2025, 3, 1, 9, 30, 12, tzinfo=UTC)
    assert parse_rfc3339("2025-03-01T09:30:12").tzinfo is UTC
    with pytest.raises(ValueError):
        parse_rfc3339("yesterday")

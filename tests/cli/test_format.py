"""go-units humanisers, docker's tabwriter layout, ids, times (no daemon)."""

from __future__ import annotations

import calendar

import pytest

from dockyard.cli import format as fmt
from dockyard.cli.errors import CLIError


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "Less than a second"), (0.9, "Less than a second"), (1, "1 second"), (2, "2 seconds"), (59, "59 seconds"),
    (60, "About a minute"), (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"),
    (3600, "About an hour"), (5399, "About an hour"), (5400, "2 hours"), (47 * 3600, "47 hours"),
    (48 * 3600, "2 days"), (13 * 86400, "13 days"), (14 * 86400, "2 weeks"), (59 * 86400, "8 weeks"),
    (60 * 86400, "2 months"), (729 * 86400, "24 months"), (730 * 86400, "2 years"),
])
def test_human_duration(seconds: float, text: str) -> None:
    assert fmt.human_duration(seconds) == text


@pytest.mark.parametrize(("size", "text"), [
    (0, "0B"), (999, "999B"), (1000, "1kB"), (1024, "1.02kB"), (1986438, "1.99MB"), (123456789, "123MB"),
    (999_500, "1e+03kB"), (10**12, "1TB"), (1.5e15, "1.5PB"),
])
def test_human_size_three_digits(size: float, text: str) -> None:
    assert fmt.human_size(size) == text


def test_human_size_four_digits_and_bytes_size() -> None:
    assert fmt.human_size(1986438, 4) == "1.986MB"
    assert fmt.bytes_size(2048) == "2KiB"
    assert fmt.bytes_size(1990000) == "1.898MiB"
    assert fmt.bytes_size(23.54 * 1024**3) == "23.54GiB"


def test_ids_and_ellipsis() -> None:
    assert fmt.truncate_id("sha256:" + "a" * 64) == "a" * 12
    assert fmt.truncate_id("0123456789abcdef") == "0123456789ab"
    assert fmt.ellipsis("sh -c 'while true; do sleep 1; done'", 20) == "sh -c 'while true; …"
    assert fmt.ellipsis("short", 20) == "short"
    assert fmt.ellipsis("日本語のテキストです", 7) == "日本語…"


def test_tabwriter_is_docker_layout() -> None:
    text = "CONTAINER ID\tIMAGE\tNAMES\nabc\tbusybox\tx\nabcdef0123456\tb\tlonger_name\n"
    assert fmt.tabwrite(text) == (
        "CONTAINER ID    IMAGE     NAMES\n"
        "abc             busybox   x\n"
        "abcdef0123456   b         longer_name\n")


def test_tabwriter_blocks_break_at_lines_without_cells() -> None:
    text = "Client:\n Version:\t1\n API version:\t1.41\n\nServer:\n Engine:\n  Version:\t2\n"
    assert fmt.tabwrite(text, minwidth=20, padding=1) == (
        "Client:\n Version:           1\n API version:       1.41\n\nServer:\n Engine:\n  Version:          2\n")


def test_timegm_and_rfc3339() -> None:
    for stamp in ((1970, 1, 1, 0, 0, 0), (2000, 2, 29, 12, 0, 1), (2026, 11, 27, 21, 13, 35), (2100, 12, 31, 23, 59, 59)):
        assert fmt.timegm(*stamp) == calendar.timegm((*stamp, 0, 0, 0))
    assert fmt.parse_time("2026-11-27T21:13:35.69150342Z") == pytest.approx(fmt.timegm(2026, 11, 27, 21, 13, 35) + 0.6915)
    assert fmt.parse_time("2026-11-27T22:13:35+01:00") == fmt.timegm(2026, 11, 27, 21, 13, 35)
    assert fmt.parse_time("0001-01-01T00:00:00Z") is None


def test_get_timestamp_like_docker() -> None:
    now = 1_700_000_000.0
    assert fmt.get_timestamp("10m", now) == "1699999400"
    assert fmt.get_timestamp("1h30m", now) == "1699994600"
    assert fmt.get_timestamp("2023-11-14T22:13:20Z", now) == "1700000000.000000000"
    assert fmt.get_timestamp("2023-11-14T22:13:20.5+01:00", now) == "1699996400.500000000"
    assert fmt.get_timestamp("1700000000", now) == "1700000000"
    assert fmt.get_timestamp("1700000000.123", now) == "1700000000.123"
    with pytest.raises(CLIError, match='failed to parse value as time or duration: "soon"'):
        fmt.get_timestamp("soon", now)


def test_template_string_like_docker() -> None:
    assert fmt.template_string("table {{.ID}}\\t{{.Names}}") == ("{{.ID}}\t{{.Names}}", True)
    assert fmt.template_string("json") == ("{{json .}}", False)
    assert fmt.template_string("  {{.ID}}\\n") == ("{{.ID}}\n", False)

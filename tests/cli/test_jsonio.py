"""jsonio against the json module and Go's json.Indent shape (no daemon)."""

from __future__ import annotations

import json

import pytest

from dockyard.cli import jsonio

SAMPLES = ['{"a": [1, 2.5, -3e10, null, true, false, "x\\u00e9\\n\\"q\\""], "b": {}, "c": []}',
           '[{"Id": "abc", "Config": {"Labels": {"k": "v<>&"}}}]', '"plain"', "42", " [ ] "]


@pytest.mark.parametrize("text", SAMPLES)
def test_loads_matches_json(text: str) -> None:
    assert jsonio.loads(text) == json.loads(text)
    assert jsonio.loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize("bad", ["", "{", '{"a":}', '{"a" 1}', "[1,]", '"unterminated', "{} x", "nul"])
def test_loads_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        jsonio.loads(bad)


def test_dumps_is_compact_utf8() -> None:
    value = {"a": [1, "é<>&", None, True], "b": {"z": 1, "y": 2}}
    assert jsonio.dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert jsonio.dumps(value, sort_keys=True) == json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                                                             sort_keys=True)


def test_indent_is_go_json_indent() -> None:
    raw = '[{"Id":"x","Empty":{},"List":[],"Nested":{"A":[1,2],"S":"a\\"b, c:{"}}\n]'
    assert jsonio.indent(raw) == (
        '[\n    {\n        "Id": "x",\n        "Empty": {},\n        "List": [],\n        "Nested": {\n'
        '            "A": [\n                1,\n                2\n            ],\n'
        '            "S": "a\\"b, c:{"\n        }\n    }\n]')
    assert json.loads(jsonio.indent(raw)) == json.loads(raw)


def test_iter_values_keeps_an_incomplete_tail() -> None:
    values = list(jsonio.iter_values('{"a":1}\n{"b":2}\n{"c"'))
    assert [v for v, _ in values] == [{"a": 1}, {"b": 2}]
    assert values[-1][1] == len('{"a":1}\n{"b":2}')

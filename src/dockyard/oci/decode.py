"""Checked reading of JSON documents into typed records.

Every reader takes the decoded JSON value and a dotted location (``process.args``) so that a
malformed document is reported at the field that is wrong, in one wording, wherever it is read.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False  # see dockyard.records: typing is not imported at run time on this path
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    T = TypeVar("T")
    JSONObject = dict[str, Any]
else:
    JSONObject = dict


def fail(where: str, what: str) -> InvalidArgument:
    return InvalidArgument(f"{where}: {what}")


def obj(value: Any, where: str) -> JSONObject:
    if not isinstance(value, dict):
        raise fail(where, "expected an object")
    return value


def opt_obj(d: JSONObject, key: str, where: str) -> JSONObject | None:
    value = d.get(key)
    return None if value is None else obj(value, f"{where}.{key}")


def string(d: JSONObject, key: str, where: str, default: str = "") -> str:
    value = d.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise fail(f"{where}.{key}", "expected a string")
    return value


def required_string(d: JSONObject, key: str, where: str) -> str:
    if d.get(key) is None:
        raise fail(f"{where}.{key}", "is required")
    return string(d, key, where)


def boolean(d: JSONObject, key: str, where: str, default: bool = False) -> bool:
    value = d.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise fail(f"{where}.{key}", "expected true or false")
    return value


def integer(d: JSONObject, key: str, where: str) -> int | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        # JSON numbers such as 1e3 arrive as floats; accept them only when they are whole.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise fail(f"{where}.{key}", "expected an integer")
    return value


def required_integer(d: JSONObject, key: str, where: str) -> int:
    value = integer(d, key, where)
    if value is None:
        raise fail(f"{where}.{key}", "is required")
    return value


def strings(d: JSONObject, key: str, where: str) -> list[str]:
    value = d.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise fail(f"{where}.{key}", "expected a list of strings")
    return list(value)


def integers(d: JSONObject, key: str, where: str) -> list[int]:
    value = d.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise fail(f"{where}.{key}", "expected a list of integers")
    return list(value)


def string_map(d: JSONObject, key: str, where: str) -> dict[str, str]:
    value = d.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise fail(f"{where}.{key}", "expected an object of strings")
    return dict(value)


def records(d: JSONObject, key: str, where: str, read: Callable[[JSONObject, str], T]) -> list[T]:
    value = d.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(f"{where}.{key}", "expected a list")
    return [read(obj(item, f"{where}.{key}[{i}]"), f"{where}.{key}[{i}]") for i, item in enumerate(value)]


def record(d: JSONObject, key: str, where: str, read: Callable[[JSONObject, str], T]) -> T | None:
    value = opt_obj(d, key, where)
    return None if value is None else read(value, f"{where}.{key}")

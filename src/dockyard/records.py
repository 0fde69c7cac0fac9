"""Typed records for the paths where start-up time counts.

`@record` reads like `@dataclass` and type-checks like it (PEP 681's dataclass_transform), but
costs nothing to import and next to nothing per class. Measured here: `import dataclasses` pulls
in inspect, ast and dis (~6 ms), and each @dataclass class compiles its own __init__ (~0.2 ms);
the runtime's config records alone made `dockyard-runtime run` 15 ms slower, against runc's
~25 ms for the whole run. Modules off the container-start path keep using dataclasses.

Supported: positional and keyword construction in field order, class-level defaults,
`field(default_factory=...)`, inheritance of fields, `frozen=True` (plus hashing), `order=True` (sorting), equality,
a readable repr, `replace()` and `asdict()`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs ~2 ms to import; mypy is told to take this as true
if TYPE_CHECKING:
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:
    def dataclass_transform(**_kwargs: object) -> object:
        return lambda f: f

_MISSING: Any = object()


class _Field:
    __slots__ = ("compare", "default", "default_factory")

    def __init__(self, default: Any, default_factory: Any, compare: bool) -> None:
        self.default = default
        self.default_factory = default_factory
        self.compare = compare


def field(*, default: Any = _MISSING, default_factory: Any = _MISSING, compare: bool = True) -> Any:
    return _Field(default, default_factory, compare)


def _collect(cls: type) -> tuple[tuple[str, ...], dict[str, Any], dict[str, Any], set[str]]:
    names: list[str] = []
    defaults: dict[str, Any] = {}
    factories: dict[str, Any] = {}
    uncompared: set[str] = set()
    for klass in reversed(cls.__mro__[:-1]):
        # Not inspect.get_annotations: importing inspect is the cost this module avoids.
        for name, annotation in klass.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
            if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue
            if name not in names:
                names.append(name)
            value = klass.__dict__.get(name, _MISSING)
            if isinstance(value, _Field):
                if not value.compare:
                    uncompared.add(name)
                if value.default_factory is not _MISSING:
                    factories[name] = value.default_factory
                    defaults.pop(name, None)
                elif value.default is not _MISSING:
                    defaults[name] = value.default
            elif value is not _MISSING:
                defaults[name] = value
    return tuple(names), defaults, factories, uncompared


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    names: tuple[str, ...] = cls.__record_fields__
    if len(args) > len(names):
        raise TypeError(f"{cls.__name__}() takes {len(names)} positional arguments but {len(args)} were given")
    setter = object.__setattr__
    for name, value in zip(names, args, strict=False):
        setter(self, name, value)
    for name in names[len(args):]:
        if name in kwargs:
            setter(self, name, kwargs.pop(name))
        elif name in cls.__record_defaults__:
            setter(self, name, cls.__record_defaults__[name])
        elif name in cls.__record_factories__:
            setter(self, name, cls.__record_factories__[name]())
        else:
            raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
    if kwargs:
        raise TypeError(f"{cls.__name__}() got unexpected arguments: {', '.join(kwargs)}")


def _repr(self: Any) -> str:
    inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self).__record_fields__)
    return f"{type(self).__name__}({inner})"


def _eq(self: Any, other: Any) -> Any:
    if type(other) is not type(self):
        return NotImplemented
    return all(getattr(self, n) == getattr(other, n) for n in type(self).__record_fields__)


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise AttributeError(f"cannot assign to field {name!r} of frozen {type(self).__name__}")


def _lt(self: Any, other: Any) -> Any:
    if type(other) is not type(self):
        return NotImplemented
    names = type(self).__record_fields__
    return tuple(getattr(self, n) for n in names) < tuple(getattr(other, n) for n in names)


def _hash(self: Any) -> int:
    return hash(tuple(getattr(self, n) for n in type(self).__record_fields__))


@dataclass_transform(field_specifiers=(field,))
def record(cls: type[T] | None = None, *, frozen: bool = False, order: bool = False) -> Any:
    def wrap(klass: type[T]) -> type[T]:
        names, defaults, factories, uncompared = _collect(klass)
        for name in names:
            if isinstance(klass.__dict__.get(name), _Field):
                delattr(klass, name)  # a field() marker is not a value
        methods: dict[str, Any] = {
            "__record_fields__": names,
            "__record_compared__": tuple(n for n in names if n not in uncompared),
            "__record_defaults__": defaults,
            "__record_factories__": factories,
            "__init__": _init,
            "__repr__": _repr,
            "__eq__": _eq,
            "__hash__": _hash if frozen else None,
        }
        if order:
            methods["__lt__"] = _lt
        if frozen:
            methods["__setattr__"] = _frozen_setattr
        for name, value in methods.items():
            setattr(klass, name, value)
        return klass

    return wrap if cls is None else wrap(cls)


def replace(obj: T, **changes: Any) -> T:
    values = {name: getattr(obj, name) for name in type(obj).__record_fields__}  # type: ignore[attr-defined]
    values.update(changes)
    return type(obj)(**values)


def asdict(obj: Any) -> Any:
    """Records, lists and dicts of them as plain JSON-ready values."""
    if hasattr(type(obj), "__record_fields__"):
        return {name: asdict(getattr(obj, name)) for name in type(obj).__record_fields__}
    if isinstance(obj, list | tuple):
        return [asdict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: asdict(v) for k, v in obj.items()}
    return obj

"""Go's text/template, the subset docker's `--format` uses, with docker's extra functions.

    {{.ID}}  {{.State.Status}}  {{$v := .Name}}{{$v}}  {{.Label "k"}}  {{(index .Mounts 0).Source}}
    {{if ...}} {{else if ...}} {{else}} {{end}}   {{range $i, $e := ...}} {{break}} {{continue}} {{end}}
    {{with ...}} {{else}} {{end}}   {{- trim -}}   {{/* comment */}}   a | b | c   "str" `raw` 'c' 12 1.5
    functions: and or not len index slice eq ne lt le gt ge print printf println html js urlquery
    docker's:  json split join title lower upper pad truncate

Values are the daemon's decoded JSON (dict, list, str, int, float, bool, None) or context objects
whose attributes/methods play Go's struct fields and methods (ps, images). Printing follows Go's
fmt %v: `[a b]` for lists, `map[k:v]` (sorted) for maps, `<nil>`, `<no value>` for a missing key.
A field that is null in the JSON but typed as a slice or map in Docker's Go types prints as `[]` /
`map[]`, as docker's typed structs do (`NULL_AS`). A missing key is an error (docker's raw inspect
runs with missingkey=error).

`parse(text)` returns a Template or raises TemplateError; `Template.execute(data)` returns the
text or raises TemplateError, with Go's `template: :line:col: ...` wording.
"""

from __future__ import annotations

from dockyard.cli import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class TemplateError(Exception):
    pass


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


class TypedNil:
    """A JSON null where Docker's Go type is a slice or a map: prints `[]`/`map[]`, is empty and
    false, and encodes back to `null`."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __bool__(self) -> bool:
        return False

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Any:
        return iter(())


# Docker API fields typed as slices / maps: null prints as their empty forms.
_LISTS = frozenset(("Cmd", "Entrypoint", "Env", "OnBuild", "Binds", "Links", "CapAdd", "CapDrop", "Dns", "DnsOptions",
                    "DnsSearch", "ExtraHosts", "GroupAdd", "SecurityOpt", "Devices", "DeviceCgroupRules",
                    "DeviceRequests", "Ulimits", "Mounts", "VolumesFrom", "Aliases", "RepoTags", "RepoDigests",
                    "Layers", "Args", "MaskedPaths", "ReadonlyPaths", "ConsoleSize", "BlkioWeightDevice",
                    "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps",
                    "Shell", "Names", "Ports", "Warnings", "DNSNames", "Test"))
_MAPS = frozenset(("Labels", "Volumes", "ExposedPorts", "PortBindings", "Tmpfs", "Sysctls", "StorageOpt", "Options",
                   "Ports", "Networks", "Annotations", "DriverOpts", "Data", "Attributes", "Details"))
NULL_AS: dict[str, TypedNil] = {**{k: TypedNil("map") for k in _MAPS}, **{k: TypedNil("list") for k in _LISTS},
                                 "Config": TypedNil("map")}


# Fields Docker's JSON leaves out when empty (`omitempty`): a typed struct still has them.
OMITTED: dict[str, Any] = {
    "ExposedPorts": TypedNil("map"), "Healthcheck": None, "StopSignal": "", "StopTimeout": None, "MacAddress": "",
    "Shell": TypedNil("list"), "ArgsEscaped": False, "NetworkDisabled": False, "Health": None, "SizeRw": None,
    "SizeRootFs": None, "Node": None, "OnBuild": TypedNil("list"), "Annotations": TypedNil("map"),
    "Init": None, "Mounts": TypedNil("list"), "Tmpfs": TypedNil("map"), "Sysctls": TypedNil("map"),
    "StorageOpt": TypedNil("map"), "Runtime": "", "Isolation": "", "Platform": "",
}


# --- printing (Go's fmt %v) --------------------------------------------------------------

def go_float(value: float) -> str:
    """fmt's %v for a float64: strconv's shortest digits in %g form, %e from exponent -5 or 6."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if str(value).startswith("-") else "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    integer, _, frac = mantissa.partition(".")
    all_digits = integer + frac
    lead = len(all_digits) - len(all_digits.lstrip("0"))
    digits = all_digits.lstrip("0").rstrip("0") or "0"
    point = len(integer) + int(exp_text or 0) - lead  # value = 0.<digits> * 10**point
    exp = point - 1
    if exp < -4 or exp >= 6:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


class GoMap(dict):  # type: ignore[type-arg]
    """A JSON object that is a Go map in Docker's types: prints `map[k:v ...]`, keys sorted."""

    __slots__ = ()


class GoStruct(dict):  # type: ignore[type-arg]
    """A JSON object that is a Go struct: prints `{v1 v2 ...}` in field order."""

    __slots__ = ()


def _is_struct(value: dict[str, Any], key: str | None) -> bool:
    """Docker's JSON has no types: a field known to be a map is one; otherwise an object whose
    keys all look like Go field names (CamelCase) is a struct, anything else a map."""
    if isinstance(value, GoMap) or (key is not None and key in _MAPS) or not value:
        return False
    if isinstance(value, GoStruct):
        return True
    return all(k[:1].isupper() and k.isidentifier() for k in value)


def typed(value: Any, key: str) -> Any:
    """The value of field `key`, tagged for printing: null slices/maps, maps, structs."""
    if value is None:
        return NULL_AS.get(key)
    if isinstance(value, dict) and not isinstance(value, (GoMap, GoStruct)):
        return GoStruct(value) if _is_struct(value, key) else GoMap(value)
    return value


def _fold(value: dict[str, Any], name: str) -> str | None:
    """The key matching `name` case-insensitively, as encoding/json matches struct fields."""
    low = name.lower()
    for key in value:
        if isinstance(key, str) and key.lower() == low:
            return key
    return None


def go_str(value: Any, key: str | None = None) -> str:
    """fmt.Sprint of a template value (text/template prints pointers' targets at the top level)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "<nil>"
    if value is MISSING:
        return "<no value>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, TypedNil):
        return "[]" if value.kind == "list" else "map[]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    if isinstance(value, dict):
        if _is_struct(value, key):
            return "{" + " ".join(go_str(NULL_AS.get(k, v) if v is None else v, k) for k, v in value.items()) + "}"
        return "map[" + " ".join(f"{go_str(k)}:{go_str(value[k])}" for k in sorted(value, key=str)) + "]"
    text = getattr(value, "String", None)
    if callable(text):
        return str(text())
    return str(value)


def to_json(value: Any) -> str:
    text = jsonio.dumps(_plain(value))
    if callable(getattr(value, "marshal", None)):
        # docker's contexts marshal themselves with json.Marshal, which escapes HTML characters
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text


def _plain(value: Any) -> Any:
    if isinstance(value, TypedNil) or value is MISSING:
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    marshal = getattr(value, "marshal", None)
    if callable(marshal):
        return _plain(marshal())
    return value


def truth(value: Any) -> bool:
    if value is None or value is MISSING:
        return False
    if isinstance(value, (bool, int, float, str, list, tuple, dict, TypedNil)):
        return bool(value)
    return True


# --- lexer -------------------------------------------------------------------------------

class _Tok:
    __slots__ = ("kind", "pos", "value")

    def __init__(self, kind: str, value: str, pos: int) -> None:
        self.kind = kind
        self.value = value
        self.pos = pos

    def __repr__(self) -> str:
        return f"{self.kind}:{self.value}"


_KEYWORDS = frozenset(("if", "else", "end", "range", "with", "break", "continue", "nil", "true", "false", "define",
                       "template", "block"))
_TERMINATORS = frozenset(" \t\r\n.,|:)(=")
_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _lex_action(src: str, start: int, end: int, errpos: Callable[[int], str]) -> list[_Tok]:
    toks: list[_Tok] = []
    i = start
    while i < end:
        c = src[i]
        if c in " \t\r\n":
            i += 1
            continue
        if c == "|":
            toks.append(_Tok("|", c, i))
            i += 1
        elif c in "()":
            toks.append(_Tok(c, c, i))
            i += 1
        elif c == ",":
            toks.append(_Tok(",", c, i))
            i += 1
        elif c == ":" and src[i:i + 2] == ":=":
            toks.append(_Tok(":=", ":=", i))
            i += 2
        elif c == "=":
            toks.append(_Tok("=", "=", i))
            i += 1
        elif c == '"':
            j = i + 1
            while j < end and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            if j >= end:
                raise TemplateError(f"template: :{errpos(i)}: unterminated quoted string")
            toks.append(_Tok("str", _unquote(src[i:j + 1]), i))
            i = j + 1
        elif c == "`":
            j = src.find("`", i + 1)
            if j < 0 or j >= end:
                raise TemplateError(f"template: :{errpos(i)}: unterminated raw quoted string")
            toks.append(_Tok("str", src[i + 1:j], i))
            i = j + 1
        elif c == "'":
            j = i + 1
            while j < end and src[j] != "'":
                j += 2 if src[j] == "\\" else 1
            toks.append(_Tok("num", str(ord(_unquote('"' + src[i + 1:j] + '"') or "\0")), i))
            i = j + 1
        elif c == "." and (i + 1 >= end or src[i + 1] not in _IDENT_CHARS or src[i + 1].isdigit()):
            if i + 1 < end and src[i + 1].isdigit():
                j = i + 1
                while j < end and (src[j].isalnum() or src[j] in "._+-"):
                    j += 1
                toks.append(_Tok("num", src[i:j], i))
                i = j
            else:
                toks.append(_Tok("dot", ".", i))
                i += 1
        elif c == ".":
            j = i + 1
            while j < end and src[j] in _IDENT_CHARS:
                j += 1
            toks.append(_Tok("field", src[i + 1:j], i))
            i = j
        elif c == "$":
            j = i + 1
            while j < end and src[j] in _IDENT_CHARS:
                j += 1
            toks.append(_Tok("var", src[i:j], i))
            i = j
        elif c.isdigit() or (c in "+-" and i + 1 < end and (src[i + 1].isdigit() or src[i + 1] == ".")):
            j = i + 1
            while j < end and (src[j].isalnum() or src[j] in "._" or (src[j] in "+-" and src[j - 1] in "eEpP")):
                j += 1
            toks.append(_Tok("num", src[i:j], i))
            i = j
        elif c in _IDENT_CHARS:
            j = i
            while j < end and src[j] in _IDENT_CHARS:
                j += 1
            word = src[i:j]
            toks.append(_Tok("kw" if word in _KEYWORDS else "ident", word, i))
            i = j
        else:
            raise TemplateError(f"template: :{errpos(i)}: unexpected {c!r} in command")
        if toks and toks[-1].kind in ("field", "var", "ident", "kw") and i < end and src[i] not in _TERMINATORS:
            ch = src[i]
            raise TemplateError(f"template: :{errpos(i).split(':')[0]}: bad character U+{ord(ch):04X} {ch!r}")
        # a field chain directly after `)` or a variable: (x).Field, $v.Field
        while i < end and src[i] == "." and toks and toks[-1].kind in (")", "var", "field", "chain"):
            j = i + 1
            while j < end and src[j] in _IDENT_CHARS:
                j += 1
            if j == i + 1:
                break
            toks.append(_Tok("chain", src[i + 1:j], i))
            i = j
    return toks


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f",
            "v": "\v", "0": "\0"}


def _unquote(text: str) -> str:
    body = text[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = body[i + 1:i + 2]
        if n in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[n]
            out.append(chr(int(body[i + 2:i + 2 + width], 16)))
            i += 2 + width
        else:
            out.append(_ESCAPES.get(n, n))
            i += 2
    return "".join(out)


# --- parse tree --------------------------------------------------------------------------
# Operands: ("field", pos, [names]) on dot; ("var", pos, name, [names]); ("dot", pos);
# ("lit", pos, value); ("ident", pos, name); ("pipe", pos, Pipeline, [names]).

class Pipeline:
    __slots__ = ("assign", "cmds", "decl", "pos")

    def __init__(self, pos: int, decl: list[str], assign: bool, cmds: list[list[tuple[Any, ...]]]) -> None:
        self.pos = pos
        self.decl = decl
        self.assign = assign
        self.cmds = cmds


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src

    def errpos(self, pos: int) -> str:
        line = self.src.count("\n", 0, pos) + 1
        return f"{line}:{pos - (self.src.rfind(chr(10), 0, pos) + 1)}"

    def line(self, pos: int) -> int:
        return self.src.count("\n", 0, pos) + 1

    def items(self) -> list[tuple[str, Any, int]]:
        """("text", str, pos) and ("action", [tokens], pos), with trim markers applied."""
        src = self.src
        items: list[tuple[str, Any, int]] = []
        i = 0
        while True:
            j = src.find("{{", i)
            if j < 0:
                items.append(("text", src[i:], i))
                break
            text = src[i:j]
            start = j + 2
            if src[start:start + 2] == "- " or src[start:start + 2] == "-\t" or src[start:start + 2] == "-\n":
                text = text.rstrip(" \t\r\n")
                start += 2
            items.append(("text", text, i))
            if src.startswith("/*", start):
                close = src.find("*/", start + 2)
                if close < 0:
                    raise TemplateError(f"template: :{self.line(j)}: unclosed comment")
                after = close + 2
                while after < len(src) and src[after] in " \t\r\n-" and not src.startswith("}}", after):
                    after += 1
                trim_right = src[close + 2:after].strip() == "-"
                if not src.startswith("}}", after):
                    raise TemplateError(f"template: :{self.line(j)}: comment ends before closing delimiter")
                i = after + 2
                if trim_right:
                    while i < len(src) and src[i] in " \t\r\n":
                        i += 1
                continue
            close = self._find_close(start)
            if close < 0:
                raise TemplateError(f"template: :{self.line(j)}: unclosed action")
            end = close
            trim_right = False
            if close >= 2 and src[close - 1] == "-" and src[close - 2] in " \t\r\n":
                end = close - 1
                trim_right = True
            toks = _lex_action(src, start, end, self.errpos)
            items.append(("action", toks, start))
            i = close + 2
            if trim_right:
                while i < len(src) and src[i] in " \t\r\n":
                    i += 1
        return items

    def _find_close(self, start: int) -> int:
        src = self.src
        i = start
        while i < len(src):
            c = src[i]
            if c in "\"'`":
                quote = c
                i += 1
                while i < len(src) and src[i] != quote:
                    if src[i] == "\\" and quote != "`":
                        i += 1
                    i += 1
                i += 1
                continue
            if src.startswith("}}", i):
                return i
            i += 1
        return -1

    def parse(self) -> list[Any]:
        self.stream = self.items()
        self.at = 0
        nodes, stop = self.parse_list(())
        if stop is not None:
            raise TemplateError(f"template: :{self.line(stop[2])}: unexpected {{{{{stop[0]}}}}}")
        return nodes

    def parse_list(self, stops: tuple[str, ...]) -> tuple[list[Any], tuple[str, list[_Tok], int] | None]:
        nodes: list[Any] = []
        while self.at < len(self.stream):
            kind, value, pos = self.stream[self.at]
            self.at += 1
            if kind == "text":
                if value:
                    nodes.append(("text", value))
                continue
            toks: list[_Tok] = value
            if not toks:
                raise TemplateError(f"template: :{self.line(pos)}: missing value for command")
            head = toks[0]
            if head.kind == "kw" and head.value in ("end", "else"):
                if head.value not in stops and not (head.value == "else" and "else" in stops):
                    raise TemplateError(f"template: :{self.line(pos)}: unexpected {{{{{head.value}}}}}")
                return nodes, (head.value, toks, pos)
            if head.kind == "kw" and head.value in ("if", "with", "range"):
                nodes.append(self.parse_control(head.value, toks[1:], pos))
            elif head.kind == "kw" and head.value in ("break", "continue"):
                nodes.append((head.value,))
            elif head.kind == "kw" and head.value in ("define", "template", "block"):
                raise TemplateError(f"template: :{self.line(pos)}: {{{{{head.value}}}}} is not supported")
            else:
                nodes.append(("action", self.parse_pipeline(toks, pos, allow_decl=True)))
        if stops:
            raise TemplateError(f"template: :{self.line(len(self.src))}: unexpected EOF")
        return nodes, None

    def parse_control(self, kind: str, toks: list[_Tok], pos: int) -> tuple[Any, ...]:
        pipe = self.parse_pipeline(toks, pos, allow_decl=True, in_range=kind == "range")
        body, stop = self.parse_list(("end", "else"))
        else_body: list[Any] = []
        assert stop is not None
        if stop[0] == "else":
            rest = stop[1][1:]
            if rest and rest[0].kind == "kw" and rest[0].value in ("if", "with") and kind != "range":
                # {{else if ...}} / {{else with ...}}: a nested control that shares our {{end}}
                else_body = [self.parse_control(rest[0].value, rest[1:], stop[2])]
                return (kind, pipe, body, else_body)
            else_body, stop2 = self.parse_list(("end",))
            assert stop2 is not None
        return (kind, pipe, body, else_body)

    def parse_pipeline(self, toks: list[_Tok], pos: int, allow_decl: bool = False,
                       in_range: bool = False) -> Pipeline:
        decl: list[str] = []
        assign = False
        i = 0
        if allow_decl and toks and toks[0].kind == "var":
            if len(toks) > 1 and toks[1].kind in (":=", "="):
                decl = [toks[0].value]
                assign = toks[1].kind == "="
                i = 2
            elif in_range and len(toks) > 3 and toks[1].kind == "," and toks[2].kind == "var" \
                    and toks[3].kind in (":=", "="):
                decl = [toks[0].value, toks[2].value]
                assign = toks[3].kind == "="
                i = 4
        cmds: list[list[tuple[Any, ...]]] = []
        cmd: list[tuple[Any, ...]] = []
        while i < len(toks):
            tok = toks[i]
            if tok.kind == "|":
                if not cmd:
                    raise TemplateError(f"template: :{self.line(pos)}: missing command")
                cmds.append(cmd)
                cmd = []
                i += 1
                continue
            operand, i = self.operand(toks, i, pos)
            cmd.append(operand)
        if cmd:
            cmds.append(cmd)
        elif cmds:
            raise TemplateError(f"template: :{self.line(pos)}: missing command")
        if not cmds:
            raise TemplateError(f"template: :{self.line(pos)}: missing value for command")
        return Pipeline(pos, decl, assign, cmds)

    def operand(self, toks: list[_Tok], i: int, pos: int) -> tuple[tuple[Any, ...], int]:
        tok = toks[i]
        i += 1
        node: tuple[Any, ...]
        if tok.kind == "field":
            names = [tok.value]
            pos = tok.pos
            while i < len(toks) and toks[i].kind == "chain":
                if len(names) == 1:
                    pos = toks[i].pos  # Go reports a chain at its second field
                names.append(toks[i].value)
                i += 1
            return ("field", pos, names), i
        if tok.kind == "var":
            names = []
            while i < len(toks) and toks[i].kind == "chain":
                names.append(toks[i].value)
                i += 1
            return ("var", tok.pos, tok.value, names), i
        if tok.kind == "dot":
            return ("dot", tok.pos), i
        if tok.kind == "str":
            return ("lit", tok.pos, tok.value), i
        if tok.kind == "num":
            return ("lit", tok.pos, _number(tok.value, self.errpos(tok.pos))), i
        if tok.kind == "kw" and tok.value in ("true", "false"):
            return ("lit", tok.pos, tok.value == "true"), i
        if tok.kind == "kw" and tok.value == "nil":
            return ("lit", tok.pos, None), i
        if tok.kind == "ident":
            if tok.value not in FUNCS:
                raise TemplateError(f'template: :{self.line(tok.pos)}: function "{tok.value}" not defined')
            return ("ident", tok.pos, tok.value), i
        if tok.kind == "(":
            depth = 1
            j = i
            while j < len(toks) and depth:
                if toks[j].kind == "(":
                    depth += 1
                elif toks[j].kind == ")":
                    depth -= 1
                j += 1
            if depth:
                raise TemplateError(f"template: :{self.line(pos)}: unclosed left paren")
            inner = self.parse_pipeline(toks[i:j - 1], tok.pos)
            names = []
            while j < len(toks) and toks[j].kind == "chain":
                names.append(toks[j].value)
                j += 1
            node = ("pipe", tok.pos, inner, names)
            return node, j
        raise TemplateError(f"template: :{self.line(tok.pos)}: unexpected {tok.value!r} in operand")


def _number(text: str, where: str) -> int | float:
    clean = text.replace("_", "")
    try:
        if clean.lower().startswith(("0x", "-0x", "+0x")):
            return int(clean, 16)
        if clean.lower().startswith(("0o", "0b")):
            return int(clean, 0)
        if any(c in clean for c in ".eE"):
            return float(clean)
        return int(clean)
    except ValueError:
        raise TemplateError(f"template: :{where}: bad number syntax: {text!r}") from None


# --- execution ---------------------------------------------------------------------------

class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Template:
    __slots__ = ("funcs", "name", "nodes", "src")

    def __init__(self, src: str, nodes: list[Any], funcs: dict[str, Callable[..., Any]]) -> None:
        self.src = src
        self.nodes = nodes
        self.funcs = funcs
        self.name = ""

    def with_funcs(self, funcs: dict[str, Callable[..., Any]]) -> Template:
        copy = Template(self.src, self.nodes, {**self.funcs, **funcs})
        copy.name = self.name
        return copy

    def execute(self, data: Any) -> str:
        out: list[str] = []
        try:
            _Exec(self, out).run(self.nodes, data, [("$", data)])
        except TemplateError as e:
            raise _renamed(e, self.name) if self.name else e from None
        return "".join(out)


class _Exec:
    def __init__(self, tmpl: Template, out: list[str]) -> None:
        self.tmpl = tmpl
        self.out = out

    def where(self, pos: int) -> str:
        src = self.tmpl.src
        line = src.count("\n", 0, pos) + 1
        return f"{line}:{pos - (src.rfind(chr(10), 0, pos) + 1)}"

    def fail(self, pos: int, node_text: str, message: str) -> TemplateError:
        return TemplateError(f'template: :{self.where(pos)}: executing "" at <{node_text}>: {message}')

    def run(self, nodes: list[Any], dot: Any, scope: list[tuple[str, Any]]) -> None:
        mark = len(scope)
        for node in nodes:
            kind = node[0]
            if kind == "text":
                self.out.append(node[1])
            elif kind == "action":
                pipe: Pipeline = node[1]
                value = self.pipeline(pipe, dot, scope)
                if not pipe.decl:
                    self.out.append(go_str(value))
            elif kind == "if":
                if truth(self.pipeline(node[1], dot, scope)):
                    self.run(node[2], dot, scope)
                else:
                    self.run(node[3], dot, scope)
            elif kind == "with":
                value = self.pipeline(node[1], dot, scope)
                if truth(value):
                    self.run(node[2], value, scope)
                else:
                    self.run(node[3], dot, scope)
            elif kind == "range":
                self.range(node, dot, scope)
            elif kind == "break":
                raise _Break()
            elif kind == "continue":
                raise _Continue()
        del scope[mark:]

    def range(self, node: tuple[Any, ...], dot: Any, scope: list[tuple[str, Any]]) -> None:
        pipe: Pipeline = node[1]
        value = self.pipeline(Pipeline(pipe.pos, [], False, pipe.cmds), dot, scope)
        if isinstance(value, dict):
            pairs = [(k, value[k]) for k in sorted(value, key=str)]
        elif isinstance(value, (list, tuple, TypedNil)):
            pairs = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            pairs = [(i, i) for i in range(value)]
        elif value is None or value is MISSING:
            pairs = []
        else:
            raise TemplateError(f"template: :{self.where(pipe.pos)}: range can't iterate over {go_str(value)}")
        if not pairs:
            self.run(node[3], dot, scope)
            return
        for key, item in pairs:
            mark = len(scope)
            if len(pipe.decl) == 1:
                scope.append((pipe.decl[0], item))
            elif len(pipe.decl) == 2:
                scope.append((pipe.decl[0], key))
                scope.append((pipe.decl[1], item))
            try:
                self.run(node[2], item, scope)
            except _Break:
                del scope[mark:]
                break
            except _Continue:
                pass
            del scope[mark:]

    def lookup_var(self, name: str, pos: int, scope: list[tuple[str, Any]]) -> Any:
        for key, value in reversed(scope):
            if key == name:
                return value
        raise TemplateError(f"template: :{self.where(pos)}: undefined variable: {name}")

    def pipeline(self, pipe: Pipeline, dot: Any, scope: list[tuple[str, Any]]) -> Any:
        value: Any = MISSING
        first = True
        for cmd in pipe.cmds:
            value = self.command(cmd, dot, scope, None if first else (value,))
            first = False
        if pipe.decl:
            if pipe.assign:
                for i in range(len(scope) - 1, -1, -1):
                    if scope[i][0] == pipe.decl[0]:
                        scope[i] = (pipe.decl[0], value)
                        break
                else:
                    raise TemplateError(f"template: :{self.where(pipe.pos)}: undefined variable: {pipe.decl[0]}")
            else:
                scope.append((pipe.decl[0], value))
        return value

    def command(self, cmd: list[tuple[Any, ...]], dot: Any, scope: list[tuple[str, Any]],
                final: tuple[Any] | None) -> Any:
        head = cmd[0]
        kind = head[0]
        if kind == "ident":
            name = head[2]
            if name in ("and", "or"):
                return self.logic(name, cmd[1:], dot, scope, final)
            args = [self.arg(a, dot, scope) for a in cmd[1:]]
            if final is not None:
                args.append(final[0])
            func = self.tmpl.funcs[name]
            try:
                return func(*args)
            except TemplateError:
                raise
            except (TypeError, ValueError, IndexError, KeyError) as e:
                raise self.fail(head[1], name, f"error calling {name}: {e}") from None
        if kind == "field":
            args = [self.arg(a, dot, scope) for a in cmd[1:]]
            if final is not None:
                args.append(final[0])
            return self.fields(dot, head[2], head[1], args, "." + ".".join(head[2]))
        if kind == "var":
            base = self.lookup_var(head[2], head[1], scope)
            if head[3]:
                args = [self.arg(a, dot, scope) for a in cmd[1:]]
                if final is not None:
                    args.append(final[0])
                return self.fields(base, head[3], head[1], args, head[2] + "." + ".".join(head[3]))
        if len(cmd) > 1 or final is not None:
            raise TemplateError(f"template: :{self.where(head[1])}: can't give argument to non-function "
                                f"{self.describe(head)}")
        return self.arg(head, dot, scope)

    def describe(self, node: tuple[Any, ...]) -> str:
        if node[0] == "lit":
            return go_str(node[2]) if not isinstance(node[2], str) else jsonio.dumps(node[2])
        if node[0] == "dot":
            return "."
        if node[0] == "var":
            return str(node[2])
        return str(node[0])

    def logic(self, name: str, nodes: list[tuple[Any, ...]], dot: Any, scope: list[tuple[str, Any]],
              final: tuple[Any] | None) -> Any:
        value: Any = None
        items: list[Any] = list(nodes) + ([("value", final[0])] if final is not None else [])
        if not items:
            raise TemplateError(f"template: :{self.where(0)}: wrong number of args for {name}: want at least 1 got 0")
        for node in items:
            value = node[1] if node[0] == "value" else self.arg(node, dot, scope)
            if (name == "and") != truth(value):
                return value
        return value

    def arg(self, node: tuple[Any, ...], dot: Any, scope: list[tuple[str, Any]]) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[2]
        if kind == "dot":
            return dot
        if kind == "field":
            return self.fields(dot, node[2], node[1], [], "." + ".".join(node[2]))
        if kind == "var":
            base = self.lookup_var(node[2], node[1], scope)
            return self.fields(base, node[3], node[1], [], node[2]) if node[3] else base
        if kind == "pipe":
            value = self.pipeline(node[2], dot, scope)
            return self.fields(value, node[3], node[1], [], "(...)") if node[3] else value
        if kind == "ident":
            return self.command([node], dot, scope, None)
        raise TemplateError(f"template: cannot evaluate {kind}")

    def fields(self, value: Any, names: list[str], pos: int, args: list[Any], text: str) -> Any:
        for n, name in enumerate(names):
            last = n == len(names) - 1
            if isinstance(value, dict):
                if name in value:
                    value = value[name]
                    if value is None:
                        value = NULL_AS.get(name)
                    elif isinstance(value, dict):
                        value = typed(value, name)
                elif name in OMITTED:
                    value = OMITTED[name]
                elif (alias := _fold(value, name)) is not None:
                    value = typed(value[alias], alias)  # Go's field name for a JSON key: APIVersion, ID
                else:
                    raise self.fail(pos, text, f'map has no entry for key "{name}"')
            elif value is None or value is MISSING or isinstance(value, TypedNil):
                raise self.fail(pos, text, f"nil pointer evaluating interface {{}}.{name}")
            elif isinstance(value, (str, int, float, list, tuple)):
                raise self.fail(pos, text, f"can't evaluate field {name} in type {_go_type(value)}")
            else:
                attr = getattr(value, name, MISSING) if not name.startswith("_") and name != "marshal" else MISSING
                if attr is MISSING:
                    type_name = getattr(value, "go_type", type(value).__name__)
                    raise self.fail(pos, text, f"can't evaluate field {name} in type {type_name}")
                if callable(attr):
                    call_args = args if last else []
                    try:
                        value = attr(*call_args)
                    except TypeError as e:
                        raise self.fail(pos, text, f"wrong number of args for {name}: {e}") from None
                    if last:
                        return value
                else:
                    value = attr
            if last and args:
                raise TemplateError(f"template: :{self.where(pos)}: can't give argument to non-function {text}")
        return value


def _go_type(value: Any) -> str:
    return {str: "string", int: "int", float: "float64", bool: "bool", list: "[]interface {}",
            tuple: "[]interface {}"}.get(type(value), type(value).__name__)


# --- functions ---------------------------------------------------------------------------

def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, dict):
            if key in item:
                item = item[key]
            else:
                item = "" if all(isinstance(v, str) for v in item.values()) else MISSING
        elif isinstance(item, (list, tuple, str)):
            if not isinstance(key, int) or not 0 <= key < len(item):
                raise IndexError(f"index out of range: {key}")
            item = item[key]
        elif isinstance(item, TypedNil) or item is None or item is MISSING:
            if isinstance(item, TypedNil) and item.kind == "map":
                return ""
            raise IndexError("index of untyped nil" if item is not MISSING else "index of nil pointer")
        else:
            raise TypeError(f"can't index item of type {type(item).__name__}")
    return item


def _slice(item: Any, *bounds: int) -> Any:
    if len(bounds) > 2:
        raise ValueError("too many slice indexes")
    start = bounds[0] if bounds else 0
    end = bounds[1] if len(bounds) > 1 else len(item)
    if not 0 <= start <= end <= len(item):
        raise IndexError(f"index out of range: {end}")
    return item[start:end]


def _len(item: Any) -> int:
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, (list, tuple, dict, TypedNil)):
        return len(item)
    raise TypeError(f"len of type {_go_type(item)}")


def _compare(a: Any, b: Any) -> int:
    if isinstance(a, bool) or isinstance(b, bool):
        raise TypeError("invalid type for comparison")
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return (a > b) - (a < b)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    raise TypeError("incompatible types for comparison")


def _basic_eq(a: Any, b: Any) -> bool:
    a_nil = a is None or a is MISSING or isinstance(a, TypedNil)
    b_nil = b is None or b is MISSING or isinstance(b, TypedNil)
    if a_nil or b_nil:
        return a_nil and b_nil
    if isinstance(a, bool) or isinstance(b, bool):
        if type(a) is not type(b):
            raise TypeError("incompatible types for comparison")
        return bool(a == b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return bool(a == b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    raise TypeError("incompatible types for comparison")


def _eq(a: Any, *others: Any) -> bool:
    if not others:
        raise ValueError("missing argument for comparison")
    return any(_basic_eq(a, b) for b in others)


def _print(*args: Any) -> str:
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_str(arg))
    return "".join(out)


def _println(*args: Any) -> str:
    return " ".join(go_str(a) for a in args) + "\n"


def go_quote(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _printf(fmt: str, *args: Any) -> str:
    out: list[str] = []
    i = 0
    n = 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        j = i + 1
        while j < len(fmt) and fmt[j] in "+-# 0123456789.":
            j += 1
        if j >= len(fmt):
            out.append("%!(NOVERB)")
            break
        spec, verb = fmt[i + 1:j], fmt[j]
        i = j + 1
        if verb == "%":
            out.append("%")
            continue
        if n >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[n]
        n += 1
        out.append(_format_one(spec, verb, arg))
    if n < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{_go_type(a)}={go_str(a)}" for a in args[n:]) + ")")
    return "".join(out)


def _format_one(spec: str, verb: str, arg: Any) -> str:
    if verb in "vs":
        text = go_str(arg)
        return ("%" + spec + "s") % text if spec else text
    if verb == "q":
        text = go_quote(arg) if isinstance(arg, str) else go_str(arg)
        return ("%" + spec + "s") % text if spec else text
    if verb == "t":
        return go_str(arg)
    if verb == "T":
        text = _go_type(arg) if not isinstance(arg, dict) else "map[string]interface {}"
        return ("%" + spec + "s") % text if spec else text
    if verb in "dxXobc" and isinstance(arg, int) and not isinstance(arg, bool):
        if verb == "b":
            return format(arg, spec.replace(".", "") + "b")
        if verb == "c":
            return chr(arg)
        return ("%" + spec + verb) % arg
    if verb in "xX" and isinstance(arg, str):
        text = arg.encode().hex()
        return text.upper() if verb == "X" else text
    if verb in "feEgG" and isinstance(arg, (int, float)) and not isinstance(arg, bool):
        return ("%" + spec + verb) % arg
    return f"%!{verb}({_go_type(arg)}={go_str(arg)})"


def _join(items: Any, sep: str) -> str:
    if items is None or isinstance(items, TypedNil):
        return ""
    if isinstance(items, dict):
        return sep.join(sorted(go_str(v) for v in items.values()))
    if isinstance(items, (list, tuple)):
        return sep.join(go_str(v) for v in items)
    raise TypeError(f"expected slice, got {_go_type(items)}")


def _title(text: str) -> str:
    out = []
    prev = " "
    for ch in text:
        out.append(ch.upper() if not (prev.isalnum() or prev == "_" or prev == "'") else ch)
        prev = ch
    return "".join(out)


def _pad(text: str, prefix: int, suffix: int) -> str:
    return " " * prefix + text + " " * suffix if text else text


def _truncate(text: str, length: int) -> str:
    return text if len(text) < length else text[:length]


def _html(*args: Any) -> str:
    text = _print(*args)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
            .replace("'", "&#39;").replace("\0", "\ufffd"))


def _js(*args: Any) -> str:
    text = _print(*args)
    table = {"\\": "\\\\", "'": "\\'", '"': "\\\"", "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D",
             "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return "".join(table.get(c, c) for c in text)


def _urlquery(*args: Any) -> str:
    from dockyard.cli.client import quote
    return quote(_print(*args)).replace("%20", "+")


def _not(value: Any) -> bool:
    return not truth(value)


FUNCS: dict[str, Callable[..., Any]] = {
    "and": lambda *a: a[-1], "or": lambda *a: a[-1], "not": _not, "len": _len, "index": _index, "slice": _slice,
    "eq": _eq, "ne": lambda a, b: not _basic_eq(a, b), "lt": lambda a, b: _compare(a, b) < 0,
    "le": lambda a, b: _compare(a, b) <= 0, "gt": lambda a, b: _compare(a, b) > 0,
    "ge": lambda a, b: _compare(a, b) >= 0, "print": _print, "printf": _printf, "println": _println,
    "html": _html, "js": _js, "urlquery": _urlquery,
    # docker/cli templates.basicFunctions
    "json": to_json, "split": lambda s, sep: s.split(sep) if sep else list(s), "join": _join, "title": _title,
    "lower": lambda s: s.lower(), "upper": lambda s: s.upper(), "pad": _pad, "truncate": _truncate,
}

# docker's HeaderFunctions: a table's header row keeps the column names as they are.
HEADER_FUNCS: dict[str, Callable[..., Any]] = {
    "json": lambda v: v, "split": lambda v, _s: v, "join": lambda v, _s: v, "title": lambda v: v,
    "lower": lambda v: v, "upper": lambda v: v, "truncate": lambda v, _n: v,
}


def _renamed(err: TemplateError, name: str) -> TemplateError:
    message = str(err).replace("template: :", f"template: {name}:", 1).replace('executing ""', f'executing "{name}"', 1)
    return TemplateError(message)


def parse(text: str, name: str = "") -> Template:
    """A template; `name` is Go's template name, which its errors quote (docker's `version`)."""
    try:
        tmpl = Template(text, _Parser(text).parse(), FUNCS)
    except TemplateError as e:
        raise _renamed(e, name) if name else e from None
    tmpl.name = name
    return tmpl

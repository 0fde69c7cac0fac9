"""The Dockerfile parser: text -> one `Node` per instruction, as Docker 20.10's parser (buildkit's
frontend/dockerfile/parser, vendored by moby) reads it, plus heredocs as newer parsers do.

    result = parse(text)         # Result(nodes, escape, warnings)
    result.nodes[0]              # Node(value="from", args=["busybox"], original="FROM busybox", ...)

Rules kept from Docker:
- Parser directives (`# escape=\\`` and `# syntax=...`) are only read at the top; the first line
  that is not a known directive (a blank line, a comment, an instruction) ends them; one of each.
- The escape token at the end of a line continues it; comment lines and empty lines inside a
  continuation are skipped (the empty ones with Docker's warning); leading whitespace is kept on
  continuation lines, so `RUN a \\` + `    b` is `RUN a     b`.
- A line's first word is the instruction (case-insensitive); `--flag=value` words after it are
  its flags; the rest is parsed per instruction: JSON arrays (exec form) for RUN/CMD/ENTRYPOINT/
  SHELL and ADD/COPY/VOLUME, `key=value` pairs for ENV/LABEL (or the legacy `KEY value`),
  whitespace-separated words for FROM/EXPOSE, the whole rest for USER/WORKDIR/MAINTAINER/
  STOPSIGNAL, a sub-instruction for ONBUILD. Unknown instructions parse (they fail later, in
  instructions.py, with `unknown instruction: X`).
- Heredocs (`RUN <<EOF`, `COPY <<EOF /dst`, `<<-EOF` strips leading tabs) in RUN, ADD, COPY (and
  ONBUILD of those), shell form only, as BuildKit's dockerfile 1.4 parser reads them: the body
  lines, with their newlines, up to a line equal to the name.

Errors are InvalidArgument with Docker's text; `ParseError.line` carries the line number.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument

__all__ = ["Heredoc", "Node", "ParseError", "Result", "parse", "parse_line"]

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"^(\d*)<<(-?)\s*([^<]*)$")
_LEADING_TABS = re.compile(r"(?m)^\t+")
_VALID_DIRECTIVES = ("escape", "syntax")
_HEREDOC_INSTRUCTIONS = ("add", "copy", "run")

NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only"


class ParseError(InvalidArgument):
    """A Dockerfile error at a line (1-based; 0 when the file as a whole is wrong)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class Heredoc:
    name: str
    content: str = ""
    expand: bool = True
    chomp: bool = False
    fd: int = 0

    def text(self) -> str:
        """The content, leading tabs removed for `<<-`."""
        return _LEADING_TABS.sub("", self.content) if self.chomp else self.content


@dataclass
class Node:
    """One instruction as parsed: `value` is its lower-case name, `args` its arguments (Docker's
    `nodeArgs`: for ONBUILD the sub-instruction's name then its arguments)."""

    value: str
    original: str
    flags: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    json: bool = False
    start_line: int = 0
    end_line: int = 0
    heredocs: list[Heredoc] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    sub: Node | None = None  # ONBUILD's instruction


@dataclass
class Result:
    nodes: list[Node]
    escape: str = "\\"
    warnings: list[str] = field(default_factory=list)


class _Directives:
    def __init__(self) -> None:
        self.escape = "\\"
        self.continuation = self._regex("\\")
        self.done = False
        self.seen: set[str] = set()

    @staticmethod
    def _regex(token: str) -> re.Pattern[str]:
        t = re.escape(token)
        return re.compile(rf"([^{t}]){t}[ \t]*$|^{t}[ \t]*$")

    def set_escape(self, value: str) -> None:
        if value not in ("`", "\\"):
            raise InvalidArgument(f"invalid escape token '{value}' does not match ` or \\")
        self.escape = value
        self.continuation = self._regex(value)

    def possible_directive(self, line: str) -> None:
        if self.done:
            return
        m = _DIRECTIVE.match(line)
        if not m or m.group(1).lower() not in _VALID_DIRECTIVES:
            self.done = True
            return
        key = m.group(1).lower()
        if key in self.seen:
            raise InvalidArgument(f"only one {key} parser directive can be used")
        self.seen.add(key)
        if key == "escape":
            self.set_escape(m.group(2))


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _trim_continuation(line: str, d: _Directives) -> tuple[str, bool]:
    if d.continuation.search(line):
        return d.continuation.sub(r"\1", line, count=1), False
    return line, True


def _split_lines(text: str) -> list[str]:
    """Lines as Go's bufio.ScanLines gives them: no `\\n`, a trailing `\\r` dropped."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def parse(text: str | bytes) -> Result:
    """Parse a whole Dockerfile."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    d = _Directives()
    lines = _split_lines(text)
    nodes: list[Node] = []
    warnings: list[str] = []
    comments: list[str] = []
    i = 0
    current = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        if _is_comment(raw):
            comment = raw.lstrip()[1:].strip()
            comments = [*comments, comment] if comment else []
        token = raw.lstrip()
        try:
            d.possible_directive(token)
        except InvalidArgument as err:
            raise ParseError(str(err), current) from None
        current += 1
        if token.startswith("#"):
            token = ""
        start = current
        line, end_of_line = _trim_continuation(token, d)
        if end_of_line and line == "":
            continue
        empty_continuation = False
        while not end_of_line and i < len(lines):
            raw = lines[i]
            i += 1
            try:
                d.possible_directive(raw)
            except InvalidArgument as err:
                raise ParseError(str(err), current) from None
            current += 1
            if _is_comment(raw):
                continue
            if not raw.strip():
                empty_continuation = True
                continue
            more, end_of_line = _trim_continuation(raw, d)
            line += more
        if empty_continuation:
            warnings.append("[WARNING]: Empty continuation line found in:\n    " + line)
        try:
            node = parse_line(line, d.escape, comments)
        except InvalidArgument as err:
            raise ParseError(str(err), start) from None
        if _can_contain_heredoc(node) and "<<" in line:
            for doc in _heredocs_from_line(line, start):
                body: list[str] = []
                terminated = False
                while i < len(lines):
                    raw = lines[i]
                    i += 1
                    current += 1
                    candidate = raw.lstrip("\t") if doc.chomp else raw
                    if candidate == doc.name:
                        terminated = True
                        break
                    body.append(raw + "\n")
                if not terminated:
                    raise ParseError("unterminated heredoc", start)
                doc.content = "".join(body)
                node.heredocs.append(doc)
        node.start_line, node.end_line = start, current
        nodes.append(node)
        comments = []
    if warnings:
        warnings.append("[WARNING]: Empty continuation lines will become errors in a future release.")
    if not nodes:
        raise ParseError("file with no instructions", current)
    return Result(nodes, d.escape, warnings)


def _can_contain_heredoc(node: Node) -> bool:
    target = node.sub if node.value == "onbuild" and node.sub is not None else node
    return target.value in _HEREDOC_INSTRUCTIONS and not target.json


def _raw_words(line: str) -> list[str]:
    """Words split on whitespace outside quotes, quotes and escapes kept."""
    words: list[str] = []
    word: list[str] = []
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            word.append(ch)
            if ch == "\\" and quote == '"' and i + 1 < len(line):
                word.append(line[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch.isspace():
            if word:
                words.append("".join(word))
                word = []
        else:
            word.append(ch)
            if ch in ("'", '"'):
                quote = ch
            elif ch == "\\" and i + 1 < len(line):
                word.append(line[i + 1])
                i += 1
        i += 1
    if word:
        words.append("".join(word))
    return words


def parse_heredoc(word: str) -> Heredoc | None:
    """A heredoc marker word (`<<EOF`, `<<-"EOF"`, `3<<X`) or None."""
    m = _HEREDOC.match(word)
    if not m or not m.group(3):
        return None
    rest = m.group(3)
    name = []
    quoted = False
    quote = ""
    for ch in rest:
        if quote:
            if ch == quote:
                quote = ""
            else:
                name.append(ch)
        elif ch in ("'", '"'):
            quote, quoted = ch, True
        elif ch == "\\":
            quoted = True
        else:
            name.append(ch)
    if not name or any(c.isspace() for c in name):
        return None
    return Heredoc(name="".join(name), expand=not quoted, chomp=m.group(2) == "-", fd=int(m.group(1) or 0))


def _heredocs_from_line(line: str, line_no: int) -> list[Heredoc]:
    return [doc for doc in (parse_heredoc(w) for w in _raw_words(line)) if doc is not None]


# --- one line -------------------------------------------------------------------------------------


def _split_command(line: str) -> tuple[str, list[str], str]:
    parts = _WHITESPACE.split(line.strip(), maxsplit=1)
    cmd = parts[0].lower()
    flags: list[str] = []
    args = ""
    if len(parts) == 2:
        args, flags = _extract_flags(parts[1])
    return cmd, flags, args.strip()


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """Leading `--flag[=value]` words (quotes and backslashes as Docker's extractBuilderFlags)."""
    words: list[str] = []
    pos = 0
    n = len(line)
    while True:
        while pos < n and line[pos].isspace():
            pos += 1
        if pos >= n:
            return "", words
        if not line.startswith("--", pos):
            return line[pos:], words
        word: list[str] = []
        blank_ok = False
        quote = ""
        while pos < n:
            ch = line[pos]
            if quote:
                if ch == quote:
                    quote = ""
                elif ch == "\\":
                    if pos + 1 == n:
                        pos += 1
                        continue
                    pos += 1
                    word.append(line[pos])
                else:
                    word.append(ch)
                pos += 1
                continue
            if ch.isspace():
                break
            if ch in ("'", '"'):
                quote, blank_ok = ch, True
            elif ch == "\\":
                if pos + 1 < n:
                    pos += 1
                    word.append(line[pos])
            else:
                word.append(ch)
            pos += 1
        text = "".join(word)
        if text == "--":
            return line[pos:], words
        if blank_ok or text:
            words.append(text)


def _parse_words(rest: str, escape: str) -> list[str]:
    """Docker's parseWords: words split on whitespace, quotes (and escapes) kept for later."""
    words: list[str] = []
    word: list[str] = []
    phase = "spaces"
    quote = ""
    blank_ok = False
    i = 0
    n = len(rest)
    while i <= n:
        ch = rest[i] if i < n else ""
        if phase == "spaces":
            if i == n:
                break
            if ch.isspace():
                i += 1
                continue
            phase = "word"
        if i == n:
            if blank_ok or word:
                words.append("".join(word))
            break
        if phase == "word":
            if ch.isspace():
                phase = "spaces"
                if blank_ok or word:
                    words.append("".join(word))
                word, blank_ok = [], False
                i += 1
                continue
            if ch in ("'", '"'):
                quote, blank_ok, phase = ch, True, "quote"
            if ch == escape:
                if i + 1 == n:
                    i += 1
                    continue
                word.append(ch)
                i += 1
                ch = rest[i]
            word.append(ch)
            i += 1
            continue
        # in a quote
        if ch == quote:
            phase = "word"
        if ch == escape and quote != "'":
            if i + 1 == n:
                phase = "word"
                i += 1
                continue
            word.append(ch)
            i += 1
            ch = rest[i]
        word.append(ch)
        i += 1
    return words


def _name_val(rest: str, key: str, escape: str) -> list[str]:
    words = _parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise InvalidArgument(f"{key} must have two arguments")
        return [parts[0], parts[1]]
    out: list[str] = []
    for word in words:
        if "=" not in word:
            raise InvalidArgument(f'Syntax error - can\'t find = in "{word}". Must be of the form: name=value')
        name, _, value = word.partition("=")
        out += [name, value]
    return out


def _json_array(rest: str) -> list[str] | None:
    """The strings of a JSON array at the start of `rest` (trailing text ignored, as Go's
    json.Decoder does), or None when it is not one."""
    rest = rest.lstrip()
    if not rest.startswith("["):
        return None

    def reject(value: str) -> None:
        raise ValueError(value)

    try:
        value, _ = json.JSONDecoder(parse_constant=reject).raw_decode(rest)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise InvalidArgument(NOT_STRING_ARRAY)
    return value


def _whitespace_list(rest: str) -> list[str]:
    return _WHITESPACE.split(rest) if rest else []


def parse_line(line: str, escape: str = "\\", comments: list[str] | None = None) -> Node:
    """One logical line (continuations already joined) as a Node."""
    cmd, flags, rest = _split_command(line)
    node = Node(value=cmd, original=line, flags=flags, comments=list(comments or []))
    if cmd in ("run", "cmd", "entrypoint", "shell"):
        if rest:
            array = _json_array(rest)
            node.args, node.json = (array, True) if array is not None else ([rest], False)
    elif cmd in ("add", "copy", "volume"):
        array = _json_array(rest)
        node.args, node.json = (array, True) if array is not None else (_whitespace_list(rest), False)
    elif cmd in ("env", "label"):
        node.args = _name_val(rest, cmd.upper(), escape)
    elif cmd == "arg":
        node.args = _parse_words(rest, escape)
    elif cmd in ("from", "expose"):
        node.args = _whitespace_list(rest)
    elif cmd in ("maintainer", "user", "workdir", "stopsignal"):
        node.args = [rest] if rest else []
    elif cmd == "healthcheck":
        node.args, node.json = _health_args(rest)
    elif cmd == "onbuild":
        if rest:
            node.sub = parse_line(rest, escape)
            node.args = [node.sub.value, *node.sub.args]
    # anything else: an unknown instruction, its arguments ignored
    return node


def _health_args(rest: str) -> tuple[list[str], bool]:
    sep = 0
    while sep < len(rest) and not rest[sep].isspace():
        sep += 1
    if sep == 0:
        return [], False
    following = sep
    while following < len(rest) and rest[following].isspace():
        following += 1
    kind = rest[:sep]
    cmd = rest[following:]
    if not cmd:
        return [kind], False
    array = _json_array(cmd)
    if array is not None:
        return [kind, *array], True
    return [kind, cmd], False

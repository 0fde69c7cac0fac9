""".dockerignore: reading the file and Docker's pattern rules (moby/patternmatcher, which the docker
CLI applies when it tars a context, and the daemon to drop the Dockerfile and .dockerignore).

    patterns = read_dockerignore(b"**/*.log\\n!keep.log\\n")   # ["**/*.log", "!keep.log"]
    m = PatternMatcher(patterns)
    m.matches("a/b.log")                                      # True: excluded
    m.matches("keep.log")                                     # False: an exception (`!`)

Rules: lines starting with `#` are comments; patterns are cleaned (`filepath.Clean`, a leading `/`
dropped); `*` and `?` match within one path component, `**` any number of components, `[...]`
character classes, `\\` escapes; the last matching pattern wins, `!` patterns re-include; a
pattern that matches a parent directory matches everything below it. `go_match` is Go's
`filepath.Match` (COPY wildcards use it too).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.errors import InvalidArgument

__all__ = ["MatchInfo", "PatternMatcher", "go_clean", "go_match", "read_dockerignore"]

BAD_PATTERN = "syntax error in pattern"


def go_clean(path: str) -> str:
    """Go's path.Clean: lexical, `""` -> `"."`, no trailing slash, one leading slash kept."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    out = "/".join(parts)
    if rooted:
        return "/" + out
    return out or "."


def read_dockerignore(data: bytes | str) -> list[str]:
    """The patterns of a .dockerignore file (ignorefile.ReadAll)."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    if data.startswith("\ufeff"):
        data = data[1:]
    out: list[str] = []
    for raw in data.split("\n"):
        raw = raw[:-1] if raw.endswith("\r") else raw
        if raw.startswith("#"):
            continue
        pattern = raw.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


# --- filepath.Match --------------------------------------------------------------------------------


def _match_class(pattern: str, i: int, ch: str) -> tuple[bool, int]:
    """Match `ch` against the class starting after '[' at pattern[i]; (matched, index after ']')."""
    negate = False
    if i < len(pattern) and pattern[i] == "^":
        negate = True
        i += 1
    matched = False
    first = True
    while True:
        if i >= len(pattern):
            raise InvalidArgument(BAD_PATTERN)
        if pattern[i] == "]" and not first:
            i += 1
            break
        first = False
        lo, i = _class_char(pattern, i)
        hi = lo
        if i < len(pattern) and pattern[i] == "-":
            hi, i = _class_char(pattern, i + 1)
        if lo <= ch <= hi:
            matched = True
    return matched != negate, i


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    if i >= len(pattern) or pattern[i] in "-]":
        raise InvalidArgument(BAD_PATTERN)
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise InvalidArgument(BAD_PATTERN)
    return pattern[i], i + 1


def _match_here(pattern: str, pi: int, name: str, ni: int) -> bool:
    while pi < len(pattern):
        c = pattern[pi]
        if c == "*":
            while pi < len(pattern) and pattern[pi] == "*":
                pi += 1
            if pi == len(pattern):
                return "/" not in name[ni:]
            for k in range(ni, len(name) + 1):
                if _match_here(pattern, pi, name, k):
                    return True
                if k < len(name) and name[k] == "/":
                    break
            _check_rest(pattern, pi)
            return False
        if ni >= len(name):
            _check_rest(pattern, pi)
            return False
        if c == "?":
            if name[ni] == "/":
                return False
            pi, ni = pi + 1, ni + 1
        elif c == "[":
            if name[ni] == "/":
                _match_class(pattern, pi + 1, "/")
                return False
            ok, pi = _match_class(pattern, pi + 1, name[ni])
            if not ok:
                _check_rest(pattern, pi)
                return False
            ni += 1
        elif c == "\\":
            pi += 1
            if pi >= len(pattern):
                raise InvalidArgument(BAD_PATTERN)
            if name[ni] != pattern[pi]:
                return False
            pi, ni = pi + 1, ni + 1
        else:
            if name[ni] != c:
                return False
            pi, ni = pi + 1, ni + 1
    return ni == len(name)


def _check_rest(pattern: str, pi: int) -> None:
    """Go reports a malformed pattern even when the name stopped matching earlier."""
    while pi < len(pattern):
        c = pattern[pi]
        if c == "[":
            _, pi = _match_class(pattern, pi + 1, "\x00")
        elif c == "\\":
            if pi + 1 >= len(pattern):
                raise InvalidArgument(BAD_PATTERN)
            pi += 2
        else:
            pi += 1


def go_match(pattern: str, name: str) -> bool:
    """Go's filepath.Match on `/`-separated names; InvalidArgument("syntax error in pattern")."""
    return _match_here(pattern, 0, name, 0)


# --- the pattern matcher ---------------------------------------------------------------------------

_ESCAPE = set(".+()|{}$")


@dataclass
class _Pattern:
    text: str
    dirs: list[str]
    exclusion: bool
    regex: re.Pattern[str]


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                out.append(".*" if i >= n else "(.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch in _ESCAPE:
            out.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                out.append("\\" + pattern[i])
                i += 1
            else:
                out.append("\\\\")
        else:
            out.append(ch)
    out.append("$")
    try:
        return re.compile("".join(out), re.S)
    except re.error:
        raise InvalidArgument(BAD_PATTERN) from None


@dataclass
class MatchInfo:
    """Per-pattern results of a directory, for its children (`MatchesUsingParentResults`)."""

    parent_matched: list[bool]


class PatternMatcher:
    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns: list[_Pattern] = []
        for p in patterns:
            p = p.strip()
            if not p:
                continue
            p = go_clean(p)
            exclusion = p.startswith("!")
            if exclusion:
                if len(p) == 1:
                    raise InvalidArgument('illegal exclusion pattern: "!"')
                p = p[1:]
            go_match(p, ".")  # refuses malformed patterns as Docker does
            self.patterns.append(_Pattern(p, p.split("/"), exclusion, _compile(p)))
        self.exclusions = any(p.exclusion for p in self.patterns)

    def matches(self, path: str) -> bool:
        """Whether `path` (relative, `/`-separated) is excluded."""
        path = go_clean(path)
        if path == ".":
            return False
        parent = path.rsplit("/", 1)[0] if "/" in path else "."
        parent_dirs = parent.split("/")
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            match = bool(pattern.regex.match(path))
            if not match and parent != "." and len(pattern.dirs) <= len(parent_dirs):
                match = bool(pattern.regex.match("/".join(parent_dirs[:len(pattern.dirs)])))
            if match:
                matched = not pattern.exclusion
        return matched

    def matches_using_parent(self, path: str, parent: MatchInfo | None) -> tuple[bool, MatchInfo]:
        """Whether `path` is excluded, given its directory's MatchInfo (None at the top)."""
        parent_matched = parent.parent_matched if parent is not None else []
        matched = False
        info = MatchInfo([False] * len(self.patterns))
        for i, pattern in enumerate(self.patterns):
            match = parent_matched[i] if parent_matched else False
            if not match:
                if pattern.exclusion != matched:
                    continue
                match = bool(pattern.regex.match(path))
                if not match and not parent_matched and "/" in path:
                    dirs = path.rsplit("/", 1)[0].split("/")
                    for k in range(len(dirs)):
                        if pattern.regex.match("/".join(dirs[:k + 1])):
                            match = True
                            break
            info.parent_matched[i] = match
            if match:
                matched = not pattern.exclusion
        return matched, info

    def may_include_below(self, directory: str) -> bool:
        """Whether an exception pattern could re-include something below an excluded directory
        (the CLI then walks into it instead of skipping it)."""
        prefix = directory + "/"
        return any(p.exclusion and (p.text + "/").startswith(prefix) for p in self.patterns)

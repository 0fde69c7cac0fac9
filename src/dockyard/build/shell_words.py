"""Word splitting and variable expansion, as the Dockerfile shell lexer does it (buildkit's
frontend/dockerfile/shell/lex.go, the version Docker 20.10 vendors).

    lex = Lexer("\\\\")
    lex.process_word('${A:-x}"$B"', {"B": "b"})        -> "xb"
    lex.process_words("a 'b c' $D", {"D": "d e"})      -> ["a", "b c", "d", "e"]

Rules (bash-like, not bash):
- `'...'` is literal; `"..."` expands `$` and lets the escape token escape `"`, `$` and itself;
  outside quotes the escape token escapes the next character (dropped at the end of the word).
- `$NAME`, `${NAME}`; `${NAME:-word}` (word when unset or empty), `${NAME:+word}` (word when set
  and non-empty), `${NAME:?msg}` / `${NAME?msg}` (an error when unset/empty); the word is
  expanded recursively. `$1`, `$@`, `$?`... are special parameters (looked up, usually empty).
- In `process_words` the words are split on whitespace after expansion, except inside quotes
  and escaped characters.
Errors are InvalidArgument in Docker's words: `failed to process "${A": syntax error: missing '}'`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dockyard.errors import InvalidArgument

__all__ = ["Lexer", "env_map"]

_SPECIAL_PARAMS = "@*#?-$!0"


class _LexError(Exception):
    pass


def env_map(env: Sequence[str]) -> dict[str, str]:
    """`K=V` strings as a mapping, later keys winning (`BuildEnvs`); a bare `K` maps to ""."""
    out: dict[str, str] = {}
    for item in env:
        key, sep, value = item.partition("=")
        out[key] = value if sep else ""
    return out


class _Words:
    def __init__(self) -> None:
        self.word: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace() and self.in_word:
            if self.word:
                self.words.append("".join(self.word))
                self.word = []
                self.in_word = False
        elif not ch.isspace():
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word.append(ch)
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw_string(self, text: str) -> None:
        self.word.append(text)
        self.in_word = True

    def get_words(self) -> list[str]:
        if self.word:
            self.words.append("".join(self.word))
            self.word = []
            self.in_word = False
        return self.words


class _Scanner:
    def __init__(self, text: str, env: Mapping[str, str], escape: str, quotes: bool = True) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape
        self.quotes = quotes

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        if self.pos >= len(self.text):
            return ""
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    def process_stop_on(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while self.peek():
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(result), words.get_words()
            if ch == "$" or (self.quotes and ch in ("'", '"')):
                if ch == "'":
                    tmp = self.single_quote()
                elif ch == '"':
                    tmp = self.double_quote()
                else:
                    tmp = self.dollar()
                result.append(tmp)
                if ch == "$":
                    words.add_string(tmp)
                else:
                    words.add_raw_string(tmp)
                continue
            ch = self.next()
            if ch == self.escape:
                ch = self.next()
                if not ch:
                    break
                words.add_raw_char(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stop:
            raise _LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.get_words()

    def single_quote(self) -> str:
        self.next()
        out: list[str] = []
        while True:
            ch = self.next()
            if not ch:
                raise _LexError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        self.next()
        out: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                raise _LexError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                following = self.peek()
                if not following:
                    continue  # an escape token at the end of the word is dropped
                if following in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        out: list[str] = []
        while self.peek():
            ch = self.peek()
            if not out and ch.isdigit():
                while self.peek() and self.peek().isdigit():
                    out.append(self.next())
                return "".join(out)
            if not out and ch in _SPECIAL_PARAMS:
                return self.next()
            if not (ch.isalpha() or ch.isdigit() or ch == "_"):
                break
            out.append(self.next())
        return "".join(out)

    def lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            return self.env[name], True
        return "", False

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            return self.lookup(name)[0]
        self.next()
        if not self.peek():
            raise _LexError("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise _LexError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch == "}":
            return self.lookup(name)[0]
        if ch == "?":
            word = self._word_to_brace()
            value, found = self.lookup(name)
            if not found:
                raise _LexError(f"{name}: {word or 'is not allowed to be unset'}")
            return value
        if ch == ":":
            modifier = self.next()
            word = self._word_to_brace()
            value, found = self.lookup(name)
            if modifier == "+":
                return word if value else value
            if modifier == "-":
                return value or word
            if modifier == "?":
                if not found:
                    raise _LexError(f"{name}: {word or 'is not allowed to be unset'}")
                if not value:
                    raise _LexError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            raise _LexError(f"unsupported modifier ({modifier}) in substitution")
        raise _LexError("missing ':' in substitution")

    def _word_to_brace(self) -> str:
        try:
            word, _ = self.process_stop_on("}")
        except _LexError:
            if not self.peek():
                raise _LexError("syntax error: missing '}'") from None
            raise
        return word


class Lexer:
    """The Dockerfile word processor for one escape token (`\\` or a backtick)."""

    def __init__(self, escape: str = "\\") -> None:
        self.escape = escape

    def _process(self, word: str, env: Mapping[str, str], quotes: bool = True) -> tuple[str, list[str]]:
        scanner = _Scanner(word, env, self.escape, quotes)
        try:
            return scanner.process_stop_on("")
        except _LexError as err:
            raise InvalidArgument(f"failed to process {_go_quote(word)}: {err}") from None

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """`word` with quotes removed and variables expanded, spaces kept."""
        return self._process(word, env)[0]

    def process_word_raw(self, word: str, env: Mapping[str, str]) -> str:
        """Variables expanded, quotes left as they are (a heredoc body, as BuildKit expands it)."""
        return self._process(word, env, quotes=False)[0]

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """`word` expanded, then split into words (quoted text is not split)."""
        return self._process(word, env)[1]


def _go_quote(text: str) -> str:
    from dockyard.build.goformat import quote

    return quote(text)

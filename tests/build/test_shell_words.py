"""Variable expansion and word splitting as Docker's Dockerfile lexer does them."""

from __future__ import annotations

import pytest

from dockyard.build.shell_words import Lexer, env_map
from dockyard.errors import InvalidArgument

ENV = {"PWD": "/home", "SHELL": "bash", "EMPTY": "", "KOREAN": "한국어"}

WORDS = [
    ("hello", "hello"),
    ("he'll'o", "hello"),
    ("he\\'llo", "he'llo"),
    ("abc\\tdef", "abctdef"),
    ('"abc\\tdef"', "abc\\tdef"),
    ('"abc\\\\tdef"', "abc\\tdef"),
    ("'abc\\tdef'", "abc\\tdef"),
    ("hello\\", "hello"),
    ("hello\\\\", "hello\\"),
    ("'hello\\'", "hello\\"),
    ('"\'\'"', "''"),
    ("$.", "$."),
    ("he$1x", "hex"),
    ("he$PWD", "he/home"),
    ("he\\$PWD", "he$PWD"),
    ("he\\\\$PWD", "he\\/home"),
    ('"he\\$PWD"', "he$PWD"),
    ("\\${}", "${}"),
    ("he${hi}xx", "hexx"),
    ("he${XXX:-000}xx", "he000xx"),
    ("he${PWD:-000}xx", "he/homexx"),
    ("he${XXX:-$PWD}xx", "he/homexx"),
    ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
    ("he${PWD?}", "he/home"),
    ("he${EMPTY?}", "he"),
    ("he${XXX:+${PWD}}xx", "hexx"),
    ("he${PWD:+${SHELL}}xx", "hebashxx"),
    ("he${PWD:+000}xx", "he000xx"),
    ("he${EMPTY:+000}xx", "hexx"),
    ("he${EMPTY:-000}xx", "he000xx"),
    ("'he${XX}'", "he${XX}"),
    ('"he\'$PWD\'"', "he'/home'"),
    ("'\\$PWD'", "\\$PWD"),
    ("he${PWD:+${PWD}:}xx", "he/home:xx"),
    ("he${XXX:-\\$PWD:}xx", "he$PWD:xx"),
    ("he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"),
    ("안'녕'하세요", "안녕하세요"),
    ("안녕$KOREAN", "안녕한국어"),
    ("${aaa}}", "}"),
    ("${aaa:-bbb}}", "bbb}"),
    ("${aaa:-bbb {foo}", "bbb {foo"),
    ("$1", ""),
    ("${1:-bbb}", "bbb"),
]

ERRORS = [
    ("he'llo", "unexpected end of statement while looking for matching single-quote"),
    ('"hello', "unexpected end of statement while looking for matching double-quote"),
    ("he${}", "bad substitution"),
    ("he${.}", "missing ':' in substitution"),
    ("he${XXX:YYY}", "unsupported modifier (Y) in substitution"),
    ("he${XXX?}", "XXX: is not allowed to be unset"),
    ("he${XXX?custom}", "XXX: custom"),
    ("he${EMPTY:?}", "EMPTY: is not allowed to be empty"),
    ("he${PWD", "missing ':' in substitution"),
    ("he${PWD:=000}xx", "unsupported modifier (=) in substitution"),
    ("${{aaa}", "bad substitution"),
    ("${aaa:-bbb ${foo}", "missing '}'"),
    ("${:-bbb}", "bad substitution"),
]


@pytest.mark.parametrize(("word", "expected"), WORDS)
def test_process_word(word: str, expected: str) -> None:
    assert Lexer("\\").process_word(word, ENV) == expected


@pytest.mark.parametrize(("word", "message"), ERRORS)
def test_errors(word: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$")
                       .replace("{", r"\{").replace("}", r"\}").replace("?", r"\?")):
        Lexer("\\").process_word(word, ENV)


def test_error_names_the_word() -> None:
    with pytest.raises(InvalidArgument, match=r'^failed to process "a\$\{": syntax error: missing \'\}\'$'):
        Lexer("\\").process_word("a${", {})


@pytest.mark.parametrize(("word", "expected"), [
    ("hello${hi}bye", ["hellobye"]),
    ("hello${space}bye", ["helloabc", "defbye"]),
    ('hello"${space}"bye', ["helloabc  defbye"]),
    ('hello "${space}"bye', ["hello", "abc  defbye"]),
    ("hello${leading}def", ["hello", "ab", "cdef"]),
    ('hello"${leading}" def', ["hello  ab c", "def"]),
    ("hello${trailing}d", ["helloab", "c", "d"]),
    ('hel"lo${trailing}"', ["helloab c   "]),
    ("hello there     ", ["hello", "there"]),
    ("hello\\ there", ["hello there"]),
    ('hello\\" there', ['hello"', "there"]),
    ("hello'$there'", ["hello$there"]),
])
def test_process_words(word: str, expected: list[str]) -> None:
    env = {"space": "abc  def", "leading": "  ab c", "trailing": "ab c   "}
    assert Lexer("\\").process_words(word, env) == expected


def test_backtick_escape() -> None:
    lex = Lexer("`")
    assert lex.process_word("C:\\dir`$HOME", {"HOME": "x"}) == "C:\\dir$HOME"
    assert lex.process_word('"a`"b"', {}) == 'a"b'


def test_raw_keeps_quotes() -> None:
    assert Lexer("\\").process_word_raw("'$A' \"${A}\"", {"A": "x"}) == "'x' \"x\""


def test_env_map_later_wins() -> None:
    assert env_map(["A=1", "B", "A=2=3"]) == {"A": "2=3", "B": ""}

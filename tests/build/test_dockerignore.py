""".dockerignore patterns, Go's filepath.Match, and which files a directory context holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.build.context import BuildContext
from dockyard.build.dockerignore import PatternMatcher, go_clean, go_match, read_dockerignore
from dockyard.errors import InvalidArgument


def test_read() -> None:
    data = b"\xef\xbb\xbf# comment\n  *.log  \n!keep.log\n/abs/path/\n\n ! spaced\nsub/../x\n#not/a/comment-if-indented\n"
    assert read_dockerignore(data) == ["*.log", "!keep.log", "abs/path", "!spaced", "x"]


@pytest.mark.parametrize(("patterns", "path", "excluded"), [
    (["*.log"], "a.log", True),
    (["*.log"], "dir/a.log", False),
    (["**/*.log"], "dir/sub/a.log", True),
    (["**/*.log"], "a.log", True),
    (["dir"], "dir/anything/below", True),
    (["dir/*"], "dir/file", True),
    (["dir/*"], "dir", False),
    (["*", "!keep"], "keep", False),
    (["*", "!keep"], "other", True),
    (["logs", "!logs/keep"], "logs/keep/x", False),
    (["logs", "!logs/keep"], "logs/drop", True),
    (["a?c"], "abc", True),
    (["a?c"], "a/c", False),
    (["[a-c]x"], "bx", True),
    (["[^a-c]x"], "bx", False),
    (["\\*x"], "*x", True),
    (["foo/**"], "foo/bar/baz", True),
    (["**"], "anything/at/all", True),
    (["a.b"], "aXb", False),
    (["!a", "a"], "a", True),
])
def test_matches(patterns: list[str], path: str, excluded: bool) -> None:
    assert PatternMatcher(patterns).matches(path) is excluded


def test_bad_patterns() -> None:
    with pytest.raises(InvalidArgument, match='illegal exclusion pattern: "!"'):
        PatternMatcher(["!"])
    with pytest.raises(InvalidArgument, match="syntax error in pattern"):
        PatternMatcher(["[a-"])


@pytest.mark.parametrize(("pattern", "name", "matched"), [
    ("*", "abc", True), ("*", "a/b", False), ("a*/b", "abc/b", True), ("a*b*c", "axxbyyc", True),
    ("?", "a", True), ("?", "/", False), ("[abc]", "b", True), ("[^abc]", "b", False), ("[a-z]x", "qx", True),
    ("\\[", "[", True), ("a[", "a", False),
])
def test_go_match(pattern: str, name: str, matched: bool) -> None:
    if pattern == "a[":
        with pytest.raises(InvalidArgument):
            go_match(pattern, name)
        return
    assert go_match(pattern, name) is matched


def test_go_clean() -> None:
    assert [go_clean(p) for p in ("", "a//b/./c/..", "/../x", "../a/../../b", "/")] == [".", "a/b", "/x", "../../b", "/"]


def test_directory_context_follows_the_cli(tmp_path: Path) -> None:
    for path in ("Dockerfile", ".dockerignore", "src/a.py", "src/a.pyc", "logs/x.log", "logs/keep/k.log", "top"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(path)
    (tmp_path / ".dockerignore").write_text("**/*.pyc\nlogs\n!logs/keep\nDockerfile\n.dockerignore\n")
    os.symlink("top", tmp_path / "link")
    with BuildContext.from_directory(tmp_path) as ctx:
        visible = sorted(ctx.walk("."))
        assert visible == [".dockerignore", "Dockerfile", "link", "logs", "logs/keep", "logs/keep/k.log", "src",
                           "src/a.py", "top"]
        name, data = ctx.dockerfile()
        assert (name, data) == ("Dockerfile", b"Dockerfile")
        # the daemon's rule: excluded build files leave the context once read
        assert not ctx.exists("Dockerfile") and not ctx.exists(".dockerignore")
        assert ctx.resolve("link") == "top" and ctx.checksum("logs") == "logs"

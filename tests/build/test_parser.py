"""The Dockerfile parser and the instruction records: Docker 20.10's rules and error texts, plus
heredocs as BuildKit reads them."""

from __future__ import annotations

import pytest

from dockyard.build import instructions as ins
from dockyard.build.parser import ParseError, parse, parse_line
from dockyard.errors import InvalidArgument


def test_continuations_comments_and_lines() -> None:
    text = ("# comment\nFROM busybox\n\nRUN a \\\n    b \\\n# inside\n    c\nRUN d \\\n\n  e\n"
            "  LABEL x=1\r\nRUN \\\n")
    result = parse(text)
    assert [(n.value, n.original, n.start_line, n.end_line) for n in result.nodes] == [
        ("from", "FROM busybox", 2, 2),
        ("run", "RUN a     b     c", 4, 7),
        ("run", "RUN d   e", 8, 10),
        ("label", "LABEL x=1", 11, 11),
        ("run", "RUN ", 12, 12),
    ]
    assert result.warnings[0].startswith("[WARNING]: Empty continuation line found in:\n    RUN d   e")


def test_directives() -> None:
    result = parse("# syntax=docker/dockerfile:1\n#escape = `\nFROM busybox\nRUN a `\n b\n")
    assert result.escape == "`"
    assert result.nodes[1].original == "RUN a  b"
    # only at the top: after a blank line or an instruction they are comments
    assert parse("\n# escape=`\nFROM busybox\n").escape == "\\"
    assert parse("FROM busybox\n# escape=`\nRUN x\n").escape == "\\"
    with pytest.raises(ParseError, match="only one escape parser directive can be used"):
        parse("# escape=`\n# escape=\\\nFROM busybox\n")
    with pytest.raises(ParseError, match="invalid escape token 'x' does not match ` or"):
        parse("# escape=x\nFROM busybox\n")


def test_empty_file() -> None:
    with pytest.raises(ParseError, match="file with no instructions"):
        parse("# just a comment\n\n")


@pytest.mark.parametrize(("line", "args", "json"), [
    ('RUN ["echo", "a b"]', ["echo", "a b"], True),
    ("RUN echo [not json", ["echo [not json"], False),
    ('CMD ["a"] trailing text ignored', ["a"], True),
    ("CMD", [], False),
    ('ENTRYPOINT ["x", "y"]', ["x", "y"], True),
    ("COPY a b c/", ["a", "b", "c/"], False),
    ('COPY ["a b", "c/"]', ["a b", "c/"], True),
    ("ENV A=1 B='two words'", ["A", "1", "B", "'two words'"], False),
    ("ENV A two  words", ["A", "two  words"], False),
    ("LABEL \"k k\"=v", ['"k k"', "v"], False),
    ("ARG a=1 b", ["a=1", "b"], False),
    ("EXPOSE 80   443/udp", ["80", "443/udp"], False),
    ("USER  nobody:nogroup", ["nobody:nogroup"], False),
    ('HEALTHCHECK --interval=5s CMD ["true"]', ["CMD", "true"], True),
    ("HEALTHCHECK NONE", ["NONE"], False),
    ("ONBUILD RUN echo hi", ["run", "echo hi"], False),
])
def test_arguments(line: str, args: list[str], json: bool) -> None:
    node = parse_line(line)
    assert (node.args, node.json) == (args, json)


def test_flags() -> None:
    node = parse_line('COPY --from=builder --chown="a b" src dst')
    assert node.flags == ["--from=builder", "--chown=a b"]
    assert node.args == ["src", "dst"]
    assert parse_line("RUN -- --not-a-flag").args == ["--not-a-flag"]


def test_json_with_non_strings_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match="arrays must be comprised of strings only"):
        parse_line('CMD ["a", 1]')


def test_heredocs() -> None:
    text = ("FROM busybox\nRUN <<EOF\necho a\nEOF\nRUN <<-'X' cat\n\tquoted $A\n\tX\n"
            "COPY <<one <<\"two\" /dst/\n1\none\n2\ntwo\nRUN echo '<<quoted-is-no-heredoc'\n")
    nodes = parse(text).nodes
    run, script, copy, plain = nodes[1], nodes[2], nodes[3], nodes[4]
    assert [(h.name, h.content, h.expand, h.chomp) for h in run.heredocs] == [("EOF", "echo a\n", True, False)]
    assert [(h.name, h.text(), h.expand, h.chomp) for h in script.heredocs] == [("X", "quoted $A\n", False, True)]
    assert [(h.name, h.content, h.expand) for h in copy.heredocs] == [("one", "1\n", True), ("two", "2\n", False)]
    assert copy.args == ["<<one", '<<"two"', "/dst/"]
    assert plain.heredocs == [] and plain.start_line == 13
    with pytest.raises(ParseError, match="unterminated heredoc"):
        parse("FROM busybox\nRUN <<EOF\nno end\n")
    # exec form and other instructions have no heredocs
    assert parse('FROM busybox\nRUN ["cat", "<<EOF"]\nENV A=<<B\n').nodes[1].heredocs == []


def _stages(text: str) -> tuple[list[ins.Stage], list[ins.ArgCommand]]:
    return ins.parse_dockerfile(parse(text).nodes)


def test_instructions() -> None:
    stages, meta = _stages("ARG BASE=busybox\nFROM ${BASE} AS Builder\nRUN ls\nCMD echo\nENTRYPOINT []\n"
                           "COPY --chown=1:2 --chmod=600 --link a b /c/\nHEALTHCHECK --retries=3 CMD true\n"
                           "ONBUILD  RUN x\nEXPOSE 9 1\nSHELL [\"/bin/bash\", \"-c\"]\n")
    assert [a.args for a in meta] == [[("BASE", "busybox")]]
    stage = stages[0]
    assert (stage.name, stage.base_name, stage.code) == ("builder", "${BASE}", "FROM ${BASE} AS Builder")
    run, cmd, entrypoint, copy, health, onbuild, expose, shell = stage.commands
    assert isinstance(run, ins.RunCommand) and (run.cmd_line, run.prepend_shell) == (["ls"], True)
    assert isinstance(cmd, ins.CmdCommand) and cmd.cmd_line == ["echo"]
    assert isinstance(entrypoint, ins.EntrypointCommand) and entrypoint.cmd_line is None
    assert isinstance(copy, ins.CopyCommand)
    assert (copy.sources, copy.dest, copy.chown, copy.chmod, copy.link) == (["a", "b"], "/c/", "1:2", "600", True)
    assert isinstance(health, ins.HealthCheckCommand) and health.health.test == ["CMD-SHELL", "true"]
    assert health.health.retries == 3
    assert isinstance(onbuild, ins.OnbuildCommand) and onbuild.expression == "RUN x"
    assert isinstance(expose, ins.ExposeCommand) and expose.ports == ["1", "9"]
    assert isinstance(shell, ins.ShellCommand) and shell.shell == ["/bin/bash", "-c"]


@pytest.mark.parametrize(("text", "message"), [
    ("FROM busybox\nRUNN x\n", "dockerfile parse error line 2: unknown instruction: RUNN"),
    ("FROM busybox AS 1x\n", 'dockerfile parse error line 1: invalid name for build stage: "1x", name can\'t start '
                             "with a number or contain symbols"),
    ("FROM a b\n", "dockerfile parse error line 1: FROM requires either one or three arguments"),
    ("RUN x\n", "no build stage in current context"),
    ("FROM busybox\nCOPY a\n", "dockerfile parse error line 2: COPY requires at least two arguments, but only one "
                               "was provided. Destination could not be determined"),
    ("FROM busybox\nCOPY --chwon=1 a b\n", "dockerfile parse error line 2: Unknown flag: chwon"),
    ("FROM busybox\nCOPY --from a b\n", "dockerfile parse error line 2: Missing a value on flag: from"),
    ("FROM busybox\nCOPY --from=a --from=b a b\n", "dockerfile parse error line 2: Duplicate flag specified: from"),
    ("FROM busybox\nWORKDIR\n", "dockerfile parse error line 2: WORKDIR requires exactly one argument"),
    ("FROM busybox\nSHELL sh -c\n", "dockerfile parse error line 2: SHELL requires the arguments to be in JSON form"),
    ("FROM busybox\nONBUILD ONBUILD RUN x\n", "dockerfile parse error line 2: Chaining ONBUILD via `ONBUILD ONBUILD` "
                                              "isn't allowed"),
    ("FROM busybox\nONBUILD FROM x\n", "dockerfile parse error line 2: FROM isn't allowed as an ONBUILD trigger"),
    ("FROM busybox\nHEALTHCHECK --interval=0.5ms CMD x\n", "dockerfile parse error line 2: Interval \"interval\" "
                                                          "cannot be less than 1ms"),
    ("FROM busybox\nHEALTHCHECK --retries=0 CMD x\n", "dockerfile parse error line 2: --retries must be at least 1 "
                                                     "(not 0)"),
    ("FROM busybox\nHEALTHCHECK BOGUS x\n", 'dockerfile parse error line 2: Unknown type "BOGUS" in HEALTHCHECK '
                                            "(try CMD)"),
    ("FROM busybox\nHEALTHCHECK NONE x\n", "dockerfile parse error line 2: HEALTHCHECK NONE takes no arguments"),
    ("FROM busybox\nVOLUME [\"\"]\n", "dockerfile parse error line 2: VOLUME specified can not be an empty string"),
    ("FROM busybox\nARG =x\n", "dockerfile parse error line 2: ARG names can not be blank"),
    ("FROM busybox\nLABEL\n", "dockerfile parse error line 2: LABEL requires at least one argument"),
])
def test_instruction_errors(text: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        _stages(text)
    assert str(info.value) == message
    assert info.value.line == int(message.split("line ")[1].split(":")[0]) if "line " in message else True


@pytest.mark.parametrize(("text", "message"), [
    ("FROM busybox\nENV A=1 B\n", "Syntax error - can't find = in \"B\". Must be of the form: name=value"),
    ("FROM busybox\nENV A\n", "ENV must have two arguments"),
])
def test_line_errors(text: str, message: str) -> None:
    """Errors of the line parser: the builder prefixes them with `failed to parse Dockerfile: `."""
    with pytest.raises(ParseError) as info:
        _stages(text)
    assert (str(info.value), info.value.line) == (message, 2)


def test_durations() -> None:
    assert ins.parse_duration("1m30s") == 90_000_000_000
    assert ins.parse_duration("1.5h") == 5_400_000_000_000
    assert ins.parse_duration("250ms") == 250_000_000
    assert ins.parse_duration("0") == 0
    with pytest.raises(InvalidArgument, match='time: missing unit in duration "5"'):
        ins.parse_duration("5")
    with pytest.raises(InvalidArgument, match='time: unknown unit "x" in duration "5x"'):
        ins.parse_duration("5x")

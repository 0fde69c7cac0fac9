"""pflag's parsing rules and docker's usage errors (no daemon)."""

from __future__ import annotations

import pytest

from dockyard.cli.errors import UsageError
from dockyard.cli.flags import Command, bool_flag, int_flag, list_flag, parse_int, str_flag

RUN = Command("run [OPTIONS] IMAGE [COMMAND] [ARG...]", "Run", [
    bool_flag("detach", "d"), bool_flag("interactive", "i"), bool_flag("tty", "t"), bool_flag("rm"),
    list_flag("env", "e"), str_flag("name"), int_flag("cpu-shares", "c"), str_flag("hostname", "h"),
    bool_flag("sig-proxy", default=True), bool_flag("help"),
], min_args=1, interspersed=False)
RM = Command("rm [OPTIONS] CONTAINER [CONTAINER...]", "Remove", [bool_flag("force", "f")], min_args=1)


def test_short_groups_values_and_long_forms() -> None:
    opts, args = RUN.parse("dockyard run", ["-dit", "-eA=1", "-e", "B=2", "--env=C=3", "--name", "x", "-c=512",
                                            "--rm=false", "--sig-proxy=false", "img", "sh", "-c", "echo -e"])
    assert (opts.on("detach"), opts.on("interactive"), opts.on("tty")) == (True, True, True)
    assert opts.values("env") == ["A=1", "B=2", "C=3"]
    assert opts.text("name") == "x" and opts.num("cpu-shares") == 512
    assert not opts.on("rm") and not opts.on("sig-proxy")
    assert args == ["img", "sh", "-c", "echo -e"]  # flags end at the image (SetInterspersed(false))
    assert opts.changed("name") and not opts.changed("hostname")


def test_interspersed_flags_and_double_dash() -> None:
    opts, args = RM.parse("dockyard rm", ["a", "-f", "b", "--", "-c"])
    assert opts.on("force") and args == ["a", "b", "-c"]
    _, args = RM.parse("dockyard rm", ["-"])
    assert args == ["-"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--foo", "img"], "unknown flag: --foo"),
    (["-z", "img"], "unknown shorthand flag: 'z' in -z"),
    (["-dz", "img"], "unknown shorthand flag: 'z' in -dz"),
    (["--name"], "flag needs an argument: --name"),
    (["-e"], "flag needs an argument: 'e' in -e"),
    (["-c", "abc", "img"], 'invalid argument "abc" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "abc": '
                           "invalid syntax"),
    (["--rm=maybe", "img"], 'invalid argument "maybe" for "--rm" flag: strconv.ParseBool: parsing "maybe": '
                            "invalid syntax"),
])
def test_flag_errors_exit_125_with_usage(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as err:
        RUN.parse("dockyard run", argv)
    assert err.value.status == 125
    assert err.value.message == (f"{message}\n\nUsage:  dockyard run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"
                                 "Run 'dockyard run --help' for more information")


def test_argument_counts_exit_1() -> None:
    with pytest.raises(UsageError) as err:
        RM.parse("dockyard rm", [])
    assert err.value.status == 1
    assert err.value.message == ("dockyard: 'dockyard rm' requires at least 1 argument\n\n"
                                 "Usage:  dockyard rm [OPTIONS] CONTAINER [CONTAINER...]\n\n"
                                 "See 'dockyard rm --help' for more information")
    exact = Command("rename CONTAINER NEW_NAME", "Rename", [], min_args=2, max_args=2)
    with pytest.raises(UsageError, match="'dockyard rename' requires 2 arguments"):
        exact.parse("dockyard rename", ["a"])
    none = Command("ps [OPTIONS]", "List", [], max_args=0)
    with pytest.raises(UsageError, match="'dockyard ps' accepts no arguments"):
        none.parse("dockyard ps", ["x"])


def test_help_is_status_zero() -> None:
    with pytest.raises(UsageError) as err:
        RM.parse("dockyard rm", ["--help"])
    assert err.value.status == 0 and "Usage:  dockyard rm [OPTIONS] CONTAINER [CONTAINER...]" in err.value.message
    with pytest.raises(UsageError) as err:
        RUN.parse("dockyard run", ["--help"])  # run's -h is --hostname; --help still works
    assert err.value.status == 0


def test_parse_int_like_go() -> None:
    assert parse_int("-12") == -12 and parse_int("0x10") == 16
    with pytest.raises(ValueError, match=r'parsing "1\.5"'):
        parse_int("1.5")

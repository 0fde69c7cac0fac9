"""Command-line flags with pflag's rules (what cobra gives the docker CLI), without argparse.

    -d -i -t == -dit        short booleans combine; the first short flag that takes a value ends
    -e A=1, -eA=1, -n=3      the group and takes the rest of the word, or the next word
    --name x, --name=x       long flags; booleans accept --rm=false
    --                       ends the flags; `-` alone is an argument
    interspersed=False       (run, create, exec) flags end at the first argument: the image

Errors are docker's texts: `unknown flag: --foo`, `unknown shorthand flag: 'z' in -z`,
`flag needs an argument: 'n' in -n`, `invalid argument "x" for "-m, --memory" flag: <why>`;
they exit 125 with the usage line. Wrong argument counts exit 1 as docker's do.

A `Command` holds the flags and the usage line of one verb; `parse(prog, argv)` returns the
`Options` and the positional arguments, or raises UsageError (`--help` raises it with status 0 and
the help text, which main prints on stdout).
"""

from __future__ import annotations

from dockyard.cli.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

BOOL = "bool"
VALUE = "value"
LIST = "list"


class Flag:
    """`kind` BOOL, VALUE (last one wins) or LIST (repeatable); `conv` checks and converts a value
    at parse time and raises ValueError with docker's reason."""

    __slots__ = ("conv", "default", "help", "hidden", "kind", "long", "short", "type_name")

    def __init__(self, long: str, short: str = "", kind: str = VALUE, default: object = None, help: str = "",
                 conv: Callable[[str], object] | None = None, type_name: str = "string", hidden: bool = False) -> None:
        self.long = long
        self.short = short
        self.kind = kind
        self.default = default
        self.help = help
        self.conv = conv
        self.type_name = "" if kind == BOOL else ("list" if kind == LIST and type_name == "string" else type_name)
        self.hidden = hidden

    @property
    def label(self) -> str:
        return f"-{self.short}, --{self.long}" if self.short else f"--{self.long}"


def parse_bool(value: str) -> bool:
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax')


def parse_int(value: str) -> int:
    text = value.replace("_", "") if "_" in value and value.strip("_") == value else value
    try:
        if (text[:1] in "+-" and text[1:].isdigit()) or text.isdigit():
            return int(text)
        if text.lower().startswith(("0x", "-0x")):
            return int(text, 16)
    except ValueError:
        pass
    raise ValueError(f'strconv.ParseInt: parsing "{value}": invalid syntax')


def parse_uint(value: str) -> int:
    number = parse_int(value) if value[:1] != "-" else -1
    if number < 0:
        raise ValueError(f'strconv.ParseUint: parsing "{value}": invalid syntax')
    return number


def bool_flag(long: str, short: str = "", help: str = "", default: bool = False, hidden: bool = False) -> Flag:
    return Flag(long, short, BOOL, default, help, hidden=hidden)


def str_flag(long: str, short: str = "", help: str = "", default: str | None = None,
             conv: Callable[[str], object] | None = None, type_name: str = "string", hidden: bool = False) -> Flag:
    return Flag(long, short, VALUE, default, help, conv, type_name, hidden)


def int_flag(long: str, short: str = "", help: str = "", default: int = 0, hidden: bool = False) -> Flag:
    return Flag(long, short, VALUE, default, help, parse_int, "int", hidden)


def list_flag(long: str, short: str = "", help: str = "", conv: Callable[[str], object] | None = None,
              type_name: str = "list", hidden: bool = False) -> Flag:
    return Flag(long, short, LIST, None, help, conv, type_name, hidden)


class Options:
    """Parsed flag values by long name; `changed` tells whether a flag was given."""

    __slots__ = ("_changed", "_values")

    def __init__(self, values: dict[str, Any], changed: set[str]) -> None:
        self._values = values
        self._changed = changed

    def on(self, name: str) -> bool:
        return bool(self._values[name])

    def text(self, name: str) -> str:
        value = self._values[name]
        return "" if value is None else str(value)

    def num(self, name: str) -> int:
        return int(self._values[name] or 0)

    def values(self, name: str) -> list[Any]:
        return list(self._values[name])

    def value(self, name: str) -> Any:
        return self._values[name]

    def changed(self, name: str) -> bool:
        return name in self._changed

    def set(self, name: str, value: object) -> None:
        self._values[name] = value


class Command:
    """One verb: its usage line (`use`, after the program name), description, flags and how many
    arguments it takes (`min_args`, `max_args`; -1 = no limit)."""

    __slots__ = ("aliases", "flags", "interspersed", "max_args", "min_args", "short", "use")

    def __init__(self, use: str, short: str, flags: Sequence[Flag] = (), *, min_args: int = 0, max_args: int = -1,
                 interspersed: bool = True, aliases: str = "") -> None:
        self.use = use
        self.short = short
        self.flags = list(flags)
        self.min_args = min_args
        self.max_args = max_args
        self.interspersed = interspersed
        self.aliases = aliases

    def usage_line(self, prog: str) -> str:
        words = self.use.split(" ", 1)
        return f"{prog} {words[1]}" if len(words) > 1 else prog

    def _flag_error(self, prog: str, message: str) -> UsageError:
        return UsageError(f"{message}\n\nUsage:  {self.usage_line(prog)}\n\nRun '{prog} --help' for more information", 125)

    def _arg_error(self, prog: str, message: str, see: str = "Run") -> UsageError:
        binary = prog.split(" ", 1)[0]
        return UsageError(f"{binary}: '{prog}' {message}\n\nUsage:  {self.usage_line(prog)}\n\n"
                          f"{see} '{prog} --help' for more information", 1)

    def help_text(self, prog: str) -> str:
        lines = [f"\nUsage:  {self.usage_line(prog)}", "", self.short]
        if self.aliases:
            lines += ["", "Aliases:", f"  {self.aliases}"]
        shown = sorted((f for f in self.flags if not f.hidden), key=lambda f: f.long)
        if shown:
            labels = []
            for f in shown:
                label = f"-{f.short}, --{f.long}" if f.short else f"    --{f.long}"
                labels.append(f"{label} {f.type_name}".rstrip())
            width = max(len(label) for label in labels)
            lines += ["", "Options:"]
            for f, label in zip(shown, labels, strict=True):
                default = ""
                if f.kind == VALUE and f.default not in (None, "", 0):
                    default = f' (default "{f.default}")' if isinstance(f.default, str) else f" (default {f.default})"
                elif f.kind == BOOL and f.default:
                    default = " (default true)"
                text = (f.help + default).replace("\n", "\n" + " " * (width + 5))
                lines.append(f"  {label.ljust(width)}   {text}")
        return "\n".join(lines) + "\n"

    def parse(self, prog: str, argv: Sequence[str]) -> tuple[Options, list[str]]:
        longs: dict[str, Flag] = {}
        shorts: dict[str, Flag] = {}
        values: dict[str, Any] = {}
        for f in self.flags:
            longs[f.long] = f
            if f.short:
                shorts[f.short] = f
            values[f.long] = [] if f.kind == LIST else f.default if f.default is not None or f.kind != BOOL else False
        changed: set[str] = set()
        args: list[str] = []

        def store(f: Flag, raw: str) -> None:
            if f.kind == BOOL:
                try:
                    values[f.long] = parse_bool(raw)
                except ValueError as e:
                    raise self._flag_error(prog, f'invalid argument "{raw}" for "{f.label}" flag: {e}') from None
            else:
                try:
                    value = f.conv(raw) if f.conv is not None else raw
                except ValueError as e:
                    raise self._flag_error(prog, f'invalid argument "{raw}" for "{f.label}" flag: {e}') from None
                if f.kind == LIST:
                    values[f.long].append(value)
                else:
                    values[f.long] = value
            changed.add(f.long)

        i = 0
        n = len(argv)
        while i < n:
            word = argv[i]
            i += 1
            if word == "--":
                args.extend(argv[i:])
                break
            if word.startswith("--"):
                name, eq, inline = word[2:].partition("=")
                if name == "help" and "help" not in longs:
                    raise UsageError(self.help_text(prog), 0)
                found = longs.get(name)
                if found is None:
                    raise self._flag_error(prog, f"unknown flag: --{name}")
                if found.kind == BOOL:
                    store(found, inline if eq else "true")
                elif eq:
                    store(found, inline)
                elif i < n:
                    store(found, argv[i])
                    i += 1
                else:
                    raise self._flag_error(prog, f"flag needs an argument: --{name}")
                continue
            if word.startswith("-") and len(word) > 1:
                group = word[1:]
                j = 0
                while j < len(group):
                    ch = group[j]
                    short = shorts.get(ch)
                    if short is None:
                        if ch == "h" and "help" not in longs:
                            raise UsageError(self.help_text(prog), 0)
                        raise self._flag_error(prog, f"unknown shorthand flag: '{ch}' in -{group}")
                    rest = group[j + 1:]
                    if short.kind == BOOL:
                        if rest.startswith("="):
                            store(short, rest[1:])
                            break
                        store(short, "true")
                        j += 1
                        continue
                    if rest:
                        store(short, rest[1:] if rest.startswith("=") else rest)
                    elif i < n:
                        store(short, argv[i])
                        i += 1
                    else:
                        raise self._flag_error(prog, f"flag needs an argument: '{ch}' in -{group}")
                    break
                continue
            args.append(word)
            if not self.interspersed:
                args.extend(argv[i:])
                break
        if values.get("help") is True and "help" in longs and longs["help"].kind == BOOL:
            raise UsageError(self.help_text(prog), 0)
        self.check_args(prog, args)
        return Options(values, changed), args

    def check_args(self, prog: str, args: list[str]) -> None:
        count = len(args)
        low, high = self.min_args, self.max_args
        plural = "argument" if (high if high >= 0 else low) == 1 else "arguments"
        if low == high and count != low:
            if low == 0:
                raise self._arg_error(prog, "accepts no arguments")
            raise self._arg_error(prog, f"requires {low} {'argument' if low == 1 else 'arguments'}")
        if count < low:
            if high > low:
                raise self._arg_error(prog, f"requires at least {low} and at most {high} {plural}")
            raise self._arg_error(prog, f"requires at least {low} {'argument' if low == 1 else 'arguments'}", "See")
        if 0 <= high < count:
            if low > 0:
                raise self._arg_error(prog, f"requires at least {low} and at most {high} {plural}")
            raise self._arg_error(prog, f"requires at most {high} {plural}")

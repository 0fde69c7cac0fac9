"""The Go text/template subset behind --format (no daemon: expectations are Go's own output)."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.cli.template import HEADER_FUNCS, TemplateError, go_float, go_quote, go_str, parse

DATA: dict[str, Any] = {
    "Id": "0123456789abcdef",
    "Name": "/web",
    "State": {"Status": "running", "Running": True, "ExitCode": 0, "Health": None},
    "Config": {"Cmd": ["sh", "-c", "echo hi"], "Entrypoint": None, "Env": ["A=1", "B=2"],
               "Labels": {"app": "web", "tier": "front"}, "Volumes": None, "Image": "busybox"},
    "Mounts": [{"Source": "/a", "Destination": "/b"}],
    "Sizes": [3, 1, 2],
    "Ratio": 0.5,
}


def render(text: str, data: Any = DATA) -> str:
    return parse(text).execute(data)


@pytest.mark.parametrize(("text", "expected"), [
    ("{{.Id}}", "0123456789abcdef"),
    ("{{.State.Status}}", "running"),
    ("{{.State.Running}} {{.State.ExitCode}}", "true 0"),
    ("{{.Config.Cmd}}", "[sh -c echo hi]"),
    ("{{.Config.Entrypoint}}", "[]"),           # a null slice prints like Go's typed nil slice
    ("{{.Config.Volumes}}", "map[]"),
    ("{{json .Config.Entrypoint}}", "null"),
    ("{{.Config.Labels}}", "map[app:web tier:front]"),
    ("{{json .Config.Labels}}", '{"app":"web","tier":"front"}'),
    ("{{json .Config.Cmd}}", '["sh","-c","echo hi"]'),
    ("{{index .Config.Labels \"app\"}}", "web"),
    ("{{index .Config.Labels \"missing\"}}", ""),
    ("{{index .Config.Cmd 1}}", "-c"),
    ("{{(index .Mounts 0).Source}}", "/a"),
    ("{{range .Config.Env}}[{{.}}]{{end}}", "[A=1][B=2]"),
    ("{{range $i, $e := .Config.Env}}{{$i}}:{{$e}} {{end}}", "0:A=1 1:B=2 "),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "app=web;tier=front;"),
    ("{{range .Config.Entrypoint}}x{{else}}empty{{end}}", "empty"),
    ("{{range .Sizes}}{{if eq . 1}}{{continue}}{{end}}{{.}}{{end}}", "32"),
    ("{{range .Sizes}}{{if eq . 1}}{{break}}{{end}}{{.}}{{end}}", "3"),
    ("{{join .Config.Env \",\"}}", "A=1,B=2"),
    ("{{upper .State.Status}} {{lower \"ABC\"}} {{title \"hello world\"}}", "RUNNING abc Hello World"),
    ("{{split \"a:b:c\" \":\"}}", "[a b c]"),
    ("{{pad .Config.Image 2 1}}|", "  busybox |"),
    ("{{truncate .Id 4}}", "0123"),
    ("{{println .Name}}x", "/web\nx"),
    ("{{print 1 2 \"a\" \"b\" 3}}", "1 2ab3"),
    ("{{printf \"%s=%d %5.2f %q %v %x\" \"k\" 42 3.14159 \"q\" .Sizes 255}}", 'k=42  3.14 "q" [3 1 2] ff'),
    ("{{if eq .State.Status \"running\"}}up{{else}}down{{end}}", "up"),
    ("{{if ne .State.Status \"running\"}}down{{else if .State.Running}}yes{{else}}no{{end}}", "yes"),
    ("{{if and .State.Running (not .State.Health)}}ok{{end}}", "ok"),
    ("{{or .State.Health \"none\"}}", "none"),
    ("{{with .State}}{{.Status}}{{end}}", "running"),
    ("{{with .State.Health}}h{{else}}no health{{end}}", "no health"),
    ("{{$n := .Name}}{{$n}}{{$n = \"x\"}}{{$n}}", "/webx"),
    ("{{len .Config.Env}} {{len .Name}} {{len .Config.Labels}}", "2 4 2"),
    ("{{slice .Id 2 4}}", "23"),
    ("{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge \"b\" \"a\"}}", "true true false true"),
    ("{{eq .State.ExitCode 1 0}}", "true"),
    ("{{.Ratio}} {{.State}}", "0.5 {running true 0 <nil>}"),  # a struct: values in field order
    ("{{.Config.Labels}} {{.Mounts}}", "map[app:web tier:front] [{/a /b}]"),
    ("a {{- \" b \" -}} c", "a b c"),
    ("{{/* a comment */}}x", "x"),
    ("{{- /* trimmed */ -}}  y", "y"),
    ("{{\"a\\tb\"}}|{{`raw\\t`}}", "a\tb|raw\\t"),
    ("{{.Id | printf \"%.3s\"}}", "012"),
    ("{{.Config.Labels.app}}", "web"),
    ("{{html \"<a&b>\"}} {{js \"it's\"}} {{urlquery \"a b&c\"}}", "&lt;a&amp;b&gt; it\\'s a+b%26c"),
    ("{{range 3}}{{.}}{{end}}", "012"),
])
def test_render(text: str, expected: str) -> None:
    assert render(text) == expected


class Context:
    """Context objects play Go structs with methods, as docker's formatter contexts do."""

    def ID(self) -> str:
        return "abc"

    def Label(self, name: str) -> str:
        return {"k": "v"}.get(name, "")

    def marshal(self) -> dict[str, str]:
        return {"ID": "abc"}


def test_methods_and_arguments() -> None:
    assert render('{{.ID}} {{.Label "k"}}|{{.Label "nope"}}', Context()) == "abc v|"
    assert render("{{json .}}", Context()) == '{"ID":"abc"}'


@pytest.mark.parametrize(("text", "message"), [
    ("{{.Nope}}", 'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"'),
    ("{{.State.Health.Status}}", "nil pointer evaluating interface {}.Status"),
    ("{{.Id", "template: :1: unclosed action"),
    ("{{foo}}", 'template: :1: function "foo" not defined'),
    ("{{if .Id}}x", "unexpected EOF"),
    ("{{end}}", "unexpected {{end}}"),
    ("{{$x}}", "undefined variable: $x"),
    ("{{.Label\"x\"}}", "bad character U+0022"),
    ("{{index .Config.Cmd 9}}", "index out of range"),
    ("{{.Id 1}}", "can't give argument to non-function"),
])
def test_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as err:
        render(text)
    assert message in str(err.value)


def test_method_errors_name_the_go_type() -> None:
    class Ctx:
        go_type = "*formatter.ContainerContext"
    with pytest.raises(TemplateError, match=r"can't evaluate field Nope in type \*formatter.ContainerContext"):
        render("{{.Nope}}", Ctx())


def test_table_header_functions_keep_titles() -> None:
    from dockyard.cli.format import HeaderContext
    tmpl = parse("{{upper .Name}}\t{{json .ID}}\t{{truncate .Status 2}}").with_funcs(HEADER_FUNCS)
    assert tmpl.execute(HeaderContext({"Name": "NAME", "ID": "CONTAINER ID", "Status": "STATUS"})) == \
        "NAME\tCONTAINER ID\tSTATUS"


@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1"), (0.5, "0.5"), (1e6, "1e+06"), (123456.0, "123456"), (1234567.0, "1.234567e+06"),
    (0.0001, "0.0001"), (0.00001, "1e-05"), (-2.25, "-2.25"), (1e21, "1e+21"), (0.0, "0"),
])
def test_floats_print_as_go(value: float, text: str) -> None:
    assert go_float(value) == text


def test_go_printing() -> None:
    assert go_str([1, "a", None, True, {"b": 1}]) == "[1 a <nil> true map[b:1]]"
    assert go_quote('a"b\n\x01é') == '"a\\"b\\n\\x01é"'

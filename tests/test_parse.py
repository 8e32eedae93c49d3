"""The Nix parser, checked against ``nix-instantiate --parse`` (Nix 2.8).

``tests/nixshow.py`` prints our AST the way ``nix-instantiate --parse``
prints its own, so each valid snippet is compared with the reference parser.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nixdf import syntax as s
from nixdf.errors import NixSyntaxError
from nixdf.parse import parse
from nixdf.tables import compile_tables

from .nixshow import HOME, canonical, merge_literals, to_nix_parse_format

DATA = Path(__file__).parent / "data" / "parse"
NIX = shutil.which("nix-instantiate")


def nix_parse(source: str, cwd: Path) -> str:
    """What nix-instantiate --parse prints for ``source`` (free variables allowed)."""
    assert NIX is not None
    wrapped = f"with {{}}; (\n{source}\n)"
    result = subprocess.run(
        [NIX, "--parse", "-E", wrapped], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, "HOME": HOME}, timeout=60,
    )
    assert result.returncode == 0, f"nix rejects {source!r}: {result.stderr}"
    out = result.stdout.strip()
    assert out.startswith("(with { }; ") and out.endswith(")"), out
    return out[len("(with { }; "):-1]


def assert_same_as_nix(source: str, tmp_path: Path) -> None:
    ours = to_nix_parse_format(parse(source), str(tmp_path))
    if NIX is None:
        pytest.skip("nix-instantiate is not installed")
    theirs = nix_parse(source, tmp_path)
    if "''" in source:
        ours, theirs = merge_literals(ours), merge_literals(theirs)
    if ours != theirs:
        assert canonical(ours, str(tmp_path)) == canonical(theirs, str(tmp_path)), (
            f"\nsource: {source}\nours:   {ours}\nnix:    {theirs}"
        )


# --------------------------------------------------------------------------
# Valid Nix, compared with the reference parser
# --------------------------------------------------------------------------

VALID = [
    # literals
    "1", "0", "007", "9223372036854775807", "1.5", ".5", "0.25", "1.", "1.5e3", "2.5E-3",
    "1e3", "1.0e-5", "123456.0", "1234567.0",
    '"hello"', '""', '"a\\nb\\tc\\rd"', '"quote \\" backslash \\\\ dollar \\$"',
    '"\\${not interpolated}"', '"a\\qb"', '"$${x}"', '"a$"', '"$"', '"$$"', '"a$b"',
    '"a${x}b"', '"${x}"', '"${x}${y}"', '"${ { a = 1; }.a }"', '"outer ${"inner ${x}"}"',
    '"multi\nline"', '"tab\there"', '"unicode é ü"',
    # indented strings
    "''''", "''abc''", "''\n  a\n  b\n''", "''\n  a\n    b\n  ''", "''  first\n  second''",
    "''\n\ta\n''", "''\n  ''${x}\n''", "''a'''b''", "''a''\\nb''", "''a''\\tb''",
    "''a''\\\\b''", "''a $ b ' c''", "''${x}''", "''\n  ${x}\n  y\n''", "''\n\n  a\n\n''",
    "''\n  a\n ''", "''a${x}b''", "'' ''$ ''", "''\n    deep\n  shallow\n''",
    "''\n  x ${''\n    inner\n  ''} y\n''", "''$${x}''",
    # paths
    "./a", "./a/b.nix", "../a", "a/b", "/a/b", "~/a", "~/a/../b", "./a/../b",
    "./a.b/c+d_e-f", "1/2", "a.1", "./a${x}", "./a/${x}", "./a/${x}/b", "./${x}", "/${x}",
    "~/${x}", "a/${x}.nix", "<nixpkgs>", "<nixpkgs/lib>", "<a.b/c-d>",
    # URIs
    "https://example.org/a?b=c&d=e", "x:x", "http://x.org/", "git+ssh://git@host:repo",
    # identifiers
    "x", "foo-bar", "x'", "_", "__sub", "a-b-c'd", "true", "null",
    # attribute sets
    "{ }", "{}", "rec { }", "{ a = 1; }", "rec { a = 1; b = a; }", "{ a.b.c = 1; }",
    "{ a.b = 1; a.c = 2; }", "{ a = { b = 1; }; a.c = 2; }", "{ a.c = 2; a = { b = 1; }; }",
    '{ "a b" = 1; }', '{ "" = 1; }', '{ ${x} = 1; }', '{ "a${x}" = 1; }', '{ ${"a"} = 1; }',
    '{ a.${x}.b = 1; }', "{ inherit a b; }", "{ inherit (x) a b; }", '{ inherit (x) "a"; }',
    '{ inherit "a b"; }', "{ inherit; }", "{ or = 1; }", "{ a.or = 1; }", '{ "if" = 1; }',
    "{ a = rec { b = 1; }; a.c = 2; }", "{ zz = 1; a = 2; B = 3; _ = 4; }",
    # let, with, assert, if
    "let a = 1; in a", "let in 1", "let inherit a; inherit (b) c; in c", "let a.b = 1; in a",
    "let { a = 1; body = a; }", "let { }", "with a; b", "with a; with b; c", "assert a; b",
    "assert a; assert b; c", "if a then b else c", "if a then if b then c else d else e",
    "if a then b else x: x",
    # lists
    "[ ]", "[ 1 2 3 ]", "[ (f x) y.z ]", "[ a or b ]", "[ [ 1 ] [ ] ]", "[ f x ]",
    # select, or, has-attr
    "a.b", "a.b.c", "a.b or c", "a.b.c or d.e or f", "a.${x}.c or 1", '"a".b', "a.\"b c\"",
    "a.or", "f or", "f or x", "(x: x) or", "{ a = 1; }.a or 2", "a ? b", "a ? b.c",
    'a ? "b c"', "a ? ${b}", "(a.b).c", "a.b ? c", "f a.b c", "a . b",
    # functions
    "x: x", "x: y: x y", "{ a, b }: a", "{ a, b, }: a", "{ a ? 1, b ? a }: b", "{ ... }: 1",
    "{ a, ... }: a", "{ }: 1", "{}: 1", "args@{ a, ... }: a", "{ a, ... }@args: a",
    "args @ { }: 1", "{ a ? { b = 1; } }: a", "a: b: c: a b c", "f (x: x) 1",
    # operators and precedence
    "a + b", "a - b", "a * b", "a / b", "a ++ b", "a // b", "a == b", "a != b", "a < b",
    "a <= b", "a > b", "a >= b", "a && b", "a || b", "a -> b", "!a", "-a", "- 1", "--a",
    "!!a", "a - b - c", "a ++ b ++ c", "a // b // c", "a -> b -> c", "a + b * c",
    "(a + b) * c", "a * b / c", "a && b || c", "a || b && c", "!a == b", "!a && b",
    "-a ? b", "!a ? b", "a ++ b ? c", "- a ++ b", "-a.b", "-f x", "a + b ++ c * d",
    "a < b == c > d", "!a // b", "a // b == c", "a -> b || c && d == e", "f x y z",
    "f (g x) y", "a - -b", "a+b", "a-b", "a*-b", "a//b", "a/ b", "a + !b", "a * !b + c",
    "- !a", "a ++ !b", "a == !b",
    # comments and layout
    "# comment\n1", "/* block */ 1", "1 /* trailing */", "/* multi\nline */ a",
    "# syntax=nixdf/v1\n{ a = 1; }", "a /**/ b", "{\n  a = 1;\n\n  b = 2;\r\n}",
]


@pytest.mark.parametrize("source", VALID)
def test_valid_snippet_matches_nix(source: str, tmp_path: Path) -> None:
    assert_same_as_nix(source, tmp_path)


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.nix")))
def test_data_file_matches_nix(name: str, tmp_path: Path) -> None:
    source = (DATA / name).read_text()
    expr = parse(source, name)
    ours = to_nix_parse_format(expr, str(DATA))
    if NIX is None:
        pytest.skip("nix-instantiate is not installed")
    result = subprocess.run(
        [NIX, "--parse", str(DATA / name)], capture_output=True, text=True,
        env={**os.environ, "HOME": HOME}, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    theirs = result.stdout.strip()
    ours, theirs = merge_literals(ours), merge_literals(theirs)
    assert canonical(ours, str(DATA)) == canonical(theirs, str(DATA))


# --------------------------------------------------------------------------
# The AST itself, without the reference parser
# --------------------------------------------------------------------------


def test_string_parts_merge_and_empty_string_has_no_parts() -> None:
    assert parse('""') == s.Str((), parse('""').span)
    plain = parse('"a\\nb"')
    assert isinstance(plain, s.Str) and plain.parts == ("a\nb",)
    mixed = parse('"a${x}b"')
    assert isinstance(mixed, s.Str)
    assert mixed.parts[0] == "a" and isinstance(mixed.parts[1], s.Ident) and mixed.parts[2] == "b"
    assert parse("''a'''b''$c''").parts == ("a''b$c",)  # type: ignore[union-attr]


def test_dollar_escapes() -> None:
    assert parse('"$${x}"').parts == ("$${x}",)  # type: ignore[union-attr]
    assert parse('"\\${x}"').parts == ("${x}",)  # type: ignore[union-attr]
    assert parse("''''${x}''").parts == ("${x}",)  # type: ignore[union-attr]


def test_indentation_is_stripped_like_nix() -> None:
    text = parse("''\n    a\n      b\n\n    c\n  ''")
    assert isinstance(text, s.Str) and text.indented
    assert text.parts == ("a\n  b\n\nc\n",)
    interp = parse("''\n  ${x}\n    y\n''")
    assert isinstance(interp, s.Str)
    assert isinstance(interp.parts[0], s.Ident) and interp.parts[1] == "\n  y\n"


def test_spans_are_one_based_and_end_exclusive() -> None:
    expr = parse("let\n  a = 1;\nin a.b", "f.nix")
    assert isinstance(expr, s.Let)
    assert (expr.span.line, expr.span.column, expr.span.end_line, expr.span.end_column) == (
        1, 1, 3, 7)
    binding = expr.bindings[0]
    assert isinstance(binding, s.Binding)
    assert (binding.span.line, binding.span.column, binding.span.end_column) == (2, 3, 9)
    assert binding.path[0].span.column == 3 and binding.value.span.column == 7
    body = expr.body
    assert isinstance(body, s.Select) and body.span.column == 4 and body.span.file == "f.nix"


def test_spans_after_comments_and_tokens_that_span_lines() -> None:
    # Comments, a string over two lines, a path inside a run of selections and an
    # interpolation each move the lexer's line and column its own way.
    expr = parse('/* one\n two */ a # three\n  + "x\ny" + b.c/d + "${e}" + f')
    found = []
    while isinstance(expr, s.BinOp):
        found.append(expr.right)
        expr = expr.left
    found.append(expr)
    spans = [(type(e).__name__, e.span.line, e.span.column, e.span.end_line,  # type: ignore[union-attr]
              e.span.end_column) for e in reversed(found)]  # type: ignore[union-attr]
    assert spans == [("Ident", 2, 9, 2, 10), ("Str", 3, 5, 4, 3), ("Path", 4, 6, 4, 11),
                     ("Str", 4, 14, 4, 20), ("Ident", 4, 23, 4, 24)]
    interpolated = found[1]
    assert isinstance(interpolated, s.Str) and interpolated.parts[0].span.column == 17  # type: ignore[union-attr]


def test_legacy_let_selects_body_of_a_recursive_set() -> None:
    expr = parse("let { a = 1; body = a; }")
    assert isinstance(expr, s.Select) and isinstance(expr.expr, s.AttrSet)
    assert expr.expr.recursive and [k.name for k in expr.path] == ["body"]  # type: ignore[union-attr]


def test_keys_static_and_dynamic() -> None:
    expr = parse('{ a.b = 1; "c d" = 2; ${x} = 3; "e${y}" = 4; ${"f"} = 5; }')
    assert isinstance(expr, s.AttrSet)
    kinds = [[type(k).__name__ for k in b.path] for b in expr.bindings]  # type: ignore[union-attr]
    assert kinds == [["StaticKey", "StaticKey"], ["StaticKey"], ["DynamicKey"], ["DynamicKey"],
                     ["StaticKey"]]


def test_lambda_shapes() -> None:
    plain = parse("x: x")
    assert isinstance(plain, s.Lambda) and plain.param == "x" and plain.formals is None
    full = parse("args@{ a, b ? 1, ... }: a")
    assert isinstance(full, s.Lambda) and full.param == "args" and full.formals is not None
    assert [f.name for f in full.formals.items] == ["a", "b"] and full.formals.ellipsis
    assert isinstance(full.formals.items[1].default, s.Int)
    after = parse("{ a }@args: a")
    assert isinstance(after, s.Lambda) and after.param == "args"


def test_operators_precedence_and_associativity() -> None:
    expr = parse("a -> b -> c || d && e == f")
    assert isinstance(expr, s.BinOp) and expr.op == "->"
    assert isinstance(expr.right, s.BinOp) and expr.right.op == "->"
    concat = parse("a ++ b ++ c")
    assert isinstance(concat, s.BinOp) and isinstance(concat.right, s.BinOp)
    minus = parse("a - b - c")
    assert isinstance(minus, s.BinOp) and isinstance(minus.left, s.BinOp)
    neg = parse("-a ? b")
    assert isinstance(neg, s.HasAttr) and isinstance(neg.expr, s.UnaryOp)
    bang = parse("!a ? b")
    assert isinstance(bang, s.UnaryOp) and isinstance(bang.operand, s.HasAttr)


def test_pipe_operators() -> None:
    into = parse("a |> f |> g")
    assert isinstance(into, s.BinOp) and into.op == "|>" and isinstance(into.left, s.BinOp)
    from_ = parse("g <| f <| a")
    assert isinstance(from_, s.BinOp) and from_.op == "<|" and isinstance(from_.right, s.BinOp)
    low = parse("a + 1 |> f")
    assert isinstance(low, s.BinOp) and low.op == "|>"
    with pytest.raises(NixSyntaxError):
        parse("a |> f <| b")


def test_or_as_identifier_and_default() -> None:
    expr = parse("f or")
    assert isinstance(expr, s.Apply) and expr.arg == s.Ident("or", expr.arg.span)
    sel = parse("a.or")
    assert isinstance(sel, s.Select) and sel.path[0].name == "or"  # type: ignore[union-attr]


def test_paths_keep_their_text() -> None:
    path = parse("./a/${x}/b")
    assert isinstance(path, s.Path) and path.parts[0] == "./a/" and path.parts[2] == "/b"
    assert parse("~/a") == s.Path(("~/a",), parse("~/a").span)
    assert parse("<nixpkgs/lib>") == s.SearchPath("nixpkgs/lib", parse("<nixpkgs/lib>").span)
    assert isinstance(parse("x:x"), s.Uri)


def test_grammar_is_conflict_free_lalr() -> None:
    # compile_tables asks lark for strict mode: any shift/reduce conflict is a GrammarError.
    assert compile_tables().actions


# --------------------------------------------------------------------------
# Invalid Nix: a NixSyntaxError, where it belongs, and nothing else
# --------------------------------------------------------------------------

# (source, line, column, words the message contains); None: any position
INVALID: list[tuple[str, int | None, int | None, str]] = [
    ("", 1, 1, "end of file"),
    ("{ a = 1 }", 1, 9, "expected ';' after the value of the attribute"),
    ("{ a = 1; b = 2 }", 1, 16, "expected ';' after the value"),
    ("{\n  a = 1\n}", 3, 1, "expected ';'"),
    ("with a b", None, None, "end of file"),
    ("with a }", 1, 8, "expected ';' after the expression of 'with'"),
    ("assert a }", 1, 10, "expected ';' after the condition of 'assert'"),
    ("{ inherit a }", 1, 13, "expected ';' at the end of 'inherit'"),
    ("}", 1, 1, "unexpected '}'"),
    ("{ a = 1; }}", 1, 11, "unexpected '}'"),
    ('"abc', 1, 1, "unterminated string"),
    ('x: "abc\n\ndef', 1, 4, "unterminated string"),
    ("''abc", 1, 1, "unterminated indented string"),
    ('"${x"', 1, 5, "unterminated string"),
    ("1 +", 1, 4, "end of file"),
    ("1 + }", 1, 5, "expected an expression"),
    ("{ a = ; }", 1, 7, "expected an expression"),
    ("let a = 1; in", 1, 14, "end of file"),
    ("if a then b", 1, 12, "end of file"),
    ("if a b", 1, 7, "end of file"),
    ("if a then b c else", 1, 19, "end of file"),
    ("(a", 1, 3, "end of file"),
    ("[ 1 2", 1, 6, "end of file"),
    ("{ a = 1;", 1, 9, "end of file"),
    ("a ? b or c", 1, 7, "unexpected 'or'"),
    ("a == b == c", 1, 8, "unexpected '=='"),
    ("a < b < c", 1, 7, "unexpected '<'"),
    ("a.b or", 1, 7, "end of file"),
    ("or", 1, 1, "unexpected 'or'"),
    ("let = 1; in a", 1, 5, "unexpected '='"),
    ("let f : 1; in f", 1, 7, "expected '=' after the attribute name"),
    ("{ a, a }: a", 1, 6, "duplicate formal function argument 'a'"),
    ("a@{ a }: a", 1, 1, "duplicate formal function argument 'a'"),
    ("{ a = 1; a = 2; }", 1, 10, "attribute 'a' already defined"),
    ("{ a = 1; a.b = 2; }", 1, 10, "attribute 'a' already defined"),
    ("{ a.b = 1; a.b = 2; }", 1, 14, "attribute 'a.b' already defined"),
    ("{ inherit a; a = 1; }", 1, 14, "already defined"),
    ("{ a = { b = 1; }; a = { b = 2; }; }", 1, 19, "attribute 'b' already defined"),
    ("let ${x} = 1; in 1", 1, 5, "dynamic attributes not allowed in let"),
    ("{ inherit ${x}; }", 1, 11, "dynamic attributes not allowed in inherit"),
    ("./a/", 1, 4, "path has a trailing slash"),
    ("./a/${x}/", 1, 9, "path has a trailing slash"),
    ("./a//b", None, None, "expected"),
    ("100000000000000000000", 1, 1, "invalid integer"),
    ("1 % 2", 1, 3, "unexpected character '%'"),
    ("a & b", 1, 3, "unexpected character '&'"),
    ("`", 1, 1, "unexpected character"),
    ("~", 1, 1, "unexpected character"),
    ("/* never closed", 1, 1, "unterminated comment"),
    ("{ a, ..., b }: a", 1, 9, "expected '}'"),
    ("{ ..., }: 1", 1, 6, "expected '}'"),
    ("/", 1, 1, "unexpected '/'"),
    ("x: ", 1, 4, "end of file"),
    ("a.", 1, 3, "end of file"),
    ("{ a.if = 1; }", 1, 5, "unexpected 'if'"),
    ("let a = 1; a", 1, 13, "end of file"),
    ("[ x: x ]", 1, 4, "unexpected ':'"),
    ("a + if b then c else d", 1, 5, "expected an expression"),
]


@pytest.mark.parametrize(("source", "line", "column", "words"), INVALID)
def test_invalid_snippet_raises_syntax_error(
    source: str, line: int | None, column: int | None, words: str
) -> None:
    with pytest.raises(NixSyntaxError) as info:
        parse(source, "bad.nix")
    err = info.value
    assert words in err.message, err.message
    assert err.span is not None and err.span.file == "bad.nix"
    if line is not None:
        assert (err.span.line, err.span.column) == (line, column), str(err)
    assert "internal" not in err.message


@pytest.mark.parametrize(("source", "line", "column", "words"), INVALID)
def test_invalid_snippet_is_invalid_for_nix_too(
    source: str, line: int | None, column: int | None, words: str, tmp_path: Path
) -> None:
    if NIX is None:
        pytest.skip("nix-instantiate is not installed")
    if "|>" in source or "<|" in source:
        pytest.skip("Nix 2.8 has no pipe operators")
    result = subprocess.run([NIX, "--parse", "-E", source], cwd=tmp_path, capture_output=True,
                            text=True, env={**os.environ, "HOME": HOME}, timeout=60)
    assert result.returncode != 0
    assert "undefined variable" not in result.stderr or "dynamic" in words, result.stderr


def test_unterminated_string_points_where_it_started() -> None:
    with pytest.raises(NixSyntaxError) as info:
        parse('{\n  a = "open;\n}\n')
    assert (info.value.line, info.value.column) == (2, 7)
    assert info.value.hint == 'close it with "'


def test_unclosed_brace_hint() -> None:
    with pytest.raises(NixSyntaxError) as info:
        parse("{\n  a = {\n    b = 1;\n  };\n")
    assert info.value.message == "unexpected end of file"
    assert info.value.hint is not None and "line 1, column 1" in info.value.hint


def test_absurd_nesting_is_a_syntax_error() -> None:
    for source in ("(" * 20_000 + "1" + ")" * 20_000, "[" * 20_000 + "]" * 20_000,
                   "-" * 20_000 + "1", "x: " * 20_000 + "x", "a." * 20_000 + "a"):
        try:
            parse(source)
        except NixSyntaxError:
            pass


# --------------------------------------------------------------------------
# Whatever the input: success or NixSyntaxError
# --------------------------------------------------------------------------

_CORPUS = [p.read_text() for p in sorted(DATA.glob("*.nix"))] + VALID
_ALPHABET = st.sampled_from(list("{}[]()\"'$\\;:.,=?@!<>|&+-*/#~ \n\taxyz019_") +
                            ["''", "${", "let", "in", "or", "rec", "if", "then", "else", "//"])


def _mutate(data: st.DataObject) -> str:
    text = data.draw(st.sampled_from(_CORPUS))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["insert", "delete", "swap"]))
        if action == "insert":
            text = text[:at] + data.draw(_ALPHABET) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 5)):]
        else:
            other = data.draw(st.integers(0, len(text)))
            lo, hi = sorted((at, other))
            text = text[:lo] + text[hi:] + text[lo:hi]
    return text


def _check_total(source: str) -> None:
    try:
        parse(source)
    except NixSyntaxError as err:
        assert err.span is not None and err.span.line >= 1 and err.span.column >= 1
        assert "internal" not in err.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_nix_parses_or_raises_syntax_error(data: st.DataObject) -> None:
    _check_total(_mutate(data))


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_random_token_soup_parses_or_raises_syntax_error(source: str) -> None:
    _check_total(source)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_random_text_parses_or_raises_syntax_error(source: str) -> None:
    _check_total(source)

"""nixdf.syntax: the Nix syntax tree's nodes, compared and shown field by field."""

from __future__ import annotations

import typing

import pytest

from nixdf import syntax as s
from nixdf.errors import Span
from nixdf.parse import parse

HERE = Span("Nixfile", 1, 1, 1, 2)
THERE = Span("Nixfile", 2, 1, 2, 2)
NODES = typing.get_args(s.Expr)


def test_nodes_are_equal_by_type_and_every_field_span_included() -> None:
    assert s.Int(1, HERE) == s.Int(1, HERE)
    assert s.Int(1, HERE) != s.Int(2, HERE)
    assert s.Int(1, HERE) != s.Int(1, THERE)
    assert s.Int(1, HERE) != s.Float(1.0, HERE)  # the same number, another node
    assert s.Apply(s.Ident("f", HERE), s.Int(1, HERE), HERE) == \
        s.Apply(s.Ident("f", HERE), s.Int(1, HERE), HERE)


def test_a_node_shows_its_fields_nested() -> None:
    shown = repr(s.Apply(s.Ident("f", HERE), s.Int(1, HERE), HERE))
    assert shown.startswith("Apply(func=Ident(name='f', span=")
    assert "arg=Int(value=1, span=" in shown


@pytest.mark.parametrize("node", NODES, ids=lambda node: node.__name__)
def test_every_expression_node_is_slotted_and_has_a_span(node: type) -> None:
    # Slots: the parser builds one node for nearly every token (syntax.py's docstring).
    assert "__dict__" not in dir(node)
    assert "span" in node.__dataclass_fields__  # type: ignore[attr-defined]


def test_parsed_nodes_compare_equal_to_nodes_built_by_hand() -> None:
    tree = parse("f 1", "Nixfile")
    assert isinstance(tree, s.Apply)
    assert tree == s.Apply(s.Ident("f", tree.func.span), s.Int(1, tree.arg.span), tree.span)
    assert (tree.span.line, tree.span.column, tree.arg.span.column) == (1, 1, 3)

"""The LALR(1) tables of ``grammar/nix.lark``, made by lark and kept on disk.

lark turns the grammar into parse tables; :mod:`nixdf.parse` drives them with
its own loop, which builds syntax nodes directly instead of lark trees. That
loop, not lark's, is what makes parsing fast, and keeping the tables in a
cache file is what makes a cold start fast: importing lark and analysing the
grammar costs more than everything else ``nixdf render`` does. The cache is
keyed by the grammar's text, so editing the grammar can never leave a stale
table in use, and any failure to read or write it only costs the analysis.
"""

# No `from __future__ import annotations`: a named tuple would compile each of
# its fields' annotations from a string on every start.
import hashlib
import marshal
import os
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .cachedir import cache_dir

if TYPE_CHECKING:  # lark is imported only when the tables are made
    from collections.abc import Iterator

    from lark.grammar import Rule as LarkRule
    from lark.lexer import LexerState, Token

__all__ = ["Rule", "Tables", "compile_tables", "load"]

# Bump when the layout of what :func:`_to_data` returns changes.
_FORMAT = 2


# Named tuples rather than dataclasses: every start makes these two classes and
# reads the tables back, and a dataclass costs several times more to make.
class Rule(NamedTuple):
    """One grammar rule, as the parser reduces it.

    ``keep`` lists the positions of the children the syntax tree needs
    (punctuation and keywords, the terminals named ``_X``, are dropped);
    ``splice`` the ones among them that are lark's helper rules for ``x*`` and
    ``x+``, whose own children take their place. ``name`` is the rule's alias,
    or its own name. A rule marked with ``?`` in the grammar (``expand1``)
    stands for its only kept child when it has just one. ``leaf``: the rule
    is a single terminal.
    """

    origin: str
    size: int
    keep: tuple[int, ...]
    splice: tuple[int, ...]
    name: str
    expand1: bool
    leaf: bool


class Tables(NamedTuple):
    """``actions[state][symbol]``: a state to shift or go to, or ``~rule`` to reduce by."""

    actions: tuple[dict[str, int], ...]
    rules: tuple[Rule, ...]
    start: int
    end: int


def _grammar_text() -> str:
    # pkgutil rather than importlib.resources, which costs a cold start more to
    # import than reading the tables back does.
    data = pkgutil.get_data("nixdf.grammar", "nix.lark")
    if data is None:  # no such package, or a loader that cannot read files
        raise RuntimeError("cannot read nix.lark from the nixdf.grammar package")
    return data.decode("utf-8")


def compile_tables(grammar: str | None = None) -> Tables:
    """Analyse the grammar with lark; ``strict`` makes any LALR conflict an error."""
    from lark import Lark
    from lark.lexer import Lexer
    from lark.parsers.lalr_analysis import Shift

    class _NoLexer(Lexer):
        """lark wants a lexer class; the terminals are %declare'd and nixdf.lexer makes them."""

        def __init__(self, lexer_conf: object) -> None:
            pass

        def lex(self, lexer_state: "LexerState", parser_state: Any) -> "Iterator[Token]":
            raise RuntimeError("these tables are driven by nixdf.parse, not by lark")

    lark = Lark(grammar if grammar is not None else _grammar_text(), parser="lalr",
                lexer=_NoLexer, maybe_placeholders=False, strict=True)
    table = lark.parser.parser.parser.parse_table
    rules: list[Rule] = []
    index: dict[object, int] = {}
    actions: list[dict[str, int]] = []
    for state in range(len(table.states)):
        row: dict[str, int] = {}
        for symbol, (action, arg) in table.states[state].items():
            if action is Shift:
                row[symbol] = arg
                continue
            if arg not in index:
                index[arg] = len(rules)
                rules.append(_rule(arg))
            row[symbol] = ~index[arg]
        actions.append(row)
    return Tables(tuple(actions), tuple(rules), table.start_states["start"],
                  table.end_states["start"])


def _rule(rule: "LarkRule") -> Rule:
    expansion = rule.expansion
    keep = tuple(i for i, sym in enumerate(expansion) if not sym.name.startswith("_")
                 or (not sym.is_term and sym.name.startswith("__")))
    splice = tuple(i for i in keep if expansion[i].name.startswith("__"))
    origin = rule.origin.name
    name = rule.alias or origin
    return Rule(str(origin), len(expansion), keep, splice, str(name),
                bool(rule.options.expand1) and not rule.alias,
                len(expansion) == 1 and expansion[0].is_term)


# What the cache file holds (marshal writes only built-in types): the format, then Tables.
_Data = tuple[int, tuple[dict[str, int], ...], tuple[tuple[Any, ...], ...], int, int]


def _to_data(tables: Tables) -> _Data:
    rules = tuple(tuple(r) for r in tables.rules)
    return (_FORMAT, tables.actions, rules, tables.start, tables.end)


def _from_data(data: _Data) -> Tables:
    version, actions, rules, start, end = data
    if version != _FORMAT:
        raise ValueError(f"table format {version}")
    return Tables(actions, tuple(Rule(*r) for r in rules), start, end)


def load(grammar: str | None = None) -> Tables:
    """The tables, from the cache when it holds this grammar's, else made and cached."""
    grammar = grammar if grammar is not None else _grammar_text()
    directory = cache_dir()
    if directory is None:
        return compile_tables(grammar)
    key = hashlib.sha256(f"{_FORMAT}\0{grammar}".encode()).hexdigest()[:32]
    path = directory / f"nix-lalr-{key}.marshal"
    try:
        return _from_data(marshal.loads(path.read_bytes()))
    except (OSError, ValueError, EOFError, TypeError):
        pass
    tables = compile_tables(grammar)
    _store(path, marshal.dumps(_to_data(tables)))
    return tables


def _store(path: Path, data: bytes) -> None:
    """Write the cache file whole or not at all; a read-only home only costs time."""
    import tempfile  # only to write the cache, which a warm start never does

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".nix-lalr-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError:
        os.unlink(tmp)

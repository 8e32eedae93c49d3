"""Bases for nixdf's plain-data dataclasses: repr, equality and hash, written once.

``@dataclass`` compiles every method it generates, for every class, on every
start, and ``nixdf render`` imports some forty such classes: their generated
``__repr__``, ``__eq__`` and ``__hash__``, and a frozen class's ``__setattr__``
and ``__delattr__``, were an eighth of the instructions of a cold render
(measured under cachegrind). So these classes say
``@dataclass(slots=True, repr=False, eq=False)`` and inherit the methods below,
which behave as the generated ones do. They are not ``frozen`` either, for the
same cost: nothing changes them once built (:func:`dataclasses.replace` makes a
changed copy). :mod:`nixdf.syntax`'s nodes made the same choice.
"""

from __future__ import annotations

from dataclasses import fields
from reprlib import recursive_repr

__all__ = ["Record", "ValueRecord"]


class Record:
    """A repr field by field; equal only to itself, as with ``@dataclass(eq=False)``."""

    __slots__ = ()

    @recursive_repr()
    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}"
                          for f in fields(self) if f.repr)  # type: ignore[arg-type]
        return f"{type(self).__qualname__}({shown})"


class ValueRecord(Record):
    """Equal to an instance of its own class with equal fields, and hashable by them, as a
    frozen dataclass is."""

    __slots__ = ()

    def _compared(self) -> tuple[object, ...]:
        return tuple(getattr(self, f.name)
                     for f in fields(self) if f.compare)  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

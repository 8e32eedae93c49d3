"""nixdf.record's methods behave as the ones @dataclass would generate."""

from __future__ import annotations

from dataclasses import dataclass, field

from nixdf.record import Record, ValueRecord


@dataclass(frozen=True, slots=True)
class Generated:
    name: str
    sizes: tuple[int, ...] = ()
    note: str = field(default="", repr=False, compare=False)


@dataclass(slots=True, repr=False, eq=False)
class Inherited(ValueRecord):
    name: str
    sizes: tuple[int, ...] = ()
    note: str = field(default="", repr=False, compare=False)


@dataclass(slots=True, repr=False, eq=False)
class Node(Record):
    name: str
    children: list[Node] = field(default_factory=list)


def test_repr_is_the_generated_one() -> None:
    generated, inherited = Generated("a", (1, 2), "x"), Inherited("a", (1, 2), "x")
    assert repr(inherited) == repr(generated).replace("Generated", "Inherited")


def test_equality_and_hash_are_by_compared_fields() -> None:
    nan = float("nan")
    assert Inherited("a", (1,), "x") == Inherited("a", (1,), "y")
    assert Inherited("a", (1,)) != Inherited("a", (2,))
    assert hash(Inherited("a", (1,), "x")) == hash(Generated("a", (1,), "y"))
    # Fields compare as a tuple does, identity first, as the generated __eq__'s tuples do.
    assert Inherited(nan) == Inherited(nan)  # type: ignore[arg-type]
    assert Generated(nan) == Generated(nan)  # type: ignore[arg-type]


def test_another_class_is_never_equal() -> None:
    @dataclass(slots=True, repr=False, eq=False)
    class Other(ValueRecord):
        name: str
        sizes: tuple[int, ...] = ()
        note: str = ""

    assert Inherited("a") != Other("a")
    assert Inherited("a") != ("a", ())
    assert Inherited("a").__eq__("a") is NotImplemented


def test_a_record_is_equal_only_to_itself_and_shows_a_cycle_once() -> None:
    node = Node("root")
    node.children.append(node)
    assert node != Node("root", [node])
    assert node == node
    assert repr(node) == "Node(name='root', children=[...])"


def test_slots_stay_slots() -> None:
    assert not hasattr(Inherited("a"), "__dict__")
    assert not hasattr(Node("a"), "__dict__")

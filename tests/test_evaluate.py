"""Static evaluation: what nixdf computes itself, and what it leaves to Nix."""

from __future__ import annotations

import pytest

from nixdf.errors import NixdfError
from nixdf.evaluate import Opaque, find_images, to_python
from nixdf.parse import parse


def config_of(source: str) -> object:
    [image] = find_images(parse(source, "Nixfile"))
    thunk = image.call.args.items["config"]
    return to_python(thunk.force(), image.call.span)


@pytest.mark.parametrize(("source", "expected"), [
    ('buildImage { name = "x"; config.Cmd = [ "a" ]; }', {"Cmd": ["a"]}),
    ('let c = "b"; in buildImage { name = "x"; config.Cmd = [ c "${c}c" ]; }',
     {"Cmd": ["b", "bc"]}),
    ('rec { d = "/data"; img = buildImage { name = "x"; config.WorkingDir = d; }; }',
     {"WorkingDir": "/data"}),
    ('{ pkgs, buildImage }: with pkgs; buildImage { name = "x"; config = { a = 1; } // '
     '{ b = 2; }; }', {"a": 1, "b": 2}),
    ('let f = { p ? "/p", ... }: [ p ]; in buildImage { name = "x"; config.Cmd = f { q = 1; }; }',
     {"Cmd": ["/p"]}),
    ('let xs = [ "a" ]; in buildImage { name = "x"; config.Cmd = xs ++ [ "b" ]; }',
     {"Cmd": ["a", "b"]}),
    ('buildImage { name = "x"; config.Env = map (v: "K=${v}") [ "1" ]; }', {"Env": ["K=1"]}),
    ('buildImage { name = "x"; config.Cmd = [ (builtins.concatStringsSep "," [ "a" "b" ]) ]; }',
     {"Cmd": ["a,b"]}),
    ('let s = { inherit (t) v; }; t = { v = "w"; }; in buildImage { name = "x"; config.User = '
     's.v; }', {"User": "w"}),
    ('buildImage { name = "x"; config.User = if 1 < 2 then "a" else "b"; }', {"User": "a"}),
])
def test_static_values(source: str, expected: object) -> None:
    assert config_of(source) == expected


def test_images_are_found_in_source_order_and_others_ignored() -> None:
    source = ('{ pkgs, buildImage, ... }: { z = buildImage { name = "z"; }; '
              'tool = pkgs.hello; a = buildImage { name = "a"; }; }')
    assert [i.attr for i in find_images(parse(source, "Nixfile"))] == ["z", "a"]


@pytest.mark.parametrize("spelling", [
    "buildImage", "dockerTools.buildImage", "pkgs.dockerTools.buildImage",
    "(with pkgs; dockerTools.buildImage)", "(let b = pkgs.dockerTools.buildImage; in b)",
])
def test_every_spelling_of_build_image(spelling: str) -> None:
    [image] = find_images(parse(f'{spelling} {{ name = "x"; }}', "Nixfile"))
    assert image.attr is None and image.call.builder == "buildImage"


def test_package_expressions_are_left_to_nix() -> None:
    [image] = find_images(parse('{ pkgs, buildImage }: buildImage { name = "x"; '
                                'contents = with pkgs; [ hello (redis.override { }) ]; }',
                                "Nixfile"))
    items = image.call.args.items["contents"].force()
    assert all(isinstance(i.force(), Opaque) for i in items.items)  # type: ignore[union-attr]


# Duplicate attributes are the parser's to refuse, as in Nix; the rest are evaluation errors.
@pytest.mark.parametrize(("source", "message"), [
    ('buildImage { name = x; }', "undefined variable 'x'"),
    ('let a = a; in buildImage { name = a; }', "infinite recursion"),
    ('buildImage { name = "x"; name = "y"; }', "already defined"),
    ('{ a = buildImage { name = "x"; config = 1 + "s"; }; }', "needs numbers"),
])
def test_errors_are_located(source: str, message: str) -> None:
    with pytest.raises(NixdfError) as info:
        images = find_images(parse(source, "Nixfile"))
        for image in images:
            for thunk in image.call.args.items.values():
                to_python(thunk.force(), image.call.span)
    assert message in str(info.value)
    assert info.value.span is not None

"""Static evaluation: what nixdf computes itself, and what it leaves to Nix."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from nixdf.errors import NixdfError
from nixdf.evaluate import Opaque, PulledImage, find_images, to_python
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
    # `inherit x;` in a plain set looks in the enclosing scope: here the let.
    ('let u = "v"; s = { inherit u; }; in buildImage { name = "x"; config.User = s.u; }',
     {"User": "v"}),
    ('{ pkgs }: let u = "v"; in { s = { inherit u; }; i = buildImage { name = "x"; '
     'config.User = u; }; }', {"User": "v"}),
    # ...and in a rec set or a let, past the set's own binding of x.
    ('let u = "v"; in buildImage { name = "x"; config.User = (rec { inherit u; }).u; }',
     {"User": "v"}),
    ('let u = "v"; in let inherit u; in buildImage { name = "x"; config.User = u; }',
     {"User": "v"}),
])
def test_static_values(source: str, expected: object) -> None:
    assert config_of(source) == expected


def test_images_are_found_in_source_order_and_others_ignored() -> None:
    source = ('{ pkgs, buildImage, ... }: { z = buildImage { name = "z"; }; '
              'tool = pkgs.hello; a = buildImage { name = "a"; }; }')
    assert [i.attr for i in find_images(parse(source, "Nixfile"))] == ["z", "a"]


def test_bases_bound_in_a_let_are_found_by_their_path_through_from_image() -> None:
    # nixpkgs' examples.nix, layersOrder: l1 and l2 are no attribute of the set.
    source = ('{ pkgs, buildImage }: { top = let l1 = buildImage { name = "l1"; }; '
              'l2 = buildImage { name = "l2"; fromImage = l1; }; in '
              'buildImage { name = "l3"; fromImage = l2; }; '
              'other = buildImage { name = "o"; fromImage = "debian"; }; }')
    found = find_images(parse(source, "Nixfile"))
    names = {i.attr: i.call.args.items["name"].force() for i in found}
    assert names == {"top": "l3", "top.fromImage": "l2", "top.fromImage.fromImage": "l1",
                     "other": "o"}
    # A base that is an attribute too keeps its own name, and is found once.
    shared = ('rec { base = buildImage { name = "b"; }; '
              'a = buildImage { name = "a"; fromImage = base; }; }')
    assert [i.attr for i in find_images(parse(shared, "Nixfile"))] == ["base", "a"]
    single = 'buildImage { name = "a"; fromImage = buildImage { name = "b"; }; }'
    assert [i.attr for i in find_images(parse(single, "Nixfile"))] == [None, "fromImage"]


def test_attributes_added_to_an_image_leave_the_image() -> None:
    # examples.nix, layeredStoreSymlink: `buildLayeredImage { … } // { passthru = …; }`.
    [image] = find_images(parse('{ img = buildLayeredImage { name = "x"; } '
                                '// { passthru.a = 1; }; }', "Nixfile"))
    assert image.attr == "img" and image.call.builder == "buildLayeredImage"


def test_pull_image_may_be_an_argument_as_examples_nix_takes_it() -> None:
    source = ('{ buildImage, pullImage }: buildImage { name = "x"; fromImage = pullImage '
              '{ imageName = "debian"; imageDigest = "sha256:' + "0" * 64 + '"; }; }')
    [image] = find_images(parse(source, "Nixfile"))
    assert isinstance(image.call.args.items["fromImage"].force(), PulledImage)


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
    ('buildImage { name = "x"; config = 1 // { }; }', "expected a set, got an integer"),
    ('buildImage { name = "x"; config.Cmd = "a" ++ [ ]; }', "expected a list, got a string"),
    ('buildImage { name = "x"; config = builtins // { }; }', None),
])
def test_errors_are_located(source: str, message: str | None) -> None:
    with pytest.raises(NixdfError) as info:
        images = find_images(parse(source, "Nixfile"))
        for image in images:
            for thunk in image.call.args.items.values():
                to_python(thunk.force(), image.call.span)
    if message is not None:
        assert message in str(info.value)
    assert info.value.span is not None


# nixpkgs' own definitions of the lib functions below, for Nix to evaluate the reference.
LIB_STAND_IN = (
    "{ optional = c: x: if c then [x] else []; optionals = c: xs: if c then xs else []; "
    'optionalString = c: s: if c then s else ""; '
    "mapAttrsToList = f: a: map (n: f n a.${n}) (builtins.attrNames a); "
    "concatMapStringsSep = sep: f: l: builtins.concatStringsSep sep (map f l); "
    "concatLists = builtins.concatLists; toInt = builtins.fromJSON; }")

AGREES_WITH_NIX = [
    'lib.optional true "a" ++ lib.optional false "b"',
    'lib.optionals (1 < 2) [ "x" "y" ]',
    '[ (lib.optionalString false "no") (lib.optionalString true "yes") ]',
    'lib.mapAttrsToList (k: v: "${k}=${v}") { B = "2"; A = "1"; }',
    'builtins.attrValues (builtins.mapAttrs (k: v: k + v) { a = "1"; b = "2"; })',
    '[ (lib.concatMapStringsSep "," (x: x + "!") [ "a" "b" ]) ]',
    'builtins.filter (x: x != "b") [ "a" "b" "c" ]',
    '[ (builtins.replaceStrings [ "a" "" ] [ "A" "-" ] "xay") ]',
    '[ (builtins.replaceStrings [ "oo" ] [ "0" ] "foooo") ]',
    '[ (builtins.head [ "h" ]) (builtins.elemAt [ "a" "b" ] 1) ]',
    'builtins.attrNames (builtins.removeAttrs { a = 1; b = 2; c = 3; } [ "b" ])',
    '[ (baseNameOf "/a/b/c") (dirOf "/a/b/c") (baseNameOf "x") ]',
    'builtins.attrNames (builtins.listToAttrs [ { name = "z"; value = 1; } '
    '{ name = "y"; value = 2; } ])',
    'with lib; optional true "w"',
    'lib.concatLists [ [ "a" ] [ "b" ] ]',
    # the two that image calls in the corpus use and nixdf lacked (corpus.py functions)
    'builtins.foldl\' (acc: x: acc ++ [ x "-" ]) [ "s" ] [ "a" "b" ]',
    '[ (toString (lib.toInt "42" + 1)) ]',
]


@pytest.mark.parametrize("expression", AGREES_WITH_NIX)
def test_builtins_and_lib_agree_with_nix(expression: str) -> None:
    nix = shutil.which("nix-instantiate")
    if nix is None:
        pytest.skip("nix-instantiate is not installed")
    source = f'{{ pkgs, lib, buildImage }}: buildImage {{ name = "x"; config.Cmd = {expression}; }}'
    ours = config_of(source)["Cmd"]  # type: ignore[index]
    reference = subprocess.run(
        [nix, "--eval", "--strict", "--json", "-E",
         f"let lib = {LIB_STAND_IN}; in {expression}"],
        capture_output=True, text=True, check=True).stdout
    assert ours == json.loads(reference)


def test_unknown_builtins_are_left_to_nix() -> None:
    [image] = find_images(parse('buildImage { name = "x"; contents = builtins.readFile ./f; }',
                                "Nixfile"))
    assert isinstance(image.call.args.items["contents"].force(), Opaque)


def test_absurd_nesting_is_a_located_error_not_a_crash(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from nixdf import api

    chain = "".join(f"a{i} = a{i - 1}; " for i in range(1, 6000))
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(f'let a0 = "x"; {chain}in buildImage {{ name = a5999; }}\n')
    with pytest.raises(NixdfError, match="nests too deeply") as info:
        api.load(nixfile)
    assert info.value.span is not None

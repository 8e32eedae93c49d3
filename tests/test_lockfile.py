"""nixdf.lockfile: the lock's values applied to a Nixfile's images."""

from __future__ import annotations

from nixdf.evaluate import evaluation, find_images
from nixdf.lockfile import apply_lock
from nixdf.parse import parse
from nixdf.spec import name_clash, to_specs

NIXFILE = ('{ buildImage, pkgs }: rec {\n'
           '  base = buildImage { name = "base"; config.Cmd = [ "${pkgs.hello}/bin/hello" ]; };\n'
           '  app = buildImage { name = "app"; fromImage = base; };\n'
           '  again = base;\n'
           '}\n')
HELLO = "/nix/store/" + "a" * 32 + "-hello/bin/hello"


def test_the_lock_is_read_through_fresh_arguments_not_written_into_evaluation() -> None:
    tree = parse(NIXFILE, "Nixfile")
    with evaluation(tree.span):
        images = find_images(tree)
        base = images[0].call
        locked, with_refs = apply_lock(images, {"base": {"config": {"Cmd": [HELLO]}},
                                                "again": {"config": {"Cmd": [HELLO]}}})
        specs = to_specs(locked)
        # What evaluation made is as it was: the value only Nix knows.
        assert base.args.items["config"].force().items["Cmd"].force().items[0].force() \
            .description.startswith("a string interpolating")
        assert name_clash(locked, specs) is None  # base and again: one call, one image
    assert with_refs == {"base", "again"}
    by_attr = {spec.attr: spec for spec in specs}
    assert by_attr["base"].config.cmd == (HELLO,)
    assert by_attr["again"].config.cmd == (HELLO,)
    # app's fromImage reaches the evaluated call; it is still known as the image base.
    assert by_attr["app"].from_attr in ("base", "again")
    assert locked[0].origin is base and locked[0].call is locked[2].call

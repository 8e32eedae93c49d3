"""nixdf.spec and the modules it reads builders with (dockertools, nix2container,
imageconfig, arguments): from evaluated calls to checked image specs."""

from __future__ import annotations

import pytest

from nixdf.errors import SpecError
from nixdf.evaluate import evaluation, find_images
from nixdf.image import ImageSpec
from nixdf.parse import parse
from nixdf.spec import name_clash, records_closure, to_specs


def _specs(text: str) -> list[ImageSpec]:
    tree = parse(text, "Nixfile")
    with evaluation(tree.span):
        return to_specs(find_images(tree))


def _refusal(text: str) -> SpecError:
    with pytest.raises(SpecError) as caught:
        _specs(text)
    return caught.value


def test_scripts_run_in_each_builders_own_order() -> None:
    plain, layered = _specs('{ buildImage, buildLayeredImage }: {\n'
                            '  a = buildImage { name = "a"; extraCommands = "e";\n'
                            '                   runAsRoot = "r"; };\n'
                            '  b = buildLayeredImage { name = "b"; fakeRootCommands = "f";\n'
                            '                          extraCommands = "e"; };\n'
                            '}\n')
    assert plain.scripts == (("runAsRoot", "r"), ("extraCommands", "e"))
    assert not plain.layered
    assert layered.scripts == (("extraCommands", "e"), ("fakeRootCommands", "f"))
    assert layered.layered


def test_with_nix_db_builders_are_their_plain_builder_with_a_database() -> None:
    [spec] = _specs('{ buildImageWithNixDb }: buildImageWithNixDb { name = "a"; }')
    assert spec.nix_db and not spec.layered


def test_a_name_is_lower_cased_and_the_tag_defaults_to_latest() -> None:
    [spec] = _specs('{ buildImage }: buildImage { name = "Web/App"; }')
    assert (spec.name, spec.tag) == ("web/app", "latest")


def test_an_argument_of_another_builder_names_that_builder() -> None:
    error = _refusal('{ buildImage }: buildImage { name = "a"; fakeRootCommands = ""; }')
    assert "buildImage has no argument 'fakeRootCommands'" in error.message
    assert error.hint is not None and "buildLayeredImage" in error.hint
    assert "'runAsRoot' does the same job" in error.hint
    assert error.span is not None and error.span.line == 1


def test_nix2container_layers_come_nested_first_and_a_shared_layer_once() -> None:
    [spec] = _specs('{ nix2container }: let\n'
                    '  inner = nix2container.buildLayer { deps = [ ]; };\n'
                    '  outer = nix2container.buildLayer { layers = [ inner ]; };\n'
                    'in nix2container.buildImage { name = "a"; layers = [ outer inner ]; }\n')
    assert spec.nix2container
    assert spec.explicit_layers == ((0, 0), (0,))


def test_a_layer_among_its_own_layers_is_refused() -> None:
    error = _refusal('{ nix2container }: let\n'
                     '  layer = nix2container.buildLayer { layers = [ layer ]; };\n'
                     'in nix2container.buildImage { name = "a"; layers = [ layer ]; }\n')
    assert "among its own layers" in error.message


def test_records_closure_for_layered_builders_and_split_nix2container_stores() -> None:
    tree = parse('{ buildImage, buildLayeredImage, nix2container }: {\n'
                 '  plain = buildImage { name = "a"; };\n'
                 '  layered = buildLayeredImage { name = "b"; };\n'
                 '  one = nix2container.buildImage { name = "c"; };\n'
                 '  split = nix2container.buildImage { name = "d"; maxLayers = 3; };\n'
                 '}\n', "Nixfile")
    with evaluation(tree.span):
        found = {image.attr: records_closure(image.call) for image in find_images(tree)}
    assert found == {"plain": False, "layered": True, "one": False, "split": True}


def test_two_images_of_one_name_clash_but_one_call_twice_does_not() -> None:
    tree = parse('{ buildImage }: rec {\n'
                 '  a = buildImage { name = "same"; };\n'
                 '  b = buildImage { name = "same"; };\n'
                 '  c = a;\n'
                 '}\n', "Nixfile")
    with evaluation(tree.span):
        images = find_images(tree)
        clash = name_clash(images, to_specs(images))
        alone = [image for image in images if image.attr in ("a", "c")]
        assert name_clash(alone, to_specs(alone)) is None
    assert clash is not None and "a and b are both named same:latest" in clash.message
    assert clash.span is not None and clash.span.line == 3


def test_config_keys_are_read_in_any_case() -> None:
    [spec] = _specs('{ buildImage }: buildImage { name = "a"; config = {\n'
                    '  cmd = [ "/bin/app" ]; workingdir = "/srv"; Env = [ "A=1\tb" ];\n'
                    '  ExposedPorts = { "80/tcp" = { }; }; };\n'
                    '}\n')
    assert spec.config.cmd == ("/bin/app",)
    assert spec.config.working_dir == "/srv"
    assert spec.config.env == (("A", "1\tb"),)
    assert spec.config.exposed_ports == ("80/tcp",)


@pytest.mark.parametrize(("config", "message"), [
    ('Entrypoint = "/bin/app --serve";', "one string with spaces"),
    ('Labels = { "a=b" = "x"; };', "cannot be written in a Dockerfile"),
    ('Env = [ "A=line\\nbreak" ];', "contains a line break"),
    ('Volumes = { " /data" = { }; };', "starts or ends with a space"),
    ('OnBuild = [ "RUN make \\\\" ];', "one Dockerfile instruction on one line"),
    ('Healthcheck = { Test = [ "CMD-SHELL" " curl x" ]; };', "cannot be written on a"),
    ('StopSignal = "TERM NOW";', "is not a signal"),
    ('Memory = 1;', "has no Dockerfile instruction"),
    ('Entrypiont = [ ];', "unknown config key"),
])
def test_config_a_dockerfile_cannot_carry_is_refused_at_its_place(config: str,
                                                                   message: str) -> None:
    error = _refusal('{ buildImage }: buildImage {\n'
                     '  name = "a";\n'
                     f'  config = {{ {config} }};\n'
                     '}\n')
    assert message in error.message
    assert error.span is not None and error.span.line == 3


def test_a_misspelt_config_key_gets_a_suggestion() -> None:
    error = _refusal('{ buildImage }: buildImage { name = "a"; config = { Entrypiont = [ ]; }; }')
    assert error.hint == "did you mean 'Entrypoint'?"

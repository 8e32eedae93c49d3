"""nixdf.vocabulary: what a Dockerfile instruction can carry."""

from __future__ import annotations

import pytest

from nixdf.vocabulary import REFERENCE, carries, label_key, one_line, volume_path

DIGEST = "sha256:" + "0" * 64


@pytest.mark.parametrize(("reference", "valid"), [
    ("debian", True),
    ("debian:bookworm", True),
    (f"debian:bookworm@{DIGEST}", True),
    (f"registry.example.org:5000/team/app@{DIGEST}", True),
    ("Debian", False),  # a repository name is lower-case
    ("debian:" + "t" * 129, False),  # a tag has at most 128 characters
    ("debian:-x", False),
    ("debian@sha256:abc", False),
])
def test_reference_is_dockers_grammar(reference: str, valid: bool) -> None:
    assert bool(REFERENCE.fullmatch(reference)) is valid


def test_a_line_carries_a_tab_only_where_the_instruction_keeps_one() -> None:
    assert carries("a b")
    assert not carries("a\tb")
    assert carries("a\tb", tab=True)
    assert not carries("a\nb", tab=True)
    assert not carries("a\x7fb", tab=True)


@pytest.mark.parametrize(("text", "fits"), [
    ("curl -f http://localhost/", True),
    (" curl", False),  # BuildKit trims it
    ("curl \\", False),  # a final backslash joins the next line
    ("curl\nrm", False),
])
def test_one_line(text: str, fits: bool) -> None:
    assert one_line(text) is fits


def test_label_keys_and_volume_paths() -> None:
    assert label_key("org.opencontainers.image.title")
    assert not label_key("a=b") and not label_key("")
    assert volume_path("/data")
    assert not volume_path("/data ") and not volume_path("")

"""Nixfile strings reach the image exactly, and never start an instruction.

Hypothesis draws adversarial values (quotes, `$`, `${}`, backslashes, keywords
after line breaks, unicode, spaces); the Dockerfile is checked with Docker's own
parser for many of them and built for real for a bounded sample.
"""

from __future__ import annotations

import json
from pathlib import Path

import dockerfile
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nixdf import api

from .conftest import OFFLINE_PKGS, docker

NASTY = ["$", "${", "}", "$HOME", "${PATH}", "\\", '"', "'", " ", "\\$", "RUN", "\nRUN x",
         "\nCMD", "#", "é", "雪", "🐳", "=", "\t", "$(id)", "`id`", "\\\n"]


def _text(allow_newline: bool) -> st.SearchStrategy[str]:
    pieces = [p for p in NASTY if allow_newline or ("\n" not in p and "\t" not in p)]
    chars = st.characters(blacklist_categories=("Cs", "Cc"))
    return st.lists(st.one_of(st.sampled_from(pieces), st.text(chars, max_size=4)),
                    max_size=6).map("".join)


def nix_string(text: str) -> str:
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
               .replace("\n", "\\n").replace("\t", "\\t"))
    return f'"{escaped}"'


values = st.fixed_dictionaries({
    "cmd": st.lists(_text(True), min_size=1, max_size=3),
    "entrypoint": st.lists(_text(True), min_size=1, max_size=3),
    "shell": st.lists(_text(True), min_size=1, max_size=3),
    "signal": st.sampled_from(["SIGTERM", "SIGRTMIN+3", "9", "SIGINT", "USR1"]),
    "onbuild": _text(False).map(lambda t: "RUN echo " + t).filter(
        lambda t: t == t.strip() and not t.endswith("\\")),
    "env": _text(False),
    "label_key": _text(False).filter(lambda t: bool(t) and "=" not in t),
    "label": _text(False),
    "workdir": _text(False).map(lambda t: "/w" + t),
    "user": _text(False).filter(lambda t: bool(t.strip())),
    "volume": _text(False).map(lambda t: "/v" + t).filter(lambda t: t == t.strip()),
})


def nixfile_for(v: dict) -> str:  # type: ignore[type-arg]
    cmd = " ".join(nix_string(c) for c in v["cmd"])
    entrypoint = " ".join(nix_string(c) for c in v["entrypoint"])
    shell = " ".join(nix_string(c) for c in v["shell"])
    return f"""{{ pkgs, buildImage }}: buildImage {{
  name = "nixdf-test/escaping";
  config = {{
    Cmd = [ {cmd} ];
    Entrypoint = [ {entrypoint} ];
    Shell = [ {shell} ];
    StopSignal = {nix_string(v["signal"])};
    OnBuild = [ {nix_string(v["onbuild"])} ];
    Env = [ {nix_string("V=" + v["env"])} ];
    Labels = {{ {nix_string(v["label_key"])} = {nix_string(v["label"])}; }};
    WorkingDir = {nix_string(v["workdir"])};
    User = {nix_string(v["user"])};
    Volumes = {{ {nix_string(v["volume"])} = {{ }}; }};
  }};
}}
"""


def render(tmp: Path, v: dict) -> str:  # type: ignore[type-arg]
    nixfile = tmp / "Nixfile"
    nixfile.write_text(nixfile_for(v), encoding="utf-8")
    return api.render_path(nixfile, api.RenderOptions(compat="docker-20.10")).text


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values)
def test_no_value_adds_or_splits_an_instruction(tmp_path: Path, v: dict) -> None:  # type: ignore[type-arg]
    text = render(tmp_path, v)
    final = text[text.rindex("\nFROM scratch"):]
    commands = [i.cmd for i in dockerfile.parse_string(final)]
    assert commands == ["FROM", "COPY", "ENV", "LABEL", "VOLUME", "WORKDIR", "STOPSIGNAL",
                        "SHELL", "ONBUILD", "USER", "ENTRYPOINT", "CMD"]
    cmd = next(i for i in dockerfile.parse_string(final) if i.cmd == "CMD")
    assert cmd.json and list(cmd.value) == v["cmd"]


def assert_config_matches(config: dict, v: dict) -> None:  # type: ignore[type-arg]
    assert config["Cmd"] == v["cmd"]
    assert config["Entrypoint"] == v["entrypoint"]
    assert config["Shell"] == v["shell"]
    assert config["StopSignal"] == v["signal"]
    assert config["OnBuild"] == [v["onbuild"]]
    assert "V=" + v["env"] in config["Env"]
    assert config["Labels"] == {v["label_key"]: v["label"]}
    assert config["WorkingDir"] == v["workdir"]
    assert config["User"] == v["user"]
    assert config["Volumes"] == {v["volume"]: {}}


@pytest.mark.docker
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values)
def test_config_instructions_round_trip_through_buildkit(tmp_path: Path, engine_env,  # type: ignore[no-untyped-def]
                                                         v: dict) -> None:  # type: ignore[type-arg]
    """The image stage's config instructions, exactly as rendered, built by BuildKit."""
    text = render(tmp_path, v)
    final = text[text.rindex("\nFROM scratch"):]
    config_only = "\n".join(line for line in final.splitlines() if not line.startswith("COPY"))
    docker(engine_env, "build", "-q", "-t", "nixdf-test/escaping-config", "-f", "-",
           str(tmp_path), input=config_only)
    info = json.loads(docker(engine_env, "image", "inspect",
                             "nixdf-test/escaping-config").stdout)[0]
    # Each example is a new image; keep the engine from filling up with them.
    docker(engine_env, "rmi", "nixdf-test/escaping-config")
    assert_config_matches(info["Config"], v)


@pytest.mark.docker
@settings(max_examples=3, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values)
def test_values_reach_the_image_exactly(tmp_path: Path, engine_env, offline_image,  # type: ignore[no-untyped-def]
                                        v: dict) -> None:  # type: ignore[type-arg]
    """The whole pipeline, nixdf build included, for a few adversarial Nixfiles."""
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(nixfile_for(v), encoding="utf-8")
    from .test_examples import nixdf

    nixdf(engine_env, "build", str(nixfile), "--nix-image", offline_image, "--nixpkgs",
          str(OFFLINE_PKGS), "-t", "nixdf-test/escaping:latest")
    info = json.loads(docker(engine_env, "image", "inspect",
                             "nixdf-test/escaping:latest").stdout)[0]
    assert_config_matches(info["Config"], v)

"""Fixtures: a real engine (started when none answers), the offline builder image,
and one Dockerfile snapshot file per rendered example."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
OFFLINE_PKGS = EXAMPLES / "offline-pkgs"
OFFLINE_IMAGE = "nixdf-offline/nix:latest"
DOCKER = os.environ.get("NIXDF_DOCKER", "/usr/bin/docker")


class DockerfileSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "Dockerfile"


@pytest.fixture
def snapshot_dockerfile(snapshot):  # type: ignore[no-untyped-def]
    return snapshot.use_extension(DockerfileSnapshot)


def example_nixfiles() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*/Nixfile"))


# The engines real builds run on, as test ids say them: Docker 20.10 (Debian bookworm's
# docker.io, BuildKit 0.8, its own `--compat docker-20.10` target) and Docker 26 with
# buildx (Debian trixie's, scripts/modern-engine.sh), which builds the default Dockerfile
# less its `# syntax=` line: the docker/dockerfile frontend cannot be pulled offline.
ENGINES = ("docker-20.10", "docker-26")
LEGACY, MODERN = ENGINES
# How `nixdf build` builds on each.
BUILD_COMMAND = {LEGACY: "DOCKER_BUILDKIT=1 docker build", MODERN: "docker buildx build"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that uses an engine runs on each, unless `@pytest.mark.engines(...)` narrows it."""
    if "engine_env" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("engines")
    names = marker.args if marker else ENGINES
    unknown = set(names) - set(ENGINES)
    if unknown:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: unknown engines {unknown}")
    metafunc.parametrize("engine_env", names, indirect=True, scope="session")


def _exports(script: str) -> dict[str, str]:
    """The `export NAME='VALUE'` lines that SCRIPT env prints, as a dict."""
    done = subprocess.run([str(ROOT / "scripts" / script), "env"], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.fail(f"scripts/{script} env failed ({done.returncode}):\n{done.stderr}")
    found: dict[str, str] = {}
    for line in done.stdout.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            found[key] = value.strip("'\"")
    return found


@pytest.fixture(scope="session")
def legacy_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Docker 20.10's environment: scripts/engine.sh starts it if none answers."""
    if not Path(DOCKER).exists():
        pytest.fail(f"{DOCKER} is missing: apt-get install docker.io (scripts/test does)")
    env = dict(os.environ)
    env.pop("NIXDF_COMPAT", None)
    env.update(_exports("engine.sh"))
    # A client config of its own: a buildx plugin a machine has in ~/.docker would make
    # this engine build with buildx, which Debian's 20.10 never does.
    config = tmp_path_factory.mktemp("docker-20.10-config")
    (config / "config.json").write_text("{}\n")
    env["DOCKER_CONFIG"] = str(config)
    env["NIXDF_DOCKER"] = DOCKER
    env["DOCKER_BUILDKIT"] = "1"
    return env


@pytest.fixture(scope="session")
def modern_env() -> dict[str, str]:
    """Docker 26 + buildx's environment: scripts/modern-engine.sh starts it if needed."""
    env = dict(os.environ)
    env.update(_exports("modern-engine.sh"))
    env["DOCKER_BUILDKIT"] = "1"
    env["NIXDF_COMPAT"] = "builtin-frontend"
    return env


@pytest.fixture(scope="session")
def engine_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment of the engine this test runs on (see ENGINES)."""
    name = getattr(request, "param", LEGACY)
    fixture = "legacy_env" if name == LEGACY else "modern_env"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


def engine_name(env: dict[str, str]) -> str:
    """Which of ENGINES env reaches."""
    return MODERN if env.get("NIXDF_COMPAT") == "builtin-frontend" else LEGACY


@pytest.fixture(scope="session")
def offline_image(engine_env: dict[str, str], legacy_env: dict[str, str]) -> str:
    """The offline Nix builder image, built on 20.10 and, for Docker 26, loaded there too."""
    subprocess.run([str(ROOT / "scripts" / "offline-nix-image.sh"), OFFLINE_IMAGE],
                   check=True, env=legacy_env, stdout=subprocess.DEVNULL)
    if engine_name(engine_env) == MODERN:
        subprocess.run([str(ROOT / "scripts" / "modern-engine.sh"), "import", OFFLINE_IMAGE],
                       check=True, env=engine_env, stdout=subprocess.DEVNULL)
    return OFFLINE_IMAGE


def extract_all(archive: tarfile.TarFile, into: Path,
                members: list[tarfile.TarInfo] | None = None) -> None:
    """TarFile.extractall of an image's own files, on every Python nixdf supports.

    The images hold absolute symlinks into /nix/store, which the "data" filter refuses;
    Python 3.11.4+ wants a filter named, older ones have no such argument.
    """
    if hasattr(tarfile, "fully_trusted_filter"):
        archive.extractall(into, members, filter="fully_trusted")
    else:
        archive.extractall(into, members)


def docker(env: dict[str, str], *args: str, check: bool = True,
           input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([client(env), *args], env=env, capture_output=True, text=True,
                          check=check, input=input)


def client(env: dict[str, str]) -> str:
    """The docker client of the engine env reaches."""
    return env.get("NIXDF_DOCKER", DOCKER)


def saved_layer_members(env: dict[str, str], ref: str) -> list[dict[str, tarfile.TarInfo]]:
    """Each layer's entries by name, bottom layer first, as `docker save` writes them
    (Docker 20.10's layout, or the OCI layout of Docker 25+: manifest.json names the layers)."""
    saved = subprocess.run([client(env), "save", ref], env=env, capture_output=True,
                           check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(saved)) as image:
        manifest = image.extractfile("manifest.json")
        assert manifest is not None
        result = []
        for layer_name in json.load(manifest)[0]["Layers"]:
            layer = image.extractfile(layer_name)
            assert layer is not None
            with tarfile.open(fileobj=layer) as tar:
                result.append({m.name.rstrip("/"): m for m in tar.getmembers()})
    return result


def saved_layers(env: dict[str, str], ref: str) -> list[list[str]]:
    """The names in each layer of the image, bottom layer first."""
    return [list(members) for members in saved_layer_members(env, ref)]

"""Service benchmark: nixdf against the hand-written recipe and a nixpacks-style image.

Run on a real engine with the offline builder image (scripts/offline-nix-image.sh):

    python benchmarks/service.py [--save out.json] [--baseline old.json]

The image is benchmarks/service/Nixfile, a buildLayeredImage of the app in
benchmarks/service-pkgs (about 30 store paths, about 150 MB). In one run, each scenario is
built by the four tools in turn (alternating): a cold build after `docker builder prune -af`
(which also drops nixdf's /nix cache mount, on purpose), a no-op rebuild, a changed large leaf
(dataVersion: 35 MB of data only the app refers to), a changed small leaf (leafVersion: a
config file only the app refers to), a changed library (libVersion: a path every library
refers to), and a second clean build to see whether the layers repeat. nixdf runs twice:
by default, and with --per-path (a stage per store layer), each on its own tag of the
builder image so that each has a /nix cache of its own.
Each nixdf variant is timed as `nixdf build`, which locks the layers itself when its inputs
changed; its no-op is also timed for the Dockerfile it renders, built by docker build alone.
The table prints seconds, sizes, layer counts, the bytes of the layers each change adds,
and the targets with PASS/FAIL; with --baseline, nixdf's change against an earlier --save.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCKER = os.environ.get("NIXDF_DOCKER", "/usr/bin/docker")
BUILDER = "nixdf-offline/nix:latest"
# The same image under another name: nixdf keys its /nix cache by the builder's name.
PER_PATH_BUILDER = "nixdf-offline/nix:bench-per-path"

# The common hand-written recipe: build in the Nix image, copy the closure into a
# scratch image as one layer. No cache mount.
RECIPE = f"""FROM {BUILDER} AS builder
COPY pkgs /src/pkgs
WORKDIR /src
RUN nix-build -E '(import ./pkgs {{ }}).appEnv' -o result \\
 && mkdir -p /out/nix/store /out/bin \\
 && cp -a $(nix-store -qR result/) /out/nix/store/ \\
 && cp -a result/bin/. /out/bin/
FROM scratch
COPY --from=builder /out /
CMD ["/bin/app"]
"""

# nixpacks-style: one stage, Nix and its store stay in the image.
NIXPACKS = f"""FROM {BUILDER}
COPY pkgs /app/pkgs
WORKDIR /app
RUN nix-build -E '(import ./pkgs {{ }}).appEnv' -o /app/result
CMD ["/app/result/bin/app"]
"""

ONE_LINE = "FROM scratch\nCOPY f /f\n"


@dataclass
class Tool:
    name: str
    build: Callable[[Path], float]
    tag: str
    builder: str = ""  # nixdf's: its Dockerfile can also be rendered and built by docker
    flags: tuple[str, ...] = ()


def dockerfile_noop(tool: Tool, context: Path, env: dict[str, str]) -> float:
    """The no-op of the Dockerfile nixdf renders, built by docker itself, as a user of
    `nixdf render -o Dockerfile` (or the pre-commit hook) builds it: no Python."""
    dockerfile = context / "Dockerfile"
    _run([sys.executable, "-m", "nixdf", "render", *nixdf_options(context, tool.builder),
          *tool.flags, "--compat", "docker-20.10", "-o", str(dockerfile)], env)
    argv = [DOCKER, "build", "-q", "-t", tool.tag, "-f", str(dockerfile), str(context)]
    _timed(argv, env)
    return statistics.median(_timed(argv, env) for _ in range(5))


def _run(argv: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    done = subprocess.run(argv, env=env, input=stdin, text=True, capture_output=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{done.stderr[-3000:]}")
    return done.stdout


def _timed(argv: list[str], env: dict[str, str], stdin: str | None = None) -> float:
    start = time.perf_counter()
    _run(argv, env, stdin)
    return time.perf_counter() - start


def nixdf_options(context: Path, builder: str) -> list[str]:
    return [str(context / "Nixfile"), "--nix-image", builder, "--nixpkgs", str(context / "pkgs")]


def make_tools(env: dict[str, str], locks: dict[str, int]) -> list[Tool]:
    def nixdf(name: str, builder: str, *flags: str) -> Callable[[Path], float]:
        # What a user runs: `nixdf build` locks the layers itself when its inputs changed
        # (counted in `locks`: once per step but the no-op is what is expected).
        def build(context: Path) -> float:
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "nixdf", "build",
                                   *nixdf_options(context, builder), *flags],
                                  env=env, text=True, capture_output=True)
            seconds = time.perf_counter() - start
            if done.returncode != 0:
                sys.exit(f"failed: nixdf build {context}\n{done.stderr[-3000:]}")
            locks[name] = locks.get(name, 0) + ("for their layers" in done.stderr)
            return seconds
        return build

    def docker(tag: str, dockerfile: str) -> Callable[[Path], float]:
        def build(context: Path) -> float:
            return _timed([DOCKER, "build", "-q", "-t", tag, "-f", "-", str(context)], env,
                          stdin=dockerfile)
        return build

    return [Tool("nixdf", nixdf("nixdf", BUILDER), "bench/service-nixdf:latest", BUILDER),
            Tool("nixdf per-path", nixdf("nixdf per-path", PER_PATH_BUILDER, "--per-path",
                                         "-t", "bench/service-nixdf:per-path"),
                 "bench/service-nixdf:per-path", PER_PATH_BUILDER, ("--per-path",)),
            Tool("recipe", docker("bench/service-recipe", RECIPE), "bench/service-recipe"),
            Tool("nixpacks", docker("bench/service-nixpacks", NIXPACKS),
                 "bench/service-nixpacks")]


def prepare(context: Path) -> None:
    shutil.copytree(HERE / "service-pkgs", context / "pkgs")
    shutil.copy(HERE / "service" / "Nixfile", context / "Nixfile")


def set_versions(context: Path, versions: dict[str, str]) -> None:
    default = context / "pkgs" / "default.nix"
    text = default.read_text()
    for name, version in versions.items():
        text = re.sub(rf'{name} \? "[^"]*"', f'{name} ? "{version}"', text)
    default.write_text(text)


def layers(ref: str, env: dict[str, str]) -> list[str]:
    out = _run([DOCKER, "image", "inspect", ref], env)
    return json.loads(out)[0]["RootFS"]["Layers"]  # type: ignore[no-any-return]


def image_bytes(ref: str, env: dict[str, str]) -> int:
    return int(_run([DOCKER, "image", "inspect", "--format", "{{.Size}}", ref], env))


def layer_bytes(ref: str, env: dict[str, str]) -> dict[str, int]:
    """diffID -> size of the layer's uncompressed tar, from `docker save`."""
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "image.tar"
        _run([DOCKER, "save", "-o", str(saved), ref], env)
        with tarfile.open(saved) as tar:
            sizes = {m.name: m.size for m in tar.getmembers() if m.isfile()}
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    return dict(zip(layers(ref, env), (sizes[p] for p in manifest[0]["Layers"]), strict=True))


def closure(context: Path) -> dict[str, int]:
    """Store path -> narSize, from the lock nixdf wrote."""
    lock = json.loads((context / "Nixfile.lock").read_text())
    return {e["path"]: e["narSize"] for e in lock["images"][""]["closure"]}


# Each step and the versions it builds; each change is against the step before it.
FIRST = {"dataVersion": "1", "leafVersion": "1", "libVersion": "1"}
STEPS = (("cold", FIRST), ("no-op", FIRST),
         ("leaf change", {**FIRST, "dataVersion": "2"}),
         ("small leaf change", {**FIRST, "dataVersion": "2", "leafVersion": "2"}),
         ("lib change", {"dataVersion": "2", "leafVersion": "2", "libVersion": "2"}),
         ("clean rebuild", FIRST))
CHANGES = ("leaf change", "small leaf change", "lib change")


def measure(env: dict[str, str]) -> dict[str, dict[str, float]]:
    locks: dict[str, int] = {}
    tools = make_tools(env, locks)
    _run([DOCKER, "tag", BUILDER, PER_PATH_BUILDER], env)
    table: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        contexts = {t.name: Path(tmp) / t.name.replace(" ", "-") for t in tools}
        for context in contexts.values():
            context.mkdir()
            prepare(context)
        seen: dict[str, list[str]] = {}
        first: dict[str, list[str]] = {}
        closures: dict[str, dict[str, int]] = {}
        for step, versions in STEPS:
            row = table.setdefault(f"{step} (s)", {})
            if step in ("cold", "clean rebuild"):
                # Once for all: a prune per tool would drop the caches of the tools before
                # it. The tools share no cache step, so each first build is still cold.
                _run([DOCKER, "builder", "prune", "-a", "-f"], env)
            for tool in tools:
                set_versions(contexts[tool.name], versions)
                # A no-op takes a fraction of a second, so one noisy moment would be all
                # of it: the median of three, as for the one-line reference.
                row[tool.name] = statistics.median(
                    tool.build(contexts[tool.name]) for _ in range(3 if step == "no-op" else 1))
                if step == "no-op" and tool.builder:
                    table.setdefault("no-op, its Dockerfile by docker build (s)", {})[
                        tool.name] = dockerfile_noop(tool, contexts[tool.name], env)
                now = layers(tool.tag, env)
                if step == "cold":
                    first[tool.name] = now
                    table.setdefault("image bytes (MB)", {})[tool.name] = (
                        image_bytes(tool.tag, env) / 1e6)
                    table.setdefault("layer count", {})[tool.name] = len(now)
                if step in CHANGES:
                    sizes = layer_bytes(tool.tag, env)
                    new = [d for d in now if d not in seen[tool.name]]
                    table.setdefault(f"{step}: new layer bytes (MB)", {})[tool.name] = (
                        sum(sizes[d] for d in new) / 1e6)
                    table.setdefault(f"{step}: new layers", {})[tool.name] = len(new)
                if step == "clean rebuild":
                    table.setdefault("same diffIDs in 2 clean builds", {})[tool.name] = float(
                        now == first[tool.name])
                seen[tool.name] = now
            closures[step] = closure(contexts["nixdf"])
        table[f"locks nixdf build wrote ({len(STEPS) - 1} expected)"] = dict(locks)
        reference = table["reference"] = {
            "closure MB": sum(closures["cold"].values()) / 1e6,
            "closure paths": len(closures["cold"]),
        }
        previous = "no-op"
        for step in CHANGES:
            reference[f"{step}: changed paths MB"] = _changed(closures[previous],
                                                               closures[step])
            previous = step
        reference["leaf change: Nix builds it (s)"] = nix_build_seconds(Path(tmp), env)
        reference["one-line no-op (s)"] = one_line_noop(Path(tmp), env)
        reference["builder image MB"] = image_bytes(BUILDER, env) / 1e6
    return table


def nix_build_seconds(tmp: Path, env: dict[str, str]) -> float:
    """What the leaf change costs Nix alone: in a builder container that has built the
    first versions, the time of `nix-build` for the changed data (and the app above it)."""
    context = tmp / "nix-alone"
    context.mkdir()
    prepare(context)
    container = _run([DOCKER, "run", "-d", "--rm", BUILDER, "sleep", "3600"], env).strip()
    try:
        _run([DOCKER, "cp", str(context / "pkgs"), f"{container}:/pkgs"], env)
        nix_build = [DOCKER, "exec", container, "nix-build", "/pkgs", "-A", "appEnv",
                     "--no-out-link"]
        _run(nix_build, env)
        return _timed([*nix_build, "--argstr", "dataVersion", "2"], env)
    finally:
        _run([DOCKER, "rm", "-f", container], env)


def _changed(before: dict[str, int], after: dict[str, int]) -> float:
    return sum(size for path, size in after.items() if path not in before) / 1e6


def one_line_noop(tmp: Path, env: dict[str, str], repeat: int = 5) -> float:
    context = tmp / "one-line"
    context.mkdir()
    (context / "f").write_text("f\n")
    argv = [DOCKER, "build", "-q", "-t", "bench/service-one-line", "-f", "-", str(context)]
    _timed(argv, env, ONE_LINE)
    return statistics.median(_timed(argv, env, ONE_LINE) for _ in range(repeat))


TOOLS = ("nixdf", "nixdf per-path", "recipe", "nixpacks")
# Targets (the issue's): (what, measured row, reference row or a sum of rows, ratio).
TARGETS = (
    ("no-op (nixdf build) vs one-line no-op", "no-op (s)", ("one-line no-op (s)",), 1.2),
    ("no-op (its Dockerfile by docker build) vs one-line no-op",
     "no-op, its Dockerfile by docker build (s)", ("one-line no-op (s)",), 1.2),
    ("leaf change: new layer bytes vs changed paths", "leaf change: new layer bytes (MB)",
     ("leaf change: changed paths MB",), 1.1),
    ("leaf change: time vs Nix's build of it + no-op", "leaf change (s)",
     ("leaf change: Nix builds it (s)", "no-op (s)"), 1.5),
    ("small leaf change: new layer bytes vs changed paths",
     "small leaf change: new layer bytes (MB)", ("small leaf change: changed paths MB",), 1.1),
    ("lib change: new layer bytes vs changed paths", "lib change: new layer bytes (MB)",
     ("lib change: changed paths MB",), 1.1),
    ("image bytes vs closure bytes", "image bytes (MB)", ("closure MB",), 1.01),
)


def targets(table: dict[str, dict[str, float]], tool: str,
            ) -> list[tuple[str, float, float, float]]:
    """(target, measured, reference, ratio allowed) for one nixdf variant."""
    def value(row: str) -> float:
        return table["reference"].get(row, table.get(row, {}).get(tool, 0.0))
    return [(name, value(row), sum(value(r) for r in refs), ratio)
            for name, row, refs, ratio in TARGETS]


def report(table: dict[str, dict[str, float]],
           baseline: dict[str, dict[str, float]] | None) -> None:
    head = "| measure (one run) | " + " | ".join(TOOLS) + " |"
    extra = " nixdf before | change |" if baseline else ""
    print(head + extra)
    print("|---" * (len(TOOLS) + 1 + (2 if baseline else 0)) + "|")
    for measure_, row in table.items():
        if measure_ == "reference":
            continue
        cells = " | ".join(_fmt(measure_, row.get(t)) for t in TOOLS)
        line = f"| {measure_} | {cells} |"
        if baseline:
            before = baseline.get(measure_, {}).get("nixdf")
            change = (f"{row['nixdf'] / before - 1:+.0%}" if before and "nixdf" in row else "")
            line += f" {_fmt(measure_, before)} | {change} |"
        print(line)
    blank = " |" * (len(TOOLS) - 1 + (2 if baseline else 0))
    for name, value in table["reference"].items():
        print(f"| reference: {name} | {value:.2f} |{blank}")
    for tool in (t for t in TOOLS if t.startswith("nixdf")):
        for name, measured, reference, allowed in targets(table, tool):
            ratio = measured / reference if reference else float("inf")
            verdict = "PASS" if ratio <= allowed else "FAIL"
            print(f"| target: {tool} {name} ≤ {allowed}× | {measured:.3f} / {reference:.3f} "
                  f"= {ratio:.2f}× **{verdict}** |{blank}")


def _fmt(measure_: str, value: float | None) -> str:
    if value is None:
        return ""
    if measure_.startswith("same diffIDs"):
        return "yes" if value else "no"
    if "count" in measure_ or measure_.endswith("new layers") or measure_.startswith("locks"):
        return f"{value:.0f}"
    return f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path)
    parser.add_argument("--baseline", type=Path)
    args = parser.parse_args()
    env = dict(os.environ, DOCKER_BUILDKIT="1", NIXDF_DOCKER=DOCKER)
    table = measure(env)
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None
    report(table, baseline)
    if args.save:
        args.save.write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()

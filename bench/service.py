"""Service benchmark: nixdf against the hand-written recipe and a nixpacks-style image.

Run on a real engine with the offline builder image (scripts/offline-nix-image.sh):

    python bench/service.py [--save out.json] [--baseline old.json]

The image is bench/service/Nixfile, a buildLayeredImage of the app in bench/service-pkgs
(about 30 store paths, about 150 MB). In one run, each scenario is built by the three
tools in turn (alternating): a cold build after `docker builder prune -af` (which also
drops nixdf's /nix cache mount, on purpose), a no-op rebuild, a changed leaf
(leafVersion: a small path only the app refers to), a changed library (libVersion: a path
every library refers to), and a second clean build to see whether the layers repeat.
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
TARGET_RATIO = 1.2  # every target: at most 1.2 times its reference

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


def _run(argv: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    done = subprocess.run(argv, env=env, input=stdin, text=True, capture_output=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{done.stderr[-3000:]}")
    return done.stdout


def _timed(argv: list[str], env: dict[str, str], stdin: str | None = None) -> float:
    start = time.perf_counter()
    _run(argv, env, stdin)
    return time.perf_counter() - start


def make_tools(env: dict[str, str], build_only: dict[str, float]) -> list[Tool]:
    def nixdf(context: Path) -> float:
        options = ["--nix-image", BUILDER, "--nixpkgs", str(context / "pkgs")]
        nixfile = str(context / "Nixfile")
        seconds = _timed([sys.executable, "-m", "nixdf", "lock", nixfile, *options], env)
        build_only["nixdf"] = _timed(
            [sys.executable, "-m", "nixdf", "build", nixfile, *options], env)
        return seconds + build_only["nixdf"]

    def docker(tag: str, dockerfile: str) -> Callable[[Path], float]:
        def build(context: Path) -> float:
            return _timed([DOCKER, "build", "-q", "-t", tag, "-f", "-", str(context)], env,
                          stdin=dockerfile)
        return build

    return [Tool("nixdf", nixdf, "bench/service-nixdf:latest"),
            Tool("recipe", docker("bench/service-recipe", RECIPE), "bench/service-recipe"),
            Tool("nixpacks", docker("bench/service-nixpacks", NIXPACKS),
                 "bench/service-nixpacks")]


def prepare(context: Path) -> None:
    shutil.copytree(HERE / "service-pkgs", context / "pkgs")
    shutil.copy(HERE / "service" / "Nixfile", context / "Nixfile")


def set_versions(context: Path, leaf: str, lib: str) -> None:
    default = context / "pkgs" / "default.nix"
    text = re.sub(r'leafVersion \? "[^"]*"', f'leafVersion ? "{leaf}"', default.read_text())
    default.write_text(re.sub(r'libVersion \? "[^"]*"', f'libVersion ? "{lib}"', text))


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


STEPS = (("cold", "1", "1"), ("no-op", "1", "1"), ("leaf change", "2", "1"),
         ("lib change", "2", "2"), ("clean rebuild", "1", "1"))


def measure(env: dict[str, str]) -> dict[str, dict[str, float]]:
    build_only: dict[str, float] = {}
    tools = make_tools(env, build_only)
    table: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        contexts = {t.name: Path(tmp) / t.name for t in tools}
        for context in contexts.values():
            context.mkdir()
            prepare(context)
        seen: dict[str, list[str]] = {}
        first: dict[str, list[str]] = {}
        closures: dict[str, dict[str, int]] = {}
        for step, leaf, lib in STEPS:
            row = table.setdefault(f"{step} (s)", {})
            if step in ("cold", "clean rebuild"):
                # Once for all: a prune per tool would drop the caches of the tools before
                # it. The three share no cache step, so each first build is still cold.
                _run([DOCKER, "builder", "prune", "-a", "-f"], env)
            for tool in tools:
                set_versions(contexts[tool.name], leaf, lib)
                row[tool.name] = tool.build(contexts[tool.name])
                if step == "no-op" and tool.name == "nixdf":
                    table["no-op, nixdf build only (s)"] = {"nixdf": build_only["nixdf"]}
                now = layers(tool.tag, env)
                if step == "cold":
                    first[tool.name] = now
                    table.setdefault("image bytes (MB)", {})[tool.name] = (
                        image_bytes(tool.tag, env) / 1e6)
                    table.setdefault("layer count", {})[tool.name] = len(now)
                if step in ("leaf change", "lib change"):
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
        table["reference"] = {
            "closure MB": sum(closures["cold"].values()) / 1e6,
            "closure paths": len(closures["cold"]),
            "leaf change: changed paths MB": _changed(closures["no-op"], closures["leaf change"]),
            "lib change: changed paths MB": _changed(closures["leaf change"],
                                                     closures["lib change"]),
            "one-line no-op (s)": one_line_noop(Path(tmp), env),
            "builder image MB": image_bytes(BUILDER, env) / 1e6,
        }
    return table


def _changed(before: dict[str, int], after: dict[str, int]) -> float:
    return sum(size for path, size in after.items() if path not in before) / 1e6


def one_line_noop(tmp: Path, env: dict[str, str], repeat: int = 5) -> float:
    context = tmp / "one-line"
    context.mkdir()
    (context / "f").write_text("f\n")
    argv = [DOCKER, "build", "-q", "-t", "bench/service-one-line", "-f", "-", str(context)]
    _timed(argv, env, ONE_LINE)
    return statistics.median(_timed(argv, env, ONE_LINE) for _ in range(repeat))


TOOLS = ("nixdf", "recipe", "nixpacks")


def targets(table: dict[str, dict[str, float]]) -> list[tuple[str, float, float]]:
    """(target, measured, reference) for nixdf."""
    ref, nixdf = table["reference"], {k: v["nixdf"] for k, v in table.items() if "nixdf" in v}
    return [
        ("no-op (lock + build) vs one-line no-op", nixdf["no-op (s)"],
         ref["one-line no-op (s)"]),
        ("no-op (build only) vs one-line no-op", nixdf["no-op, nixdf build only (s)"],
         ref["one-line no-op (s)"]),
        ("leaf change: new layer bytes vs changed paths",
         nixdf["leaf change: new layer bytes (MB)"], ref["leaf change: changed paths MB"]),
        ("lib change: new layer bytes vs changed paths",
         nixdf["lib change: new layer bytes (MB)"], ref["lib change: changed paths MB"]),
        ("image bytes vs closure bytes", nixdf["image bytes (MB)"], ref["closure MB"]),
    ]


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
    for name, measured, reference in targets(table):
        ratio = measured / reference if reference else float("inf")
        verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
        print(f"| target: nixdf {name} ≤ {TARGET_RATIO}× | {measured:.3f} / {reference:.3f} "
              f"= {ratio:.2f}× **{verdict}** |{blank}")


def _fmt(measure_: str, value: float | None) -> str:
    if value is None:
        return ""
    if measure_.startswith("same diffIDs"):
        return "yes" if value else "no"
    if "count" in measure_ or measure_.endswith("new layers"):
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

"""Build-time and size benchmark: nixdf against the hand-written recipe, side by side.

Run on a real engine with the offline builder image (scripts/offline-nix-image.sh):

    python benchmarks/rebuild.py [--repeat 3] [--save out.json] [--baseline old.json]

Each scenario is timed for both tools in the same run, alternating, so the ratio
is meaningful on a noisy machine; the table prints medians and nixdf/recipe ratios,
and with --baseline the change against an earlier --save.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKER = os.environ.get("NIXDF_DOCKER", "/usr/bin/docker")
BUILDER = "nixdf-offline/nix:latest"

NIXFILE = """{ pkgs, buildImage }:
{
  app = buildImage {
    name = "bench/nixdf";
    contents = pkgs.hello;
    runAsRoot = ''
      mkdir -p /data
    '';
    config.Cmd = [ "/bin/hello" ];
  };
}
"""

# The usual hand-written Dockerfile (see shared notes, peers §7): copy the
# context, nix-build, copy the closure into a scratch image. No cache mount.
RECIPE = f"""FROM {BUILDER} AS builder
COPY . /src
WORKDIR /src
RUN nix-build -E '(import ./pkgs {{ }}).hello' -o result \\
 && mkdir -p /tmp/closure \\
 && cp -a $(nix-store -qR result/) /tmp/closure/ \\
 && mkdir -p /tmp/root/bin /tmp/root/data \\
 && cp -a result/bin/. /tmp/root/bin/
FROM scratch
COPY --from=builder /tmp/closure /nix/store
COPY --from=builder /tmp/root/ /
CMD ["/bin/hello"]
"""


@dataclass
class Tool:
    name: str
    build: Callable[[Path], None]
    tag: str


def _run(argv: list[str], env: dict[str, str], stdin: str | None = None) -> None:
    done = subprocess.run(argv, env=env, input=stdin, text=True, capture_output=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{done.stderr[-3000:]}")


def make_tools(env: dict[str, str]) -> list[Tool]:
    def nixdf(context: Path) -> None:
        _run([sys.executable, "-m", "nixdf", "build", str(context / "Nixfile"), "--nix-image",
              BUILDER, "--nixpkgs", str(context / "pkgs"), "-t", "bench/nixdf"], env)

    def recipe(context: Path) -> None:
        _run([DOCKER, "build", "-q", "-t", "bench/recipe", "-f", "-", str(context)], env,
             stdin=RECIPE)

    return [Tool("nixdf", nixdf, "bench/nixdf"), Tool("recipe", recipe, "bench/recipe")]


def prepare(context: Path) -> None:
    shutil.copytree(ROOT / "examples" / "offline-pkgs", context / "pkgs")
    (context / "Nixfile").write_text(NIXFILE)
    (context / "README.txt").write_text("unrelated\n")


def edit(context: Path, scenario: str, round_: int) -> None:
    if scenario == "unrelated file changed":
        (context / "README.txt").write_text(f"unrelated {round_}\n")
    elif scenario == "one package changed":
        default = context / "pkgs" / "default.nix"
        text = default.read_text()
        start = text.index('greeting ? "') + len('greeting ? "')
        end = text.index('"', start)
        default.write_text(text[:start] + f"Hello, round {round_}" + text[end:])


SCENARIOS = ("cold (all build cache pruned)", "no-op rebuild", "unrelated file changed",
             "one package changed")


def timed(tool: Tool, context: Path) -> float:
    start = time.perf_counter()
    tool.build(context)
    return time.perf_counter() - start


def measure(repeat: int, env: dict[str, str]) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, list[float]]] = {s: {} for s in SCENARIOS}
    tools = make_tools(env)
    with tempfile.TemporaryDirectory() as tmp:
        contexts = {t.name: Path(tmp) / t.name for t in tools}
        for tool in tools:
            contexts[tool.name].mkdir()
            prepare(contexts[tool.name])
        for round_ in range(repeat):
            for scenario in SCENARIOS:
                if scenario.startswith("cold"):
                    _run([DOCKER, "builder", "prune", "-a", "-f"], env)
                for tool in tools:
                    edit(contexts[tool.name], scenario, round_)
                    seconds = timed(tool, contexts[tool.name])
                    results[scenario].setdefault(tool.name, []).append(seconds)
        sizes = {t.name: _size(t.tag, env) for t in tools}
    table = {s: {t: statistics.median(v) for t, v in r.items()} for s, r in results.items()}
    table["image size (MB)"] = sizes
    table["image size (MB)"]["builder"] = _size(BUILDER, env)
    return table


def _size(ref: str, env: dict[str, str]) -> float:
    out = subprocess.run([DOCKER, "image", "inspect", "--format", "{{.Size}}", ref], env=env,
                         capture_output=True, text=True, check=True).stdout
    return int(out) / 1e6


def report(table: dict[str, dict[str, float]], baseline: dict[str, dict[str, float]] | None,
           repeat: int) -> None:
    print(f"median of {repeat} runs, seconds unless noted; ratio = nixdf / recipe")
    head = f"{'scenario':32} {'nixdf':>9} {'recipe':>9} {'ratio':>7}"
    print(head + (f" {'nixdf before':>13} {'change':>8}" if baseline else ""))
    for scenario, row in table.items():
        ratio = row["nixdf"] / row["recipe"] if row.get("recipe") else float("nan")
        line = f"{scenario:32} {row['nixdf']:9.2f} {row['recipe']:9.2f} {ratio:7.2f}"
        if baseline and scenario in baseline:
            before = baseline[scenario]["nixdf"]
            line += f" {before:13.2f} {row['nixdf'] / before - 1:+8.0%}"
        print(line)
    sizes = table["image size (MB)"]
    print(f"builder image: {sizes['builder']:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--save", type=Path)
    parser.add_argument("--baseline", type=Path)
    args = parser.parse_args()
    env = dict(os.environ, DOCKER_BUILDKIT="1", NIXDF_DOCKER=DOCKER)
    table = measure(args.repeat, env)
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None
    report(table, baseline, args.repeat)
    if args.save:
        args.save.write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()

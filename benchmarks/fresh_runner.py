"""Fresh-runner benchmark: a CI runner whose build cache and /nix cache are gone, one leaf changed.

Run with the offline builder image loaded in both engines (scripts/offline-nix-image.sh,
scripts/modern-engine.sh import):

    python benchmarks/fresh_runner.py [--save out.json] [--baseline old.json]
        [--engines docker-20.10,docker-26]

The image is benchmarks/service/Nixfile (the app of benchmarks/service-pkgs: about 30 store
paths, 150 MB); the change is its 35 MB data leaf (dataVersion). On each engine, in one run:
nixdf builds the first version (v1) and the warm rebuild of the changed leaf on one /nix
cache; then the changed version on a fresh runner: by nixdf without the option, by nixdf
with `--nix-cache-from` the v1 image, and by the hand-written recipe of service.py.

A fresh runner, without pruning the shared engines: each nixdf build names the builder
image by a tag of this run's own (nixdf keys the /nix cache by it: an empty cache) and its
Nixfile a tag of its own (so no BuildKit step can come from the cache, which Docker 26 keys
without the cache id); the recipe builds with --no-cache. (`docker builder prune -af`, the
first version of this script, also emptied caches other builds were using, and one of them
refilled the shared /nix cache mid-run.) The cache mounts the run made are removed at the
end, by id. Each fresh nixdf build starts from the lock file v1 left (as a CI checkout of
the previous commit's lock would). The table gives seconds, the derivations Nix built (from
the build log), the megabytes the seed took from the v1 image, whether the image's layers
are the warm rebuild's, and the issue's target: with the option, at most 2x the warm leaf rebuild.

The warm builder's targets too, in the same run: a no-op `nixdf build` (median of three)
against the no-op of a one-line Dockerfile on the same engine and client (at most 1.5x), and
the warm leaf rebuild against the hand recipe's warm rebuild of the same change (at most
0.35x). With --baseline, each time is also given as a ratio to an earlier --save.
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
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from service import RECIPE, prepare, set_versions  # noqa: E402

BUILDER = "nixdf-offline/nix:latest"
V1 = {"dataVersion": "1", "leafVersion": "1", "libVersion": "1"}
V2 = {**V1, "dataVersion": "2"}
ROWS = ("v1", "warm leaf rebuild", "warm no-op", "one-line Dockerfile no-op",
        "hand recipe, warm leaf rebuild", "fresh, no option", "fresh, --nix-cache-from v1",
        "fresh, hand recipe")
ONE_LINE = "FROM scratch\nCOPY f /f\n"


def engine_env(name: str) -> dict[str, str]:
    """The environment of one of the two engines, as tests/conftest.py makes it."""
    script = "engine.sh" if name == "docker-20.10" else "modern-engine.sh"
    out = subprocess.run(["bash", str(ROOT / "scripts" / script), "env"], check=True,
                         capture_output=True, text=True).stdout
    env = dict(os.environ, DOCKER_BUILDKIT="1")
    env.update(re.findall(r"^export (\w+)='([^']*)'$", out, re.MULTILINE))
    env.setdefault("NIXDF_DOCKER", "/usr/bin/docker")
    if name != "docker-20.10":
        env["NIXDF_COMPAT"] = "builtin-frontend"
    return env


def _run(argv: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    done = subprocess.run(argv, env=env, input=stdin, text=True, capture_output=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def nixdf(context: Path, tag: str, env: dict[str, str], builder: str,
          *flags: str) -> tuple[float, str]:
    start = time.perf_counter()
    log = _run([sys.executable, "-m", "nixdf", "build", str(context / "Nixfile"), "--nix-image",
                builder, "--nixpkgs", str(context / "pkgs"), "-t", tag, "--progress", "plain",
                *flags], env)
    return time.perf_counter() - start, log


def built(log: str) -> int:
    return len(set(re.findall(r"building '(/nix/store/[^']+\.drv)'", log)))


def taken_mb(log: str) -> float:
    found = re.search(r"--nix-cache-from .*: took \d+ of the \d+ store paths the /nix cache "
                      r"lacked \(([\d.]+) (B|KiB|MiB|GiB)\)", log)
    if not found:
        return 0.0
    scale = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}[found.group(2)]
    return float(found.group(1)) * scale / 1e6


def layers(ref: str, env: dict[str, str]) -> list[str]:
    return json.loads(_run([env["NIXDF_DOCKER"], "image", "inspect", "-f",
                            "{{json .RootFS.Layers}}", ref], env).splitlines()[0])


def cache_mounts(env: dict[str, str]) -> set[str]:
    """The ids of the engine's cache-mount records (`docker system df -v`)."""
    out = _run([env["NIXDF_DOCKER"], "system", "df", "-v"], env)
    return set(re.findall(r"^(\w+)\s+exec\.cachemount\s", out, re.MULTILINE))


def measure(engine: str) -> dict[str, dict[str, float]]:
    env = engine_env(engine)
    docker = env["NIXDF_DOCKER"]
    run_id = uuid.uuid4().hex[:12]
    before = cache_mounts(env)
    builders: list[str] = []

    def build(context: Path, name: str, cache: str, *flags: str) -> tuple[float, str]:
        """nixdf build on the /nix cache ``cache`` of this run, the Nixfile tagged ``name``."""
        builder = f"nixdf-offline/nix:fresh-{cache}-{run_id}"
        if builder not in builders:
            _run([docker, "tag", BUILDER, builder], env)
            builders.append(builder)
        nixfile = context / "Nixfile"
        nixfile.write_text(re.sub(r'tag = "[^"]*"', f'tag = "{name}-{run_id}"',
                                  nixfile.read_text()))
        return nixdf(context, f"bench/fresh:{name}", env, builder, *flags)

    table: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        context = Path(tmp) / "v1"
        context.mkdir()
        prepare(context)
        set_versions(context, V1)
        seconds, log = build(context, "v1", "warm")
        table["v1"] = {"s": seconds, "built": built(log)}
        # The fresh runners check out the lock v1 left; the warm rebuild goes on in place.
        for name in ("fresh-plain", "fresh-seeded"):
            shutil.copytree(context, Path(tmp) / name)
        set_versions(context, V2)
        seconds, log = build(context, "warm", "warm")
        table["warm leaf rebuild"] = {"s": seconds, "built": built(log)}
        warm = layers("bench/fresh:warm", env)
        table["warm no-op"] = {"s": statistics.median(
            build(context, "warm", "warm")[0] for _ in range(3))}
        table["one-line Dockerfile no-op"] = {"s": one_line_noop(Path(tmp), env)}
        table["hand recipe, warm leaf rebuild"] = {"s": recipe_leaf_rebuild(Path(tmp), env)}
        for row, name, flags in (
                ("fresh, no option", "fresh-plain", ()),
                ("fresh, --nix-cache-from v1", "fresh-seeded",
                 ("--nix-cache-from", "bench/fresh:v1"))):
            fresh = Path(tmp) / name
            set_versions(fresh, V2)
            seconds, log = build(fresh, name, name, *flags)
            table[row] = {"s": seconds, "built": built(log), "MB taken": taken_mb(log),
                          "layers = warm's": float(layers(f"bench/fresh:{name}", env) == warm)}
        start = time.perf_counter()
        _run([docker, "build", "-q", "--no-cache", "-t", "bench/fresh:recipe", "-f", "-",
              str(context)], env, stdin=RECIPE)
        table["fresh, hand recipe"] = {"s": time.perf_counter() - start}
        _run([docker, "rmi", "bench/fresh:v1", "bench/fresh:warm", "bench/fresh:fresh-plain",
              "bench/fresh:fresh-seeded", "bench/fresh:recipe", "bench/fresh:recipe-warm",
              "bench/fresh:one-line", *builders], env)
    # This run's caches: the records that were not there before it (another build's that
    # appeared meanwhile and is in use is kept by the engine; one not in use rebuilds).
    for record in sorted(cache_mounts(env) - before):
        subprocess.run([docker, "builder", "prune", "-f", "--filter", f"id={record}"], env=env,
                       capture_output=True)
    return table


def _timed(argv: list[str], env: dict[str, str], stdin: str | None = None) -> float:
    start = time.perf_counter()
    _run(argv, env, stdin)
    return time.perf_counter() - start


def one_line_noop(tmp: Path, env: dict[str, str]) -> float:
    """A one-line Dockerfile's no-op build, median of five, on the engine's own client."""
    context = tmp / "one-line"
    context.mkdir()
    (context / "f").write_text("f\n")
    argv = [env["NIXDF_DOCKER"], "build", "-q", "-t", "bench/fresh:one-line", "-f", "-",
            str(context)]
    _timed(argv, env, ONE_LINE)
    return statistics.median(_timed(argv, env, ONE_LINE) for _ in range(5))


def recipe_leaf_rebuild(tmp: Path, env: dict[str, str]) -> float:
    """The hand recipe's warm rebuild of the leaf change: v1 built (cached or not), then v2."""
    context = tmp / "recipe-warm"
    context.mkdir()
    prepare(context)
    set_versions(context, V1)
    argv = [env["NIXDF_DOCKER"], "build", "-q", "-t", "bench/fresh:recipe-warm", "-f", "-",
            str(context)]
    _run(argv, env, RECIPE)
    set_versions(context, V2)
    return _timed(argv, env, RECIPE)


def report(results: dict[str, dict[str, dict[str, float]]],
           baseline: dict[str, dict[str, dict[str, float]]] | None = None) -> None:
    engines = list(results)
    print("| scenario | " + " | ".join(engines) + " |")
    print("|---" * (len(engines) + 1) + "|")
    for row in ROWS:
        cells = []
        for engine in engines:
            values = results[engine][row]
            cell = f"{values['s']:.1f} s"
            if "built" in values:
                cell += f", {values['built']:.0f} built"
            if values.get("MB taken"):
                cell += f", {values['MB taken']:.1f} MB taken"
            if "layers = warm's" in values:
                cell += ", layers = warm's" if values["layers = warm's"] else ", layers differ"
            old = (baseline or {}).get(engine, {}).get(row, {}).get("s")
            if old:
                cell += f" ({values['s'] / old:.2f}× baseline)"
            cells.append(cell)
        print(f"| {row} | " + " | ".join(cells) + " |")
    for engine in engines:
        seeded = results[engine]["fresh, --nix-cache-from v1"]["s"]
        warm = results[engine]["warm leaf rebuild"]["s"]
        verdict = "PASS" if seeded <= 2 * warm else "FAIL"
        print(f"| target {engine}: fresh with --nix-cache-from ≤ 2× warm leaf rebuild | "
              f"{seeded:.1f} / {warm:.1f} = {seeded / warm:.2f}× **{verdict}** |")
        for name, row, reference, most in (
                ("no-op nixdf build ≤ 1.5× one-line no-op", "warm no-op",
                 "one-line Dockerfile no-op", 1.5),
                ("warm leaf rebuild ≤ 0.35× the hand recipe's", "warm leaf rebuild",
                 "hand recipe, warm leaf rebuild", 0.35)):
            ours, theirs = results[engine][row]["s"], results[engine][reference]["s"]
            verdict = "PASS" if ours <= most * theirs else "FAIL"
            print(f"| target {engine}: {name} | {ours:.2f} / {theirs:.2f} = "
                  f"{ours / theirs:.2f}× **{verdict}** |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path)
    parser.add_argument("--baseline", type=Path)
    parser.add_argument("--engines", default="docker-20.10,docker-26")
    args = parser.parse_args()
    results = {engine: measure(engine) for engine in args.engines.split(",")}
    report(results, json.loads(args.baseline.read_text()) if args.baseline else None)
    if args.save:
        args.save.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

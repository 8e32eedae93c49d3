"""The fuzz inputs and the pipeline they go through: parse → evaluate → spec → plan → render.

Inputs are valid Nixfiles (the examples, generated buildImage calls), near-valid ones
(mutations and splices of those) and garbage. Every input must either render or be
rejected with a located NixdfError; anything else is a failure, saved to a file.
tests/test_fuzz.py runs a bounded sample; benchmarks/fuzz.py runs millions.
"""

from __future__ import annotations

import random
import traceback
from collections import Counter
from pathlib import Path

from nixdf.errors import NixdfError
from nixdf.evaluate import evaluation, find_images
from nixdf.parse import parse
from nixdf.plan import Nixpkgs, PlanOptions, plan
from nixdf.render import render
from nixdf.spec import to_specs

ROOT = Path(__file__).resolve().parents[1]

TOKENS = [
    "{", "}", "[", "]", "(", ")", ";", ":", "=", ".", ",", "?", "@", "...", "//", "++", "+",
    "-", "*", "/", "!", "==", "!=", "<", ">", "&&", "||", "->", "|>", "<|", "let", "in", "rec",
    "with", "inherit", "if", "then", "else", "assert", "or", "\"", "''", "${", "$", "\\", "#",
    "/*", "*/", "\n", " ", "x", "pkgs", "buildImage", "config", "Cmd", "name", "\"a\"", "1",
    "./p", "<nixpkgs>", "null", "true", "[ \"a\" ]", "pkgs.hello", "lib.optional true \"x\"",
    "buildLayeredImage", "contents", "runAsRoot", "''\n  x\n''", "Env", "\"K=V\"", "1.5",
]
KEYS = ["Cmd", "Entrypoint", "Env", "WorkingDir", "Volumes", "ExposedPorts", "Labels", "User",
        "StopSignal", "Healthcheck", "OnBuild", "Shell", "entrypoint", "Memory", "Bogus"]
VALUES = ['"a"', '[ "a" "b" ]', '{ "/d" = { }; }', '"${pkgs.hello}/bin/x"', "1", "null",
          '[ "K=V" ]', '{ Test = [ "CMD" "x" ]; Interval = 1000000000; }', '"a\\nb"',
          'lib.optionals true [ "x" ]', "pkgs.hello", '{ "80/tcp" = { }; }', '"$HOME"']


def seeds() -> list[str]:
    found = [p.read_text() for p in sorted(ROOT.glob("examples/*/Nixfile"))]
    found += [p.read_text() for p in sorted(ROOT.glob("tests/data/parse/*.nix"))]
    return found


def generated(rng: random.Random) -> str:
    config = "; ".join(f"{rng.choice(KEYS)} = {rng.choice(VALUES)}"
                       for _ in range(rng.randint(0, 4)))
    builder = rng.choice(["buildImage", "pkgs.dockerTools.buildLayeredImage",
                          "dockerTools.streamLayeredImage"])
    extra = rng.choice(["", 'tag = "1";', "contents = pkgs.hello;", 'runAsRoot = "mkdir /d";',
                        'fromImage = "debian";', "uid = 1;", "maxLayers = 5;"])
    return (f"{{ pkgs, lib, ... }}: {{ a = {builder} {{ name = \"a\"; {extra} "
            f"config = {{ {config}; }}; }}; }}")


def mutated(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 6)):
        where = rng.randint(0, len(chars))
        action = rng.random()
        if action < 0.4 and chars:
            del chars[min(where, len(chars) - 1):min(where, len(chars) - 1) + rng.randint(1, 8)]
        elif action < 0.8:
            chars[where:where] = list(rng.choice(TOKENS))
        else:
            chars[where:where] = list(chr(rng.randint(0, 0x2FF)))
    return "".join(chars)


def make_input(rng: random.Random, corpus: list[str]) -> tuple[str, str]:
    kind = rng.random()
    if kind < 0.25:
        return "valid", generated(rng)
    if kind < 0.75:
        base = rng.choice(corpus) if rng.random() < 0.5 else generated(rng)
        return "near-valid", mutated(rng, base)
    if kind < 0.85:
        a, b = rng.choice(corpus), rng.choice(corpus)
        return "near-valid", a[: rng.randint(0, len(a))] + b[rng.randint(0, len(b)):]
    if kind < 0.95:
        return "garbage", "".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 40)))
    return "garbage", bytes(rng.randbytes(rng.randint(0, 200))).decode("utf-8", "replace")


OPTIONS = PlanOptions("nix:pinned", Nixpkgs("context", context_path="pkgs"), "Nixfile",
                      ("Nixfile",), "docker-20.10")


def pipeline(text: str) -> str:
    """"rendered", "rejected", or raises: a rejection must carry its location."""
    try:
        tree = parse(text, "Nixfile")
        with evaluation(tree.span):
            specs = to_specs(find_images(tree))
        render(plan(specs, OPTIONS))
    except NixdfError as err:
        if err.span is None:
            raise AssertionError(f"rejected without a location: {err}") from None
        str(err.with_source(text))
        return "rejected"
    return "rendered"


def worker(args: tuple[int, int, int, str]) -> tuple[Counter[str], list[str]]:
    seed, count, index, failures = args
    rng = random.Random(seed * 1000 + index)
    corpus = seeds()
    counts: Counter[str] = Counter()
    saved: list[str] = []
    for number in range(count):
        kind, text = make_input(rng, corpus)
        counts[kind] += 1
        try:
            counts[pipeline(text)] += 1
        except BaseException:
            counts["failed"] += 1
            path = Path(failures) / f"failure-{index}-{number}.nix"
            path.write_text(text + "\n# " + traceback.format_exc().replace("\n", "\n# "),
                            encoding="utf-8", errors="replace")
            saved.append(str(path))
    return counts, saved

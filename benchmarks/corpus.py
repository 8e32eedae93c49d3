"""The Nix parser against a corpus of other people's .nix files: verdicts and speed.

The corpus is the repositories pinned in benchmarks/corpus.toml; their files never enter
this repository. Needs Python 3.11+ (tomllib) and, for `agree` and `speed`, Nix's own
`nix-instantiate` (Debian's Nix 2.8 at /usr/bin/nix-instantiate) as the reference.

    python benchmarks/corpus.py fetch [--dir DIR] [--mirror-root /work/.mirror]
    python benchmarks/corpus.py agree [--dir DIR] [--jobs N] [--show K] [--mutate N] [--trees]
    python benchmarks/corpus.py functions [--dir DIR] [EXTRA_DIR ...]
    python benchmarks/corpus.py speed [--dir DIR] [--repeat R] [--nixdf PATH] [--versus PATH]
                                      [--tree-sitter-python PATH] [--save F] [--baseline F]

fetch   writes every pinned repo's *.nix files to DIR/<owner>+<name>/ (DIR defaults to
        $NIXDF_CORPUS, else ~/.cache/nixdf-corpus), from a local git mirror when there is
        one, else from a blob-less clone; a repo already at its pinned commit is skipped.
agree   compares nixdf.parse's accept/reject verdict with `nix-instantiate --parse` on
        every file, and with --mutate N on N seeded truncations of corpus files too;
        --trees also compares, file by file, the whole syntax tree with the one Nix
        prints (tests/nixshow.py prints nixdf's the same way).
        Nix 2.8 also rejects files for reasons a parser cannot judge the same way
        (undefined variables, the newer pipe operators); those are counted apart.
        Nix's verdicts are cached in DIR/.reference.json. Exits 1 on a disagreement on a
        grammar-decidable file, or on any exception other than NixSyntaxError.
speed   times nixdf.parse in-process, nix-instantiate --parse per file (raw and less
        process start-up), tree-sitter-nix when available, and a cold `nixdf render`
        against a bare interpreter start; prints one markdown table. --save writes the
        numbers as JSON, --baseline prints the ratio to an earlier --save. --versus
        names another nixdf install (its console script, e.g. an older version's
        venv/bin/nixdf): it and --nixdf (each with the Python of its #! line) parse
        the corpus and render cold in alternating runs, each parse in a process of
        its own, which on a busy machine compares far better than two runs apart.

functions  lists the builtins and lib functions that image builder calls (buildImage,
        buildLayeredImage, …) in the corpus apply, and whether nixdf's evaluator has them.

tree-sitter-nix is optional and kept out of the project's environment: install it in a
venv of its own (python -m venv /work/.venv-ts && /work/.venv-ts/bin/pip install
tree-sitter tree-sitter-nix) and pass --tree-sitter-python /work/.venv-ts/bin/python.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = Path(__file__).with_name("corpus.toml")
NIX_INSTANTIATE = os.environ.get("NIXDF_NIX_INSTANTIATE", "/usr/bin/nix-instantiate")
STAMP = ".nixdf-corpus-commit"
REFERENCE_CACHE = ".reference.json"
# Bump when the way a reference verdict is obtained or classified changes, so stale
# cache entries are not trusted.
REFERENCE_VERSION = 2

# Nix 2.8 rejects these files after (or instead of) deciding the grammar, so its
# verdict says nothing about whether a pure parser should accept them. Nix 2.8 also
# segfaults on a few inputs (e.g. its own tests/functional/lang/parse-fail-eof-in-string.nix).
UNDECIDABLE = ("undefined variable", "pipe operator", "nix crashed")


@dataclass(frozen=True)
class Repo:
    name: str  # owner/name
    commit: str
    why: str = ""

    @property
    def slug(self) -> str:
        return self.name.replace("/", "+")


@dataclass(frozen=True)
class NixFile:
    repo: str  # slug
    rel: str  # path inside the repo
    path: Path

    @property
    def label(self) -> str:
        return f"{self.repo}/{self.rel}"


def load_manifest(path: Path = MANIFEST) -> list[Repo]:
    data = tomllib.loads(path.read_text())
    return [Repo(r["repo"], r["commit"], r.get("why", "")) for r in data["repo"]]


def default_dir() -> Path:
    return Path(os.environ.get("NIXDF_CORPUS") or Path.home() / ".cache" / "nixdf-corpus")


def corpus_files(root: Path, repos: list[Repo]) -> list[NixFile]:
    found: list[NixFile] = []
    for repo in repos:
        base = root / repo.slug
        if not (base / STAMP).is_file():
            sys.exit(f"{base} is missing or incomplete: run `corpus.py fetch --dir {root}` first")
        for path in sorted(base.rglob("*.nix")):
            # A symlinked .nix would count its target twice, or dangle outside the archive.
            if path.is_symlink() or not path.is_file():
                continue
            found.append(NixFile(repo.slug, path.relative_to(base).as_posix(), path))
    return found


# ---------------------------------------------------------------------------- fetch


def _git(args: list[str]) -> None:
    subprocess.run(["git", *args], check=True)


def _archive_nix(git_dir: Path, commit: str, dest: Path) -> None:
    archive = subprocess.Popen(["git", "-C", str(git_dir), "archive", "--format=tar", commit],
                               stdout=subprocess.PIPE)
    untar = subprocess.run(["tar", "-x", "-C", str(dest), "--wildcards", "*.nix"],
                           stdin=archive.stdout)
    assert archive.stdout is not None
    archive.stdout.close()
    if archive.wait() != 0 or untar.returncode != 0:
        raise RuntimeError(f"git archive {commit} from {git_dir} failed")


def _mirror(mirror_root: Path, repo: Repo) -> Path | None:
    for candidate in (mirror_root / repo.slug / "repo", mirror_root / repo.slug):
        has_commit = subprocess.run(
            ["git", "-C", str(candidate), "cat-file", "-e", f"{repo.commit}^{{commit}}"],
            capture_output=True) if candidate.is_dir() else None
        if has_commit is not None and has_commit.returncode == 0:
            return candidate
    return None


def fetch_repo(repo: Repo, root: Path, mirror_root: Path) -> str:
    dest = root / repo.slug
    stamp = dest / STAMP
    if stamp.is_file() and stamp.read_text().strip() == repo.commit:
        return "cached"
    root.mkdir(parents=True, exist_ok=True)
    # Extract beside the destination and rename, so an interrupted fetch never leaves a
    # half-written repo that a later run would mistake for a complete one.
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{repo.slug}.") as tmp:
        staging = Path(tmp) / "files"
        staging.mkdir()
        mirror = _mirror(mirror_root, repo)
        if mirror is not None:
            _archive_nix(mirror, repo.commit, staging)
            source = f"mirror {mirror}"
        else:
            clone = Path(tmp) / "clone.git"
            url = f"https://github.com/{repo.name}"
            _git(["clone", "--quiet", "--bare", "--filter=blob:none", url, str(clone)])
            known = subprocess.run(["git", "-C", str(clone), "cat-file", "-e",
                                    f"{repo.commit}^{{commit}}"], capture_output=True)
            if known.returncode != 0:  # pinned commit no longer on a branch
                _git(["-C", str(clone), "fetch", "--quiet", "--filter=blob:none", "origin",
                      repo.commit])
            _archive_nix(clone, repo.commit, staging)
            source = f"clone {url}"
        (staging / STAMP).write_text(repo.commit + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    return source


def cmd_fetch(args: argparse.Namespace) -> int:
    repos = load_manifest(args.manifest)
    total_files = total_bytes = 0
    print(f"corpus: {args.dir}")
    for repo in repos:
        source = fetch_repo(repo, args.dir, args.mirror_root)
        files = corpus_files(args.dir, [repo])
        size = sum(f.path.stat().st_size for f in files)
        total_files += len(files)
        total_bytes += size
        print(f"  {repo.name:32} {repo.commit[:12]} {len(files):6} files {size / 1e6:8.2f} MB"
              f"  ({source})")
    print(f"{len(repos)} repos, {total_files} files, {total_bytes / 1e6:.2f} MB")
    return 0


# ----------------------------------------------------------------------- reference


@dataclass
class Verdict:
    ok: bool
    message: str = ""  # first line of the error, empty when accepted
    line: int = 0
    column: int = 0
    kind: str = "grammar"  # for a rejection: "grammar" or one of UNDECIDABLE

    def where(self) -> str:
        return f"{self.line}:{self.column}" if self.line else "?"


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_AT = re.compile(r"^\s*at (.*):(\d+):(\d+):?\s*$")


def nix_env(state: Path) -> dict[str, str]:
    # A throwaway home and state dir: --parse needs no store, but Nix still opens
    # one and reads user config, and neither should depend on (or touch) the machine's.
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(state / "home"),
        "NIX_STATE_DIR": str(state / "state"),
        "NIX_LOG_DIR": str(state / "log"),
        "NIX_CONF_DIR": str(state / "conf"),
        "XDG_CACHE_HOME": str(state / "cache"),
        "XDG_CONFIG_HOME": str(state / "config"),
        "NIX_PATH": "",
        "LC_ALL": "C.UTF-8",
    }


def nix_command(path: Path) -> list[str]:
    # dummy:// keeps Nix away from the store database: nothing is built or copied.
    return [NIX_INSTANTIATE, "--store", "dummy://", "--parse", str(path)]


def reference_verdict(path: Path, env: dict[str, str]) -> Verdict:
    done = subprocess.run(nix_command(path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env=env, timeout=300)
    if done.returncode == 0:
        return Verdict(True)
    if done.returncode < 0:
        return Verdict(False, f"killed by signal {-done.returncode}", kind="nix crashed")
    lines = [_ANSI.sub("", x) for x in done.stderr.decode("utf-8", "replace").splitlines()]
    first = next((x.strip() for x in lines if x.strip()), f"exit status {done.returncode}")
    verdict = Verdict(False, first.removeprefix("error: "))
    for text in lines:
        if (m := _AT.match(text)) and Path(m[1]) == path:
            verdict.line, verdict.column = int(m[2]), int(m[3])
            break
    # The absolute temp or corpus path in e.g. "already defined at /x/y.nix:1:3" would
    # make cached messages differ between corpus dirs.
    verdict.message = verdict.message.replace(str(path), path.name)
    verdict.kind = classify(verdict, path.read_bytes())
    return verdict


def classify(verdict: Verdict, data: bytes) -> str:
    if "undefined variable" in verdict.message:
        # Nix binds variables only after the whole file has parsed, so the grammar was fine.
        return "undefined variable"
    if "syntax error" in verdict.message and verdict.line:
        # Nix 2.8 lexes `|>` and `<|` as an invalid `|`; its column counts bytes.
        lines = data.split(b"\n")
        if verdict.line <= len(lines):
            text = lines[verdict.line - 1]
            near = text[max(verdict.column - 3, 0):verdict.column + 2]
            if b"|>" in near or b"<|" in near:
                return "pipe operator"
    return "grammar"


class ReferenceCache:
    """Nix's verdicts keyed by repo+path+content hash, so reruns skip 7000 processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, object]] = {}
        if path.is_file():
            data = json.loads(path.read_text())
            if data.get("version") == REFERENCE_VERSION and data.get("nix") == nix_version():
                self.entries = data["entries"]

    @staticmethod
    def key(label: str, data: bytes) -> str:
        return f"{label}@{hashlib.sha1(data).hexdigest()}"

    def get(self, key: str) -> Verdict | None:
        entry = self.entries.get(key)
        return Verdict(**entry) if entry is not None else None  # type: ignore[arg-type]

    def put(self, key: str, verdict: Verdict) -> None:
        self.entries[key] = verdict.__dict__

    def save(self) -> None:
        data = {"version": REFERENCE_VERSION, "nix": nix_version(), "entries": self.entries}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True))
        tmp.replace(self.path)


_NIX_VERSION: str | None = None


def nix_version() -> str:
    global _NIX_VERSION
    if _NIX_VERSION is None:
        out = subprocess.run([NIX_INSTANTIATE, "--version"], capture_output=True, text=True)
        _NIX_VERSION = out.stdout.strip() or "unknown"
    return _NIX_VERSION


# --------------------------------------------------------------------------- agree


@dataclass
class Case:
    label: str
    path: Path  # where Nix reads it
    data: bytes
    reference: Verdict | None = None
    nixdf: Verdict | None = None
    crash: str | None = None


def nixdf_verdict(text: str, label: str) -> tuple[Verdict | None, str | None]:
    import nixdf

    try:
        nixdf.parse(text, label)
    except nixdf.NixSyntaxError as err:
        return Verdict(False, err.message, err.line, err.column), None
    except Exception as err:  # anything but NixSyntaxError is the bug this hunts
        frames = traceback.extract_tb(err.__traceback__)[-3:]
        where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}"
                            for f in reversed(frames))
        return None, f"{type(err).__name__}: {err} [{where}]"
    return Verdict(True), None


def decode(data: bytes) -> str:
    # Nix reads bytes; a stray non-UTF-8 byte (Latin-1 comments exist in the wild) must
    # not stop the comparison, and surrogateescape keeps offsets one char per byte there.
    return data.decode("utf-8", "surrogateescape")


def judge(cases: list[Case], cache: ReferenceCache, jobs: int) -> None:
    """Fill in both verdicts: Nix in a thread pool, nixdf meanwhile on this thread."""
    with tempfile.TemporaryDirectory(prefix="nixdf-corpus-nix-") as state:
        env = nix_env(Path(state))
        pending: dict[int, Future[Verdict]] = {}
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for i, case in enumerate(cases):
                case.reference = cache.get(cache.key(case.label, case.data))
                if case.reference is None:
                    pending[i] = pool.submit(reference_verdict, case.path, env)
            for case in cases:
                case.nixdf, case.crash = nixdf_verdict(decode(case.data), case.label)
            for i, future in pending.items():
                verdict = future.result()
                cases[i].reference = verdict
                cache.put(cache.key(cases[i].label, cases[i].data), verdict)
    cache.save()


@dataclass
class Tally:
    files: int = 0
    bytes: int = 0
    both_accept: int = 0
    both_reject: int = 0
    same_line: int = 0  # of both_reject: nixdf points at the line Nix points at
    same_column: int = 0  # ... and at the same column
    only_accept: list[Case] = field(default_factory=list)  # nixdf accepts, Nix rejects
    only_reject: list[Case] = field(default_factory=list)  # nixdf rejects, Nix accepts
    crashes: list[Case] = field(default_factory=list)
    # Per undecidable kind: [nixdf accepts, nixdf rejects] and the rejected cases.
    undecidable: dict[str, list[int]] = field(
        default_factory=lambda: {k: [0, 0] for k in UNDECIDABLE})
    undecidable_rejected: list[Case] = field(default_factory=list)

    def add(self, case: Case) -> None:
        ref, mine = case.reference, case.nixdf
        assert ref is not None
        self.files += 1
        self.bytes += len(case.data)
        if case.crash is not None:
            self.crashes.append(case)
            return
        assert mine is not None
        if not ref.ok and ref.kind != "grammar":
            self.undecidable[ref.kind][0 if mine.ok else 1] += 1
            if not mine.ok:
                self.undecidable_rejected.append(case)
        elif ref.ok and mine.ok:
            self.both_accept += 1
        elif not ref.ok and not mine.ok:
            self.both_reject += 1
            self.same_line += ref.line == mine.line
            self.same_column += (ref.line, ref.column) == (mine.line, mine.column)
        elif mine.ok:
            self.only_accept.append(case)
        else:
            self.only_reject.append(case)

    @property
    def failed(self) -> bool:
        return bool(self.only_accept or self.only_reject or self.crashes)


def print_tally(title: str, tally: Tally) -> None:
    print(f"\n| {title} | count |\n| --- | ---: |")
    rows = [
        ("files", f"{tally.files}"),
        ("bytes", f"{tally.bytes:,}"),
        ("both accept", f"{tally.both_accept}"),
        ("both reject", f"{tally.both_reject}"),
        ("… of which nixdf reports Nix's line", f"{tally.same_line}"),
        ("… and Nix's line:column", f"{tally.same_column}"),
        ("nixdf-only accept (Nix rejects)", f"{len(tally.only_accept)}"),
        ("nixdf-only reject (Nix accepts)", f"{len(tally.only_reject)}"),
        ("nixdf crashes (not NixSyntaxError)", f"{len(tally.crashes)}"),
    ]
    for kind, (accepted, rejected) in tally.undecidable.items():
        rows.append((f"not decidable by Nix 2.8, {kind}: nixdf accepts / rejects",
                     f"{accepted} / {rejected}"))
    for name, value in rows:
        print(f"| {name} | {value} |")


def _one_line(text: str, width: int = 150) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def show_cases(heading: str, cases: list[Case], limit: int) -> None:
    if not cases or limit <= 0:
        return
    print(f"\n{heading} ({len(cases)}, first {min(limit, len(cases))}):")
    for case in cases[:limit]:
        ref, mine = case.reference, case.nixdf
        assert ref is not None
        print(f"- {case.label}")
        print(f"    nix   : {'accepts' if ref.ok else f'{ref.where()} {_one_line(ref.message)}'}")
        if case.crash is not None:
            print(f"    nixdf : CRASH {_one_line(case.crash, 300)}")
        else:
            assert mine is not None
            print(f"    nixdf : "
                  f"{'accepts' if mine.ok else f'{mine.where()} {_one_line(mine.message)}'}")


_TOKEN = re.compile(
    r"\s+|[A-Za-z_][A-Za-z0-9_'-]*|[0-9]+(?:\.[0-9]*)?|\$\{|''|//|\+\+|==|!=|<=|>=|&&|"
    r"\|\||->|\|>|<\||\.\.\.|.", re.S)


def truncation(text: str, rng: random.Random) -> str:
    """A prefix of ``text`` ending at a token boundary (a lexer-ish one: strings and
    comments are not understood, which is fine, since cutting inside them is a case too)."""
    ends = [m.end() for m in _TOKEN.finditer(text)][:-1]
    return text[:rng.choice(ends)] if ends else ""


def mutants(files: list[NixFile], count: int, seed: int, tmp: Path) -> list[Case]:
    rng = random.Random(seed)
    chosen = rng.sample(files, min(count, len(files)))
    cases: list[Case] = []
    for f in chosen:
        cut = truncation(decode(f.path.read_bytes()), rng)
        data = cut.encode("utf-8", "surrogateescape")
        # Same relative position as the original, so relative paths in the text resolve
        # the same way for Nix (--parse only makes them absolute; none need exist).
        path = tmp / f.repo / f.rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        cases.append(Case(f"{f.label} (cut at {len(cut)} of {f.path.stat().st_size})", path,
                          data))
    return cases


def nix_tree(path: Path, env: dict[str, str]) -> str:
    done = subprocess.run(nix_command(path), capture_output=True, env=env, timeout=300)
    return done.stdout.decode("utf-8", "surrogateescape").strip()


def tree_difference(case: Case, theirs: str) -> str | None:
    """None when nixdf's syntax tree prints as Nix's, else both printouts, shortened.

    The printer and the normalisation are the parser tests' own (tests/nixshow.py):
    attribute order and where indented-string literals split carry no meaning.
    """
    from nixdf import parse
    from tests.nixshow import canonical, merge_literals, to_nix_parse_format

    base = str(case.path.parent)
    try:
        ours = to_nix_parse_format(parse(decode(case.data), case.label), base)
        if ours == theirs:
            return None
        ours, theirs = merge_literals(ours), merge_literals(theirs)
        if ours == theirs or canonical(ours, base) == canonical(theirs, base):
            return None
    except Exception as err:  # a printout nixdf cannot read back is a difference too
        return f"cannot compare: {type(err).__name__}: {_one_line(str(err))}"
    cut = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b),
               min(len(ours), len(theirs)))
    return f"ours …{ours[max(cut - 60, 0):cut + 60]}… / nix …{theirs[max(cut - 60, 0):cut + 60]}…"


def compare_trees(cases: list[Case], jobs: int) -> list[tuple[Case, str]]:
    """Every file both accept, its whole syntax tree against Nix's ``--parse`` output."""
    sys.path.insert(0, str(ROOT))  # tests/ is not installed with nixdf
    from tests.nixshow import HOME

    accepted = [c for c in cases if c.reference and c.reference.ok and c.nixdf and c.nixdf.ok]
    differences: list[tuple[Case, str]] = []
    with tempfile.TemporaryDirectory(prefix="nixdf-corpus-nix-") as state:
        env = {**nix_env(Path(state)), "HOME": HOME}  # what `~/x` resolves to on both sides
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            printed = pool.map(lambda c: nix_tree(c.path, env), accepted)
            for case, theirs in zip(accepted, printed, strict=True):
                difference = tree_difference(case, theirs)
                if difference is not None:
                    differences.append((case, difference))
    # Nix 2.8 prints a string as a C string, so its printout stops at a NUL byte
    # (its own tests/functional/lang/eval-fail-string-nul-*.nix): not a tree difference.
    nul = [(c, d) for c, d in differences if b"\0" in c.data]
    differences = [(c, d) for c, d in differences if b"\0" not in c.data]
    print(f"\n| syntax trees (--trees) | count |\n| --- | ---: |\n"
          f"| compared (both accept) | {len(accepted)} |\n"
          f"| same tree as Nix | {len(accepted) - len(differences) - len(nul)} |\n"
          f"| different, Nix 2.8 printing a NUL byte as the end of the string | {len(nul)} |\n"
          f"| different | {len(differences)} |")
    return differences


def cmd_agree(args: argparse.Namespace) -> int:
    if not Path(NIX_INSTANTIATE).exists():
        sys.exit(f"{NIX_INSTANTIATE} not found (set NIXDF_NIX_INSTANTIATE)")
    started = time.perf_counter()
    files = corpus_files(args.dir, load_manifest(args.manifest))
    cache = ReferenceCache(args.dir / REFERENCE_CACHE)
    cases = [Case(f.label, f.path, f.path.read_bytes()) for f in files]
    judge(cases, cache, args.jobs)
    tally = Tally()
    for case in cases:
        tally.add(case)
    print(f"reference: {nix_version()} --parse; nixdf from {_nixdf_origin()}")
    print_tally("corpus files", tally)
    failed = tally.failed
    if args.mutate:
        with tempfile.TemporaryDirectory(prefix="nixdf-corpus-mutants-") as tmp:
            cut = mutants(files, args.mutate, args.seed, Path(tmp))
            judge(cut, cache, args.jobs)
        mutant_tally = Tally()
        for case in cut:
            mutant_tally.add(case)
        print_tally(f"truncated copies (--mutate {args.mutate}, seed {args.seed})",
                    mutant_tally)
        failed = failed or mutant_tally.failed
    differences = compare_trees(cases, args.jobs) if args.trees else []
    failed = failed or bool(differences)
    for case, difference in differences[:args.show]:
        print(f"- {case.label}\n    {difference}")
    show_cases("nixdf-only reject (Nix accepts)", tally.only_reject, args.show)
    show_cases("nixdf-only accept (Nix rejects)", tally.only_accept, args.show)
    show_cases("crashes", tally.crashes, args.show)
    show_cases("nixdf rejects a file Nix 2.8 could not judge", tally.undecidable_rejected,
               args.show)
    if args.mutate:
        show_cases("truncated copies, nixdf-only reject", mutant_tally.only_reject, args.show)
        show_cases("truncated copies, nixdf-only accept", mutant_tally.only_accept, args.show)
        show_cases("truncated copies, crashes", mutant_tally.crashes, args.show)
    print(f"\n{time.perf_counter() - started:.1f} s; {'FAIL' if failed else 'ok'}")
    return 1 if failed else 0


def _nixdf_origin() -> str:
    import nixdf

    return str(Path(nixdf.__file__).parent)


# --------------------------------------------------------------------------- speed


TREE_SITTER_SNIPPET = r"""
import json, sys, time
import tree_sitter, tree_sitter_nix
from importlib.metadata import version
req = json.load(sys.stdin)
texts = [open(p, "rb").read() for p in req["paths"]]
parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_nix.language()))
best, errors = float("inf"), []
for _ in range(req["repeat"]):
    start = time.perf_counter()
    trees = [parser.parse(t) for t in texts]
    best = min(best, time.perf_counter() - start)
    errors = [i for i, t in enumerate(trees) if t.root_node.has_error]
    del trees
print(json.dumps({"seconds": best, "errors": errors,
                  "version": version("tree-sitter") + "/" + version("tree-sitter-nix")}))
"""


@dataclass
class Metric:
    name: str
    value: float | str
    unit: str


# One timed pass of nixdf.parse over the files named on stdin, in whatever interpreter
# (and so whatever nixdf) runs it.
PARSE_SNIPPET = r"""
import json, sys, time
import nixdf
paths = json.load(sys.stdin)
texts = [(p, open(p, "rb").read().decode("utf-8", "surrogateescape")) for p in paths]
start = time.perf_counter()
for label, text in texts:
    try:
        nixdf.parse(text, label)
    except Exception:
        pass
print(time.perf_counter() - start)
"""


def time_nixdf_apart(pythons: dict[str, str], files: list[NixFile], rounds: int
                     ) -> dict[str, list[float]]:
    """Seconds per interpreter to parse ``files`` with its own nixdf, one pass per
    round, the interpreters taking turns within each round, so that a noisy
    neighbour slows both alike and a round's two passes can be compared."""
    request = json.dumps([str(f.path) for f in files])
    seconds: dict[str, list[float]] = {name: [] for name in pythons}
    for _ in range(rounds):
        for name, python in pythons.items():
            done = subprocess.run([python, "-c", PARSE_SNIPPET], input=request,
                                  capture_output=True, text=True, cwd=tempfile.gettempdir())
            if done.returncode != 0:
                sys.exit(f"{python} could not time nixdf.parse:\n{done.stderr[-2000:]}")
            seconds[name].append(float(done.stdout))
    return seconds


def time_nixdf(texts: list[tuple[str, str]], repeat: int) -> float:
    import nixdf

    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for label, text in texts:
            try:
                nixdf.parse(text, label)
            except Exception:  # verdicts are `agree`'s business; this only times
                pass
        best = min(best, time.perf_counter() - start)
    return best


def time_nix(files: list[NixFile], env: dict[str, str], empty: Path,
             startups: int = 30) -> tuple[float, float, list[NixFile]]:
    """Total seconds for one process per file, the median start-up (a trivial file), and
    the files Nix accepted."""

    def once(path: Path) -> bool:
        return subprocess.run(nix_command(path), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=env).returncode == 0

    startup: list[float] = []
    for _ in range(startups):
        start = time.perf_counter()
        once(empty)
        startup.append(time.perf_counter() - start)
    accepted: list[NixFile] = []
    start = time.perf_counter()
    for f in files:
        if once(f.path):
            accepted.append(f)
    return time.perf_counter() - start, statistics.median(startup), accepted


def time_nix_batched(files: list[NixFile], env: dict[str, str], repeat: int
                     ) -> tuple[float, int]:
    """Best seconds to parse ``files`` given as arguments of a few processes, and how many.

    Start-up (~35 ms) dwarfs parsing (~0.3 ms a file) and varies by more than that, so
    subtracting it from one-process-per-file time leaves noise; one process parsing many
    files measures the parser itself. Only accepted files: Nix stops at the first error.
    """
    batches: list[list[str]] = [[]]
    length = 0
    for f in files:
        if length > 500_000:  # a quarter of the usual 2 MB ARG_MAX: few start-ups, no E2BIG
            batches.append([])
            length = 0
        batches[-1].append(str(f.path))
        length += len(str(f.path)) + 1
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for batch in batches:
            done = subprocess.run(nix_command(Path(batch[0]))[:-1] + batch,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
            if done.returncode != 0:
                sys.exit(f"nix-instantiate rejected a batch it accepted file by file:\n"
                         f"{done.stderr.decode()[-2000:]}")
        best = min(best, time.perf_counter() - start)
    return best, len(batches)


def time_tree_sitter(python: str | None, files: list[NixFile], repeat: int
                     ) -> dict[str, object] | None:
    request = json.dumps({"paths": [str(f.path) for f in files], "repeat": repeat})
    argv = [python or sys.executable, "-c", TREE_SITTER_SNIPPET]
    done = subprocess.run(argv, input=request, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        print(f"tree-sitter-nix skipped ({argv[0]}): {last}", file=sys.stderr)
        return None
    return json.loads(done.stdout)


def interpreter_of(script: str) -> str:
    """The Python a console script runs on, from its shebang; this one if unreadable."""
    try:
        with open(script, "rb") as fh:
            first = fh.readline().decode().strip()
    except (OSError, UnicodeDecodeError):
        return sys.executable
    parts = first.removeprefix("#!").split()
    if parts and Path(parts[0]).name == "env" and len(parts) > 1:
        parts = [shutil.which(parts[-1]) or parts[-1]]
    # A pyenv shim or wrapper shell script has no python on its #! line.
    return parts[0] if first.startswith("#!") and parts and "python" in parts[0] else (
        sys.executable)


def time_cold(argvs: dict[str, list[str]], runs: int) -> dict[str, float]:
    # Alternate the commands so a noisy neighbour slows them alike.
    samples: dict[str, list[float]] = {name: [] for name in argvs}
    for _ in range(runs):
        for name, argv in argvs.items():
            start = time.perf_counter()
            done = subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
            samples[name].append(time.perf_counter() - start)
            if done.returncode != 0:
                sys.exit(f"failed: {' '.join(argv)}\n{done.stderr.decode()[-2000:]}")
    return {name: statistics.median(values) for name, values in samples.items()}


def measure(args: argparse.Namespace) -> list[Metric]:
    files = corpus_files(args.dir, load_manifest(args.manifest))
    texts = [(f.label, decode(f.path.read_bytes())) for f in files]
    size = sum(f.path.stat().st_size for f in files)
    mb, n = size / 1e6, len(files)
    metrics = [Metric("corpus files", n, "files"), Metric("corpus size", round(mb, 2), "MB")]

    nixdf_exe = shutil.which(args.nixdf) or args.nixdf
    python = interpreter_of(nixdf_exe)
    versus_exe = (shutil.which(args.versus) or args.versus) if args.versus else None
    if versus_exe is None:
        seconds = time_nixdf(texts, args.repeat)
        metrics += [
            Metric(f"nixdf.parse, in-process, best of {args.repeat}", seconds, "s"),
            Metric("nixdf.parse throughput", mb / seconds, "MB/s"),
            Metric("nixdf.parse files/s", n / seconds, "files/s"),
        ]
    else:
        versus_python = interpreter_of(versus_exe)
        runs = time_nixdf_apart({"this": python, "versus": versus_python}, files, args.repeat)
        seconds, versus_seconds = min(runs["this"]), min(runs["versus"])
        ratios = [v / t for t, v in zip(runs["this"], runs["versus"], strict=True)]
        metrics += [
            Metric(f"nixdf.parse, best of {args.repeat} alternating", seconds, "s"),
            Metric("nixdf.parse throughput", mb / seconds, "MB/s"),
            Metric("nixdf.parse files/s", n / seconds, "files/s"),
            Metric("nixdf.parse throughput, median", mb / statistics.median(runs["this"]),
                   "MB/s"),
            Metric("versus: nixdf.parse throughput", mb / versus_seconds,
                   f"MB/s ({versus_python})"),
            Metric("versus: nixdf.parse files/s", n / versus_seconds, "files/s"),
            Metric("versus: nixdf.parse throughput, median",
                   mb / statistics.median(runs["versus"]), "MB/s"),
            Metric("nixdf.parse throughput / versus, median of the rounds' ratios",
                   statistics.median(ratios), "×"),
        ]

    with tempfile.TemporaryDirectory(prefix="nixdf-corpus-nix-") as state:
        empty = Path(state) / "empty.nix"
        empty.write_text("null\n")  # the smallest valid file: start-up without an error path
        env = nix_env(Path(state))
        total, startup, accepted = time_nix(files, env, empty)
        batched, batches = time_nix_batched(accepted, env, args.repeat)
    parsing = total - startup * n
    accepted_mb = sum(f.path.stat().st_size for f in accepted) / 1e6
    # With a handful of processes, subtracting their start-up is well above the noise.
    batched_mb_s = accepted_mb / (batched - startup * batches)
    metrics += [
        Metric("nix-instantiate --parse, one process per file", total, "s"),
        Metric("nix-instantiate start-up (`null` file, median of 30)", startup * 1e3, "ms"),
        Metric("nix-instantiate throughput, raw", mb / total, "MB/s"),
        Metric("nix-instantiate files/s, raw", n / total, "files/s"),
        Metric("nix-instantiate less start-up × files", parsing, "s"),
        Metric("nix-instantiate throughput, start-up corrected",
               mb / parsing if parsing > 0 else "n/a (below noise)", "MB/s"),
        Metric(f"nix-instantiate --parse, accepted files batched, best of {args.repeat}",
               batched, f"s ({len(accepted)} files, {batches} processes)"),
        Metric("nix-instantiate throughput, batched, less start-up × processes",
               batched_mb_s, "MB/s"),
        Metric("nixdf.parse throughput / nix-instantiate batched", mb / seconds / batched_mb_s,
               "×"),
    ]

    ts = time_tree_sitter(args.tree_sitter_python, files, args.repeat)
    if ts is None:
        metrics.append(Metric("tree-sitter-nix", "not available", ""))
    else:
        ts_seconds = float(ts["seconds"])  # type: ignore[arg-type]
        errors: list[int] = ts["errors"]  # type: ignore[assignment]
        nix_ok = {f.path for f in accepted}
        metrics += [
            Metric(f"tree-sitter-nix, best of {args.repeat}", ts_seconds,
                   f"s (tree-sitter/-nix {ts['version']})"),
            Metric("tree-sitter-nix throughput", mb / ts_seconds, "MB/s"),
            Metric("tree-sitter-nix files with ERROR/MISSING nodes", len(errors), "files"),
            Metric("… of which Nix accepts", sum(files[i].path in nix_ok for i in errors),
                   "files"),
        ]

    commands = {"render": [nixdf_exe, "render", "examples/redis/Nixfile"],
                "floor": [python, "-c", "pass"]}
    if versus_exe is not None:
        commands["versus"] = [versus_exe, "render", "examples/redis/Nixfile"]
    cold = time_cold(commands, args.cold_runs)
    metrics += [
        Metric(f"cold `nixdf render examples/redis/Nixfile`, median of {args.cold_runs}",
               cold["render"] * 1e3, "ms"),
        Metric(f"cold `python -c pass`, median of {args.cold_runs}", cold["floor"] * 1e3,
               f"ms ({python})"),
        Metric("render above the interpreter floor", (cold["render"] - cold["floor"]) * 1e3,
               "ms"),
    ]
    if versus_exe is not None:
        metrics += [
            Metric(f"versus: cold render, median of {args.cold_runs}", cold["versus"] * 1e3,
                   f"ms ({versus_exe})"),
            Metric("versus: render above the interpreter floor",
                   (cold["versus"] - cold["floor"]) * 1e3, "ms"),
            Metric("render above the floor, versus / this",
                   (cold["versus"] - cold["floor"]) / (cold["render"] - cold["floor"]), "×"),
        ]
    metrics += [
        Metric("nproc", len(os.sched_getaffinity(0)), "cpus"),
        Metric("python (in-process runs)", platform.python_version(), ""),
        Metric("reference", nix_version(), ""),
    ]
    return metrics


def _fmt(value: float | str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def report(metrics: list[Metric], baseline: dict[str, dict[str, object]] | None) -> None:
    head = "| measure | value | unit, note |"
    rule = "| --- | ---: | --- |"
    if baseline:
        head += " baseline | ratio |"
        rule += " ---: | ---: |"
    print(head)
    print(rule)
    for m in metrics:
        line = f"| {m.name} | {_fmt(m.value)} | {m.unit} |"
        if baseline:
            before = baseline.get(m.name, {}).get("value")
            if isinstance(before, int | float) and isinstance(m.value, int | float) and before:
                line += f" {_fmt(before)} | {m.value / before:.2f} |"
            else:
                line += " | |"
        print(line)


def cmd_speed(args: argparse.Namespace) -> int:
    metrics = measure(args)
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None
    report(metrics, baseline)
    if args.save:
        data = {m.name: {"value": m.value, "unit": m.unit} for m in metrics}
        args.save.write_text(json.dumps(data, indent=2) + "\n")
    return 0


# ---------------------------------------------------------------------------- main


# ----------------------------------------------------------------------- functions

IMAGE_BUILDERS = {"buildImage", "buildLayeredImage", "streamLayeredImage",
                  "buildImageWithNixDb", "buildLayeredImageWithNixDb"}
LIB_SCOPES = {"lib", "strings", "lists", "attrsets", "trivial"}


def called_functions(expr: object) -> Iterable[tuple[str, str]]:
    """(scope, name) of every function applied in ``expr``: builtins.X, lib.X, or bare X."""
    from nixdf import syntax as s

    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, s.Apply):
            head = node.func
            while isinstance(head, s.Apply):
                head = head.func
            if isinstance(head, s.Ident):
                yield "bare", head.name
            elif isinstance(head, s.Select) and all(isinstance(k, s.StaticKey)
                                                   for k in head.path):
                names = [k.name for k in head.path]  # type: ignore[union-attr]
                root = head.expr.name if isinstance(head.expr, s.Ident) else ""
                if root == "builtins" and len(names) == 1:
                    yield "builtins", names[0]
                elif (root in LIB_SCOPES or names[0] == "lib") and names[-1] != "lib":
                    yield "lib", names[-1]
        if hasattr(node, "__dataclass_fields__"):
            for name in node.__dataclass_fields__:  # type: ignore[attr-defined]
                value = getattr(node, name)
                stack.extend(value if isinstance(value, tuple) else [value])


def image_calls(expr: object) -> Iterable[object]:
    """The argument of every call of an image builder, however it is spelt."""
    from nixdf import syntax as s

    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, s.Apply):
            head = node.func
            name = head.name if isinstance(head, s.Ident) else (
                head.path[-1].name if isinstance(head, s.Select)
                and isinstance(head.path[-1], s.StaticKey) else "")
            if name in IMAGE_BUILDERS:
                yield node.arg
        if hasattr(node, "__dataclass_fields__"):
            for name in node.__dataclass_fields__:  # type: ignore[attr-defined]
                value = getattr(node, name)
                stack.extend(value if isinstance(value, tuple) else [value])


def cmd_functions(args: argparse.Namespace) -> int:
    """Which builtins and lib functions image definitions call, and which nixdf evaluates.

    nixdf must compute what becomes Dockerfile text; this shows which functions
    real ``buildImage``-style calls reach for, to decide what the evaluator needs.
    """
    from collections import Counter

    from nixdf import NixSyntaxError, parse
    from nixdf.evaluate import _GLOBALS, _LIB, _builtins

    known = {"builtins": set(_builtins()), "lib": set(_LIB), "bare": set(_GLOBALS)}
    roots = [args.dir, *args.extra]
    counts: Counter[tuple[str, str]] = Counter()
    files = calls = 0
    for root in roots:
        for path in sorted(root.rglob("*.nix")):
            if not path.is_file():
                continue
            try:
                tree = parse(decode(path.read_bytes()), str(path))
            except NixSyntaxError:
                continue
            found = list(image_calls(tree))
            files += bool(found)
            calls += len(found)
            for arg in found:
                counts.update(called_functions(arg))
    print(f"{calls} image builder calls in {files} files under {', '.join(map(str, roots))}\n")
    print("| function | calls | nixdf evaluates it |\n| --- | ---: | --- |")
    for (scope, name), count in counts.most_common():
        shown = name if scope == "bare" else f"{scope}.{name}"
        verdict = "yes" if name in known[scope] else (
            "no (left to Nix when it is not Dockerfile text)" if scope != "bare"
            else "if in scope (a let or with may define it)")
        print(f"| {shown} | {count} | {verdict} |")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    def with_dir(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--dir", type=Path, default=default_dir(),
                       help="corpus directory (default: $NIXDF_CORPUS or ~/.cache/nixdf-corpus)")
        return p

    fetch = with_dir(sub.add_parser("fetch", help="materialise the pinned corpus"))
    fetch.add_argument("--mirror-root", type=Path, default=Path("/work/.mirror"),
                       help="where <owner>+<name>/repo git mirrors may be (else clone)")
    fetch.set_defaults(run=cmd_fetch)

    agree = with_dir(sub.add_parser("agree", help="nixdf's verdicts against Nix's"))
    agree.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    agree.add_argument("--show", type=int, default=10, help="disagreements listed per kind")
    agree.add_argument("--mutate", type=int, default=0, metavar="N",
                       help="also compare on N seeded truncated copies of corpus files")
    agree.add_argument("--seed", type=int, default=0)
    agree.add_argument("--trees", action="store_true",
                       help="also compare whole syntax trees with Nix's --parse printout")
    agree.set_defaults(run=cmd_agree)

    functions = with_dir(sub.add_parser(
        "functions", help="functions that image builder calls use, and nixdf's coverage"))
    functions.add_argument("extra", nargs="*", type=Path,
                           help="more directories of .nix files (e.g. real-world Nixfiles)")
    functions.set_defaults(run=cmd_functions)

    speed = with_dir(sub.add_parser("speed", help="parse speed, side by side"))
    speed.add_argument("--repeat", type=int, default=3)
    speed.add_argument("--nixdf", default="nixdf", help="nixdf executable for the cold start")
    speed.add_argument("--versus", metavar="NIXDF",
                       help="another nixdf executable, timed in turns with this one")
    speed.add_argument("--cold-runs", type=int, default=20)
    speed.add_argument("--tree-sitter-python", metavar="PATH",
                       help="interpreter with tree_sitter and tree_sitter_nix installed")
    speed.add_argument("--save", type=Path)
    speed.add_argument("--baseline", type=Path)
    speed.set_defaults(run=cmd_speed)
    return parser


def main(argv: Iterable[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    args.dir = args.dir.expanduser().resolve()
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())

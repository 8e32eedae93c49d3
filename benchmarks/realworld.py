"""How far `nixdf render` gets on real-world image definitions that nobody here wrote.

The files are the ones pinned in benchmarks/realworld.toml: .nix files from public repositories
that build container images with dockerTools.buildImage / buildLayeredImage / streamLayeredImage
or nix2container's buildImage. They never enter this repository. Needs Python 3.11+ (tomllib),
git, and nixdf importable by the interpreter that runs this script.

    python benchmarks/realworld.py fetch  [--dir DIR] [--mirror-root /work/.mirror]
                                          [--fallback-root /work/realworld] [--clone-url FMT]
    python benchmarks/realworld.py report [--dir DIR] [--jobs N] [--timeout S] [--python PY]
                                          [--examples K]

fetch   writes each pinned file to DIR/<owner>+<name>@<commit[:12]>/<path> (DIR defaults to
        $NIXDF_REALWORLD, else ~/.cache/nixdf-realworld), together with the local files of
        the repository it names (`./package.nix`, `src = ../.`, `${./root/etc}`; through
        every .nix file so reached, as nixdf itself follows them), so that render sees what
        it would see in a checkout (no .git is written: the build context of a file that
        names a path above it is the directory that holds them all). Sources, in order: a
        git mirror under --mirror-root (<owner>+<name>/repo) that has the commit; a bare
        blob-less clone of
        https://github.com/OWNER/NAME kept in DIR/.git/; for an entry marked
        via = "read_file", a copy under --fallback-root/<owner>+<name>/<path>. Blobs a
        mirror lacks (it keeps no file of 4 MiB or more) are skipped.
report  runs `python -m nixdf render FILE` on every fetched file and prints one markdown
        table: the files that render, those that only need `nixdf lock` (a store path in
        config or a script, which `nixdf build` locks by itself), and the rest grouped by
        the construct that stops them, with an example FILE:LINE:COL each; then every file's
        outcome. A crash (a Python traceback, an exit status other than 0 or 2, or a
        timeout) is listed first, with the traceback's last lines, and makes report exit 1.
        A value only Nix knows counts as "needs nixdf lock" only where the lock records it
        (name, tag, created, mtime, config and the scripts), whatever nixdf's hint says.

render stops at the first problem, so each file counts under its first blocker only; a file
that "needs nixdf lock" may hold further blockers that only show once it is locked.
"""

from __future__ import annotations

import argparse
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = Path(__file__).with_name("realworld.toml")
STATE = ".fetched"  # in each entry's directory: one "commit path scope" line per fetched entry
# What a fetch took besides the file: the repository's files it names (earlier fetches took
# only those in the file's own directory, and are fetched again).
SCOPE = "repository"
MAX_TREE_FILES = 20_000  # a directory named by a path literal, e.g. `src = ./.`


@dataclass(frozen=True)
class Entry:
    repo: str  # owner/name
    commit: str
    path: str  # inside the repository
    why: str = ""
    via: str = "git"  # or "read_file": the index had the text; fall back to a local copy

    @property
    def slug(self) -> str:
        return self.repo.replace("/", "+")

    @property
    def key(self) -> str:
        return f"{self.slug}@{self.commit[:12]}"

    @property
    def label(self) -> str:
        return f"{self.repo}/{self.path}"

    def local(self, root: Path) -> Path:
        return root / self.key / self.path


def load_manifest(path: Path = MANIFEST) -> list[Entry]:
    data = tomllib.loads(path.read_text())
    return [Entry(f["repo"], f["commit"], f["path"], f.get("why", ""), f.get("via", "git"))
            for f in data["file"]]


def default_dir() -> Path:
    return Path(os.environ.get("NIXDF_REALWORLD") or Path.home() / ".cache" / "nixdf-realworld")


# ---------------------------------------------------------------------------- fetch


def _git(git_dir: Path, *args: str, data: bytes | None = None,
         check: bool = False) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(git_dir), *args], input=data, capture_output=True,
                          check=check)


@dataclass
class GitSource:
    """A git directory that has (or can fetch) the objects of one pinned commit."""

    git_dir: Path
    commit: str
    remote: bool  # a partial clone: missing blobs can be fetched from origin
    description: str

    def entry(self, path: str) -> tuple[str, str, str] | None:
        """(mode, type, oid) of PATH at the commit, or None when it is not there."""
        if path in ("", "."):
            tree = _git(self.git_dir, "rev-parse", f"{self.commit}^{{tree}}")
            return ("040000", "tree", tree.stdout.decode().strip()) if tree.returncode == 0 \
                else None
        listed = _git(self.git_dir, "ls-tree", "-z", self.commit, "--", path)
        for record in listed.stdout.split(b"\0"):
            if not record:
                continue
            meta, name = record.split(b"\t", 1)
            if name.decode() == path:
                mode, kind, oid = meta.decode().split()
                return mode, kind, oid
        return None

    def files(self, tree_oid: str) -> list[tuple[str, str, str]]:
        """(mode, oid, path relative to the tree) of every blob below a tree."""
        listed = _git(self.git_dir, "ls-tree", "-r", "-z", tree_oid)
        found = []
        for record in listed.stdout.split(b"\0"):
            if record:
                meta, name = record.split(b"\t", 1)
                mode, kind, oid = meta.decode().split()
                if kind == "blob":
                    found.append((mode, oid, name.decode()))
        return found

    def prefetch(self, root_oid: str) -> None:
        """In a partial clone, fetch every blob below ROOT_OID in one go, not one by one."""
        if not self.remote:
            return
        walk = _git(self.git_dir, "rev-list", "--objects", "--missing=print", root_oid)
        missing = [line[1:] for line in walk.stdout.decode().splitlines() if line.startswith("?")]
        if missing:
            _git(self.git_dir, "-c", "fetch.negotiationAlgorithm=noop", "fetch", "--quiet",
                 "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no",
                 "--filter=blob:none", "--stdin", "origin",
                 data="".join(f"{oid}\n" for oid in missing).encode())

    def blobs(self, oids: list[str]) -> dict[str, bytes]:
        """The contents of the blobs that are present (a mirror may lack the largest)."""
        if not oids:
            return {}
        batch = _git(self.git_dir, "-c", "fetch.negotiationAlgorithm=noop", "cat-file",
                     "--batch", data="".join(f"{oid}\n" for oid in oids).encode())
        out, found, pos = batch.stdout, {}, 0
        while pos < len(out):
            end = out.index(b"\n", pos)
            header = out[pos:end].decode().split()
            pos = end + 1
            if len(header) == 3:
                size = int(header[2])
                found[header[0]] = out[pos:pos + size]
                pos += size + 1  # the newline after the contents
        return found


def _has_commit(git_dir: Path, commit: str) -> bool:
    return git_dir.is_dir() and _git(git_dir, "cat-file", "-e", f"{commit}^{{commit}}").returncode \
        == 0


def open_source(entry: Entry, mirror_root: Path, root: Path,
                url_format: str = "https://github.com/{repo}") -> GitSource | None:
    for candidate in (mirror_root / entry.slug / "repo", mirror_root / entry.slug):
        if _has_commit(candidate, entry.commit):
            return GitSource(candidate, entry.commit, False, f"mirror {candidate}")
    clone = root / ".git" / f"{entry.slug}.git"
    url = url_format.format(repo=entry.repo, slug=entry.slug)
    if not clone.is_dir():
        clone.parent.mkdir(parents=True, exist_ok=True)
        made = subprocess.run(["git", "clone", "--quiet", "--bare", "--filter=blob:none", url,
                               str(clone)], capture_output=True)
        if made.returncode != 0:
            shutil.rmtree(clone, ignore_errors=True)
            print(f"    git clone {url}: {made.stderr.decode().strip()}", file=sys.stderr,
                  flush=True)
            return None
    if not _has_commit(clone, entry.commit):  # the pinned commit is no longer on a branch
        _git(clone, "fetch", "--quiet", "--filter=blob:none", "origin", entry.commit)
    if _has_commit(clone, entry.commit):
        return GitSource(clone, entry.commit, True, f"clone {url}")
    return None


def named_paths(text: str, name: str) -> list[str]:
    """The relative paths a Nix file names; none when it does not parse."""
    import nixdf
    from nixdf.inputs import relative_paths  # the very walk nixdf uses to pick its inputs

    try:
        tree = nixdf.parse(text, name)
    except nixdf.NixSyntaxError:
        return []
    return ["".join(part for part in path.parts if isinstance(part, str))
            for path in relative_paths(tree)]


@dataclass
class Fetched:
    source: str
    files: int = 0
    missing: list[str] = field(default_factory=list)  # named but absent or out of reach


def _write(dest: Path, mode: str, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.exists():
        if dest.is_dir() and not dest.is_symlink():
            return
        dest.unlink()
    if mode == "120000":
        dest.symlink_to(data.decode())
    else:
        dest.write_bytes(data)
        if mode == "100755":
            dest.chmod(0o755)


def materialise(entry: Entry, source: GitSource | None, root: Path,
                fallback_root: Path) -> Fetched:
    """Write the entry's file, then every local path it names inside its own directory."""
    base = root / entry.key
    target = entry.local(root)
    found = source.entry(entry.path) if source else None
    if source and found and found[1] == "blob":
        text = source.blobs([found[2]]).get(found[2])
        if text is None:
            raise RuntimeError(f"{source.description} lacks the blob of {entry.path}")
        _write(target, found[0], text)
        result = Fetched(source.description, 1)
    else:
        copy = fallback_root / entry.slug / entry.path
        if entry.via != "read_file" or not copy.is_file():
            raise RuntimeError(f"{entry.commit[:12]}:{entry.path} is in no git source"
                               + ("" if entry.via != "read_file" else f" and {copy} is missing"))
        _write(target, "100644", copy.read_bytes())
        result = Fetched(f"copy {copy}", 1)
    seen = {entry.path}
    pending = [(posixpath.dirname(entry.path), p)
               for p in named_paths(target.read_text(errors="replace"), entry.path)]
    while pending:
        directory, text = pending.pop()
        path = posixpath.normpath(posixpath.join(directory, text))
        if path in seen or path == ".." or path.startswith("../"):
            continue  # outside the repository: not in a checkout either
        seen.add(path)
        found = source.entry(path if path != "." else "") if source else None
        if found is None or found[1] not in ("blob", "tree"):
            result.missing.append(path)
            continue
        nix_file = path
        if found[1] == "tree":
            assert source is not None
            source.prefetch(found[2])
            blobs = source.files(found[2])[:MAX_TREE_FILES]
            contents = source.blobs([oid for _, oid, _ in blobs])
            for mode, oid, name in blobs:
                if oid in contents:
                    _write(base / path / name, mode, contents[oid])
                    result.files += 1
            nix_file = posixpath.join(path, "default.nix") if path != "." else "default.nix"
        elif source is not None:
            data = source.blobs([found[2]]).get(found[2])
            if data is None:
                result.missing.append(path)
                continue
            _write(base / path, found[0], data)
            result.files += 1
        nix_path = base / nix_file
        if nix_file.endswith(".nix") and nix_path.is_file() and not nix_path.is_symlink():
            here = posixpath.dirname(nix_file)
            pending += [(here, p) for p in named_paths(nix_path.read_text(errors="replace"),
                                                       nix_file)]
    return result


def _done(entry: Entry, root: Path) -> bool:
    state = root / entry.key / STATE
    return state.is_file() \
        and f"{entry.commit} {entry.path} {SCOPE}" in state.read_text().splitlines() \
        and entry.local(root).is_file()


def cmd_fetch(args: argparse.Namespace) -> int:
    entries = load_manifest(args.manifest)
    root: Path = args.dir
    print(f"real-world files: {root}")
    failed = 0
    for entry in entries:
        if _done(entry, root):
            print(f"  {entry.label:70} cached")
            continue
        try:
            source = open_source(entry, args.mirror_root, root, args.clone_url)
            fetched = materialise(entry, source, root, args.fallback_root)
        except (RuntimeError, OSError, subprocess.SubprocessError) as err:
            failed += 1
            print(f"  {entry.label:70} FAILED: {err}")
            continue
        with (root / entry.key / STATE).open("a") as state:
            state.write(f"{entry.commit} {entry.path} {SCOPE}\n")
        missing = f", missing: {', '.join(fetched.missing)}" if fetched.missing else ""
        print(f"  {entry.label:70} {fetched.files:5} files ({fetched.source}{missing})")
    print(f"{len(entries) - failed} of {len(entries)} entries fetched")
    return 1 if failed else 0


# ---------------------------------------------------------------------------- report


LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): error: (?P<msg>.*)$")
LOCK = "needs `nixdf lock` (supported)"


@dataclass
class Outcome:
    entry: Entry
    status: str  # "rendered", "lock", "blocked", "crash", "missing"
    blocker: str = ""  # the group, for "blocked" (and "lock")
    message: str = ""  # the first line of the error
    where: str = ""  # owner/name/path:LINE:COL
    construct: str = ""  # the source text the caret points at
    detail: str = ""  # for a crash: the last lines of the traceback or output
    line: int = 0  # of the error, in the file nixdf names
    column: int = 0
    in_nixfile: bool = True  # the error is in the rendered file itself, not one it imports


def _caret_text(lines: list[str], index: int) -> str:
    """The source text under the caret that follows a located error line."""
    if index + 2 >= len(lines):
        return ""
    source, caret = lines[index + 1], lines[index + 2]
    start = caret.find("^")
    if start < 0 or caret.strip(" ^"):
        return ""
    end = caret.rfind("^") + 1
    return source[start:end].strip()


# (pattern on the error message, group label); the first that matches names the blocker.
# A label is formatted with the match's named groups.
RULES: list[tuple[str, str]] = [
    (r"the (?P<b>\w+) argument '(?P<a>\w+)' is not supported yet",
     "the {b} argument '{a}' is not supported yet"),
    (r"only the default '(?P<a>\w+)'", "{a} other than the default (e.g. \"now\")"),
    (r"(?P<a>\S+) is not supported yet", "{a} is not supported yet"),
    (r"lies outside the build context", "a path outside the Nixfile's directory"),
    (r"does not exist", "a local path missing (not in the fetched files)"),
    (r"defines no image", "no image at the top level (built inside a function or module)"),
    (r"unknown (?P<a>builtin|lib function|function|attribute)\s+'?(?P<b>[^' ]+)",
     "unknown {a} {b}"),
    (r"^(?P<a>.+?) must be known before the build",
     "a value only Nix knows in {a}, which `nixdf lock` does not record"),
]
TOP_LEVEL_UNKNOWN = "a Nixfile must give a buildImage call or a set of them"
NEEDS_NIX = re.compile(r"^(?P<what>.+?) must be known before the build")
# How nixdf names a value inside config: "config.Cmd", "an Env entry", "Healthcheck.Test"…
IN_CONFIG = re.compile(r"\bconfig\.|\b(?:Env|OnBuild) entr|\bHealthcheck\.")


def locked_argument(what: str) -> str | None:
    """The buildImage argument a value only Nix knows belongs to, if the lock records it."""
    from nixdf.api import LOCKED_ARGUMENTS

    if IN_CONFIG.search(what):
        return "config"
    return next((w for w in re.findall(r"\w+", what) if w in LOCKED_ARGUMENTS), None)


def classify(message: str, hint: str, source: str = "", name: str = "") -> tuple[str, str]:
    """(status, blocker group) for a located nixdf error in file NAME whose text is SOURCE."""
    # What `nixdf lock` records: a value only Nix knows anywhere else stays a blocker,
    # whatever the hint says.
    needs_nix = NEEDS_NIX.match(message)
    if needs_nix and "nixdf lock" in hint and locked_argument(needs_nix["what"]):
        return "lock", LOCK
    if message.startswith(TOP_LEVEL_UNKNOWN):
        if re.search(r"nix2container\.buildImage", source):
            return "blocked", "nix2container.buildImage (a builder nixdf does not know)"
        return "blocked", ("the top level is another function's result (mkDerivation, a "
                           "helper…), not a buildImage call or a set of them")
    if "defines no image" in message and posixpath.basename(name) == "flake.nix":
        return "blocked", "a flake.nix is not a Nixfile (images inside `outputs`)"
    for pattern, label in RULES:
        match = re.search(pattern, message)
        if match:
            return "blocked", label.format(**{k: v or "" for k, v in match.groupdict().items()})
    generic = re.sub(r"'[^']*'", "'…'", message)
    return "blocked", re.sub(r"\d+", "N", generic)


def render_file(entry: Entry, path: Path, root: Path, python: str, timeout: float) -> Outcome:
    """Run `nixdf render PATH` (the entry's file, or an adapted copy beside it) and judge it."""
    try:
        run = subprocess.run([python, "-m", "nixdf", "render", str(path)], capture_output=True,
                             text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return Outcome(entry, "crash", message=f"timed out after {timeout:g} s")
    err = run.stderr
    if "Traceback (most recent call last)" in err or run.returncode not in (0, 2):
        tail = "\n".join((err or run.stdout).rstrip().splitlines()[-6:])
        return Outcome(entry, "crash", message=f"exit status {run.returncode}", detail=tail)
    if run.returncode == 0:
        return Outcome(entry, "rendered")
    lines = err.splitlines()
    for index, line in enumerate(lines):
        located = LOCATED.match(line)
        if located:
            hint = " ".join(h.strip() for h in lines[index + 1:] if h.strip().startswith("hint:"))
            status, blocker = classify(located["msg"], hint, path.read_text(errors="replace"),
                                       entry.path)
            shown, in_nixfile = _shown(entry, path, root, located["file"])
            return Outcome(entry, status, blocker, located["msg"],
                           f"{shown}:{located['line']}:{located['col']}",
                           _caret_text(lines, index), line=int(located["line"]),
                           column=int(located["col"]), in_nixfile=in_nixfile)
    first = next((line for line in lines if line.strip()), "(no message)")
    status, blocker = classify(first.removeprefix("error: "), "")
    return Outcome(entry, status, blocker, first)


def render_one(entry: Entry, root: Path, python: str, timeout: float) -> Outcome:
    path = entry.local(root)
    if not path.is_file():
        return Outcome(entry, "missing", message="not fetched: run `realworld.py fetch`")
    return render_file(entry, path, root, python, timeout)


def _shown(entry: Entry, rendered: Path, root: Path, name: str) -> tuple[str, bool]:
    """(owner/name/path, whether it is the rendered file) for the file an error names.

    nixdf names the Nixfile as it was given and an imported file relative to its directory.
    """
    candidate = Path(name)
    if not candidate.is_absolute():
        candidate = rendered.parent / candidate
    candidate = candidate.resolve()
    in_nixfile = candidate == rendered.resolve()
    if in_nixfile:
        candidate = entry.local(root).resolve()
    try:
        inside = candidate.relative_to((root / entry.key).resolve())
    except ValueError:
        return name, in_nixfile
    return f"{entry.repo}/{inside.as_posix()}", in_nixfile


def _cell(text: str, width: int = 90) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def _example(outcome: Outcome) -> str:
    where = outcome.where or outcome.entry.label
    return f"{where} `{_cell(outcome.construct, 40)}`" if outcome.construct else where


def print_table(outcomes: list[Outcome], examples: int) -> None:
    """Total, rendered, needs-lock and one row per blocker, most common first."""
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        if outcome.status in ("lock", "blocked"):
            groups.setdefault(outcome.blocker, []).append(outcome)
    lock = groups.pop(LOCK, [])

    def row(label: str, items: list[Outcome], show: Callable[[Outcome], str]) -> None:
        shown = "; ".join(show(o) for o in items[:examples])
        more = f"; … {len(items) - examples} more" if len(items) > examples else ""
        print(f"| {label} | {len(items)} | {shown}{more} |")

    print("| outcome | files | examples |")
    print("| --- | ---: | --- |")
    print(f"| **total** | {len(outcomes)} | |")
    row("**rendered**", [o for o in outcomes if o.status == "rendered"], lambda o: o.entry.label)
    row("needs `nixdf lock` (supported; `nixdf build` locks by itself)", lock, _example)
    for label, items in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        row(f"blocked: {_cell(label, 80)}", items, _example)
    missing = [o for o in outcomes if o.status == "missing"]
    if missing:
        row("not fetched", missing, lambda o: o.entry.label)
    row("**crashed**", [o for o in outcomes if o.status == "crash"], lambda o: o.entry.label)


def print_crashes(outcomes: list[Outcome], heading: str) -> None:
    crashes = [o for o in outcomes if o.status == "crash"]
    if not crashes:
        return
    print(f"## {heading}: {len(crashes)}\n")
    for crash in crashes:
        print(f"- **{crash.entry.label}**: {crash.message}")
        if crash.detail:
            print("\n  ```\n" + "\n".join(f"  {line}" for line in crash.detail.splitlines())
                  + "\n  ```")
    print()


def _status(o: Outcome) -> str:
    return {"rendered": "rendered", "lock": "needs lock", "crash": "CRASH",
            "missing": "not fetched"}.get(o.status, "blocked")


def print_report(outcomes: list[Outcome], examples: int) -> None:
    print(f"# nixdf render on {len(outcomes)} real-world image files\n")
    print_crashes(outcomes, "CRASHES")
    print_table(outcomes, examples)
    print("\n## Every file\n")
    print("| file | outcome | where | message |")
    print("| --- | --- | --- | --- |")
    for o in outcomes:
        print(f"| {o.entry.label} | {_status(o)} | {o.where} | {_cell(o.message)} |")


def cmd_report(args: argparse.Namespace) -> int:
    entries = load_manifest(args.manifest)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = list(pool.map(
            lambda e: render_one(e, args.dir, args.python, args.timeout), entries))
    print_report(outcomes, args.examples)
    crashed = any(o.status == "crash" for o in outcomes)
    return 1 if crashed else 0


# ---------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    def with_dir(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--dir", type=Path, default=default_dir(),
                       help="where the files go (default: $NIXDF_REALWORLD or "
                       "~/.cache/nixdf-realworld)")
        return p

    fetch = with_dir(sub.add_parser("fetch", help="materialise the pinned files"))
    fetch.add_argument("--mirror-root", type=Path, default=Path("/work/.mirror"),
                       help="where <owner>+<name>/repo git mirrors may be (else clone)")
    fetch.add_argument("--fallback-root", type=Path, default=Path("/work/realworld"),
                       help="copies of via = \"read_file\" entries, as <owner>+<name>/<path>")
    fetch.add_argument("--clone-url", default="https://github.com/{repo}",
                       help="where to clone from without a mirror ({repo} is owner/name, "
                       "{slug} owner+name)")
    fetch.set_defaults(run=cmd_fetch)

    report = with_dir(sub.add_parser("report", help="render every file, group the blockers"))
    report.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    report.add_argument("--timeout", type=float, default=120.0,
                        help="seconds one render may take before it counts as a crash")
    report.add_argument("--python", default=sys.executable,
                        help="interpreter that runs `-m nixdf` (default: this one)")
    report.add_argument("--examples", type=int, default=3, help="examples shown per row")
    report.set_defaults(run=cmd_report)
    return parser


def main(argv: Iterable[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    args.dir = args.dir.expanduser().resolve()
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())

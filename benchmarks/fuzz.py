"""Fuzz the front end and the renderer at scale (tests/fuzzing.py makes the inputs).

    python benchmarks/fuzz.py [--count 1000000] [--workers 2] [--seed 0] [--failures DIR]

Every input must either render or be rejected with a located NixdfError; anything else
is a failure, saved to --failures. Prints inputs run, inputs/s, and how many rendered,
were rejected, and failed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzzing import worker  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--failures", type=Path, default=Path("fuzz-failures"))
    args = parser.parse_args()
    args.failures.mkdir(exist_ok=True)
    chunks = [(args.seed, args.count // args.workers, i, str(args.failures))
              for i in range(args.workers)]
    start = time.perf_counter()
    with multiprocessing.Pool(args.workers) as pool:
        results = pool.map(worker, chunks)
    seconds = time.perf_counter() - start
    total: Counter[str] = Counter()
    for counts, _ in results:
        total.update(counts)
    inputs = total["valid"] + total["near-valid"] + total["garbage"]
    print(f"inputs: {inputs} ({total['valid']} valid, {total['near-valid']} near-valid, "
          f"{total['garbage']} garbage) in {seconds:.0f} s, {inputs / seconds:.0f}/s")
    print(f"rendered: {total['rendered']}  rejected with a location: {total['rejected']}  "
          f"failures: {total['failed']}")
    for _, saved in results:
        for path in saved[:20]:
            print(f"  {path}")
    sys.exit(1 if total["failed"] else 0)


if __name__ == "__main__":
    main()

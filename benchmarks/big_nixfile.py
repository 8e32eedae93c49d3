"""Write a large generated Nixfile: `python benchmarks/big_nixfile.py DIR [BYTES]` (default 5 MB).

Bindings of sets, lists, strings, arithmetic, lambdas and a path each, under one image: what
`time nixdf render DIR/Nixfile` measures is parsing and the search for the files it names.
"""

import sys
from pathlib import Path


def main() -> None:
    directory = Path(sys.argv[1])
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000_000
    parts = ["{ pkgs, buildImage }:\nlet\n"]
    total = n = 0
    while total < size:
        binding = (f'  v{n} = {{ name = "value-{n}"; list = [ 1 2 3 "s-${{toString {n}}}" ./. ]; '
                   f'sub = {{ a = 1 + 2 * {n}; b = if {n} > 3 then "x" else "y"; '
                   "c = x: x.y or null; }; };\n")
        parts.append(binding)
        total += len(binding)
        n += 1
    parts.append('in buildImage {\n  name = "big";\n  tag = "1";\n  config.Env = [ "A=1" ];\n}\n')
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Nixfile").write_text("".join(parts))


if __name__ == "__main__":
    main()

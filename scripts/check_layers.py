#!/usr/bin/env python3
"""The layer rule of the `sessionhost` library (`host/src/lib.rs`, "Layers"): imports point
one way. Every `crate::...` path in a file may name only its own layer or one below:

    vocabulary (error, id, reason, events, info, metrics, config, ratelimit, time/, store/)
      -> runtime/ -> guest/ -> session/ -> host.rs (the facade) -> http/

A path to a re-export at the crate root (`crate::Host`, `crate::{SessionError, ...}`) counts
as a path to the module the item is re-exported from (read from lib.rs). Run by `make lint`;
prints each violation and exits 1 if there is any.
"""
import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parent.parent / "host" / "src"
RANKS = {"runtime": 1, "guest": 2, "session": 3, "host": 4, "http": 5}
NAMES = {0: "vocabulary", 1: "runtime/", 2: "guest/", 3: "session/", 4: "the facade", 5: "http/"}


def rank_of_module(module):
    return RANKS.get(module, 0)


def rank_of_file(path):
    rel = path.relative_to(SRC).parts
    if rel[0] in ("lib.rs", "main.rs"):
        return None  # the crate root declares and re-exports everything
    head = rel[0][:-3] if rel[0].endswith(".rs") else rel[0]
    return rank_of_module(head)


def strip(code):
    """Code without comments and string literals (so prose never counts as an import)."""
    code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', code)
    return "\n".join(line.split("//", 1)[0] for line in code.splitlines())


def root_exports():
    """Item re-exported at the crate root -> the module it comes from."""
    lib = strip((SRC / "lib.rs").read_text())
    exports = {}
    for module, items in re.findall(r"pub use (\w+)(?:::\w+)*::\{([^}]*)\}", lib):
        for item in items.split(","):
            exports[item.strip()] = module
    for module, item in re.findall(r"pub use (\w+)(?:::\w+)*::(\w+);", lib):
        exports[item] = module
    return exports


def top_level(group):
    """Top-level items of a brace group `a::b, c::{d, e}, F`."""
    items, depth, current = [], 0, ""
    for ch in group:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    return [i.strip() for i in items if i.strip()]


def named_modules(code, exports):
    """(first path segment, module) of every `crate::` path in `code`."""
    found = []
    for match in re.finditer(r"\bcrate::(\{|\w+)", code):
        if match.group(1) == "{":
            depth, end = 1, match.end()
            while depth and end < len(code):
                depth += {"{": 1, "}": -1}.get(code[end], 0)
                end += 1
            heads = [item.split("::")[0] for item in top_level(code[match.end():end - 1])]
        else:
            heads = [match.group(1)]
        for head in heads:
            if head in ("self", "super"):
                continue
            module = exports.get(head, head)
            found.append((head, module))
    return found


def main():
    exports = root_exports()
    problems = []
    for path in sorted(SRC.rglob("*.rs")):
        own = rank_of_file(path)
        if own is None:
            continue
        for head, module in named_modules(strip(path.read_text()), exports):
            if rank_of_module(module) > own:
                problems.append(
                    f"{path.relative_to(SRC.parent.parent)}: {NAMES[own]} names "
                    f"`crate::{head}` ({NAMES[rank_of_module(module)]})"
                )
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} import(s) point up the layers (see host/src/lib.rs)")
        return 1
    print("layers: every import points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())

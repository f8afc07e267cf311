#!/usr/bin/env python3
"""List Rust functions longer than --max lines (default 80) in the given dirs.

A function runs from its `fn` line to its matching closing brace; methods in
`impl` blocks, `#[component]`s and nested fns count alike. A function whose
comment or attribute lines just above it contain `long:` is skipped: that
comment says why it must be one. Exit status 1 when any is listed.

    scripts/long-fns.py [--max N] DIR...
"""
import argparse
import pathlib
import re
import sys

FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")
RAW = re.compile(r'b?r(#*)"')


def blank(src):
    """The source with comments, strings and char literals turned into spaces
    (newlines kept), so braces and `fn` found afterwards are real code."""
    out, i, n = list(src), 0, len(src)

    def wipe(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            wipe(i, j)
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            wipe(i, j)
            i = j
        elif (m := RAW.match(src, i)) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            end = src.find('"' + m.group(1), m.end())
            j = n if end < 0 else end + 1 + len(m.group(1))
            wipe(i, j)
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            wipe(i, j + 1)
            i = j + 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{..}'), else a lifetime ('a).
            if i + 1 < n and src[i + 1] == "\\":
                j = src.find("'", i + 3)
            elif i + 2 < n and src[i + 2] == "'":
                j = i + 2
            else:
                j = i
            wipe(i, j + 1)
            i = j + 1
        else:
            i += 1
    return "".join(out)


def marked(lines, idx):
    """Whether the comment/attribute lines just above line `idx` say `long:`."""
    k = idx - 1
    while k >= 0 and lines[k].lstrip().startswith(("//", "#[", "#!")):
        if "long:" in lines[k]:
            return True
        k -= 1
    return False


def long_fns(path, limit):
    src = path.read_text(encoding="utf-8")
    code, lines = blank(src), src.split("\n")
    for m in FN.finditer(code):
        # The body opens at the first `{` before any `;` (a `;` first means a
        # declaration without a body, as in a trait).
        brace, semi = code.find("{", m.end()), code.find(";", m.end())
        if brace < 0 or (0 <= semi < brace):
            continue
        depth, j = 0, brace
        while j < len(code):
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            if depth == 0:
                break
            j += 1
        first = code.count("\n", 0, m.start())
        size = code.count("\n", m.start(), j) + 1
        if size > limit and not marked(lines, first):
            yield first + 1, m.group(1), size


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max", type=int, default=80, help="most lines allowed (default 80)")
    ap.add_argument("dirs", nargs="+", type=pathlib.Path)
    args = ap.parse_args()
    found = 0
    for d in args.dirs:
        files = [d] if d.is_file() else sorted(d.rglob("*.rs"))
        for f in files:
            for line, name, size in long_fns(f, args.max):
                print(f"{f}:{line}: {name} ({size} lines)")
                found += 1
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

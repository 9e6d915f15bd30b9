#!/usr/bin/env python3
"""The exported symbols of libmlpnet match abi/symbols-in-versions.

Three lists must agree: the functions declared MLP_API in the public
headers, the lines of abi/symbols-in-versions, and the dynamic symbols the
built shared library defines (`nm -D`), each with the version node of the
release that added it. Any difference fails with the names involved.

Usage: check_symbols.py LIBRARY SYMBOLS-IN-VERSIONS HEADER...
"""
import re
import subprocess
import sys


def listed(path):
    out = {}
    for line in open(path, encoding="utf-8"):
        f = line.split("#", 1)[0].split()
        if f:
            major, minor = f[1].split(".")[:2]
            out[f[0]] = f"MLPNET_{int(major)}.{int(minor)}"
    return out


def exported(lib):
    text = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                          capture_output=True, text=True).stdout
    out = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) != 3 or f[1] == "A":  # version node names are absolute symbols
            continue
        name, _, node = f[2].partition("@")
        out[name] = node.lstrip("@")
    return out


def declared(headers):
    # "MLP_API <type> name(" or "MLP_API <type> (name)(", across lines.
    decl = re.compile(r"\bMLP_API\b[^;{]*?\(?\b(mlp_\w+)\)?\s*\(", re.S)
    names = set()
    for h in headers:
        text = re.sub(r"/\*.*?\*/", " ", open(h, encoding="utf-8").read(), flags=re.S)
        text = re.sub(r"^\s*#.*$", " ", text, flags=re.M)
        names.update(decl.findall(text))
    return names


def main():
    lib, symfile, headers = sys.argv[1], sys.argv[2], sys.argv[3:]
    want, have, decl = listed(symfile), exported(lib), declared(headers)
    problems = []
    for name in sorted(set(have) - set(want)):
        problems.append(f"{name}: exported but not in {symfile}")
    for name in sorted(set(want) - set(have)):
        problems.append(f"{name}: listed but not exported by {lib}")
    for name in sorted(set(want) & set(have)):
        if have[name] != want[name]:
            problems.append(f"{name}: exported as {have[name] or 'unversioned'}, "
                            f"listed as {want[name]}")
    for name in sorted(decl - set(want)):
        problems.append(f"{name}: declared MLP_API in a header but not listed")
    for name in sorted(set(want) - decl):
        problems.append(f"{name}: listed but declared in no public header")
    for p in problems:
        print(p)
    print(f"{len(have)} exported, {len(want)} listed, {len(decl)} declared: "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

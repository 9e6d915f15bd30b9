#!/usr/bin/env python3
"""Write the linker version script of libmlpnet from abi/symbols-in-versions.

Every symbol goes into the node of the release that added it,
MLPNET_<major>.<minor>; each node inherits the one before, and the first
node hides everything else (`local: *`), so only the listed functions are
exported.

Usage: version_script.py SYMBOLS-IN-VERSIONS OUTPUT
"""
import sys


def read_symbols(path):
    """(name, node) pairs from the symbols file, in file order."""
    out = []
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.split("#", 1)[0].split()
        if not line:
            continue
        if len(line) not in (2, 3) or not line[0].startswith("mlp_"):
            sys.exit(f"{path}:{n}: expected 'mlp_name added [deprecated]'")
        major, minor = line[1].split(".")[:2]
        out.append((line[0], f"MLPNET_{int(major)}.{int(minor)}"))
    return out


def main():
    syms = read_symbols(sys.argv[1])
    nodes = sorted({node for _, node in syms},
                   key=lambda v: tuple(int(x) for x in v[7:].split(".")))
    text = ["/* Generated from abi/symbols-in-versions by lib/version_script.py. */"]
    for i, node in enumerate(nodes):
        names = sorted(name for name, n in syms if n == node)
        text.append(f"{node} {{")
        text.append("  global:")
        text += [f"    {name};" for name in names]
        if i == 0:
            text.append("  local:\n    *;")
        text.append("}" + (f" {nodes[i - 1]};" if i else ";"))
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write("\n".join(text) + "\n")


if __name__ == "__main__":
    main()

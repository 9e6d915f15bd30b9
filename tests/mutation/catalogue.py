#!/usr/bin/env python3
"""Read tests/mutation/catalogue.txt (its format is described at its top).

Usage:
  catalogue.py CATALOGUE list            "id room file" per mutation
  catalogue.py CATALOGUE apply ID ROOT   edit ROOT/lib/<file> in place
  catalogue.py CATALOGUE check ROOT      every mutation applies to ROOT/lib

`apply` exits with 2, and `check` with 1, when a find text does not occur
exactly once in its file (the code under it changed: update the entry), a
find text has no replacement, or a mutation would change nothing. `check`
is the `mutation_catalogue` test: it keeps the catalogue in step with lib/
without building the mutants.
"""
import sys


def read(path):
    muts, cur = [], None
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if line.startswith("@ "):
            fields = line[2:].split()
            if len(fields) != 3:
                sys.exit(f"{path}:{n}: expected '@ id room file'")
            mid, room, file = fields
            cur = {"id": mid, "room": room, "file": file, "pairs": [], "line": n}
            muts.append(cur)
        elif line.startswith("- ") or line == "-":
            if cur is None:
                sys.exit(f"{path}:{n}: a find text before the first '@' line")
            cur["pairs"].append([line[2:], None])
        elif line.startswith("+ ") or line == "+":
            if cur is None or not cur["pairs"] or cur["pairs"][-1][1] is not None:
                sys.exit(f"{path}:{n}: a replacement without its find text")
            cur["pairs"][-1][1] = line[2:]
    return muts


def mutate(m, root):
    """The mutated text of m's file, or (None, reason)."""
    path = f"{root}/lib/{m['file']}"
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        return None, f"cannot read lib/{m['file']}: {e.strerror}"
    if not m["pairs"]:
        return None, "no find text"
    before = text
    for old, new in m["pairs"]:
        if new is None:
            return None, f"'{old}' has no replacement"
        if text.count(old) != 1:
            return None, f"'{old}' occurs {text.count(old)} times in lib/{m['file']}"
        text = text.replace(old, new)
    if text == before:
        return None, "the mutation changes nothing"
    return text, None


def main():
    cat, cmd = sys.argv[1], sys.argv[2]
    muts = read(cat)
    if cmd == "list":
        for m in muts:
            print(m["id"], m["room"], m["file"])
        return 0
    if cmd == "apply":
        mid, root = sys.argv[3], sys.argv[4]
        m = next((x for x in muts if x["id"] == mid), None)
        if m is None:
            print(f"no mutation {mid}", file=sys.stderr)
            return 2
        text, why = mutate(m, root)
        if text is None:
            print(f"catalogue line {m['line']}: {mid}: {why}", file=sys.stderr)
            return 2
        with open(f"{root}/lib/{m['file']}", "w", encoding="utf-8") as f:
            f.write(text)
        return 0
    if cmd == "check":
        root, bad, seen = sys.argv[3], 0, set()
        for m in muts:
            if m["id"] in seen:
                print(f"catalogue line {m['line']}: {m['id']}: the id is used twice")
                bad += 1
            seen.add(m["id"])
            text, why = mutate(m, root)
            if text is None:
                print(f"catalogue line {m['line']}: {m['id']}: {why}")
                bad += 1
        print(f"{len(muts)} mutations, {bad} that do not apply")
        return 1 if bad else 0
    sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    sys.exit(main())

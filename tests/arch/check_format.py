#!/usr/bin/env python3
"""The C sources follow the project's .clang-format.

Runs `clang-format --dry-run --Werror` over every .c and .h file under lib/,
include/, tests/ and examples/ (generated and third-party files have no place
there) and fails naming each file that is not formatted, with the first
differences clang-format reports. The style depends a little on the
formatter's version: the tree is formatted with clang-format 14 (Debian 12),
which CI installs; with another major version, or without clang-format,
the check is skipped (exit 77), since it would report differences that are
the tool's, not the code's.

Fix a failure with:  clang-format -i FILE...

Usage: check_format.py SOURCE_ROOT
"""
import os
import re
import shutil
import subprocess
import sys

WANT_MAJOR = 14
ROOMS = ("lib", "include", "tests", "examples")


def find_formatter():
    for name in (f"clang-format-{WANT_MAJOR}", "clang-format"):
        path = shutil.which(name)
        if not path:
            continue
        out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
        m = re.search(r"version (\d+)", out)
        if m and int(m.group(1)) == WANT_MAJOR:
            return path
    return None


def sources(root):
    for room in ROOMS:
        for d, dirs, files in os.walk(os.path.join(root, room)):
            dirs[:] = sorted(x for x in dirs if not x.startswith("."))
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.join(d, f)


def main():
    root = sys.argv[1]
    tool = find_formatter()
    if not tool:
        print(f"SKIP: clang-format {WANT_MAJOR} not found (the tree is formatted with it)")
        return 77
    files = list(sources(root))
    # One run over every file; its messages start with the file's path.
    r = subprocess.run([tool, "--dry-run", "--Werror", "--style=file"] + files,
                       capture_output=True, text=True, cwd=root)
    report = {}
    for line in r.stderr.splitlines():
        m = re.match(r"(.+?):\d+:\d+: (?:error|warning)", line)
        if m:
            report.setdefault(os.path.relpath(m.group(1), root), []).append(line)
        elif report and len(report[list(report)[-1]]) < 6:
            report[list(report)[-1]].append(line)
    if r.returncode != 0 and not report:
        print(r.stderr)
        return 1
    bad = sorted(report.items())
    for f, lines in bad:
        print(f"{f}: not formatted (clang-format -i {f})")
        for line in lines[:6]:
            print("    " + line)
    print(f"checked {len(files)} files with {os.path.basename(tool)}: "
          f"{len(bad)} not formatted")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

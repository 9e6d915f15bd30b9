#!/usr/bin/env python3
"""Compare the ABI of the built libmlpnet with the committed baselines.

abi/ holds one baseline per release, written by abidw from a build with
debug information. The library as built now must be compatible with every
baseline of the same soname: abidiff may report added functions, nothing
else. A baseline of another soname is a past ABI, no longer promised, and
is skipped; a soname that changed needs its new baseline and a CHANGELOG
line naming it. abi/suppressions.abignore lists the changes that libmlpnet's
own rules make compatible (fields appended to a struct_size struct).

Usage:
  check_abi.py check LIBRARY CHANGELOG ABI-DIR -- HEADER-DIR...
  check_abi.py write LIBRARY OUTPUT -- HEADER-DIR...

Exit status: 0 compatible, 1 a change or a missing baseline, 77 (skipped)
when abidw or abidiff is not installed.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

# abidiff's exit status is a bit field.
ABIDIFF_ERROR, ABIDIFF_USAGE, ABIDIFF_CHANGE, ABIDIFF_INCOMPATIBLE = 1, 2, 4, 8


def abidw(lib, header_dirs, out):
    """Write the ABI of `lib`, public types only, without paths or locations
    (a baseline must not depend on where it was built)."""
    cmd = ["abidw", "--drop-private-types", "--no-corpus-path", "--no-comp-dir-path",
           "--no-show-locs", "--out-file", out, lib]
    for d in header_dirs:
        cmd[1:1] = ["--headers-dir", d]
    subprocess.run(cmd, check=True)
    # Translation units carry the path of their source relative to the build
    # directory: keep only the part inside the project.
    text = open(out, encoding="utf-8").read()
    text = re.sub(r"path='[^']*?/(lib/[^']*)'", r"path='\1'", text)
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)


def unversioned(abi_file, out):
    """A copy of an ABI file without symbol versions. The symbols test checks
    the version nodes; abidiff here compares types and functions, and does
    not match a function across a release that added symbol versions."""
    text = open(abi_file, encoding="utf-8").read()
    text = re.sub(r" version='[^']*' is-default-version='[^']*'", "", text)
    text = re.sub(r"@@?MLPNET_[0-9.]+'", "'", text)
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    return out


def soname(abi_file):
    with open(abi_file, encoding="utf-8") as f:
        m = re.search(r"soname='([^']*)'", f.read(4096))
    return m.group(1) if m else None


def check(lib, changelog, baselines, suppressions, header_dirs):
    with tempfile.TemporaryDirectory() as tmp:
        current = os.path.join(tmp, "current.abi")
        abidw(lib, header_dirs, current)
        current = unversioned(current, os.path.join(tmp, "current-unversioned.abi"))
        name = soname(current)
        same = [b for b in baselines if soname(b) == name]
        failed = 0
        if not same:
            print(f"no baseline in abi/ for {name}: the soname changed, so write one "
                  "with 'meson compile -C BUILD abi-baseline'")
            failed = 1
            text = open(changelog, encoding="utf-8").read()
            unreleased = text.split("## [", 2)[1] if "## [" in text else ""
            if name not in unreleased:
                print(f"{changelog}: the newest section does not name the new soname {name}")
        for b in baselines:
            if b not in same:
                print(f"{os.path.basename(b)}: {soname(b)}, a past soname: skipped")
                continue
            base = unversioned(b, os.path.join(tmp, "baseline.abi"))
            r = subprocess.run(["abidiff", "--leaf-changes-only", "--no-added-syms",
                                "--suppressions", suppressions, base, current],
                               capture_output=True, text=True)
            verdict = "compatible"
            if r.returncode & (ABIDIFF_ERROR | ABIDIFF_USAGE):
                verdict = "abidiff failed"
            elif r.returncode & ABIDIFF_INCOMPATIBLE:
                verdict = "INCOMPATIBLE change"
            elif r.returncode & ABIDIFF_CHANGE:
                verdict = "ABI change"
            print(f"{os.path.basename(b)} -> build: {verdict} (abidiff exit {r.returncode})")
            if r.returncode:
                print(r.stdout + r.stderr)
                print("An ABI change needs a new soname (mlpnet_abi in meson.build), a "
                      "CHANGELOG line saying so, and a new baseline.")
                failed = 1
        return failed


def main():
    if not (shutil.which("abidw") and shutil.which("abidiff")):
        print("SKIP: abidw/abidiff not installed (Debian package abigail-tools)")
        return 77
    args = sys.argv[1:]
    sep = args.index("--")
    args, header_dirs = args[:sep], args[sep + 1:]
    if args[0] == "write":
        abidw(args[1], header_dirs, args[2])
        print(f"wrote {args[2]} ({soname(args[2])})")
        return 0
    baselines = sorted(glob.glob(os.path.join(args[3], "*.abi")))
    return check(args[1], args[2], baselines,
                 os.path.join(args[3], "suppressions.abignore"), header_dirs)


if __name__ == "__main__":
    sys.exit(main())

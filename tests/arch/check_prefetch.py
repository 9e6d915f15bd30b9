#!/usr/bin/env python3
"""Check that the built library still prefetches the rows of a batch, and,
on x86-64, asks for the lines it is about to write with PREFETCHW.

A prefetch changes nothing a compiler can see, so a compiler may delete it:
GCC 12 found the function that prefetched a row "pure" and deleted every
call to it, and the gather ran without any prefetch for several releases
while every test passed. A compiler may also emit another prefetch than the
one asked for: GCC and clang compile __builtin_prefetch(p, 1) to a read
prefetch for x86-64 unless the build targets PRFCHW, and the split step's
"write prefetches" were reads until 0.5. This looks at the machine code
instead: each function of FUNCTIONS must hold a prefetch instruction (x86
`prefetch*`, Arm `prfm`), and on x86-64 each of WRITERS a `prefetchw`.

Usage: check_prefetch.py LIBRARY
Exit status: 0 when every function holds one, 1 when one does not, 77
(skipped) without objdump or when the library has no symbol table (a
stripped build), so that the functions cannot be found.
"""
import re
import shutil
import subprocess
import sys

FUNCTIONS = ("put_rows_part",)
# the optimizer's step and the sum of the parts' gradients of a split step
WRITERS = ("step_part", "sum_part")
PREFETCH = re.compile(r"\s(prefetch\w*|prfm)\s")
PREFETCHW = re.compile(r"\sprefetchw\s")
LABEL = re.compile(r"^[0-9a-f]+ <([^>]+)>:$")


def bodies(disassembly):
    """Map each function name to the lines of its body."""
    out, name = {}, None
    for line in disassembly.splitlines():
        m = LABEL.match(line)
        if m:
            name = m.group(1)
            out.setdefault(name, [])
        elif name is not None:
            out[name].append(line)
    return out


def missing(found, functions, pattern, wanted, holds):
    """Print each function's verdict; return how many lack `pattern`."""
    bad = 0
    for f in functions:
        if f not in found:
            print("%s: not in the library" % f)
            bad += 1
        elif not any(pattern.search(line) for line in found[f]):
            print("%s: no %s" % (f, wanted))
            bad += 1
        else:
            print("%s: %s" % (f, holds))
    return bad


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    if shutil.which("objdump") is None:
        print("skipped: no objdump")
        return 77
    dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", sys.argv[1]],
                         check=True, capture_output=True, text=True).stdout
    found = bodies(dis)
    if not any(f in found for f in FUNCTIONS):
        print("skipped: none of %s in the symbol table" % ", ".join(FUNCTIONS))
        return 77
    bad = missing(found, FUNCTIONS, PREFETCH, "prefetch instruction", "prefetches")
    if "file format elf64-x86-64" in dis[:400]:
        bad += missing(found, WRITERS, PREFETCHW, "prefetchw instruction", "prefetchw")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Copy public headers, removing the last field of mlp_fit_options.

The result is the header a program of the previous release compiled
against: the `old_header` test builds a program with it and runs it on the
current library.

Usage: drop_last_field.py OUTDIR HEADER...
"""
import os
import re
import sys


def drop_last_field(text, struct="mlp_fit_options"):
    start = text.index(f"typedef struct {struct} {{")
    end = text.index(f"}} {struct};", start)
    body = text[start:end]
    # Blank out comments (keeping their length) to find the member ends.
    bare = re.sub(r"/\*.*?\*/", lambda m: " " * len(m.group(0)), body, flags=re.S)
    ends = [i for i, c in enumerate(bare) if c == ";"]
    if len(ends) < 2:
        sys.exit(f"{struct}: fewer than two fields")
    cut = start + ends[-2] + 1  # after the second-to-last member
    return text[:cut] + "\n" + text[end:]


def main():
    out = sys.argv[1]
    for h in sys.argv[2:]:
        text = open(h, encoding="utf-8").read()
        if "typedef struct mlp_fit_options {" in text:
            text = drop_last_field(text)
        with open(os.path.join(out, os.path.basename(h)), "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()

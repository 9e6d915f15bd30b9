#!/usr/bin/env python3
"""Compile and link every ```c block of the given Markdown files.

The documents promise code that compiles as written; this test holds them
to it. Each fenced block is one of:

- A ```c block containing a `main` definition: a complete program,
  compiled alone exactly as written (its own #include lines and all).
- A ```c block preceded by a marker line (an HTML comment, invisible when
  the page is rendered; blank lines may separate the two)
      <!-- compile: fragment of NAME, file scope -->
      <!-- compile: fragment of NAME, in main -->
  A fragment of program NAME (one per document and name). The fragments of
  a program are assembled in the order they appear: the "file scope" ones
  (includes, macros, types, callbacks) first, then `int main(void) {`, the
  "in main" ones, `return 0; }`. Nothing else is added, so the includes
  must be in a fragment too.
- A ```c block preceded by `<!-- not compiled: REASON -->` (REASON is not
  empty): deliberately not a program, and counted as such.
- A block of another language (```sh, ```text, ```meson, ...): not C, not
  compiled. A fence without an info string is an error: say what it is.

A ```c block that has no `main` and no marker is an error, as is a marker
that does not stand before a ```c block, so no block is skipped silently.

Each program is compiled with the project's flags (-std=c11 -Wall -Wextra
-Wpedantic -Werror) against the public headers alone, copied into a
temporary include/mlpnet/ as they are installed, and linked against the
built shared library, so a misspelt or unexported function fails too.
`#line` directives map the compiler's messages back to the Markdown file
and line, and every failure names the block (file:line of its opening
fence).

A program named with --run NAME (a program of fragments, by its name) is
also run once it links, in a scratch directory, and must exit with status
0 within RUN_SECONDS: the programs that need no data (the tutorial's
"regression" makes its own rows), so that a document's program that
compiles but fails at run time (calls in the wrong order, a value a
setter refuses) fails too. Its output is shown.

Usage: check_code_blocks.py --cc CC [--cc ARG ...] --lib LIBMLPNET.so
         [--sanitize LIST] --header H [--header H ...] [--run NAME ...]
         [--root DIR] [--expect-fail FILE:LINE] DOC.md [DOC.md ...]
Relative document paths are taken from DIR (default: the current
directory) and are printed as given.

--expect-fail FILE:LINE turns the check around (a test of the test): it
passes only when the block whose fence is at FILE:LINE fails to compile or
link and every other block compiles.

Exit status: 0 when every block compiles and links (and every program
named by --run runs), 1 otherwise (or on a malformed document), 77
(skipped) when there is no working C compiler or no built library.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

FENCE = re.compile(r'^( {0,3})(`{3,}|~{3,})\s*([^\s`]*)[^`]*$')
MARKER = re.compile(r'^\s*<!--\s*(compile|not compiled)\s*:\s*(.*?)\s*-->\s*$')
FRAGMENT = re.compile(r'^fragment of ([A-Za-z0-9_-]+)\s*,\s*(file scope|in main)$')
HAS_MAIN = re.compile(r'\bint\s+main\s*\(')
FLAGS = ['-std=c11', '-Wall', '-Wextra', '-Wpedantic', '-Werror', '-g']
SKIP = 77
MAX_SHOWN = 40     # compiler lines shown per failing program
RUN_SECONDS = 60   # for one program of --run, within meson's 120 for the test


class Block:
    def __init__(self, doc, line, info, lines, marker):
        self.doc = doc          # document path as given
        self.line = line        # 1-based line of the opening fence
        self.info = info        # first word of the info string
        self.lines = lines      # the code, without the fences
        self.marker = marker    # (kind, text, line) or None

    @property
    def where(self):
        return '%s:%d' % (self.doc, self.line)

    def contains(self, doc, line):
        return doc == self.doc and self.line < line <= self.line + len(self.lines)


def parse(root, doc):
    """Return the blocks of `doc` and a list of error strings."""
    with open(os.path.join(root, doc), encoding='utf-8') as f:
        text = f.read().splitlines()
    blocks, errors = [], []
    last = None         # (line number, text) of the last non-blank line outside blocks
    i = 0
    while i < len(text):
        m = FENCE.match(text[i])
        if not m:
            if text[i].strip():
                if last and MARKER.match(last[1]):
                    errors.append('%s:%d: marker not followed by a ```c block'
                                  % (doc, last[0]))
                last = (i + 1, text[i])
            i += 1
            continue
        fence, info = m.group(2), m.group(3)
        start = i + 1
        i += 1
        body = []
        while i < len(text):
            close = text[i].strip()
            if close.startswith(fence[0] * len(fence)) and not close.strip(fence[0]):
                break
            body.append(text[i])
            i += 1
        else:
            errors.append('%s:%d: code block is never closed' % (doc, start))
        i += 1
        marker = None
        if last:
            mm = MARKER.match(last[1])
            if mm:
                marker = (mm.group(1), mm.group(2), last[0])
        last = (start, text[start - 1])
        blocks.append(Block(doc, start, info, body, marker))
    if last and MARKER.match(last[1]):
        errors.append('%s:%d: marker not followed by a ```c block' % (doc, last[0]))
    return blocks, errors


def plan(blocks):
    """Sort blocks into programs. Returns (programs, not_compiled, errors);
    a program is (name, [(scope, block)])."""
    programs, order, not_compiled, errors = {}, [], [], []
    for b in blocks:
        if not b.info:
            errors.append('%s: fence without an info string: mark it ```c, ```sh, '
                          '```text, ...' % b.where)
            continue
        if b.info != 'c':
            if b.marker:
                errors.append('%s: marker "%s" stands before a ```%s block, not ```c'
                              % (b.where, b.marker[1], b.info))
            continue
        if b.marker and b.marker[0] == 'not compiled':
            if not b.marker[1]:
                errors.append('%s: "not compiled" needs a reason' % b.where)
            not_compiled.append(b)
            continue
        if b.marker:
            fm = FRAGMENT.match(b.marker[1])
            if not fm:
                errors.append('%s: marker "compile: %s" should read "compile: fragment '
                              'of NAME, file scope" or "..., in main"'
                              % (b.where, b.marker[1]))
                continue
            key = (b.doc, fm.group(1))
            if key not in programs:
                programs[key] = []
                order.append(key)
            programs[key].append((fm.group(2), b))
            continue
        if not HAS_MAIN.search('\n'.join(b.lines)):
            errors.append('%s: ```c block without main and without a marker; put '
                          '"<!-- compile: fragment of NAME, file scope -->" (or "in '
                          'main"), or "<!-- not compiled: REASON -->" before it'
                          % b.where)
            continue
        key = (b.doc, 'line %d' % b.line)
        programs[key] = [(None, b)]
        order.append(key)
    return [(k, programs[k]) for k in order], not_compiled, errors


def c_string(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def assemble(parts):
    """The source of one program, with #line directives into the documents."""
    if parts[0][0] is None:           # a complete program, as written
        return emit(parts[0][1])
    added = '"<main added by check_code_blocks.py>"'
    return (''.join(emit(b) for scope, b in parts if scope == 'file scope')
            + '#line 1 %s\nint main(void)\n{\n' % added
            + ''.join(emit(b) for scope, b in parts if scope == 'in main')
            + '#line 4 %s\n    return 0;\n}\n' % added)


def emit(b):
    """A block's code, preceded by a #line directive naming its place."""
    return '#line %d %s\n' % (b.line + 1, c_string(b.doc)) + ''.join(
        l + '\n' for l in b.lines)


def blame(output, parts):
    """The blocks of `parts` that the compiler's messages point into."""
    hit = []
    for line in output.splitlines():
        if 'error' not in line and 'undefined reference' not in line:
            continue                  # notes and context lines follow an error
        places = [(m.group(1), int(m.group(2)))
                  for m in re.finditer(r'([^\s:`\'"]+\.md):(\d+)', line)]
        # The linker may name the temporary .c file, but the line numbers
        # are the document's (the #line directives); a program's blocks
        # all come from one document.
        m = re.search(r':(\d+): undefined reference', line)
        if m:
            places.append((parts[0][1].doc, int(m.group(1))))
        for doc, n in places:
            for _, b in parts:
                if b.contains(doc, n) and b not in hit:
                    hit.append(b)
    return sorted(hit, key=lambda b: b.line)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    return p.returncode, p.stdout


def run_program(exe, cwd):
    """Run a built program; (exit status, output). A timeout is a failure."""
    try:
        p = subprocess.run([exe], cwd=cwd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True,
                           timeout=RUN_SECONDS)
    except subprocess.TimeoutExpired as e:
        out = e.stdout if isinstance(e.stdout, str) else ''
        return 1, (out or '') + '\n(stopped after %d s)' % RUN_SECONDS
    return p.returncode, p.stdout + ('' if p.returncode == 0
                                     else '\n(exit status %d)' % p.returncode)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--cc', action='append', default=[], help='compiler command word')
    ap.add_argument('--lib', required=True, help='the built libmlpnet shared library')
    ap.add_argument('--sanitize', default='none', help="meson's b_sanitize value")
    ap.add_argument('--header', action='append', default=[], help='a public header')
    ap.add_argument('--root', default='.', help='where relative document paths start')
    ap.add_argument('--expect-fail', metavar='FILE:LINE')
    ap.add_argument('--run', action='append', default=[], metavar='NAME',
                    help='run this program of fragments once it links')
    ap.add_argument('docs', nargs='+')
    a = ap.parse_args()

    cc = a.cc or [os.environ.get('CC', 'cc')]
    if not (shutil.which(cc[0]) or os.access(cc[0], os.X_OK)):
        print('SKIP: no C compiler (%s); nothing can be compiled' % cc[0])
        return SKIP
    if not os.path.isfile(a.lib):
        print('SKIP: the shared library %s is not built' % a.lib)
        return SKIP
    extra = [] if a.sanitize in ('', 'none') else ['-fsanitize=' + a.sanitize]

    blocks, errors = [], []
    for doc in a.docs:
        b, e = parse(a.root, doc)
        blocks += b
        errors += e
    programs, not_compiled, e = plan(blocks)
    errors += e
    for msg in errors:
        print('FAIL ' + msg)
    unknown = sorted(set(a.run) - {name for (_, name), _ in programs})
    for name in unknown:
        print('FAIL --run %s: no program of that name' % name)
    if errors or unknown:
        return 1

    failed = []
    with tempfile.TemporaryDirectory(prefix='mlpnet-docs-') as tmp:
        inc = os.path.join(tmp, 'include')
        os.makedirs(os.path.join(inc, 'mlpnet'))
        for h in a.header:
            shutil.copy(h, os.path.join(inc, 'mlpnet', os.path.basename(h)))
        src = os.path.join(tmp, 'trivial.c')
        with open(src, 'w') as f:
            f.write('int main(void)\n{\n    return 0;\n}\n')
        rc, out = run(cc + extra + [src, '-o', os.path.join(tmp, 'trivial')])
        if rc != 0:
            print('SKIP: %s cannot build even an empty program:\n%s'
                  % (' '.join(cc), out))
            return SKIP

        for n, ((doc, name), parts) in enumerate(programs):
            label = ('complete program at %s' % parts[0][1].where if parts[0][0] is None
                     else 'program "%s" of %s (%d fragments)' % (name, doc, len(parts)))
            src = os.path.join(tmp, 'prog%d.c' % n)
            obj = src[:-2] + '.o'
            with open(src, 'w') as f:
                f.write(assemble(parts))
            rc, out = run(cc + FLAGS + extra + ['-I', inc, '-c', src, '-o', obj])
            step = 'does not compile'
            if rc == 0:
                rc, out = run(cc + extra + [obj, a.lib, '-o', src[:-2], '-Wl,-rpath,'
                                            + os.path.dirname(os.path.abspath(a.lib))])
                step = 'does not link against %s' % os.path.basename(a.lib)
            if rc == 0 and name in a.run:
                rc, out = run_program(src[:-2], tmp)
                shown = '\n'.join('     | ' + l for l in out.rstrip().splitlines())
                if rc == 0:
                    print('ok   %s, and it ran:\n%s' % (label, shown))
                else:
                    failed.append(parts[0][1])
                    print('FAIL %s builds, but its run failed:\n%s' % (label, shown))
                continue
            if rc == 0:
                print('ok   %s' % label)
                continue
            culprits = blame(out, parts) or [b for _, b in parts]
            for b in culprits:
                failed.append(b)
                print('FAIL %s: the ```c block at %s %s' % (label, b.where, step))
            shown = out.rstrip().splitlines()
            if len(shown) > MAX_SHOWN:
                more = len(shown) - MAX_SHOWN
                shown = shown[:MAX_SHOWN] + ['... (%d more lines)' % more]
            print('\n'.join('     | ' + l for l in shown))

    n_c = sum(len(p) for _, p in programs)
    print('%d ```c blocks in %d programs, %d marked not compiled, %d blocks of other '
          'languages' % (n_c, len(programs), len(not_compiled),
                         len(blocks) - n_c - len(not_compiled)))
    if a.expect_fail:
        want = [b for b in blocks if b.where == a.expect_fail]
        if not want:
            print('FAIL --expect-fail %s: no block opens there' % a.expect_fail)
            return 1
        if failed == want:
            print('ok   the broken block at %s was caught, and only it' % a.expect_fail)
            return 0
        print('FAIL expected exactly %s to fail; failed: %s'
              % (a.expect_fail, ', '.join(b.where for b in failed) or 'none'))
        return 1
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())

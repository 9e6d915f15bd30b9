#!/usr/bin/env python3
"""Check every #include "..." under lib/ against the room rules of
docs/architecture.md.

The rules are read from the document itself, so the two cannot drift: the
table whose header has a "may include" column gives, for each room
(`lib/<room>/`), the rooms its files may include; a room always includes
itself, and "every room" allows all of them. Public headers (include/,
"mlpnet/...") and system headers (<...>) may be included anywhere.

Usage: check_includes.py SOURCE_ROOT
Prints the number of includes checked, and each violation as file:line.
Exit status: 0 when all follow the rules, 1 otherwise (also when a room
under lib/ has no row, a row names no folder, or an include resolves to no
file).
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
ROW_ROOM = re.compile(r'^`?lib/([a-z_]+)/`?$')


def cells(line):
    return [c.strip() for c in line.strip().strip('|').split('|')]


def read_rules(doc_path):
    """Map room -> set of rooms it may include, from the doc's table."""
    with open(doc_path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    rules = {}
    col = None
    for line in lines:
        if not line.lstrip().startswith('|'):
            col = None
            continue
        row = cells(line)
        if col is None:
            heads = [h.lower() for h in row]
            if 'may include' in heads:
                col = heads.index('may include')
            continue
        if set(''.join(row)) <= set('-: '):
            continue  # the separator row
        m = ROW_ROOM.match(row[0])
        if not m or col >= len(row):
            continue
        allowed = row[col]
        if 'every room' in allowed:
            rules[m.group(1)] = None  # resolved below
        else:
            names = re.findall(r'[a-z_]+', allowed.replace('`', ''))
            rules[m.group(1)] = set(names)
    rooms = set(rules)
    for room, allowed in rules.items():
        rules[room] = set(rooms) if allowed is None else allowed | {room}
    return rules


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = os.path.abspath(sys.argv[1])
    lib = os.path.join(root, 'lib')
    doc = os.path.join(root, 'docs', 'architecture.md')
    rules = read_rules(doc)
    problems = []
    if not rules:
        problems.append('%s: no table with a "may include" column' % doc)
    for room, allowed in sorted(rules.items()):
        if not os.path.isdir(os.path.join(lib, room)):
            problems.append('docs/architecture.md: room %s has no folder lib/%s/'
                            % (room, room))
        for other in sorted(allowed - set(rules)):
            problems.append('docs/architecture.md: room %s may include %s, which is '
                            'not a room' % (room, other))

    checked = files = 0
    for dirpath, dirnames, filenames in os.walk(lib):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, lib)
        room = rel_dir.split(os.sep)[0]
        for name in sorted(filenames):
            if not name.endswith(('.c', '.h')):
                continue
            path = os.path.join(dirpath, name)
            shown = os.path.relpath(path, root)
            if room == '.' or room not in rules:
                problems.append('%s: room %s has no row in docs/architecture.md'
                                % (shown, room))
                continue
            files += 1
            with open(path, encoding='utf-8') as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = m.group(1)
                    checked += 1
                    if target.startswith('mlpnet/'):
                        continue  # the public API
                    here = os.path.normpath(os.path.join(dirpath, target))
                    there = os.path.normpath(os.path.join(lib, target))
                    found = here if os.path.isfile(here) else there
                    if not os.path.isfile(found) or \
                            not found.startswith(lib + os.sep):
                        problems.append('%s:%d: #include "%s" is no file under lib/'
                                        % (shown, lineno, target))
                        continue
                    to = os.path.relpath(found, lib).split(os.sep)[0]
                    if to not in rules[room]:
                        problems.append(
                            '%s:%d: #include "%s": room %s may not include room %s '
                            '(it may include: %s)'
                            % (shown, lineno, target, room, to,
                               ', '.join(sorted(rules[room]))))
    print('checked %d includes in %d files under lib/ against the %d rooms of '
          'docs/architecture.md' % (checked, files, len(rules)))
    for p in problems:
        print(p)
    if problems:
        print('%d violation(s)' % len(problems))
        return 1
    print('no violations')
    return 0


if __name__ == '__main__':
    sys.exit(main())

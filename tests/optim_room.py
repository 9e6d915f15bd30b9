#!/usr/bin/env python3
"""lib/optim/ reaches the model only through its parameter block: no file
there includes a header of lib/model/ or calls an mlp__model_ function.
And lib/io/ sees an optimizer only through optim/optim_file.h (the
optimizer writes and reads its own record in model files): no file there
includes another header of lib/optim/."""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
bad = []
for f in sorted((root / 'lib' / 'optim').glob('*.[ch]')):
    for no, line in enumerate(f.read_text().splitlines(), 1):
        if re.search(r'#\s*include\s*"(model/|model_impl\.h)', line) or \
                re.search(r'\bmlp__model_\w*\s*\(', line):
            bad.append(f'{f.relative_to(root)}:{no}: {line.strip()}')
for f in sorted((root / 'lib' / 'io').glob('*.[ch]')):
    for no, line in enumerate(f.read_text().splitlines(), 1):
        m = re.search(r'#\s*include\s*"optim/([^"]+)"', line)
        if m and m.group(1) != 'optim_file.h':
            bad.append(f'{f.relative_to(root)}:{no}: {line.strip()}')
for b in bad:
    print(b)
sys.exit(1 if bad else 0)

#!/bin/sh
# The manual page renders without a warning from groff (-ww: all of them),
# such as a line that starts with "." and so reads as an unknown macro,
# which troff drops with its text. Skips (77) without groff.
#   check_man.sh PAGE
command -v groff >/dev/null 2>&1 || {
    echo "groff not found: skipped"
    exit 77
}
if warnings=$(groff -man -ww -z "$1" 2>&1) && [ -z "$warnings" ]; then
    echo "$1: no warnings"
    exit 0
fi
echo "$warnings"
exit 1

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# make syntax-check: the house rules a reviewer would otherwise point out.
# Every C source starts with an SPDX line, uses no tabs, has no trailing
# white space and no line over 100 columns (80 is the aim).
cd "${1:-.}" || exit 2
rc=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src qmp driver tests -name '*.[ch]')
for f in $files; do
    head -1 "$f" | grep -q 'SPDX-License-Identifier' ||
        { echo "$f:1: missing SPDX-License-Identifier line"; rc=1; }
    grep -n "$(printf '\t')" "$f" | sed "s|^|$f:|; s|$| (tab)|" | head -3 | grep . && rc=1
    grep -nE ' +$' "$f" | sed "s|^|$f:|; s|$| (trailing space)|" | head -3 | grep . && rc=1
    awk -v f="$f" 'length($0) > 100 { print f ":" NR ": line over 100 columns"; bad=1 } END { exit bad }' "$f" || rc=1
done
exit $rc

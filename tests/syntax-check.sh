#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# TAP wrapper around build-aux/syntax-check.sh, so `make check` keeps the
# house style (design/STYLE.md) as a test.
echo "1..2"
out=$("${KESTREL_SRCDIR:-.}/build-aux/syntax-check.sh" "${KESTREL_SRCDIR:-.}" 2>&1)
if [ $? -eq 0 ]; then
    echo "ok 1 - syntax-check"
else
    echo "not ok 1 - syntax-check"
    printf '%s\n' "$out" | sed 's/^/# /'
fi
# Every man page renders without a warning.
src="${KESTREL_SRCDIR:-.}"
bad=""
for m in "$src"/man/*.[0-9]; do
    w=$(LC_ALL=C.UTF-8 MANROFFSEQ='' man --warnings -E UTF-8 -l "$m" 2>&1 >/dev/null)
    [ -n "$w" ] && bad="$bad $m: $w"
done
if [ -z "$bad" ]; then
    echo "ok 2 - man pages render cleanly"
else
    echo "not ok 2 - man pages render cleanly"
    printf '%s\n' "$bad" | sed 's/^/# /'
fi

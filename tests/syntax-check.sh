#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# TAP wrapper around build-aux/syntax-check.sh, so `make check` keeps the
# house style (design/STYLE.md) as a test.
echo "1..1"
out=$("${KESTREL_SRCDIR:-.}/build-aux/syntax-check.sh" "${KESTREL_SRCDIR:-.}" 2>&1)
if [ $? -eq 0 ]; then
    echo "ok 1 - syntax-check"
else
    echo "not ok 1 - syntax-check"
    printf '%s\n' "$out" | sed 's/^/# /'
fi

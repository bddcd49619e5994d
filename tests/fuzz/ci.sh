#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `make check`: the QMP framer and dispatcher fuzz target, briefly (CI runs
# it for FUZZ_SECONDS, default 20; bench/ runs it longer). TAP output.
echo "1..1"
secs=${FUZZ_SECONDS:-20}
out=$(mktemp -d "${TMPDIR:-/tmp}/kestrel-fuzz.XXXXXX")
log="$out/fuzz.log"
if sh "${KESTREL_SRCDIR:-.}/tests/fuzz/run.sh" "$secs" "$out" >"$log" 2>&1 &&
   [ -z "$(ls -A "$out/crashes")" ] && grep -q "Done [0-9]* runs" "$log"; then
    echo "ok 1 - fuzz-qmp $(grep -o 'Done [0-9]* runs' "$log") in ${secs}s"
    rm -rf "$out"
else
    echo "not ok 1 - fuzz-qmp (artifacts kept in $out)"
    tail -40 "$log" | sed 's/^/# /'
fi

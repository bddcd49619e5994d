#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `make check`: the fuzz targets, briefly (CI runs each for FUZZ_SECONDS,
# default 20; tests/fuzz/run.sh runs them longer). TAP output.
#   1  fuzz-qmp: the QMP framer and dispatcher
#   2  fuzz-vmstate: the migration destination (device and CPU state, the
#      stream reader); its instrumented objects are kept in the build tree
#      (tests/fuzz/obj-vmstate) so a second run only links
echo "1..2"
secs=${FUZZ_SECONDS:-20}
n=0
for target in qmp vmstate; do
    n=$((n + 1))
    out=$(mktemp -d "${TMPDIR:-/tmp}/kestrel-fuzz.XXXXXX")
    log="$out/fuzz.log"
    if FUZZ_OBJDIR="${KESTREL_BUILDDIR:-.}/tests/fuzz/obj-$target" \
       sh "${KESTREL_SRCDIR:-.}/tests/fuzz/run.sh" "$secs" "$out" "$target" \
       >"$log" 2>&1 &&
       [ -z "$(ls -A "$out/crashes")" ] && grep -q "Done [0-9]* runs" "$log"
    then
        echo "ok $n - fuzz-$target $(grep -o 'Done [0-9]* runs' "$log") in ${secs}s"
        rm -rf "$out"
    else
        echo "not ok $n - fuzz-$target (artifacts kept in $out)"
        grep -v 'guest driver error' "$log" | tail -40 | sed 's/^/# /'
    fi
done

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `make check`: the fuzz targets, briefly (CI runs qmp and vmstate for
# FUZZ_SECONDS, default 20, the others for FUZZ_SECONDS_SHORT, default 6;
# tests/fuzz/run.sh runs them longer). Each replays its regression inputs
# (tests/fuzz/regress/TARGET) first. TAP output.
#   fuzz-qmp: the QMP framer and dispatcher
#   fuzz-vmstate: the migration destination (device and CPU state, the
#     stream reader)
#   fuzz-keyval: keyval strings, JSON options, the command line
#   fuzz-virtqueue: the split virtqueue walker
#   fuzz-qcow2: the qcow2 reader and writer on a hostile image
#   fuzz-domxml: the daemon's domain XML, its round trip and command line
#   fuzz-rpc: the daemon's RPC server, the XDR of what it serves
# The instrumented objects of all but qmp are kept in the build tree
# (tests/fuzz/obj-lib), shared, so a second run only links.
targets="qmp vmstate keyval virtqueue qcow2 domxml rpc"
echo "1..$(echo $targets | wc -w)"
n=0
for target in $targets; do
    n=$((n + 1))
    case $target in
    qmp|vmstate) secs=${FUZZ_SECONDS:-20} ;;
    *) secs=${FUZZ_SECONDS_SHORT:-6} ;;
    esac
    out=$(mktemp -d "${TMPDIR:-/tmp}/kestrel-fuzz.XXXXXX")
    log="$out/fuzz.log"
    if FUZZ_OBJDIR="${KESTREL_BUILDDIR:-.}/tests/fuzz/obj-lib" \
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

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the QMP fuzz target with clang/libFuzzer (outside the autotools
# build) and run it.
#   tests/fuzz/run.sh [SECONDS] [BUILDDIR]
# Needs clang with its libFuzzer runtime (Debian: clang, libclang-rt-dev
# or the runtime shipped with clang-14), libglib2.0-dev, libjson-glib-dev.
set -eu
secs=${1:-60}
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
out=${2:-${TMPDIR:-/tmp}/kestrel-fuzz-qmp}
mkdir -p "$out/corpus" "$out/crashes"

# same files, same order as QMP_SCHEMA_FILES in qmp/local.mk
python3 "$srcdir/qmp/gen-schema.py" --srcdir "$srcdir" \
    schemas/control.json schemas/introspect.json schemas/run-state.json \
    schemas/machine.json schemas/misc.json schemas/qom.json \
    schemas/char.json schemas/block.json schemas/migration.json \
    > "$out/qmp-schema-data.c"

${CC:-clang} -g -O1 -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -D_GNU_SOURCE \
    -I"$srcdir/qmp" $(pkg-config --cflags glib-2.0 json-glib-1.0) \
    "$srcdir/tests/fuzz/fuzz-qmp.c" \
    "$srcdir/qmp/json-stream.c" "$srcdir/qmp/json-writer.c" \
    "$srcdir/qmp/qmp-error.c" "$srcdir/qmp/qmp-schema.c" \
    "$srcdir/qmp/qmp-dispatch.c" "$out/qmp-schema-data.c" \
    $(pkg-config --libs glib-2.0 json-glib-1.0) -o "$out/fuzz-qmp"

# seeds: a normal session and some of QEMU's odd corners
printf '{"execute":"qmp_capabilities"}\n{"execute":"query-status","id":1}' \
    > "$out/corpus/seed-session"
printf "{'execute':'human-monitor-command','arguments':{'command-line':'it\\\\'s'}}" \
    > "$out/corpus/seed-quotes"
printf '{"execute":"qom-set","arguments":{"path":"/m","property":"p","value":[1,{"a":"\\u00e9"}]}}' \
    > "$out/corpus/seed-qom"
printf '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}\x01[[[1,2.5e3,-0]]]' \
    > "$out/corpus/seed-misc"

cd "$out"
exec ./fuzz-qmp -max_total_time="$secs" -max_len=4096 -timeout=10 \
    -artifact_prefix="$out/crashes/" "$out/corpus"

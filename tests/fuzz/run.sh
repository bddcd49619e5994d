#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Build a fuzz target with clang/libFuzzer (outside the autotools build)
# and run it.
#   tests/fuzz/run.sh [SECONDS] [BUILDDIR] [TARGET]
# TARGET: qmp (the default: the QMP framer and dispatcher) or vmstate
# (the migration destination: device and CPU state, the stream reader).
# Crashes land in BUILDDIR/crashes, the corpus grows in BUILDDIR/corpus;
# the vmstate build keeps its objects in BUILDDIR/obj, or FUZZ_OBJDIR,
# and rebuilds only what changed.
# Needs clang with its libFuzzer runtime (Debian: clang, libclang-rt-dev
# or the runtime shipped with clang-14), libglib2.0-dev, libjson-glib-dev
# and, for vmstate, libzstd-dev.
set -eu
secs=${1:-60}
target=${3:-qmp}
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
out=${2:-${TMPDIR:-/tmp}/kestrel-fuzz-$target}
mkdir -p "$out/corpus" "$out/crashes"
CC=${CC:-clang}
FUZZ_CFLAGS="-g -O1 -fsanitize=fuzzer,address,undefined \
    -Wno-gnu-variable-sized-type-not-at-end \
    -fno-sanitize-recover=undefined -D_GNU_SOURCE"

# same files, same order as QMP_SCHEMA_FILES in qmp/local.mk
python3 "$srcdir/qmp/gen-schema.py" --srcdir "$srcdir" \
    schemas/control.json schemas/introspect.json schemas/run-state.json \
    schemas/machine.json schemas/misc.json schemas/qom.json \
    schemas/char.json schemas/block.json schemas/migration.json \
    > "$out/qmp-schema-data.c.new"
if cmp -s "$out/qmp-schema-data.c.new" "$out/qmp-schema-data.c"; then
    rm -f "$out/qmp-schema-data.c.new"
else
    mv "$out/qmp-schema-data.c.new" "$out/qmp-schema-data.c"
fi

if [ "$target" = vmstate ]; then
    # All of libkestrel (src/local.mk's list) and libqmp, instrumented:
    # each object rebuilt when its source or a header it includes changed.
    srcs=$(cd "$srcdir" && sed -n '/_SOURCES *=/,/^$/p' src/local.mk \
               qmp/local.mk | tr ' \\\t' '\n\n\n' |
           grep -E '^(src|qmp)/.*\.c$' |
           grep -v -e '^src/main\.c$' -e '^qmp/qmp-schema-data\.c$')
    obj=${FUZZ_OBJDIR:-$out/obj}
    mkdir -p "$obj"
    objs=
    : > "$obj/todo"
    for s in $srcs tests/fuzz/fuzz-vmstate.c "$out/qmp-schema-data.c"; do
        case $s in
        /*) o="$obj/$(basename "$s" .c).o" ;;
        *) o="$obj/$(echo "$s" | tr / _).o"; s="$srcdir/$s" ;;
        esac
        objs="$objs $o"
        stale=
        if [ -f "$o" ] && [ -f "$o.d" ]; then
            for dep in $(sed 's/^[^:]*://; s/\\$//' "$o.d"); do
                if [ "$dep" -nt "$o" ]; then
                    stale=1
                    break
                fi
            done
        else
            stale=1
        fi
        if [ -n "$stale" ]; then
            echo "$s $o" >> "$obj/todo"
        fi
    done
    # one compiler per core: the machine is shared
    CFLAGS_ALL="$FUZZ_CFLAGS -Wall -Wextra -Wno-unused-parameter \
        -Wno-missing-field-initializers -Wformat=2 -Wstrict-prototypes \
        -Wmissing-prototypes -Wvla -Wno-null-pointer-subtraction -Werror \
        -I$srcdir/src -I$srcdir/qmp \
        -I${KESTREL_BUILDDIR:-$srcdir} \
        -I$srcdir $(pkg-config --cflags glib-2.0 json-glib-1.0 libzstd zlib liburing)"
    export CC CFLAGS_ALL
    xargs -r -n 2 -P "$(nproc)" sh -c \
        'exec $CC $CFLAGS_ALL -MMD -MF "$2.d" -c "$1" -o "$2"' sh \
        < "$obj/todo"
    $CC $FUZZ_CFLAGS $objs \
        $(pkg-config --libs glib-2.0 json-glib-1.0 libzstd zlib liburing) -lutil \
        -lpthread -o "$out/fuzz-vmstate.new"
    mv "$out/fuzz-vmstate.new" "$out/fuzz-vmstate"

    # seeds: the target writes its own (device state, streams from
    # kestrel's writer); and a stream a real kestrel saved, if built
    KESTREL_FUZZ_SEEDS="$out/corpus" "$out/fuzz-vmstate" >/dev/null 2>&1
    kestrel=${KESTREL:-$srcdir/src/kestrel}
    if [ -x "$kestrel" ] && [ ! -f "$out/corpus/seed-kestrel-file" ]; then
        python3 "$srcdir/tests/fuzz/mkseed-stream.py" "$kestrel" \
            "$out/corpus" || echo "(no stream from $kestrel)"
    fi
    cd "$out"
    exec ./fuzz-vmstate -max_total_time="$secs" -max_len=65536 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$out/crashes/" "$out/corpus"
fi

$CC $FUZZ_CFLAGS \
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

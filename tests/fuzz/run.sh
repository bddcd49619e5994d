#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Build a fuzz target with clang/libFuzzer (outside the autotools build)
# and run it.
#   tests/fuzz/run.sh [SECONDS] [BUILDDIR] [TARGET]
# TARGET (tests/fuzz/README has what each covers):
#   qmp        the QMP framer and dispatcher (the default)
#   vmstate    the migration destination: device and CPU state, the stream
#   qcow2      the qcow2 reader and writer on a hostile image
#   virtqueue  the split virtqueue walker on hostile rings
#   keyval     keyval strings, JSON options and the whole command line
#   domxml     the daemon's domain XML: schema, policy, format, re-parse
#   rpc        the daemon's RPC server and the XDR of what it serves
# Crashes land in BUILDDIR/crashes, the corpus grows in BUILDDIR/corpus.
# Inputs under tests/fuzz/regress/TARGET (crashes found before) are run
# first. Every target but qmp keeps its instrumented objects in
# BUILDDIR/obj, or FUZZ_OBJDIR (one directory serves all targets), and
# rebuilds only what changed.
# Needs clang with its libFuzzer runtime (Debian: clang, libclang-rt-dev
# or the runtime shipped with clang-14), libglib2.0-dev, libjson-glib-dev,
# libzstd-dev, zlib1g-dev, liburing-dev, and libxml2-dev for domxml;
# qemu-img (qemu-utils), if present, makes qcow2's seed images.
set -eu
secs=${1:-60}
target=${3:-qmp}
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
out=${2:-${TMPDIR:-/tmp}/kestrel-fuzz-$target}
mkdir -p "$out/corpus" "$out/crashes"
CC=${CC:-clang}
# GLib's slice allocator hides leaks from LeakSanitizer (and makes
# libFuzzer scan for them after every input): plain malloc
export G_SLICE=always-malloc
FUZZ_CFLAGS="-g -O1 -fsanitize=fuzzer,address,undefined \
    -Wno-gnu-variable-sized-type-not-at-end \
    -fno-sanitize-recover=undefined -D_GNU_SOURCE"

# the files of QMP_SCHEMA_FILES in qmp/local.mk, in its order
schema_files=$(sed -n '/^QMP_SCHEMA_FILES *=/,/^$/p' "$srcdir/qmp/local.mk" |
               tr ' \\\t' '\n\n\n' | grep '^schemas/.*\.json$')
# shellcheck disable=SC2086
python3 "$srcdir/qmp/gen-schema.py" --srcdir "$srcdir" $schema_files \
    > "$out/qmp-schema-data.c.new"
if cmp -s "$out/qmp-schema-data.c.new" "$out/qmp-schema-data.c"; then
    rm -f "$out/qmp-schema-data.c.new"
else
    mv "$out/qmp-schema-data.c.new" "$out/qmp-schema-data.c"
fi

# sources listed in the _SOURCES variables of automake fragments $2...
# under folder $1
mk_sources()
{
    dir=$1
    shift
    (cd "$srcdir" && sed -n '/_SOURCES *=/,/^$/p' "$@" |
     tr ' \\\t' '\n\n\n' | grep -E "^$dir/.*\\.c\$")
}

# build $out/fuzz-$target from sources $@ (paths relative to $srcdir, or
# absolute), each object rebuilt when its source or a header it includes
# changed; compilers run one per core (the machine is shared)
build()
{
    obj=${FUZZ_OBJDIR:-$out/obj}
    mkdir -p "$obj"
    objs=
    : > "$obj/todo.$target"
    for s in "$@"; do
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
            echo "$s $o" >> "$obj/todo.$target"
        fi
    done
    pkgs="glib-2.0 gio-2.0 gio-unix-2.0 json-glib-1.0 libzstd zlib liburing libseccomp \
        libxml-2.0 libtirpc"
    CFLAGS_ALL="$FUZZ_CFLAGS -Wall -Wextra -Wno-unused-parameter \
        -Wno-missing-field-initializers -Wformat=2 -Wstrict-prototypes \
        -Wmissing-prototypes -Wvla -Wno-null-pointer-subtraction -Werror \
        -I$srcdir/src -I$srcdir/qmp -I$srcdir/driver \
        -I${KESTREL_BUILDDIR:-$srcdir} \
        -I$srcdir $(pkg-config --cflags $pkgs) ${FUZZ_CFLAGS_EXTRA:-}"
    export CC CFLAGS_ALL
    xargs -r -n 2 -P "$(nproc)" sh -c \
        'exec $CC $CFLAGS_ALL -MMD -MF "$2.d" -c "$1" -o "$2"' sh \
        < "$obj/todo.$target"
    # shellcheck disable=SC2086
    $CC $FUZZ_CFLAGS $objs $(pkg-config --libs $pkgs) -lutil \
        -Wl,--wrap=json_parser_load_from_data -lpthread \
        -o "$out/fuzz-$target.new"
    mv "$out/fuzz-$target.new" "$out/fuzz-$target"
}

# run the regression inputs, then fuzz for $secs; $@: libFuzzer options
run()
{
    regress="$srcdir/tests/fuzz/regress/$target"
    cd "$out"
    if [ -d "$regress" ] && [ -n "$(ls -A "$regress")" ]; then
        "./fuzz-$target" "$@" "$regress"/*
    fi
    exec "./fuzz-$target" -max_total_time="$secs" -timeout=10 \
        -artifact_prefix="$out/crashes/" "$@" "$out/corpus"
}

case $target in
qmp)
    ;;
vmstate|qcow2|virtqueue|keyval)
    # all of libkestrel (src/local.mk's list) and libqmp, instrumented
    # shellcheck disable=SC2046
    build $(mk_sources src src/local.mk | grep -v '^src/main\.c$') \
          $(mk_sources qmp qmp/local.mk | grep -v 'qmp-schema-data\.c$') \
          "tests/fuzz/fuzz-$target.c" tests/fuzz/fuzz-glib.c \
          "$out/qmp-schema-data.c"
    # seeds: each target writes its own
    KESTREL_FUZZ_SEEDS="$out/corpus" "$out/fuzz-$target" >/dev/null 2>&1
    ;;
domxml)
    # driver/local.mk's libkestreldrv-conf.a, and libkestrel for the
    # command-line parser, instrumented
    # shellcheck disable=SC2046
    build $(cd "$srcdir" &&
            sed -n '/^driver_libkestreldrv_conf_a_SOURCES *=/,/^$/p' \
                driver/local.mk | tr ' \\\t' '\n\n\n' |
            grep -E '^driver/.*\.c$') \
          $(mk_sources src src/local.mk | grep -v '^src/main\.c$') \
          $(mk_sources qmp qmp/local.mk | grep -v 'qmp-schema-data\.c$') \
          "tests/fuzz/fuzz-$target.c" tests/fuzz/fuzz-glib.c \
          "$out/qmp-schema-data.c"
    KESTREL_FUZZ_SEEDS="$out/corpus" "$out/fuzz-$target" >/dev/null
    ;;
rpc)
    # virtkestreld without main.c (driver/local.mk), its conf library,
    # libqmp and rpcgen's code from the build tree, instrumented
    bdir=${KESTREL_BUILDDIR:-$srcdir}
    if [ ! -f "$bdir/driver/remote_protocol.c" ]; then
        echo "run.sh: build kestrel first (no $bdir/driver/remote_protocol.c)" >&2
        exit 2
    fi
    # rpcgen's code declares variables it does not always use
    # (word-split, not quote-removed: the values reach cc as "...")
    FUZZ_CFLAGS_EXTRA="-Wno-unused-variable -I$bdir/driver \
        -DBINDIR=\"/usr/local/bin\" -DSYSCONFDIR=\"/usr/local/etc\" \
        -DLOCALSTATEDIR=\"/usr/local/var\""
    # shellcheck disable=SC2046
    build $(cd "$srcdir" &&
            sed -n -e '/^driver_libkestreldrv_conf_a_SOURCES *=/,/^$/p' \
                -e '/^driver_virtkestreld_SOURCES *=/,/^$/p' \
                driver/local.mk | tr ' \\\t' '\n\n\n' |
            grep -E '^(driver|src)/.*\.c$' | grep -v '^driver/main\.c$') \
          $(mk_sources qmp qmp/local.mk | grep -v 'qmp-schema-data\.c$') \
          "$bdir/driver/remote_protocol.c" \
          "tests/fuzz/fuzz-$target.c" tests/fuzz/fuzz-glib.c \
          "$out/qmp-schema-data.c"
    KESTREL_FUZZ_SEEDS="$out/corpus" "$out/fuzz-$target" >/dev/null
    ;;
*)
    echo "run.sh: unknown target '$target'" >&2
    exit 2
    ;;
esac

case $target in
vmstate)
    # and a stream a real kestrel saved, if built
    kestrel=${KESTREL:-$srcdir/src/kestrel}
    if [ -x "$kestrel" ] && [ ! -f "$out/corpus/seed-kestrel-file" ]; then
        python3 "$srcdir/tests/fuzz/mkseed-stream.py" "$kestrel" \
            "$out/corpus" || echo "(no stream from $kestrel)"
    fi
    run -max_len=65536 -rss_limit_mb=2048
    ;;
qcow2)
    # images qemu-img made: small clusters keep them short
    if command -v qemu-img >/dev/null; then
        sh "$srcdir/tests/fuzz/mkseed-qcow2.sh" "$out/corpus"
    fi
    run -max_len=65536 -rss_limit_mb=2048
    ;;
virtqueue)
    run -max_len=16384
    ;;
keyval)
    run -max_len=4096
    ;;
domxml)
    # a dictionary: the elements and attributes our policy knows
    policy="$srcdir/driver/domain-conf-policy.c"
    {
        grep -o '{ "domain[a-zA-Z/_-]*"' "$policy" |
            sed 's|^{ "||; s|"$||; s|.*/||' | sort -u |
            sed 's|.*|"<&>"\n"</&>"|'
        grep -o -e 'ANY("[a-zA-Z_-]*")' -e '{ "[a-zA-Z_-]*", "' "$policy" |
            sed 's/^ANY("//; s/^{ "//; s/".*//' | sort -u |
            sed "s/.*/\" &='\"/"
    } > "$out/domxml.dict"
    run -max_len=16384 -rss_limit_mb=2048 -dict="$out/domxml.dict"
    ;;
rpc)
    run -max_len=65536 -rss_limit_mb=2048
    ;;
esac

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

run -max_len=4096

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Seed images for fuzz-qcow2, made by qemu-img into DIR:
#   tests/fuzz/mkseed-qcow2.sh DIR
# Small clusters keep them a few KiB: v2 and v3 images, empty and with
# data, one with zero clusters (v3), one naming a backing file that does
# not exist, one with compressed clusters. Each gets 16 bytes appended:
# the requests the target makes after opening it (see fuzz-qcow2.c).
set -eu
dir=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kestrel-qcow2-seed.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# read, write, zeroes, discard at the start, middle and end
ops='\000\000\000\000\011\000\001\001\022\100\000\002\043\020\000\000'

seed()
{
    name=$1
    shift
    qemu-img "$@" >/dev/null
    cat "$tmp/img" > "$dir/seed-$name"
    printf "$ops" >> "$dir/seed-$name"
    rm -f "$tmp/img"
}

seed v3-512 create -f qcow2 -o cluster_size=512 "$tmp/img" 64K
seed v2-512 create -f qcow2 -o cluster_size=512,compat=0.10 "$tmp/img" 64K
seed v3-4k create -f qcow2 -o cluster_size=4096,refcount_bits=1 \
    "$tmp/img" 1M
seed backing create -f qcow2 -o cluster_size=512 -b missing.qcow2 \
    -F qcow2 -u "$tmp/img" 64K

# data: a raw file with a pattern, zeroes and a hole, converted
yes 'kestrel fuzz seed' | head -c 8192 > "$tmp/raw"
dd if=/dev/zero bs=4096 count=2 >> "$tmp/raw" 2>/dev/null
printf 'kestrel' | dd of="$tmp/raw" bs=1 seek=30000 conv=notrunc \
    2>/dev/null
truncate -s 64K "$tmp/raw"
seed data convert -f raw -O qcow2 -o cluster_size=512 "$tmp/raw" "$tmp/img"
seed compressed convert -c -f raw -O qcow2 -o cluster_size=4096 \
    "$tmp/raw" "$tmp/img"
qemu-img create -f qcow2 -o cluster_size=512 "$tmp/img" 64K >/dev/null
qemu-io -f qcow2 -c 'write -P 0x11 0 4k' -c 'write -z 4k 4k' \
    "$tmp/img" >/dev/null 2>&1 || true
cat "$tmp/img" > "$dir/seed-zero-clusters"
printf "$ops" >> "$dir/seed-zero-clusters"

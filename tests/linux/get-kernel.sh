#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# get-kernel.sh [CACHEDIR]: fetch Debian's own x86-64 kernel for the Linux
# boot tests and print the path of its uncompressed ELF vmlinux.
#
# The kernel is the one the linux-image-amd64 metapackage currently depends
# on. Its .deb is downloaded with apt-get into CACHEDIR (default
# /var/cache/kestrel/linux), /boot/vmlinuz-<ver> is taken out of it, and the
# vmlinux ELF is decompressed from the bzImage's payload. Results:
#
#   CACHEDIR/vmlinuz-<ver>    the bzImage, as Debian ships it
#   CACHEDIR/vmlinux-<ver>    the ELF kernel (QEMU and kestrel boot it by PVH
#                             note or the 64-bit boot protocol)
#
# Idempotent and quick once cached; safe to run concurrently (flock). Needs
# apt, dpkg-deb, tar, od, and the decompressor of the payload: xz (Debian 12
# kernels), zstd, gzip, bzip2, lzma or lz4.
set -euo pipefail

cachedir=${1:-/var/cache/kestrel/linux}

log() { printf 'get-kernel: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# le32 FILE OFFSET: the little-endian 32-bit word at OFFSET.
le32() { od -An -tu4 -j "$2" -N 4 "$1" | tr -d ' '; }
# le16 FILE OFFSET
le16() { od -An -tu2 -j "$2" -N 2 "$1" | tr -d ' '; }
# u8 FILE OFFSET
u8() { od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' '; }
# hexat FILE OFFSET N: N bytes at OFFSET as one lowercase hex string.
hexat() { od -An -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n'; }

# Which package does the metapackage pull in? Prints e.g.
# linux-image-6.1.0-56-amd64, or nothing when apt knows no candidate.
resolve_package() {
    local policy
    policy=$(apt-cache policy linux-image-amd64 2>/dev/null) || true
    case $policy in
    *"Candidate: "[0-9]*) ;;
    *) return 0 ;;
    esac
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' |
        sed -n 1p
}

# decompress FORMAT: stdin compressed, stdout raw. Trailing bytes after the
# stream are harmless: the caller passes exactly the stream.
decompress() {
    case $1 in
    xz)    xz -dc --single-stream ;;
    lzma)  xz -dc --format=lzma ;;
    zstd)  zstd -dcq ;;
    gzip)  gzip -dc ;;
    bzip2) bzip2 -dc ;;
    lz4)   lz4 -dcq ;;
    *)     return 1 ;;
    esac
}

# format_of HEX: the compression format whose magic starts HEX (the first
# six bytes of a stream), as scripts/extract-vmlinux recognises them.
format_of() {
    case $1 in
    fd377a585a00*) echo xz ;;
    28b52ffd*)     echo zstd ;;
    1f8b08*|1f8b09*) echo gzip ;;
    425a68*)       echo bzip2 ;;
    5d0000*)       echo lzma ;;
    02214c18*)     echo lz4 ;;
    *)             return 1 ;;
    esac
}

# is_elf64 FILE
is_elf64() { [ "$(hexat "$1" 0 5)" = 7f454c4602 ]; }

# extract_vmlinux BZIMAGE OUT: write the payload's ELF into OUT.
#
# The boot protocol (>= 2.08) says where the payload is: payload_offset
# (0x248) counts from the protected-mode code, which starts after the
# (setup_sects + 1) 512-byte sectors of the real-mode part; payload_length
# (0x24c) includes the 4-byte little-endian uncompressed size that the
# kernel's build appends to the stream. Using the header instead of searching
# for magic numbers avoids false hits inside the decompressor's own code.
extract_vmlinux() {
    local bz=$1 out=$2
    local magic version setup_sects pm off len fmt want got

    magic=$(hexat "$bz" $((0x202)) 4)
    [ "$magic" = 48647253 ] || die "$bz: no 'HdrS' signature, not a bzImage"
    version=$(le16 "$bz" $((0x206)))
    [ "$version" -ge $((0x208)) ] ||
        die "$bz: boot protocol $(printf %#x "$version") has no payload fields"

    setup_sects=$(u8 "$bz" $((0x1f1)))
    [ "$setup_sects" -ne 0 ] || setup_sects=4
    pm=$(((setup_sects + 1) * 512))
    off=$((pm + $(le32 "$bz" $((0x248)))))
    len=$(le32 "$bz" $((0x24c)))
    if [ "$len" -le 4 ] || [ $((off + len)) -gt "$(stat -c %s "$bz")" ]; then
        die "$bz: payload offset $off length $len lie outside the file"
    fi

    fmt=$(format_of "$(hexat "$bz" "$off" 6)") ||
        die "$bz: unknown compression (payload starts $(hexat "$bz" "$off" 6))"
    command -v "$([ "$fmt" = lzma ] && echo xz || echo "$fmt")" >/dev/null ||
        die "$bz: payload is $fmt-compressed but the '$fmt' tool is missing"
    want=$(le32 "$bz" $((off + len - 4)))

    log "payload: $fmt, $((len - 4)) bytes at $off, $want bytes unpacked"
    dd if="$bz" bs=64K skip="$off" count=$((len - 4)) status=none \
            iflag=skip_bytes,count_bytes |
        decompress "$fmt" >"$out" || die "$bz: $fmt decompression failed"

    got=$(stat -c %s "$out")
    [ "$got" -eq "$want" ] ||
        die "$bz: unpacked $got bytes, the payload says $want"
    is_elf64 "$out" || die "$bz: payload is not an ELF64 vmlinux"
}

mkdir -p "$cachedir"
exec 9>"$cachedir/.lock"
flock 9

pkg=$(resolve_package)
if [ -z "$pkg" ]; then
    # No candidate: the package lists are missing (fresh machine). An
    # earlier download still serves when there is one; else update once.
    cached=$(find "$cachedir" -maxdepth 1 -name 'vmlinux-*' -size +0 |
        sort -V | tail -n 1)
    if [ -n "$cached" ]; then
        log "apt knows no linux-image-amd64; using cached $cached"
        echo "$cached"
        exit 0
    fi
    log "apt knows no linux-image-amd64 candidate: apt-get update"
    apt-get update -q >&2 || die "apt-get update failed"
    pkg=$(resolve_package)
    [ -n "$pkg" ] || die "cannot resolve linux-image-amd64 to a kernel package"
fi

ver=${pkg#linux-image-}
vmlinux=$cachedir/vmlinux-$ver
vmlinuz=$cachedir/vmlinuz-$ver
if [ -s "$vmlinux" ] && [ -s "$vmlinuz" ]; then
    echo "$vmlinux"
    exit 0
fi

if [ ! -s "$vmlinuz" ]; then
    # apt-get download writes into the current directory. A scratch
    # directory inside the cache keeps partial downloads out of sight.
    dl=$(mktemp -d "$cachedir/.dl.XXXXXX")
    trap 'rm -rf "$dl"' EXIT
    log "downloading $pkg"
    # As root apt drops to the _apt user for downloads; let it write here.
    if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then
        chown _apt "$dl"
    fi
    (cd "$dl" && apt-get download -q "$pkg" >&2) ||
        die "apt-get download $pkg failed"
    debs=("$dl"/*.deb)
    deb=${debs[0]}
    dpkg-deb --fsys-tarfile "$deb" |
        tar -xOf - "./boot/vmlinuz-$ver" >"$dl/vmlinuz" ||
        die "$deb has no /boot/vmlinuz-$ver"
    mv "$dl/vmlinuz" "$vmlinuz"
    rm -rf "$dl"
    trap - EXIT
fi

tmp=$(mktemp "$cachedir/.vmlinux.XXXXXX")
trap 'rm -f "$tmp"' EXIT
extract_vmlinux "$vmlinuz" "$tmp"
chmod 644 "$tmp"
mv "$tmp" "$vmlinux"
trap - EXIT
echo "$vmlinux"

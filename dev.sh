#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# dev.sh: set up a Debian 12 machine for Kestrel, build it, and run it.
#
#   ./dev.sh demo      install what is missing, build, boot the test guest
#   ./dev.sh test      install what is missing, build, run the whole suite
#   ./dev.sh setup     install and build only
#
# Idempotent: packages already present are not reinstalled; the build is
# incremental. Must run as root (it installs Debian packages).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

# Every Debian package the build, the tests and the benchmarks need.
PACKAGES=(
    build-essential autoconf automake pkg-config
    libglib2.0-dev libjson-glib-dev
    libxml2-dev libtirpc-dev rpcsvc-proto libzstd-dev zlib1g-dev liburing-dev libseccomp-dev
    iproute2
    python3 python3-libvirt libvirt-clients libvirt-daemon-system
    qemu-system-x86 qemu-utils
    clang
    virt-manager xvfb x11-apps tesseract-ocr tesseract-ocr-eng dbus
    fonts-dejavu-core
    xz-utils zstd binutils acpica-tools util-linux man-db
    iputils-ping
    libguestfs-tools kmod
)

log() { printf '[dev.sh] %s\n' "$*" >&2; }

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return
    fi
    if [ "$(id -u)" -ne 0 ]; then
        log "missing packages: ${missing[*]}; run as root to install them"
        exit 1
    fi
    log "installing: ${missing[*]}"
    # A fresh machine's package lists are stale: update once, first.
    apt-get update -q
    # Installing libvirt-daemon-system must not start a system libvirtd:
    # the tests run private instances. policy-rc.d 101 forbids starts.
    local policy=/usr/sbin/policy-rc.d made_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    if [ -n "$made_policy" ]; then
        rm -f "$policy"
    fi
}

build() {
    if [ ! -x configure ] || [ configure.ac -nt configure ]; then
        log "autoreconf"
        autoreconf -fi >/dev/null
    fi
    if [ ! -f Makefile ] || [ configure -nt Makefile ]; then
        log "configure --enable-werror PYTHON=/usr/bin/python3"
        # Debian's python3: the one python3-* packages install into.
        ./configure -q --enable-werror PYTHON=/usr/bin/python3
    fi
    log "make"
    make -s -j"$(nproc)"
}

summary() {
    # Every test speaks TAP; count the cases from the harness's .trs files.
    local pass fail skip
    pass=$(cat $(find tests -name '*.trs') /dev/null | grep -cE '^:test-result: (PASS|XFAIL)' || true)
    fail=$(cat $(find tests -name '*.trs') /dev/null | grep -cE '^:test-result: (FAIL|XPASS|ERROR)' || true)
    skip=$(cat $(find tests -name '*.trs') /dev/null | grep -cE '^:test-result: SKIP' || true)
    if [ "$skip" -gt 0 ]; then
        echo "$pass passed, $fail failed, $skip skipped"
    else
        echo "$pass passed, $fail failed"
    fi
    [ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
}

cmd=${1:-demo}
case "$cmd" in
setup)
    install_packages
    build
    ;;
demo)
    install_packages
    build
    log "booting the test guest under kestrel: 2 vCPUs, 256 MiB, five"
    log "seconds of its page-dirtying workload, then an ACPI power-off"
    rc=0
    ./src/kestrel -nographic -m 256 -smp 2 -kernel tests/guest/testguest.elf \
        -append "tg.mode=dirty tg.mb=64 tg.secs=5" || rc=$?
    log "kestrel exited with status $rc"
    exit $rc
    ;;
test)
    install_packages
    build
    find tests -name '*.trs' -delete
    rc=0
    make -s -j"$(nproc)" check >/dev/null 2>&1 || rc=$?
    # Show every failing case with its log, then the counts.
    for f in $(find tests -name '*.log' ! -name test-suite.log); do
        if grep -qE '^(not ok|Bail out)' "$f"; then
            echo "==== $f"
            cat "$f"
        fi
    done
    grep -hE '^(ok|not ok)' $(find tests -name '*.log' ! -name test-suite.log) || true
    summary
    ;;
*)
    echo "usage: $0 demo|test|setup" >&2
    exit 2
    ;;
esac

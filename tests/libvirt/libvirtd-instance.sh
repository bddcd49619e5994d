#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# A private libvirtd: Debian's daemons and stock configuration, run in a
# mount namespace of their own where libvirt's directories are bind mounts
# of DIR/{etc,run,lib,cache,log}. The system's libvirt state is never
# touched, and nothing is left running once "stop" has returned.
#
#   libvirtd-instance.sh start DIR   daemons up; DIR/run/libvirt-sock ready
#   libvirtd-instance.sh stop DIR    both daemons gone
#
# virsh reaches it as qemu+unix:///system?socket=DIR/run/libvirt-sock.
set -eu

cmd=${1:?usage: $0 start|stop DIR}
dir=${2:?usage: $0 start|stop DIR}

stop_pidfile() {
    pidfile=$1
    [ -s "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

case $cmd in
start)
    mkdir -p "$dir/run" "$dir/lib/qemu" "$dir/cache/qemu" "$dir/log/qemu"
    cp -a /etc/libvirt "$dir/etc"
    # as Debian's package leaves them: qemu's state belongs to its user
    chown libvirt-qemu:libvirt-qemu "$dir/lib/qemu"
    chmod 0751 "$dir/lib/qemu"
    cat >>"$dir/etc/libvirtd.conf" <<CONF
log_filters="1:qemu 3:util 3:rpc 3:security 3:event 3:object"
log_outputs="1:file:/var/log/libvirt/libvirtd.log"
CONF
    # libvirt runs kestrel as libvirt-qemu, which opens /dev/kvm through
    # the group kvm (udev's rule). Where no udev gave the node to that
    # group, the namespace gets a node of its own that it does give; the
    # host's /dev/kvm stays as it is.
    if [ -c /dev/kvm ] && [ "$(stat -c %G:%A /dev/kvm)" != kvm:crw-rw---- ]
    then
        mknod "$dir/kvm" c "$((0x$(stat -c %t /dev/kvm)))" \
            "$((0x$(stat -c %T /dev/kvm)))"
        chown root:kvm "$dir/kvm"
        chmod 0660 "$dir/kvm"
    fi
    # mount points (empty directories) the namespace needs
    mkdir -p /run/libvirt /var/lib/libvirt /var/cache/libvirt \
             /var/log/libvirt
    unshare --mount --propagation private sh -c '
        set -e
        mount --bind "$1/etc" /etc/libvirt
        mount --bind "$1/run" /run/libvirt
        mount --bind "$1/lib" /var/lib/libvirt
        mount --bind "$1/cache" /var/cache/libvirt
        mount --bind "$1/log" /var/log/libvirt
        if [ -e "$1/kvm" ]; then
            mount --bind "$1/kvm" /dev/kvm
        fi
        virtlogd -d -p /run/libvirt/virtlogd.pid
        libvirtd -d -p /run/libvirt/libvirtd.pid
    ' sh "$dir"
    for _ in $(seq 200); do
        [ -S "$dir/run/libvirt-sock" ] && exit 0
        sleep 0.05
    done
    echo "libvirtd did not create $dir/run/libvirt-sock" >&2
    exit 1
    ;;
stop)
    stop_pidfile "$dir/run/libvirtd.pid"
    stop_pidfile "$dir/run/virtlogd.pid"
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac

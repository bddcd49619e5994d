# SPDX-License-Identifier: GPL-2.0-or-later
# Functional tests: Python (unittest) against real processes and /dev/kvm,
# reporting TAP through ktest.py. They need src/kestrel and the test guest.

FUNCTIONAL_TESTS = \
	tests/functional/test_boot.py \
	tests/functional/test_badinput.py \
	tests/functional/test_sandbox.py \
	tests/functional/test_errors.py \
	tests/functional/test_devices.py \
	tests/functional/test_pvh.py \
	tests/functional/test_reset.py \
	tests/functional/test_qmp.py \
	tests/functional/test_balloon.py \
	tests/functional/test_qemu_oracle.py \
	tests/functional/test_balloon_qemu.py \
	tests/functional/test_guest_blk_qemu.py \
	tests/functional/test_guest_net_qemu.py \
	tests/functional/test_linux.py \
	tests/functional/test_libvirt_qemu.py \
	tests/functional/test_daemon.py \
	tests/functional/test_daemon_scale.py \
	tests/functional/test_daemon_console.py \
	tests/functional/test_daemon_api.py \
	tests/functional/test_daemon_migrate.py \
	tests/functional/test_daemon_disks.py \
	tests/functional/test_daemon_net.py \
	tests/functional/test_daemon_limits.py \
	tests/functional/test_daemon_reconnect.py \
	tests/functional/test_virt_manager.py \
	tests/functional/test_migration.py \
	tests/functional/test_membackend.py \
	tests/functional/test_quiet.py \
	tests/functional/test_virtio_blk.py \
	tests/functional/test_virtio_net.py \
	tests/functional/test_guest_blk.py \
	tests/functional/test_guest_net.py \
	tests/functional/test_hardening.py \
	tests/functional/test_daemon_hardening.py \
	tests/functional/test_block_images.py \
	tests/functional/test_migration_devices.py \
	tests/functional/test_virtio_rng.py

TESTS += $(FUNCTIONAL_TESTS)
EXTRA_DIST += $(FUNCTIONAL_TESTS) tests/functional/ktest.py \
	tests/functional/virtio_qtest.py tests/functional/data/README \
	tests/functional/data/virt-install-4.1-kestrel.xml \
	tests/functional/data/virt-install-4.1-qemu-pc.xml \
	tests/functional/data/virt-install-qemu-capabilities.xml \
	tests/linux/get-kernel.sh tests/libvirt/libvirtd-instance.sh bench/README.md bench/RESULTS.md \
	bench/benchlib.py bench/startup.py bench/rss.py bench/exits.py \
	bench/balloon.py bench/daemon.py bench/migration_qtest.py \
	bench/membackend.py

# House style, as a test: SPDX lines, no tabs, no trailing space, width.
TESTS += tests/syntax-check.sh
EXTRA_DIST += tests/syntax-check.sh

# The fuzz targets, briefly (tests/fuzz/run.sh runs them longer; what
# each covers: tests/fuzz/README.md). Their instrumented objects stay in
# tests/fuzz/obj-lib between runs.
TESTS += tests/fuzz/ci.sh
EXTRA_DIST += tests/fuzz/ci.sh tests/fuzz/run.sh tests/fuzz/fuzz-qmp.c \
	tests/fuzz/fuzz-vmstate.c tests/fuzz/mkseed-stream.py \
	tests/fuzz/fuzz-glib.c tests/fuzz/fuzz-keyval.c \
	tests/fuzz/fuzz-virtqueue.c tests/fuzz/fuzz-qcow2.c \
	tests/fuzz/mkseed-qcow2.sh tests/fuzz/fuzz-domxml.c tests/fuzz/fuzz-rpc.c \
	tests/fuzz/regress tests/fuzz/README.md
clean-local: clean-fuzz
clean-fuzz:
	-rm -rf tests/fuzz/obj-lib tests/fuzz/obj-vmstate
.PHONY: clean-fuzz

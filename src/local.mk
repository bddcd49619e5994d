# SPDX-License-Identifier: GPL-2.0-or-later
# The VMM. Everything but main.c goes into a library the unit tests link.

noinst_LIBRARIES += src/libkestrel.a
src_libkestrel_a_SOURCES = \
	src/error.c src/error.h \
	src/bytes.h \
	src/layout.h \
	src/vmconfig.c src/vmconfig.h \
	src/logfile.c src/logfile.h \
	src/keyval.c src/keyval.h \
	src/cmdline.c src/cmdline.h src/cmdline-internal.h \
	src/cmdline-chardev.c src/cmdline-devices.c src/cmdline-machine.c \
	src/cmdline-block.c src/cmdline-net.c \
	src/memmap.c src/memmap.h \
	src/acpi.c src/acpi.h \
	src/loader.c src/loader.h \
	src/iobus.c src/iobus.h \
	src/kvm.c src/kvm.h \
	src/x86.c src/x86.h \
	src/vcpu.c src/vcpu.h \
	src/vm.c src/vm.h \
	src/chardev.c src/chardev.h \
	src/serial.c src/serial.h \
	src/i8042.c src/i8042.h \
	src/rtc.c src/rtc.h \
	src/pm.c src/pm.h \
	src/pci.c src/pci.h \
	src/device.c src/device.h \
	src/block/blockdev.c src/block/blockdev.h \
	src/net/net.c src/net/net.h src/net/tap.c src/net/tap.h \
	src/monitor.c src/monitor.h \
	src/qtest.c src/qtest.h \
	src/sandbox.c src/sandbox.h \
	src/qmp-cmds.c src/qmp-cmds.h \
	src/qmp-block.c src/qmp-net.c \
	src/virtio/virtqueue.c src/virtio/virtqueue.h \
	src/virtio/virtio.c src/virtio/virtio.h \
	src/virtio/virtio-pci.c src/virtio/virtio-pci.h \
	src/virtio/virtio-balloon.c src/virtio/virtio-balloon.h \
	src/virtio/virtio-blk.c src/virtio/virtio-blk.h \
	src/virtio/virtio-net.c src/virtio/virtio-net.h \
	src/virtio/virtio-rng.c src/virtio/virtio-rng.h \
	src/migration/vmstate.c src/migration/vmstate.h \
	src/migration/stream.c src/migration/stream.h \
	src/migration/channel.c src/migration/channel.h \
	src/migration/params.c src/migration/params.h \
	src/migration/ram.c src/migration/ram.h \
	src/migration/migration.c src/migration/migration.h \
	src/migration/describe.c src/migration/describe.h \
	src/migration/multifd.c src/migration/multifd.h \
	src/block/block.c src/block/block.h src/block/block-int.h \
	src/block/file.c src/block/raw.c \
	src/block/qcow2.c src/block/qcow2-int.h src/block/qcow2-refcount.c
src_libkestrel_a_CFLAGS = $(AM_CFLAGS) $(JSONGLIB_CFLAGS) $(ZSTD_CFLAGS) $(ZLIB_CFLAGS) $(URING_CFLAGS) $(SECCOMP_CFLAGS)

bin_PROGRAMS += src/kestrel
src_kestrel_SOURCES = src/main.c
src_kestrel_CFLAGS = $(AM_CFLAGS) $(JSONGLIB_CFLAGS)
src_kestrel_LDADD = src/libkestrel.a qmp/libqmp.a $(JSONGLIB_LIBS) $(GLIB_LIBS) $(ZSTD_LIBS) $(ZLIB_LIBS) $(URING_LIBS) $(SECCOMP_LIBS) -lutil -lpthread

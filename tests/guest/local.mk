# SPDX-License-Identifier: GPL-2.0-or-later
# The test guest (design/TESTGUEST.md, tests/guest/README.md): a freestanding
# x86-64 kernel built with the system compiler. It has its own flags: no libc,
# no red zone (the CPU pushes trap frames on the kernel stack), no SSE (CPL0
# code is emulated here and cannot run it), absolute addresses (linked at
# 1 MiB). The user's CFLAGS still come last: flags that need a runtime
# (-fsanitize=..., -pg) cannot work in it.

noinst_PROGRAMS += tests/guest/testguest.elf
tests_guest_testguest_elf_SOURCES = \
	tests/guest/tg.h \
	tests/guest/entry.S \
	tests/guest/kernel.c \
	tests/guest/lib.c \
	tests/guest/console.c \
	tests/guest/boot.c \
	tests/guest/cmdline.c \
	tests/guest/acpi.c \
	tests/guest/mptable.c \
	tests/guest/smp.c \
	tests/guest/clock.c \
	tests/guest/pm.c \
	tests/guest/main.c \
	tests/guest/modes.c \
	tests/guest/dirty.c \
	tests/guest/pci.c \
	tests/guest/virtio.c \
	tests/guest/balloon.c \
	tests/guest/blk.c \
	tests/guest/net.c
tests_guest_testguest_elf_CPPFLAGS = -I$(srcdir)/tests/guest
tests_guest_testguest_elf_CFLAGS = \
	-std=gnu11 -O2 -g -ffreestanding -fno-builtin -nostdlib \
	-fno-pic -fno-pie -fno-stack-protector -fno-asynchronous-unwind-tables \
	-fno-tree-loop-distribute-patterns -mno-red-zone -mgeneral-regs-only \
	-mcmodel=small -fcf-protection=none $(WARN_CFLAGS)
tests_guest_testguest_elf_CCASFLAGS = -fno-pic -fno-pie
tests_guest_testguest_elf_LDFLAGS = \
	-nostdlib -static -no-pie -Wl,-T,$(srcdir)/tests/guest/guest.ld \
	-Wl,--build-id=none -Wl,-z,noexecstack -Wl,-z,max-page-size=4096
tests_guest_testguest_elf_LDADD =
EXTRA_tests_guest_testguest_elf_DEPENDENCIES = tests/guest/guest.ld
EXTRA_DIST += tests/guest/guest.ld tests/guest/README.md

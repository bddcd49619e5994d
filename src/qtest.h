/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qtest: QEMU's test accelerator and protocol (-accel qtest, -qtest
 * unix:PATH[,server=on,wait=off]). The machine is built as usual (RAM,
 * board devices, -device) but no vCPU runs and /dev/kvm is not needed;
 * a test drives it through a line protocol instead: port and memory
 * reads and writes ("outb 0x70 0x0f", "readq 0x100000", "write ADDR SIZE
 * 0xHEX"), each answered "OK [value]" or "FAIL reason". Memory writes go
 * through the VMM's dirty-tracked path, like a device's.
 */
#ifndef KESTREL_QTEST_H
#define KESTREL_QTEST_H

#include <glib.h>
#include <stdbool.h>

typedef struct Vm Vm;
typedef struct Qtest Qtest;

/* Serve @spec: "unix:PATH" connects to a test's socket, "unix:PATH,
 * server=on[,wait=off]" listens. Errors name the address. */
Qtest *qtest_new(Vm *vm, const char *spec, GError **errp);
void qtest_free(Qtest *q);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Qtest, qtest_free)

/* One protocol line (without its newline); returns the answer line,
 * newline included. Exposed for the unit tests. */
char *qtest_execute(Vm *vm, const char *line);

#endif /* KESTREL_QTEST_H */

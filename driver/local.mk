# SPDX-License-Identifier: GPL-2.0-or-later
# --- domain XML and command line (conf) ---
# Domain XML <-> DomainDef and DomainDef -> kestrel argv: pure code the
# daemon links and the unit tests exercise.  Documents are validated
# against libvirt's own schema, /usr/share/libvirt/schemas/domain.rng
# (package libvirt0), read at run time.
noinst_LIBRARIES += driver/libkestreldrv-conf.a
driver_libkestreldrv_conf_a_SOURCES = \
	driver/drv-error.h \
	driver/domain-conf.c driver/domain-conf.h \
	driver/domain-conf-schema.c driver/domain-conf-schema.h \
	driver/domain-conf-policy.c driver/domain-conf-metadata.c \
	driver/domain-conf-format.c \
	driver/command.c driver/command.h
driver_libkestreldrv_conf_a_CFLAGS = $(AM_CFLAGS) $(LIBXML2_CFLAGS)

CONF_TESTS = tests/unit/test-domain-conf tests/unit/test-command
check_PROGRAMS += $(CONF_TESTS)
TESTS += $(CONF_TESTS)
CONF_TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/driver
CONF_TEST_LDADD = driver/libkestreldrv-conf.a $(LIBXML2_LIBS) $(GLIB_LIBS)
tests_unit_test_domain_conf_CPPFLAGS = $(CONF_TEST_CPPFLAGS)
tests_unit_test_domain_conf_CFLAGS = $(AM_CFLAGS) $(LIBXML2_CFLAGS)
tests_unit_test_domain_conf_LDADD = $(CONF_TEST_LDADD)
tests_unit_test_command_CPPFLAGS = $(CONF_TEST_CPPFLAGS)
tests_unit_test_command_LDADD = $(CONF_TEST_LDADD)
# Who a status file's pid is (process-ident.c), against real processes.
check_PROGRAMS += tests/unit/test-process-ident
TESTS += tests/unit/test-process-ident
tests_unit_test_process_ident_SOURCES = tests/unit/test-process-ident.c \
	driver/process-ident.c driver/process-ident.h
tests_unit_test_process_ident_CPPFLAGS = $(CONF_TEST_CPPFLAGS)
tests_unit_test_process_ident_LDADD = $(CONF_TEST_LDADD)
# --- end conf ---

# virtkestreld: the libvirt driver daemon.

# libvirt's remote protocol, the part we serve: rpcgen output lives in the
# build directory.  rpcgen's code declares variables it does not always use,
# so this convenience library alone is built without -Wunused-variable.
noinst_LIBRARIES += driver/libkremoteproto.a
nodist_driver_libkremoteproto_a_SOURCES = \
	driver/remote_protocol.c \
	driver/remote_protocol.h
driver_libkremoteproto_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_builddir)/driver
driver_libkremoteproto_a_CFLAGS = $(AM_CFLAGS) $(TIRPC_CFLAGS) \
	-Wno-unused-variable
BUILT_SOURCES = driver/remote_protocol.h
$(driver_virtkestreld_OBJECTS) $(driver_libkremoteproto_a_OBJECTS): \
	driver/remote_protocol.h
CLEANFILES += driver/remote_protocol.c driver/remote_protocol.h
EXTRA_DIST += driver/remote_protocol.x

driver/remote_protocol.h: $(top_srcdir)/driver/remote_protocol.x
	$(AM_V_GEN)$(MKDIR_P) driver && rm -f $@ && \
	$(RPCGEN) -h -o $@ $(top_srcdir)/driver/remote_protocol.x

# rpcgen names the header after the path it was given: include it by name.
driver/remote_protocol.c: $(top_srcdir)/driver/remote_protocol.x
	$(AM_V_GEN)$(MKDIR_P) driver && rm -f $@-t && \
	$(RPCGEN) -c -o $@-t $(top_srcdir)/driver/remote_protocol.x && \
	sed -e 's|^#include ".*remote_protocol.h"|#include "remote_protocol.h"|' \
	    $@-t > $@ && rm -f $@-t

sbin_PROGRAMS = driver/virtkestreld
driver_virtkestreld_SOURCES = \
	driver/dispatch.c \
	driver/dispatch.h \
	driver/dispatch-console.c \
	driver/dispatch-domain.c \
	driver/dispatch-memory.c \
	driver/dispatch-migrate.c \
	driver/dispatch-node.c \
	driver/dispatch-stats.c \
	driver/domain.c \
	driver/domain.h \
	driver/libvirt-procs.c \
	driver/libvirt-procs.h \
	driver/libvirt-procs-table.c \
	driver/main.c \
	driver/monitor.c \
	driver/monitor.h \
	driver/dispatch-save.c \
	driver/process.c \
	driver/process.h \
	driver/process-ident.c \
	driver/process-ident.h \
	src/logfile.c \
	src/logfile.h \
	driver/rpc.c \
	driver/rpc.h \
	driver/virerror.c \
	driver/virerror.h
driver_virtkestreld_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_builddir)/driver \
	-I$(top_srcdir)/driver \
	-DBINDIR='"$(bindir)"' -DSYSCONFDIR='"$(sysconfdir)"' \
	-DLOCALSTATEDIR='"$(localstatedir)"'
driver_virtkestreld_CFLAGS = $(AM_CFLAGS) $(TIRPC_CFLAGS) $(LIBXML2_CFLAGS) \
	$(JSONGLIB_CFLAGS)
driver_virtkestreld_LDADD = driver/libkremoteproto.a \
	driver/libkestreldrv-conf.a qmp/libqmp.a \
	$(GLIB_LIBS) $(JSONGLIB_LIBS) $(LIBXML2_LIBS) $(TIRPC_LIBS)

# Every procedure of libvirt 9.0 and the API it carries, so a procedure we
# do not serve gets libvirt's "not supported" naming it.  The table is
# generated from the .tsv and committed (see driver/gen-libvirt-procs.py).
EXTRA_DIST += driver/gen-libvirt-procs.py schemas/libvirt-procedures-9.0.0.tsv
check_PROGRAMS += tests/unit/test-libvirt-procs
TESTS += tests/unit/test-libvirt-procs
tests_unit_test_libvirt_procs_SOURCES = tests/unit/test-libvirt-procs.c \
	driver/libvirt-procs.c driver/libvirt-procs-table.c driver/virerror.c
tests_unit_test_libvirt_procs_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/driver
tests_unit_test_libvirt_procs_LDADD = $(GLIB_LIBS)

# systemd units: the service and its two sockets (socket activation).
systemdsystemunitdir = $(prefix)/lib/systemd/system
dist_systemdsystemunit_DATA = systemd/virtkestreld.socket \
	systemd/virtkestreld-ro.socket
nodist_systemdsystemunit_DATA = systemd/virtkestreld.service
EXTRA_DIST += systemd/virtkestreld.service.in
CLEANFILES += systemd/virtkestreld.service

systemd/virtkestreld.service: $(top_srcdir)/systemd/virtkestreld.service.in
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' $< > $@

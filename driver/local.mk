# SPDX-License-Identifier: GPL-2.0-or-later
# --- domain XML and command line (conf) ---
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
CLEANFILES += driver/remote_protocol.c driver/remote_protocol.h
EXTRA_DIST += driver/remote_protocol.x

driver/remote_protocol.h: $(top_srcdir)/driver/remote_protocol.x
	$(AM_V_GEN)$(MKDIR_P) driver && \
	$(RPCGEN) -h -o $@-t $(top_srcdir)/driver/remote_protocol.x && \
	mv -f $@-t $@

# rpcgen names the header after the path it was given: include it by name.
driver/remote_protocol.c: $(top_srcdir)/driver/remote_protocol.x
	$(AM_V_GEN)$(MKDIR_P) driver && \
	$(RPCGEN) -c -o $@-t $(top_srcdir)/driver/remote_protocol.x && \
	sed -e 's|^#include ".*remote_protocol.h"|#include "remote_protocol.h"|' \
	    $@-t > $@ && rm -f $@-t

sbin_PROGRAMS = driver/virtkestreld
driver_virtkestreld_SOURCES = \
	driver/main.c \
	driver/rpc.c \
	driver/rpc.h \
	driver/virerror.c \
	driver/virerror.h
driver_virtkestreld_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_builddir)/driver \
	-I$(top_srcdir)/driver
driver_virtkestreld_CFLAGS = $(AM_CFLAGS) $(TIRPC_CFLAGS) $(LIBXML2_CFLAGS) \
	$(JSONGLIB_CFLAGS)
driver_virtkestreld_LDADD = driver/libkremoteproto.a qmp/libqmp.a \
	$(GLIB_LIBS) $(JSONGLIB_LIBS) $(LIBXML2_LIBS) $(TIRPC_LIBS)

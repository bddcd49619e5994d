# SPDX-License-Identifier: GPL-2.0-or-later
# libqmp: JSON framing, schema-driven dispatch, server and client.
# No dependency on src/: kestrel and virtkestreld both link it.
# Fuzzing (clang/libFuzzer, outside this build): tests/fuzz/run.sh SECONDS

# In this order in query-qmp-schema.
QMP_SCHEMA_FILES = \
	schemas/control.json \
	schemas/introspect.json \
	schemas/run-state.json \
	schemas/machine.json \
	schemas/misc.json \
	schemas/qom.json \
	schemas/char.json \
	schemas/block.json \
	schemas/migration.json \
	schemas/net.json

noinst_LIBRARIES += qmp/libqmp.a
qmp_libqmp_a_SOURCES = \
	qmp/json-stream.c qmp/json-stream.h \
	qmp/json-writer.c \
	qmp/qmp-error.c qmp/qmp-error.h \
	qmp/qmp-schema.c qmp/qmp-schema.h \
	qmp/qmp-dispatch.c qmp/qmp-dispatch.h \
	qmp/qmp-server.c qmp/qmp-server.h \
	qmp/qmp-client.c qmp/qmp-client.h
nodist_qmp_libqmp_a_SOURCES = qmp/qmp-schema-data.c
qmp_libqmp_a_CFLAGS = $(AM_CFLAGS) $(JSONGLIB_CFLAGS)

# The schema is embedded as a C string, generated at build time.
qmp/qmp-schema-data.c: $(QMP_SCHEMA_FILES) qmp/gen-schema.py
	$(AM_V_GEN)$(MKDIR_P) qmp && \
	$(PYTHON) $(srcdir)/qmp/gen-schema.py --srcdir $(srcdir) \
		$(QMP_SCHEMA_FILES) > $@.tmp && \
	mv $@.tmp $@
CLEANFILES += qmp/qmp-schema-data.c
EXTRA_DIST += qmp/gen-schema.py $(QMP_SCHEMA_FILES) \
	tests/fuzz/fuzz-qmp.c tests/fuzz/run.sh

QMP_UNIT_TESTS = \
	tests/unit/test-qmp-json \
	tests/unit/test-qmp-schema \
	tests/unit/test-qmp-server \
	tests/unit/test-qmp-client \
	tests/unit/test-qmp-qemu
check_PROGRAMS += $(QMP_UNIT_TESTS)
TESTS += $(QMP_UNIT_TESTS)

QMP_TEST_CFLAGS = $(AM_CFLAGS) $(JSONGLIB_CFLAGS)
QMP_TEST_LDADD = qmp/libqmp.a $(JSONGLIB_LIBS) $(GLIB_LIBS)
tests_unit_test_qmp_json_CFLAGS = $(QMP_TEST_CFLAGS)
tests_unit_test_qmp_json_LDADD = $(QMP_TEST_LDADD)
tests_unit_test_qmp_schema_SOURCES = tests/unit/test-qmp-schema.c \
	tests/unit/test-qmp-common.c tests/unit/test-qmp-common.h
tests_unit_test_qmp_schema_CFLAGS = $(QMP_TEST_CFLAGS)
tests_unit_test_qmp_schema_LDADD = $(QMP_TEST_LDADD)
tests_unit_test_qmp_server_SOURCES = tests/unit/test-qmp-server.c \
	tests/unit/test-qmp-common.c tests/unit/test-qmp-common.h
tests_unit_test_qmp_server_CFLAGS = $(QMP_TEST_CFLAGS)
tests_unit_test_qmp_server_LDADD = $(QMP_TEST_LDADD)
tests_unit_test_qmp_client_SOURCES = tests/unit/test-qmp-client.c \
	tests/unit/test-qmp-common.c tests/unit/test-qmp-common.h
tests_unit_test_qmp_client_CFLAGS = $(QMP_TEST_CFLAGS)
tests_unit_test_qmp_client_LDADD = $(QMP_TEST_LDADD)
tests_unit_test_qmp_qemu_SOURCES = tests/unit/test-qmp-qemu.c \
	tests/unit/test-qmp-common.c tests/unit/test-qmp-common.h
tests_unit_test_qmp_qemu_CFLAGS = $(QMP_TEST_CFLAGS)
tests_unit_test_qmp_qemu_LDADD = $(QMP_TEST_LDADD)

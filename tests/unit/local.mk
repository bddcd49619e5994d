# SPDX-License-Identifier: GPL-2.0-or-later
# Unit tests: GTest programs, run with --tap. They need no /dev/kvm.

UNIT_TESTS = \
	tests/unit/test-keyval \
	tests/unit/test-cmdline \
	tests/unit/test-memmap \
	tests/unit/test-acpi \
	tests/unit/test-loader \
	tests/unit/test-iobus \
	tests/unit/test-devices \
	tests/unit/test-x86 \
	tests/unit/test-virtqueue \
	tests/unit/test-pci \
	tests/unit/test-virtio-kvm \
	tests/unit/test-qmp-cmds \
	tests/unit/test-vmstate \
	tests/unit/test-vcpu \
	tests/unit/test-vcpu-kvm \
	tests/unit/test-vmstate-frozen \
	tests/unit/test-migration \
	tests/unit/test-logfile \
	tests/unit/test-block

check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)

UNIT_LDADD = src/libkestrel.a qmp/libqmp.a $(JSONGLIB_LIBS) $(GLIB_LIBS) $(ZSTD_LIBS) $(ZLIB_LIBS) $(URING_LIBS) $(SECCOMP_LIBS) -lutil -lpthread
tests_unit_test_keyval_LDADD = $(UNIT_LDADD)
tests_unit_test_cmdline_LDADD = $(UNIT_LDADD)
tests_unit_test_memmap_LDADD = $(UNIT_LDADD)
tests_unit_test_acpi_LDADD = $(UNIT_LDADD)
tests_unit_test_loader_LDADD = $(UNIT_LDADD)
tests_unit_test_iobus_LDADD = $(UNIT_LDADD)
tests_unit_test_devices_LDADD = $(UNIT_LDADD)
tests_unit_test_x86_LDADD = $(UNIT_LDADD)
tests_unit_test_virtqueue_LDADD = $(UNIT_LDADD)
tests_unit_test_pci_LDADD = $(UNIT_LDADD)
tests_unit_test_virtio_kvm_LDADD = $(UNIT_LDADD)
tests_unit_test_qmp_cmds_LDADD = $(UNIT_LDADD)
tests_unit_test_vmstate_LDADD = $(UNIT_LDADD)
tests_unit_test_vmstate_frozen_LDADD = $(UNIT_LDADD)
tests_unit_test_migration_LDADD = $(UNIT_LDADD)
tests_unit_test_logfile_LDADD = $(UNIT_LDADD)
tests_unit_test_block_LDADD = $(UNIT_LDADD)
tests_unit_test_vcpu_kvm_LDADD = $(UNIT_LDADD)
tests_unit_test_vcpu_SOURCES = tests/unit/test-vcpu.c tests/unit/fake-kvm.h
tests_unit_test_vcpu_LDADD = $(UNIT_LDADD)
# vcpu.c against a stand-in for KVM_RUN (fake-kvm.h): runs without /dev/kvm.
tests_unit_test_vcpu_LDFLAGS = \
	-Wl,--wrap=kvm_vcpu_create -Wl,--wrap=kvm_vcpu_destroy \
	-Wl,--wrap=kvm_vcpu_run -Wl,--wrap=kvm_vcpu_kvmclock_ctrl \
	-Wl,--wrap=x86_vcpu_state_get -Wl,--wrap=x86_vcpu_state_put \
	-Wl,--wrap=vm_pio -Wl,--wrap=vm_mmio -Wl,--wrap=vm_request_shutdown \
	-Wl,--wrap=vm_request_reset -Wl,--wrap=vm_request_internal_error

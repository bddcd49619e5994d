/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The table of libvirt's procedures (driver/libvirt-procs-table.c) against
 * schemas/libvirt-procedures-9.0.0.tsv: every number of libvirt 9.0 is
 * there with its name, sorted, nothing else; and the errors virtkestreld
 * answers for a procedure it does not serve are libvirt's.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "libvirt-procs.h"

#define REMOTE_PROGRAM 0x20008086

static void test_covers_tsv(void)
{
    const char *srcdir = g_getenv("KESTREL_SRCDIR");
    g_autofree char *path = g_build_filename(
        srcdir ? srcdir : ".", "schemas", "libvirt-procedures-9.0.0.tsv",
        NULL);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GError) err = NULL;
    size_t n = 0;
    int last = 0;

    g_assert_true(g_file_get_contents(path, &text, NULL, &err));
    g_assert_no_error(err);
    lines = g_strsplit(g_strstrip(text), "\n", 0);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(*l, "\t", 2);
        int num = atoi(f[0]);
        const LibvirtProc *p = libvirt_proc_lookup(num);

        g_assert_nonnull(p);
        g_assert_cmpint(p->proc, ==, num);
        g_assert_cmpstr(p->name, ==, f[1]);
        n++;
        last = MAX(last, num);
    }
    /* libvirt 9.0 numbers its 443 procedures 1..443 with no hole. */
    g_assert_cmpuint(n, ==, 443);
    g_assert_cmpint(last, ==, 443);
    g_assert_cmpuint(libvirt_nprocs, ==, n);
}

static void test_sorted_and_named(void)
{
    for (size_t i = 0; i < libvirt_nprocs; i++) {
        const LibvirtProc *p = &libvirt_procs[i];

        if (i) {
            g_assert_cmpint(libvirt_procs[i - 1].proc, <, p->proc);
        }
        if (p->kind == LIBVIRT_PROC_CALL) {
            g_assert_true(g_str_has_prefix(p->api, "vir"));
        } else {
            g_assert_null(p->api);
        }
    }
    g_assert_null(libvirt_proc_lookup(0));
    g_assert_null(libvirt_proc_lookup(444));
    g_assert_null(libvirt_proc_lookup(-1));
}

/* API names where libvirt's spelling is not plain capitalisation. */
static void test_api_names(void)
{
    static const struct {
        int proc;
        const char *api;
        VirErrorDomain from;
    } cases[] = {
        { 14, "virDomainGetXMLDesc", VIR_FROM_DOMAIN },
        { 19, "virDomainGetOSType", VIR_FROM_DOMAIN },
        { 22, "virDomainLookupByID", VIR_FROM_DOMAIN },
        { 101, "virNodeGetCellsFreeMemory", VIR_FROM_NONE },
        { 110, "virConnectGetURI", VIR_FROM_NONE },
        { 112, "virNodeListDevices", VIR_FROM_NODEDEV },
        { 129, "virInterfaceLookupByMACString", VIR_FROM_INTERFACE },
        { 136, "virConnectDomainXMLToNative", VIR_FROM_DOMAIN },
        { 179, "virConnectListNWFilters", VIR_FROM_NWFILTER },
        { 187, "virDomainSnapshotNum", VIR_FROM_DOMAIN_SNAPSHOT },
        { 227, "virNodeGetCPUStats", VIR_FROM_NONE },
        { 262, "virDomainGetCPUStats", VIR_FROM_DOMAIN },
        { 281, "virConnectListAllStoragePools", VIR_FROM_STORAGE },
        { 316, "virConnectDomainEventRegisterAny", VIR_FROM_DOMAIN },
        { 341, "virNetworkGetDHCPLeases", VIR_FROM_NETWORK },
        { 343, "virDomainOpenGraphicsFD", VIR_FROM_DOMAIN },
        { 349, "virDomainGetFSInfo", VIR_FROM_DOMAIN },
        { 352, "virDomainPinIOThread", VIR_FROM_DOMAIN },
        { 395, "virNodeGetSEVInfo", VIR_FROM_NONE },
        { 413, "virDomainListAllCheckpoints", VIR_FROM_DOMAIN_CHECKPOINT },
        { 424, "virDomainAuthorizedSSHKeysGet", VIR_FROM_DOMAIN },
        { 443, "virDomainFDAssociate", VIR_FROM_DOMAIN },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        const LibvirtProc *p = libvirt_proc_lookup(cases[i].proc);

        g_assert_nonnull(p);
        g_assert_cmpint(p->kind, ==, LIBVIRT_PROC_CALL);
        g_assert_cmpstr(p->api, ==, cases[i].api);
        g_assert_cmpint(p->from, ==, cases[i].from);
    }
}

static void test_unserved_errors(void)
{
    VirErrorDomain from;
    g_autoptr(GError) nosup =
        libvirt_proc_unserved_error(REMOTE_PROGRAM, 262, &from);
    g_autoptr(GError) auth = NULL;
    g_autoptr(GError) event = NULL;
    g_autoptr(GError) unknown = NULL;
    g_autoptr(GError) qemu = NULL;

    g_assert_error(nosup, VIR_ERROR, VIR_ERR_NO_SUPPORT);
    g_assert_cmpstr(nosup->message, ==, "virDomainGetCPUStats");
    g_assert_cmpint(from, ==, VIR_FROM_DOMAIN);
    g_assert_cmpstr(vir_error_prefix(VIR_ERR_NO_SUPPORT), ==,
                    "this function is not supported by the connection "
                    "driver");

    /* AUTH_SASL_INIT */
    auth = libvirt_proc_unserved_error(REMOTE_PROGRAM, 67, &from);
    g_assert_error(auth, VIR_ERROR, VIR_ERR_AUTH_FAILED);
    g_assert_cmpint(from, ==, VIR_FROM_RPC);

    /* An event is sent by the server: libvirtd has no handler either. */
    event = libvirt_proc_unserved_error(REMOTE_PROGRAM, 107, &from);
    g_assert_error(event, VIR_ERROR, VIR_ERR_RPC);
    g_assert_cmpstr(event->message, ==, "unknown procedure: 107");

    unknown = libvirt_proc_unserved_error(REMOTE_PROGRAM, 9999, &from);
    g_assert_error(unknown, VIR_ERROR, VIR_ERR_RPC);
    g_assert_cmpstr(unknown->message, ==, "unknown procedure: 9999");
    g_assert_cmpint(from, ==, VIR_FROM_RPC);

    /* virsh qemu-monitor-command: the QEMU program's procedure 1. */
    qemu = libvirt_proc_unserved_error(LIBVIRT_QEMU_PROGRAM, 1, &from);
    g_assert_error(qemu, VIR_ERROR, VIR_ERR_NO_SUPPORT);
    g_assert_cmpstr(qemu->message, ==, "virDomainQemuMonitorCommand");
    g_assert_cmpint(from, ==, VIR_FROM_DOMAIN);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/libvirt-procs/covers-tsv", test_covers_tsv);
    g_test_add_func("/libvirt-procs/sorted-and-named", test_sorted_and_named);
    g_test_add_func("/libvirt-procs/api-names", test_api_names);
    g_test_add_func("/libvirt-procs/unserved-errors", test_unserved_errors);
    return g_test_run();
}

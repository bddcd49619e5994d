/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What libvirt's daemon says for a procedure nobody serves.  The table is
 * libvirt-procs-table.c (generated); the words are libvirt 9.0's:
 * virReportUnsupportedError() in the public API an absent driver method
 * leaves (libvirt-domain.c and friends), the authentication stubs of
 * remote_daemon_dispatch.c, and virNetServerProgramDispatchCall() for a
 * number without a handler.
 */
#include "config.h"

#include "libvirt-procs.h"

const LibvirtProc *libvirt_proc_lookup(int proc)
{
    size_t lo = 0, hi = libvirt_nprocs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (libvirt_procs[mid].proc == proc) {
            return &libvirt_procs[mid];
        }
        if (libvirt_procs[mid].proc < proc) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

GError *libvirt_proc_unserved_error(int proc, VirErrorDomain *from)
{
    const LibvirtProc *p = libvirt_proc_lookup(proc);

    if (p && p->kind == LIBVIRT_PROC_CALL) {
        *from = p->from;
        /* The RPC layer puts libvirt's prefix for the code before it. */
        return g_error_new(VIR_ERROR, VIR_ERR_NO_SUPPORT, "%s", p->api);
    }
    *from = VIR_FROM_RPC;
    if (p && p->kind == LIBVIRT_PROC_AUTH) {
        return g_error_new(VIR_ERROR, VIR_ERR_AUTH_FAILED,
                           "authentication failed");
    }
    /* Clients turn this one into VIR_ERR_NO_SUPPORT themselves. */
    return g_error_new(VIR_ERROR, VIR_ERR_RPC, "unknown procedure: %d", proc);
}

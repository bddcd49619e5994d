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

/* qemu_protocol.x of libvirt 9.0; the APIs are in libvirt-qemu.c. */
const LibvirtProc libvirt_qemu_procs[] = {
    { 1, "DOMAIN_MONITOR_COMMAND", LIBVIRT_PROC_CALL,
      "virDomainQemuMonitorCommand", VIR_FROM_DOMAIN },
    { 2, "DOMAIN_ATTACH", LIBVIRT_PROC_CALL,
      "virDomainQemuAttach", VIR_FROM_DOMAIN },
    { 3, "DOMAIN_AGENT_COMMAND", LIBVIRT_PROC_CALL,
      "virDomainQemuAgentCommand", VIR_FROM_DOMAIN },
    { 4, "CONNECT_DOMAIN_MONITOR_EVENT_REGISTER", LIBVIRT_PROC_CALL,
      "virConnectDomainQemuMonitorEventRegister", VIR_FROM_DOMAIN },
    { 5, "CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER", LIBVIRT_PROC_CALL,
      "virConnectDomainQemuMonitorEventDeregister", VIR_FROM_DOMAIN },
    { 6, "DOMAIN_MONITOR_EVENT", LIBVIRT_PROC_MESSAGE,
      NULL, VIR_FROM_RPC },
    { 7, "DOMAIN_MONITOR_COMMAND_WITH_FILES", LIBVIRT_PROC_CALL,
      "virDomainQemuMonitorCommandWithFiles", VIR_FROM_DOMAIN },
};

const size_t libvirt_qemu_nprocs = G_N_ELEMENTS(libvirt_qemu_procs);

static const LibvirtProc *libvirt_proc_find(const LibvirtProc *procs,
                                            size_t n, int proc)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (procs[mid].proc == proc) {
            return &procs[mid];
        }
        if (procs[mid].proc < proc) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

const LibvirtProc *libvirt_proc_lookup(int proc)
{
    return libvirt_proc_find(libvirt_procs, libvirt_nprocs, proc);
}

const LibvirtProc *libvirt_qemu_proc_lookup(int proc)
{
    return libvirt_proc_find(libvirt_qemu_procs, libvirt_qemu_nprocs, proc);
}

GError *libvirt_proc_unserved_error(unsigned int prog, int proc,
                                    VirErrorDomain *from)
{
    const LibvirtProc *p = prog == LIBVIRT_QEMU_PROGRAM
                           ? libvirt_qemu_proc_lookup(proc)
                           : libvirt_proc_lookup(proc);

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

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The vCPU thread's protocol, against a stand-in for KVM_RUN (fake-kvm.h):
 * a pause after an I/O exit completes the instruction first; PAUSE and RUN
 * reach every vCPU at once; a kick never gets lost; SAVE and RESTORE run
 * on the vCPU's own thread and only while paused; throttling sleeps and
 * gives way to a pause.
 */
#include <glib.h>
#include <unistd.h>

#include "error.h"
#include "fake-kvm.h"

static VmConfig test_cfg;

static void run_for(Vm *vm, unsigned int ms)
{
    vcpu_request_all(vm->vcpus, vm->nr_vcpus, VCPU_REQ_RUN);
    g_usleep(ms * 1000);
}

static void test_pause_completes_io(void)
{
    Vm *vm = fake_vm_new(1, &test_cfg);
    FakeCpu *f = &fake_cpus[0];
    int by_immediate_exit = 0;

    f->mode = FAKE_PIO;
    for (int round = 0; round < 20; round++) {
        guint64 completed;

        run_for(vm, 5);
        vcpu_request_all(vm->vcpus, 1, VCPU_REQ_PAUSE);
        g_assert_cmpint(vm->vcpus[0].state, ==, VCPU_PAUSED);
        g_assert_cmpuint(f->pio, >, 0);
        /* the guest exits on PIO all the time: KVM was entered once
         * more after the last one, and nothing is left pending (most
         * often by the re-entry with immediate_exit set; sometimes the
         * kick itself interrupted an entry that completed it) */
        g_assert_false(f->io_pending);
        g_assert_false(vm->vcpus[0].io_pending);
        by_immediate_exit += f->last_immediate;
        completed = f->completed;
        g_usleep(2000);
        g_assert_cmpuint(f->completed, ==, completed);   /* really paused */
    }
    g_assert_cmpint(by_immediate_exit, >, 0);
    fake_vm_free(vm);
}

static void test_pause_all_at_once(void)
{
    Vm *vm = fake_vm_new(8, &test_cfg);
    gint64 t0, t;

    run_for(vm, 10);
    t0 = g_get_monotonic_time();
    vcpu_request_all(vm->vcpus, 8, VCPU_REQ_PAUSE);
    t = g_get_monotonic_time() - t0;
    for (unsigned int i = 0; i < 8; i++) {
        g_assert_cmpint(vm->vcpus[i].state, ==, VCPU_PAUSED);
    }
    g_test_message("8 vCPUs paused in %" G_GINT64_FORMAT " us", t);
    fake_vm_free(vm);
}

/* vcpu_init() does not wait for the thread; vcpu_init_wait() does, and
 * a vCPU destroyed before its thread said hello still goes (vm_new's
 * error path): an EXIT posted too early would be lost and hang the
 * join. */
static void test_init_then_wait(void)
{
    for (int round = 0; round < 50; round++) {
        Vm *vm = g_new0(Vm, 1);

        vm->cfg = &test_cfg;
        vm->nr_vcpus = 4;
        vm->vcpus = g_new0(Vcpu, 4);
        for (unsigned int i = 0; i < 4; i++) {
            g_assert_true(vcpu_init(&vm->vcpus[i], vm, i, NULL));
        }
        if (round % 2) {
            for (unsigned int i = 0; i < 4; i++) {
                vcpu_init_wait(&vm->vcpus[i]);
                g_assert_true(vm->vcpus[i].ready);
                g_assert_cmpint(vm->vcpus[i].state, ==, VCPU_PAUSED);
            }
        }
        fake_vm_free(vm);
    }
}

/* RUN then PAUSE back to back, many times: a kick lost in the window
 * before KVM_RUN would hang here (the vCPU "runs" until kicked). */
static void test_kick_never_lost(void)
{
    Vm *vm = fake_vm_new(2, &test_cfg);

    alarm(120);
    for (int i = 0; i < 3000; i++) {
        vcpu_request_all(vm->vcpus, 2, VCPU_REQ_RUN);
        vcpu_request_all(vm->vcpus, 2, VCPU_REQ_PAUSE);
    }
    alarm(0);
    fake_vm_free(vm);
}

static void test_save_restore_paused_only(void)
{
    Vm *vm = fake_vm_new(2, &test_cfg);
    g_autofree X86VcpuState *st = g_new0(X86VcpuState, 1);
    g_autoptr(GError) err = NULL;

    /* paused: answered on the vCPU's own thread */
    g_assert_true(vcpu_save_state(&vm->vcpus[1], st, &err));
    g_assert_no_error(err);
    g_assert_cmphex(st->regs.rip, ==, 0x1001);
    g_assert_true(pthread_equal(fake_cpus[1].saved_on, vm->vcpus[1].tid));
    g_assert_true(vcpu_restore_state(&vm->vcpus[1], st, &err));
    g_assert_true(pthread_equal(fake_cpus[1].saved_on, vm->vcpus[1].tid));
    g_assert_cmpuint(fake_cpus[1].restores, ==, 1);

    /* running: refused, and the vCPU keeps running */
    run_for(vm, 5);
    g_assert_false(vcpu_save_state(&vm->vcpus[0], st, &err));
    g_assert_error(err, KESTREL_ERROR, KESTREL_ERROR_FAILED);
    g_assert_cmpstr(err->message, ==,
                    "vCPU state can only be saved while paused");
    g_clear_error(&err);
    g_assert_false(vcpu_restore_state(&vm->vcpus[0], st, &err));
    g_assert_cmpstr(err->message, ==,
                    "vCPU state can only be restored while paused");
    g_assert_cmpuint(fake_cpus[0].saves, ==, 0);
    g_assert_cmpint(vm->vcpus[0].state, ==, VCPU_RUNNING);
    vcpu_request_all(vm->vcpus, 2, VCPU_REQ_PAUSE);
    fake_vm_free(vm);
}

/* 50 %: each 20 ms period the vCPU runs ~10 ms and naps ~10 ms. */
static void test_throttle(void)
{
    Vm *vm = fake_vm_new(2, &test_cfg);
    gint64 t0, wall, ran;

    run_for(vm, 1);
    for (unsigned int i = 0; i < 2; i++) {
        fake_cpus[i].run_us = 0;
    }
    t0 = g_get_monotonic_time();
    while (g_get_monotonic_time() - t0 < 600 * 1000) {
        for (unsigned int i = 0; i < 2; i++) {
            vcpu_throttle(&vm->vcpus[i], 10 * 1000 * 1000);
        }
        g_usleep(20 * 1000);
    }
    wall = g_get_monotonic_time() - t0;
    /* a pause cuts a nap short: no waiting for the nap to end */
    vcpu_throttle(&vm->vcpus[0], 10LL * 1000 * 1000 * 1000);
    g_usleep(5000);
    t0 = g_get_monotonic_time();
    vcpu_request_all(vm->vcpus, 2, VCPU_REQ_PAUSE);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 2 * G_USEC_PER_SEC);
    for (unsigned int i = 0; i < 2; i++) {
        ran = fake_cpus[i].run_us;
        g_test_message("vCPU %u ran %" G_GINT64_FORMAT " of %"
                       G_GINT64_FORMAT " us", i, ran, wall);
        g_assert_cmpint(ran, >, wall * 25 / 100);
        g_assert_cmpint(ran, <, wall * 75 / 100);
    }
    fake_vm_free(vm);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    vcpu_signals_init();
    g_test_add_func("/vcpu/pause-completes-io", test_pause_completes_io);
    g_test_add_func("/vcpu/init-then-wait", test_init_then_wait);
    g_test_add_func("/vcpu/pause-all-at-once", test_pause_all_at_once);
    g_test_add_func("/vcpu/kick-never-lost", test_kick_never_lost);
    g_test_add_func("/vcpu/save-restore-paused-only",
                    test_save_restore_paused_only);
    g_test_add_func("/vcpu/throttle", test_throttle);
    return g_test_run();
}

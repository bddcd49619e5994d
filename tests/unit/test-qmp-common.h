/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared by the libqmp tests: a stub command table covering the whole
 * schema, a fake VM context, and a raw line-oriented peer that pumps the
 * main loop while it waits (the server runs in the same thread).
 */
#ifndef TEST_QMP_COMMON_H
#define TEST_QMP_COMMON_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "qmp-dispatch.h"
#include "qmp-server.h"

typedef enum {
    TEST_STATE_PRELAUNCH,
    TEST_STATE_RUNNING,
    TEST_STATE_PAUSED,
    TEST_STATE_SHUTDOWN,
} TestState;

typedef struct TestVm {
    TestState state;
    QmpServer *server;          /* for events */
    QmpRequest *deferred;       /* pending "cont" when defer_cont is set */
    bool defer_cont;
    unsigned calls;
} TestVm;

/* The command table of the test server: behavioural stubs plus a plain
 * stub for every other command of the schema; sorted. */
const QmpCommand *test_qmp_table(size_t *n);

/* A server over @vm with the test table, version 7.2.0. */
QmpServer *test_qmp_server_new(TestVm *vm);

typedef struct TestPeer {
    int fd;
    GString *in;
} TestPeer;

/* A session on @server over a socketpair; the peer side is returned. */
TestPeer *test_peer_new_pair(QmpServer *server);
/* A connected peer on UNIX socket @path. */
TestPeer *test_peer_new_unix(const char *path);
void test_peer_free(TestPeer *peer);
void test_peer_send(TestPeer *peer, const char *bytes, gssize len);
/* The next line without its CRLF, or NULL on EOF/timeout. */
char *test_peer_recv(TestPeer *peer, int timeout_ms);
/* Greeting + qmp_capabilities; asserts. */
void test_peer_negotiate(TestPeer *peer);
/* Send @req + "\n" and return the next line. */
char *test_peer_call(TestPeer *peer, const char *req);
/* Whether the peer sees EOF within @timeout_ms (pumping the loop). */
bool test_peer_wait_eof(TestPeer *peer, int timeout_ms);

/* Spin the default main context for @ms milliseconds. */
void test_pump(int ms);

#endif /* TEST_QMP_COMMON_H */

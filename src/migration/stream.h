/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The migration stream: kestrel's own format (ARCHITECTURE.md, 6).
 *
 *     header   "KSTRLMIG" | u32 version | u32 flags
 *     records  u32 type | u32 length | payload | u64 checksum
 *
 * Little-endian throughout. The checksum covers type, length and payload
 * (a Fletcher-style pair of 64-bit sums: cheap enough for every page).
 * Record types and their payloads are listed in MigRecordType; a reader
 * refuses an unknown type, a length above the type's maximum, and a
 * checksum that does not match, each with an error naming it.
 * schemas/vmstate.json freezes these numbers beside the state sections.
 */
#ifndef KESTREL_MIGRATION_STREAM_H
#define KESTREL_MIGRATION_STREAM_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_MAGIC "KSTRLMIG"
#define MIG_VERSION 1
/* header flags */
#define MIG_FLAG_ACK 1u         /* the source waits for the destination's
                                 * verdict on the return path */
#define MIG_FLAG_CHANNEL 2u     /* a multifd channel (its index in bits
                                 * 8-15), not the main stream */

#define MIG_PAGE_SIZE 4096u
#define MIG_RUN_PAGES 256u      /* pages per RAM record, at most */

/* Record types: wire numbers, never renumber. */
typedef enum {
    MIG_REC_CONFIG = 1,     /* JSON: what the destination must match */
    MIG_REC_RAM = 2,        /* u64 gpa | n * 4096 bytes */
    MIG_REC_ZERO = 3,       /* u64 gpa | u64 npages: read as zeros */
    MIG_REC_PASS = 4,       /* u32 pass number (informational) */
    MIG_REC_DEVICES = 5,    /* devices_save_state() bytes */
    MIG_REC_CPUS = 6,       /* vm_save_cpus() bytes */
    MIG_REC_END = 7,        /* empty: the stream (or channel) is complete */
    MIG_REC_RAM_ZSTD = 8,   /* u64 gpa | u32 npages | zstd frame */
    MIG_REC_SYNC = 9,       /* u32 n: answer "synced n" on the return path
                             * once everything before it (every channel's
                             * too) is in guest RAM */
    MIG_REC__MAX,
} MigRecordType;

/* Largest payload of each type; the reader refuses anything longer. */
uint32_t mig_record_max_len(uint32_t type);
const char *mig_record_name(uint32_t type);

typedef struct {
    uint64_t a, b;
} MigSum;

void mig_sum_init(MigSum *s);
void mig_sum_add(MigSum *s, const void *buf, size_t len);
uint64_t mig_sum_final(const MigSum *s);

/* --- writing (the source's migration thread) ------------------------------ */

typedef struct MigWriter {
    int fd;
    uint8_t *buf;
    size_t len, cap;
    uint64_t bytes;             /* written to the fd so far */
    int error;                  /* errno of the first failure, or 0 */
    const volatile int *cancel; /* stop writing when set (may be NULL) */
} MigWriter;

void mig_writer_init(MigWriter *w, int fd, const volatile int *cancel);
void mig_writer_clear(MigWriter *w);
/* Write the header. */
bool mig_write_header(MigWriter *w, uint32_t flags);
/* A whole record from one buffer. */
bool mig_write_record(MigWriter *w, uint32_t type, const void *payload,
                      uint32_t len);
/* A record whose payload comes in two parts (head, body). */
bool mig_write_record2(MigWriter *w, uint32_t type, const void *head,
                       uint32_t head_len, const void *body,
                       uint32_t body_len);
/*
 * A RAM record of @npages pages at @gpa, copied from @hva (guest memory
 * that may change under us: the copy is checksummed, not the original).
 */
bool mig_write_ram(MigWriter *w, uint64_t gpa, const void *hva,
                   uint32_t npages);
bool mig_write_zero(MigWriter *w, uint64_t gpa, uint64_t npages);
/* Push buffered bytes to the fd. */
bool mig_writer_flush(MigWriter *w);

/* --- reading (the destination's thread) -------------------------------------- */

typedef struct MigReader {
    int fd;
    uint8_t *buf;
    size_t start, end, cap;
    uint64_t bytes;             /* consumed so far */
} MigReader;

void mig_reader_init(MigReader *r, int fd);
void mig_reader_clear(MigReader *r);
bool mig_read_header(MigReader *r, uint32_t *flags, GError **errp);
/* Read exactly @len bytes into @dst (an error names @what on EOF). */
bool mig_read_exact(MigReader *r, void *dst, size_t len, const char *what,
                    GError **errp);
/* The next record's type and length (checked against the maximum). */
bool mig_read_record_head(MigReader *r, uint32_t *type, uint32_t *len,
                          MigSum *sum, GError **errp);
/* The payload and checksum of a record that carries one u32 (PASS,
 * SYNC) whose head was just read; a length other than 4 is refused. */
bool mig_read_u32_record(MigReader *r, uint32_t type, uint32_t len,
                         MigSum *sum, uint32_t *value, GError **errp);

/* The trailing checksum of a record whose payload was fed to @sum. */
bool mig_read_record_tail(MigReader *r, uint32_t type, MigSum *sum,
                          GError **errp);

#endif /* KESTREL_MIGRATION_STREAM_H */

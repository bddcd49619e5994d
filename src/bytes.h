/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Little-endian loads and stores on byte buffers, and appenders for
 * GByteArray: the one place byte order is spelled out (boot protocol
 * structures, ACPI tables, device registers, the migration stream).
 * Unaligned access is fine: everything goes byte by byte (the compiler
 * merges it into one move on x86). Guest-shared rings that need single
 * atomic accesses keep their own helpers (virtqueue.c).
 */
#ifndef KESTREL_BYTES_H
#define KESTREL_BYTES_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

/* The low @n bytes (1..8) of @v, least significant first. */
static inline void le_store(void *p, uint64_t v, size_t n)
{
    uint8_t *b = p;

    for (size_t i = 0; i < n && i < 8; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline uint64_t le_load(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t v = 0;

    for (size_t i = 0; i < n && i < 8; i++) {
        v |= (uint64_t)b[i] << (8 * i);
    }
    return v;
}

static inline uint16_t le16_load(const void *p)
{
    return (uint16_t)le_load(p, 2);
}

static inline uint32_t le32_load(const void *p)
{
    return (uint32_t)le_load(p, 4);
}

static inline uint64_t le64_load(const void *p)
{
    return le_load(p, 8);
}

static inline void le16_store(void *p, uint16_t v)
{
    le_store(p, v, 2);
}

static inline void le32_store(void *p, uint32_t v)
{
    le_store(p, v, 4);
}

static inline void le64_store(void *p, uint64_t v)
{
    le_store(p, v, 8);
}

/* Append the low @n bytes of @v to @b, little-endian. */
static inline void bytes_append_le(GByteArray *b, uint64_t v, size_t n)
{
    uint8_t tmp[8];

    le_store(tmp, v, n);
    g_byte_array_append(b, tmp, (guint)MIN(n, sizeof(tmp)));
}

#endif /* KESTREL_BYTES_H */

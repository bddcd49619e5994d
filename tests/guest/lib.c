/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The little of a C library the guest needs: the mem* functions the
 * compiler may call, and a printf subset (%s %c %d %u %x %p, the l/ll/z
 * length modifiers, '#', '0' and a field width).
 */
#include "tg.h"

void *memset(void *s, int c, size_t n)
{
    uint8_t *p = s;

    while (n--) {
        *p++ = (uint8_t)c;
    }
    return s;
}

void *memcpy(void *d, const void *s, size_t n)
{
    uint8_t *dp = d;
    const uint8_t *sp = s;

    while (n--) {
        *dp++ = *sp++;
    }
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *ap = a, *bp = b;

    for (; n; n--, ap++, bp++) {
        if (*ap != *bp) {
            return *ap - *bp;
        }
    }
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;

    while (s[n]) {
        n++;
    }
    return n;
}

typedef struct {
    char *buf;
    size_t size;
    size_t len;
} Out;

static void out_char(Out *o, char c)
{
    if (o->len + 1 < o->size) {
        o->buf[o->len] = c;
    }
    o->len++;
}

static void out_number(Out *o, uint64_t v, unsigned int base, bool neg,
                       bool alt, char pad, int width)
{
    const char *prefix = neg ? "-" : alt && base == 16 ? "0x" : "";
    char tmp[24];
    int n = 0;

    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    width -= n + (int)strlen(prefix);
    for (; pad == ' ' && width > 0; width--) {
        out_char(o, ' ');
    }
    while (*prefix) {
        out_char(o, *prefix++);
    }
    for (; width > 0; width--) {
        out_char(o, '0');
    }
    while (n) {
        out_char(o, tmp[--n]);
    }
}

int tg_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    Out o = { buf, size, 0 };

    for (; *fmt; fmt++) {
        bool alt = false;
        char pad = ' ';
        int width = 0;
        int lng = 0;
        uint64_t u;
        int64_t s;
        const char *str;

        if (*fmt != '%') {
            out_char(&o, *fmt);
            continue;
        }
        fmt++;
        if (*fmt == '#') {
            alt = true;
            fmt++;
        }
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9') {
            width = width * 10 + (*fmt++ - '0');
        }
        while (*fmt == 'l' || *fmt == 'z') {
            lng++;
            fmt++;
        }
        switch (*fmt) {
        case 'd':
            s = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
            out_number(&o, s < 0 ? -(uint64_t)s : (uint64_t)s, 10, s < 0,
                       false, pad, width);
            break;
        case 'u':
        case 'x':
            u = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
            out_number(&o, u, *fmt == 'u' ? 10 : 16, false, alt, pad, width);
            break;
        case 'p':
            u = (uintptr_t)va_arg(ap, void *);
            out_number(&o, u, 16, false, true, pad, width);
            break;
        case 'c':
            out_char(&o, (char)va_arg(ap, int));
            break;
        case 's':
            str = va_arg(ap, const char *);
            if (!str) {
                str = "(null)";
            }
            for (; width > (int)strlen(str); width--) {
                out_char(&o, ' ');
            }
            while (*str) {
                out_char(&o, *str++);
            }
            break;
        case '%':
            out_char(&o, '%');
            break;
        default:
            out_char(&o, '%');
            if (!*fmt) {
                fmt--;
                break;
            }
            out_char(&o, *fmt);
            break;
        }
    }
    if (size) {
        buf[o.len < size ? o.len : size - 1] = '\0';
    }
    return (int)o.len;
}

int tg_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = tg_vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

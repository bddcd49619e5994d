/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The guest's command line: space separated words, Linux style. Only the
 * tg.* keys mean something; every other word is ignored.
 */
#include "tg.h"

TgArgs tg_args;

static bool key_is(const char *word, size_t len, const char *key,
                   const char **val)
{
    size_t klen = strlen(key);

    if (len < klen || memcmp(word, key, klen)) {
        return false;
    }
    *val = word + klen;
    return true;
}

static uint64_t parse_u64(const char *s, size_t len)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    return v;
}

/* "a.b.c.d" or "a.b.c.d/p" (host order); 0 if malformed. */
static uint32_t parse_ip(const char *s, size_t len, unsigned int *prefix)
{
    uint32_t ip = 0;
    size_t i = 0;
    int part;

    for (part = 0; part < 4; part++) {
        uint64_t v = 0;
        size_t start = i;

        while (i < len && s[i] >= '0' && s[i] <= '9') {
            v = v * 10 + (uint64_t)(s[i++] - '0');
        }
        if (i == start || v > 255 || (part < 3 && (i >= len || s[i++] != '.'))) {
            return 0;
        }
        ip = ip << 8 | (uint32_t)v;
    }
    if (prefix) {
        *prefix = 24;
        if (i < len && s[i] == '/') {
            uint64_t p = parse_u64(s + i + 1, len - i - 1);

            *prefix = p <= 32 ? (unsigned int)p : 32;
        }
    }
    return ip;
}

static void copy_word(char *dst, size_t size, const char *val, size_t vlen)
{
    if (vlen >= size) {
        vlen = size - 1;
    }
    memcpy(dst, val, vlen);
    dst[vlen] = '\0';
}

void cmdline_parse(const char *cmdline)
{
    const char *p = cmdline;

    memcpy(tg_args.mode, "hello", 6);
    tg_args.count = 100000;
    tg_args.corrupt = -1;
    tg_args.report = true;
    tg_args.seed = 1;
    tg_args.pattern = TG_PATTERN_SEQ | TG_PATTERN_RAND;

    while (*p) {
        const char *word, *val;
        size_t len, vlen;

        while (*p == ' ' || *p == '\t' || *p == '\n') {
            p++;
        }
        word = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
            p++;
        }
        len = (size_t)(p - word);
        if (!len) {
            continue;
        }
        if (key_is(word, len, "tg.mode=", &val)) {
            copy_word(tg_args.mode, sizeof(tg_args.mode), val,
                      len - (size_t)(val - word));
        } else if (key_is(word, len, "tg.mb=", &val)) {
            tg_args.mb = parse_u64(val, len - (size_t)(val - word));
        } else if (key_is(word, len, "tg.rate=", &val)) {
            tg_args.rate = parse_u64(val, len - (size_t)(val - word));
        } else if (key_is(word, len, "tg.secs=", &val)) {
            tg_args.secs = parse_u64(val, len - (size_t)(val - word));
        } else if (key_is(word, len, "tg.count=", &val)) {
            tg_args.count = parse_u64(val, len - (size_t)(val - word));
            tg_args.count_given = true;
        } else if (key_is(word, len, "tg.corrupt=", &val)) {
            tg_args.corrupt =
                (int64_t)parse_u64(val, len - (size_t)(val - word));
        } else if (key_is(word, len, "tg.pressure=", &val)) {
            tg_args.pressure = parse_u64(val, len - (size_t)(val - word));
        } else if (key_is(word, len, "tg.report=", &val)) {
            tg_args.report = parse_u64(val, len - (size_t)(val - word)) != 0;
        } else if (key_is(word, len, "tg.cpus=", &val)) {
            tg_args.cpus = parse_u64(val, len - (size_t)(val - word));
        } else if (key_is(word, len, "tg.seed=", &val)) {
            tg_args.seed = parse_u64(val, len - (size_t)(val - word));
        } else if (key_is(word, len, "tg.pattern=", &val)) {
            vlen = len - (size_t)(val - word);
            tg_args.pattern = vlen == 3 && !memcmp(val, "seq", 3)
                              ? TG_PATTERN_SEQ
                              : vlen == 4 && !memcmp(val, "rand", 4)
                              ? TG_PATTERN_RAND
                              : TG_PATTERN_SEQ | TG_PATTERN_RAND;
        } else if (key_is(word, len, "tg.verify=", &val)) {
            tg_args.verify = parse_u64(val, len - (size_t)(val - word)) != 0;
        } else if (key_is(word, len, "tg.ro=", &val)) {
            tg_args.ro = parse_u64(val, len - (size_t)(val - word)) != 0;
        } else if (key_is(word, len, "tg.ip=", &val)) {
            tg_args.ip = parse_ip(val, len - (size_t)(val - word),
                                  &tg_args.prefix);
        } else if (key_is(word, len, "tg.peer=", &val)) {
            tg_args.peer = parse_ip(val, len - (size_t)(val - word), NULL);
        } else if (key_is(word, len, "tg.port=", &val)) {
            tg_args.port =
                (uint16_t)parse_u64(val, len - (size_t)(val - word));
        } else if (key_is(word, len, "tg.net=", &val)) {
            copy_word(tg_args.net, sizeof(tg_args.net), val,
                      len - (size_t)(val - word));
        } else if (key_is(word, len, "tg.debug=", &val)) {
            tg_args.debug = parse_u64(val, len - (size_t)(val - word)) != 0;
        }
    }
}

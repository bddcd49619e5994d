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

void cmdline_parse(const char *cmdline)
{
    const char *p = cmdline;

    memcpy(tg_args.mode, "hello", 6);
    tg_args.count = 100000;
    tg_args.corrupt = -1;
    tg_args.report = true;

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
            vlen = len - (size_t)(val - word);
            if (vlen >= sizeof(tg_args.mode)) {
                vlen = sizeof(tg_args.mode) - 1;
            }
            memcpy(tg_args.mode, val, vlen);
            tg_args.mode[vlen] = '\0';
        } else if (key_is(word, len, "tg.mb=", &val)) {
            tg_args.mb = parse_u64(val, len - (size_t)(val - word));
        } else if (key_is(word, len, "tg.rate=", &val)) {
            tg_args.rate = parse_u64(val, len - (size_t)(val - word));
        } else if (key_is(word, len, "tg.secs=", &val)) {
            tg_args.secs = parse_u64(val, len - (size_t)(val - word));
        } else if (key_is(word, len, "tg.count=", &val)) {
            tg_args.count = parse_u64(val, len - (size_t)(val - word));
        } else if (key_is(word, len, "tg.corrupt=", &val)) {
            tg_args.corrupt =
                (int64_t)parse_u64(val, len - (size_t)(val - word));
        } else if (key_is(word, len, "tg.pressure=", &val)) {
            tg_args.pressure = parse_u64(val, len - (size_t)(val - word));
        } else if (key_is(word, len, "tg.report=", &val)) {
            tg_args.report = parse_u64(val, len - (size_t)(val - word)) != 0;
        } else if (key_is(word, len, "tg.cpus=", &val)) {
            tg_args.cpus = parse_u64(val, len - (size_t)(val - word));
        } else if (key_is(word, len, "tg.debug=", &val)) {
            tg_args.debug = parse_u64(val, len - (size_t)(val - word)) != 0;
        }
    }
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The clock is computed on each read from the host's time plus an offset
 * the guest may set, so there is no timer and nothing to migrate but the
 * offset. No periodic or alarm interrupts: Linux needs neither to boot.
 */
#include <glib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "layout.h"
#include "memmap.h"
#include "migration/vmstate.h"
#include "rtc.h"

#define RTC_SECONDS     0x00
#define RTC_MINUTES     0x02
#define RTC_HOURS       0x04
#define RTC_DAY_OF_WEEK 0x06
#define RTC_DAY         0x07
#define RTC_MONTH       0x08
#define RTC_YEAR        0x09
#define RTC_REG_A       0x0a
#define RTC_REG_B       0x0b
#define RTC_REG_C       0x0c
#define RTC_REG_D       0x0d
#define RTC_CENTURY     0x32

#define REG_B_24H       0x02
#define REG_B_BINARY    0x04
#define REG_B_IRQ_EN    0x70    /* PIE, AIE, UIE: we raise none of them */
#define REG_B_SET       0x80
#define REG_D_VRT       0x80

struct Rtc {
    Device dev;                 /* first: a Device* is an Rtc* */
    GMutex lock;
    bool initialized;
    /* Guest-visible state (rtc_vmsd). */
    uint8_t index;
    uint8_t cmos[128];
    int64_t offset;             /* guest time minus host time, seconds */
};

/* 2^40 s: about 34,800 years. */
#define RTC_MAX_OFFSET (INT64_C(1) << 40)

static uint8_t to_bcd(Rtc *rtc, int v)
{
    if (rtc->cmos[RTC_REG_B] & REG_B_BINARY) {
        return (uint8_t)v;
    }
    return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int from_bcd(Rtc *rtc, uint8_t v)
{
    if (rtc->cmos[RTC_REG_B] & REG_B_BINARY) {
        return v;
    }
    return ((v >> 4) * 10) + (v & 0x0f);
}

static void rtc_now(Rtc *rtc, struct tm *tm)
{
    time_t t = time(NULL) + rtc->offset;

    gmtime_r(&t, tm);
}

static uint8_t rtc_hours(Rtc *rtc, int h)
{
    uint8_t pm;

    if (rtc->cmos[RTC_REG_B] & REG_B_24H) {
        return to_bcd(rtc, h);
    }
    pm = h >= 12 ? 0x80 : 0;
    h %= 12;
    return to_bcd(rtc, h ? h : 12) | pm;
}

/* Never negative: a guest may set a year before 1900 (century 0), and
 * to_bcd shifts its argument. */
static uint8_t rtc_year(Rtc *rtc, const struct tm *tm)
{
    return to_bcd(rtc, (tm->tm_year % 100 + 100) % 100);
}

static uint8_t rtc_century(Rtc *rtc, const struct tm *tm)
{
    return to_bcd(rtc, MAX(tm->tm_year + 1900, 0) / 100);
}

static uint8_t rtc_read(Rtc *rtc, uint8_t reg)
{
    struct tm tm;

    rtc_now(rtc, &tm);
    switch (reg) {
    case RTC_SECONDS:
        return to_bcd(rtc, tm.tm_sec);
    case RTC_MINUTES:
        return to_bcd(rtc, tm.tm_min);
    case RTC_HOURS:
        return rtc_hours(rtc, tm.tm_hour);
    case RTC_DAY_OF_WEEK:
        return to_bcd(rtc, tm.tm_wday + 1);
    case RTC_DAY:
        return to_bcd(rtc, tm.tm_mday);
    case RTC_MONTH:
        return to_bcd(rtc, tm.tm_mon + 1);
    case RTC_YEAR:
        return rtc_year(rtc, &tm);
    case RTC_CENTURY:
        return rtc_century(rtc, &tm);
    case RTC_REG_A:
        return rtc->cmos[RTC_REG_A] & 0x7f;     /* never update-in-progress */
    case RTC_REG_C:
        return 0;
    case RTC_REG_D:
        return REG_D_VRT;
    default:
        return rtc->cmos[reg];
    }
}

/* The guest sets the clock: keep the difference to the host's time. */
static void rtc_set_time(Rtc *rtc)
{
    struct tm tm = { 0 };
    int h = rtc->cmos[RTC_HOURS];

    tm.tm_sec = from_bcd(rtc, rtc->cmos[RTC_SECONDS]);
    tm.tm_min = from_bcd(rtc, rtc->cmos[RTC_MINUTES]);
    if (rtc->cmos[RTC_REG_B] & REG_B_24H) {
        tm.tm_hour = from_bcd(rtc, (uint8_t)h);
    } else {
        tm.tm_hour = from_bcd(rtc, h & 0x7f) % 12 + ((h & 0x80) ? 12 : 0);
    }
    tm.tm_mday = from_bcd(rtc, rtc->cmos[RTC_DAY]);
    tm.tm_mon = from_bcd(rtc, rtc->cmos[RTC_MONTH]) - 1;
    tm.tm_year = from_bcd(rtc, rtc->cmos[RTC_YEAR]) +
                 from_bcd(rtc, rtc->cmos[RTC_CENTURY]) * 100 - 1900;
    rtc->offset = (int64_t)(timegm(&tm) - time(NULL));
}

static void rtc_write(Rtc *rtc, uint8_t reg, uint8_t v)
{
    struct tm tm;

    switch (reg) {
    case RTC_REG_B:
        if ((v & REG_B_SET) && !(rtc->cmos[RTC_REG_B] & REG_B_SET)) {
            /* Freeze: latch the current time so the guest edits it. */
            rtc_now(rtc, &tm);
            rtc->cmos[RTC_SECONDS] = to_bcd(rtc, tm.tm_sec);
            rtc->cmos[RTC_MINUTES] = to_bcd(rtc, tm.tm_min);
            rtc->cmos[RTC_HOURS] = rtc_hours(rtc, tm.tm_hour);
            rtc->cmos[RTC_DAY] = to_bcd(rtc, tm.tm_mday);
            rtc->cmos[RTC_MONTH] = to_bcd(rtc, tm.tm_mon + 1);
            rtc->cmos[RTC_YEAR] = rtc_year(rtc, &tm);
            rtc->cmos[RTC_CENTURY] = rtc_century(rtc, &tm);
        } else if (!(v & REG_B_SET) && (rtc->cmos[RTC_REG_B] & REG_B_SET)) {
            rtc->cmos[RTC_REG_B] = v | REG_B_SET;
            rtc_set_time(rtc);
        }
        rtc->cmos[RTC_REG_B] = v;
        break;
    case RTC_REG_C:
    case RTC_REG_D:
        break;
    default:
        rtc->cmos[reg] = v;
        break;
    }
}

static void rtc_init(Rtc *rtc, uint64_t ram_below_4g, uint64_t ram_above_4g)
{
    uint64_t ext;

    g_mutex_init(&rtc->lock);
    rtc->initialized = true;
    rtc->cmos[RTC_REG_A] = 0x26;            /* 32.768 kHz, 1024 Hz rate */
    rtc->cmos[RTC_REG_B] = REG_B_24H;
    /* Memory sizes, as a PC BIOS records them. */
    rtc->cmos[0x15] = 0x80;                 /* 640 KiB base memory */
    rtc->cmos[0x16] = 0x02;
    ext = ram_below_4g > MiB ? (ram_below_4g - MiB) / KiB : 0;
    ext = MIN(ext, 0xffffu);
    rtc->cmos[0x17] = rtc->cmos[0x30] = (uint8_t)ext;
    rtc->cmos[0x18] = rtc->cmos[0x31] = (uint8_t)(ext >> 8);
    ext = ram_below_4g > 16 * MiB ? (ram_below_4g - 16 * MiB) / (64 * KiB) : 0;
    ext = MIN(ext, 0xffffu);
    rtc->cmos[0x34] = (uint8_t)ext;
    rtc->cmos[0x35] = (uint8_t)(ext >> 8);
    ext = ram_above_4g / (64 * KiB);
    rtc->cmos[0x5b] = (uint8_t)ext;
    rtc->cmos[0x5c] = (uint8_t)(ext >> 8);
    rtc->cmos[0x5d] = (uint8_t)(ext >> 16);
}

Rtc *rtc_new(uint64_t ram_below_4g, uint64_t ram_above_4g)
{
    Rtc *rtc = g_new0(Rtc, 1);

    rtc->dev.cls = &rtc_class;
    rtc_init(rtc, ram_below_4g, ram_above_4g);
    return rtc;
}

static void rtc_unrealize(Device *dev)
{
    Rtc *rtc = (Rtc *)dev;

    if (rtc->initialized) {
        g_mutex_clear(&rtc->lock);
    }
}

void rtc_free(Rtc *rtc)
{
    if (rtc) {
        rtc_unrealize(&rtc->dev);
        g_free(rtc);
    }
}

void rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
            bool is_write)
{
    Rtc *rtc = opaque;

    g_mutex_lock(&rtc->lock);
    if (offset == 0) {
        if (is_write) {
            rtc->index = data[0] & 0x7f;    /* bit 7 masks NMIs: ignored */
        } else {
            data[0] = 0xff;
        }
    } else if (is_write) {
        rtc_write(rtc, rtc->index, data[0]);
    } else {
        data[0] = rtc_read(rtc, rtc->index);
    }
    for (uint32_t i = 1; i < len && !is_write; i++) {
        data[i] = 0xff;
    }
    g_mutex_unlock(&rtc->lock);
}

/* --- the board device ----------------------------------------------------- */

static bool rtc_realize(Device *dev, const DeviceContext *ctx, GError **errp)
{
    Rtc *rtc = (Rtc *)dev;
    uint64_t low = memmap_low_ram_end(ctx->mem);

    rtc_init(rtc, low, ctx->mem->ram_size - low);
    return iobus_register(ctx->pio, PORT_CMOS, 2, rtc_io, rtc, "rtc", errp);
}

/* What the MC146818's RESET pin does: interrupt enables and flags clear;
 * the battery-backed CMOS bytes, the data format and the clock (our
 * offset) survive, as they do on a PC. */
static void rtc_reset(Device *dev)
{
    Rtc *rtc = (Rtc *)dev;

    g_mutex_lock(&rtc->lock);
    rtc->index = 0;
    rtc->cmos[RTC_REG_B] &= (uint8_t)~(REG_B_IRQ_EN | 0x08);   /* SQWE */
    g_mutex_unlock(&rtc->lock);
}

static bool rtc_post_load(void *opaque, uint32_t version, GError **errp)
{
    Rtc *rtc = opaque;

    if (rtc->index >= G_N_ELEMENTS(rtc->cmos)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'index': %u is not a CMOS register", rtc->index);
        return false;
    }
    /* What the registers can set is a few ten thousand years either way;
     * more would overflow the host's time plus the offset. */
    if (rtc->offset > RTC_MAX_OFFSET || rtc->offset < -RTC_MAX_OFFSET) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'offset': %" G_GINT64_FORMAT " seconds from the "
                    "host's clock", rtc->offset);
        return false;
    }
    return true;
}

/* Wire names: never rename. The offset is to the host's UTC clock, which
 * both ends of a migration share (give or take NTP). */
static const VmsDesc rtc_vmsd = {
    .name = "rtc",
    .version = 1,
    .min_version = 1,
    .post_load = rtc_post_load,
    .fields = (const VmsField[]) {
        VMS_U8(Rtc, index),
        VMS_U8_ARRAY(Rtc, cmos, 128),
        VMS_I64(Rtc, offset),
        VMS_END_OF_LIST,
    },
};

const DeviceClass rtc_class = {
    .name = "mc146818rtc",
    .instance_size = sizeof(Rtc),
    .realize = rtc_realize,
    .reset = rtc_reset,
    .unrealize = rtc_unrealize,
    .vmsd = &rtc_vmsd,
};

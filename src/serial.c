/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * 16550A UART. Transmission is instantaneous (the byte goes to the chardev
 * at once), so THR-empty is always true and the TX interrupt fires as soon
 * as it is enabled, which is what drivers expect from a fast line.
 */
#include <string.h>

#include "error.h"
#include "migration/vmstate.h"
#include "serial.h"

#define UART_RBR 0      /* read, DLAB=0 */
#define UART_THR 0      /* write, DLAB=0 */
#define UART_DLL 0      /* DLAB=1 */
#define UART_IER 1      /* DLAB=0 */
#define UART_DLM 1      /* DLAB=1 */
#define UART_IIR 2      /* read */
#define UART_FCR 2      /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI  0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI  0x08

#define IIR_NO_INT  0x01
#define IIR_MSI     0x00
#define IIR_THRI    0x02
#define IIR_RDI     0x04
#define IIR_RLSI    0x06
#define IIR_CTI     0x0c
#define IIR_FIFO_ON 0xc0

#define FCR_ENABLE  0x01
#define FCR_CLR_RX  0x02
#define FCR_CLR_TX  0x04

#define LCR_DLAB 0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_RI   0x40
#define MSR_DCD  0x80

#define RX_FIFO 16
#define TX_BATCH 256    /* output bytes sent to the chardev in one write */
#define TX_DELAY_MS 5   /* a line without its newline waits this long */

struct Serial {
    Device dev;                 /* first: a Device* is a Serial* */
    GMutex lock;
    /* Host side: backend and interrupt wiring, derived line level. */
    Chardev *chr;
    SerialSetIrq set_irq;
    void *irq_opaque;
    void (*board_set_irq)(void *opaque, unsigned int gsi, bool level);
    void *board_opaque;
    unsigned int gsi;
    bool irq_level;             /* what set_irq was last told */
    bool paused;                /* no input taken, line not driven */
    /*
     * Output batching (not guest-visible: THR is always empty). Bytes go
     * to the chardev at a newline, when the batch is full, or from the
     * main loop TX_DELAY_MS after the first unsent byte (tx_idle), not
     * one write() per byte. tx_lock is taken before lock and orders the
     * writes.
     */
    GMutex tx_lock;
    uint8_t tx[TX_BATCH];       /* under lock */
    size_t tx_len;              /* under lock */
    guint tx_idle;              /* under lock: main-loop flush queued */

    /* Guest-visible state (serial_vmsd). */
    uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
    uint16_t divisor;
    bool thr_int;               /* THR-empty interrupt pending */

    uint8_t rx[RX_FIFO];
    uint32_t rx_head, rx_count;
};

static unsigned int serial_rx_capacity(const Serial *s)
{
    return (s->fcr & FCR_ENABLE) ? RX_FIFO : 1;
}

/* The highest-priority pending interrupt, as IIR reports it. */
static uint8_t serial_pending(const Serial *s)
{
    if ((s->ier & IER_RLSI) && (s->lsr & LSR_OE)) {
        return IIR_RLSI;
    }
    if ((s->ier & IER_RDI) && s->rx_count) {
        return IIR_RDI;
    }
    if ((s->ier & IER_THRI) && s->thr_int) {
        return IIR_THRI;
    }
    if ((s->ier & IER_MSI) && (s->msr & 0x0f)) {
        return IIR_MSI;
    }
    return IIR_NO_INT;
}

static void serial_update_irq(Serial *s)
{
    /* On a PC, OUT2 gates the UART's interrupt onto the ISA line. */
    bool level = serial_pending(s) != IIR_NO_INT && (s->mcr & MCR_OUT2);

    /* Paused: resume drives the line from the state then. */
    if (s->paused) {
        return;
    }
    if (level != s->irq_level) {
        s->irq_level = level;
        s->set_irq(s->irq_opaque, level);
    }
}

static size_t serial_can_read(void *opaque)
{
    Serial *s = opaque;
    size_t room;

    g_mutex_lock(&s->lock);
    /* Paused: input waits in the backend (chardev_accept_input on
     * resume), so the FIFO, which a migration may have saved, stays. */
    room = (s->mcr & MCR_LOOP) || s->paused
           ? 0 : serial_rx_capacity(s) - s->rx_count;
    g_mutex_unlock(&s->lock);
    return room;
}

static void serial_rx_push(Serial *s, uint8_t b)
{
    if (s->rx_count >= serial_rx_capacity(s)) {
        s->lsr |= LSR_OE;
        return;
    }
    s->rx[(s->rx_head + s->rx_count) % RX_FIFO] = b;
    s->rx_count++;
    s->lsr |= LSR_DR;
}

static void serial_receive(void *opaque, const uint8_t *buf, size_t len)
{
    Serial *s = opaque;

    g_mutex_lock(&s->lock);
    for (size_t i = 0; i < len; i++) {
        serial_rx_push(s, buf[i]);
    }
    serial_update_irq(s);
    g_mutex_unlock(&s->lock);
}

/* Send what the guest wrote so far. Any thread; not with s->lock held. */
static void serial_tx_flush(Serial *s)
{
    uint8_t buf[TX_BATCH];
    size_t n;

    g_mutex_lock(&s->tx_lock);
    g_mutex_lock(&s->lock);
    n = s->tx_len;
    memcpy(buf, s->tx, n);
    s->tx_len = 0;
    g_mutex_unlock(&s->lock);
    if (n && s->chr) {
        chardev_write(s->chr, buf, n);
    }
    g_mutex_unlock(&s->tx_lock);
}

static gboolean serial_tx_idle_cb(gpointer opaque)
{
    Serial *s = opaque;

    g_mutex_lock(&s->lock);
    s->tx_idle = 0;
    g_mutex_unlock(&s->lock);
    serial_tx_flush(s);
    return G_SOURCE_REMOVE;
}

void serial_reset(Serial *s)
{
    g_mutex_lock(&s->lock);
    s->ier = 0;
    s->lcr = 0x03;          /* 8N1 */
    s->mcr = MCR_OUT2;
    s->lsr = LSR_THRE | LSR_TEMT;
    s->msr = MSR_DCD | MSR_DSR | MSR_CTS;
    s->scr = 0;
    s->fcr = 0;
    s->divisor = 12;        /* 9600 baud */
    s->thr_int = false;
    s->rx_head = s->rx_count = 0;
    serial_update_irq(s);
    g_mutex_unlock(&s->lock);
}

static void serial_init(Serial *s, Chardev *chr, SerialSetIrq set_irq,
                        void *irq_opaque)
{
    g_mutex_init(&s->lock);
    g_mutex_init(&s->tx_lock);
    s->chr = chr;
    s->set_irq = set_irq;
    s->irq_opaque = irq_opaque;
    serial_reset(s);
    if (chr) {
        chardev_set_frontend(chr, serial_can_read, serial_receive, NULL, s);
    }
}

Serial *serial_new(Chardev *chr, SerialSetIrq set_irq, void *irq_opaque)
{
    Serial *s = g_new0(Serial, 1);

    s->dev.cls = &serial_class;
    serial_init(s, chr, set_irq, irq_opaque);
    return s;
}

static void serial_unrealize(Device *dev)
{
    Serial *s = (Serial *)dev;

    if (!s->set_irq) {
        return;                 /* realize failed before serial_init */
    }
    /* The main thread, where the queued flush would run: it goes, and
     * what it would have sent goes now. */
    g_mutex_lock(&s->lock);
    if (s->tx_idle) {
        g_source_remove(s->tx_idle);
        s->tx_idle = 0;
    }
    g_mutex_unlock(&s->lock);
    serial_tx_flush(s);
    if (s->chr) {
        chardev_set_frontend(s->chr, NULL, NULL, NULL, NULL);
    }
    g_mutex_clear(&s->lock);
    g_mutex_clear(&s->tx_lock);
}

void serial_free(Serial *s)
{
    if (s) {
        serial_unrealize(&s->dev);
        g_free(s);
    }
}

static void serial_write_reg(Serial *s, unsigned int reg, uint8_t v)
{
    switch (reg) {
    case UART_THR:
        if (s->lcr & LCR_DLAB) {
            s->divisor = (s->divisor & 0xff00) | v;
            break;
        }
        if (s->mcr & MCR_LOOP) {
            serial_rx_push(s, v);
        } else if (s->chr) {
            while (s->tx_len == sizeof(s->tx)) {
                /* Full, another vCPU's flush under way: wait for it. */
                g_mutex_unlock(&s->lock);
                serial_tx_flush(s);
                g_mutex_lock(&s->lock);
            }
            s->tx[s->tx_len++] = v;
            if (v == '\n' || s->tx_len == sizeof(s->tx)) {
                /* Drop the lock while writing: output may block briefly. */
                g_mutex_unlock(&s->lock);
                serial_tx_flush(s);
                g_mutex_lock(&s->lock);
            } else if (!s->tx_idle) {
                /* Not g_idle_add: an idle main loop would run it after
                 * every byte. */
                s->tx_idle = g_timeout_add(TX_DELAY_MS, serial_tx_idle_cb,
                                           s);
            }
        }
        s->thr_int = true;
        break;
    case UART_IER:
        if (s->lcr & LCR_DLAB) {
            s->divisor = (uint16_t)((s->divisor & 0xff) | (v << 8));
            break;
        }
        /* Enabling THRI with the holding register empty raises it. */
        if ((v & IER_THRI) && !(s->ier & IER_THRI)) {
            s->thr_int = true;
        }
        s->ier = v & 0x0f;
        break;
    case UART_FCR:
        if ((v ^ s->fcr) & FCR_ENABLE) {
            s->rx_head = s->rx_count = 0;   /* toggling FIFO mode clears */
        }
        if (v & FCR_CLR_RX) {
            s->rx_head = s->rx_count = 0;
            s->lsr &= ~LSR_DR;
        }
        s->fcr = v & 0xc9;
        break;
    case UART_LCR:
        s->lcr = v;
        break;
    case UART_MCR:
        s->mcr = v & 0x1f;
        break;
    case UART_LSR:
    case UART_MSR:
        break;                  /* read-only */
    case UART_SCR:
        s->scr = v;
        break;
    }
}

static uint8_t serial_read_reg(Serial *s, unsigned int reg, bool *drained)
{
    uint8_t v = 0;

    switch (reg) {
    case UART_RBR:
        if (s->lcr & LCR_DLAB) {
            return s->divisor & 0xff;
        }
        if (s->rx_count) {
            v = s->rx[s->rx_head];
            s->rx_head = (s->rx_head + 1) % RX_FIFO;
            s->rx_count--;
            *drained = true;
        }
        if (!s->rx_count) {
            s->lsr &= ~LSR_DR;
        }
        return v;
    case UART_IER:
        return (s->lcr & LCR_DLAB) ? s->divisor >> 8 : s->ier;
    case UART_IIR:
        v = serial_pending(s);
        if (v == IIR_THRI) {
            s->thr_int = false;     /* reading IIR acknowledges THRE */
        }
        return v | ((s->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0);
    case UART_LCR:
        return s->lcr;
    case UART_MCR:
        return s->mcr;
    case UART_LSR:
        v = s->lsr;
        s->lsr &= ~LSR_OE;
        return v;
    case UART_MSR:
        if (s->mcr & MCR_LOOP) {
            /* Loopback wires the modem outputs to the inputs. */
            v = ((s->mcr & MCR_RTS) ? MSR_CTS : 0) |
                ((s->mcr & MCR_DTR) ? MSR_DSR : 0) |
                ((s->mcr & MCR_OUT1) ? MSR_RI : 0) |
                ((s->mcr & MCR_OUT2) ? MSR_DCD : 0);
            return v;
        }
        v = s->msr;
        s->msr &= 0xf0;
        return v;
    case UART_SCR:
        return s->scr;
    }
    return 0xff;
}

void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
               bool is_write)
{
    Serial *s = opaque;
    bool drained = false;

    if (offset > UART_SCR) {
        return;
    }
    g_mutex_lock(&s->lock);
    if (is_write) {
        serial_write_reg(s, (unsigned int)offset, data[0]);
    } else {
        data[0] = serial_read_reg(s, (unsigned int)offset, &drained);
        for (uint32_t i = 1; i < len; i++) {
            data[i] = 0xff;
        }
    }
    serial_update_irq(s);
    g_mutex_unlock(&s->lock);
    if (drained && s->chr) {
        chardev_accept_input(s->chr);
    }
}

/* --- the board device ----------------------------------------------------- */

static void serial_board_irq(void *opaque, bool level)
{
    Serial *s = opaque;

    s->board_set_irq(s->board_opaque, s->gsi, level);
}

static bool serial_realize(Device *dev, const DeviceContext *ctx,
                           GError **errp)
{
    static const uint16_t com_port[DEVICE_MAX_SERIALS] = {
        0x3f8, 0x2f8, 0x3e8, 0x2e8 };
    static const uint8_t com_irq[DEVICE_MAX_SERIALS] = { 4, 3, 4, 3 };
    static const char *const com_name[DEVICE_MAX_SERIALS] = {
        "serial0", "serial1", "serial2", "serial3" };
    Serial *s = (Serial *)dev;
    unsigned int i = dev->index;

    if (i >= DEVICE_MAX_SERIALS) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "kestrel has %u serial ports", DEVICE_MAX_SERIALS);
        return false;
    }
    s->board_set_irq = ctx->set_irq;
    s->board_opaque = ctx->opaque;
    s->gsi = com_irq[i];
    serial_init(s, ctx->serial_chr[i], serial_board_irq, s);
    return iobus_register(ctx->pio, com_port[i], 8, serial_io, s,
                          com_name[i], errp);
}

static void serial_class_reset(Device *dev)
{
    serial_reset((Serial *)dev);
}

static void serial_pause(Device *dev)
{
    Serial *s = (Serial *)dev;

    g_mutex_lock(&s->lock);
    s->paused = true;
    g_mutex_unlock(&s->lock);
}

static void serial_resume(Device *dev)
{
    Serial *s = (Serial *)dev;

    g_mutex_lock(&s->lock);
    s->paused = false;
    serial_update_irq(s);
    g_mutex_unlock(&s->lock);
    if (s->chr) {
        chardev_accept_input(s->chr);
    }
}

static bool serial_post_load(void *opaque, uint32_t version, GError **errp)
{
    Serial *s = opaque;

    if (s->rx_head >= RX_FIFO || s->rx_count > serial_rx_capacity(s)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'rx_head'/'rx_count': %u bytes at %u do not fit "
                    "the receive FIFO", s->rx_count, s->rx_head);
        return false;
    }
    if (s->ier & 0xf0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'ier': reserved bits set (0x%02x)", s->ier);
        return false;
    }
    if (s->mcr & 0xe0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'mcr': reserved bits set (0x%02x)", s->mcr);
        return false;
    }
    /* The line follows the loaded registers (now, or at resume). */
    g_mutex_lock(&s->lock);
    serial_update_irq(s);
    g_mutex_unlock(&s->lock);
    return true;
}

/* Wire names: never rename. */
static const VmsDesc serial_vmsd = {
    .name = "serial",
    .version = 1,
    .min_version = 1,
    .post_load = serial_post_load,
    .fields = (const VmsField[]) {
        VMS_U8(Serial, ier),
        VMS_U8(Serial, lcr),
        VMS_U8(Serial, mcr),
        VMS_U8(Serial, lsr),
        VMS_U8(Serial, msr),
        VMS_U8(Serial, scr),
        VMS_U8(Serial, fcr),
        VMS_U16(Serial, divisor),
        VMS_BOOL(Serial, thr_int),
        VMS_U8_ARRAY(Serial, rx, RX_FIFO),
        VMS_U32(Serial, rx_head),
        VMS_U32(Serial, rx_count),
        VMS_END_OF_LIST,
    },
};

const DeviceClass serial_class = {
    .name = "isa-serial",
    .instance_size = sizeof(Serial),
    .realize = serial_realize,
    .reset = serial_class_reset,
    .unrealize = serial_unrealize,
    .vmsd = &serial_vmsd,
    .pause = serial_pause,
    .resume = serial_resume,
};

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The console: COM1, polled, from user mode (IOPL=3). Every port access is
 * a VM exit (~25 us here), so with the FIFO on, the line status register
 * is read once per 16 bytes rather than once per byte. con_printf() holds a
 * spinlock for its line, so the lines of several CPUs never interleave.
 */
#include "tg.h"

#define COM1            0x3f8
#define UART_THR        0       /* transmit holding register (DLAB=0) */
#define UART_DLL        0       /* divisor latch low (DLAB=1) */
#define UART_IER        1
#define UART_DLM        1
#define UART_IIR        2
#define UART_FCR        2
#define UART_LCR        3
#define UART_MCR        4
#define UART_LSR        5
#define UART_LSR_THRE   0x20
#define UART_FIFO_SIZE  16

static unsigned int con_burst = 1;

/* Several CPUs print (dirty mode): one line at a time. */
static Spinlock con_lock;

void con_init(void)
{
    outb(COM1 + UART_IER, 0x00);        /* polled: no interrupts */
    outb(COM1 + UART_LCR, 0x80);        /* DLAB */
    outb(COM1 + UART_DLL, 0x01);        /* 115200 baud */
    outb(COM1 + UART_DLM, 0x00);
    outb(COM1 + UART_LCR, 0x03);        /* 8N1 */
    outb(COM1 + UART_FCR, 0x07);        /* FIFO on, both cleared */
    outb(COM1 + UART_MCR, 0x03);        /* DTR, RTS */
    /* IIR bits 7:6 read 11 only on a 16550A whose FIFO is really on. */
    con_burst = (inb(COM1 + UART_IIR) & 0xc0) == 0xc0 ? UART_FIFO_SIZE : 1;
    /* End whatever the firmware printed last (SeaBIOS leaves "Booting
     * from ROM.." open) so that each TG line is a line of its own. */
    con_write("\n", 1);
}

void con_write(const char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned int n;

        while (!(inb(COM1 + UART_LSR) & UART_LSR_THRE)) {
            cpu_relax();
        }
        for (n = 0; n < con_burst && i < len; n++, i++) {
            outb(COM1 + UART_THR, (uint8_t)s[i]);
        }
    }
}

void con_printf(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = tg_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 1) {
        n = sizeof(buf) - 1;
    }
    spin_lock(&con_lock);
    con_write(buf, (size_t)n);
    spin_unlock(&con_lock);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KESTREL_SERIAL_H
#define KESTREL_SERIAL_H
#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KESTREL_IOBUS_H
#define KESTREL_IOBUS_H
#endif

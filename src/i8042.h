/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KESTREL_I8042_H
#define KESTREL_I8042_H
#endif

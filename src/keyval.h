/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KESTREL_KEYVAL_H
#define KESTREL_KEYVAL_H
#endif

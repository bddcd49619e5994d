/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KESTREL_CHARDEV_H
#define KESTREL_CHARDEV_H
#endif

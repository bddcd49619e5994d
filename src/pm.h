/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KESTREL_PM_H
#define KESTREL_PM_H
#endif

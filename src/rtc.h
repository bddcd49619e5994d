/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KESTREL_RTC_H
#define KESTREL_RTC_H
#endif

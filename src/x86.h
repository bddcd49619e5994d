/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KESTREL_X86_H
#define KESTREL_X86_H
#endif

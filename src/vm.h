/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KESTREL_VM_H
#define KESTREL_VM_H
#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KESTREL_VCPU_H
#define KESTREL_VCPU_H
#endif

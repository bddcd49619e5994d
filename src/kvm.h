/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KESTREL_KVM_H
#define KESTREL_KVM_H
#endif

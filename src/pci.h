/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KESTREL_PCI_H
#define KESTREL_PCI_H
#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virtio-rng-pci: random bytes for the guest, from the host kernel. */
#ifndef KESTREL_VIRTIO_RNG_H
#define KESTREL_VIRTIO_RNG_H

#include "device.h"

#define VIRTIO_ID_RNG               4

extern const DeviceClass virtio_rng_pci_class;

#endif /* KESTREL_VIRTIO_RNG_H */

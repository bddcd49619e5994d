# SPDX-License-Identifier: GPL-2.0-or-later
dist_man_MANS += man/kestrel.1 man/kestrel-qmp.7
dist_man_MANS += man/virtkestreld.8

# SPDX-License-Identifier: GPL-2.0-or-later
# libqmp: JSON framing, schema-driven dispatch, server and client.

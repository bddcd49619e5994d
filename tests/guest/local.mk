# SPDX-License-Identifier: GPL-2.0-or-later
# The test guest (placeholder; see design/TESTGUEST.md).

# SPDX-License-Identifier: GPL-2.0-or-later
import ktest

if __name__ == "__main__":
    ktest.main()

# SPDX-License-Identifier: GPL-2.0-or-later
"""PVH boot end to end: a minimal 32-bit ELF kernel with only a PVH entry
note (no Linux entry) checks that it starts in 32-bit protected mode with
EBX pointing at an hvm_start_info, prints on COM1 and powers off through
the FADT's PM1a control block. QEMU runs the same kernel as the oracle."""

import os
import struct

import ktest
from ktest import QEMU

LOAD = 0x100000
PVH_MAGIC = 0x336ec578


# How the kernel ends after printing: ACPI S5 power-off (kestrel's FADT),
# an i8042 reset pulse, the 0xcf9 reset register, or a triple fault.
ENDINGS = {
    "poweroff": (b"\x66\xba\x04\x06"                 # mov dx, 0x604
                 b"\x66\xb8" + struct.pack("<H", (5 << 10) | (1 << 13)) +
                 b"\x66\xef"),                         # out dx, ax
    "i8042": b"\xb0\xfe\xe6\x64",                    # mov al, 0xfe; out 0x64
    "cf9": b"\x66\xba\xf9\x0c\xb0\x06\xee",       # mov dx, 0xcf9; al=6; out
    "triple-fault": b"\x0f\x0b",                       # ud2, with no IDT
}


def pvh_kernel(ending="poweroff"):
    ok = b"PVH OK\n\0"
    bad = b"PVH BAD START INFO\n\0"
    code = bytearray()

    def here():
        return LOAD + 0x1000 + len(code)

    # The code is laid out first; message addresses are patched below.
    code += b"\xbe" + b"\0\0\0\0"                   # mov esi, ok
    code += b"\xba\xf8\x03\x00\x00"                 # mov edx, 0x3f8
    code += b"\x81\x3b" + struct.pack("<I", PVH_MAGIC)  # cmp [ebx], magic
    code += b"\x74\x05"                             # je loop
    code += b"\xbe" + b"\0\0\0\0"                   # mov esi, bad
    loop = len(code)
    code += b"\xac\x84\xc0\x74\x03\xee\xeb\xf8"     # lodsb; test; jz; out; jmp
    # done: power off (SLP_TYP=5 | SLP_EN into PM1a_CNT at 0x604, as
    # kestrel's FADT and DSDT describe it), or reset, as asked.
    code += ENDINGS[ending]
    code += b"\xf4\xeb\xfd"                         # hlt; jmp hlt
    assert code[loop:loop + 8] == b"\xac\x84\xc0\x74\x03\xee\xeb\xf8"
    msg_ok = here()
    code += ok
    msg_bad = here()
    code += bad
    struct.pack_into("<I", code, 1, msg_ok)
    struct.pack_into("<I", code, 1 + 5 + 6 + 2 + 1, msg_bad)

    # Xen ELF note: name "Xen\0", type 18 (PHYS32_ENTRY), 4-byte entry.
    note = struct.pack("<III", 4, 4, 18) + b"Xen\0" + struct.pack("<I", LOAD + 0x1000)

    ehsize, phsize = 52, 32
    note_off = ehsize + 2 * phsize
    code_off = 0x1000
    image = bytearray(code_off + len(code))
    struct.pack_into("<4sBBBB8xHHIIIIIHHHHHH", image, 0, b"\x7fELF", 1, 1, 1,
                     0, 2, 3, 1, LOAD + 0x1000, ehsize, 0, 0, ehsize, phsize,
                     2, 40, 0, 0)
    # PT_LOAD: the whole file from offset 0 at LOAD (code at LOAD+0x1000).
    struct.pack_into("<IIIIIIII", image, ehsize, 1, 0, LOAD, LOAD,
                     len(image), len(image), 5, 0x1000)
    struct.pack_into("<IIIIIIII", image, ehsize + phsize, 4, note_off, 0, 0,
                     len(note), len(note), 4, 4)
    image[note_off:note_off + len(note)] = note
    image[code_off:] = code
    return bytes(image)


class Pvh(ktest.TestCase):
    def write_kernel(self):
        path = os.path.join(self.tmp, "pvh.elf")
        with open(path, "wb") as f:
            f.write(pvh_kernel())
        return path

    def test_pvh_only_kernel_under_kestrel(self):
        p = self.kestrel("-nographic", "-m", "64", "-kernel",
                         self.write_kernel())
        p.wait_line(r"^PVH OK$", timeout=30)
        self.assertEqual(p.wait_exit(30), 0, p.text())

    def test_pvh_only_kernel_under_qemu(self):
        # The oracle: QEMU's pc machine boots the same file through PVH and
        # hands it a valid start_info. (Its PIIX4 _S5 is type 0, not ours,
        # so this kernel cannot power it off: it is killed instead.)
        p = self.spawn([QEMU] + ktest.QEMU_ACCEL + ["-M", "pc", "-nodefaults",
                        "-nographic", "-serial", "stdio", "-m", "64",
                        "-kernel", self.write_kernel()])
        p.wait_line(r"PVH OK$", timeout=60)
        self.assertFalse(any("BAD" in l for l in p.lines), p.text())


if __name__ == "__main__":
    ktest.main()

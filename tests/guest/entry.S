/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Entry points, static page tables, GDT and trap stubs of the test guest.
 *
 * Everything here runs in kernel mode, which this project's machines
 * emulate at about 2 million instructions per second, so the paths are
 * straight lines: the page tables are built by the assembler (no loop at
 * run time), and each entry does the minimum before kernel_setup() and the
 * drop to user mode.
 */

#define SEL_KCODE   0x08
#define SEL_KDATA   0x10
#define SEL_KCODE32 0x28
#define TG_MAX_CPUS 255
#define BOOT_LINUX64 1
#define BOOT_PVH    2

#define CR0_PE      0x00000001
#define CR0_NE      0x00000020
#define CR0_WP      0x00010000
#define CR0_PG      0x80000000
#define CR4_PAE     0x00000020
#define CR4_PGE     0x00000080
#define CR4_SMEP    0x00100000
#define CR4_SMAP    0x00200000
#define MSR_EFER    0xc0000080
#define EFER_LME    0x00000100

/*
 * PVH: Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY (18). QEMU's -kernel looks for
 * it in the PT_NOTE segment and enters at this 32-bit physical address in
 * flat protected mode, paging off, with EBX = hvm_start_info.
 */
    .section .note.Xen, "a"
    .p2align 2
    .long 4                     /* namesz: "Xen\0" */
    .long 4                     /* descsz */
    .long 18                    /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long pvh_entry

    .section .text.entry, "ax"

/* PVH entry: 32-bit, paging off. Turn on long mode with the static tables. */
    .code32
    .globl pvh_entry
pvh_entry:
    cli
    movl %ebx, %esi
    movl $pml4, %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl $(CR0_PE | CR0_NE | CR0_WP | CR0_PG), %eax
    movl %eax, %cr0
    lgdt gdt_ptr
    ljmp $SEL_KCODE, $pvh_entry64

    .code64
pvh_entry64:
    movl %esi, %esi             /* upper halves undefined after the switch */
    movl $BOOT_PVH, %edi
    jmp common64

/*
 * Linux 64-bit entry (ELF e_entry): long mode, paging on with some identity
 * map, RSI = boot_params. Nothing of the loader's GDT or page tables is
 * kept: they may live in memory the workloads later use.
 */
    .globl linux64_entry
linux64_entry:
    cli
    movl $BOOT_LINUX64, %edi
    lgdt gdt_ptr

common64:
    /*
     * All our pages are user pages, so SMEP/SMAP (which a loader may have
     * left on) would fault the kernel. Clearing PGE also flushes any global
     * translation of the loader's tables before ours go in.
     */
    movq %cr4, %rax
    andq $~(CR4_PGE | CR4_SMEP | CR4_SMAP), %rax
    movq %rax, %cr4
    movq $pml4, %rax
    movq %rax, %cr3
    movl $SEL_KDATA, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    xorl %eax, %eax
    movl %eax, %fs
    movl %eax, %gs
    movq $kstack_top, %rsp
    pushq $SEL_KCODE
    pushq $1f
    lretq                       /* reload CS from our GDT */
1:
    call kernel_setup           /* (kind, info); never returns */
2:
    hlt
    jmp 2b

/*
 * AP start-up. The boot CPU (smp.c, user mode) copies ap_trampoline to a
 * page below 1 MiB, fills ap_boot_* and the AP's TSS and GDT slot, and
 * sends INIT-SIPI-SIPI; the AP starts there in real mode with CS = the
 * page >> 4, IP = 0. All of this is emulated here, instruction by
 * instruction: real mode -> protected mode on our GDT -> long mode on our
 * page tables -> user mode, about 30 instructions in all.
 */
    .code16
    .globl ap_trampoline, ap_trampoline_end
ap_trampoline:
    cli
    lgdtl %cs:(ap_trampoline_gdt - ap_trampoline)
    movl $(CR0_PE | CR0_NE), %eax       /* also clears INIT's CD and NW */
    movl %eax, %cr0
    ljmpl $SEL_KCODE32, $ap_entry32
    .p2align 2
ap_trampoline_gdt:                      /* our GDT: its base fits 32 bits */
    .word gdt_end - gdt - 1
    .long gdt
ap_trampoline_end:

    .code32
ap_entry32:
    movl $pml4, %eax
    movl %eax, %cr3
    movl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $MSR_EFER, %ecx
    movl $EFER_LME, %eax                /* EFER is 0 after INIT */
    xorl %edx, %edx
    wrmsr
    movl $(CR0_PE | CR0_NE | CR0_WP | CR0_PG), %eax
    movl %eax, %cr0
    ljmp $SEL_KCODE, $ap_entry64

    .code64
ap_entry64:
    movl $SEL_KDATA, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movq ap_boot_kstack, %rsp
    movw ap_boot_tss, %ax
    ltr %ax
    lidt idt_ptr
    movl ap_boot_cpu, %edi
    movq ap_boot_ustack, %rcx
    movq $ap_main, %rdx
    jmp enter_user

/*
 * enter_user(kind, info, rip, rsp): iretq to CPL3 with IOPL=3 (so user mode
 * does port I/O itself) and IF=0 (interrupts are only taken while halted).
 */
    .globl enter_user
enter_user:
    pushq $0x1b                 /* SS: user data */
    pushq %rcx                  /* RSP */
    pushq $0x3002               /* RFLAGS: IOPL=3, IF=0 */
    pushq $0x23                 /* CS: user code */
    pushq %rdx                  /* RIP */
    movl $0x1b, %eax
    movl %eax, %ds
    movl %eax, %es
    iretq

/*
 * Trap stubs: one 16-byte slot per vector, so the IDT gate of vector v is
 * trap_stubs + 16 * v. Vectors without a CPU error code push a zero so every
 * frame has the TrapFrame layout of tg.h.
 */
    .p2align 4
    .globl trap_stubs
trap_stubs:
    .set vec, 0
    .rept 256
    .p2align 4
    .if (vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17) || \
        (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    pushq $vec
    jmp trap_common
    .set vec, vec + 1
    .endr

trap_common:
    pushq %rax
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    movq %rsp, %rdi
    cld
    call trap_dispatch          /* callee-saved registers survive the C call */
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rax
    addq $16, %rsp              /* vector and error code */
    iretq

/*
 * Page tables: identity map of the first 4 GiB in 2 MiB pages, all user
 * accessible (user mode reads firmware tables and drives devices). The top
 * GiB (MMIO: PCI windows, IOAPIC, LAPIC) is uncached. Accessed and dirty
 * bits are preset so the CPU never writes these tables back.
 */
#define PTE_P       0x001
#define PTE_RW      0x002
#define PTE_US      0x004
#define PTE_PWT     0x008
#define PTE_PCD     0x010
#define PTE_A       0x020
#define PTE_D       0x040
#define PTE_PS      0x080
#define PTE_TABLE   (PTE_P | PTE_RW | PTE_US | PTE_A)
#define PTE_LARGE   (PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D | PTE_PS)

    .section .data.pagetables, "aw"
    .p2align 12
    .globl pml4
pml4:
    .quad pdpt + PTE_TABLE
    .fill 511, 8, 0
pdpt:
    .quad pd + PTE_TABLE
    .quad pd + 0x1000 + PTE_TABLE
    .quad pd + 0x2000 + PTE_TABLE
    .quad pd + 0x3000 + PTE_TABLE
    .fill 508, 8, 0
pd:
    .set pg, 0
    .rept 2048
    .if pg < 1536
    .quad (pg << 21) + PTE_LARGE
    .else
    .quad (pg << 21) + PTE_LARGE + PTE_PWT + PTE_PCD
    .endif
    .set pg, pg + 1
    .endr

/*
 * GDT. Accessed bits preset (no descriptor write-back). 0x28 is 32-bit
 * code, only for an AP on its way from real to long mode. Then one TSS
 * descriptor (16 bytes) per CPU from 0x30: kernel_setup() fills the boot
 * CPU's, smp.c (in user mode) each AP's before starting it.
 */
    .section .data, "aw"
    .p2align 4
    .globl gdt
gdt:
    .quad 0
    .quad 0x00af9b000000ffff    /* 0x08: kernel code, 64-bit */
    .quad 0x00cf93000000ffff    /* 0x10: kernel data */
    .quad 0x00cff3000000ffff    /* 0x18: user data */
    .quad 0x00affb000000ffff    /* 0x20: user code, 64-bit */
    .quad 0x00cf9b000000ffff    /* 0x28: kernel code, 32-bit (APs) */
    .fill 2 * TG_MAX_CPUS, 8, 0 /* 0x30: TSS of each CPU */
gdt_end:
    .p2align 4
gdt_ptr:
    .word gdt_end - gdt - 1
    .quad gdt
    .p2align 4
    .globl idt_ptr
idt_ptr:
    .word 4095
    .quad idt

/*
 * TSS with an all-zero I/O permission bitmap (every port allowed) and the
 * terminating 0xff byte. IOPL=3 alone should make the bitmap moot, but this
 * platform's CPL3 port-I/O path consults the bitmap, so user mode gets
 * both. It is in .data so the zeros come from the image: clearing 8 KiB in
 * emulated kernel mode would cost more than the file bytes.
 */
    .section .data, "aw"
    .p2align 12
    .globl tss
tss:
    .fill 104, 1, 0
    .fill 8192, 1, 0
    .byte 0xff
    .p2align 4

/*
 * Kernel data and stacks: not in .bss, which user mode clears (while
 * running on its stack) after kernel_setup() filled the IDT and TSS.
 */
    .section .kbss, "aw", @nobits
    .p2align 12
    .globl idt
idt:
    .skip 4096
kstack:
    .skip 16384
    .globl kstack_top
kstack_top:
ustack:
    .skip 65536
    .globl ustack_top
ustack_top:

    .section .note.GNU-stack, "", @progbits

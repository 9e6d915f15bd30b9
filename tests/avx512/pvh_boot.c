/*
 * A Multiboot kernel that starts a Linux kernel by its PVH entry: the
 * guest's boot loader in tests/avx512/run.sh.
 *
 * Under Bochs a bzImage spends most of its boot unpacking its own
 * XZ-compressed body. run.sh unpacks it on the host instead
 * (flat_kernel.py), and isolinux's mboot.c32 loads this program with two
 * modules: that flat kernel, whose module string is the kernel's command
 * line after the file name, and the initial RAM disk. This program puts
 * the kernel's pages where they belong, describes the machine in the PVH
 * start info (memory map, command line, RAM disk) and jumps to the
 * kernel's 32-bit PVH entry, as Linux's boot protocol for PVH asks:
 * protected mode, paging off, flat segments, %ebx the start info.
 *
 * Built 32-bit, freestanding, by run.sh: cc -m32 -ffreestanding ...,
 * linked at 1 MiB. Errors go to the serial port, which run.sh shows.
 */
#include <stdint.h>

#define MULTIBOOT_BOOTED 0x2BADB002u /* in %eax from the loader */
#define MB_INFO_MODS 0x8u
#define MB_INFO_MMAP 0x40u
#define PVH_MAGIC 0x336ec578u
#define FLAT_MAGIC 0x4B504C4Du /* "MLPK" */

/* The Multiboot header, in the first 8 KiB of the file (its own section,
 * first in the link): magic, flags (bit 1: the memory map, please) and
 * checksum. Then the entry: a stack, then loader_main(eax, ebx). */
__asm__(".section .multiboot, \"a\"\n"
        ".align 4\n"
        ".long 0x1BADB002, 0x2, -(0x1BADB002 + 0x2)\n"
        ".text\n"
        ".globl _start\n"
        "_start:\n"
        "    cli\n"
        "    movl $stack_top, %esp\n"
        "    pushl %ebx\n"
        "    pushl %eax\n"
        "    call loader_main\n"
        "1:  hlt\n"
        "    jmp 1b\n"
        ".bss\n"
        ".align 16\n"
        "stack:\n"
        "    .skip 16384\n"
        "stack_top:\n"
        ".text\n");

struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
    uint32_t mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr;
};
struct mb_module {
    uint32_t start, end, string, reserved;
};
struct mb_mmap {
    uint32_t size; /* of the rest of the entry */
    uint32_t addr_lo, addr_hi, len_lo, len_hi, type;
} __attribute__((packed));

/* Linux's struct hvm_start_info (version 1) and its tables. */
struct pvh_start_info {
    uint32_t magic, version, flags, nr_modules;
    uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
    uint32_t memmap_entries, reserved;
};
struct pvh_module {
    uint64_t paddr, size, cmdline_paddr, reserved;
};
struct pvh_memmap {
    uint64_t addr, size;
    uint32_t type, reserved;
};

struct flat_header {
    uint32_t magic, entry, records, reserved;
};
struct flat_record {
    uint32_t paddr, data, zeros;
};

#define MAX_MEMMAP 64
static struct pvh_start_info start_info;
static struct pvh_module module;
static struct pvh_memmap memmap[MAX_MEMMAP];
static char cmdline[1024];

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

/* COM1 at 115200 baud, 8 bits, no parity (the BIOS leaves it at 5 bits a
 * character). */
static void serial_init(void)
{
    outb(0x3F8 + 1, 0x00); /* no interrupts */
    outb(0x3F8 + 3, 0x80); /* the divisor's registers */
    outb(0x3F8 + 0, 0x01); /* 115200 / 1 */
    outb(0x3F8 + 1, 0x00);
    outb(0x3F8 + 3, 0x03); /* 8 bits, no parity, 1 stop bit */
}

static void say(const char *s)
{
    for (; *s; s++) {
        while (!(inb(0x3F8 + 5) & 0x20))
            ;
        outb(0x3F8, (uint8_t)*s);
    }
}

/* The message, then a halt: run.sh stops the guest when it reads the
 * whole line, "pvh_boot: ... (stopped)". */
static void fail(const char *why)
{
    serial_init();
    say("pvh_boot: ");
    say(why);
    say(" (stopped)\r\n");
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* Forward: the two ranges never overlap here (modules move above every
 * end, the kernel's pages are copied out of a module that lies wholly
 * below or above them). */
static void copy(uint32_t dst, uint32_t src, uint32_t n)
{
    __asm__ volatile("cld; rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}

static void zero(uint32_t dst, uint32_t n)
{
    __asm__ volatile("cld; rep stosb" : "+D"(dst), "+c"(n) : "a"(0) : "memory");
}

static uint32_t align_up(uint32_t v)
{
    return (v + 4095u) & ~4095u;
}

/* [lo, hi) the kernel's pages; fails on a record that does not parse. */
static void kernel_span(uint32_t image, uint32_t size, uint32_t *lo, uint32_t *hi)
{
    const struct flat_header *h = (const struct flat_header *)image;
    uint32_t pos = sizeof *h;
    *lo = 0xFFFFFFFFu;
    *hi = 0;
    for (uint32_t i = 0; i < h->records; i++) {
        if (size - pos < sizeof(struct flat_record))
            fail("the kernel image is truncated");
        const struct flat_record *r = (const struct flat_record *)(image + pos);
        uint32_t padded = (r->data + 3u) & ~3u;
        pos += sizeof *r;
        if (size - pos < padded)
            fail("the kernel image is truncated");
        pos += padded;
        uint32_t end = r->paddr + r->data + r->zeros;
        if (end < r->paddr)
            fail("a record wraps past 4 GiB");
        if (r->paddr < *lo)
            *lo = r->paddr;
        if (end > *hi)
            *hi = end;
    }
}

static void load_kernel(uint32_t image)
{
    const struct flat_header *h = (const struct flat_header *)image;
    uint32_t pos = sizeof *h;
    for (uint32_t i = 0; i < h->records; i++) {
        const struct flat_record *r = (const struct flat_record *)(image + pos);
        pos += sizeof *r;
        copy(r->paddr, image + pos, r->data);
        zero(r->paddr + r->data, r->zeros);
        pos += (r->data + 3u) & ~3u;
    }
}

static int overlaps(uint32_t a, uint32_t an, uint32_t b, uint32_t bn)
{
    return a < b + bn && b < a + an;
}

void loader_main(uint32_t magic, const struct mb_info *mb);
extern char loader_end[]; /* pvh_boot.ld: the end of this program in memory */

void loader_main(uint32_t magic, const struct mb_info *mb)
{
    if (magic != MULTIBOOT_BOOTED)
        fail("not started by a Multiboot loader");
    if (!(mb->flags & MB_INFO_MODS) || mb->mods_count != 2)
        fail("needs two modules: the flat kernel and the RAM disk");
    if (!(mb->flags & MB_INFO_MMAP))
        fail("the loader gave no memory map");
    const struct mb_module *mods = (const struct mb_module *)mb->mods_addr;
    uint32_t image = mods[0].start, image_size = mods[0].end - mods[0].start;
    uint32_t rd = mods[1].start, rd_size = mods[1].end - mods[1].start;
    if (image_size < sizeof(struct flat_header) ||
        ((const struct flat_header *)image)->magic != FLAT_MAGIC)
        fail("the first module is not a flat kernel (flat_kernel.py)");

    /* The command line: the first module's string after its file name. */
    const char *s = (const char *)mods[0].string;
    while (*s && *s != ' ')
        s++;
    while (*s == ' ')
        s++;
    uint32_t n = 0;
    while (s[n] && n < sizeof cmdline - 1) {
        cmdline[n] = s[n];
        n++;
    }
    cmdline[n] = 0;

    /* Move the modules above everything if the kernel's pages would land
     * on them, then load the kernel. */
    uint32_t lo, hi;
    kernel_span(image, image_size, &lo, &hi);
    if (lo < (uint32_t)loader_end)
        fail("the kernel's pages would land on this loader");
    uint32_t free = hi;
    if (align_up(image + image_size) > free)
        free = align_up(image + image_size);
    if (align_up(rd + rd_size) > free)
        free = align_up(rd + rd_size);
    if (overlaps(lo, hi - lo, image, image_size)) {
        copy(free, image, image_size);
        image = free;
        free = align_up(free + image_size);
    }
    if (overlaps(lo, hi - lo, rd, rd_size)) {
        copy(free, rd, rd_size);
        rd = free;
        free = align_up(free + rd_size);
    }
    if (free > 0x100000u + mb->mem_upper * 1024u)
        fail("not enough memory for the kernel and its RAM disk");

    /* The memory map, in the PVH form. */
    uint32_t entries = 0;
    for (uint32_t p = mb->mmap_addr; p < mb->mmap_addr + mb->mmap_length;) {
        const struct mb_mmap *e = (const struct mb_mmap *)p;
        if (entries == MAX_MEMMAP)
            fail("the memory map has too many entries");
        memmap[entries].addr = ((uint64_t)e->addr_hi << 32) | e->addr_lo;
        memmap[entries].size = ((uint64_t)e->len_hi << 32) | e->len_lo;
        memmap[entries].type = e->type;
        entries++;
        p += e->size + 4;
    }

    uint32_t entry = ((const struct flat_header *)image)->entry;
    load_kernel(image);

    module.paddr = rd;
    module.size = rd_size;
    start_info.magic = PVH_MAGIC;
    start_info.version = 1;
    start_info.nr_modules = 1;
    start_info.modlist_paddr = (uint32_t)&module;
    start_info.cmdline_paddr = (uint32_t)cmdline;
    start_info.memmap_paddr = (uint32_t)memmap;
    start_info.memmap_entries = entries;
    __asm__ volatile("jmp *%0" : : "a"(entry), "b"(&start_info) : "memory");
    __builtin_unreachable();
}

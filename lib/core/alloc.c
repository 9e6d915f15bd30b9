/*
 * The one allocator of lib/. Blocks are 64-byte aligned so that vector
 * loops never straddle cache lines at the start of a buffer. A counter lets
 * tests make the n-th allocation fail and check that nothing leaks.
 */
#if defined(__linux__) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* madvise's MADV_HUGEPAGE */
#endif
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "core.h"

#define MLP_ALIGN 64

static atomic_long fail_countdown; /* 0: never fail */
static atomic_long live_blocks;

void mlp__alloc_fail_after(long n)
{
    atomic_store(&fail_countdown, n > 0 ? n : 0);
}

long mlp__alloc_live(void)
{
    return atomic_load(&live_blocks);
}

/* size bytes aligned to `align` (a power of two), or NULL with the
 * library's message set; counts toward the injected failures. */
static void *alloc_aligned(size_t size, size_t align)
{
    long left = atomic_load(&fail_countdown);
    if (left > 0) {
        if (atomic_fetch_sub(&fail_countdown, 1) == 1) {
            mlp__error(MLP_STATUS_NO_MEMORY, "out of memory (injected failure)");
            return NULL;
        }
    }
    /* The block is exactly `size` bytes (1 for 0), not rounded up to the
     * alignment as aligned_alloc would want it: AddressSanitizer and
     * valgrind then see where it ends, and a write a few bytes past its end
     * is reported rather than landing in the padding. No block is larger
     * than PTRDIFF_MAX, so that the difference of two pointers into it
     * fits its type (glibc refuses such sizes too; AddressSanitizer aborts
     * the program on them). */
    void *p = NULL;
    if (size > (size_t)PTRDIFF_MAX || posix_memalign(&p, align, size ? size : 1) != 0) {
        mlp__error(MLP_STATUS_NO_MEMORY, "out of memory: %zu bytes requested", size);
        return NULL;
    }
    atomic_fetch_add(&live_blocks, 1);
    return p;
}

void *mlp__alloc(size_t size)
{
    return alloc_aligned(size, MLP_ALIGN);
}

/* Blocks from HUGE_FROM bytes: aligned to 2 MiB and, on Linux, offered to
 * transparent huge pages (a dataset read in shuffled order touches another
 * 4 KiB page with almost every row, and a TLB miss per row costs more than
 * converting the row). */
#define HUGE_FROM ((size_t)8 << 20)
#define HUGE_ALIGN ((size_t)2 << 20)

void *mlp__alloc_big(size_t size)
{
    if (size < HUGE_FROM)
        return mlp__alloc(size);
    void *p = alloc_aligned(size, HUGE_ALIGN);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    /* Advice only, before the first write: a kernel without transparent
     * huge pages refuses it and nothing else changes. On the block's own
     * pages only: it ends at its size, so the last 2 MiB it starts may
     * hold other memory (that stretch stays in 4 KiB pages). */
    if (p)
        (void)madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

void *mlp__calloc(size_t count, size_t size)
{
    size_t total;
    if (!mlp__mul_size(count, size, &total)) {
        mlp__error(MLP_STATUS_NO_MEMORY, "out of memory: %zu x %zu bytes overflows",
                   count, size);
        return NULL;
    }
    void *p = mlp__alloc(total);
    if (p)
        memset(p, 0, total);
    return p;
}

void mlp__free(void *p)
{
    if (!p)
        return;
    atomic_fetch_sub(&live_blocks, 1);
    free(p);
}

void *mlp__memdup(const void *src, size_t n)
{
    void *p = mlp__alloc(n);
    if (p && n)
        memcpy(p, src, n);
    return p;
}

char *mlp__strdup(const char *s)
{
    return mlp__memdup(s, strlen(s) + 1);
}

/*
 * The one allocator of lib/. Blocks are 64-byte aligned so that vector
 * loops never straddle cache lines at the start of a buffer. A counter lets
 * tests make the n-th allocation fail and check that nothing leaks.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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

void *mlp__alloc(size_t size)
{
    long left = atomic_load(&fail_countdown);
    if (left > 0) {
        if (atomic_fetch_sub(&fail_countdown, 1) == 1) {
            mlp__error(MLP_STATUS_NO_MEMORY, "out of memory (injected failure)");
            return NULL;
        }
    }
    /* aligned_alloc wants a multiple of the alignment. */
    size_t rounded = (size + MLP_ALIGN - 1) & ~(size_t)(MLP_ALIGN - 1);
    if (rounded < size) {
        mlp__error(MLP_STATUS_NO_MEMORY, "out of memory: %zu bytes requested", size);
        return NULL;
    }
    if (rounded == 0)
        rounded = MLP_ALIGN;
    void *p = aligned_alloc(MLP_ALIGN, rounded);
    if (!p) {
        mlp__error(MLP_STATUS_NO_MEMORY, "out of memory: %zu bytes requested", size);
        return NULL;
    }
    atomic_fetch_add(&live_blocks, 1);
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

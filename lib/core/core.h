/*
 * Private core of libmlpnet: error reporting, allocation, random numbers.
 * Every other room of lib/ may include this header; it is never installed.
 */
#ifndef MLPNET_CORE_H
#define MLPNET_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "mlpnet/mlpnet.h"

#if defined(__GNUC__) || defined(__clang__)
#define MLP__PRINTF(f, a) __attribute__((format(printf, f, a)))
#define MLP__ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define MLP__PRINTF(f, a)
#define MLP__ALWAYS_INLINE inline
#endif

/* For a function whose only effect the compiler cannot see (prefetching):
 * GCC's analysis between functions finds such a function pure and deletes
 * the calls to it, across files too with link-time optimisation. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define MLP__NOIPA __attribute__((noipa))
#else
#define MLP__NOIPA
#endif

/* Propagate a failure to the caller. */
#define MLP_TRY(expr)                                                                    \
    do {                                                                                 \
        mlp_status st_ = (expr);                                                         \
        if (st_ != MLP_STATUS_OK)                                                        \
            return st_;                                                                  \
    } while (0)

/* Record a message for mlp_last_error() and return `st`. The message is
 * formatted like printf into thread-local storage. */
mlp_status mlp__error(mlp_status st, const char *fmt, ...) MLP__PRINTF(2, 3);

/* Mark the failure being returned (`st`, whose message is already set) as
 * one that a larger batch would not have: batch norm given one row. The
 * mark is thread-local and outlives the messages that wrap this one;
 * mlp_model_fit clears it before each step and reads it after a failed one,
 * to say that drop_last leaves an epoch's short last batch out only when
 * that batch is the cause. */
mlp_status mlp__error_batch_too_small(mlp_status st);

/* Make the message of the failure being returned (`st`) start with `fn`,
 * the public call made, when it does not already: "fn: " is put before
 * it. For readers whose helpers name the file first ("PATH: truncated at
 * ...") or whose messages come from a shared stream (gz_stream.c). Returns
 * `st`. */
mlp_status mlp__error_named(mlp_status st, const char *fn);
void mlp__batch_size_mark_clear(void);
int mlp__batch_size_marked(void);

/* Bytes mlp__clip writes at most, its NUL included: a name of up to 80
 * bytes whole, or the first 76 or fewer and "...". */
#define MLP__CLIP_LEN 81

/* `s` for a message, in `buf` (MLP__CLIP_LEN bytes): as it is when it
 * fits, else cut at the end of a UTF-8 character and marked "...", so that
 * a cut name is not taken for a whole one. Returns buf. */
const char *mlp__clip(const char *s, char *buf);

/* Bytes mlp__fmt_double writes at most, its NUL included. */
#define MLP__FMT_DOUBLE_LEN 32

/* `v` as %g writes it when that reads back as v, else with as many more
 * digits as that takes (at most 17), into `buf` (MLP__FMT_DOUBLE_LEN
 * bytes), which it returns. For messages that name a refused value: %g
 * wrote 1 - 1e-12 as "1", and "beta2 = 1 must be [0, 1)" named a value
 * the caller never gave. */
const char *mlp__fmt_double(double v, char *buf);

/* Shorthand for the most common argument check. */
#define MLP_CHECK_ARG(cond, fn, what)                                                    \
    do {                                                                                 \
        if (!(cond))                                                                     \
            return mlp__error(MLP_STATUS_INVALID_ARG, "%s: %s", (fn), (what));           \
    } while (0)

/* Structs the caller allocates start with a `struct_size` (see
 * mlp_fit_options). Return OK when `size` is one of the `n` sizes the struct
 * had in successive releases (`sizes`, ascending: the last is this build's
 * sizeof), else INVALID_ARG with a message naming `fn` and the `type`,
 * ending with `how` to get the size right. */
mlp_status mlp__check_struct_size(size_t size, const size_t *sizes, size_t n,
                                  const char *fn, const char *type, const char *how);

/* The _init_size of such a struct: check `struct_size` as above (and that
 * `out` is not NULL), set the `struct_size` field (the first) of the
 * library's `defaults` to it, and copy that many bytes of them to `out`. */
mlp_status mlp__init_sized(void *out, void *defaults, size_t struct_size,
                           const size_t *sizes, size_t n, const char *fn,
                           const char *type);

/* sizeof(type) as it was when `field` was its last field: the end of the
 * field rounded up to the struct's alignment, which is what a compiler gives
 * the struct cut after that field (every member older than the cut keeps its
 * offset). Used to list the sizes of a struct across releases. */
#define MLP__SIZE_UP_TO(type, field)                                                     \
    ((offsetof(type, field) + sizeof(((type *)0)->field) + _Alignof(type) - 1) /         \
     _Alignof(type) * _Alignof(type))

/* A range check on an integer argument that prints the value it refuses:
 * "fn: batch_size = 0 must be >= 1". */
#define MLP_CHECK_RANGE(cond, fn, name, value, rule)                                     \
    do {                                                                                 \
        if (!(cond))                                                                     \
            return mlp__error(MLP_STATUS_INVALID_ARG, "%s: %s = %lld must be %s", (fn),  \
                              (name), (long long)(value), (rule));                       \
    } while (0)

/* ---- allocation (core/alloc.c) --------------------------------------- */

/* All heap memory of lib/ goes through these, so tests can make the n-th
 * allocation fail. Blocks are 64-byte aligned (for vector loads) and end
 * at their size, with no slack for a loop to run on into: the sanitizers
 * and valgrind report a byte past the end. A size of zero returns a valid
 * unique block. Failure sets the last error. */
void *mlp__alloc(size_t size);
/* mlp__alloc for large blocks that are read in random order (datasets):
 * from 8 MiB, 2 MiB-aligned and offered to transparent huge pages on
 * Linux. Freed with mlp__free. */
void *mlp__alloc_big(size_t size);
void *mlp__calloc(size_t count, size_t size); /* zeroed, overflow-checked */
void mlp__free(void *p);
/* Copy `n` bytes of `src` into a new block; NULL on failure. */
void *mlp__memdup(const void *src, size_t n);
char *mlp__strdup(const char *s);

/* Test hook: the n-th allocation from now fails (n >= 1); 0 disables. */
void mlp__alloc_fail_after(long n);
/* Number of live blocks (for leak tests). */
long mlp__alloc_live(void);

/* ---- random numbers (core/rng.c) ------------------------------------- */

/* xoshiro256** seeded through splitmix64: small, fast, and good enough for
 * initialisation, shuffling and dropout masks. Never rand(). */
typedef struct mlp_rng {
    uint64_t s[4];
} mlp_rng;

void mlp__rng_seed(mlp_rng *r, uint64_t seed);
uint64_t mlp__rng_u64(mlp_rng *r);
/* Uniform in [0, 1) with 24 random bits. */
float mlp__rng_uniform(mlp_rng *r);
/* Standard normal by Box-Muller. Each call draws a fresh pair of uniforms
 * and returns one normal, so the generator needs no extra state. */
float mlp__rng_normal(mlp_rng *r);
/* Unbiased integer in [0, bound), bound >= 1 (Lemire's method). */
uint32_t mlp__rng_below(mlp_rng *r, uint32_t bound);
/* Fisher-Yates shuffle of n indices in place. */
void mlp__rng_shuffle(mlp_rng *r, int32_t *idx, int32_t n);

/* ---- vector clones ---------------------------------------------------- */

/* Hot element loops get an AVX2 clone beside the baseline one, picked at
 * load time from the CPU (GCC and clang on x86-64 Linux). MLP_WIDE_CLONES
 * adds an AVX-512 clone, for the loops measured faster 16 lanes wide
 * (ELU's exponential, Winograd's transforms, and the optimizer rules with
 * a square root and a division per parameter: RMSProp, Adam and AdamW,
 * AdaGrad); others ran slower in it, as did batch norm's passes, or no
 * faster (the SGD, momentum and Nesterov steps, which move memory). FMA
 * stays off in every clone (the build says -ffp-contract=off), so they
 * round identically and results do not depend on the machine. */
#if defined(__x86_64__) && defined(__linux__) && !defined(MLPNET_NO_CLONES) &&           \
    defined(__clang__) && __clang_major__ >= 14
#define MLP_HAVE_CLONES 1
#define MLP_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#define MLP_WIDE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#elif defined(__x86_64__) && defined(__linux__) && !defined(MLPNET_NO_CLONES) &&         \
    !defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 8
/* GCC compiles a target clone without the command line's -fno-trapping-math,
 * which stops it from vectorising loops with selects; say it again here. */
#define MLP_HAVE_CLONES 1
#define MLP_VECTOR_CLONES                                                                \
    __attribute__((target_clones("avx2", "default"), optimize("no-trapping-math")))
#define MLP_WIDE_CLONES                                                                  \
    __attribute__((target_clones("avx512f", "avx2", "default"),                          \
                   optimize("no-trapping-math")))
#else
#define MLP_HAVE_CLONES 0
#define MLP_VECTOR_CLONES
#define MLP_WIDE_CLONES
#endif

/* ---- misc ------------------------------------------------------------- */

/* Ask the memory for the `bytes` from p, a cache line at a time, ahead of
 * their use: for passes that read blocks out of address order (the planes
 * of one channel over a batch, a channel's width apart), which the
 * hardware prefetchers do not follow across pages. A hint: nothing is
 * read or faulted. */
static inline void mlp__prefetch(const void *p, int64_t bytes)
{
#if defined(__GNUC__) || defined(__clang__)
    for (int64_t o = 0; o < bytes; o += 64)
        __builtin_prefetch((const char *)p + o);
#else
    (void)p;
    (void)bytes;
#endif
}

/* 1 when the CPU has PREFETCHW (x86-64: CPUID's PRFCHW bit, which AMD's
 * CPUs and Intel's since Broadwell set), else 0; asked once (cpu.c). */
int mlp__cpu_prefetchw(void);

/* mlp__prefetch for bytes about to be written: each line asked for with
 * the other cores' copies given up, so that the write does not wait for
 * them. For lines that every thread has just read (the weights of a step
 * split across threads, lib/model/split.c), a read prefetch brings a
 * shared copy, and each write then waited for the other core's copy to be
 * dropped. On x86-64, GCC and clang compile __builtin_prefetch(p, 1) to
 * that read prefetch unless the build targets PRFCHW (-mprfchw), so the
 * instruction is written out, behind the CPU's word for it. */
static inline void mlp__prefetch_write(const void *p, int64_t bytes)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (mlp__cpu_prefetchw()) {
        for (int64_t o = 0; o < bytes; o += 64)
            __asm__ volatile("prefetchw %0" : : "m"(*((const char *)p + o)));
        return;
    }
#endif
#if defined(__GNUC__) || defined(__clang__)
    for (int64_t o = 0; o < bytes; o += 64)
        __builtin_prefetch((const char *)p + o, 1);
#else
    (void)p;
    (void)bytes;
#endif
}

/* Monotonic wall clock in seconds. */
double mlp__now(void);

/* Overflow-checked size arithmetic: return 0 on overflow, else 1. */
static inline int mlp__mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

#endif /* MLPNET_CORE_H */

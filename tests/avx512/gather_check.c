/*
 * emu_gap.c's gathers and scatters against the emulator's own and against
 * a loop in C, run in the guest by tests/avx512/run.sh before the suites.
 *
 * Each form runs three times: with its index in zmm12, which Bochs runs
 * itself, and in zmm28, which Bochs refuses and emu_gap.so (preloaded)
 * runs in its place, with the other register low (zmm1) and high (zmm20).
 * Each must do what a loop over the same elements does: a gather's
 * destination (merged where the mask is clear, zeros past the vector
 * length), a scatter's memory (a later element winning where two
 * indices meet), and the mask cleared.
 *
 * Built with -mavx512f -mavx512vl; it needs an AVX-512 CPU (or Bochs).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint16_t gather_fn(const void *idx, const void *old, uint16_t mask,
                           const void *base, void *out);

/* A function that loads the index into zmm I and the old destination (a
 * gather) or the source (a scatter) into zmm D, runs INSN with mask k1,
 * and stores zmm D and k1. */
#define GATHER(NAME, I, D, INSN)                                                         \
    static uint16_t NAME(const void *idx, const void *old, uint16_t mask,                \
                         const void *base, void *out)                                    \
    {                                                                                    \
        uint16_t after;                                                                  \
        __asm__ volatile("vmovdqu64 (%[idx]), %%zmm" I "\n\t"                            \
                         "vmovdqu64 (%[old]), %%zmm" D "\n\t"                            \
                         "kmovw %k[mask], %%k1\n\t" INSN "\n\t"                          \
                         "vmovdqu64 %%zmm" D ", (%[out])\n\t"                            \
                         "kmovw %%k1, %k[after]"                                         \
                         : [after] "=&r"(after)                                          \
                         : [idx] "r"(idx), [old] "r"(old), [mask] "r"(mask),             \
                           [base] "r"(base), [out] "r"(out)                              \
                         : "xmm" I, "xmm" D, "k1", "memory");                            \
        return after;                                                                    \
    }

/* Each form three times: Bochs's (index zmm12), emu_gap's with a low and
 * with a high destination. */
#define FORM(NAME, INSN_OF)                                                              \
    GATHER(NAME##_bochs, "12", "1", INSN_OF("12", "1"))                                  \
    GATHER(NAME##_low, "28", "1", INSN_OF("28", "1"))                                    \
    GATHER(NAME##_high, "28", "20", INSN_OF("28", "20"))

/* Gathers: */
/* disp8 (times 4), 512 bits, dword indices and data */
#define DPS512(I, D) "vgatherdps 8(%[base],%%zmm" I ",4), %%zmm" D "%{%%k1%}"
/* disp32, dword indices (ymm), qword data */
#define DPD512(I, D) "vgatherdpd 1032(%[base],%%ymm" I ",8), %%zmm" D "%{%%k1%}"
/* no displacement, qword indices, dword data (ymm) */
#define QPS512(I, D) "vgatherqps (%[base],%%zmm" I ",4), %%ymm" D "%{%%k1%}"
/* negative disp8 (times 8), qword indices and data */
#define QPD512(I, D) "vgatherqpd -16(%[base],%%zmm" I ",8), %%zmm" D "%{%%k1%}"
/* 256 bits, scale 2 */
#define DPS256(I, D) "vgatherdps 4(%[base],%%ymm" I ",2), %%ymm" D "%{%%k1%}"
/* 128 bits, integer, disp32 */
#define PDD128(I, D) "vpgatherdd 2000(%[base],%%xmm" I ",4), %%xmm" D "%{%%k1%}"
/* integer, qword indices and data, scale 1 */
#define PQQ512(I, D) "vpgatherqq 24(%[base],%%zmm" I ",1), %%zmm" D "%{%%k1%}"
/* Scatters (D the source): */
#define SDPS512(I, D) "vscatterdps %%zmm" D ", 8(%[base],%%zmm" I ",4)%{%%k1%}"
#define SQPD512(I, D) "vscatterqpd %%zmm" D ", -16(%[base],%%zmm" I ",8)%{%%k1%}"
#define SQPS512(I, D) "vscatterqps %%ymm" D ", (%[base],%%zmm" I ",4)%{%%k1%}"
#define SDPS256(I, D) "vscatterdps %%ymm" D ", 1000(%[base],%%ymm" I ",2)%{%%k1%}"
#define SPDQ512(I, D) "vpscatterdq %%zmm" D ", 24(%[base],%%ymm" I ",8)%{%%k1%}"

FORM(dps512, DPS512)
FORM(dpd512, DPD512)
FORM(qps512, QPS512)
FORM(qpd512, QPD512)
FORM(dps256, DPS256)
FORM(pdd128, PDD128)
FORM(pqq512, PQQ512)
FORM(sdps512, SDPS512)
FORM(sqpd512, SQPD512)
FORM(sqps512, SQPS512)
FORM(sdps256, SDPS256)
FORM(spdq512, SPDQ512)

struct form {
    const char *name;
    gather_fn *run[3];
    int scatter, index_bytes, data_bytes, n, scale, disp;
};

#define RUNS(NAME)                                                                       \
    {                                                                                    \
        NAME##_bochs, NAME##_low, NAME##_high                                            \
    }
static const struct form forms[] = {
    {"vgatherdps zmm", RUNS(dps512), 0, 4, 4, 16, 4, 8},
    {"vgatherdpd zmm", RUNS(dpd512), 0, 4, 8, 8, 8, 1032},
    {"vgatherqps ymm", RUNS(qps512), 0, 8, 4, 8, 4, 0},
    {"vgatherqpd zmm", RUNS(qpd512), 0, 8, 8, 8, 8, -16},
    {"vgatherdps ymm", RUNS(dps256), 0, 4, 4, 8, 2, 4},
    {"vpgatherdd xmm", RUNS(pdd128), 0, 4, 4, 4, 4, 2000},
    {"vpgatherqq zmm", RUNS(pqq512), 0, 8, 8, 8, 1, 24},
    {"vscatterdps zmm", RUNS(sdps512), 1, 4, 4, 16, 4, 8},
    {"vscatterqpd zmm", RUNS(sqpd512), 1, 8, 8, 8, 8, -16},
    {"vscatterqps ymm", RUNS(sqps512), 1, 8, 4, 8, 4, 0},
    {"vscatterdps ymm", RUNS(sdps256), 1, 4, 4, 8, 2, 1000},
    {"vpscatterdq zmm", RUNS(spdq512), 1, 4, 8, 8, 8, 24},
};
static const char *const way[3] = {"Bochs, index zmm12", "emu_gap, register zmm1",
                                   "emu_gap, register zmm20"};

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* The table a form reads from or writes to, before and as the loop left
 * it. */
static uint32_t table[4096], want_table[4096];

int main(void)
{
    unsigned char *base = (unsigned char *)(table + 16);
    static const uint16_t masks[] = {0xFFFF, 0x0000, 0xA5A5, 0x8001, 0x5B3C, 0x00F0};
    int failures = 0, checks = 0, bochs_keeps_upper = 0;
    uint32_t fill[4096];
    for (size_t i = 0; i < sizeof fill / sizeof fill[0]; i++)
        fill[i] = next();
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
        const struct form *g = &forms[f];
        const size_t bytes = (size_t)g->data_bytes * g->n; /* of the register */
        for (size_t m = 0; m < sizeof masks / sizeof masks[0]; m++) {
            unsigned char idx[64], old[64], want[64], got[64];
            for (int j = 0; j < 16; j++) { /* indices from 0 to 1000 */
                const int32_t i32 = (int32_t)(next() % 1001);
                const int64_t i64 = i32;
                if (g->index_bytes == 4)
                    memcpy(idx + 4 * j, &i32, 4);
                else if (j < 8)
                    memcpy(idx + 8 * j, &i64, 8);
            }
            for (int b = 0; b < 64; b++)
                old[b] = (unsigned char)next();
            memcpy(want, old, 64);
            memcpy(want_table, fill, sizeof table);
            unsigned char *want_base = (unsigned char *)(want_table + 16);
            for (int j = 0; j < g->n; j++) { /* the loop, from the first element up */
                if (!(masks[m] >> j & 1))
                    continue;
                int64_t i;
                if (g->index_bytes == 4) {
                    int32_t i32;
                    memcpy(&i32, idx + 4 * j, 4);
                    i = i32;
                } else {
                    memcpy(&i, idx + 8 * j, 8);
                }
                unsigned char *at = want_base + g->disp + i * g->scale;
                if (g->scatter)
                    memcpy(at, old + g->data_bytes * j, g->data_bytes);
                else
                    memcpy(want + g->data_bytes * j, at, g->data_bytes);
            }
            if (!g->scatter)
                memset(want + bytes, 0, 64 - bytes);
            for (int r = 0; r < 3; r++) {
                memcpy(table, fill, sizeof table);
                const uint16_t after = g->run[r](idx, old, masks[m], base, got);
                const char *wrong = NULL;
                checks++;
                if (g->scatter && memcmp(table, want_table, sizeof table) != 0)
                    wrong = "memory not as the loop left it";
                else if (g->scatter && memcmp(got, old, 64) != 0)
                    wrong = "the source changed";
                else if (!g->scatter && memcmp(got, want, bytes) != 0)
                    wrong = "not the loop's elements";
                else if (!g->scatter &&
                         memcmp(got + bytes, want + bytes, 64 - bytes) != 0) {
                    /* Bochs 2.7 leaves the bits past a ymm destination of
                     * qword indices as they were; the SDM zeroes them. */
                    if (r == 0 && memcmp(got + bytes, old + bytes, 64 - bytes) == 0)
                        bochs_keeps_upper = 1;
                    else
                        wrong = "the bits past the vector length are not 0";
                } else if (after != 0)
                    wrong = "the mask is not cleared";
                if (wrong) {
                    failures++;
                    printf("gather_check: %s, mask 0x%04x, %s: %s\n", g->name, masks[m],
                           way[r], wrong);
                }
            }
        }
    }
    if (bochs_keeps_upper)
        printf("gather_check: (Bochs's own vgatherqps leaves its destination's bits "
               "256-511 as they were; emu_gap zeroes them, as the SDM says)\n");
    printf("gather_check: %d of %d gathers and scatters as the loop does them\n",
           checks - failures, checks);
    return failures != 0;
}

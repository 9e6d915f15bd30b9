/*
 * Preloaded into the suites that tests/avx512/run.sh runs under Bochs: it
 * runs the AVX-512 instruction forms the emulator refuses.
 *
 * Bochs 2.7 raises #UD for an EVEX gather or scatter whose index vector
 * is one of zmm16-31 (EVEX.V' clear), which real AVX-512 CPUs run;
 * OpenBLAS's AVX-512 small-matrix kernels use both. On that SIGILL this
 * handler does what the CPU would: it reads the registers from the signal
 * frame's XSAVE area, loads (gather) or stores (scatter) the elements the
 * mask selects, writes the destination and clears the mask there, and
 * steps over the instruction; the kernel restores the registers on
 * return. The first one in a process is named on stderr. One it cannot
 * decode (a prefix before EVEX) exits with EMU_GAP_STATUS, which run.sh
 * counts as a gap of the emulator; any other SIGILL is named on stderr
 * with its bytes and keeps its default action (the test fails).
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#define EMU_GAP_STATUS 99

/* An EVEX-encoded gather (VGATHERD/Q PS/PD, VPGATHERD/Q D/Q: map 0F38,
 * opcodes 0x90-0x93) or scatter (VSCATTER..., VPSCATTER...: 0xA0-0xA3)
 * whose index register is one of zmm16-31. */
static int vsib_high_index(const unsigned char *ip)
{
    const unsigned char p0 = ip[1], p2 = ip[3], op = ip[4];
    return ip[0] == 0x62 && (p0 & 0x03) == 0x02 &&
           ((op >= 0x90 && op <= 0x93) || (op >= 0xA0 && op <= 0xA3)) && (p2 & 0x08) == 0;
}

static void say(const char *s)
{
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

/* ---- the registers in the signal frame's XSAVE area (standard format) --- */

enum { SSE = 1, YMM_HI = 2, OPMASK = 5, ZMM_HI256 = 6, HI16_ZMM = 7 };

static unsigned char *xsave;  /* the frame's area */
static uint64_t *xstate_bv;   /* its header's XSTATE_BV */
static uint32_t offset_of[8]; /* CPUID 0xD: each component's offset */
static uint32_t size_of[8];   /* and size */

/* Component c, or NULL when it is in its initial state (all zeros); with
 * `write`, made present (zeros) first. */
static unsigned char *component(int c, int write)
{
    unsigned char *at = c == SSE ? xsave + 160 : xsave + offset_of[c];
    uint32_t size = c == SSE ? 256 : size_of[c];
    if (!(*xstate_bv & (1ull << c))) {
        if (!write)
            return NULL;
        memset(at, 0, size);
        *xstate_bv |= 1ull << c;
    }
    return at;
}

/* zmm n: bytes 0-15 in the SSE area, 16-31 in YMM_HI, 32-63 in ZMM_HI256;
 * zmm16-31 whole in HI16_ZMM. */
static void zmm_read(int n, unsigned char v[64])
{
    memset(v, 0, 64);
    const unsigned char *p;
    if (n >= 16) {
        if ((p = component(HI16_ZMM, 0)))
            memcpy(v, p + 64 * (n - 16), 64);
        return;
    }
    if ((p = component(SSE, 0)))
        memcpy(v, p + 16 * n, 16);
    if ((p = component(YMM_HI, 0)))
        memcpy(v + 16, p + 16 * n, 16);
    if ((p = component(ZMM_HI256, 0)))
        memcpy(v + 32, p + 32 * n, 32);
}

static void zmm_write(int n, const unsigned char v[64])
{
    if (n >= 16) {
        memcpy(component(HI16_ZMM, 1) + 64 * (n - 16), v, 64);
        return;
    }
    memcpy(component(SSE, 1) + 16 * n, v, 16);
    memcpy(component(YMM_HI, 1) + 16 * n, v + 16, 16);
    memcpy(component(ZMM_HI256, 1) + 32 * n, v + 32, 32);
}

static uint64_t k_read(int n)
{
    const unsigned char *p = component(OPMASK, 0);
    uint64_t k = 0;
    if (p)
        memcpy(&k, p + 8 * n, 8);
    return k;
}

static void k_write(int n, uint64_t k)
{
    memcpy(component(OPMASK, 1) + 8 * n, &k, 8);
}

/* ---- the gather or scatter ------------------------------------------------- */

static const int gpr_of[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP,
                               REG_RSI, REG_RDI, REG_R8,  REG_R9,  REG_R10, REG_R11,
                               REG_R12, REG_R13, REG_R14, REG_R15};

/* Runs the gather or scatter at the context's RIP and steps over it: 1,
 * or 0 when its encoding is not one this handles. Element j (from the
 * first up) with its mask bit set is loaded into the destination (a
 * gather: the others keep their values, those past the vector length
 * become 0) or stored from the source (a scatter: a later element wins
 * where two addresses meet); the mask is cleared. */
static int run_vsib(ucontext_t *uc)
{
    greg_t *gregs = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)gregs[REG_RIP];
    const unsigned p0 = ip[1], p1 = ip[2], p2 = ip[3], op = ip[4], modrm = ip[5];
    const unsigned mod = modrm >> 6, rm = modrm & 7, sib = ip[6];
    /* 66 prefix (pp 01), vvvv 1111, no broadcast or zeroing, a mask k1-k7,
     * a memory operand with SIB (VSIB), vector length 128 to 512 */
    if ((p1 & 0x7B) != 0x79 || (p2 & 0x90) != 0 || (p2 & 7) == 0 || mod == 3 || rm != 4 ||
        ((p2 >> 5) & 3) == 3)
        return 0;
    const int w = p1 >> 7, kreg = p2 & 7;
    const int reg = ((modrm >> 3) & 7) | (p0 & 0x80 ? 0 : 8) | (p0 & 0x10 ? 0 : 16);
    const int scatter = op >= 0xA0;
    const int index = ((sib >> 3) & 7) | (p0 & 0x40 ? 0 : 8) | (p2 & 0x08 ? 0 : 16);
    const int scale = 1 << (sib >> 6), base = (sib & 7) | (p0 & 0x20 ? 0 : 8);
    const int data = w ? 8 : 4, wide_index = op & 1; /* odd opcodes: qword indices */
    const int vl = 16 << ((p2 >> 5) & 3);            /* bytes */
    const int n = wide_index || w ? vl / 8 : vl / 4; /* elements */
    int len = 7;
    int64_t disp = 0;
    uint64_t addr = 0;
    if (mod == 0 && (sib & 7) == 5) { /* no base: disp32 */
        int32_t d;
        memcpy(&d, ip + 7, 4);
        disp = d;
        len += 4;
    } else {
        addr = (uint64_t)gregs[gpr_of[base]];
        if (mod == 1) { /* disp8 times the element's size */
            disp = (int64_t)(int8_t)ip[7] * data;
            len += 1;
        } else if (mod == 2) {
            int32_t d;
            memcpy(&d, ip + 7, 4);
            disp = d;
            len += 4;
        }
    }
    if (!scatter && reg == index)
        return 0; /* #UD on a real CPU too */

    unsigned char v[64], idx[64];
    zmm_read(reg, v);
    zmm_read(index, idx);
    uint64_t k = k_read(kreg);
    for (int j = 0; j < n; j++) {
        if (!(k >> j & 1))
            continue;
        int64_t i;
        if (wide_index) {
            memcpy(&i, idx + 8 * j, 8);
        } else {
            int32_t i32;
            memcpy(&i32, idx + 4 * j, 4);
            i = i32;
        }
        void *at = (void *)(addr + (uint64_t)disp + (uint64_t)(i * scale));
        if (scatter)
            memcpy(at, v + data * j, data);
        else
            memcpy(v + data * j, at, data);
    }
    if (!scatter) {
        memset(v + data * n, 0, 64 - (size_t)data * n); /* past the vector length */
        zmm_write(reg, v);
    }
    k_write(kreg, 0);
    gregs[REG_RIP] += len;
    return 1;
}

static int said;

/* Whether the frame holds the AVX-512 registers, in the XSAVE layout
 * CPUID gives: FXSAVE's software-reserved bytes (struct _fpx_sw_bytes, at
 * 464) carry FP_XSTATE_MAGIC1 and the features saved. */
static int frame_has_avx512(ucontext_t *uc)
{
    unsigned char *fx = (unsigned char *)uc->uc_mcontext.fpregs;
    uint32_t magic1;
    uint64_t features;
    const uint64_t need =
        1u << SSE | 1u << YMM_HI | 1u << OPMASK | 1u << ZMM_HI256 | 1u << HI16_ZMM;
    if (!fx)
        return 0;
    memcpy(&magic1, fx + 464, 4);
    memcpy(&features, fx + 464 + 8, 8);
    if (magic1 != FP_XSTATE_MAGIC1 || (features & need) != need)
        return 0;
    for (int c = YMM_HI; c <= HI16_ZMM; c++)
        if (c != 3 && c != 4 && (offset_of[c] < 576 || size_of[c] == 0))
            return 0;
    xsave = fx;
    xstate_bv = (uint64_t *)(fx + 512);
    return 1;
}

static void on_sigill(int sig, siginfo_t *info, void *context)
{
    ucontext_t *uc = context;
    const unsigned char *ip = (const unsigned char *)uc->uc_mcontext.gregs[REG_RIP];
    (void)info;
    Dl_info where;
    const char *name = "?";
    if (dladdr(ip, &where))
        name = where.dli_sname   ? where.dli_sname
               : where.dli_fname ? where.dli_fname
                                 : "?";
    if (!vsib_high_index(ip)) {
        say("emu_gap: an illegal instruction near ");
        say(name);
        say(":");
        for (int b = 0; b < 8; b++) {
            char hex[4] = {' ', "0123456789abcdef"[ip[b] >> 4],
                           "0123456789abcdef"[ip[b] & 15]};
            say(hex);
        }
        say("\n");
        signal(sig, SIG_DFL); /* it faults again, with the default action */
        return;
    }
    if (frame_has_avx512(uc)) {
        if (run_vsib(uc)) {
            if (!said) {
                said = 1;
                say("emu_gap: running an AVX-512 gather or scatter with a high index "
                    "register, which Bochs refuses, in its place, first near ");
                say(name);
                say("\n");
            }
            return;
        }
    }
    say("emu_gap: Bochs refused an AVX-512 gather or scatter this cannot run, near ");
    say(name);
    say("\n");
    _exit(EMU_GAP_STATUS);
}

__attribute__((constructor)) static void install(void)
{
    for (unsigned c = 2; c < 8; c++) {
        unsigned eax, ebx, ecx, edx;
        if (__get_cpuid_count(0xD, c, &eax, &ebx, &ecx, &edx)) {
            size_of[c] = eax;
            offset_of[c] = ebx;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigill;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGILL, &sa, NULL);
}

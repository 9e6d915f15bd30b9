/*
 * Preloaded into the suites that tests/avx512/run.sh runs under Bochs: it
 * tells an illegal instruction of the emulator's from one of the library's.
 *
 * Bochs 2.7 raises #UD for an EVEX gather whose index vector is one of
 * zmm16-31 (EVEX.V' clear), which real AVX-512 CPUs run; OpenBLAS's
 * AVX-512 small-matrix kernels use such gathers. Such a fault inside
 * OpenBLAS exits with EMU_GAP_STATUS, which run.sh counts as a gap of the
 * emulator; any other SIGILL keeps its default action (the test fails).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#define EMU_GAP_STATUS 99

/* An EVEX-encoded VGATHERD/Q PS/PD (map 0F38, opcodes 0x90-0x93) whose
 * index register is one of zmm16-31. */
static int gather_high_index(const unsigned char *ip)
{
    const unsigned char p0 = ip[1], p2 = ip[3], op = ip[4];
    return ip[0] == 0x62 && (p0 & 0x03) == 0x02 && op >= 0x90 && op <= 0x93 &&
           (p2 & 0x08) == 0;
}

static void say(const char *s)
{
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

static void on_sigill(int sig, siginfo_t *info, void *context)
{
    const ucontext_t *uc = context;
    const unsigned char *ip = (const unsigned char *)uc->uc_mcontext.gregs[REG_RIP];
    Dl_info where;
    (void)info;
    if (dladdr(ip, &where) && where.dli_fname && strstr(where.dli_fname, "libopenblas") &&
        gather_high_index(ip)) {
        say("emu_gap: Bochs refused an AVX-512 gather with a high index register, near ");
        say(where.dli_sname ? where.dli_sname : where.dli_fname);
        say("\n");
        _exit(EMU_GAP_STATUS);
    }
    signal(sig, SIG_DFL); /* the instruction faults again, with the default action */
}

__attribute__((constructor)) static void install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigill;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGILL, &sa, NULL);
}

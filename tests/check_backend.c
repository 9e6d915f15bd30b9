/*
 * Tests of the compute backend's private pieces: the thread pool
 * (backend/pool.h), the split matrix product against a naive loop, the
 * vectorisable exponential against the scalar one, the flush of subnormal
 * floats on the caller and the workers.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/gemm.h"
#include "backend/pool.h"
#include "core/core.h"
#include "testutil.h"

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif
#ifdef MLPNET_HAVE_OPENBLAS
#include <cblas.h>
#endif

/* ---- the pool ----------------------------------------------------------- */

/* What a job records: how often each index was visited, and its parts. */
typedef struct visit_job {
    _Atomic int *hits;
    _Atomic int calls;
    int64_t lo[64], hi[64];
    int nested; /* 1: each part runs a pool_for of its own over `inner` */
    _Atomic int *inner;
    int64_t inner_n;
} visit_job;

static void visit(void *arg, int64_t lo, int64_t hi)
{
    visit_job *j = arg;
    int c = atomic_fetch_add(&j->calls, 1);
    if (c < 64) {
        j->lo[c] = lo;
        j->hi[c] = hi;
    }
    for (int64_t i = lo; i < hi; i++)
        atomic_fetch_add(&j->hits[i], 1);
}

/* Run a job over [0, n) and check that every index was visited once, in
 * the parts mlp__pool_range names. */
static void check_cover(int64_t n, int64_t grain, int64_t align)
{
    visit_job j;
    memset(&j, 0, sizeof j);
    j.hits = calloc((size_t)(n > 0 ? n : 1), sizeof *j.hits);
    ck_assert_ptr_nonnull(j.hits);
    mlp__pool_for(n, grain, align, visit, &j);
    for (int64_t i = 0; i < n; i++)
        TU_CHECK_MSG(j.hits[i] == 1, "n %lld grain %lld align %lld: index %lld hit %d",
                     (long long)n, (long long)grain, (long long)align, (long long)i,
                     (int)j.hits[i]);
    const int parts = mlp__pool_parts(n, grain);
    ck_assert_int_le(parts, mlp_get_num_threads());
    ck_assert_int_le(j.calls, parts);
    for (int c = 0; c < j.calls && c < 64; c++) {
        ck_assert(j.lo[c] < j.hi[c]);
        int found = 0;
        for (int t = 0; t < parts; t++) {
            int64_t lo, hi;
            mlp__pool_range(n, parts, align, t, &lo, &hi);
            found += lo == j.lo[c] && hi == j.hi[c];
        }
        ck_assert_int_eq(found, 1);
    }
    free(j.hits);
}

/* Every thread count from 1 to 5 (more than this machine's cores too):
 * each index exactly once, for sizes around the grain and the alignment. */
START_TEST(pool_ranges_cover_once)
{
    static const int64_t sizes[] = {0, 1, 2, 7, 16, 17, 100, 1000, 4097, 20011};
    for (int threads = 1; threads <= 5; threads++) {
        TU_OK(mlp_set_num_threads(threads));
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            check_cover(sizes[s], 1, 1);
            check_cover(sizes[s], 8, 8);
            check_cover(sizes[s], 3, 16);
            check_cover(sizes[s], 4096, 16);
        }
    }
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* The bounds: balanced, inner bounds on the alignment, increasing, and
 * the part count limited by the grain. */
START_TEST(pool_range_bounds)
{
    int64_t lo, hi;
    mlp__pool_range(100, 2, 8, 0, &lo, &hi);
    ck_assert(lo == 0 && hi == 48);
    mlp__pool_range(100, 2, 8, 1, &lo, &hi);
    ck_assert(lo == 48 && hi == 100);
    mlp__pool_range(100, 4, 1, 3, &lo, &hi);
    ck_assert(lo == 75 && hi == 100);
    mlp__pool_range(5, 4, 16, 2, &lo, &hi); /* every inner bound rounds to 0 */
    ck_assert(lo == 0 && hi == 0);
    mlp__pool_range(5, 4, 16, 3, &lo, &hi);
    ck_assert(lo == 0 && hi == 5);
    TU_OK(mlp_set_num_threads(3));
    ck_assert_int_eq(mlp__pool_parts(100, 8), 3);
    ck_assert_int_eq(mlp__pool_parts(20, 8), 2);
    ck_assert_int_eq(mlp__pool_parts(7, 8), 1);
    ck_assert_int_eq(mlp__pool_parts(0, 8), 1);
    ck_assert_int_eq(mlp__pool_parts(100, 0), 3);
    TU_OK(mlp_set_num_threads(1));
    ck_assert_int_eq(mlp__pool_parts(100000, 1), 1);
}
END_TEST

/* Parts run on workers when there are threads: the caller's own thread
 * runs one part, the workers the others. */
typedef struct who_job {
    pthread_t who[8];
    _Atomic int calls;
} who_job;

static void record_thread(void *arg, int64_t lo, int64_t hi)
{
    who_job *j = arg;
    (void)hi;
    j->who[lo] = pthread_self();
    atomic_fetch_add(&j->calls, 1);
}

START_TEST(pool_uses_workers)
{
    TU_OK(mlp_set_num_threads(3));
    who_job j;
    memset(&j, 0, sizeof j);
    mlp__pool_for(3, 1, 1, record_thread, &j);
    ck_assert_int_eq(j.calls, 3);
    ck_assert_int_ge(mlp__pool_workers(), 2);
    ck_assert(pthread_equal(j.who[0], pthread_self()));
    ck_assert(!pthread_equal(j.who[1], pthread_self()));
    ck_assert(!pthread_equal(j.who[2], pthread_self()));
    ck_assert(!pthread_equal(j.who[1], j.who[2]));
    /* At 1 thread the caller runs the whole range in one call. */
    TU_OK(mlp_set_num_threads(1));
    memset(&j, 0, sizeof j);
    mlp__pool_for(3, 1, 1, record_thread, &j);
    ck_assert_int_eq(j.calls, 1);
    ck_assert(pthread_equal(j.who[0], pthread_self()));
}
END_TEST

/* A pool_for inside a part stays whole on that part's thread (one part,
 * as conv2d's per-sample products need to get the same bits at any thread
 * count), and still covers its range once. */
static void nested_part(void *arg, int64_t lo, int64_t hi)
{
    visit_job *j = arg;
    for (int64_t i = lo; i < hi; i++) {
        visit_job inner;
        memset(&inner, 0, sizeof inner);
        inner.hits = j->inner + i * j->inner_n;
        mlp__pool_for(j->inner_n, 1, 1, visit, &inner);
        ck_assert_int_eq(mlp__pool_parts(j->inner_n, 1), 1);
        ck_assert_int_eq(inner.calls, 1);
        ck_assert(inner.lo[0] == 0 && inner.hi[0] == j->inner_n);
    }
}

START_TEST(pool_nested_stays_whole)
{
    TU_OK(mlp_set_num_threads(2));
    enum { OUTER = 6, INNER = 50 };
    visit_job j;
    memset(&j, 0, sizeof j);
    j.inner_n = INNER;
    j.inner = calloc(OUTER * INNER, sizeof *j.inner);
    ck_assert_ptr_nonnull(j.inner);
    mlp__pool_for(OUTER, 1, 1, nested_part, &j);
    for (int i = 0; i < OUTER * INNER; i++)
        ck_assert_int_eq(j.inner[i], 1);
    free(j.inner);
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* Two application threads using the library at once: one gets the pool,
 * the other runs its parts itself; both cover their ranges once. */
static void *hammer(void *arg)
{
    (void)arg;
    for (int r = 0; r < 100; r++)
        check_cover(1000 + r, 1, 4);
    return NULL;
}

/* fn on two application threads at once, at 2 library threads. */
static void on_two_threads(void *(*fn)(void *))
{
    TU_OK(mlp_set_num_threads(2));
    pthread_t a, b;
    ck_assert_int_eq(pthread_create(&a, NULL, fn, NULL), 0);
    ck_assert_int_eq(pthread_create(&b, NULL, fn, NULL), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    TU_OK(mlp_set_num_threads(1));
}

START_TEST(pool_concurrent_callers)
{
    on_two_threads(hammer);
}
END_TEST

/* Workers that cannot be started: the caller runs every part itself, the
 * same parts; the next call starts them. Shutdown joins them; the next
 * parallel call starts them again. */
START_TEST(pool_start_failure_and_shutdown)
{
    mlp__pool_shutdown();
    ck_assert_int_eq(mlp__pool_workers(), 0);
    TU_OK(mlp_set_num_threads(3));
    mlp__alloc_fail_after(1); /* the pool's thread table */
    who_job j;
    memset(&j, 0, sizeof j);
    mlp__pool_for(3, 1, 1, record_thread, &j);
    mlp__alloc_fail_after(0);
    ck_assert_int_eq(mlp__pool_workers(), 0);
    ck_assert_int_eq(j.calls, 3);
    for (int t = 0; t < 3; t++)
        ck_assert(pthread_equal(j.who[t], pthread_self()));
    check_cover(1000, 1, 1);
    ck_assert_int_eq(mlp__pool_workers(), 2);
    mlp__pool_shutdown();
    ck_assert_int_eq(mlp__pool_workers(), 0);
    check_cover(1000, 1, 1);
    ck_assert_int_eq(mlp__pool_workers(), 2);
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* A child forked after the workers started has none: it starts its own at
 * its first parallel call instead of waiting for the parent's. */
START_TEST(pool_after_fork)
{
    TU_OK(mlp_set_num_threads(2));
    check_cover(1000, 1, 1);
    ck_assert_int_ge(mlp__pool_workers(), 1);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        visit_job j;
        memset(&j, 0, sizeof j);
        static _Atomic int hits[1000];
        j.hits = hits;
        mlp__pool_for(1000, 1, 1, visit, &j);
        int ok = j.calls == 2;
        for (int i = 0; i < 1000; i++)
            ok = ok && hits[i] == 1;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* What a job of items records: how often each item ran, the slot and the
 * thread that ran it. `slow_ms` > 0: the first item a worker runs sleeps
 * that long (a thread held up); `inner` > 0: each item runs a job of
 * `inner` items of its own (nested), which must stay whole on its
 * thread. */
typedef struct item_job {
    _Atomic int *hits;
    int *slot;
    pthread_t *who;
    int slow_ms;
    pthread_t caller;
    _Atomic int slept;
    int64_t inner;
    _Atomic int inner_bad;
} item_job;

/* On a thread other than `caller`, the first time: sleep ms milliseconds. */
static void hold_up(int ms, pthread_t caller, _Atomic int *slept)
{
    if (ms > 0 && !pthread_equal(pthread_self(), caller) && !atomic_exchange(slept, 1)) {
        struct timespec ts = {0, ms * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void inner_item(void *arg, int64_t i, int slot)
{
    item_job *j = arg;
    (void)i;
    if (slot != 0 || !pthread_equal(pthread_self(), *j->who))
        atomic_fetch_add(&j->inner_bad, 1);
}

static void record_item(void *arg, int64_t i, int slot)
{
    item_job *j = arg;
    atomic_fetch_add(&j->hits[i], 1);
    j->slot[i] = slot;
    j->who[i] = pthread_self();
    hold_up(j->slow_ms, j->caller, &j->slept);
    if (j->inner > 0) {
        item_job in;
        memset(&in, 0, sizeof in);
        in.who = &j->who[i];
        mlp__pool_items(j->inner, 64, inner_item, &in);
        atomic_fetch_add(&j->inner_bad, atomic_load(&in.inner_bad));
    }
}

/* Run n items in at most `most` parts; check that each ran once, in a slot
 * below the parts' count, and that a slot's items ran on one thread (its
 * scratch is that thread's alone). Returns the job for more checks; the
 * caller frees it (free_items). */
static item_job run_items(int64_t n, int most, int slow_ms)
{
    item_job j;
    memset(&j, 0, sizeof j);
    const size_t cap = (size_t)(n > 0 ? n : 1);
    j.hits = calloc(cap, sizeof *j.hits);
    j.slot = calloc(cap, sizeof *j.slot);
    j.who = calloc(cap, sizeof *j.who);
    ck_assert(j.hits && j.slot && j.who);
    j.slow_ms = slow_ms;
    j.caller = pthread_self();
    mlp__pool_items(n, most, record_item, &j);
    int parts = mlp_get_num_threads();
    if (parts > most)
        parts = most < 1 ? 1 : most;
    if (parts > MLP__POOL_ITEM_PARTS)
        parts = MLP__POOL_ITEM_PARTS;
    pthread_t slot_thread[MLP__POOL_ITEM_PARTS];
    int seen[MLP__POOL_ITEM_PARTS] = {0};
    for (int64_t i = 0; i < n; i++) {
        TU_CHECK_MSG(j.hits[i] == 1, "n %lld most %d: item %lld ran %d times",
                     (long long)n, most, (long long)i, (int)j.hits[i]);
        const int s = j.slot[i];
        TU_CHECK_MSG(s >= 0 && s < parts, "n %lld most %d: item %lld in slot %d of %d",
                     (long long)n, most, (long long)i, s, parts);
        if (!seen[s]) {
            seen[s] = 1;
            slot_thread[s] = j.who[i];
        }
        TU_CHECK_MSG(pthread_equal(slot_thread[s], j.who[i]),
                     "n %lld most %d: slot %d used by two threads", (long long)n, most,
                     s);
    }
    /* slot 0 is the caller's */
    if (seen[0])
        ck_assert(pthread_equal(slot_thread[0], pthread_self()));
    return j;
}

static void free_items(item_job *j)
{
    free(j->hits);
    free(j->slot);
    free(j->who);
}

START_TEST(pool_items_each_once)
{
    static const int64_t ns[] = {0, 1, 2, 3, 7, 64, 65, 1000};
    static const int mosts[] = {-1, 0, 1, 2, 3, 8, 64, 1000};
    for (int threads = 1; threads <= 4; threads++) {
        TU_OK(mlp_set_num_threads(threads));
        for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
            for (size_t b = 0; b < sizeof mosts / sizeof mosts[0]; b++) {
                item_job j = run_items(ns[a], mosts[b], 0);
                free_items(&j);
            }
    }
    /* more threads than the slots callers keep */
    TU_OK(mlp_set_num_threads(MLP__POOL_ITEM_PARTS + 3));
    item_job j = run_items(1000, 1000, 0);
    free_items(&j);
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* A worker held up on its first item: the caller, done with its own
 * items, takes those of the worker's part not yet started. Without the
 * taking, the worker would run them all after its sleep. (Should the
 * caller take the worker's items before the worker starts, the check holds
 * too.) */
START_TEST(pool_items_taken_from_a_held_up_part)
{
    TU_OK(mlp_set_num_threads(2));
    enum { N = 40 };
    int64_t lo, hi;
    mlp__pool_range(N, 2, 1, 1, &lo, &hi);
    item_job j = run_items(N, 2, 50);
    int taken = 0;
    for (int64_t i = lo; i < hi; i++)
        taken += j.slot[i] == 0;
    ck_assert_msg(taken > 0, "the caller ran none of the held-up part's %lld items",
                  (long long)(hi - lo));
    free_items(&j);
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* What a job of chunks records: the thread that ran each index, how often,
 * and the ranges; a worker's first chunk sleeps slow_ms. */
typedef struct chunk_rec {
    _Atomic int *hits;
    pthread_t *who;
    _Atomic int calls;
    int64_t lo[256], hi[256];
    int slow_ms;
    pthread_t caller;
    _Atomic int slept;
} chunk_rec;

static void record_chunk(void *arg, int64_t lo, int64_t hi)
{
    chunk_rec *j = arg;
    const int c = atomic_fetch_add(&j->calls, 1);
    if (c < 256) {
        j->lo[c] = lo;
        j->hi[c] = hi;
    }
    for (int64_t i = lo; i < hi; i++) {
        atomic_fetch_add(&j->hits[i], 1);
        j->who[i] = pthread_self();
    }
    hold_up(j->slow_ms, j->caller, &j->slept);
}

/* Run mlp__pool_chunks over [0, n); check that each index ran once, in at
 * most MLP__POOL_CHUNKS ranges a part, every inner bound a multiple of
 * align, each range on one thread. The caller frees hits and who. */
static chunk_rec *run_chunks(int64_t n, int64_t grain, int64_t align, int slow_ms)
{
    chunk_rec *j = calloc(1, sizeof *j);
    ck_assert_ptr_nonnull(j);
    const size_t cap = (size_t)(n > 0 ? n : 1);
    j->hits = calloc(cap, sizeof *j->hits);
    j->who = calloc(cap, sizeof *j->who);
    ck_assert(j->hits && j->who);
    j->slow_ms = slow_ms;
    j->caller = pthread_self();
    mlp__pool_chunks(n, grain, align, record_chunk, j);
    const int parts = mlp__pool_parts(n, grain);
    for (int64_t i = 0; i < n; i++)
        TU_CHECK_MSG(j->hits[i] == 1,
                     "n %lld grain %lld align %lld: index %lld ran %d times",
                     (long long)n, (long long)grain, (long long)align, (long long)i,
                     (int)j->hits[i]);
    ck_assert_int_le(j->calls, parts == 1 ? 1 : parts * MLP__POOL_CHUNKS);
    for (int c = 0; c < j->calls && c < 256; c++) {
        ck_assert(j->lo[c] < j->hi[c]);
        ck_assert(j->lo[c] % align == 0 && (j->hi[c] == n || j->hi[c] % align == 0));
        for (int64_t i = j->lo[c]; i < j->hi[c]; i++)
            TU_CHECK(pthread_equal(j->who[i], j->who[j->lo[c]]));
    }
    return j;
}

static void free_chunks(chunk_rec *j)
{
    free(j->hits);
    free(j->who);
    free(j);
}

START_TEST(pool_chunks_cover_once)
{
    static const int64_t ns[] = {0, 1, 5, 16, 17, 100, 1000, 4099};
    static const int64_t grains[] = {1, 3, 100};
    static const int64_t aligns[] = {1, 4, 16};
    for (int threads = 1; threads <= 3; threads++) {
        TU_OK(mlp_set_num_threads(threads));
        for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
            for (size_t b = 0; b < sizeof grains / sizeof grains[0]; b++)
                for (size_t c = 0; c < sizeof aligns / sizeof aligns[0]; c++)
                    free_chunks(run_chunks(ns[a], grains[b], aligns[c], 0));
    }
    /* at 1 thread, one range: [0, n) */
    TU_OK(mlp_set_num_threads(1));
    chunk_rec *j = run_chunks(1000, 1, 16, 0);
    ck_assert_int_eq(j->calls, 1);
    ck_assert(j->lo[0] == 0 && j->hi[0] == 1000);
    free_chunks(j);
    /* at 2, each part's range in several chunks */
    TU_OK(mlp_set_num_threads(2));
    j = run_chunks(1000, 1, 16, 0);
    ck_assert_int_eq(j->calls, 2 * MLP__POOL_CHUNKS);
    free_chunks(j);
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* A worker held up in its first chunk: the caller takes the rest of the
 * worker's part, as with items. */
START_TEST(pool_chunks_taken_from_a_held_up_part)
{
    TU_OK(mlp_set_num_threads(2));
    enum { N = 4000 };
    chunk_rec *j = run_chunks(N, 1, 16, 50);
    int64_t lo, hi;
    mlp__pool_range(N, 2, 16, 1, &lo, &hi);
    int64_t taken = 0;
    for (int64_t i = lo; i < hi; i++)
        taken += pthread_equal(j->who[i], pthread_self());
    ck_assert_msg(taken > 0, "the caller ran none of the held-up part's indices");
    free_chunks(j);
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* Items inside a part (of a parallel-for or of items) run on that part's
 * thread, in slot 0, each once; items from a second application thread
 * while the pool is busy run on that thread. */
static void items_in_part(void *arg, int64_t lo, int64_t hi)
{
    (void)arg;
    for (int64_t i = lo; i < hi; i++) {
        item_job j = run_items(50, 8, 0);
        for (int k = 0; k < 50; k++) {
            TU_CHECK(j.slot[k] == 0);
            TU_CHECK(pthread_equal(j.who[k], pthread_self()));
        }
        free_items(&j);
    }
}

static void *items_hammer(void *arg)
{
    (void)arg;
    for (int r = 0; r < 100; r++) {
        item_job j = run_items(100 + r, 8, 0);
        free_items(&j);
    }
    return NULL;
}

START_TEST(pool_items_nested_and_concurrent)
{
    TU_OK(mlp_set_num_threads(2));
    mlp__pool_for(6, 1, 1, items_in_part, NULL);
    item_job j;
    memset(&j, 0, sizeof j);
    enum { N = 20 };
    _Atomic int hits[N];
    int slot[N];
    pthread_t who[N];
    memset(hits, 0, sizeof hits);
    j.hits = hits;
    j.slot = slot;
    j.who = who;
    j.inner = 30;
    mlp__pool_items(N, 8, record_item, &j);
    ck_assert_int_eq(atomic_load(&j.inner_bad), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(hits[i], 1);
    on_two_threads(items_hammer);
}
END_TEST

/* Workers that cannot start: the caller runs every item in slot 0. */
START_TEST(pool_items_without_workers)
{
    mlp__pool_shutdown();
    TU_OK(mlp_set_num_threads(3));
    mlp__alloc_fail_after(1); /* the pool's thread table */
    item_job j = run_items(100, 8, 0);
    mlp__alloc_fail_after(0);
    ck_assert_int_eq(mlp__pool_workers(), 0);
    for (int i = 0; i < 100; i++)
        TU_CHECK(j.slot[i] == 0 && pthread_equal(j.who[i], pthread_self()));
    free_items(&j);
    j = run_items(100, 8, 0);
    ck_assert_int_eq(mlp__pool_workers(), 2);
    free_items(&j);
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* ---- kernels -------------------------------------------------------------- */

/* mlp__expf_vec gives mlp__expf's bits: the floor is the only difference. */
START_TEST(expf_vec_same_bits)
{
    for (int i = -200000; i <= 200000; i++) {
        const float x = (float)i * 1e-3f;
        const float a = mlp__expf(x), b = mlp__expf_vec(x);
        TU_CHECK_MSG(memcmp(&a, &b, sizeof a) == 0, "x = %.9g: %.9g != %.9g", (double)x,
                     (double)a, (double)b);
    }
    static const float edges[] = {-1e30f, -88.0f, -87.5f, 88.5f, 1e30f, -0.0f, 0.5f};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        const float a = mlp__expf(edges[i]), b = mlp__expf_vec(edges[i]);
        ck_assert(memcmp(&a, &b, sizeof a) == 0);
    }
}
END_TEST

/* Below MLP__EXPF_LOW both exponentials give 0, never a subnormal float;
 * from it up, a normal float within 2e-7 of e^x; NaN keeps its old result
 * (e^88.4, which the callers that meet NaN check for themselves). */
START_TEST(expf_low_end_is_zero)
{
    static const float below[] = {-87.34f, -87.5f, -100.0f, -103.0f, -1e30f, -INFINITY};
    for (size_t i = 0; i < sizeof below / sizeof below[0]; i++) {
        const float a = mlp__expf(below[i]), b = mlp__expf_vec(below[i]);
        ck_assert_msg(a == 0.0f && b == 0.0f, "e^%g = %g, %g", (double)below[i],
                      (double)a, (double)b);
    }
    for (float x = MLP__EXPF_LOW; x < -80.0f; x += 0.25f) {
        const float a = mlp__expf(x);
        ck_assert_msg(fpclassify(a) == FP_NORMAL, "e^%.9g = %g", (double)x, (double)a);
        ck_assert_msg(fabs(a / exp((double)x) - 1.0) < 2e-7, "e^%.9g = %.9g", (double)x,
                      (double)a);
    }
    const float n = mlp__expf(NAN);
    ck_assert(isfinite(n) && n > 1e38f);
}
END_TEST

/* Entry (i, j) of op(A) op(B), in double. */
static double naive_dot(const float *a, int lda, int ta, const float *b, int ldb, int tb,
                        int k, int i, int j)
{
    double acc = 0.0;
    for (int p = 0; p < k; p++)
        acc += (double)(ta ? a[(int64_t)p * lda + i] : a[(int64_t)i * lda + p]) *
               (tb ? b[(int64_t)j * ldb + p] : b[(int64_t)p * ldb + j]);
    return acc;
}

/* mlp__sgemm, split across 1, 2 and 3 threads, every transposition, beta 0
 * and 1, whole and with the small kernels' cuts forced on, against a loop
 * in double (computed once for each transposition: it does not depend on
 * the rest); the split and unsplit results agree to rounding. */
START_TEST(sgemm_split_matches_naive)
{
    static const int shapes[][3] = {{100, 100, 784}, {784, 100, 100}, {100, 47, 100},
                                    {37, 203, 61},   {203, 37, 61},   {9, 9, 3000}};
    tu_rng rng;
    tu_rng_seed(&rng, 5);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = malloc((size_t)m * k * sizeof *a),
              *b = malloc((size_t)k * n * sizeof *b);
        float *c = malloc((size_t)m * n * sizeof *c),
              *c0 = malloc((size_t)m * n * sizeof *c0);
        double *dot = malloc((size_t)m * n * sizeof *dot);
        ck_assert(a && b && c && c0 && dot);
        tu_fill_uniform(&rng, a, (int64_t)m * k, -1.0f, 1.0f);
        tu_fill_uniform(&rng, b, (int64_t)k * n, -1.0f, 1.0f);
        tu_fill_uniform(&rng, c0, (int64_t)m * n, -1.0f, 1.0f);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                const int lda = ta ? m : k, ldb = tb ? k : n;
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++)
                        dot[i * n + j] = naive_dot(a, lda, ta, b, ldb, tb, k, i, j);
                for (int run = 0; run < 12; run++) {
                    /* beta 0 and 1, 1 to 3 threads, whole and with the small
                     * kernels' cuts (see sgemm_cuts_match_naive) */
                    const int beta = run % 2, threads = 1 + run / 2 % 3, small = run / 6;
                    mlp__gemm_force_small_kernels(small);
                    TU_OK(mlp_set_num_threads(threads));
                    memcpy(c, c0, (size_t)m * n * sizeof *c);
                    mlp__sgemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, (float)beta, c, n);
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++) {
                            const double acc = dot[i * n + j];
                            const double want = 0.5 * acc + beta * c0[i * n + j];
                            TU_CHECK_MSG(fabs(c[i * n + j] - want) <=
                                             1e-5 * sqrt((double)k) * 4.0,
                                         "%dx%dx%d ta %d tb %d beta %d threads %d "
                                         "small kernels %d (%d,%d): %g != %g",
                                         m, n, k, ta, tb, beta, threads, small, i, j,
                                         (double)c[i * n + j], want);
                        }
                }
            }
        free(a);
        free(b);
        free(c);
        free(c0);
        free(dot);
    }
    mlp__gemm_force_small_kernels(-1);
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* Products that gemm.c cuts into small ones on OpenBLAS's AVX-512 cores
 * (along K with no transposes, along M with A transposed; unequal last
 * cuts) or runs on B transposed back (B transposed; also followed by cuts
 * along K), with leading dimensions wider than the matrices, beta 0, 1
 * and 0.5 and a negative alpha, at 1 and 2 threads, against a loop in
 * double; C's columns past n stay as they were. Each both ways, whatever
 * the core: cut (the small kernels' ways forced on) and whole (forced
 * off). Left to the core, CI's pinned Haswell kernels never took the cuts,
 * and seven mutations of them survived. */
START_TEST(sgemm_cuts_match_naive)
{
    /* m, n, k, trans_a, trans_b */
    static const int shapes[][5] = {{100, 47, 797, 0, 0},  {16, 100, 3001, 0, 0},
                                    {48, 100, 784, 0, 0},  {797, 47, 100, 1, 0},
                                    {392, 100, 100, 1, 0}, {2003, 10, 100, 1, 0},
                                    {100, 100, 100, 0, 1}, {37, 203, 61, 0, 1},
                                    {100, 100, 160, 0, 1}, {52, 47, 100, 0, 1}};
    static const float betas[] = {0.0f, 1.0f, 0.5f};
    enum { PAD = 3 };
    tu_rng rng;
    tu_rng_seed(&rng, 21);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], ta = shapes[s][3],
                  tb = shapes[s][4];
        const int lda = (ta ? m : k) + PAD, ldb = (tb ? k : n) + PAD, ldc = n + PAD;
        const int64_t a_len = (int64_t)(ta ? k : m) * lda,
                      b_len = (int64_t)(tb ? n : k) * ldb, c_len = (int64_t)m * ldc;
        float *a = malloc((size_t)a_len * sizeof *a),
              *b = malloc((size_t)b_len * sizeof *b);
        float *c = malloc((size_t)c_len * sizeof *c),
              *c0 = malloc((size_t)c_len * sizeof *c0);
        double *dot = malloc((size_t)m * n * sizeof *dot);
        ck_assert(a && b && c && c0 && dot);
        tu_fill_uniform(&rng, a, a_len, -1.0f, 1.0f);
        tu_fill_uniform(&rng, b, b_len, -1.0f, 1.0f);
        tu_fill_uniform(&rng, c0, c_len, -1.0f, 1.0f);
        for (int i = 0; i < m; i++) /* once: it does not depend on beta or the threads */
            for (int j = 0; j < n; j++)
                dot[(int64_t)i * n + j] = naive_dot(a, lda, ta, b, ldb, tb, k, i, j);
        for (int small = 0; small < 4; small++) /* off, on at 1 thread; at 2 */
            for (size_t bi = 0; bi < sizeof betas / sizeof betas[0]; bi++) {
                const int threads = 1 + small / 2;
                mlp__gemm_force_small_kernels(small % 2);
                TU_OK(mlp_set_num_threads(threads));
                memcpy(c, c0, (size_t)c_len * sizeof *c);
                mlp__sgemm(ta, tb, m, n, k, -0.7f, a, lda, b, ldb, betas[bi], c, ldc);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < ldc; j++) {
                        const float got = c[(int64_t)i * ldc + j];
                        if (j >= n) {
                            TU_CHECK_MSG(got == c0[(int64_t)i * ldc + j],
                                         "shape %zu: (%d,%d) past n touched", s, i, j);
                            continue;
                        }
                        const double want = -0.7 * dot[(int64_t)i * n + j] +
                                            (double)betas[bi] * c0[(int64_t)i * ldc + j];
                        TU_CHECK_MSG(fabs(got - want) <= 1e-5 * sqrt((double)k) * 4.0,
                                     "shape %zu beta %g threads %d small kernels %d "
                                     "(%d,%d): %g != %g",
                                     s, (double)betas[bi], threads, small % 2, i, j,
                                     (double)got, want);
                    }
            }
        free(a);
        free(b);
        free(c);
        free(c0);
        free(dot);
    }
    mlp__gemm_force_small_kernels(-1);
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* beta = 0 ignores what C held, NaN included (BLAS's rule), at every split;
 * C's columns past n (ldc > n) stay as they were; the bits are those of
 * beta = 1 onto a cleared C. Every way of gemm.c: at one thread the tall
 * product (1.1M multiply-adds) is above SMALL_PRODUCT, so its C is cleared
 * first (both transposed, which gemm.c never cuts), or, with neither
 * transposed on cores with OpenBLAS's small kernels, cut along K with
 * beta = 0 on the first cut; the 20 rows and the blocks of 2 and 3 threads
 * are below it, and go to OpenBLAS with beta = 0. The small kernels' ways
 * forced on and off, whatever the core. */
START_TEST(sgemm_beta0_ignores_c)
{
    enum { M = 100, N = 70, K = 160, LDC = 75 };
    static float a[M * K], b[K * N], c[M * LDC], want[M * LDC];
    tu_rng rng;
    tu_rng_seed(&rng, 13);
    tu_fill_uniform(&rng, a, M * K, -1.0f, 1.0f);
    tu_fill_uniform(&rng, b, K * N, -1.0f, 1.0f);
    for (int run = 0; run < 6; run++) {
        /* 1 to 3 threads, whole and with the small kernels' cuts */
        const int threads = 1 + run % 3, small = run / 3;
        mlp__gemm_force_small_kernels(small);
        TU_OK(mlp_set_num_threads(threads));
        for (int tall = 0; tall < 2; tall++)
            for (int tt = 0; tt < 2; tt++) {
                /* tall: M rows of N split by rows; else the first 20 rows,
                 * which split by columns (blocks narrower than ldc); tt: a
                 * read as A^T [K, M] and b as B^T [N, K] */
                const int m = tall ? M : 20, lda = tt ? M : K, ldb = tt ? K : N;
                for (int i = 0; i < M * LDC; i++) {
                    c[i] = NAN;
                    want[i] = i % LDC < N ? 0.0f : NAN;
                }
                mlp__sgemm(tt, tt, m, N, K, 1.0f, a, lda, b, ldb, 1.0f, want, LDC);
                mlp__sgemm(tt, tt, m, N, K, 1.0f, a, lda, b, ldb, 0.0f, c, LDC);
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < LDC; j++) {
                        const float got = c[i * LDC + j], w = want[i * LDC + j];
                        if (i >= m || j >= N)
                            TU_CHECK_MSG(isnan(got),
                                         "threads %d small %d m %d tt %d (%d,%d) touched",
                                         threads, small, m, tt, i, j);
                        else
                            TU_CHECK_MSG(
                                memcmp(&got, &w, sizeof got) == 0,
                                "threads %d small %d m %d tt %d (%d,%d): %g != %g",
                                threads, small, m, tt, i, j, (double)got, (double)w);
                    }
            }
    }
    mlp__gemm_force_small_kernels(-1);
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* The portable product's blocks taken whole and one tile's at a time (as
 * when its thread's buffer cannot be had) give the same bits: blocks of A
 * of 64 rows and 3 more, of B of 256 columns and 7 more, of 256 terms and
 * 44 more, every transposition, leading dimensions wider than the
 * matrices, alpha -0.7 and beta 0.5. With OpenBLAS both runs are the same
 * call. */
START_TEST(sgemm_tile_copies_same_bits)
{
    enum { M = 67, N = 263, K = 300, PAD = 3 };
    const int ld = K + PAD > N + PAD ? K + PAD : N + PAD;
    float *a = malloc((size_t)K * ld * sizeof *a),
          *b = malloc((size_t)K * ld * sizeof *b);
    float *c0 = malloc((size_t)M * (N + PAD) * sizeof *c0),
          *c1 = malloc((size_t)M * (N + PAD) * sizeof *c1),
          *c2 = malloc((size_t)M * (N + PAD) * sizeof *c2);
    ck_assert(a && b && c0 && c1 && c2);
    tu_rng rng;
    tu_rng_seed(&rng, 31);
    tu_fill_uniform(&rng, a, (int64_t)K * ld, -1.0f, 1.0f);
    tu_fill_uniform(&rng, b, (int64_t)K * ld, -1.0f, 1.0f);
    tu_fill_uniform(&rng, c0, (int64_t)M * (N + PAD), -1.0f, 1.0f);
    TU_OK(mlp_set_num_threads(1));
    for (int tt = 0; tt < 4; tt++) {
        const int ta = tt % 2, tb = tt / 2;
        const int lda = (ta ? M : K) + PAD, ldb = (tb ? K : N) + PAD;
        memcpy(c1, c0, (size_t)M * (N + PAD) * sizeof *c1);
        memcpy(c2, c0, (size_t)M * (N + PAD) * sizeof *c2);
        mlp__gemm_force_tile_copies(0);
        mlp__sgemm(ta, tb, M, N, K, -0.7f, a, lda, b, ldb, 0.5f, c1, N + PAD);
        mlp__gemm_force_tile_copies(1);
        mlp__sgemm(ta, tb, M, N, K, -0.7f, a, lda, b, ldb, 0.5f, c2, N + PAD);
        mlp__gemm_force_tile_copies(0);
        for (int i = 0; i < M * (N + PAD); i++)
            TU_CHECK_MSG(memcmp(&c1[i], &c2[i], sizeof c1[i]) == 0,
                         "ta %d tb %d C[%d]: %a whole, %a a tile at a time", ta, tb, i,
                         (double)c1[i], (double)c2[i]);
    }
    free(a);
    free(b);
    free(c0);
    free(c1);
    free(c2);
}
END_TEST

/* BLAS's rules at the edges, on OpenBLAS and on the portable product
 * alike: alpha = 0 or k = 0 leaves beta C and reads neither A nor B (NaN
 * there does not reach C); otherwise a NaN or an infinity of A or B
 * reaches every entry of C it is a term of, also where the other factor is
 * 0 (0 x inf and 0 x NaN are NaN), and no other. Every transposition, at 1
 * and 2 threads, whole and with the small kernels' cuts, in shapes above
 * and below SMALL_PRODUCT. The portable product once skipped the terms
 * whose A was 0, so a NaN weight met by a zero input was lost there and
 * not with OpenBLAS. */
START_TEST(sgemm_nan_meets_zero)
{
    static const int shapes[][3] = {{5, 9, 7}, {100, 70, 300}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = calloc((size_t)m * k, sizeof *a),
              *b = calloc((size_t)k * n, sizeof *b),
              *c = malloc((size_t)m * n * sizeof *c);
        ck_assert(a && b && c);
        for (int run = 0; run < 16; run++) {
            const int ta = run % 2, tb = run / 2 % 2, threads = 1 + run / 4 % 2,
                      small = run / 8;
            const int lda = ta ? m : k, ldb = tb ? k : n;
            mlp__gemm_force_small_kernels(small);
            TU_OK(mlp_set_num_threads(threads));
            /* A all 0 but for a NaN at (1, 2); B all 0 but for an infinity
             * at (2, 3) and a NaN at (4, 5) */
            memset(a, 0, (size_t)m * k * sizeof *a);
            memset(b, 0, (size_t)k * n * sizeof *b);
            a[ta ? 2 * lda + 1 : 1 * lda + 2] = NAN;
            b[tb ? 3 * ldb + 2 : 2 * ldb + 3] = INFINITY;
            b[tb ? 5 * ldb + 4 : 4 * ldb + 5] = NAN;
            for (int i = 0; i < m * n; i++)
                c[i] = 1.0f;
            mlp__sgemm(ta, tb, m, n, k, 0.0f, a, lda, b, ldb, 0.5f, c, n);
            for (int i = 0; i < m * n; i++)
                TU_CHECK_MSG(c[i] == 0.5f, "%dx%dx%d ta %d tb %d alpha 0: C[%d] = %g", m,
                             n, k, ta, tb, i, (double)c[i]);
            for (int i = 0; i < m * n; i++)
                c[i] = 1.0f;
            mlp__sgemm(ta, tb, m, n, 0, 1.0f, a, lda, b, ldb, 0.5f, c, n);
            for (int i = 0; i < m * n; i++)
                TU_CHECK_MSG(c[i] == 0.5f, "%dx%dx%d ta %d tb %d k 0: C[%d] = %g", m, n,
                             k, ta, tb, i, (double)c[i]);
            mlp__sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    /* row 1 meets B's row 2 (A's NaN); columns 3 and 5 meet
                     * the infinity and the NaN of B */
                    const int nan = i == 1 || j == 3 || j == 5;
                    const float got = c[i * n + j];
                    TU_CHECK_MSG(nan ? isnan(got) : got == 0.0f,
                                 "%dx%dx%d ta %d tb %d threads %d small %d (%d,%d): %g",
                                 m, n, k, ta, tb, threads, small, i, j, (double)got);
                }
        }
        free(a);
        free(b);
        free(c);
    }
    mlp__gemm_force_small_kernels(-1);
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* A product split along K, run by several application threads at once
 * (each gets the pool, or runs the parts itself while it is busy): every
 * run has the bits of one run alone. */
typedef struct k_split_run {
    mlp__gemm g;
    const float *want;
    int same;
} k_split_run;

static void *k_split_hammer(void *arg)
{
    k_split_run *r = arg;
    r->same = 1;
    for (int i = 0; i < 50; i++) {
        mlp__sgemm_run(&r->g);
        r->same &= memcmp(r->g.c, r->want, (size_t)r->g.m * r->g.n * sizeof(float)) == 0;
    }
    return NULL;
}

/* mlp__sgemm_k_parts from inside a pool part (its products stay whole) */
typedef struct k_parts_probe {
    mlp__gemm g;
    int parts[2];
} k_parts_probe;

static void k_parts_nested(void *arg, int64_t lo, int64_t hi)
{
    k_parts_probe *p = arg;
    for (int64_t t = lo; t < hi; t++)
        p->parts[t] = mlp__sgemm_k_parts(&p->g);
}

/* Products split along K (no transposes, K >= 8 max(M, N)) at 2, 3 and 4
 * threads: with a bias, beta 0 (C's NaN ignored), 1 and 0.5, C wider than
 * n (its columns past n untouched), against a loop in double; and with
 * the bits of the parts run by hand at 1 thread, part 0 onto C, the others
 * on their own, their sums added in part order. Products with K short
 * against M or N, or a transpose, or run from inside a part, are not
 * split along K. */
START_TEST(sgemm_k_split)
{
    /* m, n, k */
    static const int shapes[][3] = {{40, 30, 2000}, {100, 128, 3136}, {9, 20, 1601}};
    static const float betas[] = {0.0f, 1.0f, 0.5f};
    enum { PAD = 5 };
    tu_rng rng;
    tu_rng_seed(&rng, 31);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], ldc = n + PAD;
        const int64_t c_len = (int64_t)m * ldc;
        float *a = malloc((size_t)m * k * sizeof *a),
              *b = malloc((size_t)k * n * sizeof *b);
        float *bias = malloc((size_t)n * sizeof *bias),
              *c = malloc((size_t)c_len * sizeof *c),
              *c0 = malloc((size_t)c_len * sizeof *c0),
              *want = malloc((size_t)c_len * sizeof *want),
              *part = malloc((size_t)m * n * sizeof *part);
        double *dot = malloc((size_t)m * n * sizeof *dot);
        ck_assert(a && b && bias && c && c0 && want && part && dot);
        tu_fill_uniform(&rng, a, (int64_t)m * k, -1.0f, 1.0f);
        tu_fill_uniform(&rng, b, (int64_t)k * n, -1.0f, 1.0f);
        tu_fill_uniform(&rng, bias, n, -1.0f, 1.0f);
        tu_fill_uniform(&rng, c0, c_len, -1.0f, 1.0f);
        for (int i = 0; i < m; i++) {
            c0[(int64_t)i * ldc] = NAN; /* read by beta 1 and 0.5 only */
            for (int j = 0; j < n; j++)
                dot[i * n + j] = naive_dot(a, k, 0, b, n, 0, k, i, j);
        }
        for (int threads = 2; threads <= 4; threads++)
            for (int bi = -1; bi < 3; bi++) { /* -1: with the bias */
                TU_OK(mlp_set_num_threads(threads));
                const float beta = bi < 0 ? 0.0f : betas[bi];
                mlp__gemm g = {0, 0, m, n,    k, -0.7f, a,
                               k, b, n, beta, c, ldc,   bi < 0 ? bias : NULL};
                const int parts = mlp__sgemm_k_parts(&g);
                ck_assert_int_eq(parts, threads);
                memcpy(c, c0, (size_t)c_len * sizeof *c);
                mlp__sgemm_run(&g);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < ldc; j++) {
                        const int64_t at = (int64_t)i * ldc + j;
                        if (j >= n) {
                            TU_CHECK_MSG(c[at] == c0[at], "shape %zu: (%d,%d) touched", s,
                                         i, j);
                            continue;
                        }
                        const double before = bi < 0         ? bias[j]
                                              : beta == 0.0f ? 0.0
                                                             : beta * c0[at];
                        const double w = -0.7 * dot[i * n + j] + before;
                        TU_CHECK_MSG(isnan(w) ? isnan(c[at])
                                              : fabs(c[at] - w) <=
                                                    1e-5 * sqrt((double)k) * 4.0,
                                     "shape %zu threads %d beta %d (%d,%d): %g != %g", s,
                                     threads, bi, i, j, (double)c[at], w);
                    }
                /* the same parts by hand, in one thread */
                TU_OK(mlp_set_num_threads(1));
                memcpy(want, c0, (size_t)c_len * sizeof *want);
                for (int t = 0; t < parts; t++) {
                    int64_t k0, k1;
                    mlp__pool_range(k, parts, MLP__SGEMM_K_ALIGN, t, &k0, &k1);
                    mlp__gemm p = g;
                    p.k = (int)(k1 - k0);
                    p.a = a + k0;
                    p.b = b + k0 * n;
                    if (t == 0) {
                        p.c = want;
                    } else {
                        p.c = part;
                        p.ldc = n;
                        p.beta = 0.0f;
                        p.bias = NULL;
                    }
                    mlp__sgemm_part(&p, 0, 1);
                    for (int i = 0; t > 0 && i < m; i++)
                        for (int j = 0; j < n; j++)
                            want[(int64_t)i * ldc + j] += part[i * n + j];
                }
                ck_assert_msg(memcmp(c, want, (size_t)c_len * sizeof *c) == 0,
                              "shape %zu threads %d beta %d: not the parts' bits", s,
                              threads, bi);
            }
        free(a);
        free(b);
        free(bias);
        free(c);
        free(c0);
        free(want);
        free(part);
        free(dot);
    }
    /* not split along K: K short, a transpose, C large, one thread */
    static float x[40 * 2000], y[784 * 100], z[100 * 100]; /* x holds 100 x 784 too */
    TU_OK(mlp_set_num_threads(2));
    const mlp__gemm shorter = {0,   0, 100, 100,  784, 1.0f, x,
                               784, y, 100, 0.0f, z,   100,  NULL},
                    ta = {1, 0, 40, 30, 2000, 1.0f, x, 40, y, 30, 0.0f, z, 30, NULL},
                    tb = {0, 1, 40, 30, 2000, 1.0f, x, 2000, y, 2000, 0.0f, z, 30, NULL},
                    split = {0, 0, 40, 30, 2000, 1.0f, x, 2000, y, 30, 0.0f, z, 30, NULL};
    ck_assert_int_eq(mlp__sgemm_k_parts(&shorter), 0);
    ck_assert_int_eq(mlp__sgemm_k_parts(&ta), 0);
    ck_assert_int_eq(mlp__sgemm_k_parts(&tb), 0);
    ck_assert_int_eq(mlp__sgemm_k_parts(&split), 2);
    const mlp__gemm wide = {0,    0, 300, 300,  2400, 1.0f, x,
                            2400, y, 300, 0.0f, z,    300,  NULL};
    ck_assert_int_eq(mlp__sgemm_k_parts(&wide), 0);
    k_parts_probe probe = {split, {-1, -1}};
    mlp__pool_for(2, 1, 1, k_parts_nested, &probe);
    ck_assert(probe.parts[0] == 0 && probe.parts[1] == 0);
    TU_OK(mlp_set_num_threads(1));
    ck_assert_int_eq(mlp__sgemm_k_parts(&split), 0);

    /* concurrent callers */
    TU_OK(mlp_set_num_threads(2));
    tu_fill_uniform(&rng, x, 40 * 2000, -1.0f, 1.0f);
    tu_fill_uniform(&rng, y, 2000 * 30, -1.0f, 1.0f);
    static float once[40 * 30], out[3][40 * 30];
    mlp__gemm g1 = split;
    g1.c = once;
    mlp__sgemm_run(&g1);
    k_split_run runs[3];
    pthread_t th[3];
    for (int r = 0; r < 3; r++) {
        runs[r] = (k_split_run){split, once, 0};
        runs[r].g.c = out[r];
        ck_assert_int_eq(pthread_create(&th[r], NULL, k_split_hammer, &runs[r]), 0);
    }
    for (int r = 0; r < 3; r++) {
        ck_assert_int_eq(pthread_join(th[r], NULL), 0);
        ck_assert_msg(runs[r].same, "caller %d", r);
    }
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* Parts run by hand, last first, give mlp__sgemm_run's bits; with a bias
 * row, the bits of beta = 1 on C filled with the bias; column-sum blocks
 * give mlp__col_sums's bits. */
START_TEST(sgemm_parts_and_bias)
{
    enum { M = 100, N = 60, K = 90 };
    static float a[M * K], b[K * N], bias[N], c0[M * N], c1[M * N], s0[N], s1[N];
    tu_rng rng;
    tu_rng_seed(&rng, 9);
    tu_fill_uniform(&rng, a, M * K, -1.0f, 1.0f);
    tu_fill_uniform(&rng, b, K * N, -1.0f, 1.0f);
    tu_fill_uniform(&rng, bias, N, -1.0f, 1.0f);
    for (int threads = 1; threads <= 3; threads++) {
        TU_OK(mlp_set_num_threads(threads));
        for (int by_cols = 0; by_cols < 2; by_cols++) {
            /* by_cols: C^T's shape [N, M] is wider than tall */
            const int m = by_cols ? N : M, n = by_cols ? M : N;
            const float *bb = by_cols ? a : b, *aa = by_cols ? b : a;
            mlp__gemm g = {
                by_cols, by_cols,         m,    n,  K, 1.0f, aa, by_cols ? m : K,
                bb,      by_cols ? K : n, 1.0f, c0, n, NULL};
            for (int i = 0; i < m; i++)
                memcpy(c0 + i * n, by_cols ? a : bias, (size_t)n * sizeof(float));
            mlp__sgemm_run(&g);
            const int parts = mlp__sgemm_parts(&g);
            ck_assert_int_eq(parts, threads);
            g.c = c1;
            g.bias = by_cols ? a : bias;
            g.beta = 0.0f; /* ignored with a bias */
            for (int t = parts - 1; t >= 0; t--)
                mlp__sgemm_part(&g, t, parts);
            ck_assert_msg(memcmp(c0, c1, (size_t)m * n * sizeof(float)) == 0,
                          "threads %d by_cols %d", threads, by_cols);
        }
    }
    mlp__col_sums(a, M, N, s0);
    mlp__col_sums_block(a, M, N, 0, 16, s1);
    mlp__col_sums_block(a, M, N, 16, N, s1);
    ck_assert(memcmp(s0, s1, sizeof s0) == 0);
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* ---- subnormal floats (mlp_set_flush_denormals) ----------------------------- */

/* What each of a job's 3 parts saw: a product whose result is subnormal,
 * whether a subnormal operand read as zero, and the thread. */
typedef struct fp_job {
    volatile float tiny; /* FLT_MIN / 4, subnormal */
    float product[3];
    int operand_zero[3];
    pthread_t who[3];
} fp_job;

static void fp_part(void *arg, int64_t lo, int64_t hi)
{
    fp_job *j = arg;
    for (int64_t t = lo; t < hi; t++) {
        volatile float small = FLT_MIN, half = 0.5f;
        j->product[t] = small * half; /* 0 with FTZ */
        /* a normal result of a subnormal operand: 0 only with DAZ */
        j->operand_zero[t] = j->tiny * 16777216.0f == 0.0f;
        j->who[t] = pthread_self();
    }
}

/* Whether the calling thread's processor mode holds the flush-to-zero bit
 * (the library sets it with the denormals-are-zero one): an emulator may
 * not keep it (valgrind does not), and then nothing flushes whatever the
 * library asks. */
static int flush_bits_kept(void)
{
#if defined(__x86_64__)
    return (_mm_getcsr() & 0x8000u) != 0;
#else
    return 0;
#endif
}

/* Runs a job of 3 parts on 3 threads (the caller and two workers) and
 * checks what each part saw against `flushed`; then a product split
 * across the threads whose operands are subnormal (OpenBLAS's kernels, or
 * the portable loop): 64 of FLT_MIN / 4 sum to 16 FLT_MIN, or to 0 when
 * they read as zero. */
static void check_fp_mode(int flushed)
{
    fp_job j;
    memset(&j, 0, sizeof j);
    j.tiny = FLT_MIN / 4.0f;
    mlp__pool_for(3, 1, 1, fp_part, &j);
    ck_assert(pthread_equal(j.who[0], pthread_self()));
    ck_assert(!pthread_equal(j.who[1], pthread_self()));
    ck_assert(!pthread_equal(j.who[2], pthread_self()));
    for (int t = 0; t < 3; t++) {
        ck_assert_msg(flushed ? j.product[t] == 0.0f : j.product[t] == FLT_MIN / 2.0f,
                      "part %d: FLT_MIN / 2 gave %g", t, (double)j.product[t]);
        ck_assert_msg(j.operand_zero[t] == flushed, "part %d: FLT_MIN / 4 read as %s", t,
                      j.operand_zero[t] ? "zero" : "itself");
    }
    enum { N = 64 };
    static float a[N * N], b[N * N], c[N * N];
    for (int i = 0; i < N * N; i++) {
        a[i] = FLT_MIN / 4.0f;
        b[i] = 1.0f;
    }
    mlp__sgemm(0, 0, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N);
    for (int i = 0; i < N * N; i++)
        TU_CHECK_MSG(c[i] == (flushed ? 0.0f : 16.0f * FLT_MIN), "c[%d] = %g", i,
                     (double)c[i]);
}

START_TEST(flush_denormals_off_by_default)
{
    TU_OK(mlp_set_num_threads(3));
    ck_assert_int_eq(mlp_get_flush_denormals(), 0);
    check_fp_mode(0);
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* On, the caller and the workers flush (from their next part); off, both
 * compute with subnormals again; any nonzero value turns it on. */
START_TEST(flush_denormals_on_and_off)
{
    TU_OK(mlp_set_num_threads(3));
    check_fp_mode(0); /* workers started, their mode given */
    mlp_status st = mlp_set_flush_denormals(7);
#if defined(__x86_64__)
    TU_OK(st); /* the mode exists on every x86-64 processor */
#endif
    if (st == MLP_STATUS_UNSUPPORTED) {
        /* no such mode here: the setting stays off */
        ck_assert_int_eq(mlp_get_flush_denormals(), 0);
        ck_assert_ptr_nonnull(strstr(mlp_last_error(), "mlp_set_flush_denormals"));
        TU_OK(mlp_set_num_threads(1));
        return;
    }
    TU_OK(st);
    ck_assert_int_eq(mlp_get_flush_denormals(), 1);
    if (flush_bits_kept())
        check_fp_mode(1);
    TU_OK(mlp_set_flush_denormals(1)); /* again: no change */
    TU_OK(mlp_set_flush_denormals(0));
    ck_assert_int_eq(mlp_get_flush_denormals(), 0);
    ck_assert(!flush_bits_kept());
    check_fp_mode(0);
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* A worker starts with the floating-point mode of the thread that created
 * it. Created by a thread whose own mode flushes (its MXCSR bits set by
 * itself, not by the library), the workers still compute with subnormals
 * while the library's setting is off; the creator keeps its own mode for
 * the part it runs itself (status.h). In a forked test the workers are
 * this test's own, made by this thread. */
START_TEST(flush_denormals_off_whatever_the_creator_mode)
{
#if defined(__x86_64__)
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040u);
    if (!flush_bits_kept()) { /* an emulator that drops the bits */
        _mm_setcsr(csr);
        return;
    }
    TU_OK(mlp_set_num_threads(3));
    fp_job j;
    memset(&j, 0, sizeof j);
    j.tiny = FLT_MIN / 4.0f;
    mlp__pool_for(3, 1, 1, fp_part, &j);
    _mm_setcsr(csr);
    ck_assert(pthread_equal(j.who[0], pthread_self()));
    ck_assert_msg(j.product[0] == 0.0f && j.operand_zero[0],
                  "the caller's part did not keep the caller's mode");
    for (int t = 1; t < 3; t++) {
        ck_assert(!pthread_equal(j.who[t], pthread_self()));
        ck_assert_msg(j.product[t] == FLT_MIN / 2.0f && !j.operand_zero[t],
                      "part %d flushed: FLT_MIN / 2 gave %g", t, (double)j.product[t]);
    }
    TU_OK(mlp_set_num_threads(1));
#endif
}
END_TEST

/* One thread until mlp_set_num_threads says otherwise (status.h). In a
 * run without fork the tests before have set it back to 1. */
START_TEST(threads_one_by_default)
{
    ck_assert_int_eq(mlp_get_num_threads(), 1);
    TU_OK(mlp_set_num_threads(2));
    ck_assert_int_eq(mlp_get_num_threads(), 2);
    TU_OK(mlp_set_num_threads(1));
    ck_assert_int_eq(mlp_get_num_threads(), 1);
}
END_TEST

#ifdef MLPNET_HAVE_OPENBLAS
/* The library's pool runs the products, so OpenBLAS stays single-threaded:
 * mlp_set_num_threads and every model's creation set OpenBLAS's
 * process-wide count back to 1 (status.h). */
START_TEST(openblas_kept_single_threaded)
{
    openblas_set_num_threads(2);
    if (openblas_get_num_threads() != 2) /* a build of OpenBLAS for one thread */
        return;
    TU_OK(mlp_set_num_threads(2));
    ck_assert_int_eq(openblas_get_num_threads(), 1);
    openblas_set_num_threads(2);
    mlp_model *m = NULL;
    TU_OK(mlp_model_create(&m, 1, (int32_t[]){4}, 1));
    ck_assert_int_eq(openblas_get_num_threads(), 1);
    mlp_model_destroy(m);
    TU_OK(mlp_set_num_threads(1));
}
END_TEST
#endif

static Suite *backend_suite(void)
{
    Suite *s = suite_create("backend");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, pool_ranges_cover_once);
    tcase_add_test(tc, pool_range_bounds);
    tcase_add_test(tc, pool_uses_workers);
    tcase_add_test(tc, pool_nested_stays_whole);
    tcase_add_test(tc, pool_concurrent_callers);
    tcase_add_test(tc, pool_start_failure_and_shutdown);
    tcase_add_test(tc, pool_after_fork);
    tcase_add_test(tc, pool_items_each_once);
    tcase_add_test(tc, pool_items_taken_from_a_held_up_part);
    tcase_add_test(tc, pool_items_nested_and_concurrent);
    tcase_add_test(tc, pool_items_without_workers);
    tcase_add_test(tc, pool_chunks_cover_once);
    tcase_add_test(tc, pool_chunks_taken_from_a_held_up_part);
    suite_add_tcase(s, tc);
    TCase *tk = tcase_create("kernels");
    tcase_add_test(tk, expf_vec_same_bits);
    tcase_add_test(tk, expf_low_end_is_zero);
    tcase_add_test(tk, sgemm_split_matches_naive);
    tcase_add_test(tk, sgemm_cuts_match_naive);
    tcase_add_test(tk, sgemm_parts_and_bias);
    tcase_add_test(tk, sgemm_k_split);
    tcase_add_test(tk, sgemm_beta0_ignores_c);
    tcase_add_test(tk, sgemm_nan_meets_zero);
    tcase_add_test(tk, sgemm_tile_copies_same_bits);
    tcase_add_test(tk, flush_denormals_off_by_default);
    tcase_add_test(tk, flush_denormals_on_and_off);
    tcase_add_test(tk, flush_denormals_off_whatever_the_creator_mode);
    tcase_add_test(tk, threads_one_by_default);
#ifdef MLPNET_HAVE_OPENBLAS
    tcase_add_test(tk, openblas_kept_single_threaded);
#endif
    tcase_set_timeout(tk, 300);
    suite_add_tcase(s, tk);
    return s;
}

TU_MAIN(backend_suite, 0)

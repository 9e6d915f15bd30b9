/*
 * The thread pool (pool.h). One job at a time: the caller publishes the
 * job and bumps a generation counter; worker k (1-based) runs part k of it
 * and counts the job's pending parts down; the caller runs part 0 and then
 * waits for the count to reach 0. Workers wait for the next generation by
 * spinning for about SPIN_SECONDS, then on a condition variable.
 *
 * A job of items (mlp__pool_items) gives each part a counter of its next
 * item, on a line of its own: a part takes its items by counting its own
 * counter up, then those of the others, so that an item is taken once
 * whichever threads count.
 */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "core/core.h"
#include "threads.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* How long an idle worker spins before it sleeps: long enough to span the
 * serial stretches of a training step, short enough to leave the core to
 * others soon after the library stops calling. */
#define SPIN_SECONDS 2e-4

static struct {
    pthread_mutex_t lock; /* guards sleeping workers, start and stop */
    pthread_cond_t wake;
    pthread_t *threads;
    int n_workers;        /* started and not yet joined */
    _Atomic int stop;     /* workers leave when set */
    atomic_flag busy;     /* a caller is running a job */
    _Atomic unsigned gen; /* job number */
    _Atomic int sleepers; /* workers waiting on `wake` */
    unsigned start_gen;   /* the generation before a new worker's first job */
    /* the job: a parallel-for (fn) or items (item_fn) */
    mlp__pool_fn fn;
    mlp__pool_item_fn item_fn;
    void *arg;
    int64_t n, align;
    int parts;
    /* written by the workers, read by the caller: a cache line of its own,
     * so the workers' count-down does not take the job's line away */
    _Alignas(64) _Atomic int pending; /* workers not done with the job */
    char pad[64 - sizeof(int)];
} pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .busy = ATOMIC_FLAG_INIT,
};

/* The items of part t of a job of items: the next one not yet taken
 * (counted up by whichever part takes it) and the end. */
static struct item_claim {
    _Alignas(64) _Atomic int64_t next;
    int64_t end;
} claims[MLP__POOL_ITEM_PARTS];

/* 1 on a thread that is running a part (worker or caller). */
static _Thread_local int in_part;

int mlp__pool_parts(int64_t n, int64_t grain)
{
    const int nt = mlp__threads();
    if (n <= 0 || nt <= 1)
        return 1;
    /* Inside a part the work is already split: a product or pass there
     * stays whole on its thread (conv2d's per-sample products). */
    if (in_part)
        return 1;
    if (grain < 1)
        grain = 1;
    const int64_t most = n / grain;
    return most < 1 ? 1 : most < nt ? (int)most : nt;
}

void mlp__pool_range(int64_t n, int parts, int64_t align, int t, int64_t *lo, int64_t *hi)
{
    if (align < 1)
        align = 1;
    /* bound(t) = round(n t / parts) to a multiple of align, clamped to n */
    int64_t b[2];
    for (int e = 0; e < 2; e++) {
        const int64_t k = t + e;
        if (k >= parts) {
            b[e] = n;
            continue;
        }
        const int64_t q = (n * k + parts / 2) / parts;
        int64_t r = (q + align / 2) / align * align;
        b[e] = r < n ? r : n;
    }
    *lo = b[0];
    *hi = b[1] > b[0] ? b[1] : b[0];
}

/* Part t of a job of items: its own items, then the others' not yet
 * taken, part after part. */
static void run_items(int t)
{
    const int parts = pool.parts;
    for (int k = 0; k < parts; k++) {
        struct item_claim *c = &claims[(t + k) % parts];
        for (;;) {
            const int64_t i =
                atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
            if (i >= c->end)
                break;
            pool.item_fn(pool.arg, i, t);
        }
    }
}

static void run_part(int t)
{
    if (pool.item_fn) {
        run_items(t);
        return;
    }
    int64_t lo, hi;
    mlp__pool_range(pool.n, pool.parts, pool.align, t, &lo, &hi);
    if (lo < hi)
        pool.fn(pool.arg, lo, hi);
}

/* Wait until the generation differs from `seen` (or stop); return it. */
static unsigned wait_job(unsigned seen)
{
    double t0 = 0.0;
    for (unsigned spins = 0;; spins++) {
        unsigned g = atomic_load(&pool.gen);
        if (g != seen || atomic_load(&pool.stop))
            return g;
        CPU_RELAX();
        if ((spins & 63) != 63)
            continue;
        if ((spins & 1023) == 1023)
            sched_yield(); /* let a thread without a core have this one */
        double t = mlp__now();
        if (t0 == 0.0)
            t0 = t;
        else if (t - t0 > SPIN_SECONDS)
            break;
    }
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add(&pool.sleepers, 1);
    unsigned g;
    while ((g = atomic_load(&pool.gen)) == seen && !atomic_load(&pool.stop))
        pthread_cond_wait(&pool.wake, &pool.lock);
    atomic_fetch_sub(&pool.sleepers, 1);
    pthread_mutex_unlock(&pool.lock);
    return g;
}

/* Worker k runs part k of every job with more than k parts. Every worker
 * counts every job down, so the caller writes the next job only once no
 * worker reads this one. `p` is k. */
static void *worker_main(void *p)
{
    const int part = (int)(intptr_t)p;
    unsigned seen = pool.start_gen;
    in_part = 1;
    for (;;) {
        seen = wait_job(seen);
        if (atomic_load(&pool.stop))
            return NULL;
        if (part < pool.parts) {
            mlp__fp_mode_sync();
            run_part(part);
        }
        atomic_fetch_sub(&pool.pending, 1);
    }
}

/* In the child of a fork only the forking thread exists: forget the
 * workers (the C library makes its allocator usable in the child) and
 * start afresh at the next parallel call. */
static void forget_workers_after_fork(void)
{
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    mlp__free(pool.threads);
    pool.threads = NULL;
    pool.n_workers = 0;
    atomic_store(&pool.sleepers, 0);
    atomic_store(&pool.stop, 0);
    atomic_flag_clear(&pool.busy);
    in_part = 0;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void register_atfork(void)
{
    (void)pthread_atfork(NULL, NULL, forget_workers_after_fork);
}

/* Start workers up to `want` (the caller holds the busy flag); 1 when at
 * least that many run. A failure leaves the ones started. */
static int ensure_workers(int want)
{
    if (pool.n_workers >= want)
        return 1;
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&pool.lock);
    pthread_t *th = mlp__alloc((size_t)want * sizeof *th);
    if (th) {
        for (int i = 0; i < pool.n_workers; i++)
            th[i] = pool.threads[i];
        mlp__free(pool.threads);
        pool.threads = th;
        pool.start_gen = atomic_load(&pool.gen);
        while (pool.n_workers < want &&
               pthread_create(&th[pool.n_workers], NULL, worker_main,
                              (void *)(intptr_t)(pool.n_workers + 1)) == 0)
            pool.n_workers++;
    }
    pthread_mutex_unlock(&pool.lock);
    return pool.n_workers >= want;
}

static void run_serial(int64_t n, int parts, int64_t align, mlp__pool_fn fn, void *arg)
{
    const int outer = in_part;
    in_part = 1;
    for (int t = 0; t < parts; t++) {
        int64_t lo, hi;
        mlp__pool_range(n, parts, align, t, &lo, &hi);
        if (lo < hi)
            fn(arg, lo, hi);
    }
    in_part = outer;
}

/* Take the pool for a job of `parts` parts: 1 with the busy flag held and
 * workers for the parts running; 0 when the caller must run the job alone
 * (from inside a part, the pool busy, workers that could not start). */
static int take_pool(int parts)
{
    if (in_part || atomic_flag_test_and_set(&pool.busy))
        return 0;
    if (!ensure_workers(parts - 1)) {
        atomic_flag_clear(&pool.busy);
        return 0;
    }
    return 1;
}

/* Publish the job written into `pool`, run its part 0, wait for the
 * others and give the pool back. */
static void run_job(void)
{
    atomic_store(&pool.pending, pool.n_workers);
    atomic_fetch_add(&pool.gen, 1); /* publishes the job (seq_cst) */
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    in_part = 1;
    run_part(0);
    in_part = 0;
    for (unsigned spins = 0; atomic_load(&pool.pending) > 0; spins++) {
        CPU_RELAX();
        if ((spins & 255) == 255)
            sched_yield(); /* a worker may be waiting for this core */
    }
    atomic_flag_clear(&pool.busy);
}

/* The parts of a job over [0, n) with `grain`, or 0 when there is none to
 * run on the pool: n <= 0, or one part, which this runs here, fn(arg, 0,
 * n). */
static int parts_of(int64_t n, int64_t grain, mlp__pool_fn fn, void *arg)
{
    if (n <= 0)
        return 0;
    const int parts = mlp__pool_parts(n, grain);
    if (parts == 1) {
        fn(arg, 0, n);
        return 0;
    }
    return parts;
}

void mlp__pool_for(int64_t n, int64_t grain, int64_t align, mlp__pool_fn fn, void *arg)
{
    const int parts = parts_of(n, grain, fn, arg);
    if (!parts)
        return;
    if (!take_pool(parts)) {
        run_serial(n, parts, align, fn, arg);
        return;
    }
    pool.fn = fn;
    pool.item_fn = NULL;
    pool.arg = arg;
    pool.n = n;
    pool.align = align;
    pool.parts = parts;
    run_job();
}

void mlp__pool_items(int64_t n, int most, mlp__pool_item_fn fn, void *arg)
{
    if (n <= 0)
        return;
    int parts = mlp__pool_parts(n, 1);
    if (most < parts)
        parts = most < 1 ? 1 : most;
    if (parts > MLP__POOL_ITEM_PARTS)
        parts = MLP__POOL_ITEM_PARTS;
    if (parts == 1) {
        for (int64_t i = 0; i < n; i++)
            fn(arg, i, 0);
        return;
    }
    if (!take_pool(parts)) { /* alone, as a part would run them */
        const int outer = in_part;
        in_part = 1;
        for (int64_t i = 0; i < n; i++)
            fn(arg, i, 0);
        in_part = outer;
        return;
    }
    for (int p = 0; p < parts; p++) {
        int64_t lo, hi;
        mlp__pool_range(n, parts, 1, p, &lo, &hi);
        atomic_store_explicit(&claims[p].next, lo, memory_order_relaxed);
        claims[p].end = hi;
    }
    pool.fn = NULL;
    pool.item_fn = fn;
    pool.arg = arg;
    pool.parts = parts;
    run_job();
}

typedef struct chunk_job {
    mlp__pool_fn fn;
    void *arg;
    int64_t n, align;
    int chunks;
} chunk_job;

static void chunk_item(void *arg, int64_t c, int slot)
{
    const chunk_job *j = arg;
    (void)slot;
    int64_t lo, hi;
    mlp__pool_range(j->n, j->chunks, j->align, (int)c, &lo, &hi);
    if (lo < hi)
        j->fn(j->arg, lo, hi);
}

void mlp__pool_chunks(int64_t n, int64_t grain, int64_t align, mlp__pool_fn fn, void *arg)
{
    const int parts = parts_of(n, grain, fn, arg);
    if (!parts)
        return;
    /* part t's items are chunks [t k, t k + k): mlp__pool_range of parts k
     * items over parts parts */
    const int64_t most = n / ((int64_t)parts * (align < 1 ? 1 : align));
    const int k = most < 1 ? 1 : most < MLP__POOL_CHUNKS ? (int)most : MLP__POOL_CHUNKS;
    chunk_job j = {fn, arg, n, align, parts * k};
    mlp__pool_items(j.chunks, parts, chunk_item, &j);
}

int mlp__pool_workers(void)
{
    return pool.n_workers;
}

void mlp__pool_shutdown(void)
{
    while (atomic_flag_test_and_set(&pool.busy))
        sched_yield();
    pthread_mutex_lock(&pool.lock);
    atomic_store(&pool.stop, 1);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    for (int i = 0; i < pool.n_workers; i++)
        pthread_join(pool.threads[i], NULL);
    mlp__free(pool.threads);
    pool.threads = NULL;
    pool.n_workers = 0;
    atomic_store(&pool.stop, 0);
    atomic_flag_clear(&pool.busy);
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((destructor)) static void pool_unload(void)
{
    mlp__pool_shutdown();
}
#endif

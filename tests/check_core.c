/*
 * Tests of include/mlpnet/status.h and version.h, and of the core room's
 * allocation-failure hook: status texts, the last-error message of a thread
 * that has not failed yet, the version functions, the thread count.
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "data/dataset_impl.h"
#include "testutil.h"

/* Each status has its own text, naming what went wrong. */
START_TEST(status_strings)
{
    static const struct {
        mlp_status st;
        const char *word;
    } want[] = {
        {MLP_STATUS_OK, "success"},
        {MLP_STATUS_INVALID_ARG, "argument"},
        {MLP_STATUS_NO_MEMORY, "memory"},
        {MLP_STATUS_SHAPE_MISMATCH, "shape"},
        {MLP_STATUS_IO, "input/output"},
        {MLP_STATUS_BAD_FORMAT, "format"},
        {MLP_STATUS_UNSUPPORTED, "unsupported"},
        {MLP_STATUS_NUMERIC, "NaN"},
        {MLP_STATUS_BAD_STATE, "state"},
        {MLP_STATUS_INTERNAL, "internal"},
    };
    const int n = (int)(sizeof want / sizeof want[0]);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq((int)want[i].st, i); /* the values are ABI */
        const char *s = mlp_status_str(want[i].st);
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(strstr(s, want[i].word) != NULL, "status %d: \"%s\" lacks \"%s\"",
                      i, s, want[i].word);
        for (int j = 0; j < i; j++)
            ck_assert_msg(strcmp(s, mlp_status_str(want[j].st)) != 0,
                          "statuses %d and %d share the text \"%s\"", j, i, s);
    }
    ck_assert_str_eq(mlp_status_str((mlp_status)10), "unknown status");
    ck_assert_str_eq(mlp_status_str((mlp_status)-1), "unknown status");
    ck_assert_str_eq(mlp_status_str((mlp_status)1000), "unknown status");
}
END_TEST

typedef struct thread_msgs {
    char before[512]; /* mlp_last_error() when the thread starts */
    char after[512];  /* after a failure on that thread */
} thread_msgs;

static void *thread_messages(void *arg)
{
    thread_msgs *m = arg;
    snprintf(m->before, sizeof m->before, "%s", mlp_last_error());
    mlp_tensor *t = NULL;
    mlp_tensor_create(&t, 1, NULL);
    snprintf(m->after, sizeof m->after, "%s", mlp_last_error());
    return NULL;
}

/* Before any failure the message is "" (checked on a fresh thread, so that
 * earlier tests in this process cannot have set it); a failure sets the
 * message of its own thread only, and a later success does not clear it. */
START_TEST(last_error_per_thread)
{
    mlp_tensor *t = NULL;
    TU_FAIL(mlp_tensor_create(&t, 0, NULL), MLP_STATUS_INVALID_ARG);
    char mine[512];
    snprintf(mine, sizeof mine, "%s", mlp_last_error());
    ck_assert_msg(strstr(mine, "mlp_tensor_create") != NULL, "\"%s\"", mine);

    thread_msgs m = {"not read", "not read"};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, thread_messages, &m), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_msg(m.before[0] == '\0',
                  "a fresh thread's mlp_last_error() is \"%s\", not \"\"", m.before);
    ck_assert_msg(strstr(m.after, "dims is NULL") != NULL, "\"%s\"", m.after);
    ck_assert_str_eq(mlp_last_error(), mine);

    TU_OK(mlp_tensor_create(&t, 1, (const int32_t[]){3}));
    ck_assert_str_eq(mlp_last_error(), mine);
    mlp_tensor_destroy(t);
}
END_TEST

/* Messages are printable UTF-8 text whatever they quote: each byte that
 * starts no character (invalid UTF-8, a sequence cut short) and each
 * control character becomes '?'; an argument may be the message itself. */
START_TEST(messages_are_printable_text)
{
    static const char *const cases[][2] = {
        {"plain", "plain"},
        {"\xc3\xa9t\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf",
         "\xc3\xa9t\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"},
        {"a\nb\tc\x1b[31m\x7f", "a?b?c?[31m?"},
        {"\xff\xfe", "??"},
        {"\xc2\x85", "??"},           /* C1 control U+0085 */
        {"\xc2\xa0", "\xc2\xa0"},     /* U+00A0, the first after C1 */
        {"\xc0\xaf", "??"},           /* overlong */
        {"\xed\xa0\x80", "???"},      /* surrogate */
        {"\xf4\x90\x80\x80", "????"}, /* past U+10FFFF */
        {"x\xe6\x97", "x??"},         /* cut short */
        {"\xe6\x97y", "??y"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        ck_assert_int_eq(mlp__error(MLP_STATUS_BAD_FORMAT, "%s", cases[k][0]),
                         MLP_STATUS_BAD_FORMAT);
        ck_assert_msg(strcmp(mlp_last_error(), cases[k][1]) == 0, "case %zu: \"%s\"", k,
                      mlp_last_error());
    }
    /* the message quoting itself */
    mlp__error(MLP_STATUS_IO, "inner \xc3\xa9");
    mlp__error(MLP_STATUS_IO, "outer: %s: %s", mlp_last_error(), mlp_last_error());
    ck_assert_str_eq(mlp_last_error(), "outer: inner \xc3\xa9: inner \xc3\xa9");
    /* cut by the buffer: no half character at the end */
    char longer[1200];
    for (size_t i = 0; i + 2 < sizeof longer; i += 2)
        memcpy(longer + i, "\xc3\xa9", 2);
    longer[sizeof longer - 2] = '\0';
    mlp__error(MLP_STATUS_IO, "xy%s", longer); /* 511 bytes: 2 + 254 pairs + 1 */
    const char *m = mlp_last_error();
    const size_t len = strlen(m);
    ck_assert_uint_eq(len, 511);
    ck_assert(m[0] == 'x' && m[1] == 'y');
    for (size_t i = 2; i + 1 < len; i += 2)
        ck_assert_msg((unsigned char)m[i] == 0xc3 && (unsigned char)m[i + 1] == 0xa9,
                      "byte %zu", i);
    ck_assert_msg(m[len - 1] == '?', "ends in half a character: 0x%02x",
                  (unsigned char)m[len - 1]);
    /* a public call's message quoting a CSV field of invalid UTF-8 */
    mlp_csv_options o;
    TU_OK(mlp_csv_options_init(&o));
    o.task = MLP_CSV_CLASSIFY;
    o.class_names = (const char *const[]){"a", "b"};
    o.num_class_names = 2;
    mlp_dataset *ds = NULL;
    TU_FAIL(mlp__dataset_load_csv_mem(&ds, "x,y\n\xff\xfe,a\n", 9, "t.csv", &o),
            MLP_STATUS_BAD_FORMAT);
    TU_ERROR_HAS("t.csv:2:1 (x): \"??\" is not a number");
    for (const unsigned char *p = (const unsigned char *)mlp_last_error(); *p; p++)
        ck_assert_msg(*p >= 0x20 && *p < 0x7f, "byte 0x%02x in \"%s\"", *p,
                      mlp_last_error());
}
END_TEST

/* The loaded library is the one the headers describe. */
START_TEST(version_functions)
{
    ck_assert_int_eq(mlp_version_number(), MLPNET_VERSION_NUMBER);
    ck_assert_int_eq(MLPNET_VERSION_NUMBER, MLPNET_VERSION_MAJOR * 10000 +
                                                MLPNET_VERSION_MINOR * 100 +
                                                MLPNET_VERSION_PATCH);
    ck_assert_str_eq(mlp_version_string(), MLPNET_VERSION_STRING);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", MLPNET_VERSION_MAJOR, MLPNET_VERSION_MINOR,
             MLPNET_VERSION_PATCH);
    ck_assert_str_eq(mlp_version_string(), want);
}
END_TEST

/* mlp__alloc_fail_after(n): the n-th allocation from now fails, not the
 * one after. A wrapped tensor makes exactly one allocation. */
START_TEST(alloc_fail_after_counts_exactly)
{
    float data[4];
    const int32_t dims[1] = {4};
    mlp_tensor *t = NULL;
    mlp__alloc_fail_after(1);
    TU_FAIL(mlp_tensor_wrap(&t, 1, dims, data), MLP_STATUS_NO_MEMORY);
    ck_assert_ptr_null(t);
    TU_OK(mlp_tensor_wrap(&t, 1, dims, data)); /* the hook fired once */
    mlp_tensor_destroy(t);
    mlp__alloc_fail_after(2);
    TU_OK(mlp_tensor_wrap(&t, 1, dims, data));
    mlp_tensor_destroy(t);
    mlp_tensor *u = NULL;
    TU_FAIL(mlp_tensor_wrap(&u, 1, dims, data), MLP_STATUS_NO_MEMORY);
    mlp__alloc_fail_after(0);
}
END_TEST

/* mlp__alloc_big: small blocks as mlp__alloc (64-byte aligned), large ones
 * 2 MiB-aligned and usable to their last byte; both counted as live blocks
 * and subject to the injected failures. */
START_TEST(alloc_big_blocks)
{
    const long live = mlp__alloc_live();
    const size_t sizes[] = {0, 100, ((size_t)8 << 20) - 1, (size_t)8 << 20,
                            ((size_t)9 << 20) + 3};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = mlp__alloc_big(sizes[i]);
        ck_assert_ptr_nonnull(p);
        const uintptr_t align = sizes[i] >= ((size_t)8 << 20) ? (uintptr_t)2 << 20 : 64;
        ck_assert_msg((uintptr_t)p % align == 0, "%zu bytes at %p: not %lu-aligned",
                      sizes[i], (void *)p, (unsigned long)align);
        if (sizes[i]) {
            memset(p, 0xA5, sizes[i]);
            ck_assert_int_eq(p[sizes[i] - 1], 0xA5);
        }
        ck_assert_int_eq(mlp__alloc_live(), live + 1);
        mlp__free(p);
    }
    ck_assert_int_eq(mlp__alloc_live(), live);
    mlp__alloc_fail_after(1);
    ck_assert_ptr_null(mlp__alloc_big((size_t)16 << 20));
    ck_assert_str_ne(mlp_last_error(), "");
    mlp__alloc_fail_after(0);
    ck_assert_ptr_null(mlp__alloc_big(SIZE_MAX - 5)); /* beyond PTRDIFF_MAX */
    ck_assert_ptr_null(mlp__alloc((size_t)PTRDIFF_MAX + 1));
    ck_assert_ptr_nonnull(strstr(mlp_last_error(), "bytes requested"));
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

/* A count times a size past SIZE_MAX is refused, not wrapped: 2^63 x 4
 * bytes is 0 modulo 2^64, and 2^62 + 1 blocks of 4 bytes would be 4. */
START_TEST(calloc_product_overflows)
{
    long live = mlp__alloc_live();
    const size_t half = SIZE_MAX / 2 + 1, quarter = SIZE_MAX / 4 + 1;
    ck_assert_ptr_null(mlp__calloc(half, 4));
    ck_assert_ptr_nonnull(strstr(mlp_last_error(), "overflows"));
    ck_assert_ptr_null(mlp__calloc(quarter + 1, 4));
    ck_assert_ptr_nonnull(strstr(mlp_last_error(), "overflows"));
    ck_assert_ptr_null(mlp__calloc(4, quarter + 1));
    ck_assert_int_eq(mlp__alloc_live(), live);
    /* and a product that fits is a zeroed block of that size */
    unsigned char *p = mlp__calloc(3, 5);
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < 15; i++)
        ck_assert_int_eq(p[i], 0);
    mlp__free(p);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

#if defined(__SANITIZE_ADDRESS__)
#define CORE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORE_ASAN 1
#endif
#endif

#ifdef CORE_ASAN
/* A block ends at its size, not at the next multiple of its alignment, so
 * that AddressSanitizer reports a write just past it: this one ends the
 * (forked) test with ASan's exit status, 1. While blocks were rounded up to
 * 64 bytes, the CSV reader's record buffer made 2 bytes shorter (too short
 * by one for a file under 1 MiB) passed the csv suite under ASan; it fails
 * now. The report goes to /dev/null: it is expected. */
START_TEST(alloc_end_is_exact)
{
    volatile unsigned char *p = mlp__alloc(1);
    ck_assert_ptr_nonnull((void *)p);
    FILE *null = fopen("/dev/null", "w");
    if (null)
        dup2(fileno(null), 2);
    p[1] = 1;
    mlp__free((void *)p);
}
END_TEST
#endif

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, status_strings);
    tcase_add_test(tc, last_error_per_thread);
    tcase_add_test(tc, messages_are_printable_text);
    tcase_add_test(tc, version_functions);
    tcase_add_test(tc, alloc_fail_after_counts_exactly);
    tcase_add_test(tc, alloc_big_blocks);
    tcase_add_test(tc, calloc_product_overflows);
#ifdef CORE_ASAN
    /* an exit test needs the fork of each test (CK_FORK=no runs in one
     * process) */
    const char *fork_mode = getenv("CK_FORK");
    if (!fork_mode || strcmp(fork_mode, "no") != 0)
        tcase_add_exit_test(tc, alloc_end_is_exact, 1);
#endif
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(core_suite, 0)

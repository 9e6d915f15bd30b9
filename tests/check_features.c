/*
 * Tests of feature names (lib/model/features.c and the dataset's names in
 * lib/data/): the setters' rules, the names a CSV header gives, the copy a
 * fit takes, the refusal of data whose columns are in another order, and
 * the names in the model file.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "data/dataset_impl.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------- */

/* A class dataset of n rows of f features (values from a seed), labels
 * i % k. */
static mlp_dataset *rows(int32_t n, int32_t f, int32_t k, uint64_t seed)
{
    float x[64 * 8];
    int32_t lab[64];
    ck_assert(n <= 64 && f <= 8);
    tu_rng r;
    tu_rng_seed(&r, seed);
    tu_fill_uniform(&r, x, (int64_t)n * f, -1, 1);
    for (int32_t i = 0; i < n; i++)
        lab[i] = i % k;
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create_f32(&ds, n, 1, (int32_t[]){f}, x, lab, k, MLP_DATASET_COPY));
    return ds;
}

static mlp_dataset *csv(const char *text, const mlp_csv_options *o)
{
    mlp_dataset *ds = NULL;
    TU_OK(mlp__dataset_load_csv_mem(&ds, text, strlen(text), "t.csv", o));
    return ds;
}

static void csv_opts(mlp_csv_options *o, const char *target)
{
    TU_OK(mlp_csv_options_init(o));
    o->task = MLP_CSV_CLASSIFY;
    o->target_name = target;
}

/* The dataset's feature names are exactly `want` (n of them), or none when
 * want is NULL. */
static void assert_names(const mlp_dataset *ds, const char *const *want, int32_t n)
{
    if (!want) {
        ck_assert_ptr_null(mlp_dataset_feature_name(ds, 0));
        return;
    }
    for (int32_t j = 0; j < n; j++) {
        const char *got = mlp_dataset_feature_name(ds, j);
        ck_assert_msg(got && strcmp(got, want[j]) == 0, "feature %d: \"%s\", want \"%s\"",
                      (int)j, got ? got : "(null)", want[j]);
    }
    ck_assert_ptr_null(mlp_dataset_feature_name(ds, n));
    ck_assert_ptr_null(mlp_dataset_feature_name(ds, -1));
}

static mlp_model *linear(int32_t in, int32_t out, uint64_t seed)
{
    mlp_model *m = tu_model(1, (int32_t[]){in}, seed);
    tu_add(m, tu_dense(out));
    return m;
}

typedef struct oom_names {
    mlp_dataset *ds;
    mlp_model *m;
    const char *const *names;
    int32_t f;
} oom_names;

static mlp_status try_dataset_names(void *ctx)
{
    const oom_names *c = ctx;
    return mlp_dataset_set_feature_names(c->ds, c->names, c->f);
}

static mlp_status try_model_names(void *ctx)
{
    const oom_names *c = ctx;
    return mlp_model_set_feature_names(c->m, c->names, c->f);
}

/* A failure keeps the old names ("a", "b", "c"). */
static void kept(void *ctx, mlp_status st)
{
    const oom_names *c = ctx;
    const char *got =
        c->ds ? mlp_dataset_feature_name(c->ds, 2) : mlp_model_feature_name(c->m, 2);
    ck_assert_str_eq(got, st == MLP_STATUS_OK ? c->names[2] : "c");
}

/* ---- the setters ------------------------------------------------------------ */

START_TEST(dataset_setter_rules)
{
    mlp_dataset *ds = rows(4, 3, 2, 1);
    const char *const abc[3] = {"a", "b", "c"};
    assert_names(ds, NULL, 0);
    ck_assert_ptr_null(mlp_dataset_feature_name(NULL, 0));
    TU_FAIL_MSG(mlp_dataset_set_feature_names(NULL, abc, 3), MLP_STATUS_INVALID_ARG,
                "mlp_dataset_set_feature_names: ds is NULL");
    TU_FAIL_MSG(mlp_dataset_set_feature_names(ds, abc, 2), MLP_STATUS_INVALID_ARG,
                "f = 2 must be 0 or the sample size 3");
    TU_FAIL_MSG(mlp_dataset_set_feature_names(ds, NULL, 3), MLP_STATUS_INVALID_ARG,
                "names is NULL but f is not 0");
    TU_FAIL_MSG(mlp_dataset_set_feature_names(ds, (const char *[]){"a", NULL, "c"}, 3),
                MLP_STATUS_INVALID_ARG, "names[1] is NULL");
    TU_FAIL_MSG(mlp_dataset_set_feature_names(ds, (const char *[]){"a", "b", ""}, 3),
                MLP_STATUS_INVALID_ARG, "names[2] has 0 bytes (1..255 allowed)");
    TU_FAIL_MSG(mlp_dataset_set_feature_names(ds, (const char *[]){"a\nb", "b", "c"}, 3),
                MLP_STATUS_INVALID_ARG, "names[0] holds a control character");
    TU_FAIL_MSG(mlp_dataset_set_feature_names(ds, (const char *[]){"a", "\xff", "c"}, 3),
                MLP_STATUS_INVALID_ARG, "names[1] is not valid UTF-8");
    TU_FAIL_MSG(mlp_dataset_set_feature_names(ds, (const char *[]){"a", "b", "a"}, 3),
                MLP_STATUS_INVALID_ARG, "names[0] and names[2] are both \"a\"");
    char big[257];
    memset(big, 'x', 256);
    big[256] = '\0';
    TU_FAIL_MSG(mlp_dataset_set_feature_names(ds, (const char *[]){"a", big, "c"}, 3),
                MLP_STATUS_INVALID_ARG, "names[1] has 256 bytes (1..255 allowed)");
    assert_names(ds, NULL, 0);
    big[255] = '\0';
    TU_OK(mlp_dataset_set_feature_names(
        ds, (const char *[]){"a", big, "\xc3\xa9t\xc3\xa9"}, 3));
    ck_assert_str_eq(mlp_dataset_feature_name(ds, 1), big);
    TU_OK(mlp_dataset_set_feature_names(ds, abc, 3));
    assert_names(ds, abc, 3);

    /* copies keep them */
    mlp_dataset *a = NULL, *b = NULL, *sub = NULL;
    TU_OK(mlp_dataset_split(ds, 1, &a, &b));
    TU_OK(mlp_dataset_subset(ds, (const int32_t[]){3, 0}, 2, &sub));
    assert_names(a, abc, 3);
    assert_names(b, abc, 3);
    assert_names(sub, abc, 3);

    /* out of memory: refused, the old names kept */
    oom_names c = {.ds = ds, .names = (const char *[]){"x", "y", "z"}, .f = 3};
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.after = kept;
    tu_oom_loop("mlp_dataset_set_feature_names", try_dataset_names, &c, &cfg);
    TU_OK(mlp_dataset_set_feature_names(ds, NULL, 0));
    assert_names(ds, NULL, 0);
    mlp_dataset_destroy(a);
    mlp_dataset_destroy(b);
    mlp_dataset_destroy(sub);
    mlp_dataset_destroy(ds);
}
END_TEST

START_TEST(model_setter_rules)
{
    mlp_model *m = linear(3, 2, 1);
    const char *const abc[3] = {"a", "b", "c"};
    ck_assert_int_eq(mlp_model_feature_count(m), 0);
    ck_assert_int_eq(mlp_model_feature_count(NULL), 0);
    ck_assert_ptr_null(mlp_model_feature_name(m, 0));
    ck_assert_ptr_null(mlp_model_feature_name(NULL, 0));
    TU_FAIL_MSG(mlp_model_set_feature_names(NULL, abc, 3), MLP_STATUS_INVALID_ARG,
                "mlp_model_set_feature_names: model is NULL");
    TU_FAIL_MSG(mlp_model_set_feature_names(m, abc, 2), MLP_STATUS_INVALID_ARG,
                "2 names for a model whose input has 3 values");
    TU_FAIL_MSG(mlp_model_set_feature_names(m, NULL, 3), MLP_STATUS_INVALID_ARG,
                "names is NULL but f is not 0");
    TU_FAIL_MSG(mlp_model_set_feature_names(m, (const char *[]){"a", "b", NULL}, 3),
                MLP_STATUS_INVALID_ARG, "names[2] is NULL");
    TU_FAIL_MSG(mlp_model_set_feature_names(m, (const char *[]){"a", "b", "\x7f"}, 3),
                MLP_STATUS_INVALID_ARG, "names[2] holds a control character");
    TU_FAIL_MSG(mlp_model_set_feature_names(m, (const char *[]){"a", "b", "b"}, 3),
                MLP_STATUS_INVALID_ARG, "names[1] and names[2] are both \"b\"");
    ck_assert_int_eq(mlp_model_feature_count(m), 0);
    TU_OK(mlp_model_set_feature_names(m, abc, 3));
    ck_assert_int_eq(mlp_model_feature_count(m), 3);
    ck_assert_str_eq(mlp_model_feature_name(m, 2), "c");
    ck_assert_ptr_null(mlp_model_feature_name(m, 3));
    ck_assert_ptr_null(mlp_model_feature_name(m, -1));

    /* an image model names its pixels in row-major order: any input shape */
    mlp_model *img = tu_model(3, (int32_t[]){1, 1, 2}, 2);
    tu_add(img, tu_flatten());
    tu_add(img, tu_dense(2));
    TU_OK(mlp_model_set_feature_names(img, (const char *[]){"left", "right"}, 2));
    mlp_model_destroy(img);

    oom_names c = {.m = m, .names = (const char *[]){"x", "y", "z"}, .f = 3};
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.after = kept;
    tu_oom_loop("mlp_model_set_feature_names", try_model_names, &c, &cfg);
    TU_OK(mlp_model_set_feature_names(m, NULL, 0));
    ck_assert_int_eq(mlp_model_feature_count(m), 0);
    mlp_model_destroy(m);
}
END_TEST

/* ---- names from a CSV header ------------------------------------------------ */

START_TEST(csv_header_gives_the_feature_names)
{
    mlp_csv_options o;
    csv_opts(&o, "species");
    mlp_dataset *ds = csv("width,species,height,\xc3\xa2ge\n1,a,2,3\n4,b,5,6\n", &o);
    assert_names(ds, (const char *const[]){"width", "height", "\xc3\xa2ge"}, 3);
    mlp_dataset_destroy(ds);

    /* a feature list: its order */
    o.feature_names = (const char *const[]){"height", "width"};
    o.num_features = 2;
    ds = csv("width,species,height,age\n1,a,2,3\n4,b,5,6\n", &o);
    assert_names(ds, (const char *const[]){"height", "width"}, 2);
    mlp_dataset_destroy(ds);
    o.feature_names = NULL;
    o.feature_indices = (const int32_t[]){3, 0};
    ds = csv("width,species,height,age\n1,a,2,3\n4,b,5,6\n", &o);
    assert_names(ds, (const char *const[]){"age", "width"}, 2);
    mlp_dataset_destroy(ds);
    /* columns left out may share a name */
    ds = csv("width,species,x,age,x\n1,a,2,3,0\n4,b,5,6,0\n", &o);
    assert_names(ds, (const char *const[]){"age", "width"}, 2);
    mlp_dataset_destroy(ds);
    o.feature_indices = NULL;
    o.num_features = 0;

    /* rows to predict, with a target column left out */
    o.task = MLP_CSV_FEATURES_ONLY;
    ds = csv("width,species,height\n1,,2\n", &o);
    assert_names(ds, (const char *const[]){"width", "height"}, 2);
    mlp_dataset_destroy(ds);
    o.task = MLP_CSV_CLASSIFY;

    /* headers that name no feature list: none, and the file still loads */
    static const char *const unnamed[] = {
        "w,species,w\n1,a,2\n",        /* two features share a name */
        "w,species,\n1,a,2\n",         /* an empty name */
        "w,species,\"a\tb\"\n1,a,2\n", /* a control character */
        "w,species,\"\xc3\"\n1,a,2\n", /* not UTF-8 */
    };
    for (size_t k = 0; k < sizeof unnamed / sizeof *unnamed; k++) {
        ds = csv(unnamed[k], &o);
        assert_names(ds, NULL, 0);
        mlp_dataset_destroy(ds);
    }
    char text[600];
    snprintf(text, sizeof text, "w,species,%0256d\n1,a,2\n", 0); /* 256 bytes */
    ds = csv(text, &o);
    assert_names(ds, NULL, 0);
    mlp_dataset_destroy(ds);
    /* no header: no names */
    o.header = 0;
    o.target_name = NULL;
    ds = csv("1,2,a\n3,4,b\n", &o);
    assert_names(ds, NULL, 0);
    mlp_dataset_destroy(ds);
}
END_TEST

/* ---- fit and evaluate --------------------------------------------------------- */

START_TEST(fit_takes_the_names_and_data_must_match_them)
{
    const char *const ab[2] = {"a", "b"}, *const ba[2] = {"b", "a"},
                      *const ax[2] = {"a", "x"};
    mlp_dataset *train = rows(8, 2, 2, 1), *test = rows(8, 2, 2, 2);
    TU_OK(mlp_dataset_set_feature_names(train, ab, 2));
    mlp_model *m = linear(2, 2, 3);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    mlp_fit_options f;
    TU_OK(mlp_fit_options_init(&f));
    f.epochs = 1;
    f.batch_size = 4;
    float before[6], after[6];
    TU_OK(mlp_model_get_params(m, before, 6));

    /* without model names, the validation set against the training set;
     * a refused fit leaves the model as it was, without names */
    TU_OK(mlp_dataset_set_feature_names(test, ba, 2));
    TU_FAIL_MSG(mlp_model_fit(m, o, train, test, &f), MLP_STATUS_INVALID_ARG,
                "mlp_model_fit: feature 0 of the validation set is \"b\", which is "
                "feature 1 of the training set: its columns are in another order (read "
                "its file with the training set's feature names as "
                "mlp_csv_options.feature_names, which takes the columns in that order)");
    TU_OK(mlp_model_get_params(m, after, 6));
    ck_assert(memcmp(before, after, sizeof before) == 0);
    ck_assert_int_eq(mlp_model_feature_count(m), 0);

    /* a fit gives the model the training set's names */
    TU_OK(mlp_model_fit(m, o, train, NULL, &f));
    ck_assert_int_eq(mlp_model_feature_count(m), 2);
    ck_assert_str_eq(mlp_model_feature_name(m, 0), "a");
    ck_assert_str_eq(mlp_model_feature_name(m, 1), "b");
    double e;
    mlp_metrics mt;
    TU_OK(mlp_model_evaluate(m, train, 4, &e, NULL));
    TU_FAIL_MSG(mlp_model_evaluate(m, test, 4, &e, NULL), MLP_STATUS_INVALID_ARG,
                "mlp_model_evaluate: feature 0 of the dataset is \"b\", which is feature "
                "1 of the model: its columns are in another order");
    TU_FAIL_MSG(mlp_model_evaluate_metrics(m, test, 4, &mt), MLP_STATUS_INVALID_ARG,
                "mlp_model_evaluate_metrics: feature 0 of the dataset");
    TU_OK(mlp_model_get_params(m, before, 6));
    TU_FAIL_MSG(mlp_model_fit(m, o, test, NULL, &f), MLP_STATUS_INVALID_ARG,
                "mlp_model_fit: feature 0 of the training set is \"b\", which is "
                "feature 1 of the model");
    TU_FAIL_MSG(mlp_model_fit(m, o, train, test, &f), MLP_STATUS_INVALID_ARG,
                "mlp_model_fit: feature 0 of the validation set is \"b\", which is "
                "feature 1 of the model");
    TU_OK(mlp_model_get_params(m, after, 6));
    ck_assert(memcmp(before, after, sizeof before) == 0);

    /* a name the model does not have */
    TU_OK(mlp_dataset_set_feature_names(test, ax, 2));
    TU_FAIL_MSG(mlp_model_evaluate(m, test, 4, &e, NULL), MLP_STATUS_INVALID_ARG,
                "mlp_model_evaluate: feature 1 of the dataset is \"x\", a name the model "
                "does not have (its feature 1 is \"b\"); remove the set's names "
                "(mlp_dataset_set_feature_names with NULL, 0) to use its columns as "
                "they are");
    /* sets without names are not compared; nor is a model without names */
    TU_OK(mlp_dataset_set_feature_names(test, NULL, 0));
    TU_OK(mlp_model_evaluate(m, test, 4, &e, NULL));
    TU_OK(mlp_dataset_set_feature_names(test, ba, 2));
    TU_OK(mlp_model_set_feature_names(m, NULL, 0));
    TU_OK(mlp_model_evaluate(m, test, 4, &e, NULL));
    /* names the model has stay through a fit */
    TU_OK(mlp_model_set_feature_names(m, ba, 2));
    TU_OK(mlp_model_fit(m, o, test, NULL, &f));
    ck_assert_str_eq(mlp_model_feature_name(m, 0), "b");

    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(train);
    mlp_dataset_destroy(test);
}
END_TEST

/* A test table with its columns in another order: refused as it is read,
 * and read with the model's names as the feature list, scored exactly as
 * the table in the training order. */
START_TEST(columns_in_another_order_read_by_name)
{
    const char *train_csv = "p,q,r,y\n"
                            "0.1,0.9,0.3,a\n0.8,0.2,0.5,b\n0.3,0.7,0.1,a\n0.9,0.1,0.6,b\n"
                            "0.2,0.8,0.2,a\n0.7,0.3,0.4,b\n";
    const char *moved_csv = "r,y,q,p\n"
                            "0.3,a,0.9,0.1\n0.5,b,0.2,0.8\n0.1,a,0.7,0.3\n0.6,b,0.1,0.9\n"
                            "0.2,a,0.8,0.2\n0.4,b,0.3,0.7\n";
    mlp_csv_options o;
    csv_opts(&o, "y");
    mlp_dataset *train = csv(train_csv, &o);
    mlp_model *m = tu_model(1, (int32_t[]){3}, 5);
    tu_add(m, tu_dense(4));
    tu_add(m, tu_tanh());
    tu_add(m, tu_dense(2));
    mlp_optimizer *opt = NULL;
    TU_OK(mlp_optimizer_create(&opt, MLP_RULE_SGD, m));
    TU_OK(mlp_optimizer_set_learning_rate(opt, 0.5));
    mlp_fit_options f;
    TU_OK(mlp_fit_options_init(&f));
    f.epochs = 20;
    f.batch_size = 3;
    TU_OK(mlp_model_fit(m, opt, train, NULL, &f));
    double want, got;
    TU_OK(mlp_model_evaluate(m, train, 6, &want, NULL));

    mlp_dataset *moved = csv(moved_csv, &o);
    TU_FAIL_MSG(mlp_model_evaluate(m, moved, 6, &got, NULL), MLP_STATUS_INVALID_ARG,
                "feature 0 of the dataset is \"r\", which is feature 2 of the model");
    mlp_dataset_destroy(moved);
    const char *names[3];
    for (int32_t j = 0; j < 3; j++)
        names[j] = mlp_model_feature_name(m, j);
    o.feature_names = names;
    o.num_features = 3;
    o.class_names = (const char *const[]){"a", "b"};
    o.num_class_names = 2;
    moved = csv(moved_csv, &o);
    TU_OK(mlp_model_evaluate(m, moved, 6, &got, NULL));
    ck_assert_msg(got == want, "loss %.9g, in the training order %.9g", got, want);

    /* standardisation statistics belong to columns too */
    mlp_model *s = tu_model(1, (int32_t[]){3}, 5);
    mlp_layer *st = NULL;
    TU_OK(mlp_layer_create_standardize(&st));
    tu_add(s, st);
    tu_add(s, tu_dense(2));
    TU_OK(mlp_model_set_feature_names(s, (const char *const[]){"q", "p", "r"}, 3));
    TU_FAIL_MSG(mlp_model_fit_standardize(s, train), MLP_STATUS_INVALID_ARG,
                "mlp_model_fit_standardize: feature 0 of the dataset is \"p\", which is "
                "feature 1 of the model");
    mlp_model_destroy(s);

    mlp_optimizer_destroy(opt);
    mlp_model_destroy(m);
    mlp_dataset_destroy(train);
    mlp_dataset_destroy(moved);
}
END_TEST

typedef struct std_ctx {
    mlp_model *m;
    const mlp_dataset *ds;
} std_ctx;

static mlp_status try_standardize(void *ctx)
{
    const std_ctx *c = ctx;
    return mlp_model_fit_standardize(c->m, c->ds);
}

/* A failed standardisation takes no names; a success takes the set's. */
static void names_with_statistics(void *ctx, mlp_status st)
{
    const std_ctx *c = ctx;
    ck_assert_int_eq(mlp_model_feature_count(c->m), st == MLP_STATUS_OK ? 3 : 0);
}

/* The statistics of a standardisation belong to the columns they were
 * taken from: a model without names takes the set's with them, so that a
 * fit on the columns in another order is refused. */
START_TEST(standardize_takes_the_names)
{
    mlp_dataset *ds = rows(8, 3, 2, 1), *moved = NULL;
    TU_OK(mlp_dataset_set_feature_names(ds, (const char *const[]){"p", "q", "r"}, 3));
    TU_OK(mlp_dataset_subset(ds, (const int32_t[]){0, 1, 2, 3, 4, 5, 6, 7}, 8, &moved));
    TU_OK(mlp_dataset_set_feature_names(moved, (const char *const[]){"r", "q", "p"}, 3));
    mlp_model *m = tu_model(1, (int32_t[]){3}, 5);
    mlp_layer *st = NULL;
    TU_OK(mlp_layer_create_standardize(&st));
    tu_add(m, st);
    tu_add(m, tu_dense(2));
    std_ctx c = {m, moved};
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.after = names_with_statistics;
    cfg.keep_on_ok = 1; /* the names it took stay with the model */
    tu_oom_loop("mlp_model_fit_standardize", try_standardize, &c, &cfg);
    ck_assert_str_eq(mlp_model_feature_name(m, 0), "r");
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    mlp_fit_options f;
    TU_OK(mlp_fit_options_init(&f));
    f.epochs = 1;
    TU_FAIL_MSG(
        mlp_model_fit(m, o, ds, NULL, &f), MLP_STATUS_INVALID_ARG,
        "mlp_model_fit: feature 0 of the training set is \"p\", which is feature 2 "
        "of the model");
    /* a set without names leaves a model without names as it was */
    TU_OK(mlp_model_set_feature_names(m, NULL, 0));
    TU_OK(mlp_dataset_set_feature_names(ds, NULL, 0));
    TU_OK(mlp_model_fit_standardize(m, ds));
    ck_assert_int_eq(mlp_model_feature_count(m), 0);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(ds);
    mlp_dataset_destroy(moved);
}
END_TEST

/* Long names are cut in messages with a mark, at a character's end, so two
 * names that differ late are not shown as one; blanks around a header name
 * show. */
START_TEST(messages_show_names_apart)
{
    char a[120], b[120];
    memset(a, 'x', 100);
    memcpy(a + 76, "\xc3\xa9", 2); /* a character across the cut at 77 */
    memcpy(a + 100, "2023", 5);
    memcpy(b, a, sizeof a);
    memcpy(b + 100, "2024", 5);
    mlp_dataset *ds = rows(4, 2, 2, 1);
    mlp_model *m = linear(2, 2, 1);
    TU_OK(mlp_model_set_feature_names(m, (const char *const[]){"p", a}, 2));
    TU_OK(mlp_dataset_set_feature_names(ds, (const char *const[]){"p", b}, 2));
    char want[300];
    snprintf(want, sizeof want, "feature 1 of the dataset is \"%.76s...\", a name",
             b); /* 76 bytes: the character is left out whole */
    double e;
    TU_FAIL_MSG(mlp_model_evaluate(m, ds, 4, &e, NULL), MLP_STATUS_INVALID_ARG, want);
    snprintf(want, sizeof want, "(its feature 1 is \"%.76s...\")", a);
    TU_ERROR_HAS(want);
    /* a name of 80 bytes is shown whole */
    a[80] = b[80] = '\0';
    b[79] = 'y';
    TU_OK(mlp_model_set_feature_names(m, (const char *const[]){"p", a}, 2));
    TU_OK(mlp_dataset_set_feature_names(ds, (const char *const[]){"p", b}, 2));
    snprintf(want, sizeof want,
             "is \"%s\", a name the model does not have (its feature "
             "1 is \"%s\")",
             b, a);
    TU_FAIL_MSG(mlp_model_evaluate(m, ds, 4, &e, NULL), MLP_STATUS_INVALID_ARG, want);
    mlp_model_destroy(m);
    mlp_dataset_destroy(ds);

    mlp_csv_options o;
    csv_opts(&o, "y");
    TU_FAIL_MSG(mlp__dataset_load_csv_mem(&ds, "a, b,,c \n1,2,3,4\n", 17, "t.csv", &o),
                MLP_STATUS_BAD_FORMAT,
                "t.csv:1: no target column named \"y\" (the header's: a, \" b\", \"\", "
                "\"c \")");
    o.target_name = a;
    TU_FAIL_MSG(mlp__dataset_load_csv_mem(&ds, "a,b\n1,2\n", 8, "t.csv", &o),
                MLP_STATUS_BAD_FORMAT, "no target column named \"xxxxxxxx");
    TU_ERROR_HAS("\xc3\xa9xx\" (the header's: a, b)"); /* 80 bytes: whole */
}
END_TEST

/* ---- the model file ----------------------------------------------------------- */

START_TEST(file_keeps_the_names)
{
    mlp_model *m = linear(3, 2, 1);
    void *buf = NULL;
    size_t len = 0;
    mlp_model *back = NULL;
    /* without names: no record */
    TU_OK(mlp_model_save_mem(m, &buf, &len));
    ck_assert_uint_eq(tu_find_record(buf, len, "ftrn", 0), 0);
    mlp_buffer_free(buf);
    const char *const names[3] = {"\xc3\xa2ge", "b\"q", "c"};
    TU_OK(mlp_model_set_feature_names(m, names, 3));
    TU_OK(mlp_model_save_mem(m, &buf, &len));
    ck_assert_uint_ne(tu_find_record(buf, len, "ftrn", 0), 0);
    TU_OK(mlp_model_load_mem(&back, buf, len));
    ck_assert_int_eq(mlp_model_feature_count(back), 3);
    for (int32_t j = 0; j < 3; j++)
        ck_assert_str_eq(mlp_model_feature_name(back, j), names[j]);
    mlp_model_destroy(back);
    mlp_buffer_free(buf);
    mlp_model_destroy(m);
}
END_TEST

/* The record's payload, u32 count then u16-prefixed names, as a test
 * writes it into a file whose ftrn record it replaces. */
static size_t with_record(const char *payload, size_t plen, unsigned char *out,
                          size_t cap)
{
    mlp_model *m = linear(2, 2, 1);
    TU_OK(mlp_model_set_feature_names(m, (const char *const[]){"a", "b"}, 2));
    void *buf = NULL;
    size_t len = 0;
    TU_OK(mlp_model_save_mem(m, &buf, &len));
    mlp_model_destroy(m);
    const size_t at = tu_find_record(buf, len, "ftrn", 0);
    ck_assert_uint_ne(at, 0);
    const size_t old = 4 + 2 + 1 + 2 + 1; /* count, "a", "b" */
    const size_t n = len - old + plen;
    ck_assert_uint_le(n, cap);
    memcpy(out, buf, at + 12);
    memcpy(out + at + 12, payload, plen);
    memcpy(out + at + 12 + plen, (unsigned char *)buf + at + 12 + old,
           len - at - 12 - old);
    for (int b = 0; b < 8; b++) /* the record's length, little-endian */
        out[at + 4 + b] = (unsigned char)((uint64_t)plen >> (8 * b));
    tu_fix_crcs(out, n);
    mlp_buffer_free(buf);
    return n;
}

/* A file with a second copy of record `tag` (a class and a feature name
 * list), which the loader refuses: the last would win without a word. */
static void second_record_refused(const char *tag)
{
    mlp_model *m = linear(2, 2, 1);
    TU_OK(mlp_model_set_feature_names(m, (const char *const[]){"a", "b"}, 2));
    TU_OK(mlp_model_set_class_names(m, (const char *const[]){"x", "y"}, 2));
    void *buf = NULL;
    size_t len = 0;
    TU_OK(mlp_model_save_mem(m, &buf, &len));
    mlp_model_destroy(m);
    const size_t at = tu_find_record(buf, len, tag, 0);
    ck_assert_uint_ne(at, 0);
    const unsigned char *b = buf;
    size_t rec = 16;
    for (int k = 0; k < 8; k++)
        rec += (size_t)b[at + 4 + k] << (8 * k);
    unsigned char *two = malloc(len + rec);
    ck_assert_ptr_nonnull(two);
    memcpy(two, b, at + rec);
    memcpy(two + at + rec, b + at, len - at); /* the record again, then the rest */
    mlp_model *back = NULL;
    TU_FAIL_MSG(mlp_model_load_mem(&back, two, len + rec), MLP_STATUS_BAD_FORMAT,
                "a second ");
    TU_ERROR_HAS(tag);
    ck_assert_ptr_null(back);
    free(two);
    mlp_buffer_free(buf);
}

START_TEST(file_refuses_bad_names)
{
    second_record_refused("ftrn");
    second_record_refused("clsn");
    static const struct {
        const char *payload;
        size_t len;
        const char *msg;
    } bad[] = {
        {"\x02\0\0\0\x01\0a\x01\0a", 10, "feature names 0 and 1 are both \"a\""},
        {"\x02\0\0\0\x01\0a\x01\0\x01", 10, "feature name 1 holds a control character"},
        {"\x02\0\0\0\x01\0a\x01\0\xff", 10, "feature name 1 is not valid UTF-8"},
        {"\x02\0\0\0\x03\0abc\x00\0", 11, "feature name 1 is empty"},
        {"\x02\0\0\0\x01\0a\x02\0b", 10, "feature name 1 runs past the record"},
        {"\x02\0\0\0\x01\0a\x01\0b!", 11, "1 bytes after the last feature name"},
        {"\x03\0\0\0\x01\0a\x01\0b\x01\0c", 13,
         "feature names: mlp_model_set_feature_names: 3 names for a model whose input "
         "has 2 values"},
        {"\x09\0\0\0\x01\0a\x01\0b", 10,
         "9 feature names of 1 byte or more cannot fit in the record's 10 bytes"},
        {"\0\0\0\0", 4, "ftrn record holds no names"},
        {"\x02\0\0\0\x01\0a\x00\0", 9,
         "2 feature names of 1 byte or more cannot fit in the record's 9 bytes"},
        {"\x02\0", 2, "ftrn record of 2 bytes is shorter than 4"},
    };
    unsigned char file[4096];
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        size_t n = with_record(bad[k].payload, bad[k].len, file, sizeof file);
        mlp_model *back = NULL;
        TU_FAIL_MSG(mlp_model_load_mem(&back, file, n), MLP_STATUS_BAD_FORMAT,
                    bad[k].msg);
        ck_assert_ptr_null(back);
    }
    /* the same framing with good names loads */
    size_t n = with_record("\x02\0\0\0\x01\0x\x02\0yz", 11, file, sizeof file);
    mlp_model *back = NULL;
    TU_OK(mlp_model_load_mem(&back, file, n));
    ck_assert_str_eq(mlp_model_feature_name(back, 1), "yz");
    mlp_model_destroy(back);
}
END_TEST

static Suite *features_suite(void)
{
    Suite *s = suite_create("features");
    TCase *tc = tcase_create("setters");
    tcase_add_test(tc, dataset_setter_rules);
    tcase_add_test(tc, model_setter_rules);
    tcase_add_test(tc, csv_header_gives_the_feature_names);
    suite_add_tcase(s, tc);
    tc = tcase_create("checks");
    tcase_add_test(tc, fit_takes_the_names_and_data_must_match_them);
    tcase_add_test(tc, columns_in_another_order_read_by_name);
    tcase_add_test(tc, standardize_takes_the_names);
    tcase_add_test(tc, messages_show_names_apart);
    suite_add_tcase(s, tc);
    tc = tcase_create("file");
    tcase_add_test(tc, file_keeps_the_names);
    tcase_add_test(tc, file_refuses_bad_names);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(features_suite, 0)

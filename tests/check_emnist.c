/*
 * End-to-end check on real data: the EMNIST "bymerge47" files (sizes,
 * classes, splits), then the coursework's baseline MLP trained on them.
 * Needs MLPNET_DATA_DIR pointing at a directory
 * with emnist-bymerge47-* files; without it the test is skipped (exit 77,
 * Meson's skip code).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define DATASET "emnist-bymerge47"

static const char *data_dir;

typedef struct progress {
    int calls;
    double best_valid;
} progress;

static int on_epoch(const mlp_epoch_stats *s, mlp_model *m, void *user)
{
    (void)m;
    progress *p = user;
    p->calls++;
    if (s->valid_acc > p->best_valid)
        p->best_valid = s->valid_acc;
    printf("epoch %d: train error %.4f acc %.4f, valid error %.4f acc %.4f (%.1f s)\n",
           (int)s->epoch, s->train_error, s->train_acc, s->valid_error, s->valid_acc,
           s->train_seconds + s->eval_seconds);
    fflush(stdout);
    return 0;
}

/* The real EMNIST files of $MLPNET_DATA_DIR: sizes, shapes, class names,
 * every class in every split, ink in the glyphs. (Without the data the whole
 * program reports a skip, exit status 77.) */
START_TEST(real_emnist_splits)
{
    mlp_dataset *tr = NULL, *va = NULL, *te = NULL;
    TU_OK(mlp_dataset_open(&tr, &va, &te, data_dir, DATASET, MLP_DEFAULT_VALID_SIZE));
    ck_assert_int_eq(mlp_dataset_size(tr), 100000);
    ck_assert_int_eq(mlp_dataset_size(va), 8161);
    ck_assert_int_eq(mlp_dataset_size(te), 8162);
    mlp_dataset *all[3] = {tr, va, te};
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(mlp_dataset_channels(all[k]), 1);
        ck_assert_int_eq(mlp_dataset_height(all[k]), 28);
        ck_assert_int_eq(mlp_dataset_width(all[k]), 28);
        ck_assert_int_eq(mlp_dataset_num_classes(all[k]), 47);
        ck_assert_str_eq(mlp_dataset_class_name(all[k], 0), "0");
        ck_assert_str_eq(mlp_dataset_class_name(all[k], 10), "A");
        ck_assert_str_eq(mlp_dataset_class_name(all[k], 36), "a");
        ck_assert_str_eq(mlp_dataset_class_name(all[k], 46), "t");
        /* Every class appears in every split; glyphs have ink. */
        int seen[47] = {0};
        long ink = 0;
        for (int32_t i = 0; i < mlp_dataset_size(all[k]); i++) {
            int32_t l = mlp_dataset_label(all[k], i);
            TU_CHECK(l >= 0 && l < 47);
            seen[l] = 1;
        }
        for (int c = 0; c < 47; c++)
            ck_assert_msg(seen[c], "split %d lacks class %d", k, c);
        const uint8_t *img = mlp_dataset_image(all[k], 0);
        for (int j = 0; j < 28 * 28; j++)
            ink += img[j];
        ck_assert_int_gt(ink, 0);
    }
    for (int k = 0; k < 3; k++)
        mlp_dataset_destroy(all[k]);
}
END_TEST

/* input [784], 3 x (dense 100 + elu(1)), dense 47; SGD lr 0.1, batch 100 */
START_TEST(baseline_mlp_reaches_078)
{
    mlp_dataset *train = NULL, *valid = NULL;
    TU_OK(mlp_dataset_open(&train, &valid, NULL, data_dir, DATASET,
                           MLP_DEFAULT_VALID_SIZE));
    ck_assert_ptr_nonnull(train);
    ck_assert_ptr_nonnull(valid);
    ck_assert_int_eq(mlp_dataset_num_classes(train), 47);
    ck_assert_int_eq(mlp_dataset_channels(train) * mlp_dataset_height(train) *
                         mlp_dataset_width(train),
                     784);

    const int32_t in[1] = {784};
    mlp_model *m = tu_model(1, in, 20240101);
    for (int i = 0; i < 3; i++) {
        tu_add(m, tu_dense(100));
        tu_add(m, tu_elu(1.0f));
    }
    tu_add(m, tu_dense(47));
    ck_assert_int_eq(mlp_model_param_count(m),
                     784 * 100 + 100 + 2 * (100 * 100 + 100) + 100 * 47 + 47);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.1));

    progress p = {0, -1.0};
    mlp_fit_options opts;
    mlp_fit_options_init(&opts);
    opts.epochs = 3;
    opts.batch_size = 100;
    opts.seed = 12345;
    opts.on_epoch = on_epoch;
    opts.user = &p;
    TU_OK(mlp_model_fit(m, o, train, valid, &opts));
    ck_assert_int_eq(p.calls, 3);
    ck_assert_msg(p.best_valid >= 0.78, "best validation accuracy %.4f < 0.78",
                  p.best_valid);

    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(train);
    mlp_dataset_destroy(valid);
}
END_TEST

int main(void)
{
    data_dir = getenv("MLPNET_DATA_DIR");
    if (!data_dir || !*data_dir || !mlp_dataset_exists(data_dir, DATASET)) {
        printf("check_emnist: skipped: MLPNET_DATA_DIR %s%s%s does not hold %s\n",
               data_dir ? "(" : "is unset", data_dir ? data_dir : "", data_dir ? ")" : "",
               DATASET);
        return 77;
    }
    mlp_set_num_threads(1);
    Suite *s = suite_create("emnist");
    TCase *tc = tcase_create("files");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, real_emnist_splits);
    suite_add_tcase(s, tc);
    tc = tcase_create("baseline");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, baseline_mlp_reaches_078);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}

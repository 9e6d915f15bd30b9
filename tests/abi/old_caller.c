/*
 * A program as one built against the previous release's header: it is
 * compiled with a copy of the public headers whose mlp_fit_options lacks
 * its last field (tests/abi/drop_last_field.py), linked with the current
 * library, and trains one epoch. Under AddressSanitizer any byte the
 * library wrote or read past the caller's smaller struct is an error.
 *
 * It uses both initialisers such a program can call: the header's
 * mlp_fit_options_init() macro (the size of its struct) and the exported
 * 0.1 function that programs built before the macro call. A size no
 * release had must be refused. Exit status 0 when all holds.
 */
/* An old program calls the 0.1 initialiser, deprecated since. */
#define MLPNET_NO_DEPRECATION_WARNINGS
#include <mlpnet/mlpnet.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "old_caller: line %d: %s failed: %s\n", __LINE__, #cond,     \
                    mlp_last_error());                                                   \
            return 1;                                                                    \
        }                                                                                \
    } while (0)

typedef struct seen {
    int epochs;
    double train_error, train_acc;
} seen;

static int on_epoch(const mlp_epoch_stats *s, mlp_model *model, void *user)
{
    (void)model;
    seen *w = user;
    w->epochs++;
    w->train_error = s->train_error;
    w->train_acc = s->train_acc;
    return 0;
}

/* Two classes of 4x4 images: bright top half or bright bottom half. */
static mlp_status make_data(mlp_dataset **ds)
{
    enum { N = 64, SIDE = 4 };
    static uint8_t pixels[N * SIDE * SIDE];
    int32_t labels[N];
    for (int i = 0; i < N; i++) {
        labels[i] = i % 2;
        for (int p = 0; p < SIDE * SIDE; p++)
            pixels[i * SIDE * SIDE + p] =
                (uint8_t)(((p < SIDE * SIDE / 2) == (labels[i] == 0)) ? 200 + i % 50
                                                                      : i % 40);
    }
    return mlp_dataset_create(ds, N, 1, SIDE, SIDE, pixels, labels, 2);
}

static int train(mlp_model *m, mlp_optimizer *opt, mlp_dataset *ds, mlp_fit_options *o)
{
    seen w = {0, 0, 0};
    o->epochs = 1;
    o->batch_size = 16;
    o->on_epoch = on_epoch;
    o->user = &w;
    CHECK(mlp_model_fit(m, opt, ds, ds, o) == MLP_STATUS_OK);
    CHECK(w.epochs == 1);
    CHECK(w.train_error > 0.0 && w.train_acc >= 0.0 && w.train_acc <= 1.0);
    return 0;
}

int main(void)
{
    mlp_dataset *ds = NULL;
    mlp_model *m = NULL;
    mlp_optimizer *opt = NULL;
    mlp_layer *l = NULL;
    CHECK(make_data(&ds) == MLP_STATUS_OK);
    CHECK(mlp_model_create(&m, 3, (const int32_t[]){1, 4, 4}, 1) == MLP_STATUS_OK);
    CHECK(mlp_layer_create_dense(&l, 8) == MLP_STATUS_OK);
    CHECK(mlp_model_add(m, l) == MLP_STATUS_OK);
    CHECK(mlp_layer_create_relu(&l) == MLP_STATUS_OK);
    CHECK(mlp_model_add(m, l) == MLP_STATUS_OK);
    CHECK(mlp_layer_create_dense(&l, 2) == MLP_STATUS_OK);
    CHECK(mlp_model_add(m, l) == MLP_STATUS_OK);
    CHECK(mlp_optimizer_create(&opt, MLP_RULE_SGD, m) == MLP_STATUS_OK);

    /* The macro: the size of this program's struct. */
    mlp_fit_options o;
    CHECK(mlp_fit_options_init(&o) == MLP_STATUS_OK);
    CHECK(o.struct_size == sizeof o);
    CHECK(o.epochs == 10 && o.first_epoch == 1);
    if (train(m, opt, ds, &o))
        return 1;

    /* The 0.1 initialiser, as a program built before the macro calls it:
     * it writes the 0.1 fields only (up to first_epoch, which 0.2's
     * max_train_loss follows) and says so in struct_size. */
    mlp_fit_options o1;
    memset(&o1, 0, sizeof o1);
    (mlp_fit_options_init)(&o1);
    CHECK(o1.struct_size == offsetof(mlp_fit_options, max_train_loss));
    CHECK(o1.epochs == 10 && o1.first_epoch == 1);
    if (train(m, opt, ds, &o1))
        return 1;

    /* A size no release had is refused, with a message saying what to do. */
    o.struct_size = sizeof o - 4;
    CHECK(mlp_model_fit(m, opt, ds, NULL, &o) == MLP_STATUS_INVALID_ARG);
    CHECK(strstr(mlp_last_error(), "mlp_fit_options_init") != NULL);

    printf("old_caller: sizeof(mlp_fit_options) %zu in this program's header: "
           "two fits of one epoch ran\n",
           sizeof o);
    mlp_optimizer_destroy(opt);
    mlp_model_destroy(m);
    mlp_dataset_destroy(ds);
    return 0;
}

/*
 * A program outside the project, built against the installed library with
 * `pkg-config --cflags --libs mlpnet`: it trains a small dense network on
 * two generated classes and checks that it learns them.
 */
#include <mlpnet/mlpnet.h>
#include <stdio.h>
#include <string.h>

#define CHECK(call)                                                                      \
    do {                                                                                 \
        mlp_status st_ = (call);                                                         \
        if (st_ != MLP_STATUS_OK) {                                                      \
            fprintf(stderr, "%s: %s (%s)\n", #call, mlp_status_str(st_),                 \
                    mlp_last_error());                                                   \
            return 1;                                                                    \
        }                                                                                \
    } while (0)

int main(void)
{
    if (mlp_version_number() != MLPNET_VERSION_NUMBER ||
        strcmp(mlp_version_string(), MLPNET_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s, library %s\n", MLPNET_VERSION_STRING,
                mlp_version_string());
        return 1;
    }
    /* 400 images of 2x2 pixels: class 0 is dark on the left, class 1 on the right. */
    enum { N = 400 };
    static uint8_t px[N * 4];
    static int32_t labels[N];
    for (int i = 0; i < N; i++) {
        labels[i] = i % 2;
        uint8_t hi = (uint8_t)(200 + i % 50), lo = (uint8_t)(i % 40);
        px[4 * i + 0] = px[4 * i + 2] = labels[i] ? lo : hi;
        px[4 * i + 1] = px[4 * i + 3] = labels[i] ? hi : lo;
    }
    mlp_dataset *ds = NULL;
    CHECK(mlp_dataset_create(&ds, N, 1, 2, 2, px, labels, 2));

    mlp_model *model = NULL;
    CHECK(mlp_model_create(&model, 3, (const int32_t[]){1, 2, 2}, 7));
    mlp_layer *layer = NULL;
    CHECK(mlp_layer_create_dense(&layer, 8));
    CHECK(mlp_model_add(model, layer));
    CHECK(mlp_layer_create_relu(&layer));
    CHECK(mlp_model_add(model, layer));
    CHECK(mlp_layer_create_dense(&layer, 2));
    CHECK(mlp_model_add(model, layer));

    mlp_optimizer *opt = NULL;
    CHECK(mlp_optimizer_create(&opt, MLP_RULE_SGD, model));
    mlp_fit_options o;
    mlp_fit_options_init(&o);
    o.epochs = 20;
    o.batch_size = 20;
    CHECK(mlp_model_fit(model, opt, ds, NULL, &o));
    double acc = 0.0;
    CHECK(mlp_model_evaluate(model, ds, 100, NULL, &acc));
    printf("consumer: libmlpnet %s, accuracy %.3f\n", mlp_version_string(), acc);

    mlp_optimizer_destroy(opt);
    mlp_model_destroy(model);
    mlp_dataset_destroy(ds);
    return acc > 0.99 ? 0 : 1;
}

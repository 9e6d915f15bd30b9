/* Fuzz target: CSV text from memory (the reader behind
 * mlp_dataset_load_csv). The first byte picks the options: task, header,
 * separator, label order and a given class list, so one corpus reaches
 * every path; the rest is the text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char seps[4] = {',', ';', '\t', ' '};
    static const char *const names[2] = {"a", "1"};
    const unsigned pick = data[0];
    mlp_csv_options o;
    if (mlp_csv_options_init(&o) != MLP_STATUS_OK)
        abort();
    o.task = 1 + (int32_t)(pick % 3);
    o.header = (pick >> 2) & 1;
    o.separator = seps[(pick >> 3) & 3];
    o.label_order = (pick >> 5) & 1 ? MLP_LABELS_FIRST_SEEN : MLP_LABELS_SORTED;
    if ((pick >> 6) & 1 && o.task != MLP_CSV_REGRESS) {
        o.class_names = names;
        o.num_class_names = 2;
    }
    if ((pick >> 7) & 1)
        o.target_index = 0;

    mlp_dataset *ds = NULL;
    mlp_status st = mlp__dataset_load_csv_mem(&ds, data + 1, size - 1, "fuzz.csv", &o);
    if (st != MLP_STATUS_OK) {
        if (ds)
            abort();
        return 0;
    }
    /* A loaded table is whole: every value finite, every label a class. */
    int64_t per = mlp_dataset_sample_size(ds);
    float *x = malloc((size_t)per * sizeof *x);
    if (!x)
        abort();
    for (int32_t i = 0; i < mlp_dataset_size(ds); i++) {
        if (mlp_dataset_sample(ds, i, x) != MLP_STATUS_OK)
            abort();
        for (int64_t j = 0; j < per; j++)
            if (x[j] != x[j] || x[j] - x[j] != 0.0f)
                abort();
        if (mlp_dataset_target_kind(ds) == MLP_TARGET_CLASS &&
            (mlp_dataset_label(ds, i) < 0 ||
             mlp_dataset_label(ds, i) >= mlp_dataset_num_classes(ds)))
            abort();
    }
    for (int32_t k = 0; k < mlp_dataset_num_classes(ds); k++) {
        const char *name = mlp_dataset_class_name(ds, k);
        if (name && mlp__class_name_problem(name, strlen(name)))
            abort();
    }
    free(x);
    mlp_dataset_destroy(ds);
    return 0;
}

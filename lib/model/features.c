/*
 * The model's feature names: the names of its input values (a table's
 * columns), kept so that data whose columns are in another order is refused
 * rather than scored as if they were the model's. A model names all its
 * inputs or none, in one block (data/dataset_impl.h's mlp__names), under
 * the rule of class names.
 */
#include <string.h>

#include "data/dataset_impl.h"
#include "model_impl.h"

mlp_status mlp_model_set_feature_names(mlp_model *m, const char *const *names, int32_t f)
{
    static const char fn[] = "mlp_model_set_feature_names";
    MLP_CHECK_ARG(m, fn, "model is NULL");
    MLP_TRY(mlp__model_check_idle(m, 0, fn));
    MLP_CHECK_ARG(names || f == 0, fn,
                  "names is NULL but f is not 0 (NULL, 0 clears them)");
    if (f != 0 && f != m->in_size)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: %d name%s for a model whose input has %lld values", fn,
                          (int)f, f == 1 ? "" : "s", (long long)m->in_size);
    return mlp__names_set(&m->feature_names, names, f, fn);
}

const char *mlp_model_feature_name(const mlp_model *m, int32_t j)
{
    return m ? mlp__names_get(m->feature_names, j) : NULL;
}

int32_t mlp_model_feature_count(const mlp_model *m)
{
    return m && m->feature_names ? m->feature_names->count : 0;
}

mlp_status mlp__model_names_to_adopt(const mlp_model *m, const mlp_dataset *ds,
                                     struct mlp__names **out, const char *fn)
{
    *out = NULL;
    if (m->feature_names || !ds->feature_names || ds->feature_names->count != m->in_size)
        return MLP_STATUS_OK;
    *out = mlp__memdup(ds->feature_names, ds->feature_names->bytes);
    if (!*out)
        return mlp__error(MLP_STATUS_NO_MEMORY,
                          "%s: out of memory copying the set's feature names", fn);
    return MLP_STATUS_OK;
}

mlp_status mlp__model_adopt_feature_names(mlp_model *m, const mlp_dataset *ds,
                                          const char *fn)
{
    struct mlp__names *names;
    MLP_TRY(mlp__model_names_to_adopt(m, ds, &names, fn));
    if (names)
        m->feature_names = names;
    return MLP_STATUS_OK;
}

mlp_status mlp__model_check_feature_names(const mlp_model *m, const mlp_dataset *ds,
                                          const mlp_dataset *ref, const char *set,
                                          const char *fn)
{
    const mlp__names *ours = m->feature_names, *theirs = ds->feature_names;
    const char *whose = "the model";
    if (!ours && ref) {
        ours = ref->feature_names;
        whose = "the training set";
    }
    if (!ours || !theirs || ours->count != theirs->count)
        return MLP_STATUS_OK;
    int32_t j = 0;
    while (j < ours->count &&
           strcmp(mlp__names_get(ours, j), mlp__names_get(theirs, j)) == 0)
        j++;
    if (j == ours->count)
        return MLP_STATUS_OK;
    const char *name = mlp__names_get(theirs, j);
    int32_t i = 0;
    while (i < ours->count && strcmp(mlp__names_get(ours, i), name) != 0)
        i++;
    char a[MLP__CLIP_LEN], b[MLP__CLIP_LEN];
    if (i < ours->count)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: feature %d of %s is \"%s\", which is feature %d of %s: "
                          "its columns are in another order (read its file with %s's "
                          "feature names as mlp_csv_options.feature_names, which takes "
                          "the columns in that order)",
                          fn, (int)j, set, mlp__clip(name, a), (int)i, whose, whose);
    return mlp__error(MLP_STATUS_INVALID_ARG,
                      "%s: feature %d of %s is \"%s\", a name %s does not have (its "
                      "feature %d is \"%s\"); remove the set's names "
                      "(mlp_dataset_set_feature_names with NULL, 0) to use its columns "
                      "as they are",
                      fn, (int)j, set, mlp__clip(name, a), whose, (int)j,
                      mlp__clip(mlp__names_get(ours, j), b));
}

/* Status strings and the thread-local last-error message. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <string.h>

#include "core.h"

static _Thread_local char last_error[512];
/* Set by mlp__error_batch_too_small(), cleared by mlp__batch_size_mark_clear(). */
static _Thread_local int batch_too_small;

const char *mlp_status_str(mlp_status st)
{
    switch (st) {
    case MLP_STATUS_OK: return "success";
    case MLP_STATUS_INVALID_ARG: return "invalid argument";
    case MLP_STATUS_NO_MEMORY: return "out of memory";
    case MLP_STATUS_SHAPE_MISMATCH: return "shape mismatch";
    case MLP_STATUS_IO: return "input/output error";
    case MLP_STATUS_BAD_FORMAT: return "bad file format";
    case MLP_STATUS_UNSUPPORTED: return "unsupported";
    case MLP_STATUS_NUMERIC: return "numeric error (NaN or infinity)";
    case MLP_STATUS_BAD_STATE: return "wrong state for this call";
    case MLP_STATUS_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *mlp_last_error(void)
{
    return last_error;
}

mlp_status mlp__error(mlp_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return st;
}

mlp_status mlp__error_batch_too_small(mlp_status st)
{
    batch_too_small = 1;
    return st;
}

void mlp__batch_size_mark_clear(void)
{
    batch_too_small = 0;
}

int mlp__batch_size_marked(void)
{
    return batch_too_small;
}

const char *mlp__fmt_double(double v, char *buf)
{
    for (int digits = 6; digits < 17; digits++) {
        snprintf(buf, MLP__FMT_DOUBLE_LEN, "%.*g", digits, v);
        if (!isfinite(v) || strtod(buf, NULL) == v)
            return buf;
    }
    snprintf(buf, MLP__FMT_DOUBLE_LEN, "%.17g", v);
    return buf;
}

mlp_status mlp__init_sized(void *out, void *defaults, size_t struct_size,
                           const size_t *sizes, size_t n, const char *fn,
                           const char *type)
{
    if (!out)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: the %s to fill is NULL", fn, type);
    char how[96];
    snprintf(how, sizeof how, "initialise the struct with %s_init(&opts)", type);
    MLP_TRY(mlp__check_struct_size(struct_size, sizes, n, fn, type, how));
    memcpy(defaults, &struct_size, sizeof struct_size); /* the first field */
    memcpy(out, defaults, struct_size);
    return MLP_STATUS_OK;
}

mlp_status mlp__check_struct_size(size_t size, const size_t *sizes, size_t n,
                                  const char *fn, const char *type, const char *how)
{
    for (size_t i = 0; i < n; i++)
        if (size == sizes[i])
            return MLP_STATUS_OK;
    return mlp__error(MLP_STATUS_INVALID_ARG,
                      "%s: struct_size %zu is not the size of %s in any release this "
                      "library knows (this one's is %zu); %s from the header you "
                      "compile with",
                      fn, size, type, sizes[n - 1], how);
}

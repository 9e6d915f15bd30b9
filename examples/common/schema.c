/*
 * The run files (see ex_common.h, "Run files"): the one place that says
 * which columns RUN.csv and summary.csv have, in which order and with how
 * many decimals. The example programs write them through this file and
 * mlpnet-report reads them through it, so a column added here reaches
 * both sides at once.
 */
#include "ex_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
const ex_column ex_history_columns[EX_HIST_ALL_COLS] = {
    [EX_HIST_EPOCH]       = {"epoch", 0},
    [EX_HIST_TRAIN_ERROR] = {"train_error", 6},
    [EX_HIST_TRAIN_ACC]   = {"train_acc", 6},
    [EX_HIST_VALID_ERROR] = {"valid_error", 6},
    [EX_HIST_VALID_ACC]   = {"valid_acc", 6},
    [EX_HIST_SECONDS]     = {"seconds", 3},
    [EX_HIST_TRAIN_R2]    = {"train_r2", 6},
    [EX_HIST_VALID_RMSE]  = {"valid_rmse", 6},
    [EX_HIST_VALID_MAE]   = {"valid_mae", 6},
    [EX_HIST_VALID_R2]    = {"valid_r2", 6},
};

const ex_column ex_summary_columns[EX_SUM_ALL_COLS] = {
    [EX_SUM_RUN]               = {"run", -1},
    [EX_SUM_EPOCHS]            = {"epochs", 0},
    [EX_SUM_TRAIN_ACC]         = {"train_acc", 6},
    [EX_SUM_VALID_ACC]         = {"valid_acc", 6},
    [EX_SUM_BEST_VALID_ACC]    = {"best_valid_acc", 6},
    [EX_SUM_TEST_ACC]          = {"test_acc", 6},
    [EX_SUM_SECONDS_PER_EPOCH] = {"seconds_per_epoch", 3},
    [EX_SUM_BEST_VALID_R2]     = {"best_valid_r2", 6},
    [EX_SUM_TEST_RMSE]         = {"test_rmse", 6},
    [EX_SUM_TEST_MAE]          = {"test_mae", 6},
    [EX_SUM_TEST_R2]           = {"test_r2", 6},
};
/* clang-format on */

const char *ex_csv_header(char *buf, size_t cap, const ex_column *cols, int n)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int c = 0; c < n && at < cap; c++) {
        int k = snprintf(buf + at, cap - at, "%s%s", c ? "," : "", cols[c].name);
        at += k > 0 ? (size_t)k : 0;
    }
    return buf;
}

const char *ex_format_num(char *buf, size_t cap, int decimals, double v)
{
    if (isnan(v))
        snprintf(buf, cap, "nan");
    else
        snprintf(buf, cap, "%.*f", decimals, v);
    return buf;
}

void ex_result_alloc_history(ex_result *r, size_t n)
{
    r->epoch = ex_xmalloc(EX_HIST_ALL_COLS * n * sizeof(double));
    r->train_error = r->epoch + n;
    r->train_accuracy = r->epoch + 2 * n;
    r->valid_error = r->epoch + 3 * n;
    r->valid_accuracy = r->epoch + 4 * n;
    r->seconds = r->epoch + 5 * n;
    r->train_r2 = r->epoch + 6 * n;
    r->valid_rmse = r->epoch + 7 * n;
    r->valid_mae = r->epoch + 8 * n;
    r->valid_r2 = r->epoch + 9 * n;
}

double *ex_result_history(const ex_result *r, int col)
{
    double *const cols[EX_HIST_ALL_COLS] = {
        [EX_HIST_EPOCH] = r->epoch,
        [EX_HIST_TRAIN_ERROR] = r->train_error,
        [EX_HIST_TRAIN_ACC] = r->train_accuracy,
        [EX_HIST_VALID_ERROR] = r->valid_error,
        [EX_HIST_VALID_ACC] = r->valid_accuracy,
        [EX_HIST_SECONDS] = r->seconds,
        [EX_HIST_TRAIN_R2] = r->train_r2,
        [EX_HIST_VALID_RMSE] = r->valid_rmse,
        [EX_HIST_VALID_MAE] = r->valid_mae,
        [EX_HIST_VALID_R2] = r->valid_r2,
    };
    return cols[col];
}

int ex_history_column_count(const ex_result *r)
{
    return r->regress ? EX_HIST_ALL_COLS : EX_HIST_COLS;
}

int ex_summary_column_count(const ex_result *const *runs, int n)
{
    for (int i = 0; i < n; i++) {
        if (runs[i]->regress)
            return EX_SUM_ALL_COLS;
    }
    return EX_SUM_COLS;
}

void ex_history_write_csv(FILE *f, const ex_result *r)
{
    char buf[EX_HEADER_CAP];
    const int ncols = ex_history_column_count(r);
    fprintf(f, "%s\n", ex_csv_header(buf, sizeof buf, ex_history_columns, ncols));
    for (int32_t i = 0; i < r->epochs; i++) {
        for (int c = 0; c < ncols; c++) {
            const double v = ex_result_history(r, c)[i];
            fprintf(f, "%s%s", c ? "," : "",
                    ex_format_num(buf, sizeof buf, ex_history_columns[c].decimals, v));
        }
        fputc('\n', f);
    }
}

void ex_summary_cells(const ex_result *r, char cells[EX_SUM_ALL_COLS][EX_RUN_NAME_MAX])
{
    const double v[EX_SUM_ALL_COLS] = {
        [EX_SUM_RUN] = NAN,
        [EX_SUM_EPOCHS] = (double)r->epochs,
        [EX_SUM_TRAIN_ACC] = r->train_acc,
        [EX_SUM_VALID_ACC] = r->valid_acc,
        [EX_SUM_BEST_VALID_ACC] = r->best_valid_acc,
        [EX_SUM_TEST_ACC] = r->test_acc,
        [EX_SUM_SECONDS_PER_EPOCH] = r->seconds_per_epoch,
        [EX_SUM_BEST_VALID_R2] = r->best_valid_r2,
        [EX_SUM_TEST_RMSE] = r->test_rmse,
        [EX_SUM_TEST_MAE] = r->test_mae,
        [EX_SUM_TEST_R2] = r->test_r2,
    };
    snprintf(cells[EX_SUM_RUN], EX_RUN_NAME_MAX, "%s", r->name);
    for (int c = EX_SUM_RUN + 1; c < EX_SUM_ALL_COLS; c++)
        ex_format_num(cells[c], EX_RUN_NAME_MAX, ex_summary_columns[c].decimals, v[c]);
}

void ex_summary_write_csv(FILE *f, const ex_result *const *runs, int n)
{
    char buf[EX_HEADER_CAP], cells[EX_SUM_ALL_COLS][EX_RUN_NAME_MAX];
    const int ncols = ex_summary_column_count(runs, n);
    fprintf(f, "%s\n", ex_csv_header(buf, sizeof buf, ex_summary_columns, ncols));
    for (int i = 0; i < n; i++) {
        ex_summary_cells(runs[i], cells);
        for (int c = 0; c < ncols; c++)
            fprintf(f, "%s%s", c ? "," : "", cells[c]);
        fputc('\n', f);
    }
}

int ex_safe_name(const char *s, size_t cap)
{
    static const char safe[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    size_t n = strlen(s);
    return n > 0 && n < cap && s[0] != '.' && strspn(s, safe) == n;
}

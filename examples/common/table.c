/*
 * Markdown tables for the example summaries (see ex_common.h): cells are
 * collected first so the columns can be padded to a common width, which
 * keeps the tables readable as plain text on a terminal too. The first
 * column and columns of text are left-aligned, columns of numbers right-aligned.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ex_common.h"

#define TABLE_MAX_COLS 16
#define CELL_CAP 64

struct ex_table {
    int ncols;
    int ncells, cap;
    char (*cells)[CELL_CAP]; /* headers first, then the rows */
};

static void push(ex_table *t, const char *text)
{
    t->cells = ex_xgrow(t->cells, &t->cap, t->ncells + 1, sizeof *t->cells);
    snprintf(t->cells[t->ncells++], CELL_CAP, "%s", text);
}

ex_table *ex_table_new(const char *header, ...)
{
    ex_table *t = calloc(1, sizeof *t);
    if (!t)
        ex_die("out of memory");
    va_list ap;
    va_start(ap, header);
    for (const char *h = header; h; h = va_arg(ap, const char *)) {
        if (t->ncols == TABLE_MAX_COLS)
            ex_die("a table has more than %d columns", TABLE_MAX_COLS);
        push(t, h);
        t->ncols++;
    }
    va_end(ap);
    return t;
}

void ex_table_cell(ex_table *t, const char *fmt, ...)
{
    char text[CELL_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    push(t, text);
}

void ex_table_num(ex_table *t, int decimals, double v)
{
    if (isnan(v)) /* never "-nan" */
        ex_table_cell(t, "nan");
    else
        ex_table_cell(t, "%.*f", decimals, v);
}

/* Numbers, "nan" and counts like "3 of 19" are right-aligned. */
static int numeric(const char *cell)
{
    return strchr("0123456789+-.", cell[0]) != NULL || strcmp(cell, "nan") == 0;
}

void ex_table_end(ex_table *t, FILE *f)
{
    int width[TABLE_MAX_COLS], right[TABLE_MAX_COLS];
    int n = t->ncols;
    for (int c = 0; c < n; c++) {
        width[c] = 3; /* room for the "--:" rule */
        right[c] = c > 0;
    }
    for (int i = n; i < t->ncells; i++)
        right[i % n] = right[i % n] && numeric(t->cells[i]);
    for (int i = 0; i < t->ncells; i++) {
        int w = (int)strlen(t->cells[i]);
        if (w > width[i % n])
            width[i % n] = w;
    }
    for (int i = 0; i < t->ncells; i++) {
        int c = i % n;
        fprintf(f, right[c] ? "| %*s " : "| %-*s ", width[c], t->cells[i]);
        if (c == n - 1 || i == t->ncells - 1)
            fputs("|\n", f);
        if (i == n - 1) { /* after the headers: ":---" or "---:" */
            for (int k = 0; k < n; k++) {
                fputs(right[k] ? "| " : "| :", f);
                for (int d = 0; d < width[k] - 1; d++)
                    fputc('-', f);
                fputs(right[k] ? ": " : " ", f);
            }
            fputs("|\n", f);
        }
    }
    free(t->cells);
    free(t);
}

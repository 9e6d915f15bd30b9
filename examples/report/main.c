/*
 * mlpnet-report: turns the output folder of examples/reproduce.sh into the
 * figures and the REPORT.md of the reproduction.
 *
 * Input (DIR is --out):
 *   DIR/manifest.tsv           one row per (task, section): task, section,
 *                              status (done, failed, pending), exit, seconds,
 *                              threads, command; tab-separated, with a header;
 *   DIR/runs/TASK/summary.csv  the runs of a task (the example programs' summary);
 *   DIR/runs/TASK/summary.md   its "Dataset `NAME`, N epochs, ..." line;
 *   DIR/runs/TASK/RUN.csv      the per-epoch history of one run;
 *   DIR/runs/TASK/log.txt      the task's output (linked when it failed);
 *   DIR/models/test-results.tsv  the best model of each experiment and its
 *                              test accuracy (optional).
 * Output, each file written atomically:
 *   DIR/figures/fig1-baseline-lr.svg ... fig6-convnets.svg: 2x2 panels (error
 *   and accuracy, train and valid, against the epoch), one line per run;
 *   DIR/REPORT.md: what the report said next to what we measured, then a
 *   section per experiment with tables and figures, the final test results,
 *   the time of every run and the runs that failed.
 *
 * A malformed manifest is an error (exit 1, nothing written). Missing or
 * malformed result files of a task are not: they are reported as warnings
 * on stderr and in REPORT.md, and the runs show as missing in the tables.
 * The conclusions are worded from the numbers, never assumed: in quick mode
 * (few epochs) they may well disagree with the report.
 *
 * This file holds the command line; read.c, judge.c and write.c do the
 * work (see report.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* Command line                                                            */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: " PROGRAM " --out DIR [--title TEXT] [--wall-seconds S] [--quick]\n"
            "       [--machine TEXT] [--date TEXT]\n"
            "\n"
            "Turns the output folder of examples/reproduce.sh (DIR/manifest.tsv,\n"
            "DIR/runs/TASK/*.csv, DIR/models/test-results.tsv) into the figures\n"
            "DIR/figures/fig1-baseline-lr.svg ... fig6-convnets.svg and DIR/REPORT.md,\n"
            "which sets what the report said next to what the runs measured.\n"
            "\n"
            "Options:\n"
            "  --out DIR          the reproduction's output folder (required)\n"
            "  --title TEXT       title of REPORT.md, by default\n"
            "                     \"" DEFAULT_TITLE "\"\n"
            "  --wall-seconds S   total wall time of the reproduction, in seconds\n"
            "  --quick            the runs used quick mode (few epochs, small sweeps)\n"
            "  --machine TEXT     the machine the runs used, for the header\n"
            "  --date TEXT        the date of the runs, for the header\n"
            "  --help             show this help and exit\n"
            "\n"
            "Exit status: 0 on success, 1 when the manifest is malformed or a file\n"
            "cannot be read or written, 2 on a bad command line.\n");
}

/* The value of "--name VALUE" or "--name=VALUE" at argv[*i], or NULL when
 * argv[*i] is another flag. */
static const char *flag_value(int argc, char **argv, int *i, const char *name)
{
    const char *arg = argv[*i] + 2;
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
        return NULL;
    if (arg[n] == '=')
        return arg + n + 1;
    if (*i + 1 >= argc)
        ex_usage_error("option '--%s' needs a value", name);
    return argv[++*i];
}

static void parse_args(int argc, char **argv, report *r)
{
    static const char *const names[] = {"out", "title", "wall-seconds", "machine",
                                        "date"};
    const char **values[] = {&r->dir, &r->title, NULL, &r->machine, &r->date};
    const char *wall = NULL;
    values[2] = &wall;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(arg, "--quick") == 0) {
            r->quick = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0)
            ex_usage_error("unexpected argument '%s'", arg);
        int known = 0;
        for (size_t k = 0; k < sizeof names / sizeof names[0] && !known; k++) {
            const char *v = flag_value(argc, argv, &i, names[k]);
            if (v)
                *values[k] = v;
            known = v != NULL;
        }
        if (!known)
            ex_usage_error("unknown option '%s'", arg);
    }
    if (!r->dir || !*r->dir)
        ex_usage_error("--out DIR is required");
    if (wall && (rp_parse_double(wall, &r->wall_seconds) || !isfinite(r->wall_seconds) ||
                 r->wall_seconds < 0.0))
        ex_usage_error("invalid value '%s' for --wall-seconds: expected seconds >= 0",
                       wall);
}

int main(int argc, char **argv)
{
    report r;
    memset(&r, 0, sizeof r);
    r.title = DEFAULT_TITLE;
    r.wall_seconds = NAN;
    ex_set_program(PROGRAM);
    if (atexit(rp_remove_pending_output) != 0)
        ex_die("cannot register the clean-up of partial output");
    parse_args(argc, argv, &r);

    rp_read_manifest(&r);
    for (int i = 0; i < r.n_tasks; i++)
        rp_read_task(&r, &r.tasks[i]);
    rp_read_finals(&r);

    char failed[PATH_CAP];
    if (rp_write_figures(&r, failed) != 0 || rp_write_report(&r, failed) != 0) {
        int err = errno;
        rp_report_free(&r);
        ex_die("cannot write %s: %s", failed, strerror(err));
    }
    printf("Report in %s/REPORT.md, figures in %s/figures/\n", r.dir, r.dir);
    rp_report_free(&r);
    return 0;
}

/*
 * Shared pieces of the example programs (see ex_common.h). POSIX is used
 * for isatty, mkdir and the monotonic clock.
 */
#define _POSIX_C_SOURCE 200809L

#include "ex_common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define PATH_CAP 4096
#define HELP_WIDTH 79
#define EVAL_BATCH 1000

/* ---------------------------------------------------------------------- */
/* Errors                                                                  */

static const char *program = "mlpnet-example";

void ex_set_program(const char *name)
{
    if (name && *name)
        program = name;
}

const char *ex_program(void)
{
    return program;
}

/* Messages are made whole first: under --distributed the failing ranks hand
 * them to rank 0, which prints each distinct one once (ex_dist.h). */
#define MSG_CAP 1536

_Noreturn void ex_die(const char *fmt, ...)
{
    char msg[MSG_CAP];
    int n = snprintf(msg, sizeof msg, "%s: ", program);
    va_list ap;
    ex_progress_clear();
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    exd_exit(1, msg);
}

_Noreturn void ex_usage_error(const char *fmt, ...)
{
    char msg[MSG_CAP];
    int n = snprintf(msg, sizeof msg, "%s: ", program);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof msg)
        snprintf(msg + n, sizeof msg - (size_t)n,
                 "\nTry '%s --help' for more information.", program);
    exd_exit(2, msg);
}

void ex_check(mlp_status st, const char *what)
{
    if (st == MLP_STATUS_OK)
        return;
    const char *detail = mlp_last_error();
    ex_die("%s: %s%s%s", what, mlp_status_str(st), *detail ? ": " : "", detail);
}

void *ex_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        ex_die("out of memory (%zu bytes)", n);
    return p;
}

char *ex_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(ex_xmalloc(n), s, n);
}

void *ex_xgrow(void *p, int *cap, int need, size_t size)
{
    if (need <= *cap)
        return p;
    int cap2 = *cap ? 2 * *cap : 16;
    while (cap2 < need)
        cap2 *= 2;
    void *q = realloc(p, (size_t)cap2 * size);
    if (!q)
        ex_die("out of memory");
    *cap = cap2;
    return q;
}

/* ---------------------------------------------------------------------- */
/* Command-line flags                                                      */

void ex_options_init(ex_options *o, const char *default_out)
{
    memset(o, 0, sizeof *o); /* every field not set below starts at 0 / NULL */
    o->data_dir = NULL;
    o->dataset = NULL;
    o->epochs = 20;
    o->batch_size = 100;
    o->valid_size = MLP_DEFAULT_VALID_SIZE;
    o->threads = 1;
    o->seed = 123456;
    o->out_dir = default_out;
    o->quiet = 0;
    o->rule.rule = EX_RULE_INDEX(MLP_RULE_SGD);
    o->rule.lr = o->rule.momentum = o->rule.beta1 = o->rule.beta2 = NAN;
    o->rule.epsilon = o->rule.decay = o->rule.weight_decay = NAN;
    o->rule_flags = EX_RULE_FLAGS_ALL;
}

/* Print `text` from column `indent` (the cursor is at column `col`),
 * wrapping words at HELP_WIDTH. */
static void print_wrapped(FILE *f, const char *text, int col, int indent)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (w == 0)
            break;
        if (col > indent && col + 1 + (int)w > HELP_WIDTH) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        fwrite(p, 1, w, f);
        col += (int)w;
        p += w;
    }
    fputc('\n', f);
}

static int flag_head(char *buf, size_t cap, const ex_flag *fl)
{
    if (fl->type == EX_FLAG_BOOL)
        return snprintf(buf, cap, "--%s", fl->name);
    return snprintf(buf, cap, "--%s %s", fl->name, fl->metavar ? fl->metavar : "VALUE");
}

/* "a, b, c": the names of a list of choices; returns the length written. */
static int flag_choices(char *buf, size_t cap, const ex_flag *fl)
{
    int k = 0;
    buf[0] = '\0';
    for (int i = 0; fl->choices[i] && k >= 0 && (size_t)k < cap; i++)
        k += snprintf(buf + k, cap - (size_t)k, "%s%s", i ? ", " : "", fl->choices[i]);
    return k;
}

/* The help line of a flag followed by its current (default) value. */
static void flag_help(char *buf, size_t cap, const ex_flag *fl)
{
    int n = snprintf(buf, cap, "%s", fl->help ? fl->help : "");
    size_t used = n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
    char *rest = buf + used;
    size_t left = cap - used;
    switch (fl->type) {
    case EX_FLAG_INT:
        snprintf(rest, left, " (default: %ld)", (long)*(const int32_t *)fl->value);
        break;
    case EX_FLAG_U64:
        snprintf(rest, left, " (default: %llu)",
                 (unsigned long long)*(const uint64_t *)fl->value);
        break;
    case EX_FLAG_DOUBLE: {
        double v = *(const double *)fl->value;
        if (!isnan(v)) /* NaN: "not given", the help text says the default */
            snprintf(rest, left, " (default: %g)", v);
        break;
    }
    case EX_FLAG_DOUBLES:
    case EX_FLAG_CHOICES: {
        int k = snprintf(rest, left, " (");
        if (fl->type == EX_FLAG_CHOICES && k >= 0 && (size_t)k < left) {
            k += flag_choices(rest + k, left - (size_t)k, fl);
            if (k >= 0 && (size_t)k < left)
                k += snprintf(rest + k, left - (size_t)k, "; ");
        }
        if (k >= 0 && (size_t)k < left)
            k += snprintf(rest + k, left - (size_t)k, "default: ");
        int n = fl->type == EX_FLAG_DOUBLES ? ((const ex_doubles *)fl->value)->n
                                            : ((const ex_choices *)fl->value)->n;
        for (int i = 0; i < n && k >= 0 && (size_t)k < left; i++) {
            if (fl->type == EX_FLAG_DOUBLES)
                k += snprintf(rest + k, left - (size_t)k, "%s%g", i ? "," : "",
                              ((const ex_doubles *)fl->value)->v[i]);
            else
                k += snprintf(rest + k, left - (size_t)k, "%s%s", i ? "," : "",
                              fl->choices[((const ex_choices *)fl->value)->v[i]]);
        }
        if (k >= 0 && (size_t)k < left)
            snprintf(rest + k, left - (size_t)k, ")");
        break;
    }
    case EX_FLAG_STRING: {
        const char *v = *(const char *const *)fl->value;
        if (v)
            snprintf(rest, left, " (default: %s)", v);
        break;
    }
    case EX_FLAG_CHOICE: {
        int k = snprintf(rest, left, " (one of:");
        for (int i = 0; fl->choices[i] && k >= 0 && (size_t)k < left; i++)
            k += snprintf(rest + k, left - (size_t)k, "%s %s", i ? "," : "",
                          fl->choices[i]);
        if (k >= 0 && (size_t)k < left)
            snprintf(rest + k, left - (size_t)k, "; default: %s)",
                     fl->choices[*(const int *)fl->value]);
        break;
    }
    case EX_FLAG_BOOL: break;
    }
}

#define N_TABLES 3

static void print_usage(FILE *f, const char *description,
                        const ex_flag *const tables[N_TABLES])
{
    char head[128], help[1024];
    int width = 0;
    for (int t = 0; t < N_TABLES; t++) {
        for (const ex_flag *fl = tables[t]; fl && fl->name; fl++) {
            if (!fl->help)
                continue; /* not listed */
            int n = flag_head(head, sizeof head, fl);
            if (n > width)
                width = n;
        }
    }
    fprintf(f, "Usage: %s [OPTION]...\n", program);
    print_wrapped(f, description, 0, 0);
    static const char *const titles[N_TABLES] = {
        "Data and training:", "Learning rule:", "Experiment:"};
    for (int t = 0; t < N_TABLES; t++) {
        if (!tables[t] || !tables[t]->name)
            continue;
        fprintf(f, "\n%s\n", titles[t]);
        for (const ex_flag *fl = tables[t]; fl->name; fl++) {
            if (!fl->help)
                continue;
            flag_head(head, sizeof head, fl);
            flag_help(help, sizeof help, fl);
            fprintf(f, "  %-*s  ", width, head);
            print_wrapped(f, help, width + 4, width + 4);
        }
    }
    fprintf(f, "\n  %-*s  print this help and exit\n", width, "-h, --help");
}

static const ex_flag *find_flag(const ex_flag *const tables[N_TABLES], const char *name,
                                size_t len)
{
    for (int t = 0; t < N_TABLES; t++) {
        for (const ex_flag *fl = tables[t]; fl && fl->name; fl++) {
            if (strlen(fl->name) == len && strncmp(fl->name, name, len) == 0)
                return fl;
        }
    }
    return NULL;
}

static int choice_index(const ex_flag *fl, const char *val, size_t len)
{
    for (int i = 0; fl->choices[i]; i++) {
        if (strlen(fl->choices[i]) == len && strncmp(fl->choices[i], val, len) == 0)
            return i;
    }
    return -1;
}

/* A comma-separated list: numbers within [min, max] or choice names. */
static void set_list(const ex_flag *fl, const char *val)
{
    ex_doubles nums = {0, {0}};
    ex_choices picks = {0, {0}};
    const char *p = val;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len == 0)
            ex_usage_error("invalid value '%s' for --%s: empty item", val, fl->name);
        if (nums.n == EX_LIST_MAX || picks.n == EX_LIST_MAX)
            ex_usage_error("invalid value '%s' for --%s: more than %d items", val,
                           fl->name, EX_LIST_MAX);
        if (fl->type == EX_FLAG_DOUBLES) {
            char item[64], *end = NULL;
            snprintf(item, sizeof item, "%.*s", (int)len, p);
            errno = 0;
            double v = strtod(item, &end);
            if (len >= sizeof item || errno != 0 || *end != '\0' || !isfinite(v) ||
                v < fl->min || v > fl->max)
                ex_usage_error("invalid value '%.*s' in --%s: expected numbers from %g "
                               "to %g, separated by commas",
                               (int)len, p, fl->name, fl->min, fl->max);
            nums.v[nums.n++] = v;
        } else {
            int i = choice_index(fl, p, len);
            if (i < 0) {
                char help[512];
                flag_choices(help, sizeof help, fl);
                ex_usage_error("invalid value '%.*s' in --%s: expected names from %s, "
                               "separated by commas",
                               (int)len, p, fl->name, help);
            }
            for (int k = 0; k < picks.n; k++) {
                if (picks.v[k] == i)
                    ex_usage_error("'%.*s' given twice in --%s", (int)len, p, fl->name);
            }
            picks.v[picks.n++] = i;
        }
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    if (fl->type == EX_FLAG_DOUBLES)
        *(ex_doubles *)fl->value = nums;
    else
        *(ex_choices *)fl->value = picks;
}

static void set_flag(const ex_flag *fl, const char *val)
{
    char *end = NULL;
    if (*val == '\0')
        ex_usage_error("option '--%s' needs a non-empty value", fl->name);
    switch (fl->type) {
    case EX_FLAG_INT: {
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno != 0 || *end != '\0' || (double)v < fl->min || (double)v > fl->max)
            ex_usage_error(
                "invalid value '%s' for --%s: expected an integer from %.0f to %.0f", val,
                fl->name, fl->min, fl->max);
        *(int32_t *)fl->value = (int32_t)v;
        break;
    }
    case EX_FLAG_U64: {
        errno = 0;
        unsigned long long v = strtoull(val, &end, 10);
        if (errno != 0 || *end != '\0' || val[0] == '-' || val[0] == '+')
            ex_usage_error("invalid value '%s' for --%s: expected a non-negative integer",
                           val, fl->name);
        *(uint64_t *)fl->value = (uint64_t)v;
        break;
    }
    case EX_FLAG_DOUBLE: {
        errno = 0;
        double v = strtod(val, &end);
        if (errno != 0 || *end != '\0' || !isfinite(v) || v < fl->min || v > fl->max)
            ex_usage_error("invalid value '%s' for --%s: expected a number from %g to %g",
                           val, fl->name, fl->min, fl->max);
        *(double *)fl->value = v;
        break;
    }
    case EX_FLAG_STRING: *(const char **)fl->value = val; break;
    case EX_FLAG_DOUBLES:
    case EX_FLAG_CHOICES: set_list(fl, val); break;
    case EX_FLAG_CHOICE: {
        int i = choice_index(fl, val, strlen(val));
        if (i >= 0) {
            *(int *)fl->value = i;
            return;
        }
        char list[512];
        size_t k = 0;
        list[0] = '\0';
        for (int i = 0; fl->choices[i] && k < sizeof list; i++) {
            int n = snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "",
                             fl->choices[i]);
            if (n < 0)
                break;
            k += (size_t)n;
        }
        ex_usage_error("invalid value '%s' for --%s: expected one of %s", val, fl->name,
                       list);
    }
    case EX_FLAG_BOOL: *(int *)fl->value = 1; break;
    }
}

/* The command line, quoted for a POSIX shell where needed (for summary.md). */
static char command[2048];

static void record_command(int argc, char **argv)
{
    size_t k = 0;
    command[0] = '\0';
    for (int i = 0; i < argc && k + 4 < sizeof command; i++) {
        const char *a = i == 0 ? program : argv[i];
        int plain = *a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789._-+=/,:@%") == strlen(a);
        if (i > 0)
            command[k++] = ' ';
        if (!plain)
            command[k++] = '\'';
        for (; *a && k + 6 < sizeof command; a++) {
            if (*a == '\'' && !plain) { /* ' -> '\'' */
                memcpy(command + k, "'\\''", 4);
                k += 4;
            } else {
                command[k++] = *a;
            }
        }
        if (!plain)
            command[k++] = '\'';
        command[k] = '\0';
    }
}

/* Which hyper-parameters each rule has (index: mlp_rule - 1). */
enum { HP_MOMENTUM = 1, HP_BETAS = 2, HP_EPSILON = 4, HP_DECAY = 8 };
static const unsigned rule_params[] = {
    0,                                   /* sgd */
    HP_MOMENTUM,                         /* momentum */
    HP_MOMENTUM,                         /* nesterov */
    HP_MOMENTUM | HP_EPSILON | HP_DECAY, /* rmsprop */
    HP_BETAS | HP_EPSILON,               /* adam */
    HP_BETAS | HP_EPSILON,               /* adamw */
    HP_EPSILON,                          /* adagrad */
};

/* A hyper-parameter's flag, its value (NaN: not given) and its bit of
 * rule_params. */
typedef struct hp_flag {
    const char *flag;
    double v;
    unsigned param;
} hp_flag;
enum { N_HP_FLAGS = 5 };

static void hp_flags(const ex_rule_options *r, hp_flag out[N_HP_FLAGS])
{
    const hp_flag f[N_HP_FLAGS] = {{"momentum", r->momentum, HP_MOMENTUM},
                                   {"beta1", r->beta1, HP_BETAS},
                                   {"beta2", r->beta2, HP_BETAS},
                                   {"decay", r->decay, HP_DECAY},
                                   {"epsilon", r->epsilon, HP_EPSILON}};
    memcpy(out, f, sizeof f);
}

/* Ranges the flag table cannot express, the baseline's "--momentum selects
 * the momentum rule", and (when the program lets the user choose the rule)
 * hyper-parameters the rule does not have. */
static void check_rule(ex_options *o)
{
    ex_rule_options *r = &o->rule;
    if (o->rule_flags == EX_RULE_FLAGS_ALL && EX_RULE(r->rule) == MLP_RULE_SGD &&
        !isnan(r->momentum)) {
        if (r->momentum > 0.0)
            r->rule = EX_RULE_INDEX(MLP_RULE_MOMENTUM);
        else
            r->momentum = NAN; /* plain SGD, as asked */
    }
    hp_flag given[N_HP_FLAGS];
    hp_flags(r, given);
    for (size_t i = 0; i < N_HP_FLAGS; i++) {
        if (given[i].param == HP_EPSILON ? given[i].v <= 0.0 : given[i].v >= 1.0)
            ex_usage_error("invalid value '%g' for --%s: expected a number %s",
                           given[i].v, given[i].flag,
                           given[i].param == HP_EPSILON ? "above 0" : "in [0, 1)");
    }
    if (o->rule_flags != EX_RULE_FLAGS_ALL)
        return;
    for (size_t i = 0; i < N_HP_FLAGS; i++) {
        if (!isnan(given[i].v) && !(rule_params[r->rule] & given[i].param))
            ex_usage_error("--%s does not apply to the learning rule %s", given[i].flag,
                           ex_rule_names[r->rule]);
    }
}

void ex_check_rules_params(const ex_options *o, const int *rules, int n)
{
    const ex_rule_options *r = &o->rule;
    hp_flag given[N_HP_FLAGS];
    hp_flags(r, given);
    for (size_t i = 0; i < N_HP_FLAGS; i++) {
        if (isnan(given[i].v))
            continue;
        /* Which rules have it: the chosen ones, then all of them. */
        char chosen[128] = "", owners[128] = "";
        int used = 0;
        for (int k = 0; k < EX_RULE_COUNT; k++) {
            unsigned has = rule_params[k];
            if (EX_RULE(k) == MLP_RULE_RMSPROP)
                has &= ~(unsigned)HP_MOMENTUM; /* compared as plain RMSProp */
            if (!(has & given[i].param))
                continue;
            size_t len = strlen(owners);
            snprintf(owners + len, sizeof owners - len, "%s%s", len ? ", " : "",
                     ex_rule_names[k]);
            for (int j = 0; j < n; j++)
                used |= rules[j] == k;
        }
        if (used)
            continue;
        for (int j = 0; j < n; j++) {
            size_t len = strlen(chosen);
            snprintf(chosen + len, sizeof chosen - len, "%s%s", j ? "," : "",
                     ex_rule_names[rules[j]]);
        }
        ex_usage_error("--%s applies to none of the rules compared (--rules %s); it is a "
                       "hyper-parameter of %s",
                       given[i].flag, chosen, owners);
    }
}

void ex_parse_args(int argc, char **argv, const char *prog, const char *description,
                   ex_options *o, const ex_flag *flags)
{
    ex_set_program(prog);
    /* A flag without help is parsed but not listed: a program of tables
     * refuses the image flags with a message of its own. */
    const int images = !o->tables;
    const ex_flag common[] = {
        EX_STRING("data-dir", &o->data_dir, "DIR",
                  images ? "directory of the dataset files (default: $MLPNET_DATA_DIR, "
                           "else " EX_DEFAULT_DATA_DIR ")"
                         : "directory of the image data, beside which the folder "
                           "tabular holds the tables (default: $MLPNET_DATA_DIR)"),
        EX_STRING("dataset", &o->dataset, "NAME",
                  images ? "dataset name, e.g. emnist-bymerge47, emnist-balanced, "
                           "fashion-mnist (default: the first of these present in "
                           "the data directory)"
                         : NULL),
        EX_INT("valid-size", &o->valid_size, 1, INT32_MAX,
               images ? "validation images taken from the end of the training file "
                        "when the dataset has no validation file"
                      : NULL),
        EX_INT("train-size", &o->train_size, 0, INT32_MAX,
               images ? "train on the first N training images only, for quick runs (0: "
                        "all)"
                      : NULL),
        EX_INT("epochs", &o->epochs, 1, 1000000, "training epochs"),
        EX_INT("batch-size", &o->batch_size, 1, 1000000,
               images ? "images per training batch" : "rows per training batch"),
        EX_U64("seed", &o->seed,
               "seed of the weight initialisation and of the shuffling"),
        EX_INT("threads", &o->threads, 0, 1024,
               "threads of the library's pool, which runs the matrix products "
               "and every parallel pass (0: all cores)"),
        EX_STRING("out", &o->out_dir, "DIR",
                  "directory for the CSV, SVG and summary files"),
        EX_STRING("save", &o->save, "FILE",
                  "save the model of the best validation epoch over all runs to FILE "
                  "(libmlpnet model file; see `mlpnet info`)"),
        EX_BOOL(
            "quiet", &o->quiet,
            "no per-epoch lines and no progress bar; the final table is still printed"),
        EX_BOOL("flush-denormals", &o->flush_denormals,
                "read and write values below 1.2e-38 (subnormal floats) as 0, which "
                "keeps a model whose units saturate from slowing down "
                "(mlp_set_flush_denormals; x86-64 only)"),
        EX_BOOL("distributed", &o->distributed,
                "train every run on all the ranks of an MPI job (mpirun -np P, srun -n "
                "P), data-parallel; --threads applies per rank; rank 0 prints and "
                "writes the files"),
        EX_FLAGS_END,
    };
    ex_rule_options *r = &o->rule;
    const ex_flag rule[] = {
        EX_CHOICE("learning-rule", &r->rule, ex_rule_names, "learning rule"),
        /* A rate the program set (mlpnet-tabular's 3e-3) is every rule's
         * default: --help shows it after the text. */
        EX_DOUBLE("lr", &r->lr, 0.0, 1e6,
                  isnan(r->lr)
                      ? "learning rate (default: the rule's: 0.1 for sgd, 0.02 for "
                        "momentum and nesterov, 5e-4 for rmsprop, 1e-3 for adam and "
                        "adamw, 0.01 for adagrad)"
                      : "learning rate, whatever the rule"),
        /* Without --learning-rule (EX_RULE_FLAGS_PARAMS: mlpnet-learning-rules,
         * whose RMSProp runs are plain RMSProp, as the report's), --momentum
         * is for the momentum and nesterov runs only. */
        EX_DOUBLE("momentum", &r->momentum, 0.0, 1.0,
                  o->rule_flags == EX_RULE_FLAGS_PARAMS
                      ? "momentum coefficient mu in [0, 1) of the momentum and nesterov "
                        "runs (default: 0.9)"
                      : "momentum coefficient mu in [0, 1) of momentum, nesterov and "
                        "rmsprop (default: 0.9; rmsprop 0, no momentum); with "
                        "--learning-rule sgd, a value above 0 selects the momentum rule"),
        EX_DOUBLE("beta1", &r->beta1, 0.0, 1.0,
                  "Adam's first-moment decay in [0, 1) (default: 0.9)"),
        EX_DOUBLE("beta2", &r->beta2, 0.0, 1.0,
                  "Adam's second-moment decay in [0, 1) (default: 0.999)"),
        EX_DOUBLE("epsilon", &r->epsilon, 0.0, 1.0,
                  "epsilon > 0 of rmsprop, adam, adamw, adagrad (default: 1e-8)"),
        EX_DOUBLE("decay", &r->decay, 0.0, 1.0,
                  "RMSProp's decay rho of the mean square in [0, 1) (default: 0.9)"),
        EX_DOUBLE("weight-decay", &r->weight_decay, 0.0, 1e6,
                  "L2 penalty on the weights, every rule; decoupled for adamw (default: "
                  "0; adamw 0.01)"),
        EX_FLAGS_END,
    };
    const ex_flag *rule_table = o->rule_flags == EX_RULE_FLAGS_ALL      ? rule
                                : o->rule_flags == EX_RULE_FLAGS_PARAMS ? rule + 2
                                                                        : NULL;
    const ex_flag *const tables[N_TABLES] = {common, rule_table, flags};
    record_command(argc, argv);
    /* MPI starts before anything can fail on one rank only. */
    if (exd_requested(argc, argv)) {
        char err[256];
        if (!exd_available())
            ex_usage_error("--distributed: this %s was built without MPI", prog);
        if (exd_start(&argc, &argv, err, sizeof err) != 0)
            ex_die("%s", err);
    }

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            print_usage(stdout, description, tables);
            exit(0);
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
            ex_usage_error("unexpected argument '%s'", arg);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const ex_flag *fl = find_flag(tables, name, len);
        if (!fl)
            ex_usage_error("unknown option '--%.*s'", (int)len, name);
        if (fl->type == EX_FLAG_BOOL) {
            if (eq)
                ex_usage_error("option '--%s' takes no value", fl->name);
            set_flag(fl, "1");
            continue;
        }
        const char *val;
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
            val = argv[++i];
        else
            ex_usage_error("option '--%s' needs a value", fl->name);
        set_flag(fl, val);
    }
    if (rule_table)
        check_rule(o);
}

/* ---------------------------------------------------------------------- */
/* Utilities                                                               */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ex_median(const double *v, int n)
{
    if (n <= 0)
        return NAN;
    double *tmp = ex_xmalloc((size_t)n * sizeof *tmp);
    memcpy(tmp, v, (size_t)n * sizeof *tmp);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    double m = n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
    free(tmp);
    return m;
}

double ex_valid_noise(const ex_result *r, int from, int *rises)
{
    double sum = 0.0, sq = 0.0;
    int n = 0;
    *rises = 0;
    for (int i = from > 1 ? from - 1 : 0; i + 1 < r->epochs; i++, n++) {
        double d = r->valid_error[i + 1] - r->valid_error[i];
        sum += d;
        sq += d * d;
        *rises += d > 0.0;
    }
    if (n < 2)
        return NAN;
    double mean = sum / n;
    return sqrt(fmax(0.0, sq / n - mean * mean));
}

double ex_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int progress_len; /* characters of the bar now on the terminal line */

void ex_progress_draw(const char *label, int64_t done, int64_t total, double start)
{
    enum { BAR = 30 };
    char bar[BAR + 1], line[256];
    double frac = total > 0 ? (double)done / (double)total : 0.0;
    frac = frac < 0.0 ? 0.0 : frac > 1.0 ? 1.0 : frac;
    int filled = (int)(frac * BAR);
    for (int i = 0; i < BAR; i++)
        bar[i] = i < filled ? '=' : i == filled ? '>' : ' ';
    bar[BAR] = '\0';
    double elapsed = ex_now() - start;
    double eta = done > 0 ? elapsed * (double)(total - done) / (double)done : 0.0;
    int n = snprintf(line, sizeof line, "%s [%s] %3d%%  %.1f s, eta %.1f s", label, bar,
                     (int)(frac * 100.0), elapsed, eta);
    if (n < 0)
        return;
    if (n >= (int)sizeof line)
        n = (int)sizeof line - 1;
    fprintf(stderr, "\r%s%*s", line, progress_len > n ? progress_len - n : 0, "");
    fflush(stderr);
    progress_len = n;
}

void ex_progress_clear(void)
{
    if (progress_len > 0) {
        fprintf(stderr, "\r%*s\r", progress_len, "");
        fflush(stderr);
        progress_len = 0;
    }
}

int ex_mkdirs(const char *path)
{
    char *p = ex_xstrdup(path);
    int rc = 0;
    for (char *s = p + 1; rc == 0; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            rc = -1;
        *s = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (rc == 0 && stat(p, &st) != 0) {
        rc = -1;
    } else if (rc == 0 && !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        rc = -1;
    }
    int err = errno;
    free(p);
    errno = err;
    return rc;
}

int ex_afile_open(ex_afile *af, const char *path)
{
    if (!exd_writes()) { /* ranks other than 0 write to nowhere */
        af->path = af->tmp_path = NULL;
        af->f = fopen("/dev/null", "w");
        return af->f ? 0 : -1;
    }
    size_t n = strlen(path);
    af->path = ex_xstrdup(path);
    af->tmp_path = ex_xmalloc(n + 5);
    memcpy(af->tmp_path, path, n);
    memcpy(af->tmp_path + n, ".tmp", 5);
    af->f = fopen(af->tmp_path, "w");
    if (!af->f) {
        int err = errno;
        free(af->path);
        free(af->tmp_path);
        af->path = af->tmp_path = NULL;
        errno = err;
        return -1;
    }
    return 0;
}

int ex_afile_commit(ex_afile *af)
{
    int err = 0;
    errno = 0;
    if (fflush(af->f) != 0 || ferror(af->f))
        err = errno ? errno : EIO;
    if (fclose(af->f) != 0 && err == 0)
        err = errno ? errno : EIO;
    af->f = NULL;
    if (!af->path) /* the /dev/null of exd_writes() == 0 */
        return err ? (errno = err, -1) : 0;
    if (err == 0 && rename(af->tmp_path, af->path) != 0)
        err = errno;
    if (err != 0)
        remove(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
    af->path = af->tmp_path = NULL;
    errno = err;
    return err ? -1 : 0;
}

void ex_afile_abort(ex_afile *af)
{
    int err = errno;
    if (af->f)
        fclose(af->f);
    if (af->tmp_path)
        remove(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
    af->f = NULL;
    af->path = af->tmp_path = NULL;
    errno = err;
}

/* ---------------------------------------------------------------------- */
/* Sessions                                                                */

static void out_path(char *buf, const ex_session *s, const char *stem, const char *suffix)
{
    int n = snprintf(buf, PATH_CAP, "%s/%s%s", s->opt->out_dir, stem, suffix);
    if (n < 0 || n >= PATH_CAP)
        ex_die("output path too long: %s/%s%s", s->opt->out_dir, stem, suffix);
}

/* Open an output file atomically or die. */
static void open_out(ex_afile *af, const char *path)
{
    if (ex_afile_open(af, path) != 0)
        ex_die("cannot write %s: %s", path, strerror(errno));
}

static void commit_out(ex_afile *af, const char *path)
{
    if (ex_afile_commit(af) != 0)
        ex_die("cannot write %s: %s", path, strerror(errno));
}

/* The output directory, and whether to draw a progress bar. */
static void make_out_dir(ex_session *s)
{
    if (exd_writes() && ex_mkdirs(s->opt->out_dir) != 0)
        ex_die("cannot create the output directory %s: %s", s->opt->out_dir,
               strerror(errno));
    s->progress = !s->opt->quiet && exd_writes() && isatty(fileno(stderr));
}

void ex_session_open_custom(ex_session *s, const ex_options *opt, const char *data_dir,
                            const char *label)
{
    memset(s, 0, sizeof *s);
    s->opt = opt;
    s->saved_valid_acc = -1.0;
    s->data_dir = data_dir;
    s->dataset = label;
    ex_check(mlp_set_num_threads(opt->threads), "setting the number of threads");
    if (opt->flush_denormals)
        ex_check(mlp_set_flush_denormals(1), "setting --flush-denormals");
    make_out_dir(s);
}

void ex_session_set_data(ex_session *s, mlp_dataset *train, mlp_dataset *valid,
                         mlp_dataset *test)
{
    mlp_dataset_destroy(s->train);
    mlp_dataset_destroy(s->valid);
    mlp_dataset_destroy(s->test);
    s->train = train;
    s->valid = valid;
    s->test = test;
}

void ex_session_open(ex_session *s, const ex_options *opt)
{
    memset(s, 0, sizeof *s);
    s->opt = opt;
    s->saved_valid_acc = -1.0;

    const char *dir = opt->data_dir;
    if (!dir) {
        const char *env = getenv("MLPNET_DATA_DIR");
        dir = env && *env ? env : EX_DEFAULT_DATA_DIR;
    }
    s->data_dir = dir;
    s->dataset = opt->dataset;
    if (!s->dataset) {
        /* the course's split; the official release's 47 classes (whose last
         * 15,800 training images validate, as the course's split does);
         * the quick start's package */
        static const char *const names[] = {"emnist-bymerge47", "emnist-balanced",
                                            "fashion-mnist"};
        for (size_t i = 0; !s->dataset && i < sizeof names / sizeof names[0]; i++)
            if (mlp_dataset_exists(dir, names[i]))
                s->dataset = names[i];
        if (!s->dataset)
            ex_die("no dataset in %s (looked for emnist-bymerge47, emnist-balanced and "
                   "fashion-mnist files); use --data-dir, $MLPNET_DATA_DIR or --dataset",
                   dir);
    }

    ex_check(mlp_set_num_threads(opt->threads), "setting the number of threads");
    if (opt->flush_denormals)
        ex_check(mlp_set_flush_denormals(1), "setting --flush-denormals");
    char what[PATH_CAP + 64];
    snprintf(what, sizeof what, "opening dataset %s in %s", s->dataset, dir);
    ex_check(mlp_dataset_open(&s->train, &s->valid, &s->test, dir, s->dataset,
                              opt->valid_size),
             what);
    if (opt->train_size > 0 && opt->train_size < mlp_dataset_size(s->train)) {
        mlp_dataset *first = NULL, *rest = NULL;
        ex_check(mlp_dataset_split(s->train, opt->train_size, &first, &rest),
                 "taking the first --train-size images");
        mlp_dataset_destroy(rest);
        mlp_dataset_destroy(s->train);
        s->train = first;
    }
    make_out_dir(s);

    if (!opt->quiet) {
        printf("dataset %s in %s: %ld train, %ld valid, %ld test images of %ldx%ldx%ld, "
               "%ld classes\n",
               s->dataset, dir, (long)mlp_dataset_size(s->train),
               (long)mlp_dataset_size(s->valid), (long)mlp_dataset_size(s->test),
               (long)mlp_dataset_channels(s->train), (long)mlp_dataset_height(s->train),
               (long)mlp_dataset_width(s->train),
               (long)mlp_dataset_num_classes(s->train));
        fflush(stdout);
    }
}

static void result_free(ex_result *r)
{
    if (r) {
        free(r->epoch);
        free(r);
    }
}

void ex_session_close(ex_session *s)
{
    mlp_dataset_destroy(s->train);
    mlp_dataset_destroy(s->valid);
    mlp_dataset_destroy(s->test);
    for (int i = 0; i < s->n_results; i++)
        result_free(s->results[i]);
    free(s->results);
    memset(s, 0, sizeof *s);
}

int ex_session_finish(ex_session *s)
{
    int diverged = s->diverged;
    ex_session_write_summary(s);
    printf("\n");
    ex_session_print_summary(s, stdout);
    printf("\nResults in %s/\n", s->opt->out_dir);
    fflush(stdout);
    ex_session_close(s);
    exd_finish(); /* --distributed: every rank ends here, MPI with it */
    return diverged;
}

int32_t ex_input_size(const ex_session *s)
{
    return mlp_dataset_channels(s->train) * mlp_dataset_height(s->train) *
           mlp_dataset_width(s->train);
}

int32_t ex_num_classes(const ex_session *s)
{
    return mlp_dataset_num_classes(s->train);
}

int32_t ex_num_outputs(const ex_session *s)
{
    return mlp_dataset_target_kind(s->train) == MLP_TARGET_VALUES
               ? mlp_dataset_target_dim(s->train)
               : mlp_dataset_num_classes(s->train);
}

const ex_result *ex_session_find(const ex_session *s, const char *name)
{
    for (int i = 0; i < s->n_results; i++) {
        if (strcmp(s->results[i]->name, name) == 0)
            return s->results[i];
    }
    return NULL;
}

static void write_plot(const char *path, const ex_plot *plot)
{
    if (ex_svg_write(path, plot) != 0)
        ex_die("cannot write %s: %s", path, strerror(errno));
}

/* RUN.csv, RUN-error.svg and RUN-accuracy.svg from the history so far. */
static void write_run_files(const ex_session *s, const ex_result *r)
{
    char path[PATH_CAP];
    ex_afile af;
    out_path(path, s, r->name, ".csv");
    open_out(&af, path);
    ex_history_write_csv(af.f, r);
    commit_out(&af, path);

    char title[EX_RUN_NAME_MAX + 64], note[48] = "";
    if (r->diverged)
        snprintf(note, sizeof note, " (diverged in epoch %ld)", (long)r->epochs + 1);
    ex_series err[2] = {{"train", r->epoch, r->train_error, r->epochs},
                        {"valid", r->epoch, r->valid_error, r->epochs}};
    snprintf(title, sizeof title, "%s: error%s", r->name, note);
    ex_plot plot = {title,
                    "epoch",
                    r->regress ? "error (mean squared error)" : "error (cross-entropy)",
                    1,
                    err,
                    2};
    out_path(path, s, r->name, "-error.svg");
    write_plot(path, &plot);

    /* The second plot: accuracy, or R^2 for a run that regresses. */
    ex_series acc[2] = {
        {"train", r->epoch, r->regress ? r->train_r2 : r->train_accuracy, r->epochs},
        {"valid", r->epoch, r->regress ? r->valid_r2 : r->valid_accuracy, r->epochs}};
    snprintf(title, sizeof title, "%s: %s%s", r->name, r->regress ? "R^2" : "accuracy",
             note);
    plot.ylabel = r->regress ? "R^2" : "accuracy";
    plot.series = acc;
    out_path(path, s, r->name, r->regress ? "-r2.svg" : "-accuracy.svg");
    write_plot(path, &plot);
}

/* State of one ex_session_run, shared with the fit callbacks. */
typedef struct run_state {
    ex_session *s;
    ex_result *r;
    float *best; /* parameters, then state (batch-norm statistics), of the
                    best validation epoch */
    int64_t n_params, n_state;
    double epoch_start; /* ex_now() when the current epoch began */
    double last_draw;   /* ex_now() of the last progress-bar redraw */
} run_state;

static void on_batch(int32_t epoch, int32_t batch, int32_t batches, void *user)
{
    run_state *rs = user;
    if (!rs->s->progress)
        return;
    double now = ex_now();
    /* Redraw at most ten times a second: the terminal is slower than a batch. */
    if (now - rs->last_draw < 0.1 && batch < batches)
        return;
    rs->last_draw = now;
    char label[EX_RUN_NAME_MAX + 48];
    snprintf(label, sizeof label, "%s epoch %ld/%ld", rs->r->name, (long)epoch,
             (long)rs->s->opt->epochs);
    ex_progress_draw(label, batch, batches, rs->epoch_start);
}

static int on_epoch(const mlp_epoch_stats *st, mlp_model *model, void *user)
{
    run_state *rs = user;
    ex_result *r = rs->r;
    const ex_options *o = rs->s->opt;
    ex_progress_clear();
    if (r->epochs >= o->epochs)
        return 1; /* more epochs than asked for: the history is full */
    int32_t i = r->epochs++;
    r->epoch[i] = st->epoch;
    r->train_error[i] = st->train_error;
    r->train_accuracy[i] = st->train_acc;
    r->valid_error[i] = st->valid_error;
    r->valid_accuracy[i] = st->valid_acc;
    r->seconds[i] = st->train_seconds;
    r->train_r2[i] = st->train_r2;
    r->valid_rmse[i] = st->valid_rmse;
    r->valid_mae[i] = st->valid_mae;
    r->valid_r2[i] = st->valid_r2;
    /* The best epoch: of the best validation accuracy, or R^2. */
    const double score = r->regress ? st->valid_r2 : st->valid_acc;
    const double best = r->regress ? r->best_valid_r2 : r->best_valid_acc;
    if (r->best_epoch == 0 || score > best || isnan(best)) {
        ex_check(mlp_model_get_params(model, rs->best, rs->n_params),
                 "copying the parameters of the best epoch");
        ex_check(mlp_model_get_state(model, rs->best + rs->n_params, rs->n_state),
                 "copying the batch-norm statistics of the best epoch");
        r->best_epoch = st->epoch;
        r->best_valid_acc = st->valid_acc;
        r->best_valid_r2 = st->valid_r2;
    }
    char wait[48] = ""; /* the time this rank waited for the gradients' sums */
    if (exd_active())
        snprintf(wait, sizeof wait, ", all-reduce wait %.2f s", st->comm_wait_seconds);
    if (!o->quiet && r->regress) {
        printf("%s epoch %ld/%ld train_mse %.4g train_r2 %.4f valid_rmse %.4g valid_r2 "
               "%.4f (%.2f s%s)\n",
               r->name, (long)st->epoch, (long)o->epochs, st->train_error, st->train_r2,
               st->valid_rmse, st->valid_r2, st->train_seconds, wait);
        fflush(stdout);
    } else if (!o->quiet) {
        printf("%s epoch %ld/%ld train_err %.4f train_acc %.4f valid_err %.4f valid_acc "
               "%.4f "
               "(%.2f s%s)\n",
               r->name, (long)st->epoch, (long)o->epochs, st->train_error, st->train_acc,
               st->valid_error, st->valid_acc, st->train_seconds, wait);
        fflush(stdout);
    }
    write_run_files(rs->s, r);
    exd_agree(0, NULL); /* meets rank 0 when writing failed there */
    rs->epoch_start = ex_now();
    return 0;
}

static ex_result *result_new(ex_session *s, const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len >= EX_RUN_NAME_MAX)
        ex_die("run name '%s' is empty or longer than %d characters", name,
               EX_RUN_NAME_MAX - 1);
    if (!ex_safe_name(name, EX_RUN_NAME_MAX))
        ex_die("run name '%s' is not a safe file name", name);
    if (ex_session_find(s, name))
        ex_die("run name '%s' used twice", name);

    ex_result *r = ex_xmalloc(sizeof *r);
    memset(r, 0, sizeof *r);
    memcpy(r->name, name, len + 1);
    r->train_acc = r->valid_acc = r->best_valid_acc = r->test_acc = NAN;
    r->seconds_per_epoch = NAN;
    r->best_valid_r2 = r->test_rmse = r->test_mae = r->test_r2 = NAN;
    ex_result_alloc_history(r, (size_t)s->opt->epochs);
    s->results =
        ex_xgrow(s->results, &s->cap_results, s->n_results + 1, sizeof *s->results);
    s->results[s->n_results++] = r;
    return r;
}

static void print_model(const char *name, const mlp_model *model)
{
    size_t len = 0;
    ex_check(mlp_model_summary(model, NULL, 0, &len), "describing the model");
    char *text = ex_xmalloc(len + 1);
    ex_check(mlp_model_summary(model, text, len + 1, NULL), "describing the model");
    printf("\n== %s ==\n%s%s", name, text, len > 0 && text[len - 1] == '\n' ? "" : "\n");
    fflush(stdout);
    free(text);
}

const ex_result *ex_session_run(ex_session *s, const char *name, mlp_model *model,
                                mlp_optimizer *opt)
{
    ex_result *r = result_new(s, name);
    const ex_options *o = s->opt;
    r->params = mlp_model_param_count(model);
    r->regress = mlp_model_task(model) == MLP_TASK_REGRESS;
    if (!o->quiet)
        print_model(name, model);

    run_state rs = {
        s, r, NULL, mlp_model_param_count(model), mlp_model_state_count(model), 0.0, 0.0};
    rs.best = ex_xmalloc((size_t)(rs.n_params + rs.n_state + 1) * sizeof *rs.best);

    mlp_fit_options fo;
    mlp_fit_options_init(&fo);
    fo.epochs = o->epochs;
    fo.batch_size = o->batch_size;
    fo.eval_batch_size = EVAL_BATCH;
    fo.seed = o->seed;
    fo.on_epoch = on_epoch;
    fo.on_batch = on_batch;
    fo.user = &rs;

    char what[EX_RUN_NAME_MAX + 32];
    snprintf(what, sizeof what, "training %s", name);
    /* --distributed: every rank got this far (data read, model built), then
     * the model gets the MPI hook, which makes rank 0's parameters everyone's. */
    exd_agree(0, NULL);
    exd_same(program, "the model's parameters", mlp_model_param_count(model));
    exd_same(program, "the model's state", mlp_model_state_count(model));
    exd_same(program, "the training rows", mlp_dataset_size(s->train));
    exd_same(program, "the validation rows", s->valid ? mlp_dataset_size(s->valid) : 0);
    exd_same(program, "the test rows", s->test ? mlp_dataset_size(s->test) : 0);
    ex_check(exd_attach(model), "distributing the model");
    rs.epoch_start = ex_now();
    mlp_status st = mlp_model_fit(model, opt, s->train, s->valid, &fo);
    ex_progress_clear();
    if (st == MLP_STATUS_NUMERIC) {
        /* A diverging run is a result too (a learning-rate sweep may find
         * one): keep the epochs before it and go on with the next run. */
        if (exd_writes())
            fprintf(stderr, "%s: %s " EX_STOPPED_AFTER "%ld epoch%s): %s: %s\n", program,
                    what, (long)r->epochs, r->epochs == 1 ? "" : "s", mlp_status_str(st),
                    mlp_last_error());
        s->diverged++;
        r->diverged = 1;
    } else {
        ex_check(st, what);
    }

    if (r->epochs > 0) {
        int32_t last = r->epochs - 1;
        r->train_acc = r->train_accuracy[last];
        r->valid_acc = r->valid_accuracy[last];
        r->seconds_per_epoch = ex_median(r->seconds, r->epochs);
    }
    if (r->best_epoch > 0) {
        ex_check(mlp_model_set_params(model, rs.best, rs.n_params),
                 "restoring the parameters of the best epoch");
        ex_check(mlp_model_set_state(model, rs.best + rs.n_params, rs.n_state),
                 "restoring the batch-norm statistics of the best epoch");
        snprintf(what, sizeof what, "evaluating %s on the test set", name);
        if (r->regress) {
            mlp_metrics m;
            ex_check(mlp_model_evaluate_metrics(model, s->test, EVAL_BATCH, &m), what);
            r->test_rmse = m.rmse;
            r->test_mae = m.mae;
            r->test_r2 = m.r2;
        } else {
            ex_check(mlp_model_evaluate(model, s->test, EVAL_BATCH, NULL, &r->test_acc),
                     what);
        }
        /* --save keeps the best validation score of all runs (R^2 for a
         * regression; a program mixing tasks had better not rely on it). */
        const double score = r->regress ? r->best_valid_r2 : r->best_valid_acc;
        if (o->save && !(score <= s->saved_valid_acc)) {
            snprintf(what, sizeof what, "saving %s to %s", name, o->save);
            if (exd_writes())
                ex_check(mlp_model_save(model, o->save), what);
            s->saved_valid_acc = score;
        }
    }
    free(rs.best);

    write_run_files(s, r);
    ex_session_write_summary(s);
    exd_agree(0, NULL); /* meets rank 0 when saving or writing failed there */
    if (!o->quiet) {
        if (r->best_epoch > 0 && r->regress)
            printf("%s: best valid_r2 %.4f at epoch %ld, test_rmse %.4g test_r2 %.4f\n",
                   name, r->best_valid_r2, (long)r->best_epoch, r->test_rmse, r->test_r2);
        else if (r->best_epoch > 0)
            printf("%s: best valid_acc %.4f at epoch %ld, test_acc %.4f\n", name,
                   r->best_valid_acc, (long)r->best_epoch, r->test_acc);
        else
            printf("%s: no epoch completed\n", name);
        fflush(stdout);
    }
    return r;
}

const ex_result *ex_session_train(ex_session *s, const char *name, mlp_model *model,
                                  mlp_optimizer *opt)
{
    const ex_result *r = ex_session_run(s, name, model, opt);
    mlp_optimizer_destroy(opt);
    mlp_model_destroy(model);
    return r;
}

char *ex_run_name(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, EX_RUN_NAME_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= EX_RUN_NAME_MAX)
        ex_die("run name '%s...' is longer than %d characters", buf, EX_RUN_NAME_MAX - 1);
    return buf;
}

void ex_session_set_notes(ex_session *s,
                          void (*fn)(const ex_session *s, FILE *f, void *user),
                          void *user)
{
    s->notes = fn;
    s->notes_user = user;
}

void ex_session_compare(ex_session *s, const char *stem, const char *title,
                        const ex_result *const *runs, const char *const *labels, int n)
{
    enum { LABEL_CAP = 128 };
    ex_series *series = ex_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *series);
    char *names = ex_xmalloc((size_t)(n > 0 ? n : 1) * LABEL_CAP);
    char path[PATH_CAP], file[PATH_CAP], heading[256];
    for (int i = 0; i < n; i++) /* a diverged run says so in the legend */
        snprintf(names + (size_t)i * LABEL_CAP, LABEL_CAP, "%s%s",
                 labels ? labels[i] : runs[i]->name,
                 runs[i]->diverged ? " (diverged)" : "");
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n; i++) {
            series[i].name = names + (size_t)i * LABEL_CAP;
            series[i].x = runs[i]->epoch;
            series[i].y = pass == 0 ? runs[i]->valid_error : runs[i]->valid_accuracy;
            series[i].n = runs[i]->epochs;
        }
        snprintf(file, sizeof file, "%s-%s", stem,
                 pass == 0 ? "valid_error" : "valid_acc");
        snprintf(heading, sizeof heading, "%s: validation %s", title,
                 pass == 0 ? "error" : "accuracy");
        ex_plot plot = {
            heading,
            "epoch",
            pass == 0 ? "validation error (cross-entropy)" : "validation accuracy",
            1,
            series,
            n};
        out_path(path, s, file, ".svg");
        write_plot(path, &plot);
    }
    free(names);
    free(series);
}

void ex_session_compare_time(ex_session *s, const char *stem, const char *title,
                             const ex_result *const *runs, int n)
{
    ex_series *series = ex_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *series);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += (size_t)runs[i]->epochs;
    double *t = ex_xmalloc((total > 0 ? total : 1) * sizeof *t), *at = t;
    for (int i = 0; i < n; i++) {
        series[i] =
            (ex_series){runs[i]->name, at, runs[i]->valid_accuracy, runs[i]->epochs};
        for (int32_t e = 0; e < runs[i]->epochs; e++, at++)
            *at = (e > 0 ? at[-1] : 0.0) + runs[i]->seconds[e];
    }
    char path[PATH_CAP], file[PATH_CAP], heading[256];
    snprintf(file, sizeof file, "%s-valid_acc-time", stem);
    snprintf(heading, sizeof heading, "%s: validation accuracy over time", title);
    ex_plot plot = {heading, "training time (s)", "validation accuracy", 0, series, n};
    out_path(path, s, file, ".svg");
    write_plot(path, &plot);
    free(t);
    free(series);
}

void ex_session_print_summary(const ex_session *s, FILE *f)
{
    fprintf(f,
            EX_SUMMARY_DATASET "%s`, %ld epoch%s, batch size %ld, seed %llu, "
                               "%ld thread%s.\n\n",
            s->dataset, (long)s->opt->epochs, s->opt->epochs == 1 ? "" : "s",
            (long)s->opt->batch_size, (unsigned long long)s->opt->seed,
            (long)s->opt->threads, s->opt->threads == 1 ? "" : "s");
    if (s->opt->train_size > 0)
        fprintf(f, "Trained on the first %ld training images only (--train-size).\n\n",
                (long)mlp_dataset_size(s->train));
    if (command[0])
        fprintf(f, "Command: `%s`\n\n", command);
    _Static_assert(EX_SUM_ALL_COLS == 11, "the table below names every summary column");
    const ex_column *c = ex_summary_columns;
    /* The regression columns only when a run regresses, as in summary.csv. */
    const int regress = ex_summary_column_count((const ex_result *const *)s->results,
                                                s->n_results) > EX_SUM_COLS;
    ex_table *t = regress
                      ? ex_table_new(c[0].name, c[1].name, c[2].name, c[3].name,
                                     c[4].name, c[5].name, c[6].name, c[7].name,
                                     c[8].name, c[9].name, c[10].name, (const char *)NULL)
                      : ex_table_new(c[0].name, c[1].name, c[2].name, c[3].name,
                                     c[4].name, c[5].name, c[6].name, (const char *)NULL);
    for (int i = 0; i < s->n_results; i++) {
        const ex_result *r = s->results[i];
        ex_table_cell(t, "%s", r->name);
        ex_table_cell(t, "%ld", (long)r->epochs);
        ex_table_num(t, 4, r->train_acc);
        ex_table_num(t, 4, r->valid_acc);
        ex_table_num(t, 4, r->best_valid_acc);
        ex_table_num(t, 4, r->test_acc);
        ex_table_num(t, 3, r->seconds_per_epoch);
        if (regress) {
            ex_table_num(t, 4, r->best_valid_r2);
            ex_table_num(t, 4, r->test_rmse);
            ex_table_num(t, 4, r->test_mae);
            ex_table_num(t, 4, r->test_r2);
        }
    }
    ex_table_end(t, f);
    if (s->notes) {
        fputc('\n', f);
        s->notes(s, f, s->notes_user);
    }
}

void ex_session_write_summary(const ex_session *s)
{
    char path[PATH_CAP];
    ex_afile af;

    out_path(path, s, "summary", ".csv");
    open_out(&af, path);
    ex_summary_write_csv(af.f, (const ex_result *const *)s->results, s->n_results);
    commit_out(&af, path);

    out_path(path, s, "summary", ".md");
    open_out(&af, path);
    fprintf(af.f, "# %s results\n\n", program);
    ex_session_print_summary(s, af.f);
    commit_out(&af, path);
}

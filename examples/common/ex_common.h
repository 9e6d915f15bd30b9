/*
 * Shared pieces of the libmlpnet example programs: flag parsing (with the
 * learning-rule flags every program shares), dataset resolution, model and
 * optimizer builders, a "run one experiment" helper that trains a model and
 * writes its history (CSV and SVG plots), comparison plots, the summary
 * writers with program-specific notes, Markdown tables, a progress bar and
 * atomic file writing, and the columns of the run files (RUN.csv,
 * summary.csv) that mlpnet-report reads back. Files: ex_common.c (flags,
 * sessions, summaries), build.c (rules and models), schema.c (run files),
 * table.c, svg.c.
 *
 * Unlike the library, these helpers may print and exit: a failing library
 * call prints "PROG: <what>: <status>: <detail>" on stderr and exits with
 * status 1; a bad command line prints a message and exits with status 2.
 *
 * Typical use (see baseline.c):
 *
 *     ex_options opt;
 *     ex_options_init(&opt, "results/baseline");
 *     ex_parse_args(argc, argv, "mlpnet-baseline", "what it does", &opt, own_flags);
 *     ex_session s;
 *     ex_session_open(&s, &opt);
 *     mlp_model *m = ex_build_mlp(&s, &mlp);
 *     ex_session_train(&s, "run-name", m,
 *                      ex_optimizer(m, ex_rule_of(&opt.rule), ex_lr_of(&opt.rule),
 *                                   &opt.rule));
 *     return ex_session_finish(&s) ? 1 : 0;
 */
#ifndef EX_COMMON_H
#define EX_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <mlpnet/mlpnet.h>

#include "ex_dist.h"

#if defined(__GNUC__) || defined(__clang__)
#define EX_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define EX_NONNULL(arg) __attribute__((nonnull(arg)))
#else
#define EX_PRINTF(fmt, args)
#define EX_NONNULL(arg)
#endif

/** Data directory used when neither --data-dir nor $MLPNET_DATA_DIR is set
 *  (Debian's dataset-fashion-mnist package). */
#define EX_DEFAULT_DATA_DIR "/usr/share/datasets/fashion-mnist"

/** Longest run name, including the terminating NUL. */
#define EX_RUN_NAME_MAX 64

/* ---------------------------------------------------------------------- */
/* Errors                                                                  */

/** Program name used as the prefix of every message (set by ex_parse_args). */
void ex_set_program(const char *name);
const char *ex_program(void);

/** Print "PROG: message" on stderr and exit with status 1. */
_Noreturn void ex_die(const char *fmt, ...) EX_PRINTF(1, 2);

/** Print "PROG: message" and a hint to use --help on stderr, exit with 2. */
_Noreturn void ex_usage_error(const char *fmt, ...) EX_PRINTF(1, 2);

/**
 * Check the status of a library call: on failure print
 * "PROG: <what>: <mlp_status_str>: <mlp_last_error>" and exit with 1.
 */
void ex_check(mlp_status st, const char *what);

/* ---------------------------------------------------------------------- */
/* Command-line flags                                                      */

/** What a flag's value pointer points to. */
typedef enum ex_flag_type {
    EX_FLAG_BOOL,    /**< int, set to 1; the flag takes no value */
    EX_FLAG_INT,     /**< int32_t within [min, max] */
    EX_FLAG_U64,     /**< uint64_t */
    EX_FLAG_DOUBLE,  /**< finite double within [min, max] */
    EX_FLAG_STRING,  /**< const char * (points into argv) */
    EX_FLAG_CHOICE,  /**< int: index of the value in `choices` */
    EX_FLAG_DOUBLES, /**< ex_doubles: comma-separated numbers within [min, max] */
    EX_FLAG_CHOICES  /**< ex_choices: comma-separated names from `choices` */
} ex_flag_type;

/** Most values a list flag takes. */
#define EX_LIST_MAX 16

/** Value of an EX_DOUBLES flag ("0.05,0.1,0.2"); at least one number. */
typedef struct ex_doubles {
    int n;
    double v[EX_LIST_MAX];
} ex_doubles;

/** Value of an EX_CHOICES flag ("sgd,adam"): indices into the choices, in
 *  the order given, at least one, no repeats. */
typedef struct ex_choices {
    int n;
    int v[EX_LIST_MAX];
} ex_choices;

/** One long flag, "--name VALUE" or "--name=VALUE". Build tables with the
 *  EX_* macros below and end them with EX_FLAGS_END. */
typedef struct ex_flag {
    const char *name; /**< without the leading "--" */
    ex_flag_type type;
    void *value;                /**< where the parsed value goes (its current
                                 *   value is shown as the default in --help) */
    const char *metavar;        /**< placeholder shown in --help */
    double min, max;            /**< inclusive range of INT, DOUBLE(S) flags */
    const char *const *choices; /**< NULL-terminated names of a CHOICE flag */
    const char *help;           /**< one line of help; NULL: parsed, but not
                                 *   listed by --help */
} ex_flag;

/* clang-format off */
/* `1 ? (p) : (T *)0` makes the compiler check the type of `p`. */
#define EX_PTR_(T, p) ((void *)(1 ? (p) : (T *)0))
#define EX_BOOL(name, p, help) \
    {(name), EX_FLAG_BOOL, EX_PTR_(int, p), NULL, 0, 0, NULL, (help)}
#define EX_INT(name, p, lo, hi, help) \
    {(name), EX_FLAG_INT, EX_PTR_(int32_t, p), "N", (lo), (hi), NULL, (help)}
#define EX_U64(name, p, help) \
    {(name), EX_FLAG_U64, EX_PTR_(uint64_t, p), "N", 0, 0, NULL, (help)}
#define EX_DOUBLE(name, p, lo, hi, help) \
    {(name), EX_FLAG_DOUBLE, EX_PTR_(double, p), "X", (lo), (hi), NULL, (help)}
#define EX_STRING(name, p, metavar, help) \
    {(name), EX_FLAG_STRING, EX_PTR_(const char *, p), (metavar), 0, 0, NULL, (help)}
#define EX_CHOICE(name, p, choices, help) \
    {(name), EX_FLAG_CHOICE, EX_PTR_(int, p), "NAME", 0, 0, (choices), (help)}
#define EX_DOUBLES(name, p, lo, hi, help) \
    {(name), EX_FLAG_DOUBLES, EX_PTR_(ex_doubles, p), "X,...", (lo), (hi), NULL, (help)}
#define EX_CHOICES(name, p, choices, help) \
    {(name), EX_FLAG_CHOICES, EX_PTR_(ex_choices, p), "NAME,...", 0, 0, (choices), (help)}
#define EX_FLAGS_END {NULL, EX_FLAG_BOOL, NULL, NULL, 0, 0, NULL, NULL}
/* clang-format on */

/** Names of the learning rules, NULL-terminated: entry i is mlp_rule i + 1
 *  ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw", "adagrad"). */
extern const char *const ex_rule_names[];

/** The learning rule and its hyper-parameters, from the shared flags
 *  --learning-rule, --lr, --momentum, --beta1, --beta2, --epsilon, --decay
 *  and --weight-decay. NaN means "not given": the rule's default. */
typedef struct ex_rule_options {
    int rule;            /**< index into ex_rule_names; default sgd */
    double lr;           /**< NaN: ex_default_lr(rule) */
    double momentum;     /**< mu of momentum, Nesterov (and RMSProp) */
    double beta1;        /**< Adam, AdamW */
    double beta2;        /**< Adam, AdamW */
    double epsilon;      /**< RMSProp, Adam, AdamW, AdaGrad */
    double decay;        /**< RMSProp's rho */
    double weight_decay; /**< L2 (AdamW: decoupled), every rule */
} ex_rule_options;

/** Which learning-rule flags a program offers (ex_options.rule_flags). */
enum {
    EX_RULE_FLAGS_ALL,    /**< --learning-rule, --lr and the hyper-parameters */
    EX_RULE_FLAGS_PARAMS, /**< the hyper-parameters only (the program picks
                               rules and rates itself) */
    EX_RULE_FLAGS_NONE
};

/** Settings every experiment program shares. */
typedef struct ex_options {
    const char *data_dir; /**< NULL: $MLPNET_DATA_DIR, then EX_DEFAULT_DATA_DIR */
    const char *dataset;  /**< NULL: the first present of emnist-bymerge47,
                               emnist-balanced and fashion-mnist */
    int32_t epochs;       /**< default 20 */
    int32_t batch_size;   /**< default 100 */
    int32_t valid_size;   /**< default MLP_DEFAULT_VALID_SIZE */
    int32_t train_size;   /**< train on the first N images only; 0 (default): all */
    int32_t threads;      /**< OpenBLAS threads; default 1, 0 = OpenBLAS's choice */
    uint64_t seed;        /**< initialisation and shuffling; default 123456 */
    const char *out_dir;  /**< default given to ex_options_init */
    const char *save;     /**< --save FILE: the best-validation model, or NULL */
    int quiet;            /**< no per-epoch lines and no progress bar */
    int flush_denormals;  /**< --flush-denormals: mlp_set_flush_denormals(1) */
    ex_rule_options rule; /**< learning rule (default: SGD at its default rate) */
    int rule_flags;       /**< EX_RULE_FLAGS_*; default EX_RULE_FLAGS_ALL */
    int tables;           /**< the program reads tables, not an image dataset
                           *   (mlpnet-tabular): --help leaves out --dataset,
                           *   --valid-size and --train-size (which it
                           *   refuses) and says what --data-dir is for */
    int distributed;      /**< --distributed: data-parallel on the ranks of an MPI
                               job, started by ex_parse_args (ex_dist.h) */
} ex_options;

/** Fill `o` with the defaults; `default_out` is the output directory. A
 *  program may change a default (threads, epochs, rule) before parsing:
 *  --help shows the value at parse time. */
void ex_options_init(ex_options *o, const char *default_out);

/**
 * Parse the command line into `o` (the shared flags) and into the program's
 * own `flags` (a table ended by EX_FLAGS_END; may be NULL). Also sets the
 * program name. --help prints the usage and exits with 0; an unknown flag,
 * a missing or bad value, or a positional argument exits with 2. With
 * EX_RULE_FLAGS_ALL, a hyper-parameter the chosen rule does not have is a
 * usage error, and --momentum above 0 turns the default rule sgd into
 * momentum (as the baseline's --momentum always did).
 * @param description  one or two sentences shown by --help
 */
void ex_parse_args(int argc, char **argv, const char *program, const char *description,
                   ex_options *o, const ex_flag *flags);

/**
 * For a program that compares the `n` rules `rules` (indices into
 * ex_rule_names) with EX_RULE_FLAGS_PARAMS: exit with a usage error (2)
 * when a hyper-parameter flag was given that none of them has, since it
 * would change nothing. RMSProp runs count as plain RMSProp (without
 * --momentum), as such programs train them.
 */
void ex_check_rules_params(const ex_options *o, const int *rules, int n);

/* ---------------------------------------------------------------------- */
/* Experiments                                                             */

/** The history and summary of one training run. */
typedef struct ex_result {
    char name[EX_RUN_NAME_MAX]; /**< run name, also the stem of its files */
    int32_t epochs;             /**< epochs completed */
    int32_t best_epoch;         /**< 1-based epoch of the best validation
                                 *   accuracy, 0 if none completed */
    double train_acc;           /**< of the last epoch */
    double valid_acc;           /**< of the last epoch */
    double best_valid_acc;
    double test_acc;          /**< with the parameters of best_epoch */
    double seconds_per_epoch; /**< median training-pass time */
    int64_t params;           /**< trainable parameters of the model */
    int diverged;             /**< stopped by MLP_STATUS_NUMERIC */
    /* Per-epoch history, `epochs` entries each (one allocation). */
    double *epoch, *train_error, *train_accuracy, *valid_error, *valid_accuracy, *seconds;
    /* A model that regresses (MLP_TASK_REGRESS): its best epoch is the one
     * of the best validation R^2, the accuracies are NaN, and the run files
     * get the regression columns (EX_HIST_TRAIN_R2.., EX_SUM_BEST_VALID_R2..).
     * The figures below are NaN for a classifier. */
    int regress;
    double best_valid_r2;
    double test_rmse, test_mae, test_r2; /**< with the parameters of best_epoch */
    double *train_r2, *valid_rmse, *valid_mae, *valid_r2; /**< history, as above */
} ex_result;

/** Data and results shared by the runs of one program invocation. */
typedef struct ex_session ex_session;
struct ex_session {
    const ex_options *opt; /**< borrowed: must outlive the session */
    const char *data_dir;  /**< resolved directory */
    const char *dataset;   /**< resolved dataset name */
    mlp_dataset *train, *valid, *test;
    int progress;           /**< draw a progress bar (stderr is a terminal) */
    int diverged;           /**< runs stopped by MLP_STATUS_NUMERIC */
    double saved_valid_acc; /**< best validation accuracy saved to --save so far */
    ex_result **results;    /**< every run so far, in order */
    int n_results, cap_results;
    /** Extra Markdown printed after the summary table (see
     *  ex_session_set_notes); NULL for none. */
    void (*notes)(const ex_session *s, FILE *f, void *user);
    void *notes_user;
};

/**
 * Resolve the data directory and dataset, open its three splits, set the
 * OpenBLAS thread count and create the output directory. Exits on failure.
 */
void ex_session_open(ex_session *s, const ex_options *opt);

/**
 * Open a session whose data the program supplies (ex_session_set_data)
 * instead of an image dataset: set the thread count and create the output
 * directory. `data_dir` and `label` (the dataset name the summary shows)
 * are borrowed and must outlive the session. Exits on failure.
 */
void ex_session_open_custom(ex_session *s, const ex_options *opt, const char *data_dir,
                            const char *label);

/**
 * Give the session the splits the next runs train, validate and test on
 * (all three consumed; `valid` may be NULL), freeing those it had.
 */
void ex_session_set_data(ex_session *s, mlp_dataset *train, mlp_dataset *valid,
                         mlp_dataset *test);

/** Free the datasets and every result. */
void ex_session_close(ex_session *s);

/**
 * End a program's runs: rewrite OUT/summary.{csv,md} (so the notes see
 * every run), print the summary and where the results are on stdout, and
 * close the session.
 * @return the number of runs that diverged (s->diverged)
 */
int ex_session_finish(ex_session *s);

/** Per-sample input size C*H*W, and number of classes, of the dataset. */
int32_t ex_input_size(const ex_session *s);
int32_t ex_num_classes(const ex_session *s);
/** Outputs a model of the training set needs: its classes, or the floats
 *  per target of a dataset with float targets. */
int32_t ex_num_outputs(const ex_session *s);

/**
 * Train `model` with `opt` for opt->epochs epochs, printing one line per
 * epoch, keeping a copy of the parameters of the epoch with the best
 * validation accuracy, and rewriting OUT/NAME.csv, OUT/NAME-error.svg and
 * OUT/NAME-accuracy.svg after every epoch. When training ends the model is
 * given the best parameters and evaluated on the test set, and
 * OUT/summary.{csv,md} are rewritten. Training that turns numerically
 * unstable (MLP_STATUS_NUMERIC) ends the run with the usual error message
 * but does not exit: the epochs before it are kept, s->diverged is
 * incremented, and the program should exit with 1 once every run is done.
 * Any other failure exits at once.
 * @param name  run name: short and filesystem-safe ("elu-3x100-lr0.1")
 * @return the run's result (borrowed: owned by the session)
 */
const ex_result *ex_session_run(ex_session *s, const char *name, mlp_model *model,
                                mlp_optimizer *opt);

/** ex_session_run, then destroy the optimizer and the model (both owned
 *  by the call). The recipe form: ex_session_train(s, name, m, ex_optimizer(...)). */
const ex_result *ex_session_train(ex_session *s, const char *name, mlp_model *model,
                                  mlp_optimizer *opt);

/** The result of an earlier run of that name, or NULL (borrowed). */
const ex_result *ex_session_find(const ex_session *s, const char *name);

/**
 * Write OUT/STEM-valid_error.svg and OUT/STEM-valid_acc.svg comparing the
 * validation curves of `n` runs, titled "TITLE: validation error" and
 * "TITLE: validation accuracy".
 * @param labels  legend entries, one per run; NULL to use the run names
 */
void ex_session_compare(ex_session *s, const char *stem, const char *title,
                        const ex_result *const *runs, const char *const *labels, int n);

/**
 * Write OUT/STEM-valid_acc-time.svg: validation accuracy against the
 * cumulative training time in seconds (training passes only), for
 * comparing runs whose epochs cost different times.
 */
void ex_session_compare_time(ex_session *s, const char *stem, const char *title,
                             const ex_result *const *runs, int n);

/**
 * Have `fn` append Markdown to the summary (summary.md and the table
 * ex_session_print_summary prints) after the table of runs. It is called
 * after every run, so it must cope with runs that have not happened yet.
 */
void ex_session_set_notes(ex_session *s,
                          void (*fn)(const ex_session *s, FILE *f, void *user),
                          void *user);

/** Rewrite OUT/summary.csv and OUT/summary.md from every run so far. */
void ex_session_write_summary(const ex_session *s);

/** Print the summary (the body of summary.md: the command line, the table
 *  of runs and the notes) to `f`. */
void ex_session_print_summary(const ex_session *s, FILE *f);

/**
 * Format a run name into `buf` (EX_RUN_NAME_MAX bytes); exits when it does
 * not fit. Returns `buf`.
 */
char *ex_run_name(char *buf, const char *fmt, ...) EX_PRINTF(2, 3);

/* ---------------------------------------------------------------------- */
/* Learning rules and models (build.c)                                     */

/** Number of learning rules (entries of ex_rule_names). */
#define EX_RULE_COUNT 7

/** The mlp_rule of a rule index, and the index of an mlp_rule. */
#define EX_RULE(index) ((mlp_rule)((index) + 1))
#define EX_RULE_INDEX(rule) ((int)(rule)-1)

/** Rate used when --lr is not given: 0.1 for sgd, 0.02 for momentum and
 *  nesterov, 5e-4 for rmsprop, 1e-3 for adam and adamw, 0.01 for adagrad. */
double ex_default_lr(mlp_rule rule);

/** The rule and the rate the options select (--lr, else the default). */
mlp_rule ex_rule_of(const ex_rule_options *r);
double ex_lr_of(const ex_rule_options *r);

/** For run names: "" for sgd, else the rule's name and a dash ("adam-"). */
const char *ex_rule_infix(const ex_rule_options *r);

/**
 * Create an optimizer for `model` with `rule` at rate `lr`, then set every
 * hyper-parameter of `hp` that was given (not NaN) and that the rule has;
 * the others are skipped, so one set of flags can serve several rules.
 * @param hp  may be NULL: the rule's defaults
 */
mlp_optimizer *ex_optimizer(mlp_model *model, mlp_rule rule, double lr,
                            const ex_rule_options *hp);

/** Activation functions: index into ex_activation_names. */
enum {
    EX_ACT_SIGMOID,
    EX_ACT_TANH,
    EX_ACT_RELU,
    EX_ACT_LEAKY_RELU,
    EX_ACT_ELU,
    EX_ACT_SELU,
    EX_ACT_COUNT
};
extern const char *const ex_activation_names[]; /**< NULL-terminated */

/** A multi-layer perceptron: hidden_layers x (dense [-> batch norm] ->
 *  activation [-> dropout]), then the dense output layer. */
typedef struct ex_mlp {
    int activation;        /**< EX_ACT_* */
    int32_t hidden_layers; /**< may be 0 */
    int32_t hidden_units;
    int batchnorm;  /**< dense without bias -> batch norm -> activation */
    double dropout; /**< probability of dropping, for a dropout layer after each
                         activation; 0: none */
} ex_mlp;

/** The report's baseline: 3 hidden layers of 100 ELU units. */
#define EX_MLP_BASELINE                                                                  \
    {                                                                                    \
        EX_ACT_ELU, 3, 100, 0, 0.0                                                       \
    }

/** Flag table entries --activation, --hidden-layers, --hidden-units for an
 *  ex_mlp pointer `p`. */
#define EX_MLP_FLAGS(p)                                                                  \
    EX_CHOICE("activation", &(p)->activation, ex_activation_names,                       \
              "activation function of the hidden layers"),                               \
        EX_INT("hidden-layers", &(p)->hidden_layers, 0, 100, "hidden layers"),           \
        EX_INT("hidden-units", &(p)->hidden_units, 1, 100000, "units per hidden layer")

/** A new empty model taking the dataset's images, flattened ([C*H*W],
 *  image = 0) or as they are ([C,H,W], image = 1). */
mlp_model *ex_model_new(const ex_session *s, int image);

/* Each adds one layer to `m` or exits with a message. */
void ex_add_dense(mlp_model *m, int32_t units, int use_bias);
void ex_add_activation(mlp_model *m, int activation);
void ex_add_batchnorm(mlp_model *m);              /**< per feature */
void ex_add_batchnorm_spatial(mlp_model *m);      /**< per channel of [C,H,W] */
void ex_add_dropout(mlp_model *m, double drop_p); /**< drop probability drop_p */
/** `filters` k x k kernels, stride 1, zero padding `pad` on each side, with
 *  a bias per filter or (use_bias 0, before batch norm) without. */
void ex_add_conv(mlp_model *m, int32_t filters, int32_t k, int32_t pad, int use_bias);
/** k x k windows, stride k. */
void ex_add_maxpool(mlp_model *m, int32_t k);

/** Add the hidden layers and the output layer (one unit per class, or per
 *  target value: ex_num_outputs) of `mlp`
 *  to `m`, which may already hold other layers (e.g. convolutions). */
void ex_add_mlp(const ex_session *s, mlp_model *m, const ex_mlp *mlp);

/** ex_model_new (flattened input) + ex_add_mlp. */
mlp_model *ex_build_mlp(const ex_session *s, const ex_mlp *mlp);

/* ---------------------------------------------------------------------- */
/* Markdown tables (table.c)                                               */

/** A table filled cell by cell, row after row, then printed as Markdown
 *  with padded columns (the first and those of text left-aligned, those of
 *  numbers right-aligned). */
typedef struct ex_table ex_table;

/** A table with the given column headers (NULL-terminated list). */
ex_table *ex_table_new(const char *header, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((sentinel))
#endif
    ;

/** Append the next cell (cells longer than 63 characters are cut). */
void ex_table_cell(ex_table *t, const char *fmt, ...) EX_PRINTF(2, 3);

/** Append a number with `decimals` digits, "nan" when it is NaN. */
void ex_table_num(ex_table *t, int decimals, double v);

/** Print the table to `f` and free it. */
void ex_table_end(ex_table *t, FILE *f);

/* ---------------------------------------------------------------------- */
/* Utilities                                                               */

/**
 * How noisy a validation curve is: the standard deviation of the
 * epoch-to-epoch changes of the validation error from the 1-based epoch
 * `from` on (NaN for fewer than two changes).
 * @param rises  receives how many of those changes were rises
 */
double ex_valid_noise(const ex_result *r, int from, int *rises);

/** Median of n values (NaN for n == 0); `v` is not modified. */
double ex_median(const double *v, int n);

/** Seconds from a monotonic clock. */
double ex_now(void);

/**
 * Draw (or redraw) a one-line progress bar on stderr:
 * "LABEL [=====>    ]  45%  2.1 s, eta 2.6 s". `start` is the ex_now() of
 * the beginning of the task. Call ex_progress_clear() before printing
 * anything else.
 */
void ex_progress_draw(const char *label, int64_t done, int64_t total, double start);
void ex_progress_clear(void);

/** malloc that exits with a message when out of memory; 0 bytes is 1. */
void *ex_xmalloc(size_t n);
/** A copy of `s` from ex_xmalloc (owned: free). */
char *ex_xstrdup(const char *s);
/**
 * Make room for `need` elements of `size` bytes in the array `p` of
 * capacity `*cap` (doubling, at least 16); exits when out of memory.
 * @return the array, perhaps moved (the old pointer is then invalid)
 */
void *ex_xgrow(void *p, int *cap, int need, size_t size);

/** Create a directory and its parents (like mkdir -p). 0, or -1 with errno. */
int ex_mkdirs(const char *path);

/**
 * A file written atomically: the data go to "PATH.tmp", which is renamed to
 * PATH only after it was flushed and closed without error, so an
 * interrupted program never leaves a partial PATH.
 */
typedef struct ex_afile {
    FILE *f; /**< write here */
    char *path;
    char *tmp_path;
} ex_afile;

/** Open PATH.tmp for writing. 0, or -1 with errno set. */
int ex_afile_open(ex_afile *af, const char *path);
/** Flush, close and rename into place; on any error remove the temporary
 *  file. 0, or -1 with errno set. Always releases `af`. */
int ex_afile_commit(ex_afile *af);
/** Close and remove the temporary file. */
void ex_afile_abort(ex_afile *af);

/* ---------------------------------------------------------------------- */
/* Run files (schema.c)                                                    */

/*
 * Every run writes OUT/RUN.csv, its per-epoch history, and every program
 * OUT/summary.csv, one row per run; mlpnet-report reads both back. Their
 * columns are defined here once, for the writers and the reader: comma-
 * separated, a header line of the column names, numbers with a fixed
 * number of decimals and "nan" for NaN.
 */

/** One CSV column: its name in the header and the decimals of its numbers
 *  (0: a whole number; -1: text). */
typedef struct ex_column {
    const char *name;
    int decimals;
} ex_column;

/** Columns of RUN.csv, in order: one row per epoch. */
enum {
    EX_HIST_EPOCH,       /**< 1-based epoch */
    EX_HIST_TRAIN_ERROR, /**< cross-entropy on the training set */
    EX_HIST_TRAIN_ACC,
    EX_HIST_VALID_ERROR,
    EX_HIST_VALID_ACC,
    EX_HIST_SECONDS, /**< of the training pass */
    EX_HIST_COLS,    /**< the columns of every run */
    /* Columns only a run that regresses (ex_result.regress) writes, after
     * the others: the files of the classifiers keep their six columns. */
    EX_HIST_TRAIN_R2 = EX_HIST_COLS, /**< R^2 over the epoch's training batches */
    EX_HIST_VALID_RMSE,
    EX_HIST_VALID_MAE,
    EX_HIST_VALID_R2,
    EX_HIST_ALL_COLS
};
extern const ex_column ex_history_columns[EX_HIST_ALL_COLS];

/** Columns of summary.csv, in order: one row per run (see ex_result). */
enum {
    EX_SUM_RUN,
    EX_SUM_EPOCHS, /**< epochs completed */
    EX_SUM_TRAIN_ACC,
    EX_SUM_VALID_ACC,
    EX_SUM_BEST_VALID_ACC,
    EX_SUM_TEST_ACC,
    EX_SUM_SECONDS_PER_EPOCH,
    EX_SUM_COLS, /**< the columns of every summary */
    /* Columns a summary has only when one of its runs regresses. */
    EX_SUM_BEST_VALID_R2 = EX_SUM_COLS,
    EX_SUM_TEST_RMSE,
    EX_SUM_TEST_MAE,
    EX_SUM_TEST_R2,
    EX_SUM_ALL_COLS
};
extern const ex_column ex_summary_columns[EX_SUM_ALL_COLS];

/** Room for the header line of either file, with its NUL. */
#define EX_HEADER_CAP 192

/** The header line of `n` columns ("epoch,train_error,..."), without a
 *  newline, into `buf` (`cap` bytes, EX_HEADER_CAP is enough). Returns `buf`. */
const char *ex_csv_header(char *buf, size_t cap, const ex_column *cols, int n);

/** A number as the run files and summaries write it: `decimals` decimals,
 *  "nan" for NaN (never "-nan"). Returns `buf`. */
const char *ex_format_num(char *buf, size_t cap, int decimals, double v);

/** Give `r` room for `n` epochs of history: its arrays (every EX_HIST_*
 *  column) share one allocation, freed with free(r->epoch). Exits when out
 *  of memory. */
void ex_result_alloc_history(ex_result *r, size_t n);

/** The history array of column `col` (EX_HIST_*) of `r` (borrowed). */
double *ex_result_history(const ex_result *r, int col);

/** Columns of `r`'s RUN.csv: EX_HIST_ALL_COLS when it regresses, else
 *  EX_HIST_COLS. */
int ex_history_column_count(const ex_result *r);

/** Columns of a summary of these runs: EX_SUM_ALL_COLS when one of them
 *  regresses, else EX_SUM_COLS. */
int ex_summary_column_count(const ex_result *const *runs, int n);

/** Write RUN.csv: the header, then one row per epoch of `r`'s history. */
void ex_history_write_csv(FILE *f, const ex_result *r);

/** The cells of one summary.csv row of `r` (every column; a summary
 *  writes the first ex_summary_column_count of them). */
void ex_summary_cells(const ex_result *r, char cells[EX_SUM_ALL_COLS][EX_RUN_NAME_MAX]);

/** Write summary.csv: the header, then one row per run. */
void ex_summary_write_csv(FILE *f, const ex_result *const *runs, int n);

/** The start of summary.md's first line after the title,
 *  "Dataset `NAME`, N epochs, batch size ...": mlpnet-report reads the
 *  dataset and the epochs asked for from it (reproduce.sh the dataset). */
#define EX_SUMMARY_DATASET "Dataset `"

/** What a program prints on stderr when a run stops early, "PROG: WHAT
 *  (stopped after N epochs): STATUS: DETAIL": in a failed task's log,
 *  mlpnet-report takes it with the status of MLP_STATUS_NUMERIC for a run
 *  that diverged. */
#define EX_STOPPED_AFTER "(stopped after "

/** Whether `s` is a safe run or task name: one path component of 1 to
 *  cap - 1 letters, digits, '.', '_' or '-', not starting with '.'. */
int ex_safe_name(const char *s, size_t cap);

/* ---------------------------------------------------------------------- */
/* SVG line plots (svg.c)                                                  */

/** One named line: n points (x[i], y[i]); non-finite points break the line. */
typedef struct ex_series {
    const char *name;
    const double *x;
    const double *y;
    int n;
} ex_series;

/** A line plot with axes, tick labels, a title and a legend. */
typedef struct ex_plot {
    const char *title;
    const char *xlabel;
    const char *ylabel;
    int integer_x; /**< x ticks at whole numbers only (epochs) */
    const ex_series *series;
    int n_series;
} ex_plot;

/** Write the plot as a self-contained SVG 1.1 file to `f`. 0, or -1. */
int ex_svg_plot(FILE *f, const ex_plot *plot);

/** Write the plot atomically to `path`. 0, or -1 with errno set. */
int ex_svg_write(const char *path, const ex_plot *plot);

/**
 * Write `n` plots as the panels of one figure, `cols` panels per row, under
 * the figure's `title`, with one legend to the right of the grid. The
 * legend is that of the first panel: give every panel the same runs in the
 * same order, so that a run has the same colour in each. A panel without
 * data shows "no data". Self-contained SVG 1.1 as ex_svg_plot. 0, or -1
 * (EINVAL when n or cols is below 1).
 */
int ex_svg_grid(FILE *f, const char *title, const ex_plot *panels, int n, int cols);

/** Write the figure of ex_svg_grid atomically to `path`. 0, or -1 with errno set. */
int ex_svg_grid_write(const char *path, const char *title, const ex_plot *panels, int n,
                      int cols);

#endif /* EX_COMMON_H */

/*
 * CSV reader: a table of numbers (RFC 4180 text, raw or gzip) into a
 * float32 dataset of per-sample shape [F], with class labels or a float
 * target from one column.
 *
 * A file is read through a window of a few MiB (gz_stream.h passes plain
 * files through and reads pipes), refilled between records, so the text is
 * never held whole: each record is split into fields in a buffer of the
 * record's size (quotes removed, fields NUL-terminated), the chosen columns
 * are converted, and the rows fill arrays of their own, sized once from a
 * count of the file's line breaks where the file can be read twice (a plain
 * regular file) and grown by doubling where it cannot (gzip, pipes). Only
 * at the end is the dataset built (mlp__dataset_build), taking the arrays
 * over, so a failure anywhere returns nothing. Text already in memory
 * (mlp__dataset_load_csv_mem) is one window that needs no refill.
 *
 * Class labels are kept in a small open-addressing hash table of their
 * first-seen ids; sorting, when asked, happens once at the end and remaps
 * the ids of the rows.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, fstat, close */
#endif

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "dataset_impl.h"
#include "gz_stream.h"

/* The size of mlp_csv_options in every release, oldest first (see
 * mlp_fit_options in model.h for the rule). */
static const size_t csv_options_sizes[] = {
    MLP__SIZE_UP_TO(mlp_csv_options, num_class_names), /* 0.3 */
};
#define N_CSV_SIZES (sizeof csv_options_sizes / sizeof csv_options_sizes[0])
_Static_assert(MLP__SIZE_UP_TO(mlp_csv_options, num_class_names) ==
                   sizeof(mlp_csv_options),
               "a field was appended to mlp_csv_options: list the new size");

/* deflate cannot expand more than 1032 times. The text has no bound of
 * its own beyond what a size_t counts (a build with a 32-bit size_t): it
 * goes through the window, and the rows it gives are bounded by
 * INT32_MAX and by memory (11 million rows of 29 numbers written to 18
 * digits are about 8 GB of text and 1.3 GB of floats). */
#define GZ_MAX_RATIO 1032u
#define CSV_MAX_TEXT SIZE_MAX
#define WIN_AHEAD MLP__CSV_WIN_AHEAD
#define WIN_SIZE MLP__CSV_WIN_SIZE

/* Role of a column. */
#define COL_SKIP (-1)
#define COL_TARGET (-2)

static void csv_defaults(mlp_csv_options *o)
{
    *o = (mlp_csv_options){
        .struct_size = sizeof *o,
        .separator = ',',
        .header = 1,
        .target_index = -1,
        .label_order = MLP_LABELS_SORTED,
    };
}

mlp_status mlp_csv_options_init_size(mlp_csv_options *opts, size_t struct_size)
{
    mlp_csv_options d;
    csv_defaults(&d);
    return mlp__init_sized(opts, &d, struct_size, csv_options_sizes, N_CSV_SIZES,
                           "mlp_csv_options_init", "mlp_csv_options");
}

/* ---- growing arrays ---------------------------------------------------- */

/* Make room for `need` elements of `elem` bytes in *buf (capacity *cap),
 * doubling, in blocks for datasets (the rows become the dataset's). 0 when
 * out of memory (the old block stays). */
static int grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 1;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    size_t bytes;
    if (!mlp__mul_size(n, elem, &bytes))
        return 0;
    void *p = mlp__alloc_big(bytes);
    if (!p)
        return 0;
    if (*buf)
        memcpy(p, *buf, *cap * elem);
    mlp__free(*buf);
    *buf = p;
    *cap = n;
    return 1;
}

/* A block of exactly `n` elements of `elem` bytes for the empty *buf,
 * *cap its capacity. 0 when out of memory. */
static int reserve(void **buf, size_t *cap, size_t n, size_t elem)
{
    size_t bytes;
    if (!mlp__mul_size(n, elem, &bytes) || !(*buf = mlp__alloc_big(bytes)))
        return 0;
    *cap = n;
    return 1;
}

/* The block *buf of *cap elements holds `n`: when it is more than twice
 * their size, they move to a block of their size, which the dataset keeps
 * (finish). 0 when out of memory (the old block stays). */
static int fit(void **buf, size_t *cap, size_t n, size_t elem)
{
    if (!*buf || *cap - n <= n)
        return 1;
    void *p = mlp__alloc_big(n * elem);
    if (!p)
        return 0;
    memcpy(p, *buf, n * elem);
    mlp__free(*buf);
    *buf = p;
    *cap = n;
    return 1;
}

/* ---- the reader's state ------------------------------------------------ */

typedef struct csv_field {
    size_t off, len; /* in rec: the unquoted text, NUL-terminated */
    long long line;  /* line where the field starts */
} csv_field;

typedef struct column_ref {
    const char *name; /* in the header's text */
    int32_t col;
} column_ref;

typedef struct label_entry {
    char *name; /* owned */
    int32_t id; /* first-seen id (or index in the given list) */
} label_entry;

typedef struct csv_reader {
    const char *name; /* the file, for messages */
    mlp_csv_options o;
    const char *p, *end; /* the text not yet parsed, or the part in the window */
    long long line;
    /* A file's window (NULL for text in memory): [p, end) lies in win and
     * holds at least WIN_AHEAD bytes at the start of every record, or all
     * that is left of the text (eof). */
    mlp__gz_stream *gz;
    char *win;
    int eof;
    size_t text_read;     /* bytes of text read from the file so far */
    size_t text_limit;    /* the most the file may hold */
    size_t file_size;     /* a plain regular file's size, else 0 */
    long long file_lines; /* its line breaks, counted before parsing, or -1 */
    char *rec;            /* the current record's fields */
    size_t rec_cap;
    csv_field *f;
    size_t f_cap;
    int32_t nf;
    /* header */
    char *head;
    csv_field *head_f;
    column_ref *by_name; /* the header sorted by name (column_by_name), or NULL */
    int32_t ncols;
    int32_t *role; /* per column: feature slot, COL_SKIP or COL_TARGET */
    int32_t nfeat;
    /* rows */
    int32_t rows;
    float *x;
    size_t x_cap;
    float *y;
    size_t y_cap;
    int32_t *lab;
    size_t lab_cap;
    /* labels */
    label_entry *tab; /* hash table, tab_cap slots (a power of 2) */
    size_t tab_cap;
    char **by_id; /* names by first-seen id */
    size_t by_id_cap;
    int32_t nlabels;
    int frozen;   /* labels come from the given list only */
    char decimal; /* the locale's decimal point where it is not '.', else 0 */
} csv_reader;

static void reader_free(csv_reader *r)
{
    mlp__free(r->win);
    mlp__free(r->rec);
    mlp__free(r->f);
    mlp__free(r->head);
    mlp__free(r->head_f);
    mlp__free(r->by_name);
    mlp__free(r->role);
    mlp__free(r->x);
    mlp__free(r->y);
    mlp__free(r->lab);
    for (int32_t i = 0; i < r->nlabels; i++)
        mlp__free(r->by_id[i]);
    mlp__free(r->by_id);
    mlp__free(r->tab);
}

static mlp_status oom(const csv_reader *r)
{
    return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory reading CSV", r->name);
}

/* A message about field `col` (0-based) at `line`: "file:line:col (name): ...". */
static mlp_status MLP__PRINTF(5, 6) at(const csv_reader *r, mlp_status st, long long line,
                                       int32_t col, const char *fmt, ...)
{
    char msg[512], head[96] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->head && col < r->ncols) {
        /* the column's name, up to 64 bytes, each control character as '?':
         * a quoted name may hold a line break or an escape sequence, which
         * would split the message or reach a terminal */
        char name[65];
        const char *h = r->head + r->head_f[col].off;
        size_t i = 0;
        for (; i < sizeof name - 1 && h[i]; i++)
            name[i] = (unsigned char)h[i] < 0x20 || h[i] == 0x7f ? '?' : h[i];
        name[i] = '\0';
        snprintf(head, sizeof head, " (%s)", name);
    }
    return mlp__error(st, "%s:%lld:%d%s: %s", r->name, line, (int)col + 1, head, msg);
}

/* ---- records ----------------------------------------------------------- */

/* A NUL byte at `nul` in the text, whose line starts at `start` on line
 * `line`: binary data or UTF-16 text, whose fields the parser would cut
 * short at it ("" is not a number). */
static mlp_status nul_byte(const char *name, const char *start, const char *nul,
                           long long line)
{
    for (const char *q = start; (q = memchr(q, '\n', (size_t)(nul - q))) != NULL; q++) {
        line++;
        start = q + 1;
    }
    return mlp__error(MLP_STATUS_BAD_FORMAT,
                      "%s:%lld: a NUL byte (byte %zu of the line): binary data, not CSV "
                      "text (UTF-16 text must be saved as UTF-8)",
                      name, line, (size_t)(nul - start) + 1);
}

/* At the start of a line: keep WIN_AHEAD bytes of text ahead of r->p in
 * the window, or all that is left. The bytes already parsed are dropped;
 * new ones are checked for NUL bytes and against the file's limit. */
static mlp_status refill(csv_reader *r)
{
    if (!r->gz || r->eof || (size_t)(r->end - r->p) >= WIN_AHEAD)
        return MLP_STATUS_OK;
    size_t keep = (size_t)(r->end - r->p);
    memmove(r->win, r->p, keep);
    r->p = r->win;
    r->end = r->win + keep;
    size_t want = WIN_SIZE - keep, got;
    if (want > r->text_limit - r->text_read)
        want = r->text_limit - r->text_read;
    MLP_TRY(mlp__gz_read(r->gz, r->win + keep, want, &got));
    r->text_read += got;
    r->end += got;
    const char *nul = memchr(r->win + keep, '\0', got);
    if (nul)
        return nul_byte(r->name, r->p, nul, r->line);
    if (got < want) {
        r->eof = 1;
    } else if (r->text_read == r->text_limit) {
        char probe;
        MLP_TRY(mlp__gz_read(r->gz, &probe, 1, &got));
        if (got != 0)
            return mlp__error(MLP_STATUS_BAD_FORMAT,
                              "%s: more than %zu bytes of text (%s)", r->name,
                              r->text_limit,
                              r->text_limit == CSV_MAX_TEXT ? "what a size_t counts"
                                                            : "beyond deflate's ratio");
        r->eof = 1; /* exactly at the limit */
    }
    return MLP_STATUS_OK;
}

static int at_eol(const csv_reader *r, const char *p)
{
    return *p == '\n' || (*p == '\r' && p + 1 < r->end && p[1] == '\n');
}

/* The first byte of [p, lim) that may end an unquoted field (the
 * separator, a line break, a CR) or is a quote, which it may not hold; lim
 * when there is none. Eight bytes at a time where the compiler tells a
 * little-endian machine: a byte equal to c makes w ^ c's byte 0, and
 * (x - 0x01..) & ~x & 0x80.. flags every zero byte of x, and no byte below
 * the first zero one (a borrow only runs upwards), so the lowest flag is
 * the first such byte. A long field (text padded with blanks) took a
 * branch per byte. */
static const char *field_stop(const char *p, const char *lim, char sep)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) &&                                      \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    const uint64_t cs = ones * (unsigned char)sep, cq = ones * '"', cn = ones * '\n',
                   cr = ones * '\r';
    for (; lim - p >= 8; p += 8) {
        uint64_t w;
        memcpy(&w, p, sizeof w);
        const uint64_t a = w ^ cs, b = w ^ cq, c = w ^ cn, d = w ^ cr;
        const uint64_t z =
            ((a - ones) & ~a) | ((b - ones) & ~b) | ((c - ones) & ~c) | ((d - ones) & ~d);
        if (z & highs)
            return p + (__builtin_ctzll(z & highs) >> 3);
    }
#endif
    while (p < lim && *p != sep && *p != '"' && *p != '\n' && *p != '\r')
        p++;
    return p;
}

/* Split the next record into fields (r->f, r->nf). *got is 0 at the end of
 * the text. Empty lines between records are skipped. */
static mlp_status next_record(csv_reader *r, int *got)
{
    *got = 0;
    for (;;) {
        MLP_TRY(refill(r));
        if (r->p == r->end || !at_eol(r, r->p))
            break;
        r->p += *r->p == '\r' ? 2 : 1;
        r->line++;
    }
    if (r->p == r->end)
        return MLP_STATUS_OK;
    const char *start = r->p;
    const char sep = (char)r->o.separator;
    size_t used = 0;
    r->nf = 0;
    for (;;) {
        if (!grow((void **)&r->f, &r->f_cap, (size_t)r->nf + 1, sizeof *r->f))
            return oom(r);
        csv_field *fd = &r->f[r->nf];
        int32_t col = r->nf;
        fd->off = used;
        fd->line = r->line;
        const char *p = r->p;
        if (p < r->end && *p == '"') {
            for (p++;;) {
                if (p == r->end)
                    return at(r, MLP_STATUS_BAD_FORMAT, fd->line, col,
                              "the quoted field never ends");
                if (*p == '"') {
                    if (p + 1 < r->end && p[1] == '"') {
                        r->rec[used++] = '"';
                        p += 2;
                    } else {
                        p++;
                        break;
                    }
                } else {
                    if (*p == '\n')
                        r->line++;
                    r->rec[used++] = *p++;
                }
                if (used - fd->off > MLP_CSV_MAX_FIELD ||
                    (size_t)(p - start) > MLP_CSV_MAX_RECORD)
                    break;
            }
            if (p < r->end && *p != sep && !at_eol(r, p) &&
                used - fd->off <= MLP_CSV_MAX_FIELD &&
                (size_t)(p - start) <= MLP_CSV_MAX_RECORD)
                return at(r, MLP_STATUS_BAD_FORMAT, r->line, col,
                          "text after the closing quote");
        } else {
            /* Up to one byte past either limit, which the checks below
             * report; a CR that ends no line is the field's. */
            size_t most = MLP_CSV_MAX_RECORD + 1 - (size_t)(p - start);
            if (most > MLP_CSV_MAX_FIELD + 1)
                most = MLP_CSV_MAX_FIELD + 1;
            const char *lim = (size_t)(r->end - p) > most ? p + most : r->end, *q = p;
            while ((q = field_stop(q, lim, sep)) < lim && *q == '\r' && !at_eol(r, q))
                q++;
            if (q < lim && *q == '"')
                return at(r, MLP_STATUS_BAD_FORMAT, fd->line, col,
                          "a quote inside an unquoted field (quote the whole field "
                          "and double the quote)");
            memcpy(r->rec + used, p, (size_t)(q - p));
            used += (size_t)(q - p);
            p = q;
        }
        fd->len = used - fd->off;
        if (fd->len > MLP_CSV_MAX_FIELD)
            return at(r, MLP_STATUS_BAD_FORMAT, fd->line, col,
                      "field longer than %d bytes", MLP_CSV_MAX_FIELD);
        if ((size_t)(p - start) > MLP_CSV_MAX_RECORD)
            return at(r, MLP_STATUS_BAD_FORMAT, fd->line, col,
                      "record longer than %d bytes", MLP_CSV_MAX_RECORD);
        r->rec[used++] = '\0';
        r->nf++;
        if (p == r->end) {
            r->p = p;
            break;
        }
        if (*p == sep) {
            r->p = p + 1;
            continue;
        }
        r->p = p + (*p == '\r' ? 2 : 1); /* end of line */
        r->line++;
        break;
    }
    *got = 1;
    return MLP_STATUS_OK;
}

/* ---- fields ------------------------------------------------------------ */

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char c = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        if (c != *b)
            return 0;
    }
    return *a == *b;
}

/* What a carriage return in a field means, when s[0, len) holds one: CSV
 * lines end in LF or CRLF, so a CR alone, as old Mac text ends its lines,
 * or a file's last line ends, stays in the field. "" when there is none. */
static const char *cr_hint(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\r' && (i + 1 == len || s[i + 1] != '\n'))
            return " (byte 0x0d is a carriage return not followed by a line feed: CSV "
                   "lines end in LF or CRLF)";
    /* only CRLF pairs: a line break inside a quoted field */
    return memchr(s, '\r', len) ? " (a line break inside quotes)" : "";
}

/* The header's names for a message: `, a, " b", c` (each control character
 * as '?', a name that starts or ends with a blank, or is empty, in
 * quotes), cut with ", ..." to fit `cap`. */
static const char *header_names(const csv_reader *r, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int32_t c = 0; c < r->ncols; c++) {
        const char *h = r->head + r->head_f[c].off;
        const size_t len = strlen(h);
        if (n + len + 10 >= cap) {
            snprintf(buf + n, cap - n, ", ...");
            break;
        }
        /* in quotes when a blank begins or ends it, or it is empty: " b"
         * against b is the difference a reader must see */
        const int quote = len == 0 || h[0] == ' ' || h[len - 1] == ' ';
        buf[n++] = ',';
        buf[n++] = ' ';
        if (quote)
            buf[n++] = '"';
        for (size_t i = 0; i < len; i++)
            buf[n++] = (unsigned char)h[i] < 0x20 || h[i] == 0x7f ? '?' : h[i];
        if (quote)
            buf[n++] = '"';
        buf[n] = '\0';
    }
    return buf;
}

/* Why field `col`, s..e after its blanks, holding a character no number
 * has, is refused. A control character is named, not echoed: a line
 * break, an escape sequence or a vertical tab would break or hide the
 * field in the message. */
static mlp_status not_a_number(const csv_reader *r, int32_t col, const char *s,
                               const char *e)
{
    const csv_field *fd = &r->f[col];
    for (const char *c = s; c < e; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return at(r, MLP_STATUS_BAD_FORMAT, fd->line, col,
                      "a control character (byte 0x%02x, byte %d of the field) "
                      "where a number belongs%s",
                      (unsigned)(unsigned char)*c, (int)(c - (r->rec + fd->off)) + 1,
                      cr_hint(c, 1));
    return at(r, MLP_STATUS_BAD_FORMAT, fd->line, col, "\"%.40s\" is not a number", s);
}

/* 10^0 .. 10^19, the powers of ten of a uint64_t. Up to 10^22 they are
 * exact doubles too (5^22 < 2^53). */
static const uint64_t pow10_u64[] = {1ull,
                                     10ull,
                                     100ull,
                                     1000ull,
                                     10000ull,
                                     100000ull,
                                     1000000ull,
                                     10000000ull,
                                     100000000ull,
                                     1000000000ull,
                                     10000000000ull,
                                     100000000000ull,
                                     1000000000000ull,
                                     10000000000000ull,
                                     100000000000000ull,
                                     1000000000000000ull,
                                     10000000000000000ull,
                                     100000000000000000ull,
                                     1000000000000000000ull,
                                     10000000000000000000ull};
static const double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#if defined(__SIZEOF_INT128__)
__extension__ typedef unsigned __int128 u128;

/* 2^e as a double, for -1022 <= e <= 1023. */
static double pow2(int e)
{
    const uint64_t b = (uint64_t)(1023 + e) << 52;
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* (q + a fraction below 1, nonzero when `sticky`) x 2^e, q > 0, rounded to
 * the nearest double, ties to even: what strtod does with the exact value.
 * The results here are normal doubles (from 10^-19 to 10^38), so the
 * rounded 53 bits times 2^e is one exact product. */
static double round_u128(u128 q, int e, int sticky)
{
    const uint64_t hi = (uint64_t)(q >> 64), lo = (uint64_t)q;
    const int bits = hi ? 128 - __builtin_clzll(hi) : 64 - __builtin_clzll(lo);
    if (bits <= 53) /* exact (sticky is 0 here: only a quotient has one) */
        return (double)lo * pow2(e);
    const int shift = bits - 53;
    uint64_t mant = (uint64_t)(q >> shift);
    const u128 rest = q & (((u128)1 << shift) - 1), half = (u128)1 << (shift - 1);
    if (rest > half || (rest == half && (sticky || (mant & 1))))
        mant++; /* 2^53 after a carry is still exact */
    return (double)mant * pow2(e + shift);
}
#endif

/* s..e (blanks cut, not empty) as strtod would read it, into *v, by integer
 * arithmetic: a sign, digits with at most one point and at least one digit,
 * an optional exponent of at most 4 digits, and at most 19 digits from the
 * first non-zero one on, an integer m < 10^19 < 2^64, scaled by 10^k. The
 * result is the exact value rounded once to the nearest double, ties to
 * even, which is what strtod returns, so the same bits:
 *  - m < 2^53 and |k| <= 22: m * 10^k or m / 10^-k, one rounding of two
 *    exact doubles (Clinger's fast path; only where floating-point
 *    expressions are evaluated in their own type, FLT_EVAL_METHOD 0: the
 *    x87 would round twice);
 *  - with 128-bit integers, 0 <= k <= 19: m 10^k exactly, rounded;
 *    -19 <= k < 0: m, shifted to 64 bits, times 2^64, divided by 10^-k,
 *    a quotient of at least 64 bits and whether a remainder is left, rounded.
 * 0 for anything else (more digits, larger exponents, text that is not a
 * number), which takes strtod's way. A typical file (28 numbers of 6
 * digits a row) took 89 ns a number through strtod. */
static int fast_number(const char *s, const char *e, double *v)
{
    const int neg = *s == '-';
    s += *s == '-' || *s == '+';
    uint64_t m = 0;
    int digits = 0, sig = 0, point = 0, k = 0;
    for (; s < e; s++) {
        if (*s >= '0' && *s <= '9') {
            digits++;
            k -= point;
            if (m == 0 && *s == '0')
                continue; /* a leading zero: not significant */
            if (++sig > 19)
                return 0;
            m = m * 10 + (uint64_t)(*s - '0');
        } else if (*s == '.' && !point) {
            point = 1;
        } else {
            break;
        }
    }
    if (digits == 0)
        return 0;
    if (s < e) {
        if (*s != 'e' && *s != 'E')
            return 0;
        s++;
        const int eneg = s < e && *s == '-';
        s += s < e && (*s == '-' || *s == '+');
        int x = 0, xd = 0; /* x: the first 4 digits only, which fit an int */
        for (; s < e && *s >= '0' && *s <= '9'; s++)
            if (++xd <= 4)
                x = x * 10 + (*s - '0');
        if (s != e || xd == 0 || xd > 4)
            return 0;
        k += eneg ? -x : x;
    }
    double d;
    if (m == 0) {
        d = 0.0;
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    } else if (m < ((uint64_t)1 << 53) && k >= -22 && k <= 22) {
        d = k < 0 ? (double)m / exact_pow10[-k] : (double)m * exact_pow10[k];
#endif
#if defined(__SIZEOF_INT128__)
    } else if (k >= 0 && k <= 19) {
        d = round_u128((u128)m * pow10_u64[k], 0, 0);
    } else if (k < 0 && k >= -19) {
        const int a = __builtin_clzll(m); /* m > 0 */
        const u128 num = (u128)(m << a) << 64;
        const uint64_t den = pow10_u64[-k];
        d = round_u128(num / den, -64 - a, num % den != 0);
#endif
    } else {
        return 0;
    }
    *v = neg ? -d : d;
    return 1;
}

/* Field `col` of the current record as a finite float. The field's own
 * buffer is edited in place (blanks cut, the decimal point localised). */
static mlp_status field_number(csv_reader *r, int32_t col, float *out)
{
    const csv_field *fd = &r->f[col];
    char *s = r->rec + fd->off, *e = s + fd->len;
    while (s < e && is_blank(*s))
        s++;
    while (e > s && is_blank(e[-1]))
        e--;
    if (s == e)
        return at(r, MLP_STATUS_BAD_FORMAT, fd->line, col, "empty field");
    double fast;
    if (fast_number(s, e, &fast)) {
        *out = (float)fast; /* finite: below 10^38 */
        return MLP_STATUS_OK;
    }
    char save = *e;
    *e = '\0';
    const char *body = s + (*s == '+' || *s == '-');
    if (ieq(body, "nan") || ieq(body, "inf") || ieq(body, "infinity"))
        return at(r, MLP_STATUS_BAD_FORMAT, fd->line, col,
                  "\"%.40s\": NaN and infinity are not allowed", s);
    /* Only decimal notation: strtod would also take hexadecimal, and NUL
     * bytes would end the text early. */
    for (const char *c = s; c < e; c++)
        if (!((*c >= '0' && *c <= '9') || *c == '.' || *c == 'e' || *c == 'E' ||
              *c == '+' || *c == '-'))
            return not_a_number(r, col, s, e);
    /* strtod follows the program's locale; files use '.' whatever it is. */
    if (r->decimal)
        for (char *c = s; c < e; c++)
            if (*c == '.')
                *c = r->decimal;
    char *stop;
    errno = 0;
    double v = strtod(s, &stop);
    int whole = stop == e;
    *e = save;
    if (!whole)
        return at(r, MLP_STATUS_BAD_FORMAT, fd->line, col, "\"%.*s\" is not a number",
                  (int)(e - s > 40 ? 40 : e - s), s);
    float f = (float)v;
    if (!isfinite(f))
        return at(r, MLP_STATUS_BAD_FORMAT, fd->line, col,
                  "%.*s is beyond the range of float", (int)(e - s > 40 ? 40 : e - s), s);
    *out = f;
    return MLP_STATUS_OK;
}

/* ---- labels ------------------------------------------------------------ */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The slot of `name`, or the empty slot where it would go. */
static label_entry *find_slot(label_entry *tab, size_t cap, const char *name)
{
    size_t i = (size_t)hash_name(name) & (cap - 1);
    while (tab[i].name && strcmp(tab[i].name, name) != 0)
        i = (i + 1) & (cap - 1);
    return &tab[i];
}

/* Add a new label (not in the table) with the next id. */
static mlp_status add_label(csv_reader *r, const char *name)
{
    if ((size_t)r->nlabels * 2 + 2 > r->tab_cap) {
        size_t cap = r->tab_cap ? r->tab_cap * 2 : 64;
        label_entry *t = mlp__calloc(cap, sizeof *t);
        if (!t)
            return oom(r);
        for (size_t i = 0; i < r->tab_cap; i++)
            if (r->tab[i].name)
                *find_slot(t, cap, r->tab[i].name) = r->tab[i];
        mlp__free(r->tab);
        r->tab = t;
        r->tab_cap = cap;
    }
    if (!grow((void **)&r->by_id, &r->by_id_cap, (size_t)r->nlabels + 1,
              sizeof *r->by_id))
        return oom(r);
    char *copy = mlp__strdup(name);
    if (!copy)
        return oom(r);
    label_entry *e = find_slot(r->tab, r->tab_cap, name);
    e->name = copy;
    e->id = r->nlabels;
    r->by_id[r->nlabels++] = copy;
    return MLP_STATUS_OK;
}

/* The id of the label in field `col`. */
static mlp_status field_label(csv_reader *r, int32_t col, int32_t *id)
{
    const csv_field *fd = &r->f[col];
    const char *s = r->rec + fd->off;
    if (fd->len == 0)
        return at(r, MLP_STATUS_BAD_FORMAT, fd->line, col, "empty field");
    const char *why = mlp__class_name_problem(s, fd->len);
    if (why)
        return at(r, MLP_STATUS_BAD_FORMAT, fd->line, col, "the label %s%s", why,
                  cr_hint(s, fd->len));
    if (r->tab_cap) {
        const label_entry *e = find_slot(r->tab, r->tab_cap, s);
        if (e->name) {
            *id = e->id;
            return MLP_STATUS_OK;
        }
    }
    if (r->frozen && r->nlabels == 1)
        return at(r, MLP_STATUS_BAD_FORMAT, fd->line, col,
                  "label \"%.64s\" is not the one class given", s);
    if (r->frozen)
        return at(r, MLP_STATUS_BAD_FORMAT, fd->line, col,
                  "label \"%.64s\" is not one of the %d classes given", s,
                  (int)r->nlabels);
    if (r->nlabels == INT32_MAX)
        return at(r, MLP_STATUS_BAD_FORMAT, fd->line, col, "too many classes");
    *id = r->nlabels;
    return add_label(r, s);
}

typedef struct sort_key {
    const char *name;
    const char *digits; /* an integer's digits without sign and leading zeros */
    size_t ndigits;     /* their count: 0 for the value 0 */
    int sign;           /* -1, 0 or 1 */
    int ints;           /* every label is an integer: compare values first */
    int32_t id;
} sort_key;

/* Integers of any length (a label is at most MLP_CLASS_NAME_MAX bytes) by
 * value: by sign, then by the count of significant digits, then digit by
 * digit. */
static int cmp_values(const sort_key *a, const sort_key *b)
{
    if (a->sign != b->sign)
        return a->sign < b->sign ? -1 : 1;
    int c = a->ndigits != b->ndigits ? (a->ndigits < b->ndigits ? -1 : 1)
                                     : memcmp(a->digits, b->digits, a->ndigits);
    return a->sign < 0 ? -c : c;
}

static int cmp_keys(const void *pa, const void *pb)
{
    const sort_key *a = pa, *b = pb;
    int c = a->ints ? cmp_values(a, b) : 0;
    return c ? c : strcmp(a->name, b->name);
}

/* Whether s is an integer (an optional sign, then decimal digits), and its
 * value in k's digits, ndigits and sign. */
static int parse_int(const char *s, sort_key *k)
{
    int neg = *s == '-';
    s += neg || *s == '+';
    const char *d = s;
    while (*d == '0')
        d++;
    const char *end = d;
    while (*end >= '0' && *end <= '9')
        end++;
    if (end == s || *end)
        return 0;
    k->digits = d;
    k->ndigits = (size_t)(end - d);
    k->sign = k->ndigits == 0 ? 0 : neg ? -1 : 1;
    return 1;
}

/* Give the labels their sorted ids: sort, then remap the rows and reorder
 * the names. */
static mlp_status sort_labels(csv_reader *r)
{
    int32_t k = r->nlabels;
    sort_key *keys = mlp__calloc((size_t)k, sizeof *keys);
    int32_t *rank = mlp__calloc((size_t)k, sizeof *rank);
    char **names = mlp__calloc((size_t)k, sizeof *names);
    if (!keys || !rank || !names) {
        mlp__free(keys);
        mlp__free(rank);
        mlp__free(names);
        return oom(r);
    }
    int ints = 1;
    for (int32_t i = 0; i < k; i++) {
        keys[i] = (sort_key){.name = r->by_id[i], .id = i};
        ints = ints && parse_int(r->by_id[i], &keys[i]);
    }
    for (int32_t i = 0; i < k; i++)
        keys[i].ints = ints; /* qsort passes no context: each key carries it */
    qsort(keys, (size_t)k, sizeof *keys, cmp_keys);
    for (int32_t i = 0; i < k; i++) {
        rank[keys[i].id] = i;
        names[i] = r->by_id[keys[i].id];
    }
    for (int32_t i = 0; i < r->rows; i++)
        r->lab[i] = rank[r->lab[i]];
    memcpy(r->by_id, names, (size_t)k * sizeof *names);
    mlp__free(keys);
    mlp__free(rank);
    mlp__free(names);
    return MLP_STATUS_OK;
}

/* ---- columns ----------------------------------------------------------- */

/* Header columns by name, then by position: equal names sit together. */
static int cmp_columns(const void *pa, const void *pb)
{
    const column_ref *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->col > b->col) - (a->col < b->col);
}

/* The column named `name` in the header, or -1; -2 when two are. A binary
 * search in the header sorted once (r->by_name): a list of F feature names
 * looked up by scanning the header took F times the header's length, 47 s
 * for 100,000 columns. */
static int32_t find_column(const csv_reader *r, const char *name)
{
    size_t lo = 0, hi = (size_t)r->ncols; /* the first entry >= name is in [lo, hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(r->by_name[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == (size_t)r->ncols || strcmp(r->by_name[lo].name, name) != 0)
        return -1;
    if (lo + 1 < (size_t)r->ncols && strcmp(r->by_name[lo + 1].name, name) == 0)
        return -2;
    return r->by_name[lo].col;
}

static mlp_status column_by_name(csv_reader *r, const char *name, const char *what,
                                 int32_t *col)
{
    if (!r->by_name) {
        r->by_name = mlp__calloc((size_t)r->ncols, sizeof *r->by_name);
        if (!r->by_name)
            return oom(r);
        for (int32_t c = 0; c < r->ncols; c++)
            r->by_name[c] = (column_ref){r->head + r->head_f[c].off, c};
        qsort(r->by_name, (size_t)r->ncols, sizeof *r->by_name, cmp_columns);
    }
    *col = find_column(r, name);
    char shown[MLP__CLIP_LEN];
    if (*col == -1) {
        /* a file whose lines end in a lone CR has a single record here */
        const csv_field *last = &r->head_f[r->ncols - 1];
        char names[256];
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "%s:%lld: no %s column named \"%s\" (the header's: %s)%s",
                          r->name, r->head_f[0].line, what, mlp__clip(name, shown),
                          header_names(r, names, sizeof names) + 2,
                          cr_hint(r->head, last->off + last->len));
    }
    if (*col == -2)
        return mlp__error(MLP_STATUS_BAD_FORMAT, "%s:%lld: two columns are named \"%s\"",
                          r->name, r->head_f[0].line, mlp__clip(name, shown));
    return MLP_STATUS_OK;
}

/* Entry k of the caller's feature list as the caller wrote it, for a
 * message: an index of the options is 0-based, where a position in the file
 * (file:line:column) is 1-based. */
static const char *feature_entry(const mlp_csv_options *o, int32_t k, char *buf,
                                 size_t cap)
{
    if (o->feature_names)
        snprintf(buf, cap, "feature_names[%d] = \"%.64s\"", (int)k, o->feature_names[k]);
    else
        snprintf(buf, cap, "feature_indices[%d] = %d", (int)k,
                 (int)o->feature_indices[k]);
    return buf;
}

/* Decide the role of every column from the first record (header or not). */
static mlp_status assign_columns(csv_reader *r, long long first_line)
{
    const mlp_csv_options *o = &r->o;
    r->role = mlp__alloc((size_t)r->ncols * sizeof *r->role);
    if (!r->role)
        return oom(r);
    int32_t target = -1;
    /* rows to predict read no target; one named is left out unread, so its
     * cells may be blank (rows still to label) */
    const int predict = o->task == MLP_CSV_FEATURES_ONLY;
    if (!predict || o->target_name || o->target_index >= 0) {
        if (o->target_name) {
            MLP_TRY(column_by_name(r, o->target_name, "target", &target));
        } else {
            target = o->target_index < 0 ? r->ncols - 1 : o->target_index;
            if (target >= r->ncols)
                return mlp__error(MLP_STATUS_BAD_FORMAT,
                                  "%s:%lld: no target column %d: the file has %d columns",
                                  r->name, first_line, (int)o->target_index,
                                  (int)r->ncols);
        }
    }
    for (int32_t c = 0; c < r->ncols; c++)
        r->role[c] = c == target ? COL_TARGET : COL_SKIP;
    r->nfeat = 0;
    if (o->num_features == 0) {
        for (int32_t c = 0; c < r->ncols; c++)
            if (r->role[c] != COL_TARGET)
                r->role[c] = r->nfeat++;
    } else {
        for (int32_t k = 0; k < o->num_features; k++) {
            int32_t c;
            if (o->feature_names) {
                MLP_TRY(column_by_name(r, o->feature_names[k], "feature", &c));
            } else {
                c = o->feature_indices[k];
                if (c >= r->ncols)
                    return mlp__error(
                        MLP_STATUS_BAD_FORMAT,
                        "%s:%lld: no feature column %d: the file has %d columns", r->name,
                        first_line, (int)c, (int)r->ncols);
            }
            char entry[128];
            if (r->role[c] == COL_TARGET)
                return mlp__error(MLP_STATUS_INVALID_ARG,
                                  "mlp_dataset_load_csv: %s is the target column",
                                  feature_entry(o, k, entry, sizeof entry));
            if (r->role[c] >= 0)
                return mlp__error(MLP_STATUS_INVALID_ARG,
                                  "mlp_dataset_load_csv: %s is listed twice as a "
                                  "feature (entry %d names the same column)",
                                  feature_entry(o, k, entry, sizeof entry),
                                  (int)r->role[c]);
            r->role[c] = r->nfeat++;
        }
    }
    if (r->nfeat == 0)
        return mlp__error(MLP_STATUS_BAD_FORMAT, "%s:%lld: no feature columns", r->name,
                          first_line);
    if (predict && target >= 0)
        r->role[target] = COL_SKIP;
    return MLP_STATUS_OK;
}

/* Convert the current record into row r->rows. */
static mlp_status add_row(csv_reader *r)
{
    if (r->nf != r->ncols) {
        /* Point at the first missing or extra field. */
        int32_t col = r->nf < r->ncols ? r->nf : r->ncols;
        long long line = r->f[r->nf < r->ncols ? r->nf - 1 : r->ncols].line;
        return at(r, MLP_STATUS_BAD_FORMAT, line, col,
                  "%d fields, but the first record has %d", (int)r->nf, (int)r->ncols);
    }
    if (r->rows == INT32_MAX)
        return mlp__error(MLP_STATUS_BAD_FORMAT, "%s:%lld: more than %d rows", r->name,
                          r->f[0].line, INT32_MAX);
    size_t row = (size_t)r->rows, F = (size_t)r->nfeat;
    if (!grow((void **)&r->x, &r->x_cap, (row + 1) * F, sizeof *r->x))
        return oom(r);
    if (r->o.task == MLP_CSV_REGRESS) {
        if (!grow((void **)&r->y, &r->y_cap, row + 1, sizeof *r->y))
            return oom(r);
    } else if (!grow((void **)&r->lab, &r->lab_cap, row + 1, sizeof *r->lab)) {
        return oom(r);
    }
    int32_t id = 0;
    for (int32_t c = 0; c < r->ncols; c++) {
        int32_t role = r->role[c];
        if (role >= 0)
            MLP_TRY(field_number(r, c, &r->x[row * F + (size_t)role]));
        else if (role == COL_TARGET && r->o.task == MLP_CSV_REGRESS)
            MLP_TRY(field_number(r, c, &r->y[row]));
        else if (role == COL_TARGET)
            MLP_TRY(field_label(r, c, &id));
    }
    if (r->lab)
        r->lab[row] = id;
    r->rows++;
    return MLP_STATUS_OK;
}

/* Keep the first record as the header. */
static mlp_status keep_header(csv_reader *r)
{
    size_t bytes = r->f[r->nf - 1].off + r->f[r->nf - 1].len + 1;
    r->head = mlp__memdup(r->rec, bytes);
    r->head_f = mlp__memdup(r->f, (size_t)r->nf * sizeof *r->f);
    return r->head && r->head_f ? MLP_STATUS_OK : oom(r);
}

/* The given class list becomes the label table, frozen. */
static mlp_status seed_classes(csv_reader *r)
{
    for (int32_t k = 0; k < r->o.num_class_names; k++)
        MLP_TRY(add_label(r, r->o.class_names[k]));
    r->frozen = r->o.task == MLP_CSV_CLASSIFY && r->o.num_class_names > 0;
    return MLP_STATUS_OK;
}

/* The feature columns' header names, in the samples' order, when every one
 * is a name under the rule of class names (data/dataset_impl.h) and no two
 * are equal; *out stays NULL otherwise, and without a header. */
static mlp_status feature_names(csv_reader *r, mlp__names **out)
{
    *out = NULL;
    if (!r->o.header)
        return MLP_STATUS_OK;
    const char **names = mlp__alloc((size_t)r->nfeat * sizeof *names);
    if (!names)
        return oom(r);
    int ok = 1;
    for (int32_t c = 0; ok && c < r->ncols; c++) {
        if (r->role[c] < 0)
            continue;
        const csv_field *f = &r->head_f[c];
        names[r->role[c]] = r->head + f->off;
        ok = f->len >= 1 && f->len <= MLP_CLASS_NAME_MAX &&
             !mlp__class_name_problem(r->head + f->off, f->len);
    }
    int32_t first, second;
    int rep = ok ? mlp__class_names_repeat(names, r->nfeat, &first, &second) : 1;
    if (rep == 0 && !(*out = mlp__names_make(names, r->nfeat)))
        rep = -1;
    mlp__free(names);
    return rep < 0 ? oom(r) : MLP_STATUS_OK;
}

/* Build the dataset from the rows. */
static mlp_status finish(csv_reader *r, mlp_dataset **out)
{
    const mlp_csv_options *o = &r->o;
    if (o->task == MLP_CSV_CLASSIFY && !r->frozen && o->label_order == MLP_LABELS_SORTED)
        MLP_TRY(sort_labels(r));
    /* The dataset takes the rows over: a copy held the samples twice at the
     * end of a load, 230 MB more for a file of 3 million rows of 20. But not
     * blocks sized for many more rows than were read (blank lines and line
     * breaks inside quoted fields counted as rows: reserve_rows), which it
     * would keep for its life: 64 MiB for a row and 20 MB of blank lines.
     * What doubling left, less than twice the rows, stays. */
    size_t n = (size_t)r->rows;
    if (!fit((void **)&r->x, &r->x_cap, n * (size_t)r->nfeat, sizeof *r->x) ||
        !fit((void **)&r->y, &r->y_cap, n, sizeof *r->y) ||
        !fit((void **)&r->lab, &r->lab_cap, n, sizeof *r->lab))
        return oom(r);
    mlp__dataset_spec spec = {.n = r->rows,
                              .rank = 1,
                              .shape = {r->nfeat},
                              .is_float = 1,
                              .adopt_values = r->x,
                              .adopt_targets = r->y,
                              .adopt_labels = r->lab};
    if (o->task == MLP_CSV_REGRESS)
        spec.target_dim = 1;
    else
        spec.num_classes = r->nlabels > 0 ? r->nlabels : 1;
    mlp__names *names = NULL, *features;
    MLP_TRY(feature_names(r, &features));
    if (r->nlabels > 0 &&
        !(names = mlp__names_make((const char *const *)r->by_id, r->nlabels))) {
        mlp__free(features);
        return oom(r);
    }
    mlp_dataset *ds;
    if (mlp__dataset_build(&ds, &spec) != MLP_STATUS_OK) {
        mlp__free(names);
        mlp__free(features);
        return oom(r);
    }
    r->x = NULL;
    r->y = NULL;
    r->lab = NULL;
    ds->class_names = names;
    ds->feature_names = features;
    ds->no_targets = o->task == MLP_CSV_FEATURES_ONLY;
    *out = ds;
    return MLP_STATUS_OK;
}

/* Size the row arrays once for an upper bound on the rows still to come:
 * the line breaks left (a row ends in one, or in the end of the text), and
 * no more than a row per `ncols` bytes (a row has ncols - 1 separators and
 * an end), so even a hostile file cannot ask for more than four floats per
 * byte of text. The text left is known when it is all in memory, or when a
 * plain file's line breaks were counted before; otherwise (gzip, a pipe)
 * the bound holds for the window only, and the arrays grow by doubling
 * beyond it. */
static mlp_status reserve_rows(csv_reader *r)
{
    size_t left = (size_t)(r->end - r->p), rows = 1;
    if (r->gz && r->file_lines >= 0) {
        /* r->line - 1 line breaks are behind r->p; a file that changed
         * since they were counted is no longer bounded (doubling is) */
        size_t behind = r->text_read - left;
        left = r->file_size > behind ? r->file_size - behind : 0;
        if (r->file_lines >= r->line - 1)
            rows += (size_t)(r->file_lines - (r->line - 1));
    } else {
        for (const char *q = r->p; (q = memchr(q, '\n', (size_t)(r->end - q))) != NULL;
             q++)
            rows++;
    }
    if (rows > left / (size_t)r->ncols + 1)
        rows = left / (size_t)r->ncols + 1;
    rows += !r->o.header; /* the first record was a row too */
    /* Exactly that many rows, in a block for datasets (the dataset takes it
     * over at the end: finish). */
    size_t F = (size_t)r->nfeat, xs;
    if (!mlp__mul_size(rows, F, &xs) ||
        !reserve((void **)&r->x, &r->x_cap, xs, sizeof *r->x))
        return oom(r);
    if (r->o.task == MLP_CSV_REGRESS
            ? !reserve((void **)&r->y, &r->y_cap, rows, sizeof *r->y)
            : !reserve((void **)&r->lab, &r->lab_cap, rows, sizeof *r->lab))
        return oom(r);
    return MLP_STATUS_OK;
}

static mlp_status parse(csv_reader *r, mlp_dataset **out)
{
    MLP_TRY(refill(r));
    /* Fields and their NULs fit in the record's bytes plus one. */
    r->rec_cap = (size_t)(r->end - r->p) < MLP_CSV_MAX_RECORD
                     ? (size_t)(r->end - r->p) + 2
                     : MLP_CSV_MAX_RECORD + 2;
    r->rec = mlp__alloc(r->rec_cap);
    if (!r->rec)
        return oom(r);
    if (r->end - r->p >= 3 && memcmp(r->p, "\xEF\xBB\xBF", 3) == 0)
        r->p += 3; /* UTF-8 byte-order mark */
    MLP_TRY(seed_classes(r));
    int got;
    MLP_TRY(next_record(r, &got));
    if (!got)
        return mlp__error(MLP_STATUS_BAD_FORMAT, "%s:1: empty file", r->name);
    r->ncols = r->nf;
    long long first_line = r->f[0].line;
    if (r->o.header)
        MLP_TRY(keep_header(r));
    MLP_TRY(assign_columns(r, first_line));
    MLP_TRY(reserve_rows(r));
    if (!r->o.header)
        MLP_TRY(add_row(r));
    for (;;) {
        MLP_TRY(next_record(r, &got));
        if (!got)
            break;
        MLP_TRY(add_row(r));
    }
    if (r->rows == 0) {
        /* old Mac text, its lines ending in CR alone, is one record: all
         * header */
        const csv_field *last = r->head ? &r->head_f[r->ncols - 1] : NULL;
        return mlp__error(MLP_STATUS_BAD_FORMAT, "%s:%lld: a header but no data rows%s",
                          r->name, r->line,
                          last ? cr_hint(r->head, last->off + last->len) : "");
    }
    return finish(r, out);
}

/* ---- options ----------------------------------------------------------- */

static mlp_status read_options(mlp_csv_options *o, const mlp_csv_options *opts,
                               const char *fn)
{
    csv_defaults(o);
    MLP_CHECK_ARG(opts != NULL, fn, "opts is NULL (its task must be set)");
    MLP_TRY(mlp__check_struct_size(
        opts->struct_size, csv_options_sizes, N_CSV_SIZES, fn, "mlp_csv_options",
        "initialise the struct with mlp_csv_options_init(&opts)"));
    memcpy(o, opts, opts->struct_size);
    o->struct_size = sizeof *o;
    if (o->task < MLP_CSV_CLASSIFY || o->task > MLP_CSV_FEATURES_ONLY)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: opts->task = %d: set MLP_CSV_CLASSIFY, MLP_CSV_REGRESS or "
                          "MLP_CSV_FEATURES_ONLY (integers alone cannot say which)",
                          fn, (int)o->task);
    if (o->separator < 1 || o->separator > 127 || o->separator == '"' ||
        o->separator == '\r' || o->separator == '\n')
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: opts->separator = %d must be an ASCII byte other than a "
                          "quote, CR or LF",
                          fn, (int)o->separator);
    if (o->label_order != MLP_LABELS_SORTED && o->label_order != MLP_LABELS_FIRST_SEEN)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: opts->label_order = %d is unknown",
                          fn, (int)o->label_order);
    MLP_CHECK_RANGE(o->target_index >= -1, fn, "opts->target_index", o->target_index,
                    ">= -1");
    /* Rows to predict have no target: a target the caller named would
     * otherwise be read as one more feature without a word. */
    MLP_CHECK_ARG(o->header || !o->target_name, fn,
                  "opts->target_name needs a header (opts->header is 0)");
    MLP_CHECK_ARG(o->header || !o->feature_names, fn,
                  "opts->feature_names needs a header (opts->header is 0)");
    MLP_CHECK_ARG(!(o->feature_names && o->feature_indices), fn,
                  "give feature_names or feature_indices, not both");
    MLP_CHECK_RANGE(o->num_features >= 0, fn, "opts->num_features", o->num_features,
                    ">= 0");
    MLP_CHECK_ARG((o->num_features > 0) == (o->feature_names || o->feature_indices), fn,
                  "opts->num_features must be >= 1 with a feature list, 0 without");
    for (int32_t k = 0; k < o->num_features; k++) {
        if (o->feature_names && !o->feature_names[k])
            return mlp__error(MLP_STATUS_INVALID_ARG, "%s: feature_names[%d] is NULL", fn,
                              (int)k);
        if (o->feature_indices && o->feature_indices[k] < 0)
            return mlp__error(MLP_STATUS_INVALID_ARG, "%s: feature_indices[%d] = %d < 0",
                              fn, (int)k, (int)o->feature_indices[k]);
    }
    MLP_CHECK_RANGE(o->num_class_names >= 0, fn, "opts->num_class_names",
                    o->num_class_names, ">= 0");
    MLP_CHECK_ARG((o->num_class_names > 0) == (o->class_names != NULL), fn,
                  "opts->num_class_names must be >= 1 with class_names, 0 without");
    MLP_CHECK_ARG(o->task != MLP_CSV_REGRESS || !o->class_names, fn,
                  "opts->class_names given for a regression target");
    for (int32_t k = 0; k < o->num_class_names; k++) {
        const char *s = o->class_names[k];
        const char *why = !s    ? "is NULL"
                          : !*s ? "is empty"
                                : mlp__class_name_problem(s, strlen(s));
        if (why)
            return mlp__error(MLP_STATUS_INVALID_ARG, "%s: class_names[%d] %s", fn,
                              (int)k, why);
    }
    /* Sorted, not pair by pair: that took 28 s for 100,000 names. */
    int32_t first, second;
    int rep =
        mlp__class_names_repeat(o->class_names, o->num_class_names, &first, &second);
    if (rep < 0)
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory", fn);
    if (rep)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: class_names[%d] and [%d] are both \"%.64s\"", fn,
                          (int)first, (int)second, o->class_names[second]);
    return MLP_STATUS_OK;
}

/* The reader's state at the start of text named `name`: the decimal point
 * of the locale, read once a load (localeconv() for every number field took
 * about 8% of the time of reading a table of 3 million rows). */
static csv_reader reader_init(const char *name, const mlp_csv_options *o)
{
    const char *dp = localeconv()->decimal_point;
    const char decimal = dp && dp[0] != '.' && dp[0] != '\0' && dp[1] == '\0' ? dp[0] : 0;
    return (csv_reader){.name = name, .o = *o, .line = 1, .decimal = decimal};
}

/* Parse `len` bytes of text at `buf` named `name`. */
static mlp_status load_text(mlp_dataset **out, const char *buf, size_t len,
                            const char *name, const mlp_csv_options *o)
{
    const char *nul = memchr(buf, '\0', len);
    if (nul)
        return nul_byte(name, buf, nul, 1);
    csv_reader r = reader_init(name, o);
    r.p = buf;
    r.end = buf + len;
    mlp_status st = parse(&r, out);
    reader_free(&r);
    return st;
}

mlp_status mlp__dataset_load_csv_mem(mlp_dataset **out, const void *buf, size_t len,
                                     const char *name, const mlp_csv_options *opts)
{
    static const char fn[] = "mlp_dataset_load_csv";
    MLP_CHECK_ARG(out != NULL, fn, "out is NULL");
    *out = NULL;
    MLP_CHECK_ARG(buf != NULL || len == 0, fn, "buf is NULL");
    mlp_csv_options o;
    MLP_TRY(read_options(&o, opts, fn));
    return load_text(out, buf ? buf : "", len, name ? name : "CSV buffer", &o);
}

/* ---- files ------------------------------------------------------------- */

/* The line breaks of the plain regular file `fd` (size `size`), read
 * through `buf` (WIN_SIZE bytes) before the file is parsed, with the
 * descriptor back at the start; -1 when the file is gzip, holds a NUL byte
 * or cannot be read twice (then nothing is lost: the rows grow by
 * doubling); -2 when the descriptor cannot go back. */
static long long count_lines(int fd, size_t size, char *buf)
{
    long long lines = 0;
    size_t seen = 0;
    for (;;) {
        ssize_t n = read(fd, buf, WIN_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            lines = -1;
            break;
        }
        if (n == 0)
            break;
        if (seen == 0 && n >= 2 && (unsigned char)buf[0] == 0x1f &&
            (unsigned char)buf[1] == 0x8b) {
            lines = -1; /* gzip */
            break;
        }
        /* Binary data: the parse refuses them at their first window, not
         * after this pass read all of them (1.8 s for 1 GiB). */
        if (memchr(buf, '\0', (size_t)n)) {
            lines = -1;
            break;
        }
        seen += (size_t)n;
        for (const char *q = buf, *e = buf + n; (q = memchr(q, '\n', (size_t)(e - q)));
             q++)
            lines++;
        if (seen > size) { /* grew while read: its size no longer bounds it */
            lines = -1;
            break;
        }
    }
    return lseek(fd, 0, SEEK_SET) == 0 ? lines : -2;
}

/* Parse the file `path`, open as `fd`, raw or gzip, through a window. The
 * stream (gz_stream.h) refuses bytes after the last gzip member that do not
 * start another, which gzread skipped, and reads pipes, which give their
 * bytes once: it never seeks. A failure to open or read the file names
 * `fn`, the call made, first. */
static mlp_status load_file(mlp_dataset **out, int fd, const char *path,
                            const mlp_csv_options *o, const char *fn)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return mlp__error(MLP_STATUS_IO, "%s: cannot open %s: %s", fn, path,
                          strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return mlp__error(MLP_STATUS_IO, "%s: cannot read %s: it is a directory", fn,
                          path);
#if SIZE_MAX < INT64_MAX
    /* Only where size_t is narrower than a file's size (32 bits): a larger
     * file is refused by its size, before it is read. */
    if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > SIZE_MAX)
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "%s: more than %zu bytes (what a size_t counts): the file has "
                          "%llu bytes",
                          path, (size_t)SIZE_MAX, (unsigned long long)sb.st_size);
#endif
    /* A pipe (a shell's <(zcat t.csv.gz), /dev/stdin) or a file of /proc
     * tells no size (0). */
    const size_t fsize = S_ISREG(sb.st_mode) ? (size_t)sb.st_size : 0;
    csv_reader r = reader_init(path, o);
    r.file_size = fsize;
    r.file_lines = -1;
    mlp__gz_stream gz;
    memset(&gz, 0, sizeof gz); /* mlp__gz_close on every path */
    mlp_status st = MLP_STATUS_OK;
    if (!(r.win = mlp__alloc(WIN_SIZE))) {
        st = oom(&r);
        goto done;
    }
    if (fsize > 0 && (r.file_lines = count_lines(fd, fsize, r.win)) == -2) {
        st = mlp__error(MLP_STATUS_IO, "%s: cannot read %s: %s", fn, path,
                        strerror(errno));
        goto done;
    }
    st = mlp__gz_open(&gz, fd, path);
    if (st != MLP_STATUS_OK)
        goto done;
    /* A gzip file's size bounds its text through deflate's ratio. A plain
     * file's text is the file, which may grow while it is read (a tiny file
     * that another process was still writing was refused as beyond
     * deflate's ratio), and what has no size may be as long as the reader
     * takes. */
    r.text_limit = !gz.is_gzip || fsize == 0 || fsize > CSV_MAX_TEXT / GZ_MAX_RATIO
                       ? CSV_MAX_TEXT
                       : fsize * GZ_MAX_RATIO;
    r.gz = &gz;
    r.p = r.end = r.win;
    st = parse(&r, out);
done:
    mlp__gz_close(&gz);
    reader_free(&r);
    return st;
}

mlp_status mlp_dataset_load_csv(mlp_dataset **out, const char *path,
                                const mlp_csv_options *opts)
{
    static const char fn[] = "mlp_dataset_load_csv";
    MLP_CHECK_ARG(out != NULL, fn, "out is NULL");
    *out = NULL;
    MLP_CHECK_ARG(path != NULL, fn, "path is NULL");
    MLP_CHECK_ARG(path[0] != '\0', fn, "path is empty");
    mlp_csv_options o;
    MLP_TRY(read_options(&o, opts, fn));
    /* Blocks on a FIFO until a writer opens it, as a pipe must be read. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return mlp__error(MLP_STATUS_IO, "%s: cannot open %s: %s", fn, path,
                          strerror(errno));
    mlp_status st = load_file(out, fd, path, &o, fn);
    close(fd);
    return st;
}

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

/* Bytes of the UTF-8 sequence at s (RFC 3629: no overlong form, no
 * surrogate, nothing past U+10FFFF) that encodes a character a message may
 * show, or 0 for an invalid sequence or a control character (C0, DEL, C1). */
static size_t shown_char(const unsigned char *s)
{
    const unsigned c = s[0];
    if (c < 0x80)
        return c >= 0x20 && c != 0x7f;
    size_t n;
    unsigned cp, min;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f, min = 0xa0; /* U+0080..U+009F are C1 controls */
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also the NUL that ends a cut sequence */
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    return cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? n : 0;
}

/*
 * Every message is one line of valid UTF-8 text without control
 * characters, whatever bytes of a file or an argument it quotes: a byte
 * that starts no such character becomes '?' (a label of invalid UTF-8, a
 * quoted line break or escape sequence, a multi-byte character cut by a
 * "%.64s" or by the buffer's end), so that the text can be printed, logged
 * or put in a JSON string as it is.
 */
static void make_printable(char *msg)
{
    unsigned char *r = (unsigned char *)msg, *w = r;
    while (*r) {
        size_t n = shown_char(r);
        if (n == 0) {
            *w++ = '?';
            r++;
            continue;
        }
        memmove(w, r, n);
        w += n;
        r += n;
    }
    *w = '\0';
}

const char *mlp__clip(const char *s, char *buf)
{
    size_t n = strlen(s);
    if (n < MLP__CLIP_LEN) {
        memcpy(buf, s, n + 1);
        return buf;
    }
    n = MLP__CLIP_LEN - 4;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) /* inside a character */
        n--;
    memcpy(buf, s, n);
    memcpy(buf + n, "...", 4);
    return buf;
}

mlp_status mlp__error(mlp_status st, const char *fmt, ...)
{
    /* formatted apart first: an argument may be mlp_last_error() itself */
    char msg[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    make_printable(msg);
    memcpy(last_error, msg, strlen(msg) + 1);
    return st;
}

mlp_status mlp__error_batch_too_small(mlp_status st)
{
    batch_too_small = 1;
    return st;
}

mlp_status mlp__error_named(mlp_status st, const char *fn)
{
    const size_t n = strlen(fn);
    if (st == MLP_STATUS_OK || (strncmp(last_error, fn, n) == 0 && last_error[n] == ':'))
        return st;
    char msg[sizeof last_error];
    snprintf(msg, sizeof msg, "%s", last_error);
    return mlp__error(st, "%s: %s", fn, msg);
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

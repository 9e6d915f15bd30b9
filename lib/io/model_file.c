/*
 * Model files (normative description: docs/file-format.md).
 *
 *   file   = magic[8] version:u32 record* END-record
 *   record = tag[4] length:u64 payload[length] crc32:u32   (CRC of tag..payload)
 *
 * Records in order: HEAD, one LAYR per layer, PARM, STAT, then optionally
 * NOIS, LOSS and OPTM, then END; the ancillary clsn (class names) and ftrn
 * (feature names) may sit anywhere between HEAD and END. This file frames
 * every record, but two kinds of
 * payload belong to others: a layer kind encodes its configuration inside
 * LAYR (its ops table), and the optimizer encodes all of OPTM
 * (lib/optim/optim_file.c). A record whose tag starts with a lower-case
 * letter is ancillary: a reader that does not know it checks its CRC and
 * skips it. Everything is little-endian and written byte by byte, never as
 * a struct image, so files move between machines unchanged.
 *
 * Saving serialises into one exact-size buffer (the size is computed first)
 * and writes it through a temporary file that is synced and renamed.
 *
 * Loading reads the whole file into memory, then makes two passes over it.
 * The first checks the framing only: the preamble, every record's length
 * against the bytes that remain and every CRC, the END record and that
 * nothing follows it. Corruption is therefore reported as such ("checksum
 * mismatch at byte offset N") before any value is interpreted. The second
 * pass interprets the records in order and rebuilds the model through the
 * public creators and mlp_model_add, so every configuration value passes
 * the checks a program's values pass. Before a layer is added its
 * parameter count is computed (the layer's setup hook, which does not
 * allocate) and checked against the file's declared counts, which were
 * themselves checked against the file's length: a small file cannot make
 * the loader allocate a large model. The parameters and state read into
 * it must be finite, and the state a value its layer can hold
 * (check_values), which no creator checks for us.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* POSIX.1-2008 */
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "core/bytes.h"
#include "core/regular_file.h"
#include "data/dataset_impl.h"
#include "io/atomic_file.h"
#include "mlpnet/io.h"
#include "model/model_impl.h"
#include "optim/optim_file.h"

/* "\x89MLPNET\n": the high byte catches 7-bit transfers and the newline
 * catches line-ending conversion, as in PNG's signature. */
static const unsigned char MAGIC[8] = {0x89, 'M', 'L', 'P', 'N', 'E', 'T', '\n'};

#define PREAMBLE 12u     /* magic + version */
#define REC_OVERHEAD 16u /* tag + length + CRC */
#define HEAD_LEN 36u
#define LAYR_FIXED 40u /* LAYR payload before the kind name */
#define NAME_MAX_LEN 32u
#define NOIS_LEN 64u
/* The smallest LAYR record: fixed part, a one-letter name, no config. */
#define LAYR_MIN_RECORD (REC_OVERHEAD + LAYR_FIXED + 1u)

static unsigned long long ull(uint64_t v)
{
    return (unsigned long long)v;
}

/* CRC-32 of any length (zlib's crc32 takes an unsigned int length). */
static uLong crc_update(uLong crc, const unsigned char *p, uint64_t n)
{
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return crc;
}

/* ---- layer records ------------------------------------------------------ */

/*
 * A LAYR record holds the kind's name and its configuration, which the kind
 * itself writes and reads through its ops table (its record: write, read)
 * with its own version (the u16 in LAYR): changing what a kind stores adds a
 * version for that kind alone, never a format version (docs/file-format.md,
 * "Compatibility rules"). This file names no kind.
 */
/* ---- serialisation ------------------------------------------------------ */

/* A sink that either counts bytes (buf NULL) or writes them into an
 * exact-size buffer, keeping the running CRC of the current record. */
typedef struct writer {
    unsigned char *buf;
    size_t pos;
    uLong crc;
} writer;

static void w_put(writer *w, const unsigned char *p, size_t n)
{
    if (n == 0)
        return;
    if (w->buf) {
        memcpy(w->buf + w->pos, p, n);
        w->crc = crc_update(w->crc, p, n);
    }
    w->pos += n;
}

/* w_put as an mlp__put_bytes, for encoders of other rooms (the optimizer). */
static void w_sink(void *w, const unsigned char *p, size_t n)
{
    w_put(w, p, n);
}

static void w_begin(writer *w, const char tag[4], uint64_t len)
{
    unsigned char h[12];
    memcpy(h, tag, 4);
    mlp__put_u64(h + 4, len);
    w->crc = crc32(0L, Z_NULL, 0);
    w_put(w, h, sizeof h);
}

static void w_end(writer *w)
{
    unsigned char c[4];
    mlp__put_u32(c, (uint32_t)w->crc);
    w_put(w, c, sizeof c);
}

static void w_record(writer *w, const char tag[4], const unsigned char *p, size_t n)
{
    w_begin(w, tag, n);
    w_put(w, p, n);
    w_end(w);
}

/* A count (u64) followed by n floats. */
static void w_floats(writer *w, const char tag[4], const float *v, int64_t n)
{
    unsigned char chunk[4096];
    w_begin(w, tag, 8 + 4 * (uint64_t)n);
    mlp__put_u64(chunk, (uint64_t)n);
    w_put(w, chunk, 8);
    for (int64_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < sizeof chunk / 4 && i < n; k++, i++)
            mlp__put_f32(chunk + 4 * k, v[i]);
        w_put(w, chunk, 4 * k);
    }
    w_end(w);
}

/* An ancillary record of n names (none when n is 0): a u32 count, then each
 * name as a u16 length and its bytes. */
static void w_names(writer *w, const char tag[4], const mlp_model *m, int32_t n,
                    const char *(*name)(const mlp_model *, int32_t))
{
    if (n == 0)
        return;
    unsigned char b[4];
    uint64_t len = 4;
    for (int32_t i = 0; i < n; i++)
        len += 2 + strlen(name(m, i));
    w_begin(w, tag, len);
    mlp__put_u32(b, (uint32_t)n);
    w_put(w, b, 4);
    for (int32_t i = 0; i < n; i++) {
        const char *s = name(m, i);
        const uint16_t k = (uint16_t)strlen(s);
        mlp__put_u16(b, k);
        w_put(w, b, 2);
        w_put(w, (const unsigned char *)s, k);
    }
    w_end(w);
}

/* The model's task: LOSS when it is not the default (softmax cross-entropy
 * without class weights), so files of default models stay readable by
 * readers that predate the record; and the ancillary `clsn` with the class
 * names and `ftrn` with the feature names, which such readers skip. */
static void write_task(writer *w, const mlp_model *m)
{
    unsigned char b[8];
    if (m->loss.kind != MLP_LOSS_SOFTMAX_XENT || m->class_w) {
        const char *name = mlp_loss_kind_name(m->loss.kind);
        const uint16_t k = (uint16_t)strlen(name);
        const uint32_t nw = m->class_w ? (uint32_t)m->n_class_w : 0;
        w_begin(w, "LOSS", 10u + k + 4u * (uint64_t)nw);
        mlp__put_u16(b, k);
        w_put(w, b, 2);
        w_put(w, (const unsigned char *)name, k);
        mlp__put_f32(b, m->loss.kind == MLP_LOSS_HUBER ? m->loss.delta : 0.0f);
        mlp__put_u32(b + 4, nw);
        w_put(w, b, 8);
        for (uint32_t i = 0; i < nw; i++) {
            mlp__put_f32(b, m->class_w[i]);
            w_put(w, b, 4);
        }
        w_end(w);
    }
    w_names(w, "clsn", m, mlp_model_class_count(m), mlp_model_class_name);
    w_names(w, "ftrn", m, mlp_model_feature_count(m), mlp_model_feature_name);
}

static void serialise(writer *w, const mlp_model *m, const mlp_optimizer *o)
{
    unsigned char b[NOIS_LEN]; /* HEAD and NOIS */
    unsigned char pre[PREAMBLE];
    memcpy(pre, MAGIC, 8);
    mlp__put_u32(pre + 8, MLP_MODEL_FORMAT_VERSION);
    w_put(w, pre, sizeof pre);

    memset(b, 0, HEAD_LEN);
    mlp__put_u32(b, (uint32_t)m->in.rank);
    for (int i = 0; i < m->in.rank; i++)
        mlp__put_i32(b + 4 + 4 * i, m->in.d[i]);
    mlp__put_u32(b + 16, (uint32_t)m->n_layers);
    mlp__put_u64(b + 20, (uint64_t)m->n_params);
    mlp__put_u64(b + 28, (uint64_t)m->n_state);
    w_record(w, "HEAD", b, HEAD_LEN);

    for (int i = 0; i < m->n_layers; i++) {
        const mlp_layer *l = m->layers[i];
        unsigned char r[LAYR_FIXED + NAME_MAX_LEN + 64];
        uint32_t name_len = (uint32_t)strlen(l->ops->name);
        const uint16_t version = mlp__config_newest(l->ops);
        uint32_t csize = mlp__config_size(l->ops, version);
        memset(r, 0, sizeof r);
        mlp__put_u32(r, (uint32_t)i);
        mlp__put_u64(r + 4, (uint64_t)l->n_params);
        mlp__put_u64(r + 12, (uint64_t)l->n_state);
        mlp__put_u32(r + 20, (uint32_t)l->out.rank);
        for (int k = 0; k < l->out.rank; k++)
            mlp__put_i32(r + 24 + 4 * k, l->out.d[k]);
        mlp__put_u16(r + 36, version);
        mlp__put_u16(r + 38, (uint16_t)name_len);
        memcpy(r + LAYR_FIXED, l->ops->name, name_len);
        if (l->ops->record.write)
            l->ops->record.write(l, r + LAYR_FIXED + name_len);
        w_record(w, "LAYR", r, LAYR_FIXED + name_len + csize);
    }
    w_floats(w, "PARM", m->params, m->n_params);
    w_floats(w, "STAT", m->state, m->n_state);

    for (int i = 0; i < 4; i++) {
        mlp__put_u64(b + 8 * i, m->rng.s[i]);
        mlp__put_u64(b + 32 + 8 * i, m->noise.s[i]);
    }
    w_record(w, "NOIS", b, NOIS_LEN);
    write_task(w, m);

    if (o) { /* the optimizer encodes its own record */
        w_begin(w, "OPTM", mlp__optimizer_state_size(o));
        mlp__optimizer_write_state(o, w_sink, w);
        w_end(w);
    }
    w_record(w, "END ", NULL, 0);
}

static mlp_status check_save_args(const mlp_model *m, const mlp_optimizer *o,
                                  const char *fn)
{
    MLP_CHECK_ARG(m, fn, "model is NULL");
    for (int i = 0; i < m->n_layers; i++) {
        const mlp_layer_ops *ops = m->layers[i]->ops;
        if (mlp__config_size(ops, mlp__config_newest(ops)) == UINT32_MAX)
            return mlp__error(MLP_STATUS_INTERNAL,
                              "%s: layer %d (%s) has no file encoding (its ops table has "
                              "no record version or size)",
                              fn, i, ops->name);
    }
    MLP_TRY(mlp__model_check_class_counts(m, fn));
    if (o) {
        MLP_TRY(mlp__optimizer_check_block(o, &m->pb, fn));
    }
    /* What the loader refuses is not written: a model or an optimizer
     * whose training diverged (NaN or infinite values) saved with OK to a
     * file that then did not load. The same rules as the loader's, by the
     * same functions. */
    MLP_TRY(mlp__model_check_held(m, fn, "nothing was saved"));
    if (o) {
        MLP_TRY(mlp__optimizer_check_state(o, fn));
    }
    return MLP_STATUS_OK;
}

static mlp_status save_mem(const mlp_model *m, const mlp_optimizer *o, void **buf,
                           size_t *len, const char *fn)
{
    MLP_TRY(check_save_args(m, o, fn));
    writer w = {NULL, 0, 0};
    serialise(&w, m, o); /* count */
    w.buf = mlp__alloc(w.pos);
    if (!w.buf)
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory for %zu bytes", fn,
                          w.pos);
    size_t total = w.pos;
    w.pos = 0;
    serialise(&w, m, o);
    if (w.pos != total) { /* the two passes must agree */
        mlp__free(w.buf);
        return mlp__error(MLP_STATUS_INTERNAL, "%s: size changed between passes", fn);
    }
    *buf = w.buf;
    *len = total;
    return MLP_STATUS_OK;
}

/* mlp_model_save_mem(_with_optimizer), its messages naming `fn`, the call
 * the caller made. Every out-pointer given is cleared first, so that a
 * failure leaves NULL and 0 even when the other one is NULL. */
static mlp_status save_mem_call(const mlp_model *m, const mlp_optimizer *o, void **buf,
                                size_t *len, const char *fn)
{
    if (buf)
        *buf = NULL;
    if (len)
        *len = 0;
    MLP_CHECK_ARG(buf && len, fn, "buf or len is NULL");
    return save_mem(m, o, buf, len, fn);
}

mlp_status mlp_model_save_mem_with_optimizer(const mlp_model *m, const mlp_optimizer *o,
                                             void **buf, size_t *len)
{
    return save_mem_call(m, o, buf, len, "mlp_model_save_mem_with_optimizer");
}

mlp_status mlp_model_save_mem(const mlp_model *m, void **buf, size_t *len)
{
    return save_mem_call(m, NULL, buf, len, "mlp_model_save_mem");
}

void mlp_buffer_free(void *buf)
{
    mlp__free(buf);
}

/* mlp_model_save(_with_optimizer), its messages naming `fn`. */
static mlp_status save_call(const mlp_model *m, const mlp_optimizer *o, const char *path,
                            const char *fn)
{
    MLP_TRY(mlp__check_save_path(path, fn));
    void *buf = NULL;
    size_t len = 0;
    MLP_TRY(save_mem(m, o, &buf, &len, fn));
    mlp_status st = mlp__write_atomic(path, buf, len, fn);
    mlp__free(buf);
    return st;
}

mlp_status mlp_model_save_with_optimizer(const mlp_model *m, const mlp_optimizer *o,
                                         const char *path)
{
    return save_call(m, o, path, "mlp_model_save_with_optimizer");
}

mlp_status mlp_model_save(const mlp_model *m, const char *path)
{
    return save_call(m, NULL, path, "mlp_model_save");
}

/* ---- loading -------------------------------------------------------------- */

typedef struct loader {
    const unsigned char *p;
    uint64_t size;
    const char *src; /* "model file PATH" or "model buffer", for messages */
    const char *fn;
} loader;

/* One framed record. */
typedef struct record {
    uint64_t at; /* offset of the tag */
    char tag[5];
    uint64_t len;
    const unsigned char *payload;
} record;

#define FMT_ERR(ld, off, ...) fmt_err((ld), MLP_STATUS_BAD_FORMAT, (off), __VA_ARGS__)

static mlp_status fmt_err(const loader *ld, mlp_status st, uint64_t off, const char *fmt,
                          ...) MLP__PRINTF(4, 5);

static mlp_status fmt_err(const loader *ld, mlp_status st, uint64_t off, const char *fmt,
                          ...)
{
    char detail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return mlp__error(st, "%s: %s: byte offset %llu: %s", ld->fn, ld->src, ull(off),
                      detail);
}

static int is_tag_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == ' ';
}

/* Frame the record at `off`: tag, length within the remaining bytes, CRC. */
static mlp_status frame(const loader *ld, uint64_t off, record *r)
{
    uint64_t left = ld->size - off;
    if (left < REC_OVERHEAD)
        return FMT_ERR(ld, off,
                       "truncated: a record needs at least %u bytes, %llu remain (no END "
                       "record)",
                       REC_OVERHEAD, ull(left));
    const unsigned char *p = ld->p + off;
    r->at = off;
    memcpy(r->tag, p, 4);
    r->tag[4] = '\0';
    if (!is_tag_char(p[0]) || p[0] == ' ' || !is_tag_char(p[1]) || !is_tag_char(p[2]) ||
        !is_tag_char(p[3]))
        return FMT_ERR(ld, off, "not a record tag (bytes %02x %02x %02x %02x)", p[0],
                       p[1], p[2], p[3]);
    r->len = mlp__get_u64(p + 4);
    if (r->len > left - REC_OVERHEAD)
        return FMT_ERR(ld, off,
                       "truncated: record '%s' declares %llu payload bytes but only %llu "
                       "remain",
                       r->tag, ull(r->len), ull(left - REC_OVERHEAD));
    r->payload = p + 12;
    uint32_t stored = mlp__get_u32(p + 12 + r->len);
    uint32_t computed = (uint32_t)crc_update(crc32(0L, Z_NULL, 0), p, 12 + r->len);
    if (stored != computed)
        return FMT_ERR(ld, off + 12 + r->len,
                       "checksum mismatch in record '%s' (stored %08lx, computed %08lx)",
                       r->tag, (unsigned long)stored, (unsigned long)computed);
    return MLP_STATUS_OK;
}

/* Pass 1: preamble, framing and CRCs of the whole file. */
static mlp_status check_framing(const loader *ld)
{
    if (ld->size == 0) /* say so, rather than that nothing matched the magic */
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "%s: %s is empty (0 bytes), not a model file", ld->fn, ld->src);
    size_t head = ld->size < 8 ? (size_t)ld->size : 8;
    if (memcmp(ld->p, MAGIC, head) != 0)
        return FMT_ERR(ld, 0, "not a model file (wrong magic)");
    if (ld->size < PREAMBLE)
        return FMT_ERR(ld, 0, "truncated: %llu bytes, shorter than the %u-byte preamble",
                       ull(ld->size), PREAMBLE);
    uint32_t version = mlp__get_u32(ld->p + 8);
    if (version == 0)
        return FMT_ERR(ld, 8, "format version 0 does not exist");
    if (version > MLP_MODEL_FORMAT_VERSION)
        return fmt_err(ld, MLP_STATUS_UNSUPPORTED, 8,
                       "format version %lu is newer than this library reads (up to %d)",
                       (unsigned long)version, MLP_MODEL_FORMAT_VERSION);
    uint64_t off = PREAMBLE;
    for (;;) {
        record r;
        MLP_TRY(frame(ld, off, &r));
        off += REC_OVERHEAD + r.len;
        if (memcmp(r.tag, "END ", 4) == 0) {
            if (off != ld->size)
                return FMT_ERR(ld, off, "%llu bytes after the END record",
                               ull(ld->size - off));
            return MLP_STATUS_OK;
        }
    }
}

/* Pass 2 state: records are taken in order, skipping ancillary ones. */
typedef struct cursor {
    const loader *ld;
    uint64_t off;
} cursor;

static int is_ancillary(const record *r)
{
    return r->tag[0] >= 'a' && r->tag[0] <= 'z';
}

/* The next critical record (framing was checked by pass 1). */
static void next_record(cursor *c, record *r)
{
    for (;;) {
        frame(c->ld, c->off, r);
        c->off += REC_OVERHEAD + r->len;
        if (!is_ancillary(r))
            return;
    }
}

static int tag_is(const record *r, const char *tag)
{
    return memcmp(r->tag, tag, 4) == 0;
}

static mlp_status unexpected(const loader *ld, const record *r, const char *wanted)
{
    static const char *const known[] = {"HEAD", "LAYR", "PARM", "STAT",
                                        "NOIS", "LOSS", "OPTM", "END "};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (tag_is(r, known[i]))
            return FMT_ERR(ld, r->at, "record '%s' where %s was expected", r->tag,
                           wanted);
    return FMT_ERR(ld, r->at, "unknown record '%s' (where %s was expected)", r->tag,
                   wanted);
}

static mlp_status length_is(const loader *ld, const record *r, uint64_t want)
{
    if (r->len != want)
        return FMT_ERR(ld, r->at, "record '%s' has %llu payload bytes; it must have %llu",
                       r->tag, ull(r->len), ull(want));
    return MLP_STATUS_OK;
}

/* Copy the message of a failed library call before formatting a new one
 * around it (the two share one buffer). */
static mlp_status wrap_error(const loader *ld, mlp_status st, uint64_t off,
                             const char *what)
{
    char inner[300];
    snprintf(inner, sizeof inner, "%s", mlp_last_error());
    if (st == MLP_STATUS_NO_MEMORY)
        return mlp__error(st, "%s: %s: out of memory (%s)", ld->fn, ld->src, inner);
    if (st != MLP_STATUS_UNSUPPORTED)
        st = MLP_STATUS_BAD_FORMAT;
    return fmt_err(ld, st, off, "%s: %s", what, inner);
}

static mlp_status read_layer(const loader *ld, const record *r, mlp_model *m, int index,
                             uint64_t *params_left, uint64_t *state_left)
{
    const unsigned char *p = r->payload;
    if (r->len < LAYR_FIXED + 1)
        return FMT_ERR(ld, r->at, "LAYR record of %llu bytes is shorter than %u",
                       ull(r->len), LAYR_FIXED + 1);
    uint32_t idx = mlp__get_u32(p);
    uint64_t n_params = mlp__get_u64(p + 4), n_state = mlp__get_u64(p + 12);
    uint32_t out_rank = mlp__get_u32(p + 20);
    uint16_t cfg_version = mlp__get_u16(p + 36), name_len = mlp__get_u16(p + 38);
    if (idx != (uint32_t)index)
        return FMT_ERR(ld, r->at + 12,
                       "layer record numbered %lu where layer %d was expected",
                       (unsigned long)idx, index);
    if (name_len < 1 || name_len > NAME_MAX_LEN || LAYR_FIXED + name_len > r->len)
        return FMT_ERR(ld, r->at + 12 + 38,
                       "layer %d: kind name length %u is outside 1..%u "
                       "or exceeds the record",
                       index, (unsigned)name_len, NAME_MAX_LEN);
    const unsigned char *name = p + LAYR_FIXED;
    char shown[NAME_MAX_LEN + 1];
    for (uint16_t i = 0; i < name_len; i++) {
        unsigned char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
            return FMT_ERR(ld, r->at + 12 + LAYR_FIXED + i,
                           "layer %d: kind name has byte 0x%02x (names are [a-z0-9_])",
                           index, ch);
        shown[i] = (char)ch;
    }
    shown[name_len] = '\0';
    const mlp_layer_kind kind = mlp__layer_kind_named((const char *)name, name_len);
    const mlp_layer_ops *ops = mlp__layer_ops(kind);
    if (!ops)
        return FMT_ERR(ld, r->at + 12 + LAYR_FIXED, "layer %d: unknown layer kind '%s'",
                       index, shown);
    const uint16_t newest = mlp__config_newest(ops);
    if (cfg_version < 1 || cfg_version > newest) {
        char known[16];
        snprintf(known, sizeof known, newest == 1 ? "%u" : "1..%u", (unsigned)newest);
        return fmt_err(ld, MLP_STATUS_UNSUPPORTED, r->at + 12 + 36,
                       "layer %d (%s): configuration version %u is not one this library "
                       "reads (%s)",
                       index, shown, (unsigned)cfg_version, known);
    }
    uint64_t csize = r->len - LAYR_FIXED - name_len;
    if (csize != mlp__config_size(ops, cfg_version))
        return FMT_ERR(ld, r->at,
                       "layer %d (%s): configuration of %llu bytes; version %u has %lu",
                       index, shown, ull(csize), (unsigned)cfg_version,
                       (unsigned long)mlp__config_size(ops, cfg_version));
    uint64_t cfg_off = r->at + 12 + LAYR_FIXED + name_len;

    mlp_layer *l = NULL;
    mlp_status st = mlp__layer_read_config(kind, &l, cfg_version, name + name_len);
    if (st != MLP_STATUS_OK) {
        char what[128];
        snprintf(what, sizeof what, "layer %d (%s)", index, shown);
        return wrap_error(ld, st, cfg_off, what);
    }
    /* Size the layer before the model allocates for it: setup computes the
     * output shape and counts without allocating (mlp_model_add repeats it). */
    const mlp_shape *in = m->n_layers ? &m->layers[m->n_layers - 1]->out : &m->in;
    mlp_shape out = {0, {0, 0, 0}};
    st = mlp__layer_setup(l, in, &out);
    if (st != MLP_STATUS_OK) {
        mlp_layer_destroy(l);
        char what[128];
        snprintf(what, sizeof what, "layer %d (%s) does not fit its input", index, shown);
        return wrap_error(ld, st, cfg_off, what);
    }
    if ((uint64_t)l->n_params != n_params || (uint64_t)l->n_state != n_state ||
        n_params > *params_left || n_state > *state_left) {
        const int64_t have_params = l->n_params, have_state = l->n_state;
        mlp_layer_destroy(l);
        return FMT_ERR(
            ld, r->at + 12 + 4,
            "layer %d (%s): the record declares %llu parameters and %llu state "
            "values, the architecture gives %lld and %lld (%llu and %llu left of "
            "the header's totals)",
            index, shown, ull(n_params), ull(n_state), (long long)have_params,
            (long long)have_state, ull(*params_left), ull(*state_left));
    }
    int shape_ok = out_rank == (uint32_t)out.rank;
    for (int k = 0; k < 3; k++)
        shape_ok =
            shape_ok && mlp__get_i32(p + 24 + 4 * k) == (k < out.rank ? out.d[k] : 0);
    if (!shape_ok) {
        char a[48];
        mlp_layer_destroy(l);
        return FMT_ERR(
            ld, r->at + 12 + 20,
            "layer %d (%s): the stored output shape differs from the computed %s", index,
            shown, mlp__shape_str(&out, a, sizeof a));
    }
    /* The stored weights replace whatever the initialiser draws (kinds with
     * weights have one): a constant fill is far cheaper than random draws
     * (the generator states are restored from NOIS afterwards, and
     * initialisers are not stored). */
    if (l->n_weights > 0)
        mlp_layer_set_init(l, MLP_INIT_CONSTANT, 0.0f);
    st = mlp_model_add(m, l); /* consumes l */
    if (st != MLP_STATUS_OK) {
        char what[128];
        snprintf(what, sizeof what, "layer %d (%s)", index, shown);
        return wrap_error(ld, st, cfg_off, what);
    }
    *params_left -= n_params;
    *state_left -= n_state;
    return MLP_STATUS_OK;
}

/* A count (u64) then that many floats, decoded into dst of `want` floats. */
static mlp_status read_floats(const loader *ld, const record *r, float *dst, int64_t want,
                              const char *what)
{
    if (r->len < 8)
        return FMT_ERR(ld, r->at, "record '%s' is shorter than its count", r->tag);
    uint64_t n = mlp__get_u64(r->payload);
    if (n != (uint64_t)want)
        return FMT_ERR(ld, r->at + 12,
                       "record '%s' holds %llu %s; the architecture has %lld", r->tag,
                       ull(n), what, (long long)want);
    MLP_TRY(length_is(ld, r, 8 + 4 * (uint64_t)want));
    const unsigned char *p = r->payload + 8;
    for (int64_t i = 0; i < want; i++)
        dst[i] = mlp__get_f32(p + 4 * i);
    return MLP_STATUS_OK;
}

/* Values no model holds, behind valid checksums: a NaN or an infinity in
 * PARM or STAT (r), which the outputs would carry (mlp_model_fit stops on
 * them with MLP_STATUS_NUMERIC; a file holding them is damaged or
 * hand-made, since the savers refuse such a model), or a state value its
 * layer's kind never holds (the kind's check_state: a negative running
 * variance). No creator or setter sees these values, so they are checked
 * here once each record is in the model, by the rule the savers and the
 * setters use (mlp__model_bad_value). The message names the layer, its
 * kind and the value's index in the layer's slice (mlp_layer_params,
 * mlp_layer_state); the offset is the value's. */
static mlp_status check_values(const loader *ld, const record *r, const mlp_model *m,
                               int state)
{
    char text[200];
    int finite;
    const int64_t bad = mlp__model_bad_value(m, state ? m->state : m->params, state,
                                             &finite, text, sizeof text);
    if (bad < 0)
        return MLP_STATUS_OK;
    return FMT_ERR(ld, r->at + 12 + 8 + 4 * (uint64_t)bad, "%s", text);
}

static mlp_status read_noise(const loader *ld, const record *r, mlp_model *m)
{
    MLP_TRY(length_is(ld, r, NOIS_LEN));
    mlp_rng g[2];
    for (int k = 0; k < 2; k++) {
        uint64_t any = 0;
        for (int i = 0; i < 4; i++) {
            g[k].s[i] = mlp__get_u64(r->payload + 32 * k + 8 * i);
            any |= g[k].s[i];
        }
        if (!any) /* xoshiro's one forbidden state */
            return FMT_ERR(ld, r->at + 12 + 32 * (uint64_t)k,
                           "generator state %d is all zero", k);
    }
    m->rng = g[0];
    m->noise = g[1];
    return MLP_STATUS_OK;
}

/* LOSS: rebuilt through the public setters, so a file's values meet the
 * checks a program's values meet. */
static mlp_status read_loss(const loader *ld, const record *r, mlp_model *m)
{
    const unsigned char *p = r->payload;
    if (r->len < 10)
        return FMT_ERR(ld, r->at, "LOSS record of %llu bytes is shorter than 10",
                       ull(r->len));
    const uint16_t k = mlp__get_u16(p);
    if (k < 1 || k > NAME_MAX_LEN || r->len < 10u + k)
        return FMT_ERR(ld, r->at + 12,
                       "loss name length %u is outside 1..%u or the record", (unsigned)k,
                       NAME_MAX_LEN);
    char name[NAME_MAX_LEN + 1];
    memcpy(name, p + 2, k);
    name[k] = '\0';
    const mlp_loss_kind kind = mlp__loss_kind_named((const char *)p + 2, k);
    if (!kind) {
        for (char *c = name; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
                *c = '?';
        return FMT_ERR(ld, r->at + 14, "unknown loss '%s'", name);
    }
    const float param = mlp__get_f32(p + 2 + k);
    const uint32_t nw = mlp__get_u32(p + 6 + k);
    const uint32_t outs = m->n_layers ? (uint32_t)mlp__model_outputs(m) : 0;
    if (nw != 0 && nw != outs)
        return FMT_ERR(ld, r->at + 12 + 6 + k,
                       "%lu class weights for a model with %lu outputs",
                       (unsigned long)nw, (unsigned long)outs);
    MLP_TRY(length_is(ld, r, 10u + k + 4u * (uint64_t)nw));
    if (kind != MLP_LOSS_HUBER && param != 0.0f)
        return FMT_ERR(ld, r->at + 14 + k, "loss %s has parameter %g; it must be 0", name,
                       (double)param);
    /* The setter takes 0 for the default delta, 1, which a writer stores as
     * 1. A stored 0 is a delta that became 0 as a float, which the setter
     * once let through (1e-300, say): read as 1, it would change the loss
     * the model was trained with. Other deltas the setter refuses (a
     * subnormal one, infinity, NaN) are refused below, through it. */
    if (kind == MLP_LOSS_HUBER && param == 0.0f)
        return FMT_ERR(ld, r->at + 14 + k, "loss huber has parameter 0; it must be > 0");
    mlp_status st = mlp_model_set_loss(m, kind, param);
    if (st != MLP_STATUS_OK)
        return wrap_error(ld, st, r->at + 14 + k, "loss");
    if (nw) {
        float *wp = mlp__alloc(4u * (size_t)nw);
        if (!wp)
            return wrap_error(ld, MLP_STATUS_NO_MEMORY, r->at, "class weights");
        for (uint32_t i = 0; i < nw; i++)
            wp[i] = mlp__get_f32(p + 10 + k + 4 * (uint64_t)i);
        st = mlp_model_set_class_weights(m, wp, (int32_t)nw);
        mlp__free(wp);
        if (st != MLP_STATUS_OK)
            return wrap_error(ld, st, r->at + 22 + k, "class weights");
    }
    return MLP_STATUS_OK;
}

/*
 * clsn and ftrn: the class names and the feature names, under the rule of
 * mlp_model_set_class_names (that of data/dataset_impl.h), checked here
 * too so that a message gives the offset of the name at fault. Files of
 * 0.3 and 0.4 were written under a looser rule: their setter let through
 * C1 controls (U+0080..U+009F), invalid UTF-8 and repeated class names.
 * Such a file is refused, naming the name, its offset and the reason,
 * rather than read. Accepting it would let names back into a model that
 * its own setter refuses, to be saved and exported again (to ONNX, whose
 * strings must be UTF-8); skipping the record would drop the names without
 * a word, and this reader has no way to say so. Only a program that set
 * such names made such a file; it can load the file with 0.4, set valid
 * names and save it again. Feature names came in 0.5, under the rule.
 */
typedef struct names_record {
    const char *tag, *what; /* "clsn", "class" */
    const char *note;       /* said of a bad name */
    mlp_status (*set)(mlp_model *, const char *const *, int32_t);
} names_record;

static const names_record class_names_record = {
    "clsn", "class", " (0.3 and 0.4 saved some names that are refused now)",
    mlp_model_set_class_names};
static const names_record feature_names_record = {"ftrn", "feature", "",
                                                  mlp_model_set_feature_names};

static mlp_status read_names(const loader *ld, const record *r, mlp_model *m,
                             const names_record *k)
{
    const unsigned char *p = r->payload;
    if (r->len < 4)
        return FMT_ERR(ld, r->at, "%s record of %llu bytes is shorter than 4", k->tag,
                       ull(r->len));
    const uint32_t n = mlp__get_u32(p);
    if (n < 1)
        return FMT_ERR(ld, r->at + 12, "%s record holds no names", k->tag);
    if (n > (r->len - 4) / 3) /* each name takes 3 bytes or more */
        return FMT_ERR(ld, r->at + 12,
                       "%lu %s names of 1 byte or more cannot fit in the record's %llu "
                       "bytes",
                       (unsigned long)n, k->what, ull(r->len));
    const char **names = mlp__calloc(n, sizeof *names);
    char *text = mlp__alloc((size_t)r->len); /* every name, each NUL-terminated */
    char what[24];
    snprintf(what, sizeof what, "%s names", k->what);
    mlp_status st = MLP_STATUS_OK;
    if (!names || !text) {
        st = wrap_error(ld, MLP_STATUS_NO_MEMORY, r->at, what);
        goto done;
    }
    uint64_t off = 4;
    char *t = text;
    for (uint32_t i = 0; i < n; i++) {
        uint16_t len = r->len - off >= 2 ? mlp__get_u16(p + off) : 0;
        if (r->len - off < 2 || len > r->len - off - 2) {
            st = FMT_ERR(ld, r->at + 12 + off, "%s name %lu runs past the record",
                         k->what, (unsigned long)i);
            goto done;
        }
        if (!len) {
            st = FMT_ERR(ld, r->at + 12 + off, "%s name %lu is empty", k->what,
                         (unsigned long)i);
            goto done;
        }
        memcpy(t, p + off + 2, len);
        t[len] = '\0';
        if (strlen(t) != len) {
            st = FMT_ERR(ld, r->at + 12 + off, "%s name %lu holds a NUL byte", k->what,
                         (unsigned long)i);
            goto done;
        }
        const char *why = mlp__class_name_problem(t, len);
        if (why) {
            st = FMT_ERR(ld, r->at + 12 + off, "%s name %lu %s%s", k->what,
                         (unsigned long)i, why, k->note);
            goto done;
        }
        names[i] = t;
        t += len + 1;
        off += 2u + len;
    }
    if (off != r->len) {
        st = FMT_ERR(ld, r->at + 12 + off, "%llu bytes after the last %s name",
                     ull(r->len - off), k->what);
        goto done;
    }
    int32_t first, second;
    int rep = mlp__class_names_repeat(names, (int32_t)n, &first, &second);
    if (rep < 0) {
        st = wrap_error(ld, MLP_STATUS_NO_MEMORY, r->at, what);
        goto done;
    }
    if (rep) {
        st = FMT_ERR(ld, r->at + 12, "%s names %d and %d are both \"%.64s\"%s", k->what,
                     (int)first, (int)second, names[second], k->note);
        goto done;
    }
    st = k->set(m, names, (int32_t)n);
    if (st != MLP_STATUS_OK)
        st = wrap_error(ld, st, r->at + 12, what);
done:
    mlp__free(names);
    mlp__free(text);
    return st;
}

/* The ancillary records this reader knows (framing was checked by pass 1;
 * others are skipped). */
static mlp_status read_ancillary(const loader *ld, mlp_model *m)
{
    static const names_record *const kinds[] = {&class_names_record,
                                                &feature_names_record};
    int seen[2] = {0, 0};
    record r;
    for (uint64_t off = PREAMBLE; off < ld->size; off += REC_OVERHEAD + r.len) {
        frame(ld, off, &r);
        for (int k = 0; k < 2; k++) {
            if (!tag_is(&r, kinds[k]->tag))
                continue;
            /* one list of names: a second would replace the first without a
             * word */
            if (seen[k]++)
                return FMT_ERR(ld, r.at, "a second %s record (a file holds one)",
                               kinds[k]->tag);
            MLP_TRY(read_names(ld, &r, m, kinds[k]));
        }
    }
    return MLP_STATUS_OK;
}

/* The optimizer decodes and checks its own record; its messages gain the
 * function, the source and the offset of the field at fault here. */
static mlp_status read_optimizer(const loader *ld, const record *r, const mlp_model *m,
                                 mlp_optimizer **out)
{
    uint64_t err_at = 0;
    mlp_status st = mlp__optimizer_read_state(out, &m->pb, r->payload, r->len, &err_at);
    if (st == MLP_STATUS_OK)
        return st;
    if (st == MLP_STATUS_NO_MEMORY)
        return wrap_error(ld, st, r->at, "optimizer");
    char detail[400]; /* the message buffer is shared: copy it first */
    snprintf(detail, sizeof detail, "%s", mlp_last_error());
    const uint64_t off = err_at == MLP__STATE_AT_RECORD ? r->at : r->at + 12 + err_at;
    return fmt_err(ld, st, off, "%s", detail);
}

/* Pass 2: interpret the records and build the model (and optimizer). */
static mlp_status build(const loader *ld, mlp_model **out_m, mlp_optimizer **out_o)
{
    cursor c = {ld, PREAMBLE};
    record r;
    next_record(&c, &r);
    if (!tag_is(&r, "HEAD"))
        return unexpected(ld, &r, "HEAD");
    MLP_TRY(length_is(ld, &r, HEAD_LEN));
    const unsigned char *h = r.payload;
    uint32_t rank = mlp__get_u32(h), n_layers = mlp__get_u32(h + 16);
    int32_t dims[3];
    for (int i = 0; i < 3; i++)
        dims[i] = mlp__get_i32(h + 4 + 4 * i);
    uint64_t n_params = mlp__get_u64(h + 20), n_state = mlp__get_u64(h + 28);
    if (rank < 1 || rank > 3)
        return FMT_ERR(ld, r.at + 12, "input rank %lu is outside 1..3",
                       (unsigned long)rank);
    for (uint32_t i = rank; i < 3; i++)
        if (dims[i] != 0)
            return FMT_ERR(ld, r.at + 16 + 4 * i,
                           "input extent %u beyond rank %lu is %d, not 0", (unsigned)i,
                           (unsigned long)rank, (int)dims[i]);
    /* Absurd counts: what the header announces must fit in the file. */
    const uint64_t left = ld->size - c.off;
    if (n_layers > left / LAYR_MIN_RECORD)
        return FMT_ERR(ld, r.at + 12 + 16,
                       "%lu layers cannot fit in the %llu bytes that remain",
                       (unsigned long)n_layers, ull(left));
    if (n_params > left / 4 || n_state > left / 4 || n_params + n_state > left / 4)
        return FMT_ERR(
            ld, r.at + 12 + 20,
            "%llu parameters and %llu state values cannot fit in the %llu bytes "
            "that remain",
            ull(n_params), ull(n_state), ull(left));

    mlp_model *m = NULL;
    mlp_optimizer *o = NULL;
    mlp_status st = mlp_model_create(&m, (int)rank, dims, 0);
    if (st != MLP_STATUS_OK)
        return wrap_error(ld, st, r.at + 12, "input shape");
    uint64_t params_left = n_params, state_left = n_state;
    for (uint32_t i = 0; i < n_layers; i++) {
        next_record(&c, &r);
        if (!tag_is(&r, "LAYR")) {
            char want[48];
            snprintf(want, sizeof want, "LAYR (layer %lu of %lu)", (unsigned long)i,
                     (unsigned long)n_layers);
            st = unexpected(ld, &r, want);
            goto fail;
        }
        st = read_layer(ld, &r, m, (int)i, &params_left, &state_left);
        if (st != MLP_STATUS_OK)
            goto fail;
    }
    next_record(&c, &r);
    if (params_left || state_left) {
        st = FMT_ERR(ld, r.at,
                     "the header announces %llu parameters and %llu state values; "
                     "the layers have %lld and %lld",
                     ull(n_params), ull(n_state), (long long)m->n_params,
                     (long long)m->n_state);
        goto fail;
    }
    if (!tag_is(&r, "PARM")) {
        st = unexpected(ld, &r, "PARM");
        goto fail;
    }
    st = read_floats(ld, &r, m->params, m->n_params, "parameters");
    if (st == MLP_STATUS_OK)
        st = check_values(ld, &r, m, 0);
    if (st != MLP_STATUS_OK)
        goto fail;
    next_record(&c, &r);
    if (!tag_is(&r, "STAT")) {
        st = unexpected(ld, &r, "STAT");
        goto fail;
    }
    st = read_floats(ld, &r, m->state, m->n_state, "state values");
    if (st == MLP_STATUS_OK)
        st = check_values(ld, &r, m, 1);
    if (st != MLP_STATUS_OK)
        goto fail;
    next_record(&c, &r);
    if (tag_is(&r, "NOIS")) {
        if ((st = read_noise(ld, &r, m)) != MLP_STATUS_OK)
            goto fail;
        next_record(&c, &r);
    }
    if (tag_is(&r, "LOSS")) {
        if ((st = read_loss(ld, &r, m)) != MLP_STATUS_OK)
            goto fail;
        next_record(&c, &r);
    }
    if (tag_is(&r, "OPTM")) {
        if ((st = read_optimizer(ld, &r, m, &o)) != MLP_STATUS_OK)
            goto fail;
        next_record(&c, &r);
    }
    if (!tag_is(&r, "END ")) {
        st = unexpected(ld, &r, "NOIS, LOSS, OPTM or END");
        goto fail;
    }
    st = length_is(ld, &r, 0);
    if (st == MLP_STATUS_OK)
        st = read_ancillary(ld, m);
    if (st != MLP_STATUS_OK)
        goto fail;
    *out_m = m;
    if (out_o)
        *out_o = o;
    else
        mlp_optimizer_destroy(o);
    return MLP_STATUS_OK;
fail:
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    return st;
}

static mlp_status load_mem(mlp_model **out, mlp_optimizer **opt, const void *buf,
                           size_t len, const char *src, const char *fn)
{
    loader ld = {buf, len, src, fn};
    MLP_TRY(check_framing(&ld));
    return build(&ld, out, opt);
}

mlp_status mlp_model_load_mem_with_optimizer(mlp_model **out, mlp_optimizer **opt,
                                             const void *buf, size_t len)
{
    const char *fn = opt ? "mlp_model_load_mem_with_optimizer" : "mlp_model_load_mem";
    /* On failure every out-pointer given is NULL, `opt` also when `out` is
     * the argument refused. */
    if (opt)
        *opt = NULL;
    MLP_CHECK_ARG(out, fn, "out is NULL");
    *out = NULL;
    /* NULL is a bad argument at any length, as a NULL path is: not an empty
     * model file. */
    MLP_CHECK_ARG(buf, fn, "buf is NULL");
    return load_mem(out, opt, buf, len, "model buffer", fn);
}

mlp_status mlp_model_load_mem(mlp_model **out, const void *buf, size_t len)
{
    return mlp_model_load_mem_with_optimizer(out, NULL, buf, len);
}

/* Read a whole regular file into a new block; "" names none (a bad
 * argument, as for the savers, not a file that cannot be opened). */
static mlp_status slurp(const char *path, unsigned char **data, size_t *len, size_t max,
                        const char *fn)
{
    *data = NULL;
    *len = 0;
    MLP_CHECK_ARG(path[0] != '\0', fn, "path is empty");
    struct stat sb;
    int fd = mlp__open_regular(path, &sb);
    if (fd == MLP__NOT_REGULAR)
        return mlp__error(MLP_STATUS_IO, "%s: %s is not a regular file", fn, path);
    if (fd < 0)
        return mlp__io_error(fn, "cannot open", path, errno);
    uint64_t size = (uint64_t)sb.st_size;
    if (size > SIZE_MAX) {
        close(fd);
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: %s is too large to load", fn, path);
    }
    size_t want = max && size > max ? max : (size_t)size;
    unsigned char *p = mlp__alloc(want);
    if (!p) {
        close(fd);
        return MLP_STATUS_NO_MEMORY;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t k = read(fd, p + got, want - got > (1u << 30) ? (1u << 30) : want - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int err = errno;
            close(fd);
            mlp__free(p);
            return mlp__io_error(fn, "cannot read", path, err);
        }
        if (k == 0)
            break; /* shrank while we read: the parser reports truncation */
        got += (size_t)k;
    }
    close(fd);
    *data = p;
    *len = got;
    return MLP_STATUS_OK;
}

mlp_status mlp_model_load_with_optimizer(mlp_model **out, mlp_optimizer **opt,
                                         const char *path)
{
    const char *fn = opt ? "mlp_model_load_with_optimizer" : "mlp_model_load";
    /* On failure every out-pointer given is NULL, `opt` also when `out` is
     * the argument refused. */
    if (opt)
        *opt = NULL;
    MLP_CHECK_ARG(out, fn, "out is NULL");
    *out = NULL;
    MLP_CHECK_ARG(path, fn, "path is NULL");
    unsigned char *data;
    size_t len;
    MLP_TRY(slurp(path, &data, &len, 0, fn));
    char src[300];
    snprintf(src, sizeof src, "%s", path);
    mlp_status st = load_mem(out, opt, data, len, src, fn);
    mlp__free(data);
    return st;
}

mlp_status mlp_model_load(mlp_model **out, const char *path)
{
    return mlp_model_load_with_optimizer(out, NULL, path);
}

mlp_status mlp_model_file_version(const char *path, uint32_t *version)
{
    static const char fn[] = "mlp_model_file_version";
    MLP_CHECK_ARG(path && version, fn, "path or version is NULL");
    *version = 0;
    unsigned char *data;
    size_t len;
    MLP_TRY(slurp(path, &data, &len, PREAMBLE, fn));
    mlp_status st = MLP_STATUS_OK;
    if (len == 0)
        st = mlp__error(MLP_STATUS_BAD_FORMAT,
                        "%s: %s is empty (0 bytes), not a model file", fn, path);
    else if (len < 8 || memcmp(data, MAGIC, 8) != 0)
        st = mlp__error(MLP_STATUS_BAD_FORMAT, "%s: %s: not a model file (wrong magic)",
                        fn, path);
    else if (len < PREAMBLE)
        st = mlp__error(MLP_STATUS_BAD_FORMAT, "%s: %s: truncated preamble", fn, path);
    else
        *version = mlp__get_u32(data + 8);
    mlp__free(data);
    return st;
}

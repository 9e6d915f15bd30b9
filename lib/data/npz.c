/*
 * NumPy .npz reader: a zip archive whose members are .npy arrays. We read
 * the members `inputs.npy` and `targets.npy`, as written by np.savez (stored)
 * and np.savez_compressed (deflated), into a dataset.
 *
 * Zip: the end-of-central-directory record (EOCD) is found from the end of
 * the file (with its ZIP64 extension when the 32-bit fields are saturated);
 * the central directory gives each member's method, CRC-32, sizes and the
 * offset of its local header, whose own name and extra-field lengths give
 * where the data start. NumPy writes members with forced ZIP64 local
 * headers, so sizes are always taken from the central directory.
 *
 * .npy: magic "\x93NUMPY", version 1.x (16-bit header length) or 2.x/3.x
 * (32-bit), then a Python dict literal {'descr': '<f4', 'fortran_order':
 * False, 'shape': (N, 784), } padded with spaces and a newline, then the
 * elements in C order.
 *
 * Members are decoded as streams (stored: read in place; deflated: zlib's
 * raw inflate, windowBits -15) straight into the dataset's buffers, with
 * the CRC-32 computed on the way and compared at the end. Nothing large is
 * allocated before both .npy headers have been read and checked against
 * each other, against the member's size, and the member's size against its
 * compressed size (deflate expands at most 1032 times), which the archive's
 * length bounds: a small file cannot make the reader allocate much.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* pread */
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "core/regular_file.h"
#include "mlpnet/io.h"

#include "dataset_impl.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u
#define EOCD_LEN 22u
#define CENTRAL_LEN 46u
#define LOCAL_LEN 30u
#define MAX_COMMENT 65535u
#define DEFLATE_MAX_RATIO 1032u
#define NPY_MAX_HEADER 65535u
#define NPY_MAX_RANK 8
#define CHUNK (1u << 16)

/* ---- byte helpers -------------------------------------------------------- */

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static unsigned long long ull(uint64_t v)
{
    return (unsigned long long)v;
}

/* ---- the archive's bytes ------------------------------------------------- */

typedef struct npz_src {
    const unsigned char *mem; /* memory source, or NULL */
    int fd;                   /* file source */
    uint64_t size;
    const char *name; /* for messages */
} npz_src;

static mlp_status fail(const npz_src *s, mlp_status st, const char *fmt, ...)
    MLP__PRINTF(3, 4);

static mlp_status fail(const npz_src *s, mlp_status st, const char *fmt, ...)
{
    char detail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return mlp__error(st, "mlp_dataset_load_npz: %s: %s", s->name, detail);
}

#define BAD(s, ...) fail((s), MLP_STATUS_BAD_FORMAT, __VA_ARGS__)

/* Read n bytes at `off`; the range must lie inside the archive. */
static mlp_status src_read(const npz_src *s, uint64_t off, void *dst, size_t n)
{
    if (off > s->size || n > s->size - off)
        return BAD(
            s, "truncated: %zu bytes wanted at byte offset %llu of a %llu-byte archive",
            n, ull(off), ull(s->size));
    if (s->mem) {
        memcpy(dst, s->mem + off, n);
        return MLP_STATUS_OK;
    }
    unsigned char *p = dst;
    while (n > 0) {
        ssize_t k = pread(s->fd, p, n > (1u << 30) ? (1u << 30) : n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            char e[128];
            if (strerror_r(errno, e, sizeof e) != 0)
                snprintf(e, sizeof e, "error %d", errno);
            return fail(s, MLP_STATUS_IO, "read error at byte offset %llu: %s", ull(off),
                        e);
        }
        if (k == 0)
            return BAD(s, "truncated at byte offset %llu (the file shrank?)", ull(off));
        p += k;
        off += (uint64_t)k;
        n -= (size_t)k;
    }
    return MLP_STATUS_OK;
}

/* ---- zip directory ------------------------------------------------------- */

typedef struct zentry {
    int found;
    uint16_t flags, method;
    uint32_t crc;
    uint64_t csize, usize, local_off;
    uint64_t data_off; /* from the local header */
    uint64_t central_at;
} zentry;

typedef struct zdir {
    uint64_t cd_off, cd_size, entries;
} zdir;

static mlp_status find_eocd(const npz_src *s, zdir *d)
{
    if (s->size < EOCD_LEN)
        return BAD(s, "not a zip archive: %llu bytes is too short", ull(s->size));
    uint64_t tail = s->size < EOCD_LEN + MAX_COMMENT ? s->size : EOCD_LEN + MAX_COMMENT;
    unsigned char *buf = mlp__alloc((size_t)tail);
    if (!buf)
        return MLP_STATUS_NO_MEMORY;
    mlp_status st = src_read(s, s->size - tail, buf, (size_t)tail);
    if (st != MLP_STATUS_OK)
        goto done;
    /* The EOCD is the last signature whose comment reaches exactly the end. */
    int64_t at = -1;
    for (int64_t i = (int64_t)tail - EOCD_LEN; i >= 0; i--) {
        if (le32(buf + i) == SIG_EOCD &&
            (uint64_t)i + EOCD_LEN + le16(buf + i + 20) == tail) {
            at = i;
            break;
        }
    }
    if (at < 0) {
        st = BAD(s, "not a zip archive (no end-of-central-directory record)");
        goto done;
    }
    const unsigned char *e = buf + at;
    const uint64_t eocd_off = s->size - tail + (uint64_t)at;
    uint16_t disk = le16(e + 4), cd_disk = le16(e + 6);
    uint16_t n_disk = le16(e + 8), n_total = le16(e + 10);
    d->cd_size = le32(e + 12);
    d->cd_off = le32(e + 16);
    d->entries = n_total;
    uint64_t limit = eocd_off; /* the central directory ends before the EOCD */
    if (n_total == 0xFFFF || d->cd_size == 0xFFFFFFFFu || d->cd_off == 0xFFFFFFFFu) {
        unsigned char loc[20], z[56];
        /* a read that fails keeps its own error (an I/O error is not a
         * missing locator) */
        if (eocd_off >= 20 && (st = src_read(s, eocd_off - 20, loc, 20)) != MLP_STATUS_OK)
            goto done;
        if (eocd_off < 20 || le32(loc) != SIG_LOCATOR64) {
            st = BAD(s,
                     "saturated EOCD fields at byte offset %llu without a ZIP64 locator",
                     ull(eocd_off));
            goto done;
        }
        uint64_t z_off = le64(loc + 8);
        if (le32(loc + 4) != 0 || le32(loc + 16) > 1) {
            st = fail(s, MLP_STATUS_UNSUPPORTED, "multi-disk archives are not supported");
            goto done;
        }
        if (z_off > eocd_off - 20 || eocd_off - 20 - z_off < sizeof z) {
            st = BAD(s, "ZIP64 end record offset %llu is out of range", ull(z_off));
            goto done;
        }
        if ((st = src_read(s, z_off, z, sizeof z)) != MLP_STATUS_OK)
            goto done;
        if (le32(z) != SIG_EOCD64) {
            st = BAD(s, "no ZIP64 end record at byte offset %llu", ull(z_off));
            goto done;
        }
        if (le32(z + 16) != 0 || le32(z + 20) != 0 || le64(z + 24) != le64(z + 32)) {
            st = fail(s, MLP_STATUS_UNSUPPORTED, "multi-disk archives are not supported");
            goto done;
        }
        d->entries = le64(z + 32);
        d->cd_size = le64(z + 40);
        d->cd_off = le64(z + 48);
        limit = z_off;
    } else if (disk != 0 || cd_disk != 0 || n_disk != n_total) {
        st = fail(s, MLP_STATUS_UNSUPPORTED, "multi-disk archives are not supported");
        goto done;
    }
    if (d->cd_off > limit || d->cd_size > limit - d->cd_off)
        st = BAD(s,
                 "central directory (%llu bytes at offset %llu) lies outside the archive",
                 ull(d->cd_size), ull(d->cd_off));
    else if (d->entries > d->cd_size / CENTRAL_LEN)
        st = BAD(s, "%llu members cannot fit in a %llu-byte central directory",
                 ull(d->entries), ull(d->cd_size));
done:
    mlp__free(buf);
    return st;
}

/* Apply a ZIP64 extended-information extra field to saturated sizes. */
static mlp_status apply_zip64(const npz_src *s, zentry *e, const unsigned char *x,
                              uint32_t xlen, uint64_t at)
{
    while (xlen >= 4) {
        uint16_t id = le16(x), len = le16(x + 2);
        if ((uint32_t)len + 4 > xlen)
            return BAD(s, "extra field overruns its member entry at byte offset %llu",
                       ull(at));
        if (id == 0x0001) {
            const unsigned char *p = x + 4;
            uint32_t left = len;
            uint64_t *slots[3] = {&e->usize, &e->csize, &e->local_off};
            for (int i = 0; i < 3; i++) {
                if (*slots[i] != 0xFFFFFFFFu)
                    continue;
                if (left < 8)
                    return BAD(s, "short ZIP64 extra field at byte offset %llu", ull(at));
                *slots[i] = le64(p);
                p += 8;
                left -= 8;
            }
        }
        x += 4 + len;
        xlen -= 4 + (uint32_t)len;
    }
    return MLP_STATUS_OK;
}

/* Read the central directory and locate the two members. */
static mlp_status read_directory(const npz_src *s, zentry *inputs, zentry *targets)
{
    zdir d = {0, 0, 0};
    MLP_TRY(find_eocd(s, &d));
    unsigned char *cd = mlp__alloc((size_t)d.cd_size);
    if (!cd)
        return MLP_STATUS_NO_MEMORY;
    mlp_status st = src_read(s, d.cd_off, cd, (size_t)d.cd_size);
    uint64_t pos = 0;
    for (uint64_t i = 0; st == MLP_STATUS_OK && i < d.entries; i++) {
        const uint64_t at = d.cd_off + pos;
        if (d.cd_size - pos < CENTRAL_LEN || le32(cd + pos) != SIG_CENTRAL) {
            st = BAD(s, "member %llu: no central directory entry at byte offset %llu",
                     ull(i), ull(at));
            break;
        }
        const unsigned char *c = cd + pos;
        uint32_t nlen = le16(c + 28), xlen = le16(c + 30), clen = le16(c + 32);
        if ((uint64_t)CENTRAL_LEN + nlen + xlen + clen > d.cd_size - pos) {
            st = BAD(s, "member %llu: entry at byte offset %llu overruns the directory",
                     ull(i), ull(at));
            break;
        }
        const unsigned char *name = c + CENTRAL_LEN;
        zentry *e = NULL;
        if (nlen == 10 && memcmp(name, "inputs.npy", 10) == 0)
            e = inputs;
        else if (nlen == 11 && memcmp(name, "targets.npy", 11) == 0)
            e = targets;
        pos += CENTRAL_LEN + nlen + xlen + clen;
        if (!e)
            continue; /* other members are ignored */
        if (e->found) {
            st = BAD(s, "member %.*s appears twice", (int)nlen, (const char *)name);
            break;
        }
        e->found = 1;
        e->central_at = at;
        e->flags = le16(c + 8);
        e->method = le16(c + 10);
        e->crc = le32(c + 16);
        e->csize = le32(c + 20);
        e->usize = le32(c + 24);
        e->local_off = le32(c + 42);
        if (le16(c + 34) != 0 && le16(c + 34) != 0xFFFF) {
            st = fail(s, MLP_STATUS_UNSUPPORTED, "multi-disk archives are not supported");
            break;
        }
        st = apply_zip64(s, e, name + nlen, xlen, at);
    }
    mlp__free(cd);
    MLP_TRY(st);
    if (!inputs->found || !targets->found)
        return BAD(s, "the archive has no member '%s'",
                   inputs->found ? "targets.npy" : "inputs.npy");

    /* Local headers: check them and find where each member's data start. */
    zentry *es[2] = {inputs, targets};
    const char *names[2] = {"inputs.npy", "targets.npy"};
    for (int k = 0; k < 2; k++) {
        zentry *e = es[k];
        const size_t nlen = strlen(names[k]);
        if (e->flags & 0x41u)
            return fail(s, MLP_STATUS_UNSUPPORTED, "member %s is encrypted", names[k]);
        if (e->method != 0 && e->method != 8)
            return fail(s, MLP_STATUS_UNSUPPORTED,
                        "member %s uses compression method %u (only stored and deflate "
                        "are supported)",
                        names[k], (unsigned)e->method);
        if (e->method == 0 && e->csize != e->usize)
            return BAD(s, "stored member %s has %llu compressed but %llu plain bytes",
                       names[k], ull(e->csize), ull(e->usize));
        if (e->method == 8 && e->usize / DEFLATE_MAX_RATIO > e->csize)
            return BAD(s,
                       "member %s claims %llu bytes from %llu deflated ones (more than "
                       "deflate can expand)",
                       names[k], ull(e->usize), ull(e->csize));
        unsigned char h[LOCAL_LEN + 11];
        if (e->local_off > d.cd_off || d.cd_off - e->local_off < LOCAL_LEN + nlen)
            return BAD(s, "member %s: local header offset %llu is out of range", names[k],
                       ull(e->local_off));
        MLP_TRY(src_read(s, e->local_off, h, LOCAL_LEN + nlen));
        if (le32(h) != SIG_LOCAL)
            return BAD(s, "member %s: no local header at byte offset %llu", names[k],
                       ull(e->local_off));
        if (le16(h + 8) != e->method || le16(h + 26) != nlen ||
            memcmp(h + LOCAL_LEN, names[k], nlen) != 0)
            return BAD(s,
                       "member %s: the local header at byte offset %llu disagrees with "
                       "the central directory",
                       names[k], ull(e->local_off));
        e->data_off = e->local_off + LOCAL_LEN + nlen + le16(h + 28);
        if (e->data_off > d.cd_off || e->csize > d.cd_off - e->data_off)
            return BAD(s,
                       "member %s: %llu bytes of data at byte offset %llu overrun the "
                       "archive",
                       names[k], ull(e->csize), ull(e->data_off));
    }
    return MLP_STATUS_OK;
}

/* ---- member streams ------------------------------------------------------- */

/* zlib allocates through the library's allocator, so allocation-failure
 * tests reach it and leak checks count it. */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return mlp__calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    mlp__free(p);
}

typedef struct member {
    const npz_src *src;
    const zentry *e;
    const char *name;
    uint64_t in_pos, out_pos;
    uLong crc;
    z_stream z;
    int z_live;
    unsigned char *inbuf; /* file sources: compressed bytes in flight */
} member;

static mlp_status member_open(member *m, const npz_src *s, const zentry *e,
                              const char *name)
{
    memset(m, 0, sizeof *m);
    m->src = s;
    m->e = e;
    m->name = name;
    m->crc = crc32(0L, Z_NULL, 0);
    if (e->method != 8)
        return MLP_STATUS_OK;
    m->z.zalloc = z_alloc;
    m->z.zfree = z_free;
    if (!s->mem) {
        m->inbuf = mlp__alloc(CHUNK);
        if (!m->inbuf)
            return MLP_STATUS_NO_MEMORY;
    }
    int zr = inflateInit2(&m->z, -15);
    if (zr != Z_OK) {
        mlp__free(m->inbuf);
        m->inbuf = NULL;
        return zr == Z_MEM_ERROR
                   ? mlp__error(MLP_STATUS_NO_MEMORY, "zlib is out of memory")
                   : fail(s, MLP_STATUS_INTERNAL, "inflateInit2 failed");
    }
    m->z_live = 1;
    return MLP_STATUS_OK;
}

static void member_close(member *m)
{
    if (m->z_live)
        inflateEnd(&m->z);
    m->z_live = 0;
    mlp__free(m->inbuf);
    m->inbuf = NULL;
}

/* Give inflate more compressed input. */
static mlp_status refill(member *m)
{
    uint64_t left = m->e->csize - m->in_pos;
    size_t n = left > CHUNK ? CHUNK : (size_t)left;
    if (m->src->mem) {
        m->z.next_in = (Bytef *)(uintptr_t)(m->src->mem + m->e->data_off + m->in_pos);
    } else {
        MLP_TRY(src_read(m->src, m->e->data_off + m->in_pos, m->inbuf, n));
        m->z.next_in = m->inbuf;
    }
    m->z.avail_in = (uInt)n;
    m->in_pos += n;
    return MLP_STATUS_OK;
}

static mlp_status inflate_error(member *m, int zr)
{
    if (zr == Z_MEM_ERROR)
        return mlp__error(MLP_STATUS_NO_MEMORY, "zlib is out of memory");
    return BAD(m->src,
               "member %s: corrupt deflate data near byte %llu of the member (%s)",
               m->name, ull(m->out_pos), m->z.msg ? m->z.msg : "zlib error");
}

/* Read exactly n plain bytes of the member. */
static mlp_status member_read(member *m, unsigned char *dst, size_t n)
{
    if (n > m->e->usize - m->out_pos)
        return BAD(m->src,
                   "member %s ends after %llu bytes; %zu more are needed at byte %llu",
                   m->name, ull(m->e->usize), n, ull(m->out_pos));
    if (m->e->method == 0) {
        MLP_TRY(src_read(m->src, m->e->data_off + m->out_pos, dst, n));
    } else {
        m->z.next_out = dst;
        m->z.avail_out = (uInt)n;
        size_t done = 0;
        while (done < n) {
            size_t part = n - done > (1u << 30) ? (1u << 30) : n - done;
            m->z.next_out = dst + done;
            m->z.avail_out = (uInt)part;
            while (m->z.avail_out > 0) {
                if (m->z.avail_in == 0 && m->in_pos < m->e->csize)
                    MLP_TRY(refill(m));
                int zr = inflate(&m->z, Z_NO_FLUSH);
                if (zr == Z_STREAM_END && m->z.avail_out > 0)
                    return BAD(m->src,
                               "member %s: deflate stream ends after %llu bytes, "
                               "%llu expected",
                               m->name, ull(m->out_pos + done + part - m->z.avail_out),
                               ull(m->e->usize));
                if (zr == Z_BUF_ERROR && m->z.avail_in == 0 && m->in_pos == m->e->csize)
                    return BAD(m->src,
                               "member %s: truncated deflate stream at byte %llu of "
                               "the member",
                               m->name, ull(m->out_pos + done + part - m->z.avail_out));
                if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
                    return inflate_error(m, zr);
            }
            done += part;
        }
    }
    for (size_t off = 0; off < n;) {
        uInt part = n - off > (1u << 30) ? (1u << 30) : (uInt)(n - off);
        m->crc = crc32(m->crc, dst + off, part);
        off += part;
    }
    m->out_pos += n;
    return MLP_STATUS_OK;
}

/* All plain bytes read: the stream must end here and the CRC must match. */
static mlp_status member_finish(member *m)
{
    if (m->out_pos != m->e->usize)
        return BAD(m->src, "member %s: %llu of %llu bytes used", m->name, ull(m->out_pos),
                   ull(m->e->usize));
    if (m->e->method == 8) {
        unsigned char extra;
        for (;;) {
            if (m->z.avail_in == 0 && m->in_pos < m->e->csize)
                MLP_TRY(refill(m));
            m->z.next_out = &extra;
            m->z.avail_out = 1;
            int zr = inflate(&m->z, Z_NO_FLUSH);
            if (zr == Z_STREAM_END && m->z.avail_out == 1)
                break;
            if (m->z.avail_out == 0)
                return BAD(m->src, "member %s holds more than its %llu bytes", m->name,
                           ull(m->e->usize));
            if (zr == Z_BUF_ERROR && m->z.avail_in == 0 && m->in_pos == m->e->csize)
                return BAD(m->src, "member %s: truncated deflate stream", m->name);
            if (zr != Z_OK && zr != Z_BUF_ERROR)
                return inflate_error(m, zr);
        }
        if (m->z.avail_in != 0 || m->in_pos != m->e->csize)
            return BAD(m->src,
                       "member %s: compressed data continue after the deflate stream",
                       m->name);
    }
    if ((uint32_t)m->crc != m->e->crc)
        return BAD(m->src, "member %s: CRC-32 mismatch (stored %08lx, computed %08lx)",
                   m->name, (unsigned long)m->e->crc, (unsigned long)m->crc);
    return MLP_STATUS_OK;
}

/* ---- .npy headers ---------------------------------------------------------- */

typedef struct npy {
    char kind; /* 'u', 'i' or 'f' */
    int size;  /* bytes per element */
    int big;   /* big-endian elements */
    int rank;
    uint64_t shape[NPY_MAX_RANK];
    uint64_t count;
    uint64_t header_bytes; /* preamble + dict */
} npy;

typedef struct dict_parser {
    const char *p, *end;
} dict_parser;

static void skip_ws(dict_parser *d)
{
    while (d->p < d->end &&
           (*d->p == ' ' || *d->p == '\t' || *d->p == '\n' || *d->p == '\r'))
        d->p++;
}

static int eat(dict_parser *d, char c)
{
    skip_ws(d);
    if (d->p < d->end && *d->p == c) {
        d->p++;
        return 1;
    }
    return 0;
}

/* A quoted string into buf (at most cap-1 characters). */
static int parse_str(dict_parser *d, char *buf, size_t cap)
{
    skip_ws(d);
    if (d->p >= d->end || (*d->p != '\'' && *d->p != '"'))
        return 0;
    char q = *d->p++;
    size_t n = 0;
    while (d->p < d->end && *d->p != q) {
        if (n + 1 >= cap || *d->p == '\\')
            return 0;
        buf[n++] = *d->p++;
    }
    if (d->p >= d->end)
        return 0;
    d->p++;
    buf[n] = '\0';
    return 1;
}

static int parse_word(dict_parser *d, const char *w)
{
    skip_ws(d);
    size_t n = strlen(w);
    if ((size_t)(d->end - d->p) >= n && memcmp(d->p, w, n) == 0) {
        d->p += n;
        return 1;
    }
    return 0;
}

/* (d0, d1, ...) with an optional trailing comma and Python 2 'L' suffixes. */
static int parse_shape(dict_parser *d, npy *a)
{
    if (!eat(d, '('))
        return 0;
    a->rank = 0;
    for (;;) {
        skip_ws(d);
        if (eat(d, ')'))
            return 1;
        if (d->p >= d->end || *d->p < '0' || *d->p > '9' || a->rank == NPY_MAX_RANK)
            return 0;
        uint64_t v = 0;
        while (d->p < d->end && *d->p >= '0' && *d->p <= '9') {
            if (v > (UINT64_MAX - 9) / 10)
                return 0;
            v = v * 10 + (uint64_t)(*d->p++ - '0');
        }
        if (d->p < d->end && *d->p == 'L')
            d->p++;
        a->shape[a->rank++] = v;
        if (!eat(d, ',')) {
            if (!eat(d, ')'))
                return 0;
            return 1;
        }
    }
}

static int parse_descr(const char *s, npy *a)
{
    if (strlen(s) != 3 || (s[0] != '<' && s[0] != '>' && s[0] != '|'))
        return 0;
    a->big = s[0] == '>';
    a->kind = s[1];
    a->size = s[2] - '0';
    if (a->kind == 'u' || a->kind == 'i')
        return a->size == 1 || a->size == 2 || a->size == 4 || a->size == 8;
    if (a->kind == 'f')
        return a->size == 4 || a->size == 8;
    return 0;
}

/* Read and check a member's .npy preamble and header dict. */
static mlp_status read_npy_header(member *m, npy *a)
{
    unsigned char pre[12];
    MLP_TRY(member_read(m, pre, 10));
    if (memcmp(pre, "\x93NUMPY", 6) != 0)
        return BAD(m->src, "member %s is not a .npy array (bad magic)", m->name);
    unsigned major = pre[6];
    uint64_t hlen;
    if (major == 1) {
        hlen = le16(pre + 8);
        a->header_bytes = 10 + hlen;
    } else if (major == 2 || major == 3) {
        MLP_TRY(member_read(m, pre + 10, 2));
        hlen = le32(pre + 8);
        a->header_bytes = 12 + hlen;
    } else {
        return BAD(m->src, "member %s: .npy version %u.%u is not 1, 2 or 3", m->name,
                   major, (unsigned)pre[7]);
    }
    if (hlen > NPY_MAX_HEADER)
        return BAD(m->src, "member %s: .npy header of %llu bytes is too long", m->name,
                   ull(hlen));
    char *h = mlp__alloc((size_t)hlen + 1);
    if (!h)
        return MLP_STATUS_NO_MEMORY;
    mlp_status st = member_read(m, (unsigned char *)h, (size_t)hlen);
    if (st != MLP_STATUS_OK) {
        mlp__free(h);
        return st;
    }
    h[hlen] = '\0';
    dict_parser d = {h, h + hlen};
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0, ok = eat(&d, '{');
    char key[32], descr[32] = "";
    while (ok && !eat(&d, '}')) {
        ok = parse_str(&d, key, sizeof key) && eat(&d, ':');
        if (!ok)
            break;
        if (strcmp(key, "descr") == 0 && !have_descr) {
            ok = parse_str(&d, descr, sizeof descr);
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
            fortran = parse_word(&d, "True");
            ok = fortran || parse_word(&d, "False");
            have_order = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            ok = parse_shape(&d, a);
            have_shape = 1;
        } else {
            ok = 0; /* unknown or repeated key */
        }
        if (ok && !eat(&d, ',')) {
            ok = eat(&d, '}');
            break;
        }
    }
    skip_ws(&d);
    ok = ok && d.p == d.end && have_descr && have_order && have_shape;
    mlp__free(h);
    if (!ok)
        return BAD(m->src,
                   "member %s: malformed .npy header (want descr, fortran_order and "
                   "shape)",
                   m->name);
    if (!parse_descr(descr, a))
        return BAD(m->src, "member %s: unsupported dtype '%s'", m->name, descr);
    if (fortran)
        return fail(m->src, MLP_STATUS_UNSUPPORTED,
                    "member %s is in Fortran order (save it in C order)", m->name);
    uint64_t count = 1;
    for (int i = 0; i < a->rank; i++) {
        if (a->shape[i] != 0 && count > UINT64_MAX / a->shape[i])
            return BAD(m->src, "member %s: shape overflows", m->name);
        count *= a->shape[i];
    }
    a->count = count;
    if (count > (UINT64_MAX - a->header_bytes) / (uint64_t)a->size ||
        a->header_bytes + count * (uint64_t)a->size != m->e->usize)
        return BAD(m->src,
                   "member %s: header and shape describe %llu elements of %d bytes "
                   "but the member has %llu bytes",
                   m->name, ull(count), a->size, ull(m->e->usize));
    return MLP_STATUS_OK;
}

/* ---- elements ---------------------------------------------------------------- */

static uint64_t load_uint(const unsigned char *p, int size, int big)
{
    uint64_t v = 0;
    for (int i = 0; i < size; i++)
        v |= (uint64_t)p[big ? size - 1 - i : i] << (8 * i);
    return v;
}

static mlp_status read_inputs(member *m, const npy *a, uint8_t *px)
{
    if (a->kind == 'u' && a->size == 1)
        return member_read(m, px, (size_t)a->count);
    unsigned char buf[8192];
    const size_t per = sizeof buf / (size_t)a->size;
    for (uint64_t i = 0; i < a->count;) {
        size_t k = a->count - i < per ? (size_t)(a->count - i) : per;
        MLP_TRY(member_read(m, buf, k * (size_t)a->size));
        for (size_t j = 0; j < k; j++, i++) {
            uint64_t bits = load_uint(buf + j * (size_t)a->size, a->size, a->big);
            double v;
            if (a->size == 4) {
                uint32_t b32 = (uint32_t)bits;
                float f;
                memcpy(&f, &b32, sizeof f);
                v = f;
            } else {
                memcpy(&v, &bits, sizeof v);
            }
            if (!(v >= 0.0 && v <= 1.0))
                return BAD(m->src,
                           "member %s: value %g of element %llu is outside [0, 1] "
                           "(float inputs are scaled pixels; store uint8 otherwise)",
                           m->name, v, ull(i));
            px[i] = (uint8_t)(v * 255.0 + 0.5);
        }
    }
    return MLP_STATUS_OK;
}

static mlp_status read_targets(member *m, const npy *a, int32_t *labels, int32_t limit,
                               int32_t *max_label)
{
    unsigned char buf[8192];
    const size_t per = sizeof buf / (size_t)a->size;
    int32_t top = 0;
    for (uint64_t i = 0; i < a->count;) {
        size_t k = a->count - i < per ? (size_t)(a->count - i) : per;
        MLP_TRY(member_read(m, buf, k * (size_t)a->size));
        for (size_t j = 0; j < k; j++, i++) {
            uint64_t u = load_uint(buf + j * (size_t)a->size, a->size, a->big);
            int negative = a->kind == 'i' && (u >> (8 * a->size - 1)) & 1;
            if (negative || u >= (uint64_t)limit) {
                if (negative && a->size < 8)
                    u |= ~(uint64_t)0 << (8 * a->size); /* sign-extend for the message */
                char shown[32];
                if (a->kind == 'i')
                    snprintf(shown, sizeof shown, "%lld", (long long)(int64_t)u);
                else
                    snprintf(shown, sizeof shown, "%llu", ull(u));
                return BAD(m->src, "member %s: label %s of element %llu is outside 0..%d",
                           m->name, shown, ull(i), (int)limit - 1);
            }
            int64_t v = (int64_t)u;
            labels[i] = (int32_t)v;
            if (labels[i] > top)
                top = labels[i];
        }
    }
    *max_label = top;
    return MLP_STATUS_OK;
}

/* ---- the dataset ------------------------------------------------------------ */

static mlp_status load(const npz_src *s, int32_t num_classes, mlp_dataset **out)
{
    zentry ei, et;
    memset(&ei, 0, sizeof ei);
    memset(&et, 0, sizeof et);
    MLP_TRY(read_directory(s, &ei, &et));

    member mi, mt;
    npy ai, at;
    memset(&ai, 0, sizeof ai);
    memset(&at, 0, sizeof at);
    mlp_dataset *ds = NULL;
    mlp_status st = member_open(&mi, s, &ei, "inputs.npy");
    if (st != MLP_STATUS_OK)
        return st;
    st = member_open(&mt, s, &et, "targets.npy");
    if (st != MLP_STATUS_OK) {
        member_close(&mi);
        return st;
    }
    if ((st = read_npy_header(&mi, &ai)) != MLP_STATUS_OK ||
        (st = read_npy_header(&mt, &at)) != MLP_STATUS_OK)
        goto done;

    if (!((ai.kind == 'u' && ai.size == 1) || ai.kind == 'f')) {
        st = BAD(s, "member inputs.npy: dtype must be uint8, float32 or float64");
        goto done;
    }
    if (at.kind == 'f') {
        st = BAD(s, "member targets.npy: dtype must be an integer type");
        goto done;
    }
    int32_t c = 1, h = 1, w = 1;
    uint64_t n = ai.rank ? ai.shape[0] : 0;
    if (ai.rank == 2) {
        uint64_t dd = ai.shape[1], r = 0;
        while ((r + 1) * (r + 1) <= dd)
            r++;
        if (r * r == dd && dd <= INT32_MAX) {
            h = w = (int32_t)r;
        } else {
            w = (int32_t)(dd <= INT32_MAX ? dd : 0);
        }
    } else if (ai.rank == 3 || ai.rank == 4) {
        for (int i = 1; i < ai.rank; i++)
            if (ai.shape[i] > INT32_MAX)
                w = 0;
        if (w) {
            c = ai.rank == 4 ? (int32_t)ai.shape[1] : 1;
            h = (int32_t)ai.shape[ai.rank - 2];
            w = (int32_t)ai.shape[ai.rank - 1];
        }
    } else {
        st = BAD(s,
                 "member inputs.npy: shape of rank %d; want [N,D], [N,H,W] or [N,C,H,W]",
                 ai.rank);
        goto done;
    }
    if (n < 1 || n > INT32_MAX || c < 1 || h < 1 || w < 1) {
        st = BAD(s, "member inputs.npy: empty or too large a shape");
        goto done;
    }
    if (at.rank != 1 || at.shape[0] != n) {
        st = BAD(s,
                 "member targets.npy: shape of rank %d with %llu labels; want [%llu] to "
                 "match the inputs",
                 at.rank, ull(at.rank ? at.shape[0] : 0), ull(n));
        goto done;
    }

    /* ai.count == n*c*h*w fits in memory: it equals the member's plain
     * size, which the archive's length and deflate's ratio bound. */
    mlp__dataset_spec spec = mlp__images_spec((int32_t)n, c, h, w, num_classes);
    if ((st = mlp__dataset_build(&ds, &spec)) != MLP_STATUS_OK)
        goto done;
    int32_t top = 0;
    const int32_t limit = num_classes > 0 ? num_classes : INT32_MAX;
    if ((st = read_inputs(&mi, &ai, ds->pixels)) != MLP_STATUS_OK ||
        (st = member_finish(&mi)) != MLP_STATUS_OK ||
        (st = read_targets(&mt, &at, ds->labels, limit, &top)) != MLP_STATUS_OK ||
        (st = member_finish(&mt)) != MLP_STATUS_OK)
        goto done;
    if (num_classes == 0)
        ds->num_classes = top + 1;
done:
    member_close(&mi);
    member_close(&mt);
    if (st != MLP_STATUS_OK) {
        mlp_dataset_destroy(ds);
        return st;
    }
    *out = ds;
    return MLP_STATUS_OK;
}

mlp_status mlp__dataset_load_npz_mem(mlp_dataset **out, const void *buf, size_t len,
                                     int32_t num_classes)
{
    static const char fn[] = "mlp_dataset_load_npz";
    MLP_CHECK_ARG(out, fn, "out is NULL");
    *out = NULL;
    MLP_CHECK_ARG(buf || len == 0, fn, "buf is NULL");
    MLP_CHECK_RANGE(num_classes >= 0, fn, "num_classes", num_classes, ">= 0");
    static const unsigned char empty[1] = {0};
    npz_src s = {buf ? buf : empty, -1, len, "npz buffer"};
    return load(&s, num_classes, out);
}

mlp_status mlp_dataset_load_npz(mlp_dataset **out, const char *path, int32_t num_classes)
{
    static const char fn[] = "mlp_dataset_load_npz";
    MLP_CHECK_ARG(out, fn, "out is NULL");
    *out = NULL;
    MLP_CHECK_ARG(path, fn, "path is NULL");
    MLP_CHECK_ARG(path[0] != '\0', fn, "path is empty");
    MLP_CHECK_RANGE(num_classes >= 0, fn, "num_classes", num_classes, ">= 0");
    struct stat sb;
    int fd = mlp__open_regular(path, &sb);
    if (fd == MLP__NOT_REGULAR)
        return mlp__error(MLP_STATUS_IO, "%s: %s is not a readable regular file", fn,
                          path);
    if (fd < 0) {
        char e[128];
        if (strerror_r(errno, e, sizeof e) != 0)
            snprintf(e, sizeof e, "error %d", errno);
        return mlp__error(MLP_STATUS_IO, "%s: cannot open %s: %s", fn, path, e);
    }
    npz_src s = {NULL, fd, (uint64_t)sb.st_size, path};
    mlp_status st = load(&s, num_classes, out);
    close(fd);
    return st;
}

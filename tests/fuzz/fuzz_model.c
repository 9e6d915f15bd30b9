/*
 * Fuzz target: model files from memory (mlp_model_load_mem_with_optimizer).
 * Each input is loaded twice: as it is (framing and checksums), and with
 * every record's CRC recomputed, so that mutations reach the checks behind
 * the checksums (architecture, sizes, configurations). A file that loads
 * must also save, reload, and run a forward pass (when its shapes are
 * small), so a configuration the loader accepts but the layers cannot run
 * is found too.
 *
 * With MLPNET_FUZZ_VALID_INPUTS=1 (set by `meson test --suite fuzz`, which
 * replays the seed corpus) every input must be a valid file that loads: the
 * seeds are files the library wrote, so a reader that no longer loads them
 * is a bug, not a rejected input. (libFuzzer also runs the empty input
 * first; that one may fail.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "mlpnet/io.h"
#include "model/model_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Recompute the CRC of every record whose framing fits (file-format.md). */
static void fix_crcs(uint8_t *b, size_t len)
{
    size_t off = 12;
    while (off + 16 <= len) {
        uint64_t l = rd64(b + off + 4);
        if (l > len - off - 16)
            return;
        uint32_t c = (uint32_t)crc32(crc32(0L, Z_NULL, 0), b + off, (uInt)(12 + l));
        for (int i = 0; i < 4; i++)
            b[off + 12 + l + (size_t)i] = (uint8_t)(c >> (8 * i));
        off += 16 + (size_t)l;
    }
}

static void one(const uint8_t *data, size_t size);

static int valid_inputs(void)
{
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("MLPNET_FUZZ_VALID_INPUTS");
        v = e && strcmp(e, "1") == 0;
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    fix_crcs(copy, size);
    one(copy, size);
    free(copy);
    return 0;
}

static void one(const uint8_t *data, size_t size)
{
    mlp_model *m = NULL;
    mlp_optimizer *o = NULL;
    if (mlp_model_load_mem_with_optimizer(&m, &o, data, size) != MLP_STATUS_OK) {
        if (m || o)
            abort(); /* a failed load returns nothing */
        if (size > 0 && valid_inputs())
            abort(); /* a seed that no longer loads */
        return;
    }
    void *buf = NULL;
    size_t len = 0;
    if (mlp_model_save_mem_with_optimizer(m, o, &buf, &len) != MLP_STATUS_OK)
        abort();
    mlp_model *again = NULL;
    mlp_optimizer *o2 = NULL;
    if (mlp_model_load_mem_with_optimizer(&again, &o2, buf, len) != MLP_STATUS_OK)
        abort(); /* what we write, we read */
    mlp_buffer_free(buf);
    mlp_optimizer_destroy(o2);
    mlp_model_destroy(again);

    /* Inference on two zero images, when the model is small. */
    int small = m->n_layers > 0 && m->in_size <= (1 << 14) && m->max_size <= (1 << 16);
    for (int i = 0; small && i < m->n_layers; i++)
        small = m->layers[i]->ws_floats <= (1 << 22);
    if (small) {
        mlp_tensor *x = NULL;
        const int32_t dims[2] = {2, (int32_t)m->in_size};
        if (mlp_tensor_create(&x, 2, dims) == MLP_STATUS_OK) {
            const mlp_tensor *y = NULL;
            mlp_status st = mlp_model_forward(m, x, MLP_MODE_EVAL, &y);
            if (st != MLP_STATUS_OK && st != MLP_STATUS_NO_MEMORY)
                abort();
        }
        mlp_tensor_destroy(x);
    }
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}

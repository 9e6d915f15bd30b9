/*
 * Fuzz target: IDX image and label files (mlp_dataset_load_idx), raw or
 * gzip. The reader takes paths, so the input is split into two files:
 *   input = split:u16le, images[split], labels[rest]
 * written to two temporary files made once per process.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlpnet/mlpnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char images_path[64] = "/tmp/fuzz_idx_images.XXXXXX";
static char labels_path[64] = "/tmp/fuzz_idx_labels.XXXXXX";
static int images_fd = -1, labels_fd = -1;

static void cleanup(void)
{
    unlink(images_path);
    unlink(labels_path);
}

static void put(int fd, const uint8_t *p, size_t n)
{
    if (ftruncate(fd, 0) != 0 || pwrite(fd, p, n, 0) != (ssize_t)n)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (images_fd < 0) {
        images_fd = mkstemp(images_path);
        labels_fd = mkstemp(labels_path);
        if (images_fd < 0 || labels_fd < 0)
            abort();
        atexit(cleanup);
    }
    if (size < 2)
        return 0;
    size_t split = (size_t)(data[0] | data[1] << 8);
    data += 2;
    size -= 2;
    if (split > size)
        split = size;
    put(images_fd, data, split);
    put(labels_fd, data + split, size - split);
    mlp_dataset *ds = NULL;
    mlp_status st = mlp_dataset_load_idx(&ds, images_path, labels_path, 0);
    if (st != MLP_STATUS_OK && ds)
        abort();
    mlp_dataset_destroy(ds);
    return 0;
}

/*
 * Writes a small generated dataset in the IDX format for the end-to-end test
 * of examples/reproduce.sh: DIR/toy-{train,valid,test}-{images-idx3,labels-idx1}-ubyte
 * and DIR/toy-mapping.txt. Images are 28x28; class k (of 4) is a slightly
 * brighter quadrant k under heavy pixel noise: learnable in a couple of
 * epochs, but not so easily that every run ties at 100%.
 * Usage: make_toy DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum { SIDE = 28, CLASSES = 4 };

static uint32_t rng_state = 12345u;

static uint32_t next_random(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static int put_be32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    return fwrite(b, 1, 4, f) == 4 ? 0 : -1;
}

static int write_split(const char *dir, const char *split, uint32_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/toy-%s-images-idx3-ubyte", dir, split);
    FILE *fi = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/toy-%s-labels-idx1-ubyte", dir, split);
    FILE *fl = fopen(path, "wb");
    int err = !fi || !fl;
    if (!err)
        err = put_be32(fi, 0x803) || put_be32(fi, n) || put_be32(fi, SIDE) ||
              put_be32(fi, SIDE) || put_be32(fl, 0x801) || put_be32(fl, n);
    for (uint32_t i = 0; i < n && !err; i++) {
        const int k = (int)(i % CLASSES);
        unsigned char img[SIDE * SIDE];
        for (int y = 0; y < SIDE; y++)
            for (int x = 0; x < SIDE; x++) {
                int quadrant = (y >= SIDE / 2) * 2 + (x >= SIDE / 2);
                int v = (int)(next_random() % 200) + (quadrant == k ? 40 : 0);
                img[y * SIDE + x] = (unsigned char)(v > 255 ? 255 : v);
            }
        unsigned char label = (unsigned char)k;
        err =
            fwrite(img, 1, sizeof img, fi) != sizeof img || fwrite(&label, 1, 1, fl) != 1;
    }
    if (fi && fclose(fi) != 0)
        err = 1;
    if (fl && fclose(fl) != 0)
        err = 1;
    if (err)
        fprintf(stderr, "make_toy: cannot write the %s split in %s\n", split, dir);
    return err;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_toy DIR\n");
        return 2;
    }
    if (write_split(argv[1], "train", 800) || write_split(argv[1], "valid", 200) ||
        write_split(argv[1], "test", 200))
        return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/toy-mapping.txt", argv[1]);
    FILE *f = fopen(path, "w");
    if (!f || fprintf(f, "0 65\n1 66\n2 67\n3 68\n") < 0 || fclose(f) != 0) {
        fprintf(stderr, "make_toy: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

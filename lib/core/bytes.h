/*
 * Little-endian encoding of the integers and floats that files store. Values
 * are written byte by byte, never as a struct image, and floats as their
 * IEEE-754 bits, so files move between machines unchanged. One copy serves
 * every room that writes a file (io/ for the model file, optim/ for the
 * optimizer's record in it).
 */
#ifndef MLPNET_BYTES_H
#define MLPNET_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Where an encoder hands its bytes: called with consecutive pieces of the
 * encoding, in order (a writer may count them, buffer them, checksum them). */
typedef void (*mlp__put_bytes)(void *sink, const unsigned char *p, size_t n);

static inline void mlp__put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static inline void mlp__put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void mlp__put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void mlp__put_i32(unsigned char *p, int32_t v)
{
    mlp__put_u32(p, (uint32_t)v);
}

static inline void mlp__put_f32(unsigned char *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    mlp__put_u32(p, u);
}

static inline void mlp__put_f64(unsigned char *p, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    mlp__put_u64(p, u);
}

static inline uint16_t mlp__get_u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t mlp__get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t mlp__get_u64(const unsigned char *p)
{
    return (uint64_t)mlp__get_u32(p) | (uint64_t)mlp__get_u32(p + 4) << 32;
}

static inline int32_t mlp__get_i32(const unsigned char *p)
{
    uint32_t u = mlp__get_u32(p);
    int32_t v;
    memcpy(&v, &u, sizeof v); /* no implementation-defined conversion */
    return v;
}

static inline float mlp__get_f32(const unsigned char *p)
{
    uint32_t u = mlp__get_u32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline double mlp__get_f64(const unsigned char *p)
{
    uint64_t u = mlp__get_u64(p);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

#endif /* MLPNET_BYTES_H */

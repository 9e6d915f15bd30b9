/**
 * @file
 * libmlpnet: symbol export macro.
 *
 * The library is built with hidden visibility; only declarations marked
 * MLP_API are part of the shared object's interface.
 */
#ifndef MLPNET_EXPORT_H
#define MLPNET_EXPORT_H

#if defined(_WIN32) && !defined(MLPNET_STATIC) && defined(MLPNET_BUILDING)
#define MLP_API __declspec(dllexport)
#elif defined(_WIN32) && !defined(MLPNET_STATIC)
#define MLP_API __declspec(dllimport)
#elif defined(__GNUC__) || defined(__clang__)
#define MLP_API __attribute__((visibility("default")))
#else
#define MLP_API
#endif

/* A call of a deprecated declaration warns at compile time (GCC, Clang);
 * the library's own build, and code that defines
 * MLPNET_NO_DEPRECATION_WARNINGS before including a header, do not warn. */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(MLPNET_BUILDING) &&            \
    !defined(MLPNET_NO_DEPRECATION_WARNINGS)
#define MLP_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define MLP_DEPRECATED(msg)
#endif

#ifdef __cplusplus
#define MLP_EXTERN_C_BEGIN extern "C" {
#define MLP_EXTERN_C_END }
#else
#define MLP_EXTERN_C_BEGIN
#define MLP_EXTERN_C_END
#endif

/**
 * @def MLP_API
 * Marks a declaration as part of the library's interface: default visibility
 * with GCC and Clang; on Windows dllexport while the library itself is built
 * (MLPNET_BUILDING) and dllimport otherwise, unless MLPNET_STATIC is defined.
 */
/**
 * @def MLP_DEPRECATED
 * Marks a declaration that has a replacement: with GCC and Clang a call
 * warns (-Wdeprecated-declarations), naming the replacement. Define
 * MLPNET_NO_DEPRECATION_WARNINGS before including a header to keep old
 * calls quiet.
 */
/**
 * @def MLP_EXTERN_C_BEGIN
 * Opens an extern "C" block when the header is compiled as C++; empty in C.
 */
/**
 * @def MLP_EXTERN_C_END
 * Closes the block opened by MLP_EXTERN_C_BEGIN; empty in C.
 */

#endif /* MLPNET_EXPORT_H */

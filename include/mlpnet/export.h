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
 * @def MLP_EXTERN_C_BEGIN
 * Opens an extern "C" block when the header is compiled as C++; empty in C.
 */
/**
 * @def MLP_EXTERN_C_END
 * Closes the block opened by MLP_EXTERN_C_BEGIN; empty in C.
 */

#endif /* MLPNET_EXPORT_H */

/**
 * @file
 * libmlpnet: image datasets.
 *
 * A dataset holds N images of C x H x W unsigned bytes plus N integer
 * labels. Pixels stay uint8 in memory; they are converted to float and
 * multiplied by 1/255 only when a batch is gathered.
 *
 * Readers understand the IDX format of MNIST/EMNIST, gzip-compressed (.gz)
 * or raw. Every size in a file is checked against the file's length and
 * against overflow before anything is allocated.
 */
#ifndef MLPNET_DATA_H
#define MLPNET_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "mlpnet/export.h"
#include "mlpnet/status.h"

MLP_EXTERN_C_BEGIN

/** Opaque in-memory dataset (uint8 images + labels). */
typedef struct mlp_dataset mlp_dataset;

/** Opaque batch iterator over a dataset. */
typedef struct mlp_batcher mlp_batcher;

/** Which part of a dataset to open. */
typedef enum mlp_split {
    MLP_SPLIT_TRAIN = 1, /**< the training split */
    MLP_SPLIT_VALID = 2, /**< the validation split */
    MLP_SPLIT_TEST = 3   /**< the test split */
} mlp_split;

/** Validation images carved from the end of the training file when a
 *  dataset has no validation file (the size of the course's EMNIST split). */
#define MLP_DEFAULT_VALID_SIZE 15800

/**
 * Create a dataset from memory.
 * @param out          new dataset, or NULL on failure (owned: mlp_dataset_destroy)
 * @param n            number of images, >= 1
 * @param channels     C >= 1
 * @param height       H >= 1
 * @param width        W >= 1
 * @param pixels       n*C*H*W bytes, image after image, each CHW (copied)
 * @param labels       n labels in 0..num_classes-1 (copied)
 * @param num_classes  >= 1
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, size < 1, overflow,
 *         label out of range) or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_dataset_create(mlp_dataset **out, int32_t n, int32_t channels,
                                      int32_t height, int32_t width, const uint8_t *pixels,
                                      const int32_t *labels, int32_t num_classes);

/**
 * Read a pair of IDX files: images (magic 0x00000803, dims N,H,W) and labels
 * (magic 0x00000801, dim N). Either may be gzip-compressed.
 * Every dimension must be >= 1; a gzip file may hold at most 2 GiB of
 * payload and at most 1032 times its compressed size (deflate's limit), so
 * a small file cannot make the reader allocate a large buffer.
 * @param out          new dataset with C = 1, or NULL on failure (owned)
 * @param images_path  path of the image file (borrowed for the call)
 * @param labels_path  path of the label file (borrowed for the call)
 * @param num_classes  number of classes; 0 means the largest label + 1
 * @return MLP_STATUS_OK; MLP_STATUS_INVALID_ARG (NULL, negative classes);
 *         MLP_STATUS_IO (cannot open or read; the message names the file);
 *         MLP_STATUS_BAD_FORMAT (wrong magic, truncated, trailing bytes,
 *         sizes that overflow or exceed the file, image/label count
 *         mismatch, label >= num_classes: the message names file and offset);
 *         MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_dataset_load_idx(mlp_dataset **out, const char *images_path,
                                        const char *labels_path, int32_t num_classes);

/**
 * Read an IDX image file on its own (magic 0x00000803, dims N,H,W), raw or
 * gzip-compressed, for predicting on images that come without labels. The
 * checks are those of mlp_dataset_load_idx: the magic is read first, so a
 * labels file (or any other IDX file) given here is named for what it is;
 * every dimension must be >= 1 and the payload must fit the file.
 * @param out          new dataset with C = 1 and every label 0, or NULL on
 *                     failure (owned: mlp_dataset_destroy)
 * @param images_path  path of the image file (borrowed for the call)
 * @param num_classes  class count the dataset reports (e.g. a model's
 *                     output count, so that a label map fits); 0 means 1
 * @return MLP_STATUS_OK; MLP_STATUS_INVALID_ARG (NULL, negative classes);
 *         MLP_STATUS_IO (cannot open or read; the message names the file);
 *         MLP_STATUS_BAD_FORMAT (not an images file, truncated, trailing
 *         bytes, sizes that overflow or exceed the file: the message names
 *         the file and the offset); MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_dataset_load_idx_images(mlp_dataset **out, const char *images_path,
                                               int32_t num_classes);

/**
 * Open the train, validation and test splits of a named dataset in a
 * directory. Files tried, each raw or with ".gz":
 *   - `DIR/NAME-{train,valid,test}-{images-idx3,labels-idx1}-ubyte` (the
 *     official EMNIST names, e.g. NAME = "emnist-balanced");
 *   - with NAME = "fashion-mnist" or "mnist": `DIR/train-*` and `DIR/t10k-*`
 *     (the names of Debian's dataset-fashion-mnist package); t10k is test.
 * When there is no validation file, the validation split is the last
 * `valid_size` images of the training file and training keeps the rest
 * (also when `valid` is NULL, so the training split never depends on what
 * else is asked for). The training file is always read: it gives the
 * carved split and the class count. A `DIR/NAME-mapping.txt` file ("label
 * ascii-code" per line), when present, gives class names (see
 * mlp_dataset_class_name) and the class count; without one the class count
 * is the largest label + 1 over the splits read.
 * @param train       receives the training split (owned), or NULL if not wanted
 * @param valid       receives the validation split (owned), or NULL
 * @param test        receives the test split (owned), or NULL; at least one of
 *                    the three must be non-NULL; each is NULL on failure
 * @param dir         directory (borrowed for the call)
 * @param name        dataset name (borrowed for the call)
 * @param valid_size  images to carve off when there is no validation file,
 *                    >= 1 and smaller than the training file
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG, MLP_STATUS_IO (a file is
 *         missing: the message names it), MLP_STATUS_BAD_FORMAT or
 *         MLP_STATUS_NO_MEMORY. On failure nothing is returned.
 */
MLP_API mlp_status mlp_dataset_open(mlp_dataset **train, mlp_dataset **valid,
                                    mlp_dataset **test, const char *dir, const char *name,
                                    int32_t valid_size);

/**
 * Whether `dir` holds the training images of dataset `name` (under the
 * naming rules of mlp_dataset_open). Never fails: NULL arguments give 0.
 * @param dir   directory (borrowed for the call); may be NULL
 * @param name  dataset name (borrowed for the call); may be NULL
 * @return 1 if present, 0 otherwise
 */
MLP_API int mlp_dataset_exists(const char *dir, const char *name);

/**
 * Free a dataset. NULL is a no-op.
 * @param ds  the dataset (consumed: freed here); may be NULL
 */
MLP_API void mlp_dataset_destroy(mlp_dataset *ds);

/**
 * Number of images (0 for NULL).
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @return the number of images, or 0 when `ds` is NULL
 */
MLP_API int32_t mlp_dataset_size(const mlp_dataset *ds);
/**
 * Channels per image (0 for NULL).
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @return C, or 0 when `ds` is NULL
 */
MLP_API int32_t mlp_dataset_channels(const mlp_dataset *ds);
/**
 * Image height (0 for NULL).
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @return H, or 0 when `ds` is NULL
 */
MLP_API int32_t mlp_dataset_height(const mlp_dataset *ds);
/**
 * Image width (0 for NULL).
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @return W, or 0 when `ds` is NULL
 */
MLP_API int32_t mlp_dataset_width(const mlp_dataset *ds);
/**
 * Number of classes (0 for NULL).
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @return the number of classes, or 0 when `ds` is NULL
 */
MLP_API int32_t mlp_dataset_num_classes(const mlp_dataset *ds);

/**
 * Label of image i, or -1 when `ds` is NULL or i is out of range.
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @param i   image index, 0..size-1
 * @return the label (0..num_classes-1), or -1 when `ds` is NULL or i is out
 *         of range
 */
MLP_API int32_t mlp_dataset_label(const mlp_dataset *ds, int32_t i);

/**
 * Pixels of image i (C*H*W bytes), or NULL when out of range (borrowed:
 * valid until the dataset is destroyed).
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @param i   image index, 0..size-1
 * @return the image's first byte, CHW (borrowed, as above), or NULL when
 *         `ds` is NULL or i is out of range
 */
MLP_API const uint8_t *mlp_dataset_image(const mlp_dataset *ds, int32_t i);

/**
 * Name of class k from the dataset's label map ("A", "7", ...), or NULL
 * when there is no map, the map does not name class k, or k is out of range
 * (borrowed: valid until the dataset is destroyed).
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @param k   class index, 0..num_classes-1
 * @return the name, a NUL-terminated string (borrowed, as above), or NULL
 *         when `ds` is NULL or in the cases above
 */
MLP_API const char *mlp_dataset_class_name(const mlp_dataset *ds, int32_t k);

/**
 * Read a label map file: one "label ascii-code" pair per line, as the
 * official EMNIST `*-mapping.txt` files.
 * @param ds    the dataset that receives the map (borrowed for the call)
 * @param path  the map file (borrowed for the call)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG, MLP_STATUS_IO,
 *         MLP_STATUS_BAD_FORMAT (malformed line, label out of range: the
 *         message names the line) or MLP_STATUS_NO_MEMORY; on failure the
 *         dataset keeps its previous map
 */
MLP_API mlp_status mlp_dataset_load_mapping(mlp_dataset *ds, const char *path);

/**
 * Split a dataset in two copies: the first `n_first` images and the rest.
 * @param src      the dataset to split (borrowed for the call; unchanged)
 * @param first    receives the first n_first images (owned), NULL on failure
 * @param second   receives the rest (owned), NULL on failure
 * @param n_first  1..size-1
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_dataset_split(const mlp_dataset *src, int32_t n_first,
                                     mlp_dataset **first, mlp_dataset **second);

/**
 * Gather images into a float batch: each pixel p becomes p * (1.0f / 255)
 * (0 and 255 map exactly to 0 and 1).
 * @param ds       the dataset (borrowed for the call)
 * @param indices  n image indices (borrowed for the call)
 * @param n        number of images, >= 1
 * @param x        receives n*C*H*W floats, NCHW (caller's buffer, borrowed
 *                 for the call)
 * @param labels   receives n labels; may be NULL
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG (NULL, index out of range)
 */
MLP_API mlp_status mlp_dataset_gather(const mlp_dataset *ds, const int32_t *indices,
                                      int32_t n, float *x, int32_t *labels);

/**
 * Create a batch iterator. With `shuffle`, every epoch visits the images in
 * a new order drawn from `seed` and the epoch's number; the same seed gives
 * the same orders.
 * @param out         new batcher, NULL on failure (owned: mlp_batcher_destroy)
 * @param ds          dataset (borrowed: must outlive the batcher)
 * @param batch_size  >= 1; the last batch of an epoch may be smaller
 * @param shuffle     non-zero to visit the images in a new order every epoch,
 *                    0 to visit them in the dataset's order
 * @param seed        seed of the shuffled orders (unused without `shuffle`)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_batcher_create(mlp_batcher **out, const mlp_dataset *ds,
                                      int32_t batch_size, int shuffle, uint64_t seed);

/**
 * Gather the next batch of the current epoch. When the epoch is exhausted
 * it sets *n to 0 and the next call starts a new epoch (reshuffled).
 * Allocates nothing.
 * @param b       the batcher (borrowed for the call)
 * @param x       receives up to batch_size*C*H*W floats (caller's buffer,
 *                borrowed for the call)
 * @param labels  receives up to batch_size labels (caller's buffer, borrowed
 *                for the call; not NULL)
 * @param n       receives the number of images in this batch
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG
 */
MLP_API mlp_status mlp_batcher_next(mlp_batcher *b, float *x, int32_t *labels, int32_t *n);

/**
 * Number of batches per epoch (0 for NULL).
 * @param b  the batcher (borrowed for the call); may be NULL
 * @return size / batch_size rounded up, or 0 when `b` is NULL
 */
MLP_API int32_t mlp_batcher_batch_count(const mlp_batcher *b);

/**
 * Make the next call to mlp_batcher_next start epoch `epoch` (0-based).
 * Epoch k's order depends only on the seed and k, so a run resumed at epoch
 * k sees the same batches as one that never stopped.
 * @param b      the batcher (borrowed for the call)
 * @param epoch  0-based epoch number, >= 0
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG (NULL, epoch < 0)
 */
MLP_API mlp_status mlp_batcher_set_epoch(mlp_batcher *b, int32_t epoch);

/**
 * Abandon the current epoch; the next call to mlp_batcher_next starts a
 * new one. NULL is a no-op.
 * @param b  the batcher (borrowed for the call); may be NULL
 */
MLP_API void mlp_batcher_reset(mlp_batcher *b);

/**
 * Free a batcher. NULL is a no-op. The dataset is not touched.
 * @param b  the batcher (consumed: freed here); may be NULL
 */
MLP_API void mlp_batcher_destroy(mlp_batcher *b);

MLP_EXTERN_C_END

#endif /* MLPNET_DATA_H */

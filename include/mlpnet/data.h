/**
 * @file
 * libmlpnet: datasets, their readers and the batcher.
 *
 * A dataset holds N samples of one per-sample shape and N targets.
 *
 * - Storage: uint8 images of C x H x W bytes (mlp_dataset_create, the IDX
 *   and npz readers), kept as bytes in memory and converted to float and
 *   multiplied by 1/255 only when a batch is gathered; or float32 samples of
 *   any shape of rank 1..3 ([F] for a table, [C,H,W] for images), copied
 *   or borrowed from the caller (mlp_dataset_create_f32, the CSV reader).
 * - Targets: class labels, integers 0..K-1 with optional class names
 *   (MLP_TARGET_CLASS), or vectors of `target_dim` floats per sample
 *   (MLP_TARGET_VALUES, for regression).
 *
 * Readers understand the IDX format of MNIST/EMNIST and numpy .npz archives
 * (io.h), gzip-compressed (.gz) or raw, and CSV text files. Every size in a
 * file is checked against the file's length and against overflow before
 * anything is allocated.
 */
#ifndef MLPNET_DATA_H
#define MLPNET_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "mlpnet/export.h"
#include "mlpnet/status.h"

MLP_EXTERN_C_BEGIN

/** Opaque in-memory dataset (uint8 images or float32 samples, with class
 *  labels or float targets). */
typedef struct mlp_dataset mlp_dataset;

/** Opaque batch iterator over a dataset. */
typedef struct mlp_batcher mlp_batcher;

/** Names of a dataset's three parts. No call of this release takes or
 *  returns it (mlp_dataset_open() gives all three at once); it stays for
 *  the programs written against 0.1 that name it. */
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
                                      int32_t height, int32_t width,
                                      const uint8_t *pixels, const int32_t *labels,
                                      int32_t num_classes);

/** How a dataset stores its samples (mlp_dataset_storage()). */
typedef enum mlp_dataset_storage_kind {
    MLP_STORAGE_UINT8 = 1,  /**< bytes, read as byte / 255 */
    MLP_STORAGE_FLOAT32 = 2 /**< float32 values, read as they are */
} mlp_dataset_storage_kind;

/** What a dataset's targets are (mlp_dataset_target_kind()). */
typedef enum mlp_target_kind {
    MLP_TARGET_CLASS = 1, /**< one class label per sample, 0..num_classes-1 */
    MLP_TARGET_VALUES = 2 /**< target_dim floats per sample */
} mlp_target_kind;

/** Flags of mlp_dataset_create_f32 and mlp_dataset_create_f32_values. */
typedef enum mlp_dataset_flags {
    MLP_DATASET_COPY = 0,  /**< copy the caller's arrays (the default) */
    MLP_DATASET_BORROW = 1 /**< borrow the samples `x` and the float targets: no copy */
} mlp_dataset_flags;

/**
 * Longest class name in bytes (without the terminating NUL). Every path
 * that takes class names (mlp_dataset_set_class_names, the mapping and CSV
 * readers, mlp_model_set_class_names, the model file reader) applies one
 * rule: a name is at most this many bytes of valid UTF-8 without control
 * characters (U+0000..U+001F, U+007F and the C1 controls U+0080..U+009F),
 * and no two classes share a name.
 */
#define MLP_CLASS_NAME_MAX 255

/**
 * Create a classification dataset of float32 samples from memory.
 *
 * Samples are copied by default. With MLP_DATASET_BORROW the dataset reads
 * `x` in place: the caller keeps `x` alive and unchanged in size until the
 * dataset is destroyed, and may change its values in between (the dataset
 * then sees the new values; they are checked for NaN and infinity only
 * here). Labels are always copied (they are checked against num_classes).
 * Splits and other copies of a borrowing dataset own their data.
 * @param out          new dataset, or NULL on failure (owned: mlp_dataset_destroy)
 * @param n            number of samples, >= 1
 * @param rank         per-sample rank, 1..3
 * @param shape        `rank` per-sample extents, each >= 1, outermost first
 *                     (copied)
 * @param x            n * prod(shape) finite floats, sample after sample
 *                     (copied, or borrowed with MLP_DATASET_BORROW)
 * @param labels       n labels in 0..num_classes-1 (copied)
 * @param num_classes  >= 1
 * @param flags        MLP_DATASET_COPY or MLP_DATASET_BORROW
 * @return MLP_STATUS_OK; MLP_STATUS_INVALID_ARG (NULL, a size < 1 or
 *         overflowing, an unknown flag, a label out of range, a NaN or
 *         infinite value: the message names the sample and the feature);
 *         MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_dataset_create_f32(mlp_dataset **out, int32_t n, int rank,
                                          const int32_t *shape, const float *x,
                                          const int32_t *labels, int32_t num_classes,
                                          unsigned flags);

/**
 * Create a dataset of float32 samples with float targets (regression,
 * multi-output or multi-label) from memory. Copying and borrowing as in
 * mlp_dataset_create_f32; with MLP_DATASET_BORROW both `x` and `targets`
 * are borrowed under the same rules.
 * @param out         new dataset, or NULL on failure (owned: mlp_dataset_destroy)
 * @param n           number of samples, >= 1
 * @param rank        per-sample rank, 1..3
 * @param shape       `rank` per-sample extents, each >= 1 (copied)
 * @param x           n * prod(shape) finite floats (copied, or borrowed)
 * @param target_dim  floats per target, >= 1
 * @param targets     n * target_dim finite floats, target after target
 *                    (copied, or borrowed)
 * @param flags       MLP_DATASET_COPY or MLP_DATASET_BORROW
 * @return MLP_STATUS_OK; MLP_STATUS_INVALID_ARG (NULL, a size < 1 or
 *         overflowing, an unknown flag, a NaN or infinite value: the message
 *         names the sample and the feature or target element);
 *         MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_dataset_create_f32_values(mlp_dataset **out, int32_t n, int rank,
                                                 const int32_t *shape, const float *x,
                                                 int32_t target_dim, const float *targets,
                                                 unsigned flags);

/**
 * Read a pair of IDX files: images (magic 0x00000803, dims N,H,W) and labels
 * (magic 0x00000801, dim N). Either may be gzip-compressed.
 * Every dimension must be >= 1; a gzip file may hold at most 2 GiB of
 * payload and at most 1032 times its compressed size (deflate's limit), so
 * a small file cannot make the reader allocate a large buffer.
 * A file must end where the data its header describes end: bytes after
 * them in a raw file, more data than that in a gzip file, and bytes after
 * the last gzip member that do not start another member are refused
 * (BAD_FORMAT). A gzip file of several members (concatenated .gz files)
 * is read as one stream, as gunzip reads it.
 * @param out          new dataset with C = 1, or NULL on failure (owned)
 * @param images_path  path of the image file (borrowed for the call); a
 *                     regular file
 * @param labels_path  path of the label file (borrowed for the call); a
 *                     regular file
 * @param num_classes  number of classes; 0 means the largest label + 1
 * @return MLP_STATUS_OK; MLP_STATUS_INVALID_ARG (NULL, an empty path: the
 *         message names which, negative classes);
 *         MLP_STATUS_IO (cannot open or read; not a regular file, as a FIFO,
 *         refused without waiting for a writer; the message names the file);
 *         MLP_STATUS_BAD_FORMAT (wrong magic, truncated, trailing bytes
 *         after the data or after the gzip stream, sizes that overflow or
 *         exceed the file, image/label count mismatch, label >= num_classes:
 *         the message names the file and the byte offset, in the data or,
 *         for bytes after a gzip stream, in the compressed file);
 *         MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_dataset_load_idx(mlp_dataset **out, const char *images_path,
                                        const char *labels_path, int32_t num_classes);

/**
 * Read an IDX image file on its own (magic 0x00000803, dims N,H,W), raw or
 * gzip-compressed, for predicting on images that come without labels. The
 * checks are those of mlp_dataset_load_idx: the magic is read first, so a
 * labels file (or any other IDX file) given here is named for what it is;
 * every dimension must be >= 1, the payload must fit the file, and the
 * file must end where the payload ends (gzip members are read as one
 * stream; anything else after them is refused).
 * @param out          new dataset with C = 1 and every label 0, or NULL on
 *                     failure (owned: mlp_dataset_destroy)
 * @param images_path  path of the image file (borrowed for the call); a
 *                     regular file
 * @param num_classes  class count the dataset reports (e.g. a model's
 *                     output count, so that a label map fits); 0 means 1
 * @return MLP_STATUS_OK; MLP_STATUS_INVALID_ARG (NULL, `images_path` empty,
 *         negative classes);
 *         MLP_STATUS_IO (cannot open or read; not a regular file, as
 *         mlp_dataset_load_idx; the message names the file);
 *         MLP_STATUS_BAD_FORMAT (not an images file, truncated, trailing
 *         bytes after the data or after the gzip stream, sizes that overflow
 *         or exceed the file: the message names the file and the offset);
 *         MLP_STATUS_NO_MEMORY
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
 * ascii-code" or 'label "name"' per line, see mlp_dataset_load_mapping), when
 * present, gives class names (see mlp_dataset_class_name) and the class
 * count; without one the class count
 * is the largest label + 1 over the splits read.
 * @param train       receives the training split (owned), or NULL if not wanted
 * @param valid       receives the validation split (owned), or NULL
 * @param test        receives the test split (owned), or NULL; at least one of
 *                    the three must be non-NULL, and those given must be
 *                    distinct pointers; each is NULL on failure
 * @param dir         directory (borrowed for the call)
 * @param name        dataset name (borrowed for the call)
 * @param valid_size  images to carve off when there is no validation file,
 *                    >= 1 and smaller than the training file
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (among others, a pointer
 *         given for two splits), MLP_STATUS_IO (a file is missing: the
 *         message, "mlp_dataset_open: SPLIT split of NAME: no file PATH",
 *         names it), MLP_STATUS_BAD_FORMAT or MLP_STATUS_NO_MEMORY. On
 *         failure nothing is returned.
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
 * Number of samples (images or float samples; 0 for NULL).
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @return the number of samples, or 0 when `ds` is NULL
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
 * Number of classes (0 for NULL and for a dataset with float targets).
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @return the number of classes, or 0 when `ds` is NULL or its targets are
 *         MLP_TARGET_VALUES
 */
MLP_API int32_t mlp_dataset_num_classes(const mlp_dataset *ds);

/**
 * Label of sample i, or -1 when `ds` is NULL, i is out of range or the
 * dataset has float targets.
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @param i   sample index, 0..size-1
 * @return the label (0..num_classes-1), or -1 in the cases above
 */
MLP_API int32_t mlp_dataset_label(const mlp_dataset *ds, int32_t i);

/**
 * Pixels of image i (C*H*W bytes) of a uint8 dataset, or NULL (borrowed:
 * valid until the dataset is destroyed). A float32 dataset has no bytes:
 * read its samples with mlp_dataset_sample.
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @param i   image index, 0..size-1
 * @return the image's first byte, CHW (borrowed, as above), or NULL when
 *         `ds` is NULL, i is out of range or the storage is float32
 */
MLP_API const uint8_t *mlp_dataset_image(const mlp_dataset *ds, int32_t i);

/**
 * How the samples are stored (0 for NULL).
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @return MLP_STORAGE_UINT8 (the IDX and npz readers, mlp_dataset_create),
 *         MLP_STORAGE_FLOAT32, or 0 when `ds` is NULL
 */
MLP_API int mlp_dataset_storage(const mlp_dataset *ds);

/**
 * What the targets are (0 for NULL).
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @return MLP_TARGET_CLASS, MLP_TARGET_VALUES, or 0 when `ds` is NULL
 */
MLP_API int mlp_dataset_target_kind(const mlp_dataset *ds);

/**
 * Floats per target of a dataset with float targets.
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @return target_dim (>= 1) for MLP_TARGET_VALUES, 0 for a class dataset
 *         (see mlp_dataset_num_classes) or when `ds` is NULL
 */
MLP_API int32_t mlp_dataset_target_dim(const mlp_dataset *ds);

/**
 * Per-sample rank (0 for NULL): 3 for uint8 images ([C,H,W]), the rank
 * given at creation for float samples (1 for the CSV reader's [F]).
 * The image queries mlp_dataset_channels, mlp_dataset_height and
 * mlp_dataset_width read the shape right-aligned into C x H x W: a sample
 * of shape [F] answers 1, 1 and F, and [H,W] answers 1, H and W, so their
 * product is always mlp_dataset_sample_size.
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @return 1..3, or 0 when `ds` is NULL
 */
MLP_API int mlp_dataset_sample_rank(const mlp_dataset *ds);

/**
 * Per-sample extent along one axis.
 * @param ds    the dataset (borrowed for the call); may be NULL
 * @param axis  0..rank-1, outermost first
 * @return the extent (>= 1), or 0 when `ds` is NULL or `axis` is out of range
 */
MLP_API int32_t mlp_dataset_sample_dim(const mlp_dataset *ds, int axis);

/**
 * Values per sample, the product of the per-sample shape (0 for NULL).
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @return the element count of one sample, or 0 when `ds` is NULL
 */
MLP_API int64_t mlp_dataset_sample_size(const mlp_dataset *ds);

/**
 * Copy sample i out as floats, for either storage: uint8 bytes become
 * byte * (1.0f / 255), as in a batch; float32 values are copied as they are.
 * @param ds   the dataset (borrowed for the call)
 * @param i    sample index, 0..size-1
 * @param out  receives mlp_dataset_sample_size floats (caller's buffer,
 *             borrowed for the call)
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG (NULL, i out of range)
 */
MLP_API mlp_status mlp_dataset_sample(const mlp_dataset *ds, int32_t i, float *out);

/**
 * Float target of sample i (target_dim floats), for a dataset with float
 * targets.
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @param i   sample index, 0..size-1
 * @return the target's first float (borrowed: valid until the dataset is
 *         destroyed, or, for borrowed targets, while the caller's array
 *         is), or NULL when `ds` is NULL, i is out of range or the dataset
 *         has class targets
 */
MLP_API const float *mlp_dataset_target_values(const mlp_dataset *ds, int32_t i);

/**
 * Name of class k ("A", "7", "T-shirt", ...) from the dataset's label map,
 * its CSV file or mlp_dataset_set_class_names, or NULL when there is no
 * map, the map does not name class k, or k is out of range (borrowed: valid
 * until the dataset is destroyed or its names are replaced).
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @param k   class index, 0..num_classes-1
 * @return the name, a NUL-terminated string (borrowed, as above), or NULL
 *         when `ds` is NULL or in the cases above
 */
MLP_API const char *mlp_dataset_class_name(const mlp_dataset *ds, int32_t k);

/**
 * Read a label map file: one pair per line, either `label ascii-code`, as
 * the official EMNIST `*-mapping.txt` files (`10 65` names class 10 "A"),
 * or `label "name"`, a name of any UTF-8 text in double quotes (`0
 * "T-shirt/top"`), where `\"` stands for a quote and `\\` for a
 * backslash. Both forms may be mixed; blank lines are skipped; a line holds
 * at most 559 bytes and no NUL byte. Names follow the rule of
 * MLP_CLASS_NAME_MAX, whichever form gives them (so `0 31` or `0 128`,
 * control characters, are refused), and no two labels share a name.
 * Classes the file does not name stay unnamed.
 * @param ds    the dataset that receives the map (borrowed for the call);
 *              a class dataset
 * @param path  the map file (borrowed for the call); a regular file, unlike
 *              the text of mlp_dataset_load_csv not a pipe
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, `path` empty, float
 *         targets),
 *         MLP_STATUS_IO (cannot open or read; not a regular file, as a FIFO,
 *         refused without waiting for a writer), MLP_STATUS_BAD_FORMAT
 *         (malformed line, a NUL byte, label out of range, a label mapped
 *         twice, a bad or repeated name: the message names the line) or
 *         MLP_STATUS_NO_MEMORY; on failure the dataset keeps its previous map
 */
MLP_API mlp_status mlp_dataset_load_mapping(mlp_dataset *ds, const char *path);

/**
 * Give the classes of a class dataset their names, replacing any map.
 * @param ds     the dataset (borrowed for the call); a class dataset
 * @param names  `k` names (each copied); an entry that is NULL or "" leaves
 *               its class unnamed. Each name follows the rule of
 *               MLP_CLASS_NAME_MAX: at most that many bytes of valid UTF-8
 *               without control characters, and no two non-empty names are
 *               equal. May be NULL when k is 0.
 * @param k      num_classes, or 0 to remove the names
 * @return MLP_STATUS_OK; MLP_STATUS_INVALID_ARG (NULL, float targets, k
 *         other than 0 or num_classes, a bad or repeated name: the message
 *         names its index); MLP_STATUS_NO_MEMORY. On failure the dataset
 *         keeps its previous names.
 */
MLP_API mlp_status mlp_dataset_set_class_names(mlp_dataset *ds, const char *const *names,
                                               int32_t k);

/**
 * Name of feature j, the j-th value of every sample in row-major order: the
 * header name of a CSV file's feature column, or one given with
 * mlp_dataset_set_feature_names(). A dataset names all its features or none.
 * mlp_model_fit() (and mlp_model_fit_standardize()) gives a model without
 * feature names the set's, and the model refuses later data whose features
 * are named otherwise (a test file with its columns in another order).
 * Added in 0.5.0.
 * @param ds  the dataset (borrowed for the call); may be NULL
 * @param j   feature index, 0..mlp_dataset_sample_size()-1
 * @return the name (borrowed: valid until the dataset is destroyed or its
 *         feature names change), or NULL when `ds` is NULL, the dataset has
 *         no feature names (image files, data from memory, a CSV file
 *         without a header or whose feature columns' header names break
 *         the rule of mlp_dataset_set_feature_names()) or j is out of range
 */
MLP_API const char *mlp_dataset_feature_name(const mlp_dataset *ds, int32_t j);

/**
 * Name the features of a dataset, replacing its names, or remove them:
 * a set without names is not compared with a model's names.
 * Added in 0.5.0.
 * @param ds     the dataset (borrowed for the call)
 * @param names  `f` names (each copied), every one set and following the
 *               rule of MLP_CLASS_NAME_MAX: 1..255 bytes of valid UTF-8
 *               without control characters, no two equal; NULL when f is 0
 * @param f      the sample size (mlp_dataset_sample_size()), or 0 to remove
 *               the names
 * @return MLP_STATUS_OK; MLP_STATUS_INVALID_ARG (NULL dataset, `names`
 *         NULL with f > 0, f other than 0 or the sample size, a NULL, empty,
 *         overlong, invalid or repeated name: the message names its index);
 *         MLP_STATUS_NO_MEMORY. On failure the dataset keeps its names.
 */
MLP_API mlp_status mlp_dataset_set_feature_names(mlp_dataset *ds,
                                                 const char *const *names, int32_t f);

/**
 * Split a dataset in two copies: the first `n_first` samples and the rest.
 * Both keep the storage, shape, targets, class and feature names of `src`; they own
 * their data also when `src` borrows.
 * @param src      the dataset to split (borrowed for the call; unchanged)
 * @param first    receives the first n_first images (owned), NULL on failure
 * @param second   receives the rest (owned), NULL on failure; not the
 *                 pointer given as `first`
 * @param n_first  1..size-1
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, `first` and `second`
 *         the same pointer, n_first out of range) or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_dataset_split(const mlp_dataset *src, int32_t n_first,
                                     mlp_dataset **first, mlp_dataset **second);

/**
 * Copy chosen samples into a new dataset, in the order given: for example
 * a random validation split (shuffle the indices 0..size-1, take the first
 * k for one subset and the rest for the other), or a bootstrap sample
 * (indices may repeat). The copy keeps the storage, shape, targets, class
 * and feature names of `src` and owns its data, also when `src` borrows.
 * @param src      the dataset (borrowed for the call; unchanged)
 * @param indices  n sample indices, each 0..size-1 (borrowed for the call)
 * @param n        number of samples, >= 1
 * @param out      new dataset, or NULL on failure (owned: mlp_dataset_destroy)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, n < 1, an index out
 *         of range: the message names it) or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_dataset_subset(const mlp_dataset *src, const int32_t *indices,
                                      int32_t n, mlp_dataset **out);

/**
 * Gather samples into a float batch: each pixel p of a uint8 dataset
 * becomes p * (1.0f / 255) (0 and 255 map exactly to 0 and 1); float32
 * samples are copied as they are.
 * @param ds       the dataset (borrowed for the call)
 * @param indices  n image indices (borrowed for the call)
 * @param n        number of images, >= 1
 * @param x        receives n*C*H*W floats, NCHW (caller's buffer, borrowed
 *                 for the call)
 * @param labels   receives n labels (caller's buffer, borrowed for the
 *                 call); may be NULL (and must be NULL for a dataset with
 *                 float targets)
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG (NULL, index out of range,
 *         labels asked of a dataset with float targets)
 */
MLP_API mlp_status mlp_dataset_gather(const mlp_dataset *ds, const int32_t *indices,
                                      int32_t n, float *x, int32_t *labels);

/** What the target column of a CSV file is (mlp_csv_options.task). */
typedef enum mlp_csv_task {
    MLP_CSV_CLASSIFY = 1,     /**< class labels, any text (integers too) -> class ids */
    MLP_CSV_REGRESS = 2,      /**< a number: one float target per row */
    MLP_CSV_FEATURES_ONLY = 3 /**< no target column (rows to predict): every label
                                   is 0, the class count is that of `class_names`
                                   or 1; mlp_model_fit() and the evaluations refuse
                                   the set and its subsets (INVALID_ARG), whose 0s
                                   are no targets. Reads no target: a target
                                   column named (`target_name`, or `target_index`
                                   other than -1) is left out unread, so its cells
                                   may be blank (rows still to label); without one,
                                   every column is a feature, unless a feature list
                                   (`feature_names` or `feature_indices`) says
                                   otherwise */
} mlp_csv_task;

/** How class ids are given to the labels of a CSV file. */
typedef enum mlp_label_order {
    MLP_LABELS_SORTED = 1,    /**< in sorted order: numerically when every label is
                                   an integer, else by bytes (UTF-8 code points) */
    MLP_LABELS_FIRST_SEEN = 2 /**< in the order the rows first show them */
} mlp_label_order;

/** Longest field of a CSV file, in bytes (between separators, quotes removed). */
#define MLP_CSV_MAX_FIELD 4096
/** Longest record of a CSV file, in bytes (a quoted field may span lines). */
#define MLP_CSV_MAX_RECORD (1 << 20)

/**
 * Options of mlp_dataset_load_csv. Initialise with mlp_csv_options_init(),
 * then change what you need; the struct follows the rule of
 * mlp_fit_options (`struct_size` first, fields only appended, the library
 * reads exactly `struct_size` bytes). Every pointer is borrowed for the
 * call.
 */
typedef struct mlp_csv_options {
    size_t struct_size; /**< size of the caller's struct; set by mlp_csv_options_init */
    int32_t task;       /**< an mlp_csv_task; default 0, which is refused: integers
                             alone cannot tell a class from a quantity (the
                             diabetes target is whole numbers), so say it */
    int32_t separator;  /**< field separator, one ASCII byte other than a quote,
                             CR or LF; default ',' */
    int32_t header;     /**< non-zero: the first record names the columns;
                             default 1 */
    const char *target_name; /**< target column by header name; default NULL: use
                                  target_index. With MLP_CSV_FEATURES_ONLY: a
                                  column to leave out unread */
    int32_t target_index;    /**< target column by 0-based index, or -1 for the last
                                  column (the default); used when target_name is NULL.
                                  With MLP_CSV_FEATURES_ONLY, -1 is no target and
                                  another index a column to leave out unread */
    int32_t label_order;     /**< an mlp_label_order; default MLP_LABELS_SORTED,
                                  which does not depend on the order of the rows:
                                  a shuffled file, or the train and test files of
                                  one data set, give the same ids */
    const char *const *feature_names; /**< feature columns by header name, in the order
                                      the samples get them; or NULL */
    const int32_t *feature_indices;   /**< feature columns by 0-based index; or NULL.
                                        When both lists are NULL (the default), every
                                        column but the target is a feature, in file order */
    int32_t num_features;             /**< length of the list given; default 0 */
    const char *const *class_names;   /**< the class names in id order (for example those
                                        of the training file, so a test file gets the same
                                        ids); a label not in the list is an error. Default
                                        NULL: the labels found, in `label_order` */
    int32_t num_class_names;          /**< length of class_names; default 0 */
} mlp_csv_options;

/**
 * Fill the first `struct_size` bytes of `opts` with the defaults and set
 * `opts->struct_size`. Call it through the mlp_csv_options_init() macro.
 * @param opts         the caller's options (borrowed for the call)
 * @param struct_size  sizeof(mlp_csv_options) as the caller's header declares it
 * @return MLP_STATUS_OK, or MLP_STATUS_INVALID_ARG when `opts` is NULL or
 *         `struct_size` is not the size of mlp_csv_options in any release
 *         (nothing is written then)
 */
MLP_API mlp_status mlp_csv_options_init_size(mlp_csv_options *opts, size_t struct_size);

/**
 * Fill `opts` with the defaults: mlp_csv_options_init_size(opts,
 * sizeof(mlp_csv_options)), the size from the caller's header.
 * @param opts  pointer to the caller's mlp_csv_options
 * @return the status of mlp_csv_options_init_size()
 */
#define mlp_csv_options_init(opts)                                                       \
    mlp_csv_options_init_size((opts), sizeof(mlp_csv_options))

/**
 * Read a table of numbers from a CSV file into a float32 dataset of
 * per-sample shape [F], F the number of feature columns.
 *
 * The format is RFC 4180: fields separated by `opts->separator`, records
 * ended by LF or CRLF; a field in double quotes may hold separators, line
 * breaks and doubled quotes (`""` for one `"`). A UTF-8 byte-order mark at
 * the start is skipped, empty lines are skipped, and a gzip-compressed file
 * is read as its text (whatever its name): a file of several gzip members
 * (concatenated .gz files) is one text, as gunzip reads it, and bytes after
 * the last member that do not start another are refused (BAD_FORMAT, with
 * their byte offset in the compressed file). Every record has the number of
 * fields of the first. Feature fields and a regression target are decimal
 * numbers (spaces around them are allowed; NaN, infinity, hexadecimal and
 * values beyond float's range are not). Class labels are the exact bytes
 * of the field, at most MLP_CLASS_NAME_MAX of valid UTF-8 without control
 * characters; the labels become the dataset's class names. With a header,
 * the feature columns' header names become the dataset's feature names
 * (mlp_dataset_feature_name()), in the samples' order, when each is a name
 * under the rule of MLP_CLASS_NAME_MAX and no two are equal; otherwise the
 * dataset has none. To read a table whose columns may be in another order
 * than a model's, give the model's names as `feature_names`. The text is read
 * through a window of a few MiB, not held whole. A plain file is read
 * twice, first to count its lines, so that the rows are allocated once: the
 * load needs little more memory than the dataset it returns. The rows of a
 * gzip file or a pipe grow by doubling, and the dataset keeps the block
 * they grew to, less than twice their size (the part never written is
 * address space: pages no one touched hold no memory). The text may be of
 * any length (files beyond 2 GiB are read as any other); when compressed,
 * it is at most 1032 times the file's size (deflate's limit).
 * `path` may name a pipe, as a shell's `<(zcat t.csv.gz)` or /dev/stdin
 * give (read to its end), but not a directory. The text holds no NUL
 * byte: a file with one (binary data, UTF-16 text) is refused when the
 * window reaches it.
 *
 * Every message about the file names it as `path:line:column`, the line
 * (1-based, counted in the file's line breaks) where the field starts and
 * the column as the 1-based field number, with the column's header name
 * when there is one. The message of a file that cannot be opened or read
 * starts with the function's name, then says so, with the path and the
 * system's reason.
 * @param out   new dataset, or NULL on failure (owned: mlp_dataset_destroy)
 * @param path  the file (borrowed for the call)
 * @param opts  options (borrowed for the call; read up to
 *              `opts->struct_size`); not NULL, since `task` must be set
 * @return MLP_STATUS_OK; MLP_STATUS_INVALID_ARG (NULL, `path` empty, task
 *         not set, an unknown order, a bad separator, both feature lists, a
 *         feature list naming the target or a column twice, a target by name
 *         without a header, a bad or repeated class name in the list);
 *         MLP_STATUS_IO (cannot open or read, a directory);
 *         MLP_STATUS_BAD_FORMAT (an empty file, a header without rows, a
 *         ragged row, a field or record beyond the limits, an unterminated
 *         quote or text after a closing quote, an empty field, a
 *         non-numeric feature or target, NaN or infinity, a missing target
 *         or feature column, a bad label, a label outside `class_names`,
 *         more than 2^31 - 1 rows, more text than 1032 times a gzip
 *         file's size, corrupt gzip data or bytes after it, a NUL byte);
 *         MLP_STATUS_NO_MEMORY.
 *         On failure nothing is returned.
 */
MLP_API mlp_status mlp_dataset_load_csv(mlp_dataset **out, const char *path,
                                        const mlp_csv_options *opts);

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
 * Gather the next batch of the current epoch, for a dataset with class
 * labels (either storage). When the epoch is exhausted it sets *n to 0 and
 * the next call starts a new epoch (reshuffled). Allocates nothing.
 * Datasets with float targets use mlp_batcher_next_batch.
 * @param b       the batcher (borrowed for the call)
 * @param x       receives up to batch_size*C*H*W floats (caller's buffer,
 *                borrowed for the call)
 * @param labels  receives up to batch_size labels (caller's buffer, borrowed
 *                for the call; not NULL)
 * @param n       receives the number of images in this batch
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG (NULL, a dataset with
 *         float targets)
 */
MLP_API mlp_status mlp_batcher_next(mlp_batcher *b, float *x, int32_t *labels,
                                    int32_t *n);

/**
 * Gather the next batch of the current epoch with the targets of either
 * kind: like mlp_batcher_next, in the same order for the same seed, but
 * the labels and the float targets are each optional.
 * @param b        the batcher (borrowed for the call)
 * @param x        receives up to batch_size * sample size floats (caller's
 *                 buffer, borrowed for the call)
 * @param labels   receives up to batch_size labels of a class dataset
 *                 (caller's buffer, borrowed for the call), or NULL
 * @param targets  receives up to batch_size * target_dim floats of a
 *                 dataset with float targets, target after target (caller's
 *                 buffer, borrowed for the call), or NULL
 * @param n        receives the number of samples in this batch (0 at the
 *                 end of an epoch)
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG (NULL `b`, `x` or `n`;
 *         `labels` for a dataset with float targets, or `targets` for a
 *         class dataset)
 */
MLP_API mlp_status mlp_batcher_next_batch(mlp_batcher *b, float *x, int32_t *labels,
                                          float *targets, int32_t *n);

/**
 * Leave out, or keep, each epoch's last batch when it would be smaller
 * than the batch size (off when a batcher is created). With it on, every
 * batch holds batch_size samples, an epoch ends after size / batch_size
 * batches (none when the dataset is smaller than a batch), and with
 * shuffling the samples left out differ from epoch to epoch. The batches
 * given are those the batcher gives without it, in the same order. It
 * applies from the next call that gathers a batch, the current epoch
 * included.
 * @param b          the batcher (borrowed for the call)
 * @param drop_last  non-zero to leave a short last batch out, 0 to keep it
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG (NULL)
 */
MLP_API mlp_status mlp_batcher_set_drop_last(mlp_batcher *b, int drop_last);

/**
 * Number of batches per epoch (0 for NULL).
 * @param b  the batcher (borrowed for the call); may be NULL
 * @return size / batch_size rounded up (rounded down when the batcher
 *         leaves a short last batch out: mlp_batcher_set_drop_last), or 0
 *         when `b` is NULL
 */
MLP_API int32_t mlp_batcher_batch_count(const mlp_batcher *b);

/**
 * Make the next call to mlp_batcher_next start epoch `epoch` (0-based).
 * Epoch k's order depends only on the seed and k, so a run resumed at epoch
 * k sees the same batches as one that never stopped.
 * @param b      the batcher (borrowed for the call)
 * @param epoch  0-based epoch number, 0..INT32_MAX - 1
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG (NULL, epoch out of range)
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

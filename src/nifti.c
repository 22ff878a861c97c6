/* SPDX-License-Identifier: MIT */
/* NIfTI I/O: NIfTI-1 and NIfTI-2 in, NIfTI-1 out. The only file that includes niftilib.
 *
 * Reading. niftilib prints to stderr and answers NULL without saying why, so the raw header is read here
 * (through zlib, which reads plain files as they are) and checked field by field, each failure naming the
 * file, the field and its value. Only a header that passed is handed to niftilib, which interprets it
 * (nifti_convert_n{1,2}hdr2nim: byte order, NIfTI-2 widths, quaternion -> matrix); its reading is checked
 * against ours. The data are read here straight into the volume's block: a short or corrupt file then gets
 * an exact message, niftilib prints nothing, and there is no second copy of the data in memory.
 *
 * Writing. A NIfTI-1 header is filled here (the qform by niftilib's nifti_dmat44_to_quatern) and written
 * with the data by write(2) or zlib to a commit's temporary (src/commit.h): fsynced, renamed into place; on
 * any failure the temporary is removed, so a failed write leaves nothing behind and changes no file. */
#include "commit.h"
#include "internal.h"

#include <nifti2_io.h>
#include <zlib.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(nifti_1_header) == 348, "nifti_1_header must be 348 bytes");
_Static_assert(sizeof(nifti_2_header) == 540, "nifti_2_header must be 540 bytes");

#define N1_SIZE 348
#define N2_SIZE 540
#define GZ_CHUNK ((size_t)1 << 30)   /* gzread/gzwrite take an unsigned length */
#define DEFLATE_MAX_RATIO 1032       /* deflate cannot expand more than this per compressed byte */
#define GZ_WRITE_MODE "wb1"          /* as nibabel: level 1, several times faster than 6, a little larger */

#define FAIL(st, ...) vxa_fail_buf(err, errlen, st, __VA_ARGS__)

/* ---- the raw header, as stored, in host byte order ---------------------------------------------------- */
typedef struct {
    int version;               /* 1 or 2 */
    int size;                  /* 348 or 540 */
    bool swapped;              /* stored in the other byte order */
    bool pair;                 /* magic ni1/ni2: the data are in a separate .img file */
    char magic[9];
    int64_t dim[8];
    double pixdim[8];
    int datatype, bitpix;
    double vox_offset;         /* NIfTI-1 stores a float */
    double scl_slope, scl_inter;
    int qform_code, sform_code;
    double quatern[6];         /* b, c, d, qoffset x, y, z */
    double srow[3][4];
    double toffset;
    int xyzt_units;
    char descrip[81];
} raw_header;

static void bswap(void *p, size_t n)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned char t = b[i];
        b[i] = b[n - 1 - i];
        b[n - 1 - i] = t;
    }
}

static int64_t get_int(const unsigned char *buf, size_t off, size_t n, bool sw)
{
    unsigned char b[8];
    memcpy(b, buf + off, n);
    if (sw) bswap(b, n);
    if (n == 2) { int16_t v; memcpy(&v, b, 2); return v; }
    if (n == 4) { int32_t v; memcpy(&v, b, 4); return v; }
    int64_t v;
    memcpy(&v, b, 8);
    return v;
}

static double get_float(const unsigned char *buf, size_t off, size_t n, bool sw)
{
    unsigned char b[8];
    memcpy(b, buf + off, n);
    if (sw) bswap(b, n);
    if (n == 4) { float v; memcpy(&v, b, 4); return v; }
    double v;
    memcpy(&v, b, 8);
    return v;
}

/* Byte offsets of the fields in the two layouts (nifti1.h, nifti2.h); `ints` and `floats` are the widths
 * of dim[] and of the float fields, `codes` of qform_code/sform_code. */
typedef struct {
    size_t ints, floats, codes;
    size_t dim, pixdim, vox_offset, datatype, bitpix, slope, inter, toffset, qform_code, sform_code, quatern, srow;
    size_t xyzt_units, descrip, magic;
} layout;
static const layout layout1 = { .ints = 2, .floats = 4, .codes = 2, .dim = 40, .pixdim = 76, .vox_offset = 108,
                                .datatype = 70, .bitpix = 72, .slope = 112, .inter = 116, .toffset = 136,
                                .qform_code = 252, .sform_code = 254, .quatern = 256, .srow = 280,
                                .xyzt_units = 123, .descrip = 148, .magic = 344 };
static const layout layout2 = { .ints = 8, .floats = 8, .codes = 4, .dim = 16, .pixdim = 104, .vox_offset = 168,
                                .datatype = 12, .bitpix = 14, .slope = 176, .inter = 184, .toffset = 216,
                                .qform_code = 344, .sform_code = 348, .quatern = 352, .srow = 400,
                                .xyzt_units = 500, .descrip = 240, .magic = 4 };

static void parse_header(const unsigned char *buf, int version, bool sw, raw_header *h)
{
    const layout *L = version == 1 ? &layout1 : &layout2;
    memset(h, 0, sizeof *h);
    h->version = version;
    h->size = version == 1 ? N1_SIZE : N2_SIZE;
    h->swapped = sw;
    memcpy(h->magic, buf + L->magic, version == 1 ? 4 : 8);
    for (int i = 0; i < 8; i++) {
        h->dim[i] = get_int(buf, L->dim + (size_t)i * L->ints, L->ints, sw);
        h->pixdim[i] = get_float(buf, L->pixdim + (size_t)i * L->floats, L->floats, sw);
    }
    h->datatype = (int)get_int(buf, L->datatype, 2, sw);
    h->bitpix = (int)get_int(buf, L->bitpix, 2, sw);
    h->vox_offset = version == 1 ? get_float(buf, L->vox_offset, 4, sw) : (double)get_int(buf, L->vox_offset, 8, sw);
    h->scl_slope = get_float(buf, L->slope, L->floats, sw);
    h->scl_inter = get_float(buf, L->inter, L->floats, sw);
    h->toffset = get_float(buf, L->toffset, L->floats, sw);
    h->qform_code = (int)get_int(buf, L->qform_code, L->codes, sw);
    h->sform_code = (int)get_int(buf, L->sform_code, L->codes, sw);
    for (int i = 0; i < 6; i++) h->quatern[i] = get_float(buf, L->quatern + (size_t)i * L->floats, L->floats, sw);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            h->srow[r][c] = get_float(buf, L->srow + (size_t)(4 * r + c) * L->floats, L->floats, sw);
    h->xyzt_units = version == 1 ? buf[L->xyzt_units] : (int)get_int(buf, L->xyzt_units, 4, sw);
    memcpy(h->descrip, buf + L->descrip, 80);
    h->descrip[80] = '\0';
}

/* The supported types (vxa_dtype values are NIfTI codes) and the NIfTI types voxaug does not handle. */
static const struct { int code; const char *name; } unsupported_types[] = {
    { DT_BINARY, "binary (1 bit)" }, { DT_COMPLEX64, "complex64" }, { DT_RGB24, "RGB24" },
    { DT_FLOAT128, "float128" },
    { DT_COMPLEX128, "complex128" }, { DT_COMPLEX256, "complex256" }, { DT_RGBA32, "RGBA32" },
};

/* A magic string for messages: printable characters kept, the rest as \xNN; stops at a NUL if asked. */
static const char *magic_text(const char *m, size_t n, bool stop_at_nul, char out[40])
{
    size_t o = 0;
    for (size_t i = 0; i < n && (m[i] || !stop_at_nul); i++) {
        unsigned char c = (unsigned char)m[i];
        o += (size_t)snprintf(out + o, 40 - o, (c >= 32 && c < 127 && c != '"') ? "%c" : "\\x%02x", c);
    }
    out[o] = '\0';
    return out;
}

/* Every check on the header alone. Sets *bytes (data size) and the volume's shape. */
static vxa_status check_header(const char *name, const raw_header *h, int64_t dim3[3], int64_t *channels,
                               size_t *bytes, char *err, size_t errlen)
{
    char mt[40];
    const char *one = h->version == 1 ? "n+1" : "n+2", *two = h->version == 1 ? "ni1" : "ni2";
    if (strcmp(h->magic, one) != 0 && strcmp(h->magic, two) != 0)
        return FAIL(VXA_ERR_FORMAT, "%s: magic = \"%s\", expected \"%s\" or \"%s\" (not a NIfTI-%d file%s)", name,
                    magic_text(h->magic, 4, true, mt), one, two, h->version,
                    h->version == 1 && h->magic[0] == '\0' ? "; an Analyze 7.5 header?" : "");
    if (h->version == 2 && memcmp(h->magic + 4, "\r\n\032\n", 4) != 0)
        return FAIL(VXA_ERR_FORMAT, "%s: magic bytes 4..7 = \"%s\", expected \\r\\n\\x1a\\n (a damaged NIfTI-2 file)",
                    name, magic_text(h->magic + 4, 4, false, mt));

    if (h->dim[0] < 1 || h->dim[0] > 7)
        return FAIL(VXA_ERR_FORMAT, "%s: dim[0] = %lld, expected 1..7", name, (long long)h->dim[0]);
    const int ndim = (int)h->dim[0];
    for (int i = 1; i <= ndim; i++)
        if (h->dim[i] < 1)
            return FAIL(VXA_ERR_FORMAT, "%s: dim[%d] = %lld, expected >= 1", name, i, (long long)h->dim[i]);

    /* data type before bitpix: an unsupported type is named as such whatever its bitpix */
    for (size_t i = 0; i < sizeof unsupported_types / sizeof unsupported_types[0]; i++)
        if (h->datatype == unsupported_types[i].code)
            return FAIL(VXA_ERR_UNSUPPORTED, "%s: datatype = %d (%s) is not supported; voxaug reads uint8, int8, "
                        "int16, uint16, int32, uint32, int64, uint64, float32 and float64", name, h->datatype,
                        unsupported_types[i].name);
    const size_t vsize = vxa_dtype_size((vxa_dtype)h->datatype);
    if (vsize == 0)
        return FAIL(VXA_ERR_FORMAT, "%s: datatype = %d is not a NIfTI data type", name, h->datatype);
    if ((size_t)h->bitpix != 8 * vsize)
        return FAIL(VXA_ERR_FORMAT, "%s: bitpix = %d, expected %zu for datatype %d (%s)", name, h->bitpix, 8 * vsize,
                    h->datatype, vxa_dtype_name((vxa_dtype)h->datatype));

    /* shape: i, j, k, then at most one non-trivial dimension beyond (time, or vector data in dim[5]) */
    int64_t nc = 1;
    int extra = 0;
    for (int i = 0; i < 3; i++) dim3[i] = i + 1 <= ndim ? h->dim[i + 1] : 1;
    for (int i = 4; i <= ndim; i++)
        if (h->dim[i] > 1) {
            if (extra)
                return FAIL(VXA_ERR_UNSUPPORTED, "%s: dim[%d] = %lld and dim[%d] = %lld: more than one dimension "
                            "beyond the third is not supported", name, extra, (long long)h->dim[extra], i,
                            (long long)h->dim[i]);
            extra = i;
            nc = h->dim[i];
        }
    *channels = nc;
    size_t n = vsize;
    for (int i = 0; i < 3; i++)
        if (!vxa_mul_size(n, (size_t)dim3[i], &n)) goto overflow;
    if (!vxa_mul_size(n, (size_t)nc, &n) || n > (size_t)INT64_MAX / 2) goto overflow;
    *bytes = n;

    for (int i = 1; i <= 3 && i <= ndim; i++)
        if (!isfinite(h->pixdim[i]) || h->pixdim[i] <= 0)
            return FAIL(VXA_ERR_FORMAT, "%s: pixdim[%d] = %g, expected a finite spacing > 0", name, i, h->pixdim[i]);
    if (isfinite(h->scl_slope) && h->scl_slope != 0 && !isfinite(h->scl_inter))
        return FAIL(VXA_ERR_FORMAT, "%s: scl_inter = %g with scl_slope = %g, expected a finite intercept", name,
                    h->scl_inter, h->scl_slope);

    const double min_offset = h->pair ? 0 : h->size;
    if (!isfinite(h->vox_offset) || h->vox_offset != floor(h->vox_offset) || h->vox_offset < min_offset ||
        h->vox_offset > (double)(INT64_MAX / 2))
        return FAIL(VXA_ERR_FORMAT, "%s: vox_offset = %g, expected a whole number >= %g%s", name, h->vox_offset,
                    min_offset, h->pair ? "" : " (the header size)");

    if (h->sform_code > 0)
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++)
                if (!isfinite(h->srow[r][c]))
                    return FAIL(VXA_ERR_FORMAT, "%s: srow_%c[%d] = %g with sform_code = %d, expected finite", name,
                                "xyz"[r], c, h->srow[r][c], h->sform_code);
    if (h->sform_code <= 0 && h->qform_code > 0) {
        static const char *const qnames[6] = { "quatern_b", "quatern_c", "quatern_d",
                                               "qoffset_x", "qoffset_y", "qoffset_z" };
        for (int i = 0; i < 6; i++)
            if (!isfinite(h->quatern[i]))
                return FAIL(VXA_ERR_FORMAT, "%s: %s = %g with qform_code = %d, expected finite", name, qnames[i],
                            h->quatern[i], h->qform_code);
    }
    return VXA_OK;
overflow:
    return FAIL(VXA_ERR_FORMAT, "%s: dim = %lld x %lld x %lld x %lld of %zu-byte values overflows the address space",
                name, (long long)dim3[0], (long long)dim3[1], (long long)dim3[2], (long long)nc, vsize);
}

/* ---- reading through zlib ------------------------------------------------------------------------------ */
typedef struct {
    gzFile gz;
    const char *name;
    int64_t pos;               /* uncompressed position */
    int64_t file_size;
    bool compressed;
    vxa_status st;             /* of the last failure, its detail in the caller's buffer */
} reader;

/* A failed gzread: the system's error text for I/O, zlib's for a damaged stream. */
static vxa_status reader_fail(reader *r, const char *what, char *err, size_t errlen)
{
    int zerr = 0;
    const char *msg = gzerror(r->gz, &zerr);
    if (zerr == Z_ERRNO)
        return r->st = FAIL(VXA_ERR_IO, "%s: reading the %s: %s", r->name, what, strerror(errno));
    /* zlib decodes ahead of what was asked, so the damage is not located; its message starts with the name */
    const size_t nlen = strlen(r->name);
    if (msg && strncmp(msg, r->name, nlen) == 0 && strncmp(msg + nlen, ": ", 2) == 0) msg += nlen + 2;
    return r->st = FAIL(VXA_ERR_FORMAT, "%s: corrupt gzip stream: %s", r->name, msg ? msg : "unknown zlib error");
}

static vxa_status reader_open(reader *r, const char *name, char *err, size_t errlen)
{
    struct stat st;
    memset(r, 0, sizeof *r);
    r->name = name;
    if (stat(name, &st) != 0) return FAIL(VXA_ERR_IO, "%s: %s", name, strerror(errno));
    if (S_ISDIR(st.st_mode)) return FAIL(VXA_ERR_IO, "%s: is a directory, expected a NIfTI file", name);
    r->file_size = (int64_t)st.st_size;
    errno = 0;
    r->gz = gzopen(name, "rb");
    if (!r->gz) return FAIL(VXA_ERR_IO, "%s: %s", name, errno ? strerror(errno) : "cannot open");
    gzbuffer(r->gz, 256 * 1024);
    r->compressed = gzdirect(r->gz) == 0;
    return VXA_OK;
}

static void reader_close(reader *r)
{
    if (r->gz) gzclose_r(r->gz);
    r->gz = NULL;
}

/* Reads up to n bytes; the count read, or -1 after writing the detail. */
static int64_t reader_read(reader *r, void *dst, size_t n, const char *what, char *err, size_t errlen)
{
    size_t got = 0;
    while (got < n) {
        const size_t want = n - got < GZ_CHUNK ? n - got : GZ_CHUNK;
        const int k = gzread(r->gz, (char *)dst + got, (unsigned)want);
        if (k < 0) {
            reader_fail(r, what, err, errlen);
            return -1;
        }
        if (k == 0) {
            int zerr = 0;
            gzerror(r->gz, &zerr);
            if (zerr != Z_OK && zerr != Z_BUF_ERROR) { /* Z_BUF_ERROR: the stream just ends early */
                reader_fail(r, what, err, errlen);
                return -1;
            }
            break;
        }
        got += (size_t)k;
    }
    r->pos += (int64_t)got;
    return (int64_t)got;
}

/* Skips forward to offset; 0 if the data end first. -1 on error. */
static int reader_skip_to(reader *r, int64_t offset, char *err, size_t errlen)
{
    char scratch[4096];
    while (r->pos < offset) {
        const size_t n = offset - r->pos < (int64_t)sizeof scratch ? (size_t)(offset - r->pos) : sizeof scratch;
        const int64_t k = reader_read(r, scratch, n, "extensions before the data", err, errlen);
        if (k < 0) return -1;
        if (k == 0) return 0;
    }
    return 1;
}

/* Reads a gzip stream to its end; a CRC or length mismatch, or a stream cut short, is an error naming the file. */
static vxa_status reader_drain(reader *r, char *err, size_t errlen)
{
    char scratch[65536];
    int64_t k;
    while ((k = reader_read(r, scratch, sizeof scratch, "data", err, errlen)) > 0) {}
    if (k < 0) return r->st;
    int zerr = Z_OK;
    gzerror(r->gz, &zerr);
    if (zerr == Z_BUF_ERROR)
        return r->st = FAIL(VXA_ERR_FORMAT, "%s: truncated gzip stream: the data are complete but the stream's end "
                            "(length and CRC) is missing", r->name);
    return VXA_OK;
}

/* Reads the header into buf (as stored) and h (host order). */
static vxa_status read_header(reader *r, unsigned char buf[N2_SIZE], raw_header *h, char *err, size_t errlen)
{
    int64_t k = reader_read(r, buf, 4, "header", err, errlen);
    if (k < 0) return r->st;
    if (k < 4)
        return FAIL(VXA_ERR_FORMAT, "%s: truncated header: %lld bytes, a NIfTI-1 header has %d", r->name, (long long)k,
                    N1_SIZE);
    const int32_t native = (int32_t)get_int(buf, 0, 4, false), other = (int32_t)get_int(buf, 0, 4, true);
    int version = 0;
    bool sw = false;
    if (native == N1_SIZE || native == N2_SIZE) version = native == N1_SIZE ? 1 : 2;
    else if (other == N1_SIZE || other == N2_SIZE) version = other == N1_SIZE ? 1 : 2, sw = true;
    else
        return FAIL(VXA_ERR_FORMAT, "%s: sizeof_hdr = %d (%d byte-swapped), expected 348 (NIfTI-1) or 540 (NIfTI-2): "
                    "not a NIfTI file", r->name, native, other);
    const int size = version == 1 ? N1_SIZE : N2_SIZE;
    k = reader_read(r, buf + 4, (size_t)size - 4, "header", err, errlen);
    if (k < 0) return r->st;
    if (k < size - 4)
        return FAIL(VXA_ERR_FORMAT, "%s: truncated header: %lld bytes, a NIfTI-%d header has %d", r->name,
                    (long long)k + 4, version, size);
    parse_header(buf, version, sw, h);
    h->pair = h->magic[1] == 'i';
    return VXA_OK;
}

static bool ends_with(const char *s, const char *suffix)
{
    const size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* path with its ending `from` replaced by `to` (malloc'd), NULL if memory ran out. */
static char *swap_ending(const char *path, const char *from, const char *to)
{
    const size_t n = strlen(path) - strlen(from);
    char *s = malloc(n + strlen(to) + 1);
    if (!s) return NULL;
    memcpy(s, path, n);
    strcpy(s + n, to);
    return s;
}

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* The other file of a .hdr/.img pair: same compression first, then the other. */
static char *pair_name(const char *path, bool want_img)
{
    static const char *const ends[2][2] = { { ".hdr", ".hdr.gz" }, { ".img", ".img.gz" } };
    const char *const *have = ends[want_img ? 0 : 1], *const *want = ends[want_img ? 1 : 0];
    const int gz = ends_with(path, have[1]) ? 1 : 0;
    char *a = swap_ending(path, have[gz], want[gz]);
    if (!a || file_exists(a)) return a;
    char *b = swap_ending(path, have[gz], want[1 - gz]);
    if (b && file_exists(b)) {
        free(a);
        return b;
    }
    free(b);
    return a; /* the usual name, for the message */
}

/* n values of `size` bytes each to the other byte order, in place. */
static void swap_data(void *data, size_t n, size_t size)
{
    unsigned char *p = data;
    for (size_t i = 0; i < n; i++, p += size) {
        if (size == 2) {
            uint16_t x;
            memcpy(&x, p, 2);
            x = __builtin_bswap16(x);
            memcpy(p, &x, 2);
        } else if (size == 4) {
            uint32_t x;
            memcpy(&x, p, 4);
            x = __builtin_bswap32(x);
            memcpy(p, &x, 4);
        } else if (size == 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            x = __builtin_bswap64(x);
            memcpy(p, &x, 8);
        }
    }
}

/* int64 and uint64 files (label maps from some tools) are narrowed, exactly, to a type the library computes with:
 * int32 when every value fits, else float64 when every value is an integer float64 holds exactly (|x| <= 2^53);
 * a value beyond that is refused, named with its voxel. In place: the narrower values fill the front of the block. */
static vxa_status narrow_64bit(const char *name, vxa_volume *v, char *err, size_t errlen)
{
    const size_t n = vxa_volume_voxels(v);
    const bool is_signed = v->dtype == VXA_INT64;
    unsigned char *bytes = v->data;  /* read and written through memcpy: the block changes type in place */
    bool fits32 = true;
    for (size_t i = 0; i < n; i++) {
        int64_t s;
        uint64_t u;
        memcpy(&s, bytes + 8 * i, 8);
        memcpy(&u, bytes + 8 * i, 8);
        const bool in32 = is_signed ? (s >= INT32_MIN && s <= INT32_MAX) : u <= INT32_MAX;
        const bool exact = is_signed ? (s >= -(INT64_C(1) << 53) && s <= (INT64_C(1) << 53)) : u <= (UINT64_C(1) << 53);
        fits32 = fits32 && in32;
        if (!exact) {
            const size_t nx = (size_t)v->dim[0], ny = (size_t)v->dim[1], nz = (size_t)v->dim[2];
            char value[32];
            if (is_signed) snprintf(value, sizeof value, "%lld", (long long)s);
            else snprintf(value, sizeof value, "%llu", (unsigned long long)u);
            return FAIL(VXA_ERR_UNSUPPORTED, "%s: %s value %s at voxel (%zu, %zu, %zu, %zu) is beyond 2^53: voxaug "
                        "reads int64 and uint64 data as int32 or float64, exactly, or not at all", name,
                        vxa_dtype_name(v->dtype), value, i % nx, i / nx % ny, i / (nx * ny) % nz, i / (nx * ny * nz));
        }
    }
    /* front to back: value i lands at or before the bytes of value i, which were read already */
    for (size_t i = 0; i < n; i++) {
        int64_t s;
        uint64_t u;
        memcpy(&s, bytes + 8 * i, 8);
        memcpy(&u, bytes + 8 * i, 8);
        if (fits32) {
            const int32_t d = (int32_t)(is_signed ? s : (int64_t)u);
            memcpy(bytes + 4 * i, &d, 4);
        } else {
            const double d = is_signed ? (double)s : (double)u;
            memcpy(bytes + 8 * i, &d, 8);
        }
    }
    v->dtype = fits32 ? VXA_INT32 : VXA_FLOAT64;
    return VXA_OK;
}

/* niftilib's reading of the header: affines (sform, qform through its quaternion -> matrix), checked against
 * ours for shape and type. */
static vxa_status interpret_header(const char *name, const unsigned char *bytes, const raw_header *h,
                                   const int64_t dim3[3], vxa_volume *v, char *err, size_t errlen)
{
    nifti_set_debug_level(0);
    nifti_image *nim = NULL;
    if (h->version == 1) {
        nifti_1_header n1;
        memcpy(&n1, bytes, sizeof n1);
        nim = nifti_convert_n1hdr2nim(n1, name);
    } else {
        nifti_2_header n2;
        memcpy(&n2, bytes, sizeof n2);
        nim = nifti_convert_n2hdr2nim(n2, name);
    }
    if (!nim) return FAIL(VXA_ERR_FORMAT, "%s: niftilib could not interpret the header", name);
    vxa_status st = VXA_OK;
    if (nim->nx != dim3[0] || nim->ny != dim3[1] || nim->nz != dim3[2] || nim->datatype != h->datatype) {
        st = FAIL(VXA_ERR_FORMAT, "%s: niftilib reads %lldx%lldx%lld of type %d, the header says %lldx%lldx%lld of "
                  "type %d", name, (long long)nim->nx, (long long)nim->ny, (long long)nim->nz, nim->datatype,
                  (long long)dim3[0], (long long)dim3[1], (long long)dim3[2], h->datatype);
        goto done;
    }
    if (h->sform_code > 0 || h->qform_code > 0) {
        const nifti_dmat44 *m = h->sform_code > 0 ? &nim->sto_xyz : &nim->qto_xyz;
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) v->affine[r][c] = m->m[r][c];
    } else {
        memset(v->affine, 0, sizeof v->affine);
        for (int a = 0; a < 3; a++) v->affine[a][a] = v->spacing[a];
        v->affine[3][3] = 1.0;
    }
    const char *field = h->sform_code > 0 ? "srow_x..z (sform)" : h->qform_code > 0 ? "the qform (quatern_b..d, "
                        "qoffset_x..z, pixdim)" : "pixdim[1..3]";
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            if (!isfinite(v->affine[r][c])) {
                st = FAIL(VXA_ERR_FORMAT, "%s: %s gives a non-finite affine", name, field);
                goto done;
            }
    /* a singular affine has no inverse: every resampling op needs one, and a preview has no orientation.
     * Relative to the columns' lengths, so that a 1e-3 mm grid is not taken for singular. */
    const double (*A)[4] = (const double(*)[4])v->affine;
    const double det = A[0][0] * (A[1][1] * A[2][2] - A[1][2] * A[2][1]) -
                       A[0][1] * (A[1][0] * A[2][2] - A[1][2] * A[2][0]) +
                       A[0][2] * (A[1][0] * A[2][1] - A[1][1] * A[2][0]);
    double scale = 1.0;
    for (int c = 0; c < 3; c++) scale *= sqrt(A[0][c] * A[0][c] + A[1][c] * A[1][c] + A[2][c] * A[2][c]);
    if (!(fabs(det) > 1e-9 * scale) || !(scale > 0)) {
        st = FAIL(VXA_ERR_FORMAT, "%s: %s is singular (determinant %g): the voxel-to-world affine has no inverse",
                  name, field, det);
        goto done;
    }
done:
    nifti_image_free(nim);
    return st;
}

vxa_status vxa_nifti_read(const char *path, vxa_volume **out, char *err, size_t errlen)
{
    vxa_status st = VXA_OK;
    reader hr = { 0 }, dr = { 0 };
    char *hdr_path = NULL, *img_path = NULL;
    vxa_volume *v = NULL;
    if (err && errlen) err[0] = '\0';
    if (!out) return FAIL(VXA_ERR_INVALID_ARGUMENT, "vxa_nifti_read: out is NULL");
    *out = NULL;
    if (!path || !*path) return FAIL(VXA_ERR_INVALID_ARGUMENT, "vxa_nifti_read: no file name");

    /* given the .img of a pair, the header is the .hdr next to it */
    const char *hname = path;
    if (ends_with(path, ".img") || ends_with(path, ".img.gz")) {
        if (!file_exists(path)) return FAIL(VXA_ERR_IO, "%s: %s", path, strerror(ENOENT));
        if (!(hdr_path = pair_name(path, false))) return FAIL(VXA_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        if (!file_exists(hdr_path)) {
            st = FAIL(VXA_ERR_IO, "%s: its header %s: %s", path, hdr_path, strerror(ENOENT));
            goto done;
        }
        hname = hdr_path;
    }
    if ((st = reader_open(&hr, hname, err, errlen)) != VXA_OK) goto done;
    unsigned char bytes[N2_SIZE]; /* as stored, for niftilib, which finds the byte order itself */
    raw_header h;
    if ((st = read_header(&hr, bytes, &h, err, errlen)) != VXA_OK) goto done;

    int64_t dim3[3], channels = 1;
    size_t bytes_needed = 0;
    if ((st = check_header(hname, &h, dim3, &channels, &bytes_needed, err, errlen)) != VXA_OK) goto done;

    /* where the data are */
    reader *data = &hr;
    if (h.pair) {
        if (hdr_path) {
            img_path = strdup(path); /* named by its .img: that one */
        } else if (ends_with(hname, ".hdr") || ends_with(hname, ".hdr.gz")) {
            img_path = pair_name(hname, true);
        } else {
            st = FAIL(VXA_ERR_FORMAT, "%s: magic = \"%s\" (header and image in separate files), but the name does not "
                      "end in .hdr", hname, h.magic);
            goto done;
        }
        if (!img_path) {
            st = FAIL(VXA_ERR_OUT_OF_MEMORY, "%s: out of memory", hname);
            goto done;
        }
        if (!file_exists(img_path)) {
            st = FAIL(VXA_ERR_IO, "%s: image file %s: %s", hname, img_path, strerror(ENOENT));
            goto done;
        }
        if ((st = reader_open(&dr, img_path, err, errlen)) != VXA_OK) goto done;
        data = &dr;
    }
    const int64_t offset = (int64_t)h.vox_offset;
    if (!data->compressed) {
        if (offset > data->file_size) {
            st = FAIL(VXA_ERR_FORMAT, "%s: vox_offset = %lld is past the end of the file (%lld bytes)", data->name,
                      (long long)offset, (long long)data->file_size);
            goto done;
        }
        if ((uint64_t)(data->file_size - offset) < (uint64_t)bytes_needed) {
            st = FAIL(VXA_ERR_FORMAT, "%s: truncated data: %lldx%lldx%lldx%lld %s needs %zu bytes from vox_offset = "
                      "%lld, the file holds %lld", data->name, (long long)dim3[0], (long long)dim3[1],
                      (long long)dim3[2], (long long)channels, vxa_dtype_name((vxa_dtype)h.datatype), bytes_needed,
                      (long long)offset, (long long)(data->file_size - offset));
            goto done;
        }
    } else if ((double)offset + (double)bytes_needed > (double)data->file_size * DEFLATE_MAX_RATIO + 1024.0) {
        /* do not allocate what a small gzip file cannot hold */
        st = FAIL(VXA_ERR_FORMAT, "%s: truncated data: vox_offset = %lld and %lldx%lldx%lldx%lld %s (%zu bytes) need "
                  "more than a %lld-byte gzip file can hold", data->name, (long long)offset, (long long)dim3[0],
                  (long long)dim3[1], (long long)dim3[2], (long long)channels, vxa_dtype_name((vxa_dtype)h.datatype),
                  bytes_needed, (long long)data->file_size);
        goto done;
    }

    st = vxa_volume_alloc(dim3, channels, (vxa_dtype)h.datatype, &v);
    if (st != VXA_OK) {
        st = FAIL(st, "%s: cannot allocate %zu bytes for the data", hname, bytes_needed);
        goto done;
    }
    v->scl_slope = h.scl_slope;
    v->scl_inter = h.scl_inter;
    for (int a = 0; a < 3; a++)
        v->spacing[a] = (a + 1 <= h.dim[0] || (isfinite(h.pixdim[a + 1]) && h.pixdim[a + 1] > 0))
                            ? h.pixdim[a + 1] : 1.0;
    v->sform_code = h.sform_code;
    v->qform_code = h.qform_code;
    v->xyzt_units = h.xyzt_units;
    v->tr = h.pixdim[4];
    v->toffset = h.toffset;
    memcpy(v->descrip, h.descrip, sizeof v->descrip - 1);
    v->descrip[sizeof v->descrip - 1] = '\0';
    if ((st = interpret_header(hname, bytes, &h, dim3, v, err, errlen)) != VXA_OK) goto done;

    int r = reader_skip_to(data, offset, err, errlen);
    if (r < 0) { st = data->st; goto done; }
    if (r == 0) {
        st = FAIL(VXA_ERR_FORMAT, "%s: vox_offset = %lld is past the end of the data (%lld bytes)", data->name,
                  (long long)offset, (long long)data->pos);
        goto done;
    }
    int64_t got = reader_read(data, v->data, bytes_needed, "data", err, errlen);
    if (got < 0) { st = data->st; goto done; }
    if ((size_t)got < bytes_needed) {
        st = FAIL(VXA_ERR_FORMAT, "%s: truncated data: %lld of %zu bytes after vox_offset = %lld%s", data->name,
                  (long long)got, bytes_needed, (long long)offset,
                  data->compressed ? " (the gzip stream ends early)" : "");
        goto done;
    }
    /* every gzip stream read to its end, so that zlib checks its CRC32 and length (ISIZE): bytes after the
     * data (extensions, padding, a second member) are decompressed and dropped */
    if ((data->compressed && (st = reader_drain(data, err, errlen)) != VXA_OK) ||
        (h.pair && hr.compressed && (st = reader_drain(&hr, err, errlen)) != VXA_OK))
        goto done;
    if (h.swapped) swap_data(v->data, vxa_volume_voxels(v), vxa_dtype_size(v->dtype));
    if ((v->dtype == VXA_INT64 || v->dtype == VXA_UINT64) && (st = narrow_64bit(hname, v, err, errlen)) != VXA_OK)
        goto done;
done:
    if (st != VXA_OK) {
        vxa_volume_free(v);
        v = NULL;
    }
    reader_close(&hr);
    reader_close(&dr);
    free(hdr_path);
    free(img_path);
    *out = v;
    return st;
}

/* ---- writing --------------------------------------------------------------------------------------------- */

/* Fills a NIfTI-1 header for v. Codes are kept; if both are 0 but the affine is not diag(spacing), both are
 * written as 2 (NIFTI_XFORM_ALIGNED_ANAT): with codes 0 a reader falls back to diag(pixdim) and the
 * geometry would be lost. displacement (1 + a vxa_field_format): the channels are a vector (dim[5], dim[4] = 1,
 * dim[0] = 5) with intent_code NIFTI_INTENT_DISPVECT or NIFTI_INTENT_VECTOR, the layouts ITK reads as a
 * displacement field. */
static void fill_header(const vxa_volume *v, int displacement, nifti_1_header *h)
{
    memset(h, 0, sizeof *h);
    h->sizeof_hdr = N1_SIZE;
    h->dim[0] = displacement ? 5 : v->channels > 1 ? 4 : 3;
    for (int a = 0; a < 3; a++) h->dim[a + 1] = (short)v->dim[a];
    h->dim[4] = (short)(displacement ? 1 : v->channels);
    h->dim[5] = (short)(displacement ? v->channels : 1);
    h->dim[6] = h->dim[7] = 1;
    if (displacement)
        h->intent_code = displacement - 1 == VXA_FIELD_ITK_VECTOR ? NIFTI_INTENT_VECTOR : NIFTI_INTENT_DISPVECT;
    h->datatype = (short)v->dtype;
    h->bitpix = (short)(8 * vxa_dtype_size(v->dtype));
    for (int i = 0; i < 8; i++) h->pixdim[i] = 1.0f;
    for (int a = 0; a < 3; a++) h->pixdim[a + 1] = (float)v->spacing[a];
    h->pixdim[4] = (float)v->tr;
    h->vox_offset = (float)(N1_SIZE + 4);
    h->scl_slope = (float)v->scl_slope;
    h->scl_inter = (float)v->scl_inter;
    h->xyzt_units = (char)v->xyzt_units;
    h->toffset = (float)v->toffset;
    memcpy(h->descrip, v->descrip, strnlen(v->descrip, sizeof h->descrip - 1));

    int sform_code = v->sform_code, qform_code = v->qform_code;
    if (sform_code == 0 && qform_code == 0) {
        bool diag = true;
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) {
                const double want = r == c ? (r < 3 ? v->spacing[r] : 1.0) : 0.0;
                if (v->affine[r][c] != want) diag = false;
            }
        if (!diag) sform_code = qform_code = NIFTI_XFORM_ALIGNED_ANAT;
    }
    h->sform_code = (short)sform_code;
    h->qform_code = (short)qform_code;
    for (int c = 0; c < 4; c++) {
        h->srow_x[c] = (float)v->affine[0][c];
        h->srow_y[c] = (float)v->affine[1][c];
        h->srow_z[c] = (float)v->affine[2][c];
    }
    nifti_dmat44 R;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) R.m[r][c] = r < 3 ? v->affine[r][c] : (c == 3 ? 1.0 : 0.0);
    double qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac;
    nifti_dmat44_to_quatern(R, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac);
    h->quatern_b = (float)qb;
    h->quatern_c = (float)qc;
    h->quatern_d = (float)qd;
    h->qoffset_x = (float)qx;
    h->qoffset_y = (float)qy;
    h->qoffset_z = (float)qz;
    h->pixdim[0] = qfac < 0 ? -1.0f : 1.0f;
    memcpy(h->magic, "n+1", 4);
}

/* What cannot be written as NIfTI-1, or would not read back. */
static vxa_status check_writable(const char *path, const vxa_volume *v, char *err, size_t errlen)
{
    if (!v->data) return FAIL(VXA_ERR_INVALID_ARGUMENT, "%s: the volume has no data", path);
    if (vxa_dtype_size(v->dtype) == 0)
        return FAIL(VXA_ERR_INVALID_ARGUMENT, "%s: dtype = %d is not a voxaug type", path, (int)v->dtype);
    for (int a = 0; a < 4; a++) {
        const int64_t n = a < 3 ? v->dim[a] : v->channels;
        if (n < 1 || n > INT16_MAX)
            return FAIL(VXA_ERR_INVALID_ARGUMENT, "%s: %s = %lld, NIfTI-1 holds 1..32767", path,
                        (const char *const[]){ "nx", "ny", "nz", "channels" }[a], (long long)n);
    }
    if (vxa_volume_bytes(v) == 0) return FAIL(VXA_ERR_INVALID_ARGUMENT, "%s: the volume's size overflows", path);
    for (int a = 0; a < 3; a++)
        if (!isfinite(v->spacing[a]) || v->spacing[a] <= 0 || !isfinite((float)v->spacing[a]))
            return FAIL(VXA_ERR_INVALID_ARGUMENT, "%s: spacing[%d] = %g, expected a finite spacing > 0", path, a,
                        v->spacing[a]);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            if (!isfinite((float)v->affine[r][c]))
                return FAIL(VXA_ERR_INVALID_ARGUMENT, "%s: affine[%d][%d] = %g is not a finite float", path, r, c,
                            v->affine[r][c]);
    if (isfinite((float)v->scl_slope) && v->scl_slope != 0 && !isfinite((float)v->scl_inter))
        return FAIL(VXA_ERR_INVALID_ARGUMENT, "%s: scl_inter = %g with scl_slope = %g, expected a finite intercept",
                    path, v->scl_inter, v->scl_slope);
    return VXA_OK;
}

static vxa_status write_all_fd(int fd, const void *buf, size_t n, const char *name, char *err, size_t errlen)
{
    const char *p = buf;
    while (n > 0) {
        const ssize_t k = write(fd, p, n < GZ_CHUNK ? n : GZ_CHUNK);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return FAIL(VXA_ERR_IO, "%s: write failed: %s", name, k < 0 ? strerror(errno) : "no progress");
        p += k;
        n -= (size_t)k;
    }
    return VXA_OK;
}

static vxa_status write_all_gz(gzFile gz, const void *buf, size_t n, const char *name, char *err, size_t errlen)
{
    const char *p = buf;
    while (n > 0) {
        const unsigned want = (unsigned)(n < GZ_CHUNK ? n : GZ_CHUNK);
        if (gzwrite(gz, p, want) != (int)want) {
            int zerr = 0;
            const char *msg = gzerror(gz, &zerr);
            return FAIL(VXA_ERR_IO, "%s: compressed write failed: %s", name, zerr == Z_ERRNO ? strerror(errno) : msg);
        }
        p += want;
        n -= want;
    }
    return VXA_OK;
}

/* The name's ending decides the compression; fd (a commit's temporary) stays open for the caller's fsync. */
/* What is checked before a temporary is made: a name, a volume, a NIfTI ending, a writable volume. */
static vxa_status check_write(const char *name, const vxa_volume *v, char *err, size_t errlen)
{
    if (!name || !*name) return FAIL(VXA_ERR_INVALID_ARGUMENT, "vxa_nifti_write: no file name");
    if (!v) return FAIL(VXA_ERR_INVALID_ARGUMENT, "%s: no volume to write", name);
    vxa_status st = vxa_volume_check_size(NULL, err, errlen, v, "vxa_nifti_write: the volume");
    if (st != VXA_OK) return st;
    if (!vxa_dtype_is_storage(v->dtype))
        return FAIL(VXA_ERR_INVALID_ARGUMENT, "%s: dtype %s is output-only, not written to NIfTI", name,
                    vxa_dtype_name(v->dtype));
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    if (!(ends_with(name, ".nii.gz") || ends_with(name, ".nii")) || strcmp(base, ".nii") == 0 ||
        strcmp(base, ".nii.gz") == 0)
        return FAIL(VXA_ERR_INVALID_ARGUMENT, "%s: the name must end in .nii or .nii.gz", name);
    return check_writable(name, v, err, errlen);
}

vxa_status vxa_nifti_header_bytes(const char *name, const vxa_volume *v, unsigned char out[VXA_NIFTI_HEADER_BYTES],
                                  char *err, size_t errlen)
{
    vxa_status st = check_write(name, v, err, errlen);
    if (st != VXA_OK) return st;
    nifti_1_header h;
    fill_header(v, 0, &h);
    memcpy(out, &h, sizeof h);
    memset(out + sizeof h, 0, VXA_NIFTI_HEADER_BYTES - sizeof h); /* the extender: no extensions */
    return VXA_OK;
}

/* A displacement field: 3 float channels, a known format. */
static vxa_status check_displacement(const char *name, const vxa_volume *v, int format, char *err, size_t errlen)
{
    if (v->channels != 3 || (v->dtype != VXA_FLOAT32 && v->dtype != VXA_FLOAT64))
        return FAIL(VXA_ERR_INVALID_ARGUMENT, "%s: a displacement field has 3 float32 or float64 channels, not %lld "
                    "of %s", name, (long long)v->channels, vxa_dtype_name(v->dtype));
    if (format != VXA_FIELD_DISPVECT && format != VXA_FIELD_ITK_VECTOR)
        return FAIL(VXA_ERR_INVALID_ARGUMENT, "%s: displacement field format %d, expected VXA_FIELD_DISPVECT (0) or "
                    "VXA_FIELD_ITK_VECTOR (1)", name, format);
    return VXA_OK;
}

/* displacement: 0 a plain volume, else 1 + the vxa_field_format of a displacement field. */
/* Header and data of v (a plain volume, or a displacement field: 1 + its vxa_field_format) to fd, checked. */
static vxa_status write_body(int fd, const char *name, const vxa_volume *v, int displacement, char *err,
                             size_t errlen)
{
    vxa_status st = VXA_OK;
    const bool compress = ends_with(name, ".nii.gz");

    nifti_1_header h;
    fill_header(v, displacement, &h);
    static const char extender[4] = { 0, 0, 0, 0 };
    if (!compress) {
        if ((st = write_all_fd(fd, &h, sizeof h, name, err, errlen)) != VXA_OK ||
            (st = write_all_fd(fd, extender, sizeof extender, name, err, errlen)) != VXA_OK)
            return st;
        return write_all_fd(fd, v->data, vxa_volume_bytes(v), name, err, errlen);
    }
    const int zfd = dup(fd); /* zlib closes its own; the commit keeps fd for fsync */
    gzFile gz = zfd >= 0 ? gzdopen(zfd, GZ_WRITE_MODE) : NULL;
    if (!gz) {
        if (zfd >= 0) close(zfd);
        return FAIL(VXA_ERR_OUT_OF_MEMORY, "%s: zlib could not start a compressed stream", name);
    }
    if ((st = write_all_gz(gz, &h, sizeof h, name, err, errlen)) != VXA_OK ||
        (st = write_all_gz(gz, extender, sizeof extender, name, err, errlen)) != VXA_OK ||
        (st = write_all_gz(gz, v->data, vxa_volume_bytes(v), name, err, errlen)) != VXA_OK) {
        gzclose_w(gz);
        return st;
    }
    errno = 0;
    const int zst = gzclose_w(gz);
    if (zst != Z_OK)
        return FAIL(VXA_ERR_IO, "%s: finishing the compressed stream failed: %s", name,
                    zst == Z_ERRNO && errno ? strerror(errno) : "zlib error");
    return VXA_OK;
}

static vxa_status write_fd(int fd, const char *name, const vxa_volume *v, int displacement, char *err,
                           size_t errlen)
{
    vxa_status st = VXA_OK;
    if ((st = check_write(name, v, err, errlen)) != VXA_OK) return st;
    if (displacement && (st = check_displacement(name, v, displacement - 1, err, errlen)) != VXA_OK) return st;
    if (displacement - 1 != VXA_FIELD_ITK_VECTOR) return write_body(fd, name, v, displacement, err, errlen);
    /* the vectors in ITK's LPS frame: x and y negated, in a copy */
    vxa_volume *lps = NULL;
    if (vxa_volume_clone(v, &lps) != VXA_OK) return FAIL(VXA_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    const size_t n = 2 * (size_t)(v->dim[0] * v->dim[1] * v->dim[2]);
    for (size_t i = 0; i < n; i++) {
        if (v->dtype == VXA_FLOAT32) ((float *)lps->data)[i] = -((float *)lps->data)[i];
        else ((double *)lps->data)[i] = -((double *)lps->data)[i];
    }
    st = write_body(fd, name, lps, displacement, err, errlen);
    vxa_volume_free(lps);
    return st;
}

vxa_status vxa_nifti_write_fd(int fd, const char *name, const vxa_volume *v, char *err, size_t errlen)
{
    return write_fd(fd, name, v, 0, err, errlen);
}

vxa_status vxa_nifti_write_fd_displacement(int fd, const char *name, const vxa_volume *v, vxa_field_format format,
                                           char *err, size_t errlen)
{
    return write_fd(fd, name, v, 1 + (int)format, err, errlen);
}

static vxa_status write_file(const char *path, const vxa_volume *v, int displacement, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    vxa_status st = check_write(path, v, err, errlen);
    if (st == VXA_OK && displacement) st = check_displacement(path, v, displacement - 1, err, errlen);
    if (st != VXA_OK) return st;
    vxa_commit c;
    vxa_commit_init(&c);
    const int i = vxa_commit_add(&c, path, err, errlen);
    if (i < 0) return VXA_ERR_IO;
    if ((st = write_fd(c.f[i].fd, path, v, displacement, err, errlen)) != VXA_OK) {
        vxa_commit_abort(&c);
        return st;
    }
    return vxa_commit_all(&c, err, errlen);
}

vxa_status vxa_nifti_write(const char *path, const vxa_volume *v, char *err, size_t errlen)
{
    return write_file(path, v, 0, err, errlen);
}

vxa_status vxa_nifti_write_displacement(const char *path, const vxa_volume *v, vxa_field_format format, char *err,
                                        size_t errlen)
{
    return write_file(path, v, 1 + (int)format, err, errlen);
}

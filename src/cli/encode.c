/* SPDX-License-Identifier: MIT */
/* A NIfTI file encoded in memory, for augment's writers: header and data, gzip-compressed at a chosen level
 * (zlib, or libdeflate where the build has it: whole-buffer, faster at the same level), and its SHA-256 for the
 * manifest. The output is one standard gzip member (mtime 0, so the same volume gives the same bytes). */
#include "cli.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#ifdef VXA_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

int cli_have_libdeflate(void)
{
#ifdef VXA_HAVE_LIBDEFLATE
    return 1;
#else
    return 0;
#endif
}

static vxa_status gzip_zlib(const unsigned char *in, size_t n, int level, cli_bytes *out, const char *name, char *err,
                            size_t errlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    /* windowBits 15 + 16: a gzip wrapper with mtime 0 and no name */
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        snprintf(err, errlen, "%s: zlib could not start a compressed stream", name);
        return VXA_ERR_OUT_OF_MEMORY;
    }
    const size_t cap = deflateBound(&z, (uLong)n);
    out->data = malloc(cap);
    if (!out->data) {
        deflateEnd(&z);
        snprintf(err, errlen, "%s: out of memory for the compressed data (%zu bytes)", name, cap);
        return VXA_ERR_OUT_OF_MEMORY;
    }
    z.next_in = (Bytef *)in;
    z.next_out = out->data;
    int zr = Z_OK;
    size_t left_in = n, left_out = cap;
    do { /* avail_in/avail_out are 32-bit: feed in pieces */
        const uInt a = left_in > (1u << 30) ? 1u << 30 : (uInt)left_in;
        const uInt b = left_out > (1u << 30) ? 1u << 30 : (uInt)left_out;
        z.avail_in = a;
        z.avail_out = b;
        zr = deflate(&z, left_in == a ? Z_FINISH : Z_NO_FLUSH);
        left_in -= a - z.avail_in;
        left_out -= b - z.avail_out;
    } while (zr == Z_OK);
    out->len = cap - left_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END) {
        free(out->data);
        out->data = NULL;
        snprintf(err, errlen, "%s: zlib compression failed (%d)", name, zr);
        return VXA_ERR_IO;
    }
    return VXA_OK;
}

#ifdef VXA_HAVE_LIBDEFLATE
static vxa_status gzip_libdeflate(const unsigned char *in, size_t n, int level, cli_bytes *out, const char *name,
                                  char *err, size_t errlen)
{
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
    const size_t cap = c ? libdeflate_gzip_compress_bound(c, n) : 0;
    out->data = c ? malloc(cap) : NULL;
    out->len = out->data ? libdeflate_gzip_compress(c, in, n, out->data, cap) : 0;
    if (c) libdeflate_free_compressor(c);
    if (out->len == 0) {
        free(out->data);
        out->data = NULL;
        snprintf(err, errlen, "%s: libdeflate compression failed (out of memory?)", name);
        return VXA_ERR_OUT_OF_MEMORY;
    }
    return VXA_OK;
}
#endif

vxa_status cli_encode_nifti(const char *name, const vxa_volume *v, const cli_encoding *enc, cli_bytes *out, char *err,
                            size_t errlen)
{
    memset(out, 0, sizeof *out);
    unsigned char head[VXA_NIFTI_HEADER_BYTES];
    vxa_status st = vxa_nifti_header_bytes(name, v, head, err, errlen);
    if (st != VXA_OK) return st;
    const size_t bytes = vxa_volume_bytes(v), n = sizeof head + bytes;
    unsigned char *raw = malloc(n);
    if (!raw) {
        snprintf(err, errlen, "%s: out of memory (%zu bytes)", name, n);
        return VXA_ERR_OUT_OF_MEMORY;
    }
    memcpy(raw, head, sizeof head);
    memcpy(raw + sizeof head, v->data, bytes);
    const size_t len = strlen(name);
    if (len > 7 && strcmp(name + len - 7, ".nii.gz") == 0) {
#ifdef VXA_HAVE_LIBDEFLATE
        st = enc->zlib ? gzip_zlib(raw, n, enc->level, out, name, err, errlen)
                       : gzip_libdeflate(raw, n, enc->level, out, name, err, errlen);
#else
        st = gzip_zlib(raw, n, enc->level, out, name, err, errlen);
#endif
        free(raw);
        if (st != VXA_OK) return st;
    } else {
        out->data = raw;
        out->len = n;
    }
    vxa_sha256 h;
    vxa_sha256_init(&h);
    vxa_sha256_update(&h, out->data, out->len);
    vxa_sha256_hex(&h, out->sha256);
    return VXA_OK;
}

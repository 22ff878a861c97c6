/* SPDX-License-Identifier: MIT */
/* SHA-256 (FIPS 180-4), streaming: init, update as often as needed, then hex (64 digits and a NUL). */
#ifndef VXA_SHA256_H
#define VXA_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct { uint32_t h[8]; uint64_t len; unsigned char buf[64]; size_t fill; } vxa_sha256;
void vxa_sha256_init(vxa_sha256 *s);
void vxa_sha256_update(vxa_sha256 *s, const void *data, size_t n);
void vxa_sha256_hex(vxa_sha256 *s, char out[65]);
#endif

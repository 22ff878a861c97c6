/* SPDX-License-Identifier: MIT */
/* Status text, error detail, launch counting, version. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#define VXA_STATUS_TEXT(name, text) text,
#define VXA_STATUS_NAME(name, text) #name,
static const char *const status_text[] = { VXA_STATUS_LIST(VXA_STATUS_TEXT) };
static const char *const status_names[] = { VXA_STATUS_LIST(VXA_STATUS_NAME) };

const char *vxa_status_string(vxa_status st)
{
    return (unsigned)st < VXA_STATUS_COUNT ? status_text[st] : "unknown status";
}

const char *vxa_status_name(vxa_status st)
{
    return (unsigned)st < VXA_STATUS_COUNT ? status_names[st] : "VXA_ERR_UNKNOWN";
}

unsigned vxa_version_number(void)
{
    return VXA_VERSION_MAJOR * 10000u + VXA_VERSION_MINOR * 100u + VXA_VERSION_PATCH;
}

const char *vxa_version_string(void) { return VXA_VERSION_STRING; }

vxa_status vxa_fail(vxa_context *ctx, vxa_status st, const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
        va_end(ap);
        if (ctx->log) ctx->log(ctx->log_user, VXA_LOG_ERROR, ctx->error);
    }
    return st;
}

void vxa_log(vxa_context *ctx, vxa_log_level level, const char *fmt, ...)
{
    if (!ctx || !ctx->log || level > ctx->log_level) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ctx->log(ctx->log_user, level, line);
}

vxa_status vxa_abi_import(vxa_context *ctx, char *err, size_t errlen, void *dst, size_t dst_size,
                          const void *src, size_t min_size, const char *what)
{
    size_t size;
    memcpy(&size, src, sizeof size);
    if (size < min_size) {
        const char *fmt = "%s.size = %zu, expected at least %zu: initialise it with its _init function";
        return ctx ? vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, fmt, what, size, min_size)
                   : vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, fmt, what, size, min_size);
    }
    for (size_t b = dst_size; b < size; b++) /* a newer caller's fields: only zero (unset) ones are honoured */
        if (((const unsigned char *)src)[b] != 0) {
            const char *fmt = "%s.size = %zu from a newer voxaug.h: byte %zu is set, and voxaug %s knows %zu bytes";
            return ctx ? vxa_fail(ctx, VXA_ERR_UNSUPPORTED, fmt, what, size, b, VXA_VERSION_STRING, dst_size)
                       : vxa_fail_buf(err, errlen, VXA_ERR_UNSUPPORTED, fmt, what, size, b, VXA_VERSION_STRING,
                                      dst_size);
        }
    const size_t n = size < dst_size ? size : dst_size;
    memcpy(dst, src, n);
    memset((unsigned char *)dst + n, 0, dst_size - n);
    memcpy(dst, &dst_size, sizeof dst_size);
    return VXA_OK;
}

vxa_status vxa_volume_check_size(vxa_context *ctx, char *err, size_t errlen, const vxa_volume *v, const char *what)
{
    vxa_volume full;  /* only for the check: the volume is read in place */
    return vxa_abi_import(ctx, err, errlen, &full, sizeof full, v, VXA_VOLUME_SIZE_V1, what);
}

vxa_status vxa_fail_buf(char *err, size_t errlen, vxa_status st, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

void vxa_count_launch(vxa_context *ctx, const char *name)
{
    int free_slot = -1;
    for (int i = 0; i < VXA_MAX_LAUNCH_NAMES; i++) {
        if (ctx->launches[i].name[0] == '\0') {
            if (free_slot < 0) free_slot = i;
            continue;
        }
        if (strcmp(ctx->launches[i].name, name) == 0) {
            ctx->launches[i].count++;
            return;
        }
    }
    if (free_slot >= 0) {
        snprintf(ctx->launches[free_slot].name, sizeof ctx->launches[free_slot].name, "%s", name);
        ctx->launches[free_slot].count = 1;
    }
}

uint64_t vxa_context_launches(const vxa_context *ctx, const char *prefix)
{
    uint64_t n = 0;
    size_t len = prefix ? strlen(prefix) : 0;
    for (int i = 0; ctx && i < VXA_MAX_LAUNCH_NAMES; i++)
        if (ctx->launches[i].name[0] && strncmp(ctx->launches[i].name, prefix ? prefix : "", len) == 0)
            n += ctx->launches[i].count;
    return n;
}

const char *vxa_last_error(const vxa_context *ctx) { return ctx ? ctx->error : "no context"; }

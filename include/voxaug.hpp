// SPDX-License-Identifier: MIT
// voxaug for C++17, header-only over the C API of voxaug.h: RAII handles (move-only, released in their
// destructors), exceptions that carry the status and the library's message, buffers as pointer + count with
// their dtype deduced. Threading is that of voxaug.h: a vxa::context is used by one thread at a time, a
// vxa::pipeline may be shared by any number of threads (each with its own context).
//
//     vxa::context ctx;                                   // $VOXAUG_DEVICE, else a GPU, else the CPU
//     vxa::pipeline p("flip(axes=0) rotate([-10,10], plane=0,1) zscore crop(96,96,96)");
//     vxa::volume img = vxa::volume::read("ch2.nii.gz");
//     std::vector<float> batch(8 * p.output_voxels(*img));
//     vxa::run_options ro;
//     ro.seed = 1;                                       // samples 0..7 of seed 1
//     ctx.run_batch_into(p, ro, std::vector<const vxa_volume *>(8, img.get()),
//                        vxa::buffer(batch.data(), batch.size()));
//
//     vxa::resident subj = ctx.upload(*img);             // one upload, many patches (nnU-Net's loader)
//     ctx.run_into(p, ro, subj, 8, vxa::buffer(batch.data(), batch.size()));
#ifndef VOXAUG_HPP
#define VOXAUG_HPP

#include "voxaug.h"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace vxa {

// A failed call: status() is the vxa_status, what() "<call>: <VXA_ERR_...>: <detail>".
class error : public std::runtime_error {
public:
    error(vxa_status st, const std::string &what) : std::runtime_error(what), status_(st) {}
    vxa_status status() const noexcept { return status_; }

private:
    vxa_status status_;
};

namespace detail {
inline void check(vxa_status st, const char *call, const char *detail)
{
    if (st != VXA_OK)
        throw error(st, std::string(call) + ": " + vxa_status_name(st) + ": " + (detail && *detail ? detail
                                                                                   : vxa_status_string(st)));
}
struct volume_free { void operator()(vxa_volume *v) const noexcept { vxa_volume_free(v); } };
struct draw_free { void operator()(vxa_draw *d) const noexcept { vxa_draw_free(d); } };
}  // namespace detail

// The element type of T for buffers: float, the integer types. float16/bfloat16 have no C++17 type: pass
// their storage (std::uint16_t *) with an explicit dtype to vxa::buffer.
template <class T> constexpr vxa_dtype dtype_of()
{
    if constexpr (std::is_same_v<T, float>) return VXA_FLOAT32;
    else if constexpr (std::is_same_v<T, double>) return VXA_FLOAT64;
    else if constexpr (std::is_same_v<T, std::uint8_t>) return VXA_UINT8;
    else if constexpr (std::is_same_v<T, std::int8_t>) return VXA_INT8;
    else if constexpr (std::is_same_v<T, std::int16_t>) return VXA_INT16;
    else if constexpr (std::is_same_v<T, std::uint16_t>) return VXA_UINT16;
    else if constexpr (std::is_same_v<T, std::int32_t>) return VXA_INT32;
    else if constexpr (std::is_same_v<T, std::uint32_t>) return VXA_UINT32;
    else if constexpr (std::is_same_v<T, std::int64_t>) return VXA_INT64;
    else if constexpr (std::is_same_v<T, std::uint64_t>) return VXA_UINT64;
    else static_assert(sizeof(T) == 0, "no vxa_dtype for this type");
}

// The caller's memory for outputs: `count` elements at data (a span's pointer and size). Strides in elements of
// i, j, k, channel, sample; all 0 (the default) = dense, a C-contiguous [n][c][nz][ny][nx] array (voxaug.h).
template <class T>
vxa_buffer buffer(T *data, std::size_t count, const std::array<std::int64_t, 5> &stride = {})
{
    vxa_buffer b;
    vxa_buffer_init(&b, data, count * sizeof(T), dtype_of<T>());
    for (int a = 0; a < 5; a++) b.stride[a] = stride[a];
    return b;
}
// The same for a dtype without a C++ type (VXA_FLOAT16, VXA_BFLOAT16: 16-bit storage).
inline vxa_buffer buffer(void *data, std::size_t bytes, vxa_dtype dtype, const std::array<std::int64_t, 5> &stride = {})
{
    vxa_buffer b;
    vxa_buffer_init(&b, data, bytes, dtype);
    for (int a = 0; a < 5; a++) b.stride[a] = stride[a];
    return b;
}

// A volume the library allocated (read, phantom, a run's output); the vxa_volume is get()/operator->.
class volume {
public:
    volume() = default;
    explicit volume(vxa_volume *owned) : v_(owned) {}
    static volume read(const std::string &path)
    {
        char err[2048] = "";
        vxa_volume *v = nullptr;
        detail::check(vxa_nifti_read(path.c_str(), &v, err, sizeof err), "vxa_nifti_read", err);
        return volume(v);
    }
    static volume alloc(const std::array<std::int64_t, 3> &dim, std::int64_t channels, vxa_dtype dtype)
    {
        vxa_volume *v = nullptr;
        detail::check(vxa_volume_alloc(dim.data(), channels, dtype, &v), "vxa_volume_alloc", nullptr);
        return volume(v);
    }
    // The Shepp-Logan phantom and its label map.
    static std::pair<volume, volume> phantom(const std::array<std::int64_t, 3> &dim)
    {
        vxa_volume *img = nullptr, *lab = nullptr;
        detail::check(vxa_phantom(dim.data(), &img, &lab), "vxa_phantom", nullptr);
        return { volume(img), volume(lab) };
    }
    void write(const std::string &path) const
    {
        char err[2048] = "";
        detail::check(vxa_nifti_write(path.c_str(), v_.get(), err, sizeof err), "vxa_nifti_write", err);
    }
    vxa_volume *get() const noexcept { return v_.get(); }
    vxa_volume *operator->() const noexcept { return v_.get(); }
    const vxa_volume &operator*() const noexcept { return *v_; }
    explicit operator bool() const noexcept { return static_cast<bool>(v_); }
    std::size_t voxels() const noexcept { return vxa_volume_voxels(v_.get()); }
    vxa_volume *release() noexcept { return v_.release(); }

private:
    std::unique_ptr<vxa_volume, detail::volume_free> v_;
};

// A parsed pipeline: immutable, shareable between threads (each with its own context).
class pipeline {
public:
    explicit pipeline(const std::string &spec)
    {
        char err[1024] = "";
        vxa_pipeline *p = nullptr;
        detail::check(vxa_pipeline_parse(spec.c_str(), &p, err, sizeof err), "vxa_pipeline_parse", err);
        p_.reset(p);
    }
    const vxa_pipeline *get() const noexcept { return p_.get(); }
    std::string str() const { return vxa_pipeline_string(p_.get()); }
    // The output's shape and geometry for an input (data NULL, float32).
    vxa_volume output_shape(const vxa_volume &in) const
    {
        vxa_volume out;
        vxa_volume_init(&out, in.dim, in.channels, VXA_FLOAT32);
        detail::check(vxa_pipeline_output_shape(p_.get(), &in, &out), "vxa_pipeline_output_shape", nullptr);
        return out;
    }
    // Voxels of one output (all channels): the element count of one sample's buffer.
    std::size_t output_voxels(const vxa_volume &in) const
    {
        vxa_volume out = output_shape(in);
        return vxa_volume_voxels(&out);
    }

private:
    struct free_fn { void operator()(vxa_pipeline *p) const noexcept { vxa_pipeline_free(p); } };
    std::unique_ptr<vxa_pipeline, free_fn> p_;
};

// What one run draws: seed, sample, sample index of the batch; a cancel hook (return true to stop, checked
// before each pass; the run throws vxa::error with VXA_ERR_CANCELLED).
struct run_options {
    std::uint64_t seed = 0, sample = 0;
    std::function<bool()> cancel;
};

// What a run into host volumes gives.
struct result {
    volume image, label;
    std::string draw;  // vxa_draw_json
};

// A subject resident on a context's device (vxa_resident_create): uploaded once, any number of samples run from
// it (context::run, context::run_into with a resident). Made by context::upload; move-only; destroy it before its
// context (one destroyed first releases the memory, and the resident can only be destroyed).
class resident {
public:
    resident() = default;
    explicit resident(vxa_resident *owned) : r_(owned) {}
    vxa_resident *get() const noexcept { return r_.get(); }
    explicit operator bool() const noexcept { return static_cast<bool>(r_); }
    // The header of the image (or of the label map; nullptr without one), data NULL.
    const vxa_volume *image() const noexcept { return vxa_resident_volume(r_.get(), 0); }
    const vxa_volume *label() const noexcept { return vxa_resident_volume(r_.get(), 1); }

private:
    struct free_fn { void operator()(vxa_resident *r) const noexcept { vxa_resident_free(r); } };
    std::unique_ptr<vxa_resident, free_fn> r_;
};

struct context_options {
    std::string device;       // "" = $VOXAUG_DEVICE, else prefer a GPU; "cpu", "gpu", "reference", a name
    std::string kernel_dir;   // "" = embedded kernels
    std::uint64_t max_alloc = 0;
    std::function<void(vxa_log_level, const char *)> log;  // called on the calling thread; must not throw
    vxa_log_level log_level = VXA_LOG_ERROR;
};

// A device context: one thread at a time. Move-only.
class context {
public:
    context() : context(context_options{}) {}
    explicit context(context_options opt) : log_(std::make_unique<context_options>(std::move(opt)))
    {
        vxa_context_options o;
        vxa_context_options_init(&o);
        o.device = log_->device.empty() ? nullptr : log_->device.c_str();
        o.kernel_dir = log_->kernel_dir.empty() ? nullptr : log_->kernel_dir.c_str();
        o.max_alloc = log_->max_alloc;
        if (log_->log) {
            o.log = [](void *user, vxa_log_level level, const char *msg) {
                static_cast<context_options *>(user)->log(level, msg);
            };
            o.log_user = log_.get();  // on the heap: stays put when the context moves
            o.log_level = log_->log_level;
        }
        vxa_context *c = nullptr;
        const vxa_status st = vxa_context_create(&o, &c);
        c_.reset(c);
        if (st != VXA_OK) detail::check(st, "vxa_context_create", c ? vxa_last_error(c) : nullptr);
    }
    vxa_context *get() const noexcept { return c_.get(); }
    std::string device_name() const { return vxa_context_device_name(c_.get()); }
    void trim() noexcept { vxa_context_trim(c_.get()); }

    result run(const pipeline &p, const run_options &ro, const vxa_volume &image, const vxa_volume *label = nullptr)
    {
        hook h(ro);
        vxa_volume *oi = nullptr, *ol = nullptr;
        vxa_draw *d = nullptr;
        check(vxa_pipeline_run_ex(c_.get(), p.get(), &h.o, &image, label, &oi, label ? &ol : nullptr, &d),
              "vxa_pipeline_run_ex");
        std::unique_ptr<vxa_draw, detail::draw_free> draw(d);
        return { volume(oi), volume(ol), vxa_draw_json(d) };
    }
    // One sample into the caller's buffers (see vxa::buffer); out_label only with a label map.
    void run_into(const pipeline &p, const run_options &ro, const vxa_volume &image, const vxa_buffer &out_image,
                  const vxa_volume *label = nullptr, const vxa_buffer *out_label = nullptr)
    {
        hook h(ro);
        check(vxa_pipeline_run_into(c_.get(), p.get(), &h.o, &image, label, &out_image, out_label, nullptr),
              "vxa_pipeline_run_into");
    }
    // A batch of images.size() samples (ro.sample, ro.sample + 1, ...) into one buffer each; labels empty or
    // one per image.
    void run_batch_into(const pipeline &p, const run_options &ro, const std::vector<const vxa_volume *> &images,
                        const vxa_buffer &out_image, const std::vector<const vxa_volume *> &labels = {},
                        const vxa_buffer *out_label = nullptr)
    {
        if (!labels.empty() && labels.size() != images.size())
            throw error(VXA_ERR_INVALID_ARGUMENT, "vxa::context::run_batch_into: labels.size() != images.size()");
        hook h(ro);
        check(vxa_pipeline_run_batch_into(c_.get(), p.get(), &h.o, images.size(), images.data(),
                                          labels.empty() ? nullptr : labels.data(), &out_image, out_label, nullptr),
              "vxa_pipeline_run_batch_into");
    }

    // Uploads a subject once (image channels and an optional label map). async: on a GPU the copy runs on the
    // transfer queue while the caller goes on (the next subject up while this one's samples run); the caller's
    // data must then stay unchanged until the first run from the resident returns.
    resident upload(const vxa_volume &image, const vxa_volume *label = nullptr, bool async = false)
    {
        vxa_resident_options o;
        vxa_resident_options_init(&o);
        o.async_upload = async ? 1 : 0;
        vxa_resident *r = nullptr;
        check(vxa_resident_create(c_.get(), &image, label, &o, &r), "vxa_resident_create");
        return resident(r);
    }
    // One sample from a resident subject; with_label false leaves its label map out (result.label empty).
    result run(const pipeline &p, const run_options &ro, resident &r, bool with_label = true)
    {
        hook h(ro);
        vxa_volume *oi = nullptr, *ol = nullptr;
        vxa_draw *d = nullptr;
        const bool lab = with_label && r.label();
        check(vxa_pipeline_run_resident(c_.get(), p.get(), &h.o, r.get(), &oi, lab ? &ol : nullptr, &d),
              "vxa_pipeline_run_resident");
        std::unique_ptr<vxa_draw, detail::draw_free> draw(d);
        return { volume(oi), volume(ol), vxa_draw_json(d) };
    }
    // n samples (ro.sample, ro.sample + 1, ...) from a resident subject into one buffer each (sample s at
    // stride[4] * s; dense: one after another); out_label nullptr leaves the label map out.
    void run_into(const pipeline &p, const run_options &ro, resident &r, std::size_t n, const vxa_buffer &out_image,
                  const vxa_buffer *out_label = nullptr)
    {
        hook h(ro);
        check(vxa_pipeline_run_resident_into(c_.get(), p.get(), &h.o, r.get(), n, &out_image, out_label, nullptr),
              "vxa_pipeline_run_resident_into");
    }

private:
    // The C options of a run, with the std::function cancel hook behind a C trampoline.
    struct hook {
        vxa_run_options o;
        const std::function<bool()> *cancel;
        explicit hook(const run_options &ro) : cancel(&ro.cancel)
        {
            vxa_run_options_init(&o);
            o.seed = ro.seed;
            o.sample = ro.sample;
            if (ro.cancel) {
                o.cancel = [](void *user) -> int { // no exception may cross the C library: one stops the run
                    try { return (*static_cast<const std::function<bool()> *>(user))() ? 1 : 0; }
                    catch (...) { return 1; }
                };
                o.cancel_user = const_cast<std::function<bool()> *>(cancel);
            }
        }
    };
    void check(vxa_status st, const char *call) const { detail::check(st, call, vxa_last_error(c_.get())); }
    struct destroy_fn { void operator()(vxa_context *c) const noexcept { vxa_context_destroy(c); } };
    std::unique_ptr<context_options> log_;
    std::unique_ptr<vxa_context, destroy_fn> c_;
};

}  // namespace vxa

#endif  // VOXAUG_HPP

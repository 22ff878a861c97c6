// SPDX-License-Identifier: MIT
// A training loop fed by a prefetching loader thread. The loader owns its own vxa_context (a context is used
// by one thread at a time), draws sample i of the epoch's seed, and hands finished volumes over a bounded
// queue, so augmentation of the next batch overlaps the "training step" of this one.
//
//   prefetch_loader [IMAGE.nii.gz [LABEL.nii.gz]]      (no arguments: the built-in phantom)
#include <voxaug.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

struct VolumeDeleter { void operator()(vxa_volume *v) const { vxa_volume_free(v); } };
using Volume = std::unique_ptr<vxa_volume, VolumeDeleter>;

struct Sample { Volume image, label; std::string params; };

// A bounded queue: the loader blocks when `capacity` samples wait, the trainer when none does.
class Queue {
public:
    explicit Queue(size_t capacity) : capacity_(capacity) {}
    void push(Sample s) {
        std::unique_lock<std::mutex> lk(m_);
        not_full_.wait(lk, [&] { return q_.size() < capacity_; });
        q_.push_back(std::move(s));
        not_empty_.notify_one();
    }
    Sample pop() {
        std::unique_lock<std::mutex> lk(m_);
        not_empty_.wait(lk, [&] { return !q_.empty(); });
        Sample s = std::move(q_.front());
        q_.pop_front();
        not_full_.notify_one();
        return s;
    }
private:
    size_t capacity_;
    std::mutex m_;
    std::condition_variable not_full_, not_empty_;
    std::deque<Sample> q_;
};

void check(vxa_status st, const char *what, const vxa_context *ctx = nullptr) {
    if (st != VXA_OK)
        throw std::runtime_error(std::string(what) + ": " + vxa_status_string(st) +
                                 (ctx ? std::string(": ") + vxa_last_error(ctx) : std::string()));
}

}  // namespace

int main(int argc, char **argv) try {
    char err[4096] = "";
    Volume image, label;
    vxa_volume *img = nullptr, *lab = nullptr;
    if (argc > 1) {
        check(vxa_nifti_read(argv[1], &img, err, sizeof err), err);
        if (argc > 2) check(vxa_nifti_read(argv[2], &lab, err, sizeof err), err);
    } else {
        const int64_t dim[3] = {96, 96, 96};
        check(vxa_phantom(dim, &img, &lab), "phantom");
    }
    image.reset(img);
    label.reset(lab);

    vxa_pipeline *raw = nullptr;
    const char *spec = "flip(axes=0, p=0.5) rotate([-10,10], plane=0,1) zoom([0.9,1.1]) zscore(nonzero=1)";
    check(vxa_pipeline_parse(spec, &raw, err, sizeof err), err);
    std::unique_ptr<vxa_pipeline, void (*)(vxa_pipeline *)> pipeline(raw, vxa_pipeline_free);

    const int batches = 4, batch_size = 4;
    const uint64_t seed = 2026;
    Queue queue(2 * batch_size);

    std::thread loader([&] {
        vxa_context *ctx = nullptr;
        vxa_status st = vxa_context_create(nullptr, &ctx);  // VOXAUG_DEVICE chooses; default prefers a GPU
        for (int i = 0; i < batches * batch_size; i++) {
            Sample s;
            vxa_volume *oi = nullptr, *ol = nullptr;
            vxa_draw *draw = nullptr;
            if (st == VXA_OK)
                st = vxa_pipeline_run(ctx, pipeline.get(), seed, (uint64_t)i, image.get(), label.get(), &oi,
                                      label ? &ol : nullptr, &draw);
            if (st != VXA_OK) {  // an empty sample tells the trainer to stop
                std::fprintf(stderr, "loader: %s\n", ctx ? vxa_last_error(ctx) : vxa_status_string(st));
                queue.push(Sample{});
                break;
            }
            s.image.reset(oi);
            s.label.reset(ol);
            s.params = vxa_draw_json(draw);
            vxa_draw_free(draw);
            queue.push(std::move(s));
        }
        vxa_context_destroy(ctx);
    });

    int seen = 0;
    for (int b = 0; b < batches; b++) {
        double sum = 0.0;
        for (int k = 0; k < batch_size; k++) {
            Sample s = queue.pop();
            if (!s.image) { loader.join(); return 1; }
            const vxa_volume *v = s.image.get();
            sum += vxa_volume_get(v, v->dim[0] / 2, v->dim[1] / 2, v->dim[2] / 2, 0);
            seen++;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the "training step"
        std::printf("batch %d: %d volumes, mean centre value %.4f\n", b, batch_size, sum / batch_size);
    }
    loader.join();
    std::printf("%d augmented volumes consumed\n", seen);
    return 0;
} catch (const std::exception &e) {
    std::fprintf(stderr, "prefetch_loader: %s\n", e.what());
    return 1;
}

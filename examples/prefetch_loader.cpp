// SPDX-License-Identifier: MIT
// A training loop fed by a prefetching loader thread, through voxaug.hpp. The loader owns its own
// vxa::context (a context is used by one thread at a time; the pipeline is shared) and writes each batch
// straight into one of two preallocated batch slots (vxa_pipeline_run_batch_into: no per-sample allocation,
// no copy on this side); the trainer consumes the other slot meanwhile. A slot goes back to the loader once
// the trainer is done with it.
//
//   prefetch_loader [IMAGE.nii.gz [LABEL.nii.gz]]      (no arguments: the built-in phantom)
#include <voxaug.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace {

// One batch's memory: images as float32 [n][c][nz][ny][nx], labels as int64 (what a loss function takes).
struct Slot {
    std::vector<float> image;
    std::vector<std::int64_t> label;
    int batch = -1;                 // which batch it holds; -1: the loader failed, stop
};

// Slot indices passed between the two threads: `ready` to the trainer, `free` back to the loader.
class Handoff {
public:
    void put(std::deque<int> &q, int i) {
        { std::lock_guard<std::mutex> lk(m_); q.push_back(i); }
        cv_.notify_all();
    }
    int take(std::deque<int> &q) {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return !q.empty(); });
        int i = q.front();
        q.pop_front();
        return i;
    }
    std::deque<int> ready, free;

private:
    std::mutex m_;
    std::condition_variable cv_;
};

}  // namespace

int main(int argc, char **argv) try {
    vxa::volume image, label;
    if (argc > 1) {
        image = vxa::volume::read(argv[1]);
        if (argc > 2) label = vxa::volume::read(argv[2]);
    } else {
        auto ph = vxa::volume::phantom({96, 96, 96});
        image = std::move(ph.first);
        label = std::move(ph.second);
    }
    const vxa::pipeline pipeline("flip(axes=0, p=0.5) rotate([-10,10], plane=0,1) zoom([0.9,1.1]) zscore(nonzero=1)");
    const int batches = 4, batch_size = 4;
    const std::size_t per_sample = pipeline.output_voxels(*image);      // all channels
    const std::size_t per_label = label ? per_sample / image->channels * label->channels : 0;

    Slot slots[2];
    Handoff hand;
    for (int s = 0; s < 2; s++) {
        slots[s].image.resize(per_sample * batch_size);
        slots[s].label.resize(per_label * batch_size);
        hand.free.push_back(s);
    }
    std::thread loader([&] {
        try {
            vxa::context ctx;  // VOXAUG_DEVICE chooses; the default prefers a GPU
            const std::vector<const vxa_volume *> images(batch_size, image.get()),
                labels(label ? batch_size : 0, label.get());
            for (int b = 0; b < batches; b++) {
                const int s = hand.take(hand.free);
                vxa::run_options ro;
                ro.seed = 2026;
                ro.sample = static_cast<std::uint64_t>(b) * batch_size;
                const vxa_buffer out_label = vxa::buffer(slots[s].label.data(), slots[s].label.size());
                ctx.run_batch_into(pipeline, ro, images, vxa::buffer(slots[s].image.data(), slots[s].image.size()),
                                   labels, label ? &out_label : nullptr);
                slots[s].batch = b;
                hand.put(hand.ready, s);
            }
        } catch (const vxa::error &e) {  // tell the trainer to stop
            std::fprintf(stderr, "loader: %s\n", e.what());
            const int s = hand.take(hand.free);
            slots[s].batch = -1;
            hand.put(hand.ready, s);
        }
    });

    int seen = 0;
    for (int b = 0; b < batches; b++) {
        const int s = hand.take(hand.ready);
        if (slots[s].batch < 0) { loader.join(); return 1; }
        const vxa_volume shape = pipeline.output_shape(*image);
        const std::size_t centre = static_cast<std::size_t>(
            shape.dim[0] / 2 + shape.dim[0] * (shape.dim[1] / 2 + shape.dim[1] * (shape.dim[2] / 2)));
        double sum = 0.0;
        for (int k = 0; k < batch_size; k++) sum += slots[s].image[k * per_sample + centre];
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the "training step"
        std::printf("batch %d: %d volumes, mean centre value %.4f\n", slots[s].batch, batch_size, sum / batch_size);
        seen += batch_size;
        hand.put(hand.free, s);
    }
    loader.join();
    std::printf("%d augmented volumes consumed\n", seen);
    return 0;
} catch (const std::exception &e) {
    std::fprintf(stderr, "prefetch_loader: %s\n", e.what());
    return 1;
}

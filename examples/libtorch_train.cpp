// SPDX-License-Identifier: MIT
// A small 3D U-Net trained with LibTorch on patches of the ch2 T1 template, its AAL atlas merged into five
// classes, with voxaug as the data loader: a prefetch thread writes each augmented batch straight into the
// storage of preallocated at::Tensors (vxa_pipeline_run_batch_into through voxaug.hpp), which the model then
// reads as they are. Printed per logged step: the loss, the step's time, the trainer's wait for the loader
// (the loader's share of the step) and the loader's own time per batch.
//
//   libtorch_train [STEPS [BATCH]]      (defaults 300 and 4; the data from Debian's mricron-data)
//
// Zero copies between voxaug and the tensors, and how it is counted: each slot's two tensors are allocated once;
// their data_ptr()s are what voxaug writes through (vxa::buffer) and are checked unchanged, and used as they
// are (no clone, no .to(), no from_blob copy), before every forward pass; the run prints the count of checks.
// Inside voxaug the last pass writes the tensor: float32 images are the device read of the result itself
// (on a CPU device a copy out of the OpenCL buffer, the one transfer any device needs), int64 labels the
// uint8 -> int64 conversion (which a caller would otherwise do as labels.to(torch::kLong), a second tensor).
// Pinned memory: with CUDA, the slots would be allocated pinned (pinned_memory(true)) for an asynchronous
// copy to the GPU; Debian's libtorch is CPU-only, where pinning does not exist, so the slots are plain
// preallocated CPU tensors.
#include <torch/torch.h>
#include <voxaug.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <numeric>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
double ms_since(clock_type::time_point t0)
{
    return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

// AAL (116 regions, values 1..116) merged into classes: 1 frontal, insula and cingulum (1-36); 2 hippocampus,
// amygdala, subcortical and temporal (37-42, 71-90); 3 occipital and parietal (43-70); 4 cerebellum and
// vermis (91-116); 0 background.
constexpr int kClasses = 5;
std::uint8_t merged_class(unsigned aal)
{
    if (aal == 0 || aal > 116) return 0;
    if (aal <= 36) return 1;
    if (aal <= 42 || (aal >= 71 && aal <= 90)) return 2;
    if (aal <= 70) return 3;
    return 4;
}

// Two 3x3x3 convolutions with ReLU.
struct DoubleConvImpl : torch::nn::Module {
    torch::nn::Conv3d a{nullptr}, b{nullptr};
    DoubleConvImpl(int in, int out)
    {
        a = register_module("a", torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, 3).padding(1)));
        b = register_module("b", torch::nn::Conv3d(torch::nn::Conv3dOptions(out, out, 3).padding(1)));
    }
    torch::Tensor forward(torch::Tensor x) { return torch::relu(b(torch::relu(a(x)))); }
};
TORCH_MODULE(DoubleConv);

// A U-Net with two levels down and two up (8, 16, 32 channels), skip connections by concatenation.
struct UNetImpl : torch::nn::Module {
    DoubleConv e1{nullptr}, e2{nullptr}, mid{nullptr}, d2{nullptr}, d1{nullptr};
    torch::nn::ConvTranspose3d u2{nullptr}, u1{nullptr};
    torch::nn::Conv3d head{nullptr};
    explicit UNetImpl(int classes)
    {
        e1 = register_module("e1", DoubleConv(1, 8));
        e2 = register_module("e2", DoubleConv(8, 16));
        mid = register_module("mid", DoubleConv(16, 32));
        u2 = register_module("u2", torch::nn::ConvTranspose3d(torch::nn::ConvTranspose3dOptions(32, 16, 2).stride(2)));
        d2 = register_module("d2", DoubleConv(32, 16));
        u1 = register_module("u1", torch::nn::ConvTranspose3d(torch::nn::ConvTranspose3dOptions(16, 8, 2).stride(2)));
        d1 = register_module("d1", DoubleConv(16, 8));
        head = register_module("head", torch::nn::Conv3d(torch::nn::Conv3dOptions(8, classes, 1)));
    }
    torch::Tensor forward(torch::Tensor x)
    {
        auto s1 = e1(x);
        auto s2 = e2(torch::max_pool3d(s1, 2));
        auto m = mid(torch::max_pool3d(s2, 2));
        auto y = d2(torch::cat({u2(m), s2}, 1));
        y = d1(torch::cat({u1(y), s1}, 1));
        return head(y);
    }
};
TORCH_MODULE(UNet);

// A batch slot: tensors allocated once, written by voxaug, read by the model.
struct Slot {
    torch::Tensor image, label;      // float32 [B, 1, D, H, W], int64 [B, D, H, W]
    void *image_ptr = nullptr, *label_ptr = nullptr;  // their data_ptr()s when allocated
    double loader_ms = 0.0;          // the loader's time for the batch in it
    bool failed = false;
};

class Handoff {  // slot indices: ready for the trainer, free for the loader
public:
    void put(std::deque<int> &q, int i)
    {
        { std::lock_guard<std::mutex> lk(m_); q.push_back(i); }
        cv_.notify_all();
    }
    int take(std::deque<int> &q)
    {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return !q.empty() || stop_; });
        if (q.empty()) return -1;
        int i = q.front();
        q.pop_front();
        return i;
    }
    void stop()
    {
        { std::lock_guard<std::mutex> lk(m_); stop_ = true; }
        cv_.notify_all();
    }
    std::deque<int> ready, free;

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool stop_ = false;
};

}  // namespace

int main(int argc, char **argv) try {
    const int steps = argc > 1 ? std::atoi(argv[1]) : 300;
    const int batch = argc > 2 ? std::atoi(argv[2]) : 4;
    const char *dir = "/usr/share/mricron/templates";
    vxa::volume image = vxa::volume::read(std::string(dir) + "/ch2.nii.gz");
    vxa::volume aal = vxa::volume::read(std::string(dir) + "/aal.nii.gz");
    vxa::volume classes = vxa::volume::alloc({aal->dim[0], aal->dim[1], aal->dim[2]}, 1, VXA_UINT8);
    std::uint8_t *cls = static_cast<std::uint8_t *>(classes->data);
    for (std::int64_t k = 0; k < aal->dim[2]; k++)  // once, before training: the atlas's merged classes
        for (std::int64_t j = 0; j < aal->dim[1]; j++)
            for (std::int64_t i = 0; i < aal->dim[0]; i++)
                *cls++ = merged_class(static_cast<unsigned>(vxa_volume_get(aal.get(), i, j, k, 0)));
    std::memcpy(classes->affine, aal->affine, sizeof aal->affine);  // the same grid as ch2

    // 2 mm, a small rotation and zoom, a left-right flip, a random 32^3 patch, then z-scored intensities.
    const vxa::pipeline pipeline("resample(2,2,2) rotate([-10,10], plane=0,1) zoom([0.9,1.1]) "
                                 "flip(axes=0, p=0.5) random_crop(32,32,32) zscore(nonzero=1)");
    const vxa_volume shape = pipeline.output_shape(*image);
    const std::int64_t D = shape.dim[2], H = shape.dim[1], W = shape.dim[0];  // NCDHW: W is voxaug's i

    const bool pin = torch::cuda::is_available();
    Slot slots[2];
    Handoff hand;
    for (int s = 0; s < 2; s++) {
        slots[s].image = torch::empty({batch, 1, D, H, W}, torch::TensorOptions().dtype(torch::kFloat32).pinned_memory(pin));
        slots[s].label = torch::empty({batch, D, H, W}, torch::TensorOptions().dtype(torch::kInt64).pinned_memory(pin));
        slots[s].image_ptr = slots[s].image.data_ptr();
        slots[s].label_ptr = slots[s].label.data_ptr();
        hand.free.push_back(s);
    }

    std::thread loader([&] {
        vxa::context ctx;  // the loader's own context; the pipeline is shared
        std::printf("voxaug %s on %s, %s slots of %dx1x%lldx%lldx%lld\n", vxa_version_string(),
                    ctx.device_name().c_str(), pin ? "pinned" : "preallocated (no CUDA: no pinning)", batch,
                    (long long)D, (long long)H, (long long)W);
        const std::vector<const vxa_volume *> images(batch, image.get()), labels(batch, classes.get());
        for (int step = 0; step < steps; step++) {
            const int s = hand.take(hand.free);
            if (s < 0) return;
            Slot &sl = slots[s];
            const auto t0 = clock_type::now();
            try {
                vxa::run_options ro;
                ro.seed = 2026;
                ro.sample = static_cast<std::uint64_t>(step) * batch;
                const vxa_buffer lb = vxa::buffer(sl.label.data_ptr<std::int64_t>(), sl.label.numel());
                ctx.run_batch_into(pipeline, ro, images, vxa::buffer(sl.image.data_ptr<float>(), sl.image.numel()),
                                   labels, &lb);
            } catch (const vxa::error &e) {
                std::fprintf(stderr, "loader: %s\n", e.what());
                sl.failed = true;
            }
            sl.loader_ms = ms_since(t0);
            hand.put(hand.ready, s);
            if (sl.failed) return;
        }
    });

    torch::manual_seed(1);
    UNet net(kClasses);
    torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(2e-3));
    std::vector<double> losses, shares, loader_ms, step_ms;
    long checks = 0;
    const auto start = clock_type::now();
    std::printf("step  loss (mean of 10)  step ms  wait ms  loader share (wait)  loader ms/batch  loader work/step\n");
    for (int step = 0; step < steps; step++) {
        const auto t0 = clock_type::now();
        const int s = hand.take(hand.ready);
        const double wait = ms_since(t0);
        Slot &sl = slots[s];
        if (sl.failed) { hand.stop(); loader.join(); return 1; }
        // Zero copies: the tensors the model reads are the ones voxaug wrote, at the addresses voxaug was given.
        if (sl.image.data_ptr() != sl.image_ptr || sl.label.data_ptr() != sl.label_ptr) {
            std::fprintf(stderr, "a slot tensor moved: a copy crept in\n");
            return 1;
        }
        checks += 2;
        opt.zero_grad();
        torch::Tensor logits = net->forward(sl.image);
        torch::Tensor loss = torch::nn::functional::cross_entropy(logits, sl.label);
        loss.backward();
        opt.step();
        const double l = loss.item<double>();
        const double ms = ms_since(t0);
        losses.push_back(l);
        shares.push_back(wait / ms);
        loader_ms.push_back(sl.loader_ms);
        step_ms.push_back(ms);
        hand.put(hand.free, s);
        if (step % 10 == 9 || step == 0) {
            const std::size_t from = losses.size() >= 10 ? losses.size() - 10 : 0;
            const double m = std::accumulate(losses.begin() + static_cast<long>(from), losses.end(), 0.0) /
                             static_cast<double>(losses.size() - from);
            std::printf("%4d  %17.4f  %7.1f  %7.1f  %18.1f%%  %15.1f  %15.1f%%\n", step, m, ms, wait,
                        100.0 * wait / ms, sl.loader_ms, 100.0 * sl.loader_ms / ms);
        }
    }
    hand.stop();
    loader.join();
    auto mean = [](const std::vector<double> &v, std::size_t a, std::size_t b) {
        b = std::min(b, v.size());
        return a < b ? std::accumulate(v.begin() + a, v.begin() + b, 0.0) / double(b - a) : 0.0;
    };
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v.empty() ? 0.0 : v[v.size() / 2];
    };
    const std::size_t n = losses.size(), k = std::min<std::size_t>(20, n);
    std::printf("loss: first %zu steps %.4f, last %zu steps %.4f; by 50 steps:", k, mean(losses, 0, k), k,
                mean(losses, n - k, n));
    for (std::size_t a = 0; a < n; a += 50) std::printf(" %.3f", mean(losses, a, a + 50));
    std::printf("\n");
    std::printf("loader share of step time (trainer waiting for a batch): median %.1f%%, mean %.1f%% after the "
                "first step; loader work %.1f ms per batch (median), step %.1f ms (median); %.1f s in all\n",
                100.0 * median(std::vector<double>(shares.begin() + (n > 1), shares.end())),
                100.0 * mean(shares, n > 1, n), median(loader_ms), median(step_ms), ms_since(start) / 1000.0);
    std::printf("copies between voxaug and the tensors: 0 (%ld data_ptr checks passed: every tensor the model read "
                "is the storage voxaug wrote)\n", checks);
    return 0;
} catch (const std::exception &e) {
    std::fprintf(stderr, "libtorch_train: %s\n", e.what());
    return 1;
}

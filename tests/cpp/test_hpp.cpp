// SPDX-License-Identifier: MIT
// voxaug.hpp: errors carry the status and the library's message; run_into through vxa::buffer equals run;
// the cancel and log hooks reach the C library; handles move. Exits non-zero with the failing check named.
#include <voxaug.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            std::exit(1);                                                                \
        }                                                                                \
    } while (0)

int main()
{
    const char *dev = std::getenv("VOXAUG_DEVICE");
    vxa::context_options co;
    co.device = dev ? dev : "";
    int logged = 0;
    co.log = [&](vxa_log_level, const char *) { logged++; };
    co.log_level = VXA_LOG_INFO;
    vxa::context ctx(co);
    vxa::context moved = std::move(ctx);                 // the log hook's state stays put
    CHECK(logged >= 1);

    try {
        vxa::pipeline bad("rotate(");
        CHECK(false);
    } catch (const vxa::error &e) {
        CHECK(e.status() == VXA_ERR_PARSE);
        CHECK(std::strstr(e.what(), "VXA_ERR_PARSE") != nullptr);
    }

    auto ph = vxa::volume::phantom({40, 36, 28});
    const vxa::pipeline p("flip(axes=0,1, p=0.5) rotate([-10,10], plane=0,1) zscore noise(0.1) crop(32,30,20)");
    vxa::run_options ro;
    ro.seed = 7;
    ro.sample = 3;
    vxa::result r = moved.run(p, ro, *ph.first, ph.second.get());
    CHECK(r.image && r.label && r.draw.find("\"sample\":3") != std::string::npos);
    CHECK(p.output_voxels(*ph.first) == r.image.voxels());

    std::vector<float> img(p.output_voxels(*ph.first));
    std::vector<std::int64_t> lab(img.size());
    const vxa_buffer lb = vxa::buffer(lab.data(), lab.size());
    moved.run_into(p, ro, *ph.first, vxa::buffer(img.data(), img.size()), ph.second.get(), &lb);
    CHECK(std::memcmp(img.data(), r.image->data, img.size() * sizeof(float)) == 0);
    for (std::size_t v = 0; v < lab.size(); v++) CHECK(lab[v] == static_cast<const std::uint8_t *>(r.label->data)[v]);

    try {  // too small a buffer: the library's detail in what()
        moved.run_into(p, ro, *ph.first, vxa::buffer(img.data(), img.size() - 1));
        CHECK(false);
    } catch (const vxa::error &e) {
        CHECK(e.status() == VXA_ERR_INVALID_ARGUMENT);
        CHECK(std::strstr(e.what(), "out_image") != nullptr);
    }
    {   // a resident subject: the same sample as from the host volumes; four in one call
        vxa::resident subj = moved.upload(*ph.first, ph.second.get(), true);
        CHECK(subj.image() && subj.label() && subj.image()->dim[0] == 40);
        vxa::result rr = moved.run(p, ro, subj);
        CHECK(std::memcmp(rr.image->data, r.image->data, img.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(rr.label->data, r.label->data, lab.size()) == 0 && rr.draw == r.draw);
        std::vector<float> four(4 * img.size());
        moved.run_into(p, ro, subj, 4, vxa::buffer(four.data(), four.size()));
        CHECK(std::memcmp(four.data(), r.image->data, img.size() * sizeof(float)) == 0);
        vxa::run_options r6 = ro;
        r6.sample = ro.sample + 3;
        vxa::result s6 = moved.run(p, r6, *ph.first, ph.second.get());
        CHECK(std::memcmp(four.data() + 3 * img.size(), s6.image->data, img.size() * sizeof(float)) == 0);
        vxa::resident plain = moved.upload(*ph.first);
        try {  // no label map to give
            std::vector<std::int64_t> l4(4 * img.size());
            const vxa_buffer l4b = vxa::buffer(l4.data(), l4.size());
            moved.run_into(p, ro, plain, 4, vxa::buffer(four.data(), four.size()), &l4b);
            CHECK(false);
        } catch (const vxa::error &e) {
            CHECK(e.status() == VXA_ERR_INVALID_ARGUMENT && std::strstr(e.what(), "no label map"));
        }
    }
    ro.cancel = [] { return true; };
    try {
        moved.run_into(p, ro, *ph.first, vxa::buffer(img.data(), img.size()));
        CHECK(false);
    } catch (const vxa::error &e) {
        CHECK(e.status() == VXA_ERR_CANCELLED);
    }
    ro.cancel = []() -> bool { throw std::runtime_error("from the hook"); };  // stops, does not cross C
    try {
        moved.run_into(p, ro, *ph.first, vxa::buffer(img.data(), img.size()));
        CHECK(false);
    } catch (const vxa::error &e) {
        CHECK(e.status() == VXA_ERR_CANCELLED);
    }
    std::printf("voxaug.hpp: all checks passed on %s\n", moved.device_name().c_str());
    return 0;
}

// hotspare_commit: the "Hot Spare" measurements redone (issue 16): the cost a checkpoint costs the
// application, against the registered size (1 MiB .. 1 GiB, 10% of the pages dirtied in runs of
// four contiguous pages) and against the dirty fraction at 4 MiB (1% .. 95%), for four ways of
// taking it, in the same run:
//
//   explicit     Hotspare commit, the application marks what it wrote (WriteTx::mark_dirty)
//   transparent  Hotspare commit with enable_write_tracking(): plain stores, the commit finds the
//                written pages (userfaultfd write-protect + PAGEMAP_SCAN)
//   full_copy    memcpy of the whole region into a private buffer (a full checkpoint)
//   fork_pipe    fork() a copy-on-write snapshot and stream it to a pipe from the child (the
//                paper's baseline), the parent going on writing
//
// One node-local ckptd ($CKPTD), a checkpoint with one section of the registered size and 4 KiB
// blocks; the commit is Ack::kSync, which on a node-local engine returns once ckptd has captured the
// dirty blocks into its committed copy. Per iteration the application dirties its pages (a
// memset per page, new bytes every time) and takes the checkpoint. Reported per mode, medians:
//   stores_us   the stores themselves (transparent: with its first-write faults; fork_pipe: with
//               the copy-on-write faults of the snapshot still being streamed)
//   ckpt_us     the call that takes the checkpoint (commit, memcpy, fork())
//   cost_us     what the application loses: ckpt_us + stores_us - the stores of plain memory
// fork_pipe also reports stream_us: until the child has written the whole snapshot (the next one
// cannot start before).
//
//   hotspare_commit [--sizes-mib 1,4,16,64,256,1024] [--fractions 1,2,5,10,20,30,50,70,95]
//                   [--iterations N] [--json FILE] [--only size|fraction|fixed] [--fixed-dirty-pages 256]
//                   [--modes fork_pipe,explicit,transparent]
//
// The "fixed" series keeps the dirty pages constant (256 pages, 1 MiB, in runs of four) while the
// registered size grows: what a mode pays per registered byte rather than per changed byte.
#include "engine_process.hpp"

#include "ckpt/client/session.hpp"
#include "ckpt/client/write_tracking.hpp"

#include <CLI/CLI.hpp>

#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace ckpt;
using namespace ckpt::client;

namespace {

constexpr std::size_t kPage = 4096;

std::int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

/// The pages to dirty: `fraction` of them, in runs of four contiguous pages (groups of four chosen
/// at random, a fresh choice per iteration).
std::vector<std::size_t> pick_runs(std::size_t pages, double fraction, std::mt19937_64& rng) {
    const std::size_t groups = std::max<std::size_t>(1, pages / 4);
    std::size_t want = std::max<std::size_t>(1, static_cast<std::size_t>(static_cast<double>(groups) * fraction + 0.5));
    std::vector<std::size_t> g(groups);
    for (std::size_t i = 0; i < groups; ++i) g[i] = i;
    for (std::size_t i = 0; i < want; ++i) std::swap(g[i], g[i + rng() % (groups - i)]);
    g.resize(want);
    std::sort(g.begin(), g.end());
    return g; // group i = pages 4i .. 4i+3
}

void dirty(std::byte* base, std::size_t pages, const std::vector<std::size_t>& runs, int value) {
    for (std::size_t g : runs)
        for (std::size_t p = 4 * g; p < 4 * g + 4 && p < pages; ++p) std::memset(base + p * kPage, value, kPage);
}

struct Row {
    std::string series; ///< "size" or "fraction"
    std::string mode;
    std::size_t bytes;
    double fraction;
    double stores_us, ckpt_us, cost_us, stream_us;
};

template <typename T>
T must(Result<T> r, const char* what) {
    if (!r) {
        std::fprintf(stderr, "hotspare_commit: %s: %s\n", what, r.message().c_str());
        std::exit(2);
    }
    return std::move(r).value();
}

class Bench {
public:
    Bench(Session& s, int iterations, std::string modes) : s_(s), iterations_(iterations), modes_(std::move(modes)) {}
    void point(const std::string& series, std::size_t bytes, double fraction, std::vector<Row>& rows);

private:
    Session& s_;
    int iterations_;
    std::string modes_; ///< comma list of the modes to run (empty: all); plain and full_copy always run
    bool runs(const char* mode) const {
        return modes_.empty() || ("," + modes_ + ",").find("," + std::string(mode) + ",") != std::string::npos;
    }
    std::mt19937_64 rng_{7};
    int name_seq_ = 0;
};

void Bench::point(const std::string& series, std::size_t bytes, double fraction, std::vector<Row>& rows) {
    const std::size_t pages = bytes / kPage;
    const int iters = bytes >= (256u << 20) ? std::max(3, iterations_ / 4) : iterations_;
    const int warm = 2;
    auto add = [&](const char* mode, double st, double ck, double plain, double stream) {
        rows.push_back({series, mode, bytes, fraction, st, ck, ck + st - plain, stream});
        std::fprintf(stderr, "  %-8s %8zu KiB %5.1f%% %-11s stores %10.1f us  ckpt %10.1f us  cost %10.1f us%s\n",
                     series.c_str(), bytes >> 10, fraction * 100, mode, st, ck, ck + st - plain,
                     stream > 0 ? ("  stream " + std::to_string(static_cast<long>(stream)) + " us").c_str() : "");
    };

    // Plain memory: the stores alone (the reference every cost is measured against).
    std::vector<double> plain_st;
    {
        auto* m = static_cast<std::byte*>(
            ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0));
        std::vector<std::byte> copy(bytes);
        std::memset(copy.data(), 1, bytes);
        std::vector<double> cp;
        for (int i = 0; i < warm + iters; ++i) {
            auto runs = pick_runs(pages, fraction, rng_);
            std::int64_t t0 = now_ns();
            dirty(m, pages, runs, i + 1);
            std::int64_t t1 = now_ns();
            std::memcpy(copy.data(), m, bytes); // full_copy
            std::int64_t t2 = now_ns();
            if (i >= warm)
                plain_st.push_back(static_cast<double>(t1 - t0) / 1e3),
                    cp.push_back(static_cast<double>(t2 - t1) / 1e3);
        }
        const double plain = median(plain_st);
        add("plain", plain, 0, plain, 0);
        add("full_copy", plain, median(cp), plain, 0);
        if (runs("fork_pipe")) {
            // fork_pipe: fork a snapshot, the child streams it to a pipe drained by a thread; the
            // parent's next stores run into copy-on-write faults while it streams.
            std::vector<double> fk, st, sm;
            int fds[2];
            if (::pipe(fds) != 0) std::exit(2);
            std::thread drain([&] {
                std::vector<char> b(1 << 20);
                while (::read(fds[0], b.data(), b.size()) > 0) {
                }
            });
            pid_t child = -1;
            std::int64_t fork_at = 0;
            for (int i = 0; i < warm + iters; ++i) {
                auto runs = pick_runs(pages, fraction, rng_);
                std::int64_t t0 = now_ns();
                dirty(m, pages, runs, i + 7);
                std::int64_t t1 = now_ns();
                double stream = 0;
                if (child > 0) { // the previous snapshot must be complete before the next
                    int status;
                    ::waitpid(child, &status, 0);
                    stream = static_cast<double>(now_ns() - fork_at) / 1e3;
                }
                std::int64_t t2 = now_ns();
                fork_at = t2;
                child = ::fork();
                if (child == 0) {
                    for (std::size_t off = 0; off < bytes;) {
                        ssize_t n = ::write(fds[1], m + off, std::min<std::size_t>(bytes - off, 1 << 20));
                        if (n <= 0) ::_exit(1);
                        off += static_cast<std::size_t>(n);
                    }
                    ::_exit(0);
                }
                std::int64_t t3 = now_ns();
                if (i >= warm) {
                    st.push_back(static_cast<double>(t1 - t0) / 1e3);
                    fk.push_back(static_cast<double>(t3 - t2) / 1e3);
                    if (stream > 0) sm.push_back(stream);
                }
            }
            ::waitpid(child, nullptr, 0);
            ::close(fds[1]);
            drain.join();
            ::close(fds[0]);
            add("fork_pipe", median(st), median(fk), plain, median(sm));
        }
        ::munmap(m, bytes);
    }
    const double plain = median(plain_st);

    // Hotspare: one checkpoint, one section of `bytes`, 4 KiB blocks.
    const std::string name = "hs-bench-" + std::to_string(::getpid()) + "-" + std::to_string(name_seq_++);
    CheckpointAttributes a;
    a.creation_flags = static_cast<std::uint32_t>(UpdateMode::kSync);
    a.checkpoint_size = bytes;
    a.max_sections = 1;
    a.max_section_size = bytes;
    a.max_section_id_size = 0;
    a.block_size = 4096;
    Checkpoint keep = must(s_.create(name, a), "create checkpoint"); // open until both modes ran
    for (const char* mode : {"explicit", "transparent"}) {
        if (!runs(mode)) continue;
        const bool tracked = std::strcmp(mode, "transparent") == 0;
        auto ck = must(s_.open(name, kOpenRead | kOpenWrite), "open checkpoint");
        if (tracked) {
            auto st = enable_write_tracking(ck);
            if (!st) {
                std::fprintf(stderr, "hotspare_commit: transparent: %s\n", st.message().c_str());
                (void)ck.close();
                continue;
            }
        }
        auto sec = must(ck.default_section(), "section");
        if (!tracked) { // populate the whole section once
            auto tx = must(sec.write(), "write");
            tx.resize(bytes);
            std::memset(tx.data().data(), 0, bytes);
            must(tx.commit(Ack::kSync), "first commit");
        }
        std::vector<double> st, cm;
        for (int i = 0; i < warm + iters; ++i) {
            auto runs = pick_runs(pages, fraction, rng_);
            auto tx = must(sec.write(), "write");
            std::byte* base = tx.data().data();
            std::int64_t t0 = now_ns();
            dirty(base, pages, runs, (i % 250) + 3 + (tracked ? 1 : 0));
            if (!tracked)
                for (std::size_t g : runs)
                    tx.mark_dirty(4 * g * kPage, std::min<std::size_t>(4 * kPage, bytes - 4 * g * kPage));
            std::int64_t t1 = now_ns();
            must(tx.commit(Ack::kSync), "commit");
            std::int64_t t2 = now_ns();
            if (i >= warm)
                st.push_back(static_cast<double>(t1 - t0) / 1e3), cm.push_back(static_cast<double>(t2 - t1) / 1e3);
        }
        add(mode, median(st), median(cm), plain, 0);
        (void)ck.close();
    }
    (void)keep.close();
    (void)s_.unlink(name);
}

std::vector<double> parse_list(const std::string& s) {
    std::vector<double> v;
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t j = s.find(',', i);
        if (j == std::string::npos) j = s.size();
        v.push_back(std::stod(s.substr(i, j - i)));
        i = j + 1;
    }
    return v;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"Hot Spare measurements: checkpoint cost vs registered size and dirty fraction"};
    std::string sizes = "1,4,16,64,256,1024", fractions = "1,2,5,10,20,30,50,70,95", json, only;
    int iterations = 12, fixed_pages = 256;
    app.add_option("--sizes-mib", sizes);
    app.add_option("--fractions", fractions, "percent of pages dirtied, at 4 MiB");
    app.add_option("--iterations", iterations);
    app.add_option("--json", json, "write the rows as JSON lines");
    app.add_option("--fixed-dirty-pages", fixed_pages, "dirty pages of the fixed series");
    app.add_option("--only", only)->check(CLI::IsMember({"size", "fraction", "fixed"}));
    std::string modes;
    app.add_option("--modes", modes, "comma list of fork_pipe,explicit,transparent (default: all; for a profile)");
    CLI11_PARSE(app, argc, argv);

    ckpt::testing::EngineProcess engine("hotspare-commit");
    if (!engine.start()) {
        std::fprintf(stderr, "hotspare_commit: ckptd did not start ($CKPTD): %s\n", engine.log().c_str());
        return 2;
    }
    // Creating a 1 GiB checkpoint (zero-filled segments) on a loaded machine can outlast the
    // default 5 s control-call timeout.
    auto s = must(Session::connect({engine.socket(), std::chrono::seconds(120)}), "connect");
    Bench b(s, iterations, modes);
    std::vector<Row> rows;
    if (only.empty() || only == "size") {
        std::fprintf(stderr, "cost vs registered size (10%% of pages dirtied in runs of four):\n");
        for (double mib : parse_list(sizes)) b.point("size", static_cast<std::size_t>(mib) << 20, 0.10, rows);
    }
    if (only.empty() || only == "fixed") {
        // The same dirty pages (fixed_pages, in runs of four) in a growing registered size: what
        // grows with the registration, not with what changed.
        std::fprintf(stderr, "cost vs registered size, %d dirty pages:\n", fixed_pages);
        for (double mib : parse_list(sizes)) {
            const std::size_t bytes = static_cast<std::size_t>(mib) << 20;
            const double frac = static_cast<double>(fixed_pages) / static_cast<double>(bytes / kPage);
            if (frac <= 1.0) b.point("fixed", bytes, frac, rows);
        }
    }
    if (only.empty() || only == "fraction") {
        std::fprintf(stderr, "cost vs dirty fraction at 4 MiB:\n");
        for (double pct : parse_list(fractions)) b.point("fraction", 4u << 20, pct / 100.0, rows);
    }
    if (!json.empty()) {
        std::ofstream f(json);
        for (auto& r : rows)
            f << "{\"tool\":\"hotspare_commit\",\"series\":\"" << r.series << "\",\"mode\":\"" << r.mode
              << "\",\"bytes\":" << r.bytes << ",\"fraction\":" << r.fraction << ",\"stores_us\":" << r.stores_us
              << ",\"ckpt_us\":" << r.ckpt_us << ",\"cost_us\":" << r.cost_us << ",\"stream_us\":" << r.stream_us
              << "}\n";
    }
    return 0;
}

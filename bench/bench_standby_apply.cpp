// The standby's work per commit, before and after issue 14's "one copy on the standby", on one
// core with no link (ReplicaApplier on real segments in /dev/shm): a commit of 4 KiB, 64 KiB or
// 1 MiB arrives as DATA fragments of 1,376 payload bytes (mtu 1500), each copied into a pooled
// frame buffer as memif's PMD copies a frame out of its ring into an RX mbuf (timed in every
// variant), and
//  - Staged: each fragment copied into the shadow (stage), then the commit copied shadow to DATA
//    under the seqlock (apply): the path before issue 14, and today's fallback over the hold limit;
//  - Held: each fragment's buffer kept (receive), then the commit copied from the buffers to DATA
//    (apply): what happens before the ACK now;
//  - HeldThenSettled: the same plus settle() (DATA to the shadow), which ckptd runs after the ACK
//    went out: the standby's whole CPU cost per commit now.
// Throughput in changed bytes per second; docs/ARCHITECTURE.md 10.2.1, BENCHMARKS.md (issue 14).
#include "ckpt/common/attributes.hpp"
#include "ckpt/net/frame_pool.hpp"
#include "ckpt/shm/segment_layout.hpp"
#include "repetitions.hpp"
#include "replication/replica_applier.hpp"
#include "store/checkpoint.hpp"

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace ckpt;
using namespace ckpt::engine;

constexpr std::size_t kFragment = 1376; // a DATA frame's payload at mtu 1500
constexpr std::uint64_t kCapacity = std::uint64_t{1} << 20;

struct Standby {
    Standby() {
        CheckpointAttributes a;
        a.checkpoint_size = 2 * kCapacity;
        a.max_sections = 2;
        a.max_section_size = kCapacity;
        const std::string p = "hs-bench-apply." + std::to_string(::getpid()) + ".";
        names = {shm::ObjectName{p + "meta"}, shm::ObjectName{p + "data"}, shm::ObjectName{p + "shadow"}};
        for (const auto* o : {&names.meta, &names.data, &names.shadow}) (void)shm::remove_object(*o);
        auto c = Checkpoint::create("bench", a, names, shm::ObjectOptions{}, 2);
        if (!c) std::abort();
        ckpt = std::move(*c);
        ckpt->set_role(shm::kRoleStandby, 1, 1);
        applier = std::make_unique<ReplicaApplier>(*ckpt);
        const std::string id = "s";
        if (!applier->install(0, std::as_bytes(std::span(id)), 1, 0, kCapacity, kTimeEnd, 0, 0).ok()) std::abort();
    }
    ~Standby() {
        applier.reset();
        ckpt->remove_objects();
    }
    SegmentNames names;
    std::unique_ptr<Checkpoint> ckpt;
    std::unique_ptr<ReplicaApplier> applier;
    net::FramePool pool; ///< the carrier's (what the in-memory carrier and a heap TX pool use)
    std::vector<std::byte> ring = std::vector<std::byte>(kFragment, std::byte{0x5A}); ///< a frame in memif's ring
    std::uint64_t seq = 2;
};

enum class Path { kStaged, kHeld, kHeldThenSettled };

void run(benchmark::State& state, Path path) {
    static Standby s; // one set of segments for every case
    const std::uint64_t bytes = static_cast<std::uint64_t>(state.range(0));
    for (auto _ : state) {
        s.seq += 2;
        const auto t0 = std::chrono::steady_clock::now();
        for (std::uint64_t off = 0; off < bytes; off += kFragment) {
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kFragment, bytes - off));
            // The frame as a carrier hands it over: a pooled buffer the receiver may keep.
            net::FrameBuf b = s.pool.alloc(n);
            std::memcpy(b.data(), s.ring.data(), n); // the carrier's copy out of its ring (memif's PMD)
            if (path == Path::kStaged) {
                if (!s.applier->stage(0, 1, off, b.bytes())) std::abort();
            } else {
                const net::DataRun run{off, static_cast<std::uint32_t>(n)};
                if (!s.applier->receive(0, 1, std::span(&run, 1), b.bytes(), &b)) std::abort();
            }
        }
        if (!s.applier->apply(0, 1, s.seq, bytes, false)) std::abort();
        if (path == Path::kHeldThenSettled) s.applier->settle();
        const auto t1 = std::chrono::steady_clock::now();
        // Held: the settle after the ACK is not part of the commit's path (untimed); the next
        // apply would otherwise do it first (a section is settled before its lock is taken).
        if (path == Path::kHeld) s.applier->settle();
        state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    }
    s.applier->settle();
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

void Staged(benchmark::State& st) {
    run(st, Path::kStaged);
}
void Held(benchmark::State& st) {
    run(st, Path::kHeld);
}
void HeldThenSettled(benchmark::State& st) {
    run(st, Path::kHeldThenSettled);
}

#define CASES(f)                                                                                                       \
    BENCHMARK(f)                                                                                                       \
        ->Arg(4096)                                                                                                    \
        ->Arg(65536)                                                                                                   \
        ->Arg(256 << 10)                                                                                               \
        ->Arg(1 << 20)                                                                                                 \
        ->UseManualTime()                                                                                              \
        ->Repetitions(ckpt::bench::repetitions())                                                                      \
        ->ReportAggregatesOnly()
CASES(Staged);
CASES(Held);
CASES(HeldThenSettled);

} // namespace

BENCHMARK_MAIN();

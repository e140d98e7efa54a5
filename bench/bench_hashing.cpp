// Dirty-block hashing on a replicating active against its raw ingredients, over the same buffers:
// ckptd's per-block capture step (ckpt::engine::copy_hash_block, the function capture() calls: copy
// the block into the shadow, XXH3-64 the copy, compare with the hash the replicas hold), raw
// XXH3_64bits over the same bytes (one call per block, and one call over the whole region), and
// memcpy of the same bytes (per block, and whole). Dirty regions of 256 B (one block), 4 KiB,
// 64 KiB and 1 MiB at the engine's default block size of 256 B. BENCHMARKS.md's target: the
// engine's hashing runs at >= 0.9x the throughput of raw XXH3 per block.
#include "ckpt/common/attributes.hpp"
#include "commit/block_hasher.hpp"
#include "repetitions.hpp"

#include <benchmark/benchmark.h>
#include <xxhash.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

namespace {

constexpr std::size_t kBlock = ckpt::CheckpointAttributes{}.block_size; // the engine's default, 256 B
constexpr std::size_t kMaxRegion = 1 << 20;

struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<std::byte[], FreeDeleter>;

/// A page-aligned buffer with every byte written (no first-touch faults in the timed loop).
Buffer buffer(std::size_t n) {
    Buffer b(static_cast<std::byte*>(std::aligned_alloc(4096, (n + 4095) / 4096 * 4096)));
    std::memset(b.get(), 0, n);
    return b;
}

/// The live area and the shadow every benchmark here reads and writes (the first `n` bytes of
/// each), so that no variant gets a warmer or better-aligned buffer than another.
struct Areas {
    Buffer live = buffer(kMaxRegion), shadow = buffer(kMaxRegion);
    Areas() {
        // Distinct bytes per block, so that the blocks' hashes differ as real data's do.
        for (std::size_t i = 0; i < kMaxRegion; ++i) live[i] = static_cast<std::byte>((i * 131 + i / kBlock) & 0xff);
    }
};
Areas& areas() {
    static Areas a;
    return a;
}

void regions(benchmark::internal::Benchmark* b) {
    for (std::int64_t s : {256ll, 4ll << 10, 64ll << 10, 1ll << 20}) b->Arg(s);
}
void multi_block_regions(benchmark::internal::Benchmark* b) { // halving needs more than one block
    for (std::int64_t s : {4ll << 10, 64ll << 10, 1ll << 20}) b->Arg(s);
}

/// The block size as a run-time value, as capture() has it from the checkpoint's attributes: a
/// constant would let the compiler turn the baselines' per-block memcpy into inline moves that the
/// engine never gets.
std::size_t runtime_block_size() {
    std::size_t bs = kBlock;
    benchmark::DoNotOptimize(bs);
    return bs;
}

void set_bytes(benchmark::State& state, std::size_t n) {
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

/// capture()'s loop for a run of dirty blocks: each block through the engine's copy_hash_block
/// against the hash the replicas hold, the changed ones noted as capture() notes them.
/// `unchanged_every` 0: the replicas hold no block (hash 0, "unknown"), every block is sent;
/// 2: the replicas hold every other block already, which is hashed and then skipped.
void dirty_block_hashing(benchmark::State& state, std::size_t unchanged_every) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const std::size_t bs = runtime_block_size(), blocks = n / bs;
    Areas& a = areas();
    std::vector<std::uint64_t> replicated(blocks, 0);
    std::size_t expect_changed = blocks;
    if (unchanged_every)
        for (std::size_t b = 0; b < blocks; b += unchanged_every, --expect_changed)
            replicated[b] = XXH3_64bits(a.live.get() + b * bs, bs);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> changed;
    changed.reserve(blocks);
    for (auto _ : state) {
        changed.clear();
        for (std::size_t b = 0; b < blocks; ++b)
            if (auto h =
                    ckpt::engine::copy_hash_block(a.shadow.get() + b * bs, a.live.get() + b * bs, bs, replicated[b]))
                changed.emplace_back(b, *h);
        benchmark::DoNotOptimize(changed.data());
        benchmark::ClobberMemory();
    }
    if (changed.size() != expect_changed) state.SkipWithError("unexpected number of changed blocks");
    state.counters["changed_blocks"] = static_cast<double>(changed.size());
    set_bytes(state, n);
}

void BM_DirtyBlockHashing(benchmark::State& state) {
    dirty_block_hashing(state, 0);
}
BENCHMARK(BM_DirtyBlockHashing)
    ->Apply(regions)
    ->UseRealTime()
    ->Repetitions(ckpt::bench::repetitions())
    ->ReportAggregatesOnly(true);

void BM_DirtyBlockHashingHalfUnchanged(benchmark::State& state) {
    dirty_block_hashing(state, 2);
}
BENCHMARK(BM_DirtyBlockHashingHalfUnchanged)
    ->Apply(multi_block_regions)
    ->UseRealTime()
    ->Repetitions(ckpt::bench::repetitions())
    ->ReportAggregatesOnly(true);

void BM_Xxh3PerBlock(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const std::size_t bs = runtime_block_size();
    const std::byte* live = areas().live.get();
    for (auto _ : state)
        for (std::size_t off = 0; off < n; off += bs) {
            XXH64_hash_t h = XXH3_64bits(live + off, bs);
            benchmark::DoNotOptimize(h);
        }
    set_bytes(state, n);
}
BENCHMARK(BM_Xxh3PerBlock)
    ->Apply(regions)
    ->UseRealTime()
    ->Repetitions(ckpt::bench::repetitions())
    ->ReportAggregatesOnly(true);

void BM_Xxh3WholeRegion(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const std::byte* live = areas().live.get();
    for (auto _ : state) {
        XXH64_hash_t h = XXH3_64bits(live, n);
        benchmark::DoNotOptimize(h);
    }
    set_bytes(state, n);
}
BENCHMARK(BM_Xxh3WholeRegion)
    ->Apply(regions)
    ->UseRealTime()
    ->Repetitions(ckpt::bench::repetitions())
    ->ReportAggregatesOnly(true);

void BM_MemcpyPerBlock(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const std::size_t bs = runtime_block_size();
    Areas& a = areas();
    for (auto _ : state) {
        for (std::size_t off = 0; off < n; off += bs) std::memcpy(a.shadow.get() + off, a.live.get() + off, bs);
        benchmark::DoNotOptimize(a.shadow.get());
        benchmark::ClobberMemory();
    }
    set_bytes(state, n);
}
BENCHMARK(BM_MemcpyPerBlock)
    ->Apply(regions)
    ->UseRealTime()
    ->Repetitions(ckpt::bench::repetitions())
    ->ReportAggregatesOnly(true);

void BM_MemcpyWholeRegion(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    Areas& a = areas();
    for (auto _ : state) {
        std::memcpy(a.shadow.get(), a.live.get(), n);
        benchmark::DoNotOptimize(a.shadow.get());
        benchmark::ClobberMemory();
    }
    set_bytes(state, n);
}
BENCHMARK(BM_MemcpyWholeRegion)
    ->Apply(regions)
    ->UseRealTime()
    ->Repetitions(ckpt::bench::repetitions())
    ->ReportAggregatesOnly(true);

} // namespace

BENCHMARK_MAIN();

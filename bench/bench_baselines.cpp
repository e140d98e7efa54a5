// Yardsticks for bench_commit, measured on the same machine in the same way: memcpy and XXH3_64bits
// over the buffer sizes the engine handles (256 B is the default block size the engine copies per
// dirty block), and a cache line bounced between two threads pinned to CPUs 0 and 1 (the floor for
// any handshake between an application and ckptd on another core; bench_commit repeats it).
#include "cache_line_pingpong.hpp"
#include "repetitions.hpp"

#include <benchmark/benchmark.h>
#include <xxhash.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace {

void buffer_sizes(benchmark::internal::Benchmark* b) {
    for (std::int64_t s : {64ll, 256ll, 4ll << 10, 1ll << 20}) b->Arg(s);
}

struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<std::byte[], FreeDeleter>;

/// A page-aligned buffer with every byte written (no first-touch faults in the timed loop).
Buffer buffer(std::size_t n, int fill) {
    Buffer b(static_cast<std::byte*>(std::aligned_alloc(4096, (n + 4095) / 4096 * 4096)));
    std::memset(b.get(), fill, n);
    return b;
}

void BM_Memcpy(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    Buffer src = buffer(n, 0x5a), dst = buffer(n, 0);
    for (auto _ : state) {
        std::memcpy(dst.get(), src.get(), n);
        benchmark::DoNotOptimize(dst.get());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_Memcpy)
    ->Apply(buffer_sizes)
    ->UseRealTime()
    ->Repetitions(ckpt::bench::repetitions())
    ->ReportAggregatesOnly(true);

void BM_Xxh3(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    Buffer src = buffer(n, 0x5a);
    for (auto _ : state) {
        XXH64_hash_t h = XXH3_64bits(src.get(), n);
        benchmark::DoNotOptimize(h);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_Xxh3)
    ->Apply(buffer_sizes)
    ->UseRealTime()
    ->Repetitions(ckpt::bench::repetitions())
    ->ReportAggregatesOnly(true);

void BM_CacheLinePingPong(benchmark::State& state) {
    ckpt::bench::cache_line_pingpong(state);
}
BENCHMARK(BM_CacheLinePingPong)->UseRealTime()->Repetitions(ckpt::bench::repetitions())->ReportAggregatesOnly(true);

} // namespace

BENCHMARK_MAIN();

#pragma once
// The cache-line ping-pong yardstick, shared by bench_baselines and bench_commit (which runs it
// interleaved with the commit benchmarks, so commit latency and its yardstick come from the same
// minutes of the same process).
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>
#include <xmmintrin.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

namespace ckpt::bench {

inline bool pin_thread(pthread_t t, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return ::pthread_setaffinity_np(t, sizeof set, &set) == 0;
}

/// One round trip per iteration: this thread (pinned to CPU 0) writes an odd value into a shared
/// cache line, a partner thread pinned to CPU 1 answers with the next even value. Two line
/// transfers per round trip; the caller's CPU affinity is restored afterwards.
inline void cache_line_pingpong(benchmark::State& state) {
    if (std::thread::hardware_concurrency() < 2) {
        state.SkipWithError("needs two cores");
        return;
    }
    struct alignas(64) Line {
        std::atomic<std::uint64_t> v{0};
    };
    static_assert(sizeof(Line) == 64);
    constexpr std::uint64_t kStop = ~std::uint64_t{0};
    auto line = std::make_unique<Line>();

    cpu_set_t saved;
    ::pthread_getaffinity_np(::pthread_self(), sizeof saved, &saved);
    std::thread partner([&] {
        std::uint64_t seen = 0;
        for (;;) {
            std::uint64_t v;
            while ((v = line->v.load(std::memory_order_acquire)) == seen) _mm_pause();
            if (v == kStop) return;
            seen = v + 1;
            line->v.store(seen, std::memory_order_release);
        }
    });
    if (!pin_thread(::pthread_self(), 0) || !pin_thread(partner.native_handle(), 1)) {
        line->v.store(kStop, std::memory_order_release);
        partner.join();
        ::pthread_setaffinity_np(::pthread_self(), sizeof saved, &saved);
        state.SkipWithError("could not pin the two threads to CPUs 0 and 1");
        return;
    }
    std::uint64_t v = 0;
    for (auto _ : state) {
        line->v.store(++v, std::memory_order_release);
        ++v;
        while (line->v.load(std::memory_order_acquire) != v) _mm_pause();
    }
    line->v.store(kStop, std::memory_order_release);
    partner.join();
    ::pthread_setaffinity_np(::pthread_self(), sizeof saved, &saved);
}

} // namespace ckpt::bench

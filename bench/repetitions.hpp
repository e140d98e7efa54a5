#pragma once
// How many repetitions every micro-benchmark runs (its table shows their median and spread): 5, or
// $CKPT_BENCH_REPETITIONS (bench/run_suite.sh --quick sets 3). Google Benchmark's own
// --benchmark_repetitions flag does not apply to benchmarks that set Repetitions() themselves.
#include <cstdlib>

namespace ckpt::bench {

inline int repetitions() {
    static const int n = [] {
        const char* e = std::getenv("CKPT_BENCH_REPETITIONS");
        const int v = e ? std::atoi(e) : 0;
        return v > 0 && v <= 100 ? v : 5;
    }();
    return n;
}

} // namespace ckpt::bench

#pragma once
/// The one monotonic clock of the engine, the carriers and the tools: CLOCK_MONOTONIC in
/// nanoseconds (deadlines, timeouts, latencies; never a wall-clock time, which is
/// shm::now_realtime_ns()).
#include <time.h>

#include <cstdint>

namespace ckpt {

/// CLOCK_MONOTONIC, nanoseconds.
inline std::int64_t mono_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

} // namespace ckpt

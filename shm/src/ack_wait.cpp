#include "ckpt/shm/ack_wait.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <ctime>

namespace ckpt::shm::ack_wait {

void wake_all(std::uint32_t& word) noexcept {
    ::syscall(SYS_futex, &word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

Woke futex_wait(const std::uint32_t& word, std::uint32_t expected, std::chrono::nanoseconds slice) noexcept {
    const auto ns = std::max<std::int64_t>(slice.count(), 0);
    timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    // FUTEX_WAIT only reads the word: a read-only mapping is fine, hence the const_cast.
    if (::syscall(SYS_futex, const_cast<std::uint32_t*>(&word), FUTEX_WAIT, expected, &ts, nullptr, 0) == 0)
        return Woke::kWoken;
    switch (errno) {
    case EAGAIN:
        return Woke::kChanged;
    case ETIMEDOUT:
        return Woke::kTimedOut;
    default:
        return Woke::kWoken; // EINTR: the caller checks its condition again, as after a wake-up
    }
}

} // namespace ckpt::shm::ack_wait

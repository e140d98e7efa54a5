// The ack wait (shm/include/ckpt/shm/ack_wait.hpp) between two threads over a MetaHeader and a
// DataHeader in ordinary memory, no engine process: a waiter woken by the other thread's publish,
// round after round, never sleeping through one; a sleep with nobody publishing times out; a
// stale ticket does not sleep at all; the engine skips the wake-up syscall when nobody registered.
#include "ckpt/shm/ack_wait.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

using namespace ckpt::shm;
using namespace std::chrono_literals;

namespace {

struct Headers {
    MetaHeader meta{};
    DataHeader data{};
    std::uint64_t acked = 0; ///< stands for SectionDesc::acked_seq: the engine's word a waiter checks
};

std::uint64_t acked(const Headers& h) {
    return load_acquire(h.acked);
}

} // namespace

TEST(AckWait, ASleepWithNoPublishTimesOut) {
    Headers h;
    const std::uint32_t t = ack_wait::ticket(h.meta);
    EXPECT_EQ(ack_wait::sleep(h.meta, &h.data, t, 1ms, [] { return false; }), ack_wait::Woke::kTimedOut);
    EXPECT_EQ(load_acquire(h.data.sync_waiters), 0u) << "the waiter unregistered";
    EXPECT_EQ(ack_wait::ticket(h.meta), t);
}

TEST(AckWait, AStaleTicketOrAMetConditionDoesNotSleep) {
    Headers h;
    const std::uint32_t t = ack_wait::ticket(h.meta);
    EXPECT_FALSE(ack_wait::publish(h.meta, h.data)) << "nobody registered: no syscall";
    EXPECT_EQ(ack_wait::ticket(h.meta), t + 1);
    // A publish after the ticket: the kernel sees another value (a one-hour slice would show as a hang).
    EXPECT_EQ(ack_wait::sleep(h.meta, &h.data, t, 1h, [] { return false; }), ack_wait::Woke::kChanged);
    EXPECT_EQ(ack_wait::sleep(h.meta, &h.data, t + 1, 1h, [] { return true; }), ack_wait::Woke::kDone);
    EXPECT_EQ(load_acquire(h.data.sync_waiters), 0u);
}

// Ping-pong: the engine thread publishes round i only once the waiter has registered for it, so
// most rounds find it asleep in the kernel. Every round must end by a wake-up or a changed word,
// never by the (long) slice running out: a lost wake-up fails the test.
TEST(AckWait, AWaiterIsWokenByEveryPublishOfAnotherThread) {
    Headers h;
    constexpr std::uint64_t kRounds = 500;
    std::atomic<std::uint64_t> seen{0};
    std::atomic<int> timeouts{0}, woken{0};
    std::thread waiter([&] {
        for (std::uint64_t want = 1; want <= kRounds; ++want) {
            for (;;) {
                const std::uint32_t t = ack_wait::ticket(h.meta); // before the check
                if (acked(h) >= want) break;
                const auto r = ack_wait::sleep(h.meta, &h.data, t, 30s, [&] { return acked(h) >= want; });
                if (r == ack_wait::Woke::kTimedOut) ++timeouts;
                if (r == ack_wait::Woke::kWoken) ++woken;
            }
            seen.store(want);
        }
    });
    std::uint64_t syscalls = 0;
    for (std::uint64_t i = 1; i <= kRounds; ++i) {
        while (load_acquire(h.data.sync_waiters) == 0) std::this_thread::yield(); // the waiter registered
        store_release(h.acked, i);                                                // the engine's words first
        syscalls += ack_wait::publish(h.meta, h.data) ? 1 : 0;
        while (seen.load() < i) std::this_thread::yield();
    }
    waiter.join();
    EXPECT_EQ(seen.load(), kRounds);
    EXPECT_EQ(timeouts.load(), 0) << "a publish did not wake its waiter";
    EXPECT_EQ(syscalls, kRounds) << "each publish found the waiter registered";
    EXPECT_GT(woken.load(), 0) << "no round reached the kernel sleep";
    EXPECT_EQ(ack_wait::ticket(h.meta), kRounds);
    EXPECT_EQ(load_acquire(h.data.sync_waiters), 0u);
}

// A waiter that cannot register (read-only DATA) is not woken by the engine, which sees nobody
// registered; it finds the publish on its next slice.
TEST(AckWait, AnUnregisteredWaiterFindsThePublishAfterItsSlice) {
    Headers h;
    std::atomic<int> slices{0};
    std::thread waiter([&] {
        for (;;) {
            const std::uint32_t t = ack_wait::ticket(h.meta);
            if (acked(h) >= 1) return;
            ++slices;
            (void)ack_wait::sleep(h.meta, nullptr, t, 1ms, [&] { return acked(h) >= 1; });
        }
    });
    while (slices.load() < 3) std::this_thread::yield(); // it sleeps in slices meanwhile
    store_release(h.acked, std::uint64_t{1});
    EXPECT_FALSE(ack_wait::publish(h.meta, h.data)) << "nobody registered";
    waiter.join();
    EXPECT_EQ(acked(h), 1u);
    EXPECT_EQ(load_acquire(h.data.sync_waiters), 0u);
}

// The doorbell (shm/include/ckpt/shm/doorbell.hpp) between two threads over a DataHeader, its
// summary and pending words and a NodeHeader in ordinary memory, no engine process: a committer
// rings while an engine drains (also cut short by a budget), and no commit is left unannounced; an
// engine that sleeps is always kicked awake when a bell rings after its last look.
#include "ckpt/shm/doorbell.hpp"

#include <gtest/gtest.h>

#include <sys/eventfd.h>

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace ckpt::shm;

namespace {

constexpr std::uint32_t kSlots = 5000; // two summary words: slot / 4096 matters

/// DATA's doorbell words as compute_layout places them, in ordinary memory.
struct FakeBells {
    DataHeader header{};
    std::vector<std::uint64_t> summary, pending;
    std::vector<std::uint64_t> commits; ///< per slot: the committer's count (stands for the lock word)
    FakeBells() : summary((kSlots / 64 + 1 + 63) / 64), pending(kSlots / 64 + 1), commits(kSlots) {}
    doorbell::Bells bells() {
        return {&header, summary.data(), pending.data(), static_cast<std::uint32_t>(summary.size()),
                static_cast<std::uint32_t>(pending.size())};
    }
};

} // namespace

TEST(Doorbell, RingSetsThreeLevelsAndDrainTakesThemInSlotOrder) {
    FakeBells f;
    const auto b = f.bells();
    ASSERT_EQ(b.summary_words, 2u);
    doorbell::ring(b, 4100);
    doorbell::ring(b, 3);
    doorbell::ring(b, 3);
    EXPECT_EQ(f.pending[0], 1ull << 3);
    EXPECT_EQ(f.pending[4100 / 64], 1ull << (4100 % 64));
    EXPECT_EQ(f.summary[0], 1ull);
    EXPECT_EQ(f.summary[1], 1ull << ((4100 / 64) % 64));
    EXPECT_EQ(f.header.pending_any, 1u);
    std::vector<std::uint32_t> got;
    std::vector<std::string> damage;
    EXPECT_FALSE(doorbell::drain(
        b, [] { return true; }, [&](std::uint32_t s) { got.push_back(s); },
        [&](const char* what) { damage.emplace_back(what); }));
    EXPECT_EQ(got, (std::vector<std::uint32_t>{3, 4100}));
    EXPECT_TRUE(damage.empty());
    EXPECT_EQ(f.header.pending_any, 0u);
    EXPECT_EQ(f.summary[0] | f.summary[1] | f.pending[0] | f.pending[4100 / 64], 0u);
    EXPECT_FALSE(doorbell::drain(
        b, [] { return true; }, [&](std::uint32_t s) { got.push_back(s); }, [](const char*) {}));
    EXPECT_EQ(got.size(), 2u) << "nothing rung, nothing taken";
}

TEST(Doorbell, ASummaryBitPastThePendingWordsIsDamageNotARead) {
    FakeBells f;
    auto b = f.bells();
    b.pending_words = 64; // the summary's second word now points past them
    f.summary[1] = 1;
    f.header.pending_any = 1;
    int damage = 0, taken = 0;
    doorbell::drain(
        b, [] { return true; }, [&](std::uint32_t) { ++taken; }, [&](const char*) { ++damage; });
    EXPECT_EQ(damage, 1);
    EXPECT_EQ(taken, 0);
}

// The committer rings random slots, counting its commits per slot before each ring; the engine
// drains, at most a few slots per turn (the budget cut rings the rest again), recording the count
// it finds for each slot it takes. At the end every slot's last commit was seen: no bell was lost.
TEST(Doorbell, NoCommitIsLeftUnannouncedWhileTheEngineDrains) {
    FakeBells f;
    const auto b = f.bells();
    std::atomic<bool> done{false};
    std::vector<std::uint64_t> seen(kSlots, 0);
    std::uint64_t cuts = 0, turns = 0;
    std::thread engine([&] {
        for (;;) {
            const bool finished = done.load(std::memory_order_acquire); // before the drain
            int budget = 1 + static_cast<int>(turns++ % 7);
            const bool cut = doorbell::drain(
                b, [&] { return budget-- > 0; }, [&](std::uint32_t s) { seen[s] = load_acquire(f.commits[s]); },
                [](const char*) { ADD_FAILURE(); });
            cuts += cut ? 1 : 0;
            if (finished && !cut) return;
        }
    });
    std::mt19937 rng(11);
    for (int i = 0; i < 300'000; ++i) {
        const std::uint32_t s = rng() % kSlots;
        store_release(f.commits[s], f.commits[s] + 1); // the commit (the section lock's release store)
        doorbell::ring(b, s);
    }
    done.store(true, std::memory_order_release);
    engine.join();
    std::uint32_t lost = 0;
    for (std::uint32_t s = 0; s < kSlots; ++s) lost += seen[s] != f.commits[s] ? 1 : 0;
    EXPECT_EQ(lost, 0u) << "slots whose last commit no drain took";
    EXPECT_GT(cuts, 0u) << "the budget cut never ran";
    EXPECT_EQ(f.header.pending_any, 0u);
}

// The engine sleeps when a drain finds nothing (announce, drain once more, block on an eventfd);
// the committer rings and kicks when it sees the engine asleep. A lost wake-up shows as a poll
// that times out (10 s, far beyond any scheduling delay) with a bell rung.
TEST(Doorbell, AnEngineThatSleepsIsKickedForEveryBell) {
    FakeBells f;
    const auto b = f.bells();
    NodeHeader node{};
    doorbell::end_sleep(node);
    const int kick = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ASSERT_GE(kick, 0);
    constexpr std::uint64_t kCommits = 2'000;
    std::atomic<std::uint64_t> taken{0};
    std::atomic<int> lost_wakeups{0}, sleeps{0};
    std::thread engine([&] {
        auto take = [&] {
            int n = 0;
            doorbell::drain(
                b, [] { return true; }, [&](std::uint32_t) { ++n; }, [](const char*) {});
            return n;
        };
        while (taken.load() < kCommits) {
            if (int n = take()) {
                taken += n;
                continue;
            }
            doorbell::announce_sleep(node);
            if (int n = take()) { // the last look after the announcement
                doorbell::end_sleep(node);
                taken += n;
                continue;
            }
            ++sleeps;
            pollfd p{kick, POLLIN, 0};
            if (::poll(&p, 1, 10'000) == 0) ++lost_wakeups;
            std::uint64_t v;
            [[maybe_unused]] auto r = ::read(kick, &v, sizeof v);
            doorbell::end_sleep(node);
        }
    });
    for (std::uint64_t i = 0; i < kCommits; ++i) {
        // One commit at a time: the next rings only once this one was taken, so the engine often
        // goes to sleep in between and each bell must wake it.
        doorbell::ring(b, static_cast<std::uint32_t>(i % kSlots));
        if (doorbell::engine_asleep(node)) {
            std::uint64_t one = 1;
            [[maybe_unused]] auto r = ::write(kick, &one, sizeof one);
        }
        while (taken.load() <= i) std::this_thread::yield();
    }
    engine.join();
    ::close(kick);
    EXPECT_EQ(taken.load(), kCommits);
    EXPECT_EQ(lost_wakeups.load(), 0);
    EXPECT_GT(sleeps.load(), 0) << "the engine never slept: the handshake was not exercised";
}

// The section lock (shm/include/ckpt/shm/section_lock.hpp) between two threads over a
// SectionControl in ordinary memory, no engine process: a writer that commits, aborts (the
// engine's rollback) and applies (the engine's replica apply) while a seqlock reader never
// validates a torn or aborted state; two writers that never hold the lock at once; the engine's
// fence racing a writer.
#include "ckpt/shm/section_lock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>

using namespace ckpt::shm;

namespace {

constexpr std::uint64_t kPoison = ~std::uint64_t{0}; ///< what an aborted transaction writes
constexpr int kWords = 512;                          // long enough that copies and writes overlap

/// A section: its control line and its bytes, as laid out in DATA (the bytes here are words so
/// that the threads touch them through atomic_ref, as a seqlock's data must be in C++).
struct alignas(64) FakeSection {
    SectionControl ctl{};
    std::uint64_t bytes[kWords] = {};
    std::uint64_t shadow[kWords] = {}; ///< the engine's committed copy
};

void fill(std::uint64_t* words, std::uint64_t v) {
    for (int i = 0; i < kWords; ++i) std::atomic_ref<std::uint64_t>(words[i]).store(v, std::memory_order_relaxed);
}

std::uint64_t get(const std::uint64_t* words, int i) {
    return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(words[i])).load(std::memory_order_relaxed);
}

/// Takes a free lock for writer slot `writer`; false when the engine fenced the section.
bool begin(SectionControl& ctl, std::uint32_t writer) {
    for (;;) {
        std::uint64_t seen = section_lock::load(ctl);
        if (section_lock::fenced(seen)) return false;
        if (lock_held(seen)) {
            std::this_thread::yield();
            continue;
        }
        if (section_lock::try_begin(ctl, seen, writer)) return true;
    }
}

} // namespace

TEST(SectionLock, EncodingOfEachStep) {
    SectionControl ctl{};
    section_lock::publish(ctl, 4);
    std::uint64_t seen = section_lock::load(ctl);
    EXPECT_EQ(seen, make_lock(4, 0));
    ASSERT_TRUE(section_lock::try_begin(ctl, seen, 2));
    EXPECT_EQ(section_lock::load(ctl), make_lock(5, 3)) << "odd sequence, owner = writer slot + 1";
    std::uint64_t stale = make_lock(4, 0);
    EXPECT_FALSE(section_lock::try_begin(ctl, stale, 0)) << "a held word cannot be taken again";
    EXPECT_EQ(stale, make_lock(5, 3)) << "a failed take reports the word it found";
    EXPECT_FALSE(section_lock::unchanged(ctl, seen));
    section_lock::give_back(ctl, seen);
    EXPECT_EQ(section_lock::load(ctl), make_lock(4, 0));
    EXPECT_TRUE(section_lock::unchanged(ctl, seen));
    EXPECT_EQ(section_lock::rollback_seq(make_lock(5, 3)), 6u);
    EXPECT_EQ(section_lock::rollback_seq(make_lock(6, 0)), 8u) << "past a free word too";
    ASSERT_TRUE(section_lock::try_fence(ctl, seen));
    EXPECT_EQ(section_lock::load(ctl), make_lock(5, kLockOwnerEngine));
    EXPECT_TRUE(section_lock::fenced(section_lock::load(ctl)));
    EXPECT_FALSE(section_lock::fenced(make_lock(6, kLockOwnerEngine))) << "an even word is free, whatever its owner";
    EXPECT_FALSE(section_lock::fenced(make_lock(5, 1)));
}

// Writer: commits, aborts (poison, then the engine's rollback from the shadow) and replica applies
// (owner 0, a jump in the sequence). Reader: every snapshot it validates is one committed state:
// all words equal, never the poison, never older than the one it validated before.
TEST(SectionLock, AReaderNeverValidatesATornOrAbortedState) {
    FakeSection s;
    section_lock::publish(s.ctl, 2);
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> validated{0}, torn{0}, poisoned{0}, backwards{0};
    std::thread reader([&] {
        std::uint64_t last = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            const std::uint64_t seen = section_lock::load(s.ctl);
            if (lock_held(seen)) continue;
            std::uint64_t copy[kWords];
            for (int i = 0; i < kWords; ++i) copy[i] = get(s.bytes, i);
            if (!section_lock::unchanged(s.ctl, seen)) continue;
            for (int i = 1; i < kWords; ++i)
                if (copy[i] != copy[0]) ++torn;
            if (copy[0] == kPoison) ++poisoned;
            if (copy[0] < last) ++backwards;
            last = copy[0];
            validated.fetch_add(1, std::memory_order_relaxed);
        }
    });
    std::uint64_t value = 0, commits = 0;
    // Runs until the reader validated enough snapshots, so the test does not depend on timing; the
    // iteration cap only turns a reader that never validates into a failure instead of a hang.
    for (std::uint64_t i = 0; i < 50'000'000 && (i < 100'000 || validated.load() < 10'000); ++i) {
        // Time outside the lock, as between an application's commits: readers start in it and
        // the writer's next transaction then overlaps their copy.
        for (int k = 0; k < kWords; ++k) (void)section_lock::peek(s.ctl);
        std::uint64_t seen = section_lock::load(s.ctl);
        ASSERT_FALSE(lock_held(seen));
        switch (i % 4) {
        case 0:
        case 1: // a client's transaction
            ASSERT_TRUE(section_lock::try_begin(s.ctl, seen, 0));
            fill(s.bytes, ++value);
            fill(s.shadow, value); // the engine's capture, folded in: the next abort restores this
            section_lock::publish(s.ctl, lock_seq(seen) + 2);
            ++commits;
            break;
        case 2: { // a client's transaction that the engine rolls back
            ASSERT_TRUE(section_lock::try_begin(s.ctl, seen, 0));
            fill(s.bytes, kPoison);
            const std::uint64_t held = section_lock::load(s.ctl);
            for (int w = 0; w < kWords; ++w) // the engine puts the committed copy back
                std::atomic_ref<std::uint64_t>(s.bytes[w]).store(get(s.shadow, w), std::memory_order_relaxed);
            section_lock::publish(s.ctl, section_lock::rollback_seq(held));
            break;
        }
        default: { // the engine applies a replicated commit: owner 0, the sequence jumps
            const std::uint64_t next = lock_seq(seen) + 6;
            ASSERT_TRUE(section_lock::try_take(s.ctl, seen, next - 1, 0));
            fill(s.bytes, ++value);
            fill(s.shadow, value);
            section_lock::publish(s.ctl, next);
            ++commits;
        }
        }
    }
    stop = true;
    reader.join();
    EXPECT_GE(validated.load(), 10'000u);
    EXPECT_EQ(torn.load(), 0u);
    EXPECT_EQ(poisoned.load(), 0u) << "an aborted transaction's bytes were read as a state";
    EXPECT_EQ(backwards.load(), 0u);
    EXPECT_EQ(value, commits);
    EXPECT_EQ(lock_seq(section_lock::load(s.ctl)) % 2, 0u);
}

// Two writers increment a plain counter inside their transactions (a load and a store, no RMW):
// only mutual exclusion keeps every increment.
TEST(SectionLock, TwoWritersNeverHoldItAtOnce) {
    FakeSection s;
    section_lock::publish(s.ctl, 2);
    constexpr int kEach = 20'000;
    auto writer = [&](std::uint32_t slot) {
        for (int i = 0; i < kEach; ++i) {
            ASSERT_TRUE(begin(s.ctl, slot));
            const std::uint64_t held = section_lock::load(s.ctl);
            EXPECT_EQ(lock_owner(held), slot + 1);
            fill(s.bytes, get(s.bytes, 0) + 1);
            section_lock::publish(s.ctl, lock_seq(held) + 1);
        }
    };
    std::thread a(writer, 0u), b(writer, 1u);
    a.join();
    b.join();
    EXPECT_EQ(get(s.bytes, 0), 2u * kEach);
    EXPECT_EQ(section_lock::load(s.ctl), make_lock(2 + 4 * kEach, 0));
}

// The engine fences the section (delete) while a writer commits in a loop: the fence lands only
// on a free word, after which the writer can take it no more, and the bytes are the last commit.
TEST(SectionLock, TheEngineFenceStopsAWriterBetweenCommits) {
    FakeSection s;
    section_lock::publish(s.ctl, 2);
    std::atomic<std::uint64_t> commits{0};
    std::thread writer([&] {
        while (begin(s.ctl, 5)) {
            const std::uint64_t held = section_lock::load(s.ctl);
            fill(s.bytes, kPoison);
            fill(s.bytes, commits.load() + 1);
            section_lock::publish(s.ctl, lock_seq(held) + 1);
            commits.fetch_add(1);
        }
    });
    while (commits.load() < 1'000) std::this_thread::yield(); // some commits before the delete
    std::uint64_t seen = section_lock::load(s.ctl);
    for (;;) {
        if (lock_held(seen)) {
            seen = section_lock::load(s.ctl);
            continue;
        }
        if (section_lock::try_fence(s.ctl, seen)) break;
    }
    writer.join();
    const std::uint64_t fenced = section_lock::load(s.ctl);
    EXPECT_TRUE(section_lock::fenced(fenced));
    EXPECT_EQ(lock_seq(fenced), lock_seq(seen) + 1);
    EXPECT_EQ(lock_seq(seen), 2 + 2 * commits.load()) << "every commit before the fence, none after";
    for (int i = 0; i < kWords; ++i) EXPECT_EQ(get(s.bytes, i), commits.load());
}

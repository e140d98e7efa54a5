// The dirty bitmap (shm/include/ckpt/shm/dirty_bitmap.hpp) between two threads over dirty words
// in ordinary memory, no engine process: marks made by one thread are walked and cleared by the
// other, which meanwhile marks another section's blocks in the same words; every take returns
// exactly what its commit marked, and no mark made concurrently is lost.
#include "ckpt/shm/dirty_bitmap.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <vector>

using namespace ckpt::shm;

namespace {

std::set<std::uint64_t> set_bits(const std::vector<std::uint64_t>& words) {
    std::set<std::uint64_t> r;
    for (std::uint64_t w = 0; w < words.size(); ++w)
        for (int b = 0; b < 64; ++b)
            if (words[w] >> b & 1) r.insert(w * 64 + b);
    return r;
}

} // namespace

TEST(DirtyBitmap, MarkTakeAndClearCoverExactlyTheirRange) {
    std::vector<std::uint64_t> words(4, 0);
    dirty_bitmap::mark(words.data(), 60, 10); // across a word boundary
    EXPECT_EQ(words[0], 0xFull << 60);
    EXPECT_EQ(words[1], 0x3Full);
    dirty_bitmap::mark(words.data(), 128, 64); // one whole word
    EXPECT_EQ(words[2], ~0ull);
    dirty_bitmap::mark(words.data(), 0, 0);
    EXPECT_EQ(words[0], 0xFull << 60) << "an empty range marks nothing";
    std::vector<std::uint64_t> got;
    EXPECT_EQ(dirty_bitmap::take(words.data(), 62, 70, [&](std::uint64_t b) { got.push_back(b); }), 8u + 4u);
    EXPECT_EQ(got, (std::vector<std::uint64_t>{62, 63, 64, 65, 66, 67, 68, 69, 128, 129, 130, 131}));
    EXPECT_EQ(words[0], 0x3ull << 60) << "blocks before the range stay";
    EXPECT_EQ(words[1], 0u);
    EXPECT_EQ(words[2], ~0ull << 4) << "blocks after the range stay";
    dirty_bitmap::clear(words.data(), 0, 256);
    EXPECT_EQ(set_bits(words).size(), 0u);
}

TEST(DirtyBitmap, ThePublishedRangeIsValidatedBeforeTheEngineScansIt) {
    SectionControl ctl{};
    dirty_bitmap::publish_range(ctl, 2, 5);
    auto r = dirty_bitmap::scan_range(ctl, 16);
    EXPECT_EQ(r.first, 2u);
    EXPECT_EQ(r.count, 4u);
    r = dirty_bitmap::scan_range(ctl, 5); // the range ends past a 5-block section: scan all of it
    EXPECT_EQ(r.first, 0u);
    EXPECT_EQ(r.count, 5u);
    dirty_bitmap::publish_range(ctl, 7, 3); // backwards
    EXPECT_EQ(dirty_bitmap::scan_range(ctl, 16).count, 16u);
    dirty_bitmap::reset_range(ctl);
    EXPECT_GT(ctl.dirty_first, ctl.dirty_last) << "no range: nothing marked";
    EXPECT_EQ(dirty_bitmap::scan_range(ctl, 16).count, 16u) << "an engine that finds none scans the whole section";
}

namespace {

/// One section's commits between a writer and the engine: the writer marks blocks of `ranges`
/// for commit c and publishes c; the engine takes the ranges once c is published and says so.
struct Pipe {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges; ///< (first, count) blocks
    std::atomic<int> published{0}, captured{0};
    std::vector<std::set<std::uint64_t>> marked, taken;
    explicit Pipe(int commits) : marked(commits + 1), taken(commits + 1) {}
};

constexpr int kCommits = 10'000;

/// One thread: the writer of `mine` and the engine of `theirs`, interleaved without blocking, so
/// its marks land while the other thread's takes clear bits in the same words and vice versa.
void writer_and_engine(std::vector<std::uint64_t>& words, Pipe& mine, Pipe& theirs, unsigned seed) {
    std::mt19937 rng(seed);
    int next = 1, to_take = 1;
    unsigned idle_turns = 0;
    while (next <= kCommits || to_take <= kCommits) {
        bool idle = true;
        if (next <= kCommits && mine.captured.load(std::memory_order_acquire) == next - 1) {
            idle = false;
            for (int i = 0, n = 1 + static_cast<int>(rng() % 6); i < n; ++i) {
                const auto [first, count] = mine.ranges[rng() % mine.ranges.size()];
                const std::uint64_t b = first + rng() % count,
                                    len = std::min<std::uint64_t>(1 + rng() % 3, first + count - b);
                dirty_bitmap::mark(words.data(), b, len);
                for (std::uint64_t k = b; k < b + len; ++k) mine.marked[next].insert(k);
            }
            mine.published.store(next++, std::memory_order_release); // the section lock's publish
        }
        if (to_take <= kCommits && theirs.published.load(std::memory_order_acquire) == to_take) {
            idle = false;
            for (const auto& [first, count] : theirs.ranges)
                dirty_bitmap::take(words.data(), first, count,
                                   [&](std::uint64_t b) { theirs.taken[to_take].insert(b); });
            theirs.captured.store(to_take++, std::memory_order_release);
        }
        if (idle && (++idle_turns & 255) == 0) std::this_thread::yield(); // the cores are shared
    }
}

} // namespace

// Two sections interleaved in every word (A: the low 32 blocks of each word, B: the high 32).
// Thread 1 writes A and captures B; thread 2 writes B and captures A. Every take must return
// exactly the blocks its commit marked: a clear that touched the other section's bits (a store
// instead of an RMW) loses a concurrent mark and shows here as a commit short of a block.
TEST(DirtyBitmap, ATakeNeverLosesAMarkMadeConcurrentlyInTheSameWords) {
    std::vector<std::uint64_t> words(4, 0);
    Pipe a(kCommits), b(kCommits);
    for (std::uint64_t w = 0; w < words.size(); ++w) {
        a.ranges.emplace_back(w * 64, 32);
        b.ranges.emplace_back(w * 64 + 32, 32);
    }
    std::thread one(writer_and_engine, std::ref(words), std::ref(a), std::ref(b), 7u);
    std::thread two(writer_and_engine, std::ref(words), std::ref(b), std::ref(a), 11u);
    one.join();
    two.join();
    int wrong = 0;
    for (int c = 1; c <= kCommits; ++c) wrong += (a.taken[c] != a.marked[c]) + (b.taken[c] != b.marked[c]);
    EXPECT_EQ(wrong, 0) << "commits whose take differed from what they marked";
    EXPECT_TRUE(set_bits(words).empty()) << "every mark was taken";
}

// ExtentAllocator: first-fit allocation of block runs, reservation (segment adoption), release with
// neighbour merging, and the free_blocks / largest_free accounting; plus a seeded model check
// against a plain bitmap.
#include "store/extent_allocator.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <vector>

using ckpt::engine::ExtentAllocator;

namespace {

TEST(ExtentAllocator, EmptyAllocator) {
    ExtentAllocator a;
    EXPECT_EQ(a.free_blocks(), 0u);
    EXPECT_EQ(a.largest_free(), 0u);
    EXPECT_FALSE(a.allocate(1).has_value());
    EXPECT_FALSE(a.reserve(0, 1));
    ExtentAllocator z(0);
    EXPECT_EQ(z.free_blocks(), 0u);
    EXPECT_FALSE(z.allocate(1).has_value());
}

TEST(ExtentAllocator, AllocatesFirstFitInAddressOrder) {
    ExtentAllocator a(100);
    EXPECT_EQ(a.free_blocks(), 100u);
    EXPECT_EQ(a.largest_free(), 100u);
    EXPECT_EQ(a.allocate(10), std::optional<std::uint64_t>(0));
    EXPECT_EQ(a.allocate(20), std::optional<std::uint64_t>(10));
    EXPECT_EQ(a.allocate(5), std::optional<std::uint64_t>(30));
    EXPECT_EQ(a.free_blocks(), 65u);
    EXPECT_EQ(a.largest_free(), 65u);

    // Free a hole of 20 at 10: a request of 15 takes the front of the hole, not the tail.
    a.release(10, 20);
    EXPECT_EQ(a.free_blocks(), 85u);
    EXPECT_EQ(a.allocate(15), std::optional<std::uint64_t>(10));
    // 5 blocks remain at 25; a request of 6 skips them, a request of 5 fits exactly.
    EXPECT_EQ(a.allocate(6), std::optional<std::uint64_t>(35));
    EXPECT_EQ(a.allocate(5), std::optional<std::uint64_t>(25));
    EXPECT_EQ(a.free_blocks(), 59u);
    EXPECT_EQ(a.largest_free(), 59u);
}

TEST(ExtentAllocator, ZeroAndOversizedRequests) {
    ExtentAllocator a(8);
    EXPECT_FALSE(a.allocate(0).has_value());
    EXPECT_FALSE(a.allocate(9).has_value());
    EXPECT_FALSE(a.allocate(std::numeric_limits<std::uint64_t>::max()).has_value());
    EXPECT_EQ(a.free_blocks(), 8u);
    EXPECT_EQ(a.allocate(8), std::optional<std::uint64_t>(0));
    EXPECT_FALSE(a.allocate(1).has_value());
    EXPECT_EQ(a.free_blocks(), 0u);
    EXPECT_EQ(a.largest_free(), 0u);
}

TEST(ExtentAllocator, FragmentationLimitsLargestFree) {
    ExtentAllocator a(10);
    for (int i = 0; i < 10; ++i) ASSERT_EQ(a.allocate(1), std::optional<std::uint64_t>(i));
    for (std::uint64_t b = 0; b < 10; b += 2) a.release(b, 1); // free 0,2,4,6,8
    EXPECT_EQ(a.free_blocks(), 5u);
    EXPECT_EQ(a.largest_free(), 1u);
    EXPECT_FALSE(a.allocate(2).has_value()); // five free blocks, no run of two
    EXPECT_EQ(a.allocate(1), std::optional<std::uint64_t>(0));
}

TEST(ExtentAllocator, ReleaseMergesWithBothNeighbours) {
    ExtentAllocator a(30);
    ASSERT_EQ(a.allocate(10), std::optional<std::uint64_t>(0));
    ASSERT_EQ(a.allocate(10), std::optional<std::uint64_t>(10));
    ASSERT_EQ(a.allocate(10), std::optional<std::uint64_t>(20));
    a.release(0, 10);
    a.release(20, 10);
    EXPECT_EQ(a.largest_free(), 10u);
    a.release(10, 10); // joins [0,10) and [20,30)
    EXPECT_EQ(a.free_blocks(), 30u);
    EXPECT_EQ(a.largest_free(), 30u);
    EXPECT_EQ(a.allocate(30), std::optional<std::uint64_t>(0));
}

TEST(ExtentAllocator, ReleaseMergesWithOneNeighbour) {
    ExtentAllocator a(30);
    ASSERT_TRUE(a.allocate(30).has_value());
    a.release(0, 5);
    a.release(5, 5); // merges with the previous run
    EXPECT_EQ(a.largest_free(), 10u);
    a.release(25, 5);
    a.release(20, 5); // merges with the next run
    EXPECT_EQ(a.largest_free(), 10u);
    EXPECT_EQ(a.free_blocks(), 20u);
    EXPECT_EQ(a.allocate(10), std::optional<std::uint64_t>(0));
    EXPECT_EQ(a.allocate(10), std::optional<std::uint64_t>(20));
    a.release(15, 3); // no neighbour free: a run of its own
    EXPECT_EQ(a.largest_free(), 3u);
    EXPECT_EQ(a.free_blocks(), 3u);
    a.release(18, 2);
    a.release(10, 5); // now [10,20) is one run
    EXPECT_EQ(a.largest_free(), 10u);
    EXPECT_EQ(a.allocate(10), std::optional<std::uint64_t>(10));
    a.release(7, 0); // a no-op
    EXPECT_EQ(a.free_blocks(), 0u);
}

TEST(ExtentAllocator, ReserveSplitsAFreeRun) {
    ExtentAllocator a(100);
    EXPECT_TRUE(a.reserve(40, 20));
    EXPECT_EQ(a.free_blocks(), 80u);
    EXPECT_EQ(a.largest_free(), 40u);
    EXPECT_TRUE(a.reserve(0, 1));   // at the start of a run
    EXPECT_TRUE(a.reserve(99, 1));  // at the end of the area
    EXPECT_TRUE(a.reserve(60, 10)); // at the start of the run after [40,60)
    EXPECT_TRUE(a.reserve(30, 10)); // at the end of the run before [40,60)
    EXPECT_EQ(a.free_blocks(), 58u);
    EXPECT_EQ(a.allocate(29), std::optional<std::uint64_t>(1));
    EXPECT_EQ(a.allocate(29), std::optional<std::uint64_t>(70));
    EXPECT_EQ(a.free_blocks(), 0u);
    EXPECT_TRUE(a.reserve(5, 0)); // empty range: nothing to take
}

TEST(ExtentAllocator, ReserveRefusesOverlapsAndLeavesStateAlone) {
    ExtentAllocator a(100);
    ASSERT_TRUE(a.reserve(40, 20));
    EXPECT_FALSE(a.reserve(40, 20)); // the same range again
    EXPECT_FALSE(a.reserve(50, 1));  // inside
    EXPECT_FALSE(a.reserve(30, 11)); // overlaps the start
    EXPECT_FALSE(a.reserve(59, 5));  // overlaps the end
    EXPECT_FALSE(a.reserve(30, 40)); // covers it
    EXPECT_FALSE(a.reserve(39, 2));
    EXPECT_EQ(a.free_blocks(), 80u);
    EXPECT_EQ(a.largest_free(), 40u);
    EXPECT_TRUE(a.reserve(30, 10));
    EXPECT_TRUE(a.reserve(60, 10));
}

TEST(ExtentAllocator, ReserveRefusesOutOfRange) {
    ExtentAllocator a(100);
    EXPECT_FALSE(a.reserve(100, 1));
    EXPECT_FALSE(a.reserve(99, 2));
    EXPECT_FALSE(a.reserve(0, 101));
    EXPECT_FALSE(a.reserve(1000, 5));
    EXPECT_EQ(a.free_blocks(), 100u);
    EXPECT_EQ(a.largest_free(), 100u);
}

// first + n wrapping around 2^64 is out of range too, not a small range (adoption reads these from a
// segment, so they are untrusted until checked).
TEST(ExtentAllocator, ReserveRefusesRangesThatWrap) {
    constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
    const std::pair<std::uint64_t, std::uint64_t> ranges[] = {{kMax, 2}, {kMax - 10, 20}, {50, kMax}, {1, kMax}};
    for (auto [first, n] : ranges) {
        ExtentAllocator a(100);
        EXPECT_FALSE(a.reserve(first, n)) << "reserve(" << first << ", " << n << ")";
        EXPECT_EQ(a.free_blocks(), 100u) << "after reserve(" << first << ", " << n << ")";
        EXPECT_EQ(a.largest_free(), 100u) << "after reserve(" << first << ", " << n << ")";
    }
}

// ---------------------------------------------------------------------------------------------
// Model check
// ---------------------------------------------------------------------------------------------

class Model {
public:
    explicit Model(std::uint64_t blocks) : used_(blocks, false) {}
    bool range_free(std::uint64_t first, std::uint64_t n) const {
        if (first > used_.size() || n > used_.size() - first) return false;
        for (std::uint64_t b = first; b < first + n; ++b)
            if (used_[b]) return false;
        return true;
    }
    // First fit over maximal runs == the lowest start of n free blocks.
    std::optional<std::uint64_t> first_fit(std::uint64_t n) const {
        if (n == 0) return std::nullopt;
        std::uint64_t run = 0;
        for (std::uint64_t b = 0; b < used_.size(); ++b) {
            run = used_[b] ? 0 : run + 1;
            if (run == n) return b + 1 - n;
        }
        return std::nullopt;
    }
    void set(std::uint64_t first, std::uint64_t n, bool v) {
        for (std::uint64_t b = first; b < first + n; ++b) used_[b] = v;
    }
    std::uint64_t free_blocks() const {
        return static_cast<std::uint64_t>(std::count(used_.begin(), used_.end(), false));
    }
    std::uint64_t largest_free() const {
        std::uint64_t best = 0, run = 0;
        for (bool u : used_) {
            run = u ? 0 : run + 1;
            best = std::max(best, run);
        }
        return best;
    }

private:
    std::vector<bool> used_;
};

struct Extent {
    std::uint64_t first, n;
};

TEST(ExtentAllocator, RandomizedAgainstBitmapModel) {
    constexpr std::uint64_t kBlocks = 512;
    std::mt19937 rng(20240611);
    ExtentAllocator a(kBlocks);
    Model m(kBlocks);
    std::vector<Extent> held;
    auto pick = [&](std::uint64_t lo, std::uint64_t hi) {
        return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
    };
    for (int op = 0; op < 10'000; ++op) {
        SCOPED_TRACE("op " + std::to_string(op));
        const auto kind = pick(0, 99);
        if (kind < 45) {
            // Mostly small requests, sometimes large ones that must fail or take a big run.
            std::uint64_t n = pick(0, 9) == 0 ? pick(0, kBlocks + 1) : pick(1, 16);
            auto got = a.allocate(n);
            auto want = m.first_fit(n);
            ASSERT_EQ(got, want) << "allocate(" << n << ")";
            if (got) {
                m.set(*got, n, true);
                held.push_back({*got, n});
            }
        } else if (kind < 85) {
            if (held.empty()) continue;
            std::size_t i = pick(0, held.size() - 1);
            Extent e = held[i];
            held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
            if (e.n > 1 && pick(0, 3) == 0) {
                // Release only a part (front, back or middle); keep the rest held.
                std::uint64_t off = pick(0, e.n - 1), len = pick(1, e.n - off);
                a.release(e.first + off, len);
                m.set(e.first + off, len, false);
                if (off > 0) held.push_back({e.first, off});
                if (off + len < e.n) held.push_back({e.first + off + len, e.n - off - len});
            } else {
                a.release(e.first, e.n);
                m.set(e.first, e.n, false);
            }
        } else {
            std::uint64_t first = pick(0, kBlocks + 8), n = pick(0, 24);
            bool want = n == 0 || m.range_free(first, n);
            ASSERT_EQ(a.reserve(first, n), want) << "reserve(" << first << ", " << n << ")";
            if (want && n > 0) {
                m.set(first, n, true);
                held.push_back({first, n});
            }
        }
        ASSERT_EQ(a.free_blocks(), m.free_blocks());
        ASSERT_EQ(a.largest_free(), m.largest_free());
    }
    // Give everything back: the area is one run again.
    for (const Extent& e : held) a.release(e.first, e.n);
    EXPECT_EQ(a.free_blocks(), kBlocks);
    EXPECT_EQ(a.largest_free(), kBlocks);
    EXPECT_EQ(a.allocate(kBlocks), std::optional<std::uint64_t>(0));
}

} // namespace

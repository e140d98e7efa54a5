// Replication under the fault mixes of issue 13, in process (two engines' cores over an in-memory
// carrier pair, the seeded fault shim on both directions, the test's clock: a simulated minute
// runs in seconds and every run of a seed is the same run).
// - 20 % bursty loss (Gilbert-Elliott, bursts of 8 frames), 25 % reordering, 1 % duplication,
//   0.5 % corruption, then heal: the replica converges, nothing was acknowledged before the standby
//   applied it, and each side rejected exactly the frames the other side's shim corrupted.
// - Ten partitions in a row (5 s each, simulated) with commits attempted throughout: none is
//   acknowledged without the replica, and after the last the two are identical.
// CKPT_FAULT_MIX_SECONDS (default 5) sets the simulated length of the mix; tests/soak runs 60.
#include "ckpt/net/fault_shim.hpp"
#include "ckpt/shm/atomics.hpp"
#include "in_process_pair.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <random>

using namespace ckpt;
using namespace ckpt::engine;
using namespace ckpt::testing;

namespace {

/// Frames refused for their integrity: the tag failed, or the key id was not one this node holds.
std::uint64_t bad_tag(const PeerLink& l) {
    return l.counters().rejected[static_cast<std::size_t>(net::Reject::kBadHash)] +
           l.counters().rejected[static_cast<std::size_t>(net::Reject::kUnknownKey)];
}
std::uint64_t replayed(const PeerLink& l) {
    return l.counters().rejected[static_cast<std::size_t>(net::Reject::kReplayed)];
}
std::uint64_t rejected(const PeerLink& l) {
    std::uint64_t n = 0;
    for (auto r : l.counters().rejected) n += r;
    return n;
}

class FaultMix : public ::testing::Test, protected InProcessPair {
protected:
    void start(net::FaultConfig fa, net::FaultConfig fb) {
        // Clean until the standby is in sync (impair() below), then the faults of fa and fb.
        Options o;
        o.link_up_ms = 30000;
        o.wrap = [&](std::unique_ptr<MemoryCarrier> c, std::uint16_t node) -> std::unique_ptr<net::Transport> {
            const net::FaultConfig& f = node == 1 ? fa : fb;
            net::FaultConfig clean;
            clean.seed = f.seed;
            clean.tx = f.tx;
            clean.rx = f.rx;
            auto shim = std::make_unique<net::FaultShim>(std::move(c), clean, [this] { return now_; });
            (node == 1 ? shim_a_ : shim_b_) = shim.get();
            return shim;
        };
        ASSERT_TRUE(start_pair(std::move(o))) << failure_;
        // After every turn: nothing is acknowledged that the standby does not hold (acknowledged
        // means replicated).
        each_step_ = [this] {
            if (standby_ && standby_->section_state(slot_) && acked_of(*active_, slot_) > seq_of(*standby_, slot_))
                ++violations_;
        };
        ASSERT_TRUE(create_replicated("mix", pair_attrs(), 8192, 60000)) << failure_;
        // The standby holds the active's state before the faults start: over a clean network its
        // first resync ends and a commit comes back acknowledged, applied there. (A standby that
        // vanishes before its first resync ends is dropped, not waited for: it never held an
        // acknowledged commit and is not promotable.)
        std::mt19937_64 rng(1);
        const std::uint64_t first = commit(rng);
        ASSERT_TRUE(
            run_until([&] { return acked_of(*active_, slot_) >= first && seq_of(*standby_, slot_) >= first; }, 30000));
        shim_a_->impair(fa);
        shim_b_->impair(fb);
    }
    std::uint64_t commit(std::mt19937_64& rng) {
        std::vector<std::byte> b(1 + rng() % 700);
        for (auto& x : b) x = static_cast<std::byte>(rng());
        return InProcessPair::commit(rng() % (8192 - b.size()), b);
    }
    bool converged() {
        return acked_of(*active_, slot_) >= seq_of(*active_, slot_) &&
               section_bytes(*standby_, slot_) == section_bytes(*active_, slot_) && shim_a_->held() == 0 &&
               shim_b_->held() == 0;
    }

    net::FaultShim *shim_a_ = nullptr, *shim_b_ = nullptr;
    std::uint64_t violations_ = 0;
};

int mix_seconds() {
    const char* v = std::getenv("CKPT_FAULT_MIX_SECONDS");
    return v && *v ? std::max(1, std::atoi(v)) : 5;
}

TEST_F(FaultMix, BurstyLossReorderingDuplicationCorruptionThenHealConverges) {
    net::FaultConfig f;
    f.seed = 13;
    f.drop_pct = 20;
    f.burst_frames = 8;
    f.reorder_pct = 25;
    f.dup_pct = 1;
    f.corrupt_pct = 0.5;
    f.tx = true; // each side's frames are impaired on the way out: its shim counts what it corrupted
    net::FaultConfig g = f;
    g.seed = 17;
    start(f, g);
    std::mt19937_64 rng(5);
    const std::int64_t end = now_ + std::int64_t{mix_seconds()} * 1000 * kMs;
    std::uint64_t commits = 0, acked = 0;
    while (now_ < end) {
        const std::uint64_t seq = commit(rng);
        ++commits;
        // A sync committer waits for its acknowledgement (or gives up after 2 s and writes again).
        if (run_until([&] { return acked_of(*active_, slot_) >= seq; }, 2000)) ++acked;
    }
    shim_a_->heal();
    shim_b_->heal();
    ASSERT_TRUE(run_until([&] { return converged(); }, 60000)) << "not converged after the heal";
    run_until([] { return false; }, 500); // frames still in flight land
    EXPECT_EQ(violations_, 0u) << "commits acknowledged before the standby applied them";
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
    const auto& ta = shim_a_->tx_counters();
    const auto& tb = shim_b_->tx_counters();
    std::printf("fault mix, %d s simulated: %llu commits (%llu acknowledged within 2 s); node 1 shim: %llu frames, "
                "%llu dropped in %llu bursts, %llu reordered, %llu duplicated, %llu corrupted copies; node 2 shim: "
                "%llu frames, %llu dropped, %llu corrupted copies\n",
                mix_seconds(), static_cast<unsigned long long>(commits), static_cast<unsigned long long>(acked),
                static_cast<unsigned long long>(ta.frames), static_cast<unsigned long long>(ta.dropped),
                static_cast<unsigned long long>(ta.bursts), static_cast<unsigned long long>(ta.reordered),
                static_cast<unsigned long long>(ta.duplicated), static_cast<unsigned long long>(ta.corrupted_copies),
                static_cast<unsigned long long>(tb.frames), static_cast<unsigned long long>(tb.dropped),
                static_cast<unsigned long long>(tb.corrupted_copies));
    EXPECT_GT(ta.bursts, 0u);
    EXPECT_GT(ta.corrupted_copies + tb.corrupted_copies, 0u) << "the mix corrupted nothing: too short to test";
    // Every corrupted copy was refused by the receiver's frame checks, and nothing else was: the
    // tag in most cases, or an envelope check before it when the flipped bit lands in the magic,
    // version, type or a length. Apart from those, only the shim's duplicates are refused, as
    // replays (a counter of their own).
    EXPECT_EQ(rejected(b_->link()) - replayed(b_->link()), ta.corrupted_copies);
    EXPECT_EQ(rejected(a_->link()) - replayed(a_->link()), tb.corrupted_copies);
    EXPECT_LE(replayed(b_->link()), ta.duplicated + ta.corrupted_copies);
    EXPECT_LE(replayed(a_->link()), tb.duplicated + tb.corrupted_copies);
    EXPECT_LE(bad_tag(b_->link()), ta.corrupted_copies);
    EXPECT_LE(bad_tag(a_->link()), tb.corrupted_copies);
}

TEST_F(FaultMix, TenPartitionsInARowNoCommitAcknowledgedWithoutTheReplica) {
    start({}, {});
    std::mt19937_64 rng(9);
    std::uint64_t during = 0, acked_during = 0;
    for (int partition = 0; partition < 10; ++partition) {
        wire_a_->cut(true);
        const std::int64_t end = now_ + 5000 * kMs;
        while (now_ < end) { // commits attempted throughout the partition
            const std::uint64_t seq = commit(rng);
            ++during;
            if (run_until([&] { return acked_of(*active_, slot_) >= seq; }, 500)) ++acked_during;
        }
        EXPECT_FALSE(a_->link().is_up(2)) << "partition " << partition;
        wire_a_->cut(false);
        // Healed: the standby is resynced and the commits made meanwhile are acknowledged.
        ASSERT_TRUE(run_until([&] { return converged(); }, 30000)) << "partition " << partition;
        const std::uint64_t seq = commit(rng);
        ASSERT_TRUE(run_until([&] { return acked_of(*active_, slot_) >= seq; }, 5000)) << "partition " << partition;
    }
    EXPECT_EQ(acked_during, 0u) << "commits returned OK while the standby was cut off";
    EXPECT_GT(during, 10u);
    EXPECT_EQ(violations_, 0u);
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
    EXPECT_GE(a_->replicator().counters().resyncs, 10u);
}

} // namespace

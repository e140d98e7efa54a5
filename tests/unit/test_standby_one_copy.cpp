// Issue 14, "one pass per byte", the standby's half: a commit in several fragments is held in the
// buffers its frames arrived in (the carrier's: here the in-memory carrier's pooled buffers, over
// DPDK the RX mbufs) until its last fragment, then applied from them into the live area under the
// section's seqlock: one copy per byte before the ACK (ReplicaApplier's counters count them). The
// shadow catches up after the ACK went out (settle), so that a promoted standby rolls a dead
// writer back from it. Fragments lost, duplicated or reordered, a link cut in the middle, a
// commit over the hold limit: each commit is applied once and whole, or not at all, and every
// held buffer goes back to its pool.
#include "allocation_counter.hpp"
#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/section_lock.hpp"
#include "in_process_pair.hpp"
#include "replication/replica_applier.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <vector>

using namespace ckpt;
using namespace ckpt::engine;
using namespace ckpt::testing;

namespace {

constexpr std::uint64_t kCap = 16 * 1024; // 12 DATA frames at mtu 1500

class StandbyOneCopy : public ::testing::Test, protected InProcessPair {
protected:
    /// Node 1 active with one 16 KiB section, node 2 its standby. `window`: frames in flight
    /// (small: a commit's fragments arrive over many turns, so several are held at once).
    void start(std::uint32_t window = 1024, const net::FaultConfig& fault_a = {}) {
        Options o;
        o.link_a.stream.window = window;
        o.link_b.stream.window = window;
        if (fault_a.enabled())
            o.wrap = [fault_a, this](std::unique_ptr<MemoryCarrier> c,
                                     std::uint16_t node) -> std::unique_ptr<net::Transport> {
                if (node != 1) return c; // node 2 receives straight from the wire: it gets the buffers
                return std::make_unique<net::FaultShim>(std::move(c), fault_a, [this] { return now_; });
            };
        ASSERT_TRUE(start_pair(o)) << failure_;
        ASSERT_TRUE(create_replicated("onecopy", pair_attrs(UpdateMode::kSync), kCap)) << failure_;
        ASSERT_TRUE(acked(commit(0, fill(kCap, 0x01))));
        applier_ = b_->replicator().applier_of(*standby_);
        ASSERT_NE(applier_, nullptr);
    }
    static std::vector<std::byte> fill(std::size_t n, int v) { return std::vector<std::byte>(n, std::byte(v)); }
    /// The standby's section as readers see it is one value throughout (never part of a commit).
    bool uniform(const Checkpoint& c) const {
        const auto b = section_bytes(c, slot_);
        for (std::byte x : b)
            if (x != b.front()) return false;
        return true;
    }
    void watch_uniform() {
        each_step_ = [this] {
            if (!uniform(*standby_)) ++torn_;
            peak_held_ = std::max(peak_held_, applier_->counters().buffers_held);
        };
    }
    /// The standby's shadow (its committed copy) equals its live bytes.
    bool shadow_is_live(const Checkpoint& c) const {
        const auto live = section_bytes(c, slot_);
        const auto shadow = c.committed_bytes(slot_);
        return std::memcmp(live.data(), shadow.data(), live.size()) == 0;
    }
    /// Frames' buffers kept by a receiver (the wire's pool less what waits on its lanes).
    std::uint64_t kept_by_receivers() const {
        return wire_a_->buffers_out() - wire_a_->queued_at_peer() - wire_b_->queued_at_peer();
    }
    ReplicaApplier* applier_ = nullptr;
    std::uint64_t torn_ = 0, peak_held_ = 0;
};

TEST_F(StandbyOneCopy, AMultiFragmentCommitIsAppliedWholeFromItsHeldBuffersWithOneCopyPerByte) {
    start(2); // two frames in flight: the commit's 12 fragments arrive over many turns
    watch_uniform();
    const auto before = applier_->counters();
    const std::uint64_t seq = commit(0, fill(kCap, 0x22));
    ASSERT_TRUE(acked(seq));
    const auto after = applier_->counters();
    EXPECT_EQ(section_bytes(*standby_, slot_), fill(kCap, 0x22));
    EXPECT_EQ(torn_, 0u) << "a reader on the standby saw part of the commit";
    EXPECT_GE(peak_held_, 2u) << "the fragments were not held until the last one";
    // Before the ACK, each byte was copied once: from the buffer it arrived in to the live area.
    EXPECT_EQ(after.held_bytes - before.held_bytes, kCap);
    EXPECT_EQ(after.applied_bytes - before.applied_bytes, kCap);
    EXPECT_EQ(after.copied_in - before.copied_in, 0u) << "a byte was staged before its apply";
    EXPECT_EQ(after.fallbacks, before.fallbacks);
    // After the ACK, the shadow caught up (the second copy, off the ACK's path), and writers may
    // use the section again (captured_seq = the commit's sequence).
    step();
    EXPECT_EQ(applier_->counters().settled_bytes - before.settled_bytes, kCap);
    EXPECT_TRUE(shadow_is_live(*standby_));
    EXPECT_EQ(shm::load_acquire(standby_->meta().desc(slot_).captured_seq), seq_of(*standby_, slot_));
    EXPECT_EQ(kept_by_receivers(), 0u) << "a frame buffer was never given back";
    EXPECT_EQ(applier_->counters().buffers_held, 0u);
}

TEST_F(StandbyOneCopy, HoldingAndApplyingCommitsAllocatesNothingOnTheStandbyInSteadyState) {
    start(8);
    auto one = [&](int v, bool count) {
        const std::uint64_t seq = commit(0, fill(kCap, v));
        for (int i = 0; i < 5000 && acked_of(*active_, slot_) < seq; ++i) {
            a_->step();
            count_allocations(count);
            b_->step(); // frames in, held, applied, ACK out, settled
            count_allocations(false);
            now_ += kMs / 10;
        }
        return acked_of(*active_, slot_) >= seq;
    };
    for (int v = 0; v < 20; ++v) ASSERT_TRUE(one(v, false)); // warm-up: vectors and pools grow
    const auto before = applier_->counters();
    reset_allocations();
    for (int v = 20; v < 60; ++v) ASSERT_TRUE(one(v, true));
    EXPECT_EQ(allocations(), 0u) << "the standby allocated while holding and applying 40 commits";
    EXPECT_EQ(applier_->counters().held_bytes - before.held_bytes, 40 * kCap);
    EXPECT_EQ(section_bytes(*standby_, slot_), fill(kCap, 59));
}

TEST_F(StandbyOneCopy, FragmentsLostDuplicatedOrReorderedStillApplyEachCommitOnceAndWhole) {
    net::FaultConfig f;
    f.seed = 14;
    f.drop_pct = 8;
    f.dup_pct = 8;
    f.reorder_pct = 8;
    start(8, f);
    watch_uniform();
    const std::uint64_t applied_before = standby_->counters().commits_applied;
    const auto before = applier_->counters();
    for (int i = 0; i < 30; ++i) {
        const std::uint64_t seq = commit(0, fill(kCap, 0x30 + i));
        ASSERT_TRUE(acked(seq, 20'000)) << "commit " << i;
        EXPECT_EQ(section_bytes(*standby_, slot_), fill(kCap, 0x30 + i)) << "commit " << i;
    }
    EXPECT_EQ(standby_->counters().commits_applied - applied_before, 30u) << "a commit applied twice or not at all";
    const auto after = applier_->counters();
    EXPECT_EQ(after.applied_bytes - before.applied_bytes, 30 * kCap) << "a fragment applied twice or not at all";
    EXPECT_EQ(torn_, 0u);
    run_for(50);
    EXPECT_TRUE(shadow_is_live(*standby_));
    EXPECT_EQ(kept_by_receivers(), 0u);
    // The faults did reach the stream (else this proves nothing). Commits whose fragments all
    // came in order were applied from their buffers; one with a fragment that waited behind a
    // gap (the link's copy) went to the shadow whole.
    EXPECT_GT(b_->link().peers()[0].stream.counters().nacks_sent + a_->link().peers()[0].stream.counters().timeouts,
              0u);
    EXPECT_GT(after.held_bytes - before.held_bytes, 0u);
    EXPECT_GT(after.unheld - before.unheld, 0u);
    EXPECT_EQ(after.applied_bytes - before.applied_bytes,
              (after.held_bytes - before.held_bytes) + (after.copied_in - before.copied_in))
        << "a byte neither held nor staged";
}

TEST_F(StandbyOneCopy, ALinkCutMidCommitLeavesNothingAndGivesEveryHeldBufferBack) {
    start(2);
    watch_uniform();
    wire_to(2).record(true);
    (void)commit(0, fill(kCap, 0x44));
    ASSERT_TRUE(run_until([&] { return applier_->counters().buffers_held >= 4; }));
    wire_to(2).cut(true); // node 1 is gone for good
    run_for(2000);        // node 2 declares it down (and keeps the half commit: the stream decides)
    EXPECT_FALSE(b_->link().is_up(1));
    EXPECT_GE(kept_by_receivers(), 4u);
    ASSERT_TRUE(b_->replicator().promote(standby_).ok());
    EXPECT_EQ(section_bytes(*standby_, slot_), fill(kCap, 0x01)) << "the promoted standby holds part of a commit";
    EXPECT_TRUE(shadow_is_live(*standby_));
    EXPECT_EQ(applier_->counters().buffers_held, 0u);
    EXPECT_EQ(kept_by_receivers(), 0u) << "the carrier's pool did not get every held buffer back";
    EXPECT_EQ(torn_, 0u);
}

TEST_F(StandbyOneCopy, ACommitOverTheHoldLimitIsStagedInTheShadowAndAppliedWhole) {
    start(2);
    watch_uniform();
    ReplicaApplier::Limits l;
    l.frames = 4; // the commit has 12 fragments
    applier_->set_limits(l);
    const auto before = applier_->counters();
    ASSERT_TRUE(acked(commit(0, fill(kCap, 0x55))));
    const auto after = applier_->counters();
    EXPECT_EQ(section_bytes(*standby_, slot_), fill(kCap, 0x55));
    EXPECT_EQ(torn_, 0u);
    EXPECT_EQ(after.fallbacks - before.fallbacks, 1u);
    EXPECT_LE(peak_held_, 4u) << "held past the limit";
    // The fallback: every byte staged in the shadow, then copied to the live area (two copies).
    EXPECT_EQ(after.copied_in - before.copied_in, kCap);
    EXPECT_EQ(after.applied_bytes - before.applied_bytes, kCap);
    EXPECT_EQ(after.held_bytes, before.held_bytes);
    step();
    EXPECT_TRUE(shadow_is_live(*standby_));
    EXPECT_EQ(kept_by_receivers(), 0u);
    // Under the limit again, the next commit is held.
    ASSERT_TRUE(acked(commit(0, fill(kCap, 0x56))));
    EXPECT_EQ(applier_->counters().fallbacks, after.fallbacks + 1) << "same size, same limit: falls back again";
    applier_->set_limits(ReplicaApplier::Limits{});
    ASSERT_TRUE(acked(commit(0, fill(kCap, 0x57))));
    EXPECT_EQ(applier_->counters().fallbacks, after.fallbacks + 1);
    EXPECT_EQ(applier_->counters().held_bytes - before.held_bytes, kCap);
    EXPECT_EQ(section_bytes(*standby_, slot_), fill(kCap, 0x57));
}

TEST_F(StandbyOneCopy, APromotedStandbyAfterManyCommitsRollsADeadWriterBackFromItsShadow) {
    start();
    std::mt19937 rng(14);
    std::vector<std::byte> expect(kCap, std::byte{0x01});
    for (int i = 0; i < 60; ++i) {
        // Commits of one fragment and of many, at different places.
        const std::size_t len = std::uniform_int_distribution<std::size_t>(1, kCap)(rng);
        const std::size_t off = std::uniform_int_distribution<std::size_t>(0, kCap - len)(rng);
        std::vector<std::byte> b(len);
        for (auto& x : b) x = std::byte(rng());
        std::memcpy(expect.data() + off, b.data(), len);
        ASSERT_TRUE(acked(commit(off, b)));
    }
    ASSERT_EQ(section_bytes(*standby_, slot_), expect);
    EXPECT_GT(applier_->counters().held_bytes, 0u);
    // The active dies; the standby is promoted at once (the shadow catches up at the promotion
    // whatever the loop did).
    wire_to(2).cut(true);
    ASSERT_TRUE(b_->replicator().promote(standby_).ok());
    EXPECT_TRUE(shadow_is_live(*standby_));
    // A writer on the new active scribbles over the whole section and dies mid-transaction.
    auto w = standby_->attach_writer(::getpid(), process_start_time(::getpid()));
    ASSERT_TRUE(w.ok()) << w.message();
    write_section(*standby_, *w, slot_, 0, fill(kCap, 0xEE), false);
    standby_->release_writer(*w);
    EXPECT_FALSE(shm::lock_held(shm::section_lock::load(standby_->data().control(slot_))));
    EXPECT_EQ(section_bytes(*standby_, slot_), expect) << "rolled back to something no commit produced";
    EXPECT_GE(standby_->counters().rollbacks, 1u);
}

TEST_F(StandbyOneCopy, AStandbyKilledAfterAnApplyBeforeItsShadowCaughtUpRestartsWithAShadowThatRollsBack) {
    start();
    const std::uint64_t seq = commit(0, fill(kCap, 0x66));
    // Node 2's loop only receives (and applies); it never reaches the settle after its flush,
    // and dies there.
    bool applied = false;
    for (int i = 0; i < 2000 && !applied; ++i) {
        a_->step();
        b_->link().poll(now_);
        now_ += kMs / 10;
        applied = section_bytes(*standby_, slot_) == fill(kCap, 0x66);
    }
    ASSERT_TRUE(applied);
    EXPECT_FALSE(shadow_is_live(*standby_)) << "nothing to repair: the test proves nothing";
    EXPECT_NE(shm::load_acquire(standby_->meta().desc(slot_).captured_seq), seq_of(*standby_, slot_))
        << "a writer could start on a section whose shadow is behind";
    EXPECT_LT(acked_of(*active_, slot_), seq);
    standby_.reset();
    applier_ = nullptr;
    auto carrier = wire_b_->reopen();
    wire_b_ = carrier.get();
    b_->restart(std::move(carrier));
    standby_ = b_->find("onecopy");
    ASSERT_TRUE(standby_);
    EXPECT_EQ(section_bytes(*standby_, slot_), fill(kCap, 0x66));
    EXPECT_TRUE(shadow_is_live(*standby_)) << "the restart kept a shadow behind its live bytes";
    EXPECT_EQ(shm::load_acquire(standby_->meta().desc(slot_).captured_seq), seq_of(*standby_, slot_));
    // Its active gone, node 2 is promoted; a writer dies mid-transaction: back to the last commit.
    wire_a_->cut(true);
    ASSERT_TRUE(b_->replicator().promote(standby_).ok());
    auto w = standby_->attach_writer(::getpid(), process_start_time(::getpid()));
    ASSERT_TRUE(w.ok()) << w.message();
    write_section(*standby_, *w, slot_, 100, fill(64, 0xEE), false);
    standby_->release_writer(*w);
    EXPECT_EQ(section_bytes(*standby_, slot_), fill(kCap, 0x66));
}

} // namespace

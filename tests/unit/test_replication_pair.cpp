// Two replicators in one process, over an in-memory carrier pair (wrapped in the seeded fault shim
// where a test wants faults) and the test's own clock: commits reach the standby, a partition holds
// synchronous acknowledgements back, a fenced former active steps down, a refused commit is
// resynced, and under loss, duplication, reordering and corruption nothing the active acknowledged
// is missing on the standby. No ckptd, no root; each scenario runs in milliseconds.
#include "ckpt/net/fault_shim.hpp"
#include "ckpt/shm/atomics.hpp"
#include "in_process_node.hpp"
#include "memory_carrier.hpp"
#include "replication/replica_applier.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <functional>
#include <random>

using namespace ckpt;
using namespace ckpt::engine;
using namespace ckpt::testing;

namespace {

constexpr std::int64_t kMs = 1'000'000;

std::uint64_t seq_of(const Checkpoint& c, std::uint32_t slot) {
    return shm::lock_seq(shm::load_acquire(c.data().control(slot).lock));
}

std::uint64_t acked_of(const Checkpoint& c, std::uint32_t slot) {
    return shm::load_acquire(c.meta().desc(slot).acked_seq);
}

class ReplicationPair : public ::testing::Test {
protected:
    void start(net::FaultConfig fault_a = {}, net::FaultConfig fault_b = {}) {
        auto [ca, cb] = MemoryCarrier::pair(1, 2);
        wire_ = ca.get();
        std::unique_ptr<net::Transport> ta = std::move(ca), tb = std::move(cb);
        auto clock = [this] { return now_; };
        if (fault_a.enabled()) ta = std::make_unique<net::FaultShim>(std::move(ta), fault_a, clock);
        if (fault_b.enabled()) tb = std::make_unique<net::FaultShim>(std::move(tb), fault_b, clock);
        a_ = std::make_unique<InProcessNode>(1, std::vector<std::uint16_t>{2}, std::move(ta), now_);
        b_ = std::make_unique<InProcessNode>(2, std::vector<std::uint16_t>{1}, std::move(tb), now_);
        ASSERT_TRUE(run_until([&] { return a_->link().is_up(2) && b_->link().is_up(1); }));
    }

    /// Steps both nodes, 100 us of the test's clock a turn, until `done` (false after `limit_ms`).
    bool run_until(const std::function<bool()>& done, int limit_ms = 5000) {
        for (int i = 0; i < limit_ms * 10; ++i) {
            if (done()) return true;
            a_->step();
            b_->step();
            if (each_step_) each_step_();
            now_ += kMs / 10;
        }
        return done();
    }
    void run_for(int ms) {
        const std::int64_t until = now_ + ms * kMs;
        run_until([&] { return now_ >= until; }, ms + 1);
    }

    /// A synchronous checkpoint active on node 1 with one section, mirrored on node 2.
    void create_replicated(std::uint32_t update_mode = static_cast<std::uint32_t>(UpdateMode::kSync)) {
        CheckpointAttributes attrs;
        attrs.creation_flags = update_mode;
        attrs.checkpoint_size = 64 * 1024;
        attrs.max_sections = 4;
        attrs.max_section_size = 16 * 1024;
        attrs.block_size = 256;
        active_ = a_->create("pair", attrs);
        ASSERT_TRUE(active_);
        auto created = active_->create_section(bytes_of("s"), false, kTimeEnd, 8192, {});
        ASSERT_TRUE(created.ok()) << created.message();
        slot_ = created->slot;
        auto w = active_->attach_writer(::getpid(), process_start_time(::getpid()));
        ASSERT_TRUE(w.ok());
        writer_ = *w;
        ASSERT_TRUE(run_until([&] {
            standby_ = b_->find("pair");
            return standby_ && standby_->section_state(slot_).has_value();
        }));
    }

    /// Writes and commits; returns the commit's sequence.
    std::uint64_t commit(std::uint64_t offset, const std::vector<std::byte>& b) {
        write_section(*active_, writer_, slot_, offset, b);
        return seq_of(*active_, slot_) + 0; // the lock's (even) sequence is the commit's
    }
    /// From now on, after every turn: the standby holds every commit the active acknowledged
    /// (acknowledged means replicated); each turn where it does not counts in violations_.
    void watch_acknowledged_means_replicated() {
        each_step_ = [this] {
            if (standby_ && standby_->section_state(slot_) && active_->role() == shm::kRoleActive &&
                acked_of(*active_, slot_) > seq_of(*standby_, slot_))
                ++violations_;
        };
    }
    bool acked(std::uint64_t seq, int limit_ms = 5000) {
        return run_until([&] { return acked_of(*active_, slot_) >= seq; }, limit_ms);
    }

    std::int64_t now_ = 1'000 * kMs;
    MemoryCarrier* wire_ = nullptr;
    std::unique_ptr<InProcessNode> a_, b_;
    std::shared_ptr<Checkpoint> active_, standby_;
    std::uint32_t slot_ = 0, writer_ = 0;
    std::function<void()> each_step_;
    std::uint64_t violations_ = 0;
};

TEST_F(ReplicationPair, SyncCommitIsAcknowledgedOnceTheStandbyAppliedIt) {
    start();
    create_replicated();
    const std::uint64_t seq = commit(100, bytes_of("replicated in process"));
    ASSERT_TRUE(acked(seq));
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
    EXPECT_GE(seq_of(*standby_, slot_), seq);
    EXPECT_EQ(standby_->role(), shm::kRoleStandby);
    EXPECT_GE(b_->replicator().counters().commits_applied, 1u);
    EXPECT_GE(a_->replicator().counters().resyncs, 1u) << "the standby joined by a resync";
    const auto members = a_->replicator().members_of(*active_);
    ASSERT_EQ(members.size(), 1u);
    EXPECT_STREQ(members[0].state, "in-sync");
}

TEST_F(ReplicationPair, APartitionHoldsTheAcknowledgementBackUntilTheStandbyResynced) {
    start();
    create_replicated();
    ASSERT_TRUE(acked(commit(0, bytes_of("before"))));
    wire_->cut(true);
    const std::uint64_t seq = commit(0, bytes_of("during"));
    run_for(2000); // well past peer_timeout_ms: both sides declared the other down
    EXPECT_FALSE(a_->link().is_up(2));
    EXPECT_LT(acked_of(*active_, slot_), seq) << "acknowledged means replicated: the standby has not got it";
    wire_->cut(false);
    ASSERT_TRUE(acked(seq));
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
    EXPECT_GE(a_->replicator().counters().resyncs, 2u);
}

TEST_F(ReplicationPair, AFencedFormerActiveStepsDownAndFollowsTheNewOne) {
    start();
    create_replicated();
    ASSERT_TRUE(acked(commit(0, bytes_of("epoch one"))));
    wire_->cut(true);
    run_for(1000);
    auto promoted = b_->replicator().promote(standby_);
    ASSERT_TRUE(promoted.ok());
    EXPECT_EQ(*promoted, 2u);
    const std::uint64_t stale = commit(0, bytes_of("stale write")); // node 1 still thinks it is active
    auto w = standby_->attach_writer(::getpid(), process_start_time(::getpid()));
    ASSERT_TRUE(w.ok());
    write_section(*standby_, *w, slot_, 0, bytes_of("new active"));
    run_for(100);
    wire_->cut(false);
    ASSERT_TRUE(run_until([&] {
        return active_->role() == shm::kRoleStandby &&
               section_bytes(*active_, slot_) == section_bytes(*standby_, slot_);
    }));
    EXPECT_EQ(active_->epoch(), 2u);
    EXPECT_EQ(standby_->role(), shm::kRoleActive);
    EXPECT_GE(b_->replicator().counters().stale_epoch + a_->replicator().counters().fenced, 1u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(section_bytes(*active_, slot_).data()), 10), "new active");
    EXPECT_GT(seq_of(*active_, slot_), stale) << "the stale write was replaced, never acknowledged";
}

TEST_F(ReplicationPair, ACommitTheStandbyCannotApplyIsRefusedAndResynced) {
    start();
    create_replicated();
    ASSERT_TRUE(acked(commit(0, bytes_of("in sync"))));
    const auto resyncs = a_->replicator().counters().resyncs;
    ReplicaApplier(*standby_).remove(slot_, 0); // the standby lost the section
    const std::uint64_t seq = commit(512, bytes_of("cannot apply"));
    ASSERT_TRUE(acked(seq));
    EXPECT_GE(b_->replicator().counters().refusals_sent, 1u);
    EXPECT_GE(a_->replicator().counters().refusals_received, 1u);
    EXPECT_GT(a_->replicator().counters().resyncs, resyncs);
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
}

TEST_F(ReplicationPair, UnderLossReorderingDuplicationAndCorruptionNothingAcknowledgedIsMissing) {
    net::FaultConfig f;
    f.seed = 7;
    f.drop_pct = 5;
    f.dup_pct = 5;
    f.reorder_pct = 10;
    f.corrupt_pct = 2;
    f.tx = f.rx = true;
    net::FaultConfig g = f;
    g.seed = 11;
    start(f, g);
    create_replicated();
    watch_acknowledged_means_replicated();
    std::mt19937_64 rng(3);
    for (int i = 0; i < 60; ++i) {
        std::vector<std::byte> b(1 + rng() % 700);
        for (auto& x : b) x = static_cast<std::byte>(rng());
        const std::uint64_t seq = commit(rng() % (8192 - b.size()), b);
        ASSERT_TRUE(acked(seq)) << "commit " << i;
    }
    EXPECT_EQ(violations_, 0u) << "commits acknowledged before the standby applied them";
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
    const auto& k = a_->link().peers()[0].stream.counters();
    EXPECT_GT(k.retransmits, 0u) << "the shim's losses were repaired by the stream";
}

TEST_F(ReplicationPair, AnAckIsDeferredBehindARefusalItQualifies) {
    // Node 2's frames overtake each other often: an ACK covering a refused commit can reach node 1
    // before the REFUSED frame; node 1 must hold it back until the refusal is in.
    net::FaultConfig g;
    g.seed = 5;
    g.reorder_pct = 60;
    start({}, g);
    create_replicated();
    watch_acknowledged_means_replicated();
    for (int i = 0; i < 20; ++i) {
        ReplicaApplier(*standby_).remove(slot_, 0);
        ASSERT_TRUE(acked(commit(64 * i, bytes_of("round " + std::to_string(i))))) << i;
    }
    EXPECT_EQ(violations_, 0u) << "commits acknowledged before the standby applied them";
    EXPECT_GT(a_->link().counters().acks_deferred, 0u);
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
}

} // namespace

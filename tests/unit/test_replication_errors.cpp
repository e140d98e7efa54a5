// Errors the replication path used to swallow (issue 13), in process: two engines' cores over an
// in-memory carrier pair with the test's clock (tests/testing/in_process_node.hpp).
// - A standby that cannot create a replica refuses the ANNOUNCE: the active stops waiting and
//   sync commits fail at once naming the node, instead of timing out.
// - A section delete that found nothing on the replica is refused, not acknowledged as applied.
// - On the standby the applier takes lock words by CAS: a stale writer racing it (a node just
//   demoted) is rolled back, never silently overwritten.
#include "ckpt/shm/atomics.hpp"
#include "in_process_pair.hpp"
#include "replication/replica_applier.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <functional>
#include <thread>

using namespace ckpt;
using namespace ckpt::engine;
using namespace ckpt::testing;

namespace {

class ReplicationErrors : public ::testing::Test, protected InProcessPair {
protected:
    void start() { ASSERT_TRUE(start_pair()) << failure_; }
    std::uint32_t sync_blocked() const { return shm::load_acquire(active_->meta().header().sync_blocked); }
};

TEST_F(ReplicationErrors, AStandbyThatCannotCreateTheReplicaRefusesAndSyncCommitsFailAtOnce) {
    start();
    b_->fail_replica_creation("/dev/shm is full (test)");
    active_ = a_->create("refused", pair_attrs());
    ASSERT_TRUE(active_);
    auto sec = active_->create_section(bytes_of("s"), false, kTimeEnd, 4096, {});
    ASSERT_TRUE(sec.ok());
    auto w = active_->attach_writer(::getpid(), process_start_time(::getpid()));
    ASSERT_TRUE(w.ok());
    // The refusal reaches the active, which names the node in sync_blocked: a sync committer
    // (client/src/section.cpp) fails at once with "standby node 2 is down". Before, nothing came
    // back and the commit waited out its timeout.
    ASSERT_TRUE(run_until([&] { return sync_blocked() == 2; })) << "the active still waits for the standby";
    EXPECT_TRUE(b_->logged("cannot create replica of 'refused' announced by node 2") ||
                b_->logged("cannot create replica of 'refused'"));
    EXPECT_TRUE(b_->logged("/dev/shm is full (test)"));
    EXPECT_TRUE(a_->logged("refused the checkpoint's announcement (cannot create the replica)"));
    EXPECT_EQ(b_->find("refused"), nullptr);
    // A commit made now is never acknowledged as replicated.
    write_section(*active_, *w, sec->slot, 0, bytes_of("held here only"));
    const std::uint64_t committed = seq_of(*active_, sec->slot);
    run_until([] { return false; }, 200);
    EXPECT_LT(acked_of(*active_, sec->slot), committed);
    EXPECT_EQ(sync_blocked(), 2u);
}

TEST_F(ReplicationErrors, ADeleteThatFindsNothingOnTheReplicaIsRefusedAndResynced) {
    start();
    active_ = a_->create("del", pair_attrs());
    ASSERT_TRUE(active_);
    auto keep = active_->create_section(bytes_of("keep"), false, kTimeEnd, 4096, bytes_of("kept"));
    auto gone = active_->create_section(bytes_of("gone"), false, kTimeEnd, 4096, bytes_of("gone"));
    ASSERT_TRUE(keep.ok() && gone.ok());
    std::shared_ptr<Checkpoint> standby;
    ASSERT_TRUE(run_until([&] {
        standby = b_->find("del");
        return standby && standby->section_state(gone->slot).has_value() && standby->section_state(keep->slot);
    }));
    // The replica loses the section behind the active's back (a diverged replica).
    ReplicaApplier(*standby).remove(gone->slot, 0);
    ASSERT_FALSE(standby->section_state(gone->slot));
    ASSERT_TRUE(active_->delete_section(bytes_of("gone")).ok());
    // Before: the standby acknowledged the delete as applied and said nothing.
    ASSERT_TRUE(run_until([&] { return a_->logged("refused a section change"); })) << "delete acknowledged as applied";
    EXPECT_TRUE(b_->logged("found no such section on this replica: refused"));
    // The active resyncs it: the replica ends equal to the active.
    ASSERT_TRUE(run_until([&] { return a_->logged("resyncing it") && sync_blocked() == 0; }));
    ASSERT_TRUE(run_until([&] { return standby->section_state(keep->slot).has_value(); }));
    EXPECT_FALSE(standby->section_state(gone->slot));
}

// A stale writer (this node was just demoted) takes a section's lock between the standby
// applier's load of the lock word and its write of it. With a plain store the applier erased the
// writer's hold without a trace (no rollback; the writer's bytes then landed in an applied
// commit); with the CAS the applier sees the hold, rolls the transaction back, and applies.
std::uint64_t g_stale_lock = 0;
int g_races = 0;
void stale_writer_takes_the_lock(std::uint64_t& word) {
    if (g_races++ > 0) return; // once
    std::uint64_t cur = shm::load_acquire(word);
    g_stale_lock = shm::make_lock(shm::lock_seq(cur) + 1, 1); // writer slot 0 (owner 1)
    shm::store_release(word, g_stale_lock);
}

TEST_F(ReplicationErrors, AStaleWriterRacingTheStandbysApplierIsRolledBackNotOverwritten) {
    start();
    active_ = a_->create("race", pair_attrs());
    ASSERT_TRUE(active_);
    auto sec = active_->create_section(bytes_of("s"), false, kTimeEnd, 4096, {});
    ASSERT_TRUE(sec.ok());
    auto w = active_->attach_writer(::getpid(), process_start_time(::getpid()));
    ASSERT_TRUE(w.ok());
    std::shared_ptr<Checkpoint> standby;
    ASSERT_TRUE(run_until([&] {
        standby = b_->find("race");
        return standby && standby->section_state(sec->slot).has_value();
    }));
    const std::uint64_t rollbacks = standby->counters().rollbacks;
    g_races = 0;
    ReplicaApplier::race_window_for_test = stale_writer_takes_the_lock;
    write_section(*active_, *w, sec->slot, 0, bytes_of("from the active"));
    const std::uint64_t committed = seq_of(*active_, sec->slot);
    const bool acked_ok = run_until([&] { return acked_of(*active_, sec->slot) >= committed; });
    ReplicaApplier::race_window_for_test = nullptr;
    ASSERT_TRUE(acked_ok);
    ASSERT_EQ(g_races, 2) << "the race window was not reached";
    // The writer's hold was seen and voided (a rollback), not overwritten in silence...
    EXPECT_EQ(standby->counters().rollbacks, rollbacks + 1);
    const std::uint64_t lock = shm::section_lock::load(standby->data().control(sec->slot));
    EXPECT_FALSE(shm::lock_held(lock));
    EXPECT_GT(shm::lock_seq(lock), shm::lock_seq(g_stale_lock)) << "the sequence went past the writer's";
    // ...and the standby holds exactly the active's commit.
    EXPECT_EQ(section_bytes(*standby, sec->slot), section_bytes(*active_, sec->slot));
}

} // namespace

// The replica count (issue 12, the System Controller's "CPS" seed): with three nodes and
// `replicas = 2`, a checkpoint active on node 1 has one standby, the lowest peer up; when that
// standby is lost (down past member_timeout_ms, as without a cluster manager; fencing drops it the
// same way), the third node joins the replica set, resyncs and holds every acknowledged commit, and
// sync commits go on. Three engines' cores in process over a switched memory mesh and the test's
// clock (tests/testing/in_process_node, memory_carrier).
#include "ckpt/shm/atomics.hpp"
#include "in_process_pair.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <functional>
#include <map>

using namespace ckpt;
using namespace ckpt::engine;
using namespace ckpt::testing;

namespace {

class ReplicaCount : public ::testing::Test {
protected:
    void start(std::uint32_t replicas) {
        LinkConfig cfg;
        cfg.replicas = replicas;
        cfg.member_timeout_ms = 300;
        std::vector<std::unique_ptr<MemoryCarrier>> ends = MemoryCarrier::mesh({1, 2, 3});
        for (std::uint16_t id = 1; id <= 3; ++id) {
            std::vector<std::uint16_t> peers;
            for (std::uint16_t p = 1; p <= 3; ++p)
                if (p != id) peers.push_back(p);
            wire_[id] = ends[id - 1].get();
            nodes_[id] = std::make_unique<InProcessNode>(id, peers, std::move(ends[id - 1]), now_, cfg);
        }
        ASSERT_TRUE(
            run_until([&] { return node(1).link().is_up(2) && node(1).link().is_up(3) && node(2).link().is_up(3); }));
        active_ = node(1).create("cps", pair_attrs());
        ASSERT_TRUE(active_);
        auto created = active_->create_section(bytes_of("s"), false, kTimeEnd, 8192, {});
        ASSERT_TRUE(created.ok()) << created.message();
        slot_ = created->slot;
        auto w = active_->attach_writer(::getpid(), process_start_time(::getpid()));
        ASSERT_TRUE(w.ok());
        writer_ = *w;
    }
    InProcessNode& node(std::uint16_t id) { return *nodes_[id]; }
    bool run_until(const std::function<bool()>& done, int limit_ms = 5000) {
        for (int i = 0; i < limit_ms * 10; ++i) {
            if (done()) return true;
            for (std::uint16_t id = 1; id <= 3; ++id) node(id).step();
            if (each_step_) each_step_();
            now_ += kMs / 10;
        }
        return done();
    }
    void run_for(int ms) {
        const std::int64_t until = now_ + ms * kMs;
        run_until([&] { return now_ >= until; }, ms + 1);
    }
    std::uint64_t commit(std::uint64_t offset, std::string_view text) {
        write_section(*active_, writer_, slot_, offset, bytes_of(text));
        return seq_of(*active_, slot_);
    }
    bool acked(std::uint64_t seq, int limit_ms = 5000) {
        return run_until([&] { return acked_of(*active_, slot_) >= seq; }, limit_ms);
    }
    /// Node `id` holds the section with the active's bytes and at least its sequence.
    bool holds_everything(std::uint16_t id) {
        auto c = node(id).find("cps");
        return c && c->section_state(slot_) && seq_of(*c, slot_) >= seq_of(*active_, slot_) &&
               section_bytes(*c, slot_) == section_bytes(*active_, slot_);
    }
    std::vector<std::uint16_t> members() {
        std::vector<std::uint16_t> v;
        for (const auto& m : node(1).replicator().members_of(*active_)) v.push_back(m.node);
        return v;
    }

    std::int64_t now_ = 1'000 * kMs;
    std::map<std::uint16_t, MemoryCarrier*> wire_;
    std::map<std::uint16_t, std::unique_ptr<InProcessNode>> nodes_;
    std::shared_ptr<Checkpoint> active_;
    std::uint32_t slot_ = 0, writer_ = 0;
    std::function<void()> each_step_;
};

TEST_F(ReplicaCount, EveryPeerHoldsAReplicaByDefault) {
    start(0);
    ASSERT_TRUE(acked(commit(0, "everywhere")));
    EXPECT_TRUE(holds_everything(2));
    EXPECT_TRUE(holds_everything(3));
    EXPECT_EQ(members(), (std::vector<std::uint16_t>{2, 3}));
}

TEST_F(ReplicaCount, TwoReplicasOfThreeNodesKeepOneStandbyTheLowestPeerUp) {
    start(2);
    ASSERT_TRUE(acked(commit(0, "one standby")));
    EXPECT_TRUE(holds_everything(2));
    run_for(200);
    EXPECT_EQ(node(3).find("cps"), nullptr) << "node 3 is not in the replica set: nothing is sent to it";
    EXPECT_EQ(members(), (std::vector<std::uint16_t>{2}));
    EXPECT_TRUE(node(1).logged("node 2 joins the replica set (1 of 1 standbys)"));
}

TEST_F(ReplicaCount, LosingTheStandbyBringsTheReplicaUpOnTheThirdNode) {
    start(2);
    ASSERT_TRUE(acked(commit(0, "before the loss")));
    ASSERT_TRUE(holds_everything(2));
    wire_[2]->isolate(true); // node 2 is lost
    const std::uint64_t during = commit(0, "during the loss");
    // Until node 2 is out of the set, it may still hold acknowledged commits: nothing is
    // acknowledged without it.
    ASSERT_TRUE(run_until([&] { return !node(1).link().is_up(2); }));
    EXPECT_LT(acked_of(*active_, slot_), during) << "acknowledged means replicated";
    // member_timeout_ms drops it (the commit is acknowledged without it, as after fencing); node 3
    // joins, resyncs, and from then on holds every commit.
    ASSERT_TRUE(acked(during));
    ASSERT_TRUE(run_until([&] { return holds_everything(3); })) << "node 3 did not take node 2's place";
    EXPECT_EQ(members(), (std::vector<std::uint16_t>{3}));
    EXPECT_TRUE(node(1).logged("node 3 joins the replica set (1 of 1 standbys)"));
    const std::uint64_t after = commit(100, "after the loss");
    ASSERT_TRUE(acked(after));
    EXPECT_TRUE(holds_everything(3));

    // Node 2 comes back: the set is full, so it stays out (its old replica gets nothing more).
    wire_[2]->isolate(false);
    ASSERT_TRUE(run_until([&] { return node(1).link().is_up(2); }));
    const std::uint64_t later = commit(200, "node 2 is back");
    ASSERT_TRUE(acked(later));
    run_for(200);
    EXPECT_EQ(members(), (std::vector<std::uint16_t>{3}));
    auto old = node(2).find("cps");
    ASSERT_NE(old, nullptr);
    EXPECT_LT(seq_of(*old, slot_), later);
}

// A standby that joins later (here: node 3 replacing the lost node 2) is not waited for while it
// catches up: it cannot be promoted before it is in sync, and the active was acknowledging
// without a standby already. Once in sync it is: every later commit is acknowledged only after it
// applied it.
TEST_F(ReplicaCount, ANewStandbyIsWaitedForOnlyOnceItIsInSync) {
    start(2);
    ASSERT_TRUE(acked(commit(0, "before")));
    wire_[2]->isolate(true);
    // Turn by turn, node 1 first, until node 1 takes node 3 in (node 3 has not seen the ANNOUNCE).
    bool joined = false;
    for (int i = 0; i < 50'000 && !joined; ++i) {
        node(1).step();
        joined = node(1).logged("node 3 joins the replica set");
        if (!joined) {
            node(2).step();
            node(3).step();
        }
        now_ += kMs / 10;
    }
    ASSERT_TRUE(joined);
    const std::uint64_t joining = commit(0, "while node 3 joins");
    for (int i = 0; i < 3; ++i) node(1).step(); // node 1 captures it; node 3 does not run meanwhile
    EXPECT_GE(acked_of(*active_, slot_), joining) << "nothing waits for a standby that is not in sync";
    auto third = node(3).find("cps");
    EXPECT_TRUE(!third || !third->section_state(slot_) || seq_of(*third, slot_) < joining);
    ASSERT_TRUE(run_until([&] {
        const auto m = node(1).replicator().members_of(*active_);
        return m.size() == 1 && m[0].node == 3 && std::string(m[0].state) == "in-sync";
    }));
    EXPECT_TRUE(holds_everything(3));
    std::uint64_t violations = 0;
    each_step_ = [&] {
        auto c = node(3).find("cps");
        if (acked_of(*active_, slot_) > (c && c->section_state(slot_) ? seq_of(*c, slot_) : 0)) ++violations;
    };
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(acked(commit(8 * i, "in sync " + std::to_string(i))));
    each_step_ = nullptr;
    EXPECT_EQ(violations, 0u) << "a commit was acknowledged before the in-sync standby applied it";
}

} // namespace

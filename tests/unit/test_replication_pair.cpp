// Two replicators in one process, over an in-memory carrier pair (wrapped in the seeded fault shim
// where a test wants faults) and the test's own clock: commits reach the standby, a partition holds
// synchronous acknowledgements back, a fenced former active steps down, a refused commit is
// resynced, and under loss, duplication, reordering and corruption nothing the active acknowledged
// is missing on the standby. No ckptd, no root; each scenario runs in milliseconds.
#include "ckpt/net/fault_shim.hpp"
#include "ckpt/net/frame_auth.hpp"
#include "ckpt/shm/atomics.hpp"
#include "in_process_pair.hpp"
#include "replication/replica_applier.hpp"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <unistd.h>

#include <functional>
#include <random>

using namespace ckpt;
using namespace ckpt::engine;
using namespace ckpt::testing;

namespace {

class ReplicationPair : public ::testing::Test, protected InProcessPair {
protected:
    void start(net::FaultConfig fault_a = {}, net::FaultConfig fault_b = {}) {
        ASSERT_TRUE(start_pair(fault_a, fault_b)) << failure_;
        wire_ = wire_a_;
    }
    /// A checkpoint active on node 1 with one section, mirrored on node 2 (synchronous unless said).
    void create_replicated(UpdateMode mode = UpdateMode::kSync) {
        ASSERT_TRUE(InProcessPair::create_replicated("pair", pair_attrs(mode))) << failure_;
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

    MemoryCarrier* wire_ = nullptr;
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
    EXPECT_GE(a_->link().counters().resyncs, 1u) << "the standby joined by a resync";
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
    EXPECT_GE(a_->link().counters().resyncs, 2u);
}

TEST_F(ReplicationPair, AFencedFormerActiveStepsDownAndFollowsTheNewOne) {
    start();
    create_replicated();
    ASSERT_TRUE(acked(commit(0, bytes_of("epoch one"))));
    wire_->cut(true);
    run_for(1000);
    auto promoted = b_->replicator().promote(standby_);
    ASSERT_TRUE(promoted.ok());
    EXPECT_EQ(*promoted, shm::next_epoch(shm::next_epoch(0, 1), 2)) << "count 2, made by node 2";
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
    EXPECT_EQ(active_->epoch(), *promoted);
    EXPECT_EQ(standby_->role(), shm::kRoleActive);
    EXPECT_GE(b_->link().counters().stale_epoch + a_->replicator().counters().fenced, 1u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(section_bytes(*active_, slot_).data()), 10), "new active");
    EXPECT_GT(seq_of(*active_, slot_), stale) << "the stale write was replaced, never acknowledged";
}

TEST(Epochs, APromotionTakesTheCountPastTheHighestKnownAndAddsItsNode) {
    EXPECT_EQ(shm::next_epoch(0, 1), (1u << 16) | 1u);
    EXPECT_EQ(shm::next_epoch(shm::next_epoch(0, 1), 7), (2u << 16) | 7u);
    EXPECT_GT(shm::next_epoch((2u << 16) | 65535u, 1), (2u << 16) | 65535u) << "the count decides first";
    EXPECT_GT(shm::next_epoch(5, 3), 5u) << "an epoch from before the encoding is left behind";
    EXPECT_EQ(shm::epoch_count(shm::next_epoch(0x30001, 9)), 4u);
    EXPECT_EQ(shm::epoch_node(shm::next_epoch(0x30001, 9)), 9u);
}

TEST_F(ReplicationPair, TwoPromotionsOfOneEpochNeverTieAndOneHistorySurvives) {
    // A partition; both sides promote from the same epoch (node 1 after a demotion, as a cluster
    // without fencing might). The epochs differ (the node id is in the low bits), so both sides
    // agree which one wins, and its history survives on both. Before, both got epoch 2 and "the
    // lower node id wins" kept node 1, discarding node 2's acknowledged commit. (That a promoted
    // node acknowledges alone only after fencing the other is the fence hook's job.)
    start();
    create_replicated();
    EXPECT_EQ(active_->epoch(), shm::next_epoch(0, 1));
    ASSERT_TRUE(acked(commit(0, bytes_of("both hold it"))));
    wire_->cut(true);
    run_for(1000);
    auto e2 = b_->replicator().promote(standby_);
    ASSERT_TRUE(e2.ok());
    ASSERT_TRUE(a_->replicator().demote(active_).ok());
    auto e1 = a_->replicator().promote(active_);
    ASSERT_TRUE(e1.ok());
    EXPECT_NE(*e1, *e2) << "two promotions of one epoch";
    EXPECT_EQ(shm::epoch_count(*e1), shm::epoch_count(*e2));
    EXPECT_EQ(shm::epoch_node(*e1), 1u);
    EXPECT_EQ(shm::epoch_node(*e2), 2u);
    // Node 2 promoted while node 1 was down: it acknowledges alone.
    auto w = standby_->attach_writer(::getpid(), process_start_time(::getpid()));
    ASSERT_TRUE(w.ok());
    write_section(*standby_, *w, slot_, 0, bytes_of("node 2 acked"));
    ASSERT_TRUE(run_until([&] { return acked_of(*standby_, slot_) >= seq_of(*standby_, slot_); }));
    wire_->cut(false);
    ASSERT_TRUE(run_until([&] {
        return active_->role() == shm::kRoleStandby && standby_->role() == shm::kRoleActive &&
               section_bytes(*active_, slot_) == section_bytes(*standby_, slot_);
    }));
    EXPECT_EQ(active_->epoch(), *e2);
    EXPECT_EQ(standby_->epoch(), *e2);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(section_bytes(*active_, slot_).data()), 12), "node 2 acked");
}

TEST_F(ReplicationPair, AnActiveRestartedInPlaceAcknowledgesNothingUntilAStandbyHoldsIt) {
    start();
    create_replicated();
    watch_acknowledged_means_replicated();
    ASSERT_TRUE(acked(commit(0, bytes_of("before the restart"))));
    // A commit made while ckptd is down: the restarted engine captures it at adoption.
    const std::uint64_t during = commit(0, bytes_of("while ckptd was down"));
    ASSERT_LT(acked_of(*active_, slot_), during);
    active_.reset();
    wire_->cut(true); // the node dies before any resync
    auto carrier = wire_->reopen();
    wire_ = carrier.get(); // the old one goes with the old link
    a_->restart(std::move(carrier));
    active_ = a_->find("pair");
    ASSERT_TRUE(active_);
    EXPECT_EQ(active_->role(), shm::kRoleActive);
    EXPECT_EQ(seq_of(*active_, slot_), during);
    EXPECT_LT(acked_of(*active_, slot_), during) << "captured at adoption, held by no standby";
    const std::uint64_t after = commit(0, bytes_of("after the restart"));
    run_for(2000);
    EXPECT_LT(acked_of(*active_, slot_), during) << "acknowledged with no standby holding it";
    EXPECT_EQ(active_->meta().header().sync_blocked, 2u) << "sync commits fail at once, naming node 2";
    EXPECT_EQ(violations_, 0u);
    // Node 1 is lost now; node 2 takes over with every commit node 1 acknowledged.
    EXPECT_GE(seq_of(*standby_, slot_), acked_of(*active_, slot_));
    // The other ending: the standby comes back, resyncs, and only then are both acknowledged.
    wire_->cut(false);
    ASSERT_TRUE(acked(after));
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
    EXPECT_EQ(violations_, 0u);
    bool logged = false;
    for (const auto& l : a_->log()) logged |= l.find("adopted as active after a restart") != std::string::npos;
    EXPECT_TRUE(logged);
}

/// A fencer the test answers for: what the cluster manager would say about making a node unpromotable.
class ScriptedFencer final : public PeerFencer {
public:
    void start(std::uint16_t node, std::int64_t) override {
        if (state_ == State::kRunning || state_ == State::kFenced) return;
        ++starts;
        last_node = node;
        state_ = State::kRunning;
    }
    State state(std::uint16_t, std::string* why) const override {
        if (why) *why = "scripted";
        return state_;
    }
    void reset(std::uint16_t) override {
        ++resets;
        state_ = State::kIdle;
    }
    void answer(bool fenced) { state_ = fenced ? State::kFenced : State::kFailed; }
    State state_ = State::kIdle;
    int starts = 0, resets = 0;
    std::uint16_t last_node = 0;
};

TEST_F(ReplicationPair, ASilentStandbyIsFencedBeforeTheActiveAcknowledgesWithoutIt) {
    start();
    ScriptedFencer fencer;
    a_->replicator().set_fencer(&fencer);
    create_replicated();
    ASSERT_TRUE(acked(commit(0, bytes_of("both hold it"))));
    EXPECT_EQ(fencer.starts, 0);
    wire_->cut(true);
    const std::uint64_t seq = commit(0, bytes_of("node 2 is silent"));
    ASSERT_TRUE(run_until([&] { return fencer.starts > 0; }));
    EXPECT_EQ(fencer.last_node, 2u);
    run_for(500);
    EXPECT_LT(acked_of(*active_, slot_), seq) << "acknowledged while the fencing had not succeeded";
    EXPECT_EQ(active_->meta().header().sync_blocked, 2u) << "sync commits fail naming node 2";
    // The cluster manager cannot do it (no quorum): still nothing acknowledged, and it is retried.
    fencer.answer(false);
    ASSERT_TRUE(run_until([&] { return fencer.starts > 1; }));
    run_for(500);
    EXPECT_LT(acked_of(*active_, slot_), seq);
    EXPECT_EQ(active_->meta().header().sync_blocked, 2u);
    // Now it could: node 2 cannot be promoted, so acknowledging without it loses nothing.
    fencer.answer(true);
    ASSERT_TRUE(acked(seq, 1000));
    EXPECT_EQ(active_->meta().header().sync_blocked, 0u);
    bool logged = false;
    for (const auto& l : a_->log()) logged |= l.find("node 2 is fenced (it cannot be promoted)") != std::string::npos;
    EXPECT_TRUE(logged);
    // Node 2 comes back: its fencing is forgotten (a later loss fences it again), and it resyncs.
    wire_->cut(false);
    ASSERT_TRUE(run_until([&] {
        const auto m = a_->replicator().members_of(*active_);
        return m.size() == 1 && std::string(m[0].state) == "in-sync";
    }));
    const std::uint64_t later = commit(0, bytes_of("node 2 is back"));
    ASSERT_TRUE(acked(later));
    EXPECT_GE(fencer.resets, 1);
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
    a_->replicator().set_fencer(nullptr);
}

TEST_F(ReplicationPair, ACommitTheStandbyCannotApplyIsRefusedAndResynced) {
    start();
    create_replicated();
    ASSERT_TRUE(acked(commit(0, bytes_of("in sync"))));
    const auto resyncs = a_->link().counters().resyncs;
    ReplicaApplier(*standby_).remove(slot_, 0); // the standby lost the section
    const std::uint64_t seq = commit(512, bytes_of("cannot apply"));
    ASSERT_TRUE(acked(seq));
    EXPECT_GE(b_->link().counters().refusals_sent, 1u);
    EXPECT_GE(a_->link().counters().refusals_received, 1u);
    EXPECT_GT(a_->link().counters().resyncs, resyncs);
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

// The former active is not waited for by the node promoted in its place: after a failover its
// link may still look up for peer_timeout_ms (a dead node is not heard from, only missed), and it
// holds no commit of the new active. The new active's commits are acknowledged at once; the former
// active, once it answers again, resyncs as a new standby and is waited for after that.
TEST_F(ReplicationPair, ANewActiveDoesNotWaitForTheActiveItReplaced) {
    start();
    create_replicated();
    ASSERT_TRUE(acked(commit(0, bytes_of("before the failover"))));
    wire_->cut(true); // node 1 dies; node 2's link has not missed it yet
    ASSERT_TRUE(b_->link().is_up(1));
    ASSERT_TRUE(b_->replicator().promote(standby_).ok());
    auto w = standby_->attach_writer(::getpid(), process_start_time(::getpid()));
    ASSERT_TRUE(w.ok());
    write_section(*standby_, *w, slot_, 0, bytes_of("first commit of node 2"));
    const std::uint64_t seq = seq_of(*standby_, slot_);
    ASSERT_TRUE(run_until([&] { return acked_of(*standby_, slot_) >= seq; }, 50));
    EXPECT_TRUE(b_->link().is_up(1)) << "acknowledged before node 2 even missed node 1";
    EXPECT_TRUE(b_->replicator().members_of(*standby_).empty());
    // Node 1 comes back: it steps down, resyncs, and is required again once in sync.
    wire_->cut(false);
    ASSERT_TRUE(run_until([&] {
        const auto m = b_->replicator().members_of(*standby_);
        return active_->role() == shm::kRoleStandby && m.size() == 1 && std::string(m[0].state) == "in-sync";
    }));
    EXPECT_EQ(section_bytes(*active_, slot_), section_bytes(*standby_, slot_));
}

TEST_F(ReplicationPair, AJoinWhileTheStandbysReportIsInFlightEndsInSyncNotInAResyncLoop) {
    // A large replica's HASHES report takes many frames and turns. Links that flap while one is
    // in flight make the active announce again: the standby answers each ANNOUNCE with a report,
    // and a report answering an ANNOUNCE that a later one superseded must not restart the resync
    // (each restart announces again, whose report restarts it again: a loop seen under load).
    InProcessPair::Options o;
    o.link_a.stream.window = o.link_b.stream.window = 16; // the report takes many round trips
    ASSERT_TRUE(start_pair(o)) << failure_;
    wire_ = wire_a_;
    CheckpointAttributes a = pair_attrs(UpdateMode::kSync);
    a.checkpoint_size = 32 << 20;
    a.max_section_size = 16 << 20;
    a.max_sections = 2;
    ASSERT_TRUE(InProcessPair::create_replicated("bigreport", a, 16 << 20)) << failure_;
    ASSERT_TRUE(acked(commit(0, bytes_of("in sync"))));
    // The standby's engine stalls (a long turn: creating a large replica, a busy machine) for
    // longer than peer_timeout_ms: only the active declares the other down, then up again, and
    // announces; the standby, which saw nothing, has the rest of its report still to send.
    auto stall_standby = [&](int ms) {
        for (int i = 0; i < ms * 10; ++i) {
            a_->step();
            now_ += kMs / 10;
        }
    };
    for (int round = 0; round < 3; ++round) {
        stall_standby(1000);
        ASSERT_FALSE(a_->link().is_up(2));
        ASSERT_TRUE(run_until([&] { return a_->link().is_up(2); }));
        // The active announced; the standby starts its report, and stalls in the middle of it.
        run_turns([] { return false; }, 2);
    }
    run_for(3000);
    const auto started = a_->replicator().counters().resyncs_started;
    run_for(3000); // settled: nothing starts again
    EXPECT_EQ(a_->replicator().counters().resyncs_started, started) << "the active resyncs in a loop";
    const auto members = a_->replicator().members_of(*active_);
    ASSERT_EQ(members.size(), 1u);
    EXPECT_STREQ(members[0].state, "in-sync");
    ASSERT_TRUE(acked(commit(0, bytes_of("after the flaps"))));
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
}

TEST_F(ReplicationPair, AStaleReportNeverStandsForTheLatestJoin) {
    // A report answers one ANNOUNCE. Here the tail of a report that answered the first join (the
    // standby holding A) is still in flight when the active joins the standby again, after the
    // standby applied B and the active went back to A: taken for the new join's report, it made
    // the resync skip the block (the active holds A, "the standby holds A") while the standby held
    // B, and the commit back to A was acknowledged without any replica holding it.
    InProcessPair::Options o;
    o.record_b = true; // what node 1 sends node 2: its ANNOUNCEs (wire id, join id)
    ASSERT_TRUE(start_pair(o)) << failure_;
    wire_ = wire_a_;
    create_replicated();
    const std::vector<std::byte> a_bytes(256, std::byte{0xAA}), b_bytes(256, std::byte{0xBB});
    ASSERT_TRUE(acked(commit(0, a_bytes)));
    // The report the standby would have sent then: its section and block hashes as they are now.
    const auto sec = standby_->section_state(slot_);
    ASSERT_TRUE(sec);
    const auto stale_hashes = standby_->block_hashes(slot_, true);
    net::FrameAuth genuine;
    ASSERT_EQ(genuine.add_key(in_process_key()), "");
    net::AnnounceBody first{};
    bool announced = false;
    for (const auto& rec : wire_b_->recorded()) {
        net::DecodedFrame g;
        if (!announced && net::decode_frame(rec, net::kDefaultUdpPort, g, &genuine) == net::Reject::kNone &&
            g.header.type == net::FrameType::kAnnounce &&
            net::decode_announce_body(g.body, first) == net::Reject::kNone)
            announced = true;
    }
    ASSERT_TRUE(announced);
    EXPECT_NE(first.join, 0u) << "every ANNOUNCE names its join";
    ASSERT_TRUE(acked(commit(0, b_bytes))); // the standby holds B
    // The standby's engine stalls past peer_timeout_ms: the active declares it down, and commits A.
    for (int i = 0; i < 10'000 && a_->link().is_up(2); ++i) {
        a_->step();
        now_ += kMs / 10;
    }
    ASSERT_FALSE(a_->link().is_up(2));
    const std::uint64_t back_to_a = commit(0, a_bytes);
    a_->step();
    // The standby runs again; the active hears it, joins it again and announces: stop right
    // there, before the standby reads the ANNOUNCE.
    for (int i = 0; i < 10'000 && !a_->link().is_up(2); ++i) {
        b_->step();
        a_->step(); // the turn that hears the standby again joins it
        now_ += kMs / 10;
    }
    ASSERT_TRUE(a_->link().is_up(2));
    ASSERT_STREQ(a_->replicator().members_of(*active_)[0].state, "resync") << "awaiting the standby's report";
    ASSERT_TRUE(b_->link().is_up(1));
    // The first report's last frame arrives now, ahead of the one answering this ANNOUNCE.
    net::HashesBody h;
    h.checkpoint_id = first.checkpoint_id;
    h.slot = slot_;
    h.generation = sec->generation;
    h.data_offset = sec->data_offset;
    h.capacity = sec->capacity;
    h.id_hash = XXH3_64bits(sec->id.data(), sec->id.size());
    h.join = first.join;
    std::vector<std::byte> body(net::kHashesBodyFixed + 8 * stale_hashes.size());
    body.resize(net::encode_hashes_body(body, h, stale_hashes));
    ASSERT_FALSE(body.empty());
    const auto stale0 = a_->replicator().counters().hashes_stale;
    ASSERT_TRUE(b_->link().send_sequenced(1, net::FrameType::kHashes, net::kFlagLastFragment, standby_->epoch(), body));
    b_->link().flush(now_);
    ASSERT_TRUE(acked(back_to_a));
    ASSERT_TRUE(run_until([&] {
        const auto m = a_->replicator().members_of(*active_);
        return m.size() == 1 && std::string(m[0].state) == "in-sync";
    }));
    EXPECT_GT(a_->replicator().counters().hashes_stale, stale0) << "the stale report was not told apart";
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_))
        << "the standby holds what the stale report hid: acknowledged, not replicated";
}

// Replication under faults with three ckptd nodes over kernel UDP on loopback: a standby killed
// and restarted, a failover the third node follows, a standby that refuses commits and fences a
// stale sender.
// Only states, counters and bytes are asserted, never times: every wait is a poll with a
// generous limit, so a loaded 2-core machine is slower, not flaky.
#include "ckpt/shm/segment_layout.hpp"
#include "faults_common.hpp"

using namespace ckpt::testing::faults;

namespace {

// ---- three nodes over kernel UDP on loopback ---------------------------------------------------

struct ThreeNodes {
    Cluster cluster;
    EngineProcess* n[4] = {}; // 1..3

    /// extra[i]: lines appended to node i's configuration (they override the common ones).
    explicit ThreeNodes(const std::string& tag, std::map<int, std::vector<std::string>> extra = {})
        : cluster(tag, ClusterOptions{ClusterCarrier::kUdp, 3, {}, std::move(extra), port_base()}) {
        for (int i = 1; i <= 3; ++i) n[i] = cluster.node(i).get();
    }
    bool all_up() { return cluster.all_up(); }
    std::string logs() const { return cluster.logs(); }
};

// 4. One active and two standbys: sync waits for both; a killed standby makes sync commits fail
//    fast until it returns and is resynced; after the active dies a standby is promoted and the
//    third node follows it.
TEST(FaultsThreeNodes, SyncWaitsForBothStandbysAFailedOneIsRequiredAndTheThirdFollowsAPromotion) {
    ThreeNodes t("three");
    for (int i = 1; i <= 3; ++i) ASSERT_TRUE(t.n[i]->start()) << t.n[i]->log();
    ASSERT_TRUE(t.all_up()) << t.logs();
    auto s1 = Session::connect({t.n[1]->socket()});
    auto s2 = Session::connect({t.n[2]->socket()});
    auto s3 = Session::connect({t.n[3]->socket()});
    ASSERT_TRUE(s1.ok() && s2.ok() && s3.ok());
    EXPECT_EQ(s1->peers()->transport, "udp");
    auto c1 = s1->create("trio", replica_attrs());
    ASSERT_TRUE(c1.ok()) << c1.message();
    SectionCreate sc;
    sc.id = "calls";
    sc.capacity = 8192;
    auto sec = c1->create_section(sc);
    ASSERT_TRUE(sec.ok());
    sc.id = "other";
    sc.capacity = 2048;
    auto init = pattern(2048, 5);
    sc.initial = init;
    ASSERT_TRUE(c1->create_section(sc).ok());
    Model m;
    m.buf.assign(8192, std::byte{0});
    auto c2 = open_replica(*s2, "trio");
    auto c3 = open_replica(*s3, "trio");
    ASSERT_TRUE(c2.ok() && c3.ok()) << t.logs();
    ASSERT_TRUE(eventually([&] { return c1->replication().replicas == 2; })) << t.logs();

    // Sync: when write() returns, both standbys hold the commit.
    std::uint64_t v = 1;
    for (; v <= 60; ++v) {
        auto o = write_rec(*sec, m, (v * 211) % 8000, pattern(100, v), Ack::kSync);
        ASSERT_TRUE(o.status.ok()) << o.status.message() << t.logs();
        ASSERT_EQ(describe(content(*c2, "calls"), m.content()), "") << "node 2 after commit " << v;
        ASSERT_EQ(describe(content(*c3, "calls"), m.content()), "") << "node 3 after commit " << v;
    }

    // Node 3 dies: it was in sync, so it stays required and sync commits fail fast, naming it.
    t.n[3]->kill_hard();
    ASSERT_TRUE(wait_peer_state(t.n[1]->socket(), 3, "down")) << t.n[1]->log();
    EXPECT_TRUE(eventually([&] { return c1->replication().sync_blocked_by == 3; }));
    auto failed = write_rec(*sec, m, 0, pattern(100, v++), Ack::kSync);
    EXPECT_TRUE(failed.published);
    ASSERT_FALSE(failed.status.ok());
    EXPECT_EQ(failed.status.error(), Error::kUnavailable) << failed.status.message();
    EXPECT_NE(failed.status.message().find("standby node 3 is down"), std::string::npos) << failed.status.message();
    // Node 2 still receives every commit; async commits go on.
    for (int k = 0; k < 20; ++k, ++v) {
        auto o = write_rec(*sec, m, (v * 211) % 8000, pattern(100, v), Ack::kAsync);
        ASSERT_TRUE(o.status.ok()) << o.status.message();
    }
    EXPECT_EQ(converge(*c1, *c2), "") << t.logs();
    EXPECT_GE(c1->replication().lag_commits, 21u) << "commits node 3 has not applied";

    // Node 3 returns (same state dir and segments), is resynced, and sync commits succeed again.
    const auto resyncs_before = link_of(t.n[1]->socket()).resyncs;
    ASSERT_TRUE(t.n[3]->start()) << t.n[3]->log();
    ASSERT_TRUE(wait_peer_state(t.n[1]->socket(), 3, "up")) << t.logs();
    EXPECT_TRUE(
        eventually([&] { return c1->replication().lag_commits == 0 && c1->replication().replicas == 2; }, kLongWait))
        << t.logs();
    auto s3b = Session::connect({t.n[3]->socket()});
    ASSERT_TRUE(s3b.ok());
    auto c3b = open_replica(*s3b, "trio");
    ASSERT_TRUE(c3b.ok()) << c3b.message();
    EXPECT_EQ(converge(*c1, *c3b), "") << t.logs();
    EXPECT_GT(link_of(t.n[1]->socket()).resyncs, resyncs_before);
    for (int k = 0; k < 10; ++k, ++v) {
        auto o = write_rec(*sec, m, (v * 211) % 8000, pattern(100, v), Ack::kSync);
        ASSERT_TRUE(o.status.ok()) << o.status.message() << t.logs();
        ASSERT_EQ(describe(content(*c3b, "calls"), m.content()), "") << "node 3 after commit " << v;
        ASSERT_EQ(describe(content(*c2, "calls"), m.content()), "") << "node 2 after commit " << v;
    }

    // The active dies. Node 2 is promoted; node 3 follows it, at epoch 2, with the same bytes.
    t.n[1]->kill_hard();
    ASSERT_TRUE(wait_peer_state(t.n[2]->socket(), 1, "down"));
    ASSERT_TRUE(wait_peer_state(t.n[3]->socket(), 1, "down"));
    auto epoch = s2->promote("trio");
    ASSERT_TRUE(epoch.ok()) << epoch.message();
    EXPECT_EQ(*epoch, shm::next_epoch(shm::next_epoch(0, 1), 2)); // count 2, by node 2
    auto w2 = s2->open("trio", kOpenRead | kOpenWrite);
    ASSERT_TRUE(w2.ok()) << w2.message();
    EXPECT_EQ(w2->replication().role, "active");
    EXPECT_EQ(describe(content(*w2, "calls"), m.content()), "") << "an acknowledged commit was lost";
    EXPECT_TRUE(eventually([&] {
        const auto r = c3b->replication();
        return r.active_node == 2 && r.epoch == *epoch && r.role == "standby";
    })) << t.logs();
    EXPECT_TRUE(eventually([&] { return w2->replication().replicas == 1; })) << t.logs();
    EXPECT_EQ(converge(*w2, *c3b), "") << t.logs();
    // The new active's sync commits wait for node 3 (node 1, dead, is not required).
    auto sec2 = w2->section("calls");
    ASSERT_TRUE(sec2.ok());
    for (int k = 0; k < 20; ++k, ++v) {
        auto o = write_rec(*sec2, m, (v * 211) % 8000, pattern(100, v), Ack::kSync);
        ASSERT_TRUE(o.status.ok()) << o.status.message() << t.logs();
        ASSERT_EQ(describe(content(*c3b, "calls"), m.content()), "") << "node 3 after commit " << v;
    }
    EXPECT_EQ(converge(*w2, *c3b), "") << t.logs();
    const auto l3 = link_of(t.n[3]->socket());
    EXPECT_EQ(l3.bad_commits, 0u);
    EXPECT_EQ(link_of(t.n[2]->socket()).promotions, 1u);
}

/// Tests 5 and 6 start here: the three nodes up, node 1 active for `name` with a 4 KiB section
/// "calls" holding five sync commits that both standbys applied (the model `m` says what).
struct ActiveWithTwoStandbys {
    Result<Session> s1 = fail(Error::kNotExist, ""), s2 = fail(Error::kNotExist, ""), s3 = fail(Error::kNotExist, "");
    Result<Checkpoint> c1 = fail(Error::kNotExist, "");
    Result<Section> sec = fail(Error::kNotExist, "");
    Model m;

    void start(ThreeNodes& t, const std::string& name) {
        for (int i = 1; i <= 3; ++i) ASSERT_TRUE(t.n[i]->start()) << t.n[i]->log();
        ASSERT_TRUE(t.all_up()) << t.logs();
        s1 = Session::connect({t.n[1]->socket()});
        s2 = Session::connect({t.n[2]->socket()});
        s3 = Session::connect({t.n[3]->socket()});
        ASSERT_TRUE(s1.ok() && s2.ok() && s3.ok());
        c1 = s1->create(name, replica_attrs());
        ASSERT_TRUE(c1.ok()) << c1.message();
        SectionCreate sc;
        sc.id = "calls";
        sc.capacity = 4096;
        sec = c1->create_section(sc);
        ASSERT_TRUE(sec.ok());
        m.buf.assign(4096, std::byte{0});
        ASSERT_TRUE(eventually([&] { return c1->replication().replicas == 2; })) << t.logs();
        for (std::uint64_t v = 1; v <= 5; ++v) {
            auto o = write_rec(*sec, m, v * 64, pattern(64, v), Ack::kSync);
            ASSERT_TRUE(o.status.ok()) << o.status.message() << t.logs();
        }
    }
};

// 5. "Acknowledged means replicated" when a standby refuses: node 1 freezes (SIGSTOP) for less
//    than its own peer timeout, so when it wakes it still believes it is the active and that both
//    standbys are up. Meanwhile node 2 was promoted, node 3 follows node 2 at epoch 2, and node 2
//    died. Node 1's application had a sync commit in flight; node 3 receives it on a stream that
//    never broke and does not apply it (it follows another active). A link-level acknowledgement
//    would let that commit return OK (once node 2 stops being required) although no replica of
//    the cluster holds it. It must fail instead, and node 1 must step down.
TEST(FaultsThreeNodes, ASyncCommitAStandbyRefusesNeverReturnsOkAndFencesTheSender) {
    ThreeNodes t("refused", {{1, {"peer_timeout_ms = 6000", "member_timeout_ms = 100"}}});
    ActiveWithTwoStandbys a;
    ASSERT_NO_FATAL_FAILURE(a.start(t, "refusing"));
    auto &s2 = a.s2, &s3 = a.s3;
    auto& c1 = a.c1;
    auto& sec = a.sec;
    auto& m = a.m;
    auto c3 = open_replica(*s3, "refusing");
    ASSERT_TRUE(c3.ok()) << t.logs();
    ASSERT_EQ(describe(content(*c3, "calls"), m.content()), "");

    // Node 1 freezes; nodes 2 and 3 declare it down; node 2 is promoted and node 3 follows it.
    ASSERT_EQ(::kill(t.n[1]->pid(), SIGSTOP), 0);
    ASSERT_TRUE(wait_peer_state(t.n[2]->socket(), 1, "down"));
    ASSERT_TRUE(wait_peer_state(t.n[3]->socket(), 1, "down"));
    auto epoch = s2->promote("refusing");
    ASSERT_TRUE(epoch.ok()) << epoch.message();
    ASSERT_TRUE(eventually([&] {
        const auto r = c3->replication();
        return r.active_node == 2 && r.epoch == *epoch && r.role == "standby";
    })) << t.logs();
    t.n[2]->kill_hard();

    // Node 1's application commits synchronously while its engine is frozen, then it thaws.
    const auto before = content(*c3, "calls");
    std::optional<Outcome> stale;
    std::thread writer([&] { stale = write_rec(*sec, m, 0, pattern(64, 666), Ack::kSync); });
    ::usleep(50'000);
    ASSERT_EQ(::kill(t.n[1]->pid(), SIGCONT), 0);
    writer.join();
    ASSERT_TRUE(stale.has_value());
    EXPECT_FALSE(stale->status.ok()) << "a sync commit no replica applied returned OK\n" << t.logs();

    // Node 3 refused it and said so; node 1 stepped down; node 3's replica is unchanged.
    const auto l1 = link_of(t.n[1]->socket());
    const auto l3 = link_of(t.n[3]->socket());
    EXPECT_GE(l3.refusals_sent, 1u) << t.logs();
    EXPECT_GE(l1.refusals_received, 1u) << t.logs();
    EXPECT_TRUE(eventually([&] { return c1->replication().role == "standby"; })) << t.logs();
    EXPECT_EQ(describe(content(*c3, "calls"), before), "") << "node 3 applied the stale active's commit";
    EXPECT_EQ(l3.bad_commits, 0u);
}

// 6. The same thawed active, but the new active deleted the checkpoint before it thawed, so no
//    node has a replica that follows anybody: both standbys drop node 1's commit as naming an
//    unknown checkpoint. A link-level acknowledgement returned OK for it with no replica holding
//    it. Now each standby says REFUSED, node 1 resyncs them (they get replicas again), and the
//    sync commit returns OK only once both hold it.
TEST(FaultsThreeNodes, ASyncCommitReturnsOkOnlyWhenEveryStandbyHoldsItEvenAfterTheyRefusedIt) {
    ThreeNodes t("unknown", {{1, {"peer_timeout_ms = 6000"}}});
    ActiveWithTwoStandbys a;
    ASSERT_NO_FATAL_FAILURE(a.start(t, "forgotten"));
    auto &s2 = a.s2, &s3 = a.s3;
    auto& sec = a.sec;
    auto& m = a.m;

    // Node 1 freezes; node 2 is promoted and deletes the checkpoint, on node 3 too.
    ASSERT_EQ(::kill(t.n[1]->pid(), SIGSTOP), 0);
    ASSERT_TRUE(wait_peer_state(t.n[2]->socket(), 1, "down"));
    ASSERT_TRUE(wait_peer_state(t.n[3]->socket(), 1, "down"));
    ASSERT_TRUE(s2->promote("forgotten").ok());
    auto listed = [&](Session& s) {
        auto l = s.list();
        if (!l) return true;
        for (const auto& c : *l)
            if (c.name == "forgotten") return true;
        return false;
    };
    ASSERT_TRUE(eventually([&] {
        auto c3 = open_replica(*s3, "forgotten");
        return c3.ok() && c3->replication().active_node == 2;
    })) << t.logs();
    ASSERT_TRUE(s2->unlink("forgotten").ok());
    ASSERT_TRUE(eventually([&] { return !listed(*s2) && !listed(*s3); })) << t.logs();

    // Node 1's application commits synchronously while frozen; the engine thaws.
    std::optional<Outcome> o;
    std::thread writer([&] { o = write_rec(*sec, m, 0, pattern(64, 777), Ack::kSync); });
    ::usleep(50'000);
    ASSERT_EQ(::kill(t.n[1]->pid(), SIGCONT), 0);
    writer.join();
    ASSERT_TRUE(o.has_value());
    if (o->status.ok()) { // then both standbys hold it, right now
        for (Session* s : {&*s2, &*s3}) {
            auto r = open_replica(*s, "forgotten");
            ASSERT_TRUE(r.ok()) << "OK returned, but a standby has no replica\n" << t.logs();
            EXPECT_EQ(describe(content(*r, "calls"), m.content()), "")
                << "OK returned for a commit a standby does not hold\n"
                << t.logs();
        }
    }
    EXPECT_GE(link_of(t.n[2]->socket()).refusals_sent + link_of(t.n[3]->socket()).refusals_sent, 1u) << t.logs();
    EXPECT_GE(link_of(t.n[1]->socket()).refusals_received, 1u) << t.logs();
    // Later sync commits reach both again.
    for (std::uint64_t v = 10; v < 15; ++v) {
        auto w = write_rec(*sec, m, v * 64, pattern(64, v), Ack::kSync);
        ASSERT_TRUE(w.status.ok()) << w.status.message() << t.logs();
        for (Session* s : {&*s2, &*s3}) {
            auto r = open_replica(*s, "forgotten");
            ASSERT_TRUE(r.ok()) << t.logs();
            ASSERT_EQ(describe(content(*r, "calls"), m.content()), "") << t.logs();
        }
    }
}

} // namespace

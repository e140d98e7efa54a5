// Two ckptd nodes over kernel UDP on loopback: a standby replica outliving its local handles, and
// the async window while a standby is frozen (SIGSTOP): try_again beyond it, or block until the
// standby thaws.
// Only states, counters and bytes are asserted, never times: every wait is a poll with a
// generous limit, so a loaded 2-core machine is slower, not flaky.
#include "faults_common.hpp"

using namespace ckpt::testing::faults;

namespace {

// ---- the async window while a standby is frozen ------------------------------------------------

struct UdpPair {
    Cluster cluster;
    EngineProcess *a, *b;
    /// Nodes on port_base() + offset and the next; `extra` for both. Frozen for a few seconds is
    /// not dead: peer_timeout_ms = 5000 unless `extra` says otherwise.
    UdpPair(const std::string& tag, const std::vector<std::string>& extra, std::uint16_t offset)
        : cluster(tag, ClusterOptions{ClusterCarrier::kUdp,
                                      2,
                                      with_timeout(extra),
                                      {},
                                      static_cast<std::uint16_t>(port_base() + offset - 1)}),
          a(cluster.node(1).get()), b(cluster.node(2).get()) {}
    bool start() { return cluster.start(); }
    static std::vector<std::string> with_timeout(const std::vector<std::string>& extra) {
        std::vector<std::string> c{"peer_timeout_ms = 5000"};
        c.insert(c.end(), extra.begin(), extra.end());
        return c;
    }
};

/// An active checkpoint with one section, its standby in sync (lag 0).
struct WindowSetup {
    std::optional<Session> sa, sb;
    std::optional<Checkpoint> ca, cb;
    std::optional<Section> sec;
    void make(UdpPair& p) {
        auto a = Session::connect({p.a->socket()});
        auto b = Session::connect({p.b->socket()});
        ASSERT_TRUE(a.ok() && b.ok());
        sa.emplace(std::move(*a));
        sb.emplace(std::move(*b));
        auto c = sa->create("windowed", replica_attrs(UpdateMode::kAsync));
        ASSERT_TRUE(c.ok()) << c.message();
        ca.emplace(std::move(*c));
        SectionCreate sc;
        sc.id = "w";
        sc.capacity = 4096;
        auto s = ca->create_section(sc);
        ASSERT_TRUE(s.ok());
        sec.emplace(*s);
        auto r = open_replica(*sb, "windowed");
        ASSERT_TRUE(r.ok()) << r.message();
        cb.emplace(std::move(*r));
        ASSERT_TRUE(sec->write(0, pattern(64, 1), Ack::kSync).ok());
        ASSERT_TRUE(eventually([&] { return ca->replication().lag_commits == 0 && ca->replication().replicas == 1; }));
    }
};

// A standby application that opens the replica and closes it again (a reader, a monitoring
// tool) must not delete it: the checkpoint lives on its active (retention 0 here), and the
// replica is what a failover promotes.
TEST(FaultsReplicaLifetime, ClosingTheLastHandleOnAStandbyKeepsTheReplica) {
    UdpPair p("lifetime", {"peer_timeout_ms = 300"}, 8);
    ASSERT_TRUE(p.start()) << p.a->log() << p.b->log();
    auto sa = Session::connect({p.a->socket()});
    ASSERT_TRUE(sa.ok());
    auto ca = sa->create("kept", replica_attrs());
    ASSERT_TRUE(ca.ok());
    SectionCreate sc;
    sc.id = "s";
    sc.capacity = 1024;
    auto sec = ca->create_section(sc);
    ASSERT_TRUE(sec.ok());
    ASSERT_TRUE(sec->write(0, pattern(64, 1), Ack::kSync).ok());
    {
        auto sb = Session::connect({p.b->socket()});
        ASSERT_TRUE(sb.ok());
        auto cb = open_replica(*sb, "kept");
        ASSERT_TRUE(cb.ok()) << cb.message();
        EXPECT_EQ(converge(*ca, *cb), "");
    } // the standby's only handle closes
    ASSERT_TRUE(sec->write(64, pattern(64, 2), Ack::kSync).ok()) << "the standby still applies commits";
    auto sb = Session::connect({p.b->socket()});
    ASSERT_TRUE(sb.ok());
    auto list = sb->list();
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list->size(), 1u) << p.b->log();
    auto cb = sb->open("kept", kOpenRead);
    ASSERT_TRUE(cb.ok()) << cb.message() << p.b->log();
    EXPECT_EQ(cb->replication().role, "standby");
    EXPECT_EQ(converge(*ca, *cb), "");
    EXPECT_EQ(p.b->log().find("deleted checkpoint"), std::string::npos) << p.b->log();
}

// 5a. async_window = 8, try_again: with the standby frozen, the 9th unacknowledged async commit
//     is refused with TRY_AGAIN; after SIGCONT the lag drains to 0 and writes go on.
TEST(FaultsAsyncWindow, TryAgainBeyondTheWindowWhileTheStandbyIsFrozen) {
    UdpPair p("win-try", {"async_window = 8", "async_window_policy = try_again"}, 4);
    ASSERT_TRUE(p.start()) << p.a->log() << p.b->log();
    WindowSetup w;
    w.make(p);
    if (HasFatalFailure()) return;
    Model m;
    m.buf.assign(4096, std::byte{0});
    std::memcpy(m.buf.data(), pattern(64, 1).data(), 64);
    m.size = 64;
    {
        Frozen frozen(p.b->pid());
        ASSERT_TRUE(frozen.stopped());
        int accepted = 0;
        Status refusal;
        for (std::uint64_t v = 2; v < 40; ++v) {
            auto o = write_rec(*w.sec, m, (v * 64) % 4000, pattern(64, v), Ack::kAsync);
            if (!o.status.ok()) {
                refusal = o.status;
                break;
            }
            ++accepted;
        }
        ASSERT_FALSE(refusal.ok()) << "no async commit was refused with the standby frozen";
        EXPECT_EQ(refusal.error(), Error::kTryAgain) << refusal.message();
        EXPECT_NE(refusal.message().find("async_window"), std::string::npos) << refusal.message();
        EXPECT_EQ(accepted, 8) << "the window is 8 unacknowledged commits";
        EXPECT_EQ(w.ca->replication().lag_commits, 8u);
        EXPECT_EQ(peer_state(p.a->socket(), 2), "up") << "frozen is not down (peer_timeout_ms 5000)";
        // Still refused a moment later: nothing drains while the standby is frozen.
        ::usleep(200'000);
        auto again = w.sec->write(0, pattern(8, 0), Ack::kAsync);
        ASSERT_FALSE(again.ok());
        EXPECT_EQ(again.error(), Error::kTryAgain);
    }
    // Thawed: everything is acknowledged and applied, and writing works again.
    EXPECT_TRUE(eventually([&] { return w.ca->replication().lag_commits == 0; }, kLongWait)) << p.a->log();
    EXPECT_EQ(describe(content(*w.cb, "w"), m.content()), "");
    auto o = write_rec(*w.sec, m, 0, pattern(64, 777), Ack::kSync);
    EXPECT_TRUE(o.status.ok()) << o.status.message();
    EXPECT_EQ(converge(*w.ca, *w.cb), "");
    EXPECT_EQ(link_of(p.b->socket()).bad_commits, 0u);
}

// 5b. The same with policy block: the 9th write waits, and completes once the standby thaws.
TEST(FaultsAsyncWindow, BlockWaitsBeyondTheWindowAndSucceedsAfterTheStandbyThaws) {
    UdpPair p("win-block", {"async_window = 8", "async_window_policy = block"}, 6);
    ASSERT_TRUE(p.start()) << p.a->log() << p.b->log();
    WindowSetup w;
    w.make(p);
    if (HasFatalFailure()) return;
    Frozen frozen(p.b->pid());
    ASSERT_TRUE(frozen.stopped());
    for (std::uint64_t v = 2; v < 10; ++v) {
        auto r = w.sec->write((v * 64) % 4000, pattern(64, v), Ack::kAsync);
        ASSERT_TRUE(r.ok()) << "commit " << v << ": " << r.message();
    }
    // The engine counts each commit when it captures it, just after write() returned.
    EXPECT_TRUE(eventually([&] { return w.ca->replication().lag_commits == 8; })) << w.ca->replication().lag_commits;
    // The 9th waits (up to 60 s) for the lag to drop below the window.
    auto ninth = std::async(std::launch::async, [&]() -> Status {
        auto tx = w.sec->write(std::chrono::seconds(60));
        if (!tx) return tx.failure();
        tx->write(1024, pattern(64, 9));
        auto r = tx->commit(Ack::kAsync);
        return r ? Status{} : Status(r.failure());
    });
    EXPECT_EQ(ninth.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout)
        << "a write beyond the window did not wait";
    EXPECT_EQ(w.ca->replication().lag_commits, 8u);
    frozen.thaw();
    ASSERT_EQ(ninth.wait_for(std::chrono::seconds(90)), std::future_status::ready);
    auto st = ninth.get();
    EXPECT_TRUE(st.ok()) << st.message();
    EXPECT_TRUE(eventually([&] { return w.ca->replication().lag_commits == 0; }, kLongWait)) << p.a->log();
    EXPECT_EQ(converge(*w.ca, *w.cb), "");
}

} // namespace

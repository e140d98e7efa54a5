// Replication under faults between two hosts: DPDK af_packet across a veth pair between two
// network namespaces, with real ckptd processes. Sections and bytes identical on the standby; 30 s
// of random loss from nftables plus the engines' seeded fault shim reordering, duplicating and
// corrupting frames; a 5 s partition; a one-way cut that leaves a commit half-received, and a
// standby restarted in that state then promoted. Root, iproute2 and nftables.
// Only states, counters and bytes are asserted, never times: every wait is a poll with a
// generous limit, so a loaded 2-core machine is slower, not flaky.
#include "faults_common.hpp"

using namespace ckpt::testing::faults;

namespace {

// ---- two hosts: DPDK af_packet across a veth pair between two namespaces ----------------------

struct AfPacketHosts {
    VethPair net; // declared first: destroyed last, after the engines in it are killed
    std::unique_ptr<Cluster> cluster;
    EngineProcess *a = nullptr, *b = nullptr;

    /// Node 1 in ns1 (10.77.0.1), node 2 in ns2 (10.77.0.2); `extra` lines for both, `extra_a`
    /// and `extra_b` for one.
    void start(const std::string& tag, const std::vector<std::string>& extra,
               const std::vector<std::string>& extra_a = {}, const std::vector<std::string>& extra_b = {}) {
        ASSERT_TRUE(net.ok()) << net.error();
        cluster = std::make_unique<Cluster>(
            tag, ClusterOptions{ClusterCarrier::kAfPacket, 2, extra, {{1, extra_a}, {2, extra_b}}, 0, &net});
        a = cluster->node(1).get();
        b = cluster->node(2).get();
        ASSERT_TRUE(a->start()) << a->log();
        ASSERT_TRUE(b->start()) << b->log();
        ASSERT_TRUE(cluster->all_up()) << logs();
    }
    std::string logs() const { return cluster->logs(); }
};

// 1. What the active does to a checkpoint over af_packet appears identically on the standby.
TEST(FaultsAfPacket, SectionsWrittenDeletedAndExpiredAppearIdenticallyOnTheStandby) {
    SKIP_WITHOUT_NETNS();
    AfPacketHosts h;
    h.start("afp-repl", {});
    if (HasFatalFailure()) return;
    auto sa = Session::connect({h.a->socket()});
    auto sb = Session::connect({h.b->socket()});
    ASSERT_TRUE(sa.ok() && sb.ok());
    EXPECT_EQ(sa->peers()->transport, "af_packet");

    auto ca = sa->create("afp", replica_attrs());
    ASSERT_TRUE(ca.ok()) << ca.message();
    SectionCreate sc;
    sc.capacity = 16384;
    for (const char* id : {"keep", "big", "gone", "expires"}) {
        sc.id = id;
        auto init = bytes_of(std::string("initial bytes of ") + id);
        sc.initial = init;
        ASSERT_TRUE(ca->create_section(sc).ok()) << id;
    }
    auto cb = open_replica(*sb, "afp");
    ASSERT_TRUE(cb.ok()) << cb.message() << h.logs();
    EXPECT_EQ(cb->replication().role, "standby");
    EXPECT_EQ(cb->replication().active_node, 1u);
    EXPECT_EQ(converge(*ca, *cb), "") << h.logs();

    // Sync commits of records at many offsets: each is on the standby when write() returns.
    auto keep = ca->section("keep");
    ASSERT_TRUE(keep.ok());
    for (int i = 0; i < 150; ++i) {
        auto rec = pattern(static_cast<std::size_t>(16 + i % 200), static_cast<std::uint64_t>(i));
        const std::size_t off = static_cast<std::size_t>(i * 389) % (16384 - rec.size());
        auto r = keep->write(off, rec, Ack::kSync);
        ASSERT_TRUE(r.ok()) << r.message() << h.logs();
        if (i % 30 == 29) {
            EXPECT_EQ(describe(content(*ca, "keep"), content(*cb, "keep")), "") << "after commit " << i;
        }
    }
    // A whole-section overwrite spans a dozen DATA frames and arrives whole.
    auto big = ca->section("big");
    auto all = pattern(16384, 99);
    ASSERT_TRUE(big->overwrite(all, Ack::kSync).ok());
    EXPECT_EQ(content(*cb, "big"), all);
    // A shrinking overwrite: the standby takes the new size.
    auto small = pattern(1000, 100);
    ASSERT_TRUE(big->overwrite(small, Ack::kSync).ok());
    EXPECT_EQ(content(*cb, "big"), small);

    // Deleted and expired sections go on the standby too; a section created late arrives.
    ASSERT_TRUE(ca->delete_section("gone").ok());
    ASSERT_TRUE(ca->set_expiration("expires", realtime_ns() + 100'000'000).ok());
    sc.id = "late";
    auto late = pattern(5000, 7);
    sc.initial = late;
    ASSERT_TRUE(ca->create_section(sc).ok());
    EXPECT_TRUE(eventually([&] { return !cb->section("gone").ok() && !cb->section("expires").ok(); })) << h.logs();
    EXPECT_EQ(converge(*ca, *cb), "") << h.logs();
    EXPECT_EQ(cb->sections().size(), 3u);
    EXPECT_EQ(content(*cb, "late"), late);

    auto la = sa->peers();
    auto lb = sb->peers();
    ASSERT_TRUE(la.ok() && lb.ok());
    EXPECT_GE(la->commits_acked, 152u);
    EXPECT_GE(lb->commits_applied, 152u);
    EXPECT_EQ(lb->bad_commits, 0u);
    EXPECT_EQ(la->bad_commits, 0u);
    EXPECT_EQ(la->stale_epoch + lb->stale_epoch, 0u);
    EXPECT_EQ(ca->replication().lag_commits, 0u);
    EXPECT_EQ(ca->replication().replicas, 1u);
}

// 2. Thirty seconds of faults on the af_packet link: nftables drops 10% of what each end sends,
//    and each engine's fault shim reorders, duplicates and corrupts what it sends (fixed seeds).
TEST(FaultsAfPacket, ThirtySecondsOfLossReorderingDuplicationAndCorruption) {
    SKIP_WITHOUT_NETNS();
    AfPacketHosts h;
    const std::vector<std::string> shim = {"fault_reorder_pct = 5", "fault_dup_pct = 5", "fault_corrupt_pct = 2",
                                           "fault_direction = tx"};
    // A longer peer timeout: 10% loss must not look like a dead peer on a loaded machine.
    auto extra = shim;
    extra.push_back("peer_timeout_ms = 1500");
    h.start("afp-faults", extra, {"fault_seed = 11"}, {"fault_seed = 12"});
    if (HasFatalFailure()) return;
    // Every frame is now, in this order: maybe corrupted, duplicated or held back by the
    // sender's shim, then maybe dropped by nftables on the sender's veth egress (af_packet
    // sees ingress frames before the ingress hook, so only egress rules affect it).
    EXPECT_NE(h.a->log().find("faults on tx (seed 11"), std::string::npos) << h.a->log();
    std::string err;
    ASSERT_TRUE(ckpt::testing::drop_pct(h.net.ns1(), h.net.dev1(), 10, Hook::kEgress, &err)) << err;
    ASSERT_TRUE(ckpt::testing::drop_pct(h.net.ns2(), h.net.dev2(), 10, Hook::kEgress, &err)) << err;

    auto sa = Session::connect({h.a->socket()});
    auto sb = Session::connect({h.b->socket()});
    ASSERT_TRUE(sa.ok() && sb.ok());
    auto ca = sa->create("faulty", replica_attrs(UpdateMode::kAsync));
    ASSERT_TRUE(ca.ok()) << ca.message();
    constexpr int kSections = 4;
    constexpr std::size_t kCap = 8192;
    std::vector<Section> secs;
    std::vector<Model> model(kSections);
    SectionCreate sc;
    sc.capacity = kCap;
    for (int k = 0; k < kSections; ++k) {
        sc.id = "s" + std::to_string(k);
        auto s = ca->create_section(sc);
        ASSERT_TRUE(s.ok()) << s.message();
        secs.push_back(*s);
        model[static_cast<std::size_t>(k)].buf.assign(kCap, std::byte{0});
    }
    auto cb = open_replica(*sb, "faulty");
    ASSERT_TRUE(cb.ok()) << cb.message() << h.logs();
    for (int k = 0; k < kSections; ++k) {
        auto r = overwrite_all(secs[static_cast<std::size_t>(k)], model[static_cast<std::size_t>(k)],
                               pattern(kCap, 1000 + static_cast<std::uint64_t>(k)), Ack::kSync);
        ASSERT_TRUE(r.status.ok()) << r.status.message() << h.logs();
    }

    // The writer: records at scattered offsets and now and then a whole-section overwrite of a
    // varying size; one commit in three synchronous. After every sync commit that returned OK,
    // the standby must hold exactly what the writer believes the section holds.
    std::uint64_t sync_ok = 0, sync_failed = 0, async_ok = 0, refused = 0, sync_missing = 0;
    std::string first_missing, first_failure;
    std::vector<std::uint64_t> last_ok_sync(kSections, 0);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::uint64_t i = 0;
    for (; std::chrono::steady_clock::now() < until; ++i) {
        const std::size_t k = i % kSections;
        const Ack ack = i % 3 == 0 ? Ack::kSync : Ack::kAsync;
        Outcome o;
        if (i % 17 == 0) {
            o = overwrite_all(secs[k], model[k], pattern(kCap - (i % 5) * 700, i), ack);
        } else {
            auto rec = pattern(48 + i % 150, i);
            std::memcpy(rec.data(), &i, sizeof i);
            o = write_rec(secs[k], model[k], (i * 131) % (kCap - rec.size()), rec, ack);
        }
        if (!o.published) {
            ++refused;
            if (first_failure.empty()) first_failure = o.status.message();
            continue;
        }
        if (ack == Ack::kAsync) {
            async_ok += o.status.ok();
            continue;
        }
        if (!o.status.ok()) {
            ++sync_failed;
            if (first_failure.empty()) first_failure = o.status.message();
            continue;
        }
        ++sync_ok;
        last_ok_sync[k] = i;
        const std::string id = "s" + std::to_string(k);
        if (auto d = describe(content(*cb, id), model[k].content()); !d.empty()) {
            ++sync_missing;
            if (first_missing.empty()) first_missing = id + " after commit " + std::to_string(i) + ": " + d;
        }
    }
    const std::uint64_t dropped_a = ckpt::testing::dropped(h.net.ns1(), h.net.dev1(), Hook::kEgress);
    const std::uint64_t dropped_b = ckpt::testing::dropped(h.net.ns2(), h.net.dev2(), Hook::kEgress);
    std::cout << "[faults] " << i << " commits in 30 s: " << sync_ok << " sync OK, " << sync_failed << " sync failed, "
              << async_ok << " async OK, " << refused << " refused before writing; "
              << "nft dropped " << dropped_a << " + " << dropped_b << " frames"
              << (first_failure.empty() ? "" : "; first failure: ") << first_failure << "\n";
    EXPECT_EQ(sync_missing, 0u) << "a sync commit returned OK before the standby held it: " << first_missing;
    EXPECT_GT(sync_ok, 50u) << first_failure << h.logs();
    EXPECT_GT(async_ok, 100u) << first_failure;
    EXPECT_GT(dropped_a, 0u);
    EXPECT_GT(dropped_b, 0u);

    // With the faults still on, the standby converges to exactly what the writer wrote.
    EXPECT_TRUE(eventually([&] { return ca->replication().lag_commits == 0; }, kLongWait))
        << "lag " << ca->replication().lag_commits << h.logs();
    EXPECT_EQ(converge(*ca, *cb), "") << h.logs();
    for (int k = 0; k < kSections; ++k) {
        const std::string id = "s" + std::to_string(k);
        EXPECT_EQ(describe(content(*cb, id), model[static_cast<std::size_t>(k)].content()), "")
            << id << " (last OK sync commit " << last_ok_sync[static_cast<std::size_t>(k)] << ")";
    }

    auto la = sa->peers();
    auto lb = sb->peers();
    ASSERT_TRUE(la.ok() && lb.ok());
    std::cout << "[faults] node 1: retransmits " << la->retransmits << ", duplicates " << la->duplicates
              << ", reordered " << la->reordered << ", rejected " << la->rx_rejected << " (bad hash "
              << la->rejected_by_reason[kBadHashIndex] << "), resyncs " << la->resyncs << "; node 2: applied "
              << lb->commits_applied << ", duplicates " << lb->duplicates << ", reordered " << lb->reordered
              << ", rejected " << lb->rx_rejected << " (bad hash " << lb->rejected_by_reason[kBadHashIndex]
              << "), nacks " << lb->nacks_sent << "\n";
    // Corrupted frames were refused by their hash on both sides and never applied.
    EXPECT_GT(lb->rejected_by_reason[kBadHashIndex], 0u);
    EXPECT_GT(la->rejected_by_reason[kBadHashIndex], 0u);
    EXPECT_EQ(lb->bad_commits, 0u) << h.b->log();
    EXPECT_EQ(la->bad_commits, 0u);
    // Duplicates were recognised (and, the bytes say, changed nothing); losses were repaired.
    EXPECT_GT(lb->duplicates, 0u);
    EXPECT_GT(la->retransmits, 0u);
    EXPECT_GT(lb->reordered, 0u);
    EXPECT_EQ(la->stale_epoch + lb->stale_epoch, 0u);
    EXPECT_GT(lb->commits_applied, sync_ok);
}

// 3. A 5 s partition (both veth ends drop what they send): sync commits fail with a clear error
//    once the standby is declared down, async commits go on and their lag is reported; after
//    the partition heals the standby converges and the lag returns to 0.
TEST(FaultsAfPacket, PartitionFailsSyncCommitsReportsLagAndHeals) {
    SKIP_WITHOUT_NETNS();
    AfPacketHosts h;
    h.start("afp-part", {});
    if (HasFatalFailure()) return;
    auto sa = Session::connect({h.a->socket()});
    auto sb = Session::connect({h.b->socket()});
    ASSERT_TRUE(sa.ok() && sb.ok());
    auto ca = sa->create("parted", replica_attrs());
    ASSERT_TRUE(ca.ok());
    SectionCreate sc;
    sc.id = "state";
    sc.capacity = 4096;
    auto sec = ca->create_section(sc);
    ASSERT_TRUE(sec.ok());
    Model m;
    m.buf.assign(4096, std::byte{0});
    auto cb = open_replica(*sb, "parted");
    ASSERT_TRUE(cb.ok()) << cb.message();
    for (std::uint64_t v = 0; v < 50; ++v) {
        auto o = write_rec(*sec, m, (v * 64) % 4000, pattern(64, v), Ack::kSync);
        ASSERT_TRUE(o.status.ok()) << o.status.message() << h.logs();
    }
    EXPECT_EQ(describe(content(*cb, "state"), m.content()), "");
    const auto before = link_of(h.a->socket());

    // Partition: each end's egress drops the replication port.
    std::string err;
    ASSERT_TRUE(ckpt::testing::block_udp(h.net.ns1(), h.net.dev1(), kReplicationPort, Hook::kEgress, &err)) << err;
    ASSERT_TRUE(ckpt::testing::block_udp(h.net.ns2(), h.net.dev2(), kReplicationPort, Hook::kEgress, &err)) << err;
    const auto cut_at = std::chrono::steady_clock::now();
    // A sync commit made now never returns OK: it fails, with TIMEOUT while the peer is not yet
    // declared down, with UNAVAILABLE naming node 2 once it is.
    std::uint64_t v = 1000;
    auto first = write_rec(*sec, m, 0, pattern(64, v++), Ack::kSync);
    EXPECT_TRUE(first.published);
    ASSERT_FALSE(first.status.ok()) << "a sync commit returned OK while the standby was cut off";
    EXPECT_TRUE(first.status.error() == Error::kUnavailable || first.status.error() == Error::kTimeout)
        << first.status.message();
    ASSERT_TRUE(wait_peer_state(h.a->socket(), 2, "down")) << h.a->log();
    EXPECT_TRUE(eventually([&] { return ca->replication().sync_blocked_by == 2; }));
    auto blocked = write_rec(*sec, m, 64, pattern(64, v++), Ack::kSync);
    EXPECT_TRUE(blocked.published);
    ASSERT_FALSE(blocked.status.ok());
    EXPECT_EQ(blocked.status.error(), Error::kUnavailable) << blocked.status.message();
    EXPECT_NE(blocked.status.message().find("standby node 2 is down"), std::string::npos) << blocked.status.message();
    EXPECT_EQ(ca->replication().replicas, 0u);

    // Async commits go on, and the lag they build is reported.
    const std::uint64_t lag0 = ca->replication().lag_commits;
    int async_commits = 0;
    while (std::chrono::steady_clock::now() < cut_at + std::chrono::seconds(5) || async_commits < 200) {
        auto o = write_rec(*sec, m, (v * 37) % 4000, pattern(80, v), Ack::kAsync);
        ++v;
        ASSERT_TRUE(o.status.ok()) << o.status.message();
        ++async_commits;
        if (async_commits % 5 == 0) ::usleep(20'000);
    }
    const auto during = ca->replication();
    EXPECT_GE(during.lag_commits, lag0 + static_cast<std::uint64_t>(async_commits)) << "lag not reported";
    EXPECT_GT(during.lag_bytes, 0u);
    EXPECT_EQ(during.sync_blocked_by, 2u);
    EXPECT_NE(describe(content(*cb, "state"), m.content()), "") << "the standby cannot have these yet";
    EXPECT_EQ(peer_state(h.b->socket(), 1), "down");

    // Heal: the standby comes back, is resynced, and catches up with everything.
    ASSERT_TRUE(ckpt::testing::unblock(h.net.ns1(), h.net.dev1(), &err)) << err;
    ASSERT_TRUE(ckpt::testing::unblock(h.net.ns2(), h.net.dev2(), &err)) << err;
    ASSERT_TRUE(wait_peer_state(h.a->socket(), 2, "up")) << h.logs();
    EXPECT_TRUE(eventually([&] { return ca->replication().lag_commits == 0; }, kLongWait))
        << "lag " << ca->replication().lag_commits << h.logs();
    EXPECT_EQ(ca->replication().lag_bytes, 0u);
    EXPECT_TRUE(eventually([&] { return ca->replication().replicas == 1 && ca->replication().sync_blocked_by == 0; }));
    EXPECT_EQ(converge(*ca, *cb), "") << h.logs();
    EXPECT_EQ(describe(content(*cb, "state"), m.content()), "");
    auto after = write_rec(*sec, m, 128, pattern(64, v++), Ack::kSync);
    EXPECT_TRUE(after.status.ok()) << after.status.message();
    EXPECT_EQ(describe(content(*cb, "state"), m.content()), "");
    const auto la = link_of(h.a->socket());
    EXPECT_GT(la.resyncs, before.resyncs) << "the standby rejoined by resync";
    EXPECT_EQ(link_of(h.b->socket()).bad_commits, 0u) << h.b->log();
}

/// nft match for the frames that complete a commit: Hotspare type DATA (UDP payload byte 5) with
/// the last-fragment flag (bit 0x1 of the big-endian flags at payload bytes 6..7). Dropping them
/// leaves every commit half-received on the standby: deterministically cut in the middle.
const std::string kLastFragments = "udp dport " + std::to_string(kReplicationPort) + " @th,104,8 1 @th,127,1 1";

/// A sync commit of the whole section (12 DATA frames) in a thread, waiting up to 60 s.
std::future<Status> sync_commit_async(Section& s, Model& m, std::uint64_t seed) {
    return std::async(std::launch::async, [&s, &m, seed]() -> Status {
        auto tx = s.write(std::chrono::seconds(60));
        if (!tx) return tx.failure();
        auto bytes = pattern(s.capacity(), seed);
        tx->write(0, bytes);
        auto r = tx->commit(Ack::kSync, std::chrono::seconds(60));
        if (r.ok() || r.error() == Error::kUnavailable || r.error() == Error::kTimeout) {
            std::memcpy(m.buf.data(), bytes.data(), bytes.size());
            m.size = std::max(m.size, bytes.size());
        }
        return r ? Status{} : Status(r.failure());
    });
}

// 3b. A one-way cut: only what the active sends is lost, long enough for the standby to declare
//     the active down, while the active, still hearing the standby, keeps it up and its stream
//     going. A commit cut in the middle (its last fragment held back by nftables) must be applied
//     whole when the rest arrives, never dropped and acknowledged anyway.
TEST(FaultsAfPacket, OneWayCutLongerThanThePeerTimeoutLosesNoAcknowledgedCommit) {
    SKIP_WITHOUT_NETNS();
    AfPacketHosts h;
    h.start("afp-oneway", {});
    if (HasFatalFailure()) return;
    auto sa = Session::connect({h.a->socket()});
    auto sb = Session::connect({h.b->socket()});
    ASSERT_TRUE(sa.ok() && sb.ok());
    auto ca = sa->create("oneway", replica_attrs());
    ASSERT_TRUE(ca.ok());
    constexpr std::size_t kCap = 16384; // a commit of the whole section: 12 DATA frames
    SectionCreate sc;
    sc.id = "big";
    sc.capacity = kCap;
    auto sec = ca->create_section(sc);
    ASSERT_TRUE(sec.ok());
    auto cb = open_replica(*sb, "oneway");
    ASSERT_TRUE(cb.ok()) << cb.message();
    Model m;
    m.buf.assign(kCap, std::byte{0});
    std::string err;
    for (std::uint64_t round = 1; round <= 3; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        // The commit's first 11 frames reach the standby, its last does not.
        ASSERT_TRUE(ckpt::testing::drop_matching(h.net.ns1(), h.net.dev1(), kLastFragments, Hook::kEgress, &err))
            << err;
        auto commit = sync_commit_async(*sec, m, round);
        ASSERT_TRUE(eventually([&] {
            return ckpt::testing::dropped(h.net.ns1(), h.net.dev1(), Hook::kEgress) >= 2; // sent, and resent
        })) << h.logs();
        // Then nothing from node 1 at all, until node 2 declares it down; node 1 still hears
        // node 2 and keeps it up: the cut is one-way.
        ASSERT_TRUE(ckpt::testing::block_udp(h.net.ns1(), h.net.dev1(), kReplicationPort, Hook::kEgress, &err)) << err;
        ASSERT_TRUE(wait_peer_state(h.b->socket(), 1, "down")) << h.logs();
        EXPECT_EQ(peer_state(h.a->socket(), 2), "up");
        EXPECT_EQ(commit.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
        ASSERT_TRUE(ckpt::testing::unblock(h.net.ns1(), h.net.dev1(), &err)) << err;
        ASSERT_EQ(commit.wait_for(std::chrono::seconds(90)), std::future_status::ready);
        auto st = commit.get();
        if (st.ok()) {
            EXPECT_EQ(describe(content(*cb, "big"), m.content()), "")
                << "a sync commit returned OK that the standby does not hold";
        } else {
            EXPECT_TRUE(st.error() == Error::kUnavailable || st.error() == Error::kTimeout) << st.message();
        }
        EXPECT_TRUE(eventually([&] { return ca->replication().lag_commits == 0; }, kLongWait)) << h.logs();
        EXPECT_EQ(describe(content(*cb, "big"), m.content()), "");
    }
    EXPECT_EQ(link_of(h.b->socket()).bad_commits, 0u) << h.b->log();
    EXPECT_EQ(converge(*ca, *cb), "") << h.logs();
}

// 3c. The standby's engine restarts while it holds a half-received commit (its active cut off),
//     then it is promoted: what it serves its standbys is exactly what it shows, never the
//     fragments of the commit it never applied.
TEST(FaultsAfPacket, StandbyRestartedWithAHalfReceivedCommitThenPromotedServesWhatItShows) {
    SKIP_WITHOUT_NETNS();
    AfPacketHosts h;
    h.start("afp-staged", {});
    if (HasFatalFailure()) return;
    constexpr std::size_t kCap = 16384;
    Model m;
    m.buf.assign(kCap, std::byte{0});
    std::vector<std::byte> applied; // what node 2 held when it was cut off
    // The active's application keeps its handle (with retention 0 the last close would delete
    // the checkpoint), and does not follow its engine through the restart below.
    auto sa0 = Session::connect({h.a->socket(), kDefaultTimeout, false});
    ASSERT_TRUE(sa0.ok());
    auto ca0 = sa0->create("staged", replica_attrs());
    ASSERT_TRUE(ca0.ok());
    {
        auto sb = Session::connect({h.b->socket()});
        ASSERT_TRUE(sb.ok());
        auto& ca = ca0;
        SectionCreate sc;
        sc.id = "big";
        sc.capacity = kCap;
        auto sec = ca->create_section(sc);
        ASSERT_TRUE(sec.ok());
        auto cb = open_replica(*sb, "staged");
        ASSERT_TRUE(cb.ok()) << cb.message();
        ASSERT_TRUE(write_rec(*sec, m, 0, pattern(kCap, 1), Ack::kSync).status.ok());
        applied = m.content();
        std::string err;
        ASSERT_TRUE(ckpt::testing::drop_matching(h.net.ns1(), h.net.dev1(), kLastFragments, Hook::kEgress, &err))
            << err;
        auto o = write_rec(*sec, m, 0, pattern(kCap, 2), Ack::kAsync); // 11 of its 12 frames arrive
        ASSERT_TRUE(o.status.ok());
        ASSERT_TRUE(eventually([&] { return ckpt::testing::dropped(h.net.ns1(), h.net.dev1(), Hook::kEgress) >= 2; }));
        ASSERT_TRUE(ckpt::testing::block_udp(h.net.ns1(), h.net.dev1(), kReplicationPort, Hook::kEgress, &err)) << err;
        ASSERT_TRUE(wait_peer_state(h.b->socket(), 1, "down")) << h.logs();
        EXPECT_EQ(describe(content(*cb, "big"), applied), "") << "half a commit must never show";
    }
    // Node 2's engine dies and comes back (its segments remain); node 1 dies for good.
    h.b->kill_hard();
    ASSERT_TRUE(h.b->start()) << h.b->log();
    h.a->kill_hard();
    auto sb = Session::connect({h.b->socket()});
    ASSERT_TRUE(sb.ok());
    auto hot = open_replica(*sb, "staged"); // the standby application, hot: it holds it open
    ASSERT_TRUE(hot.ok()) << hot.message() << h.b->log();
    auto epoch = sb->promote("staged");
    ASSERT_TRUE(epoch.ok()) << epoch.message() << h.b->log();
    auto cb = sb->open("staged", kOpenRead | kOpenWrite);
    ASSERT_TRUE(cb.ok()) << cb.message();
    EXPECT_EQ(describe(content(*cb, "big"), applied), "");
    // Node 1 returns with the link whole: fenced, it steps down and is resynced from node 2.
    std::string err;
    ASSERT_TRUE(ckpt::testing::unblock(h.net.ns1(), h.net.dev1(), &err)) << err;
    ASSERT_TRUE(h.a->start()) << h.a->log();
    auto sa = Session::connect({h.a->socket()});
    ASSERT_TRUE(sa.ok());
    Result<Checkpoint> ca = fail(Error::kNotExist, "");
    EXPECT_TRUE(eventually(
        [&] {
            ca = sa->open("staged", kOpenRead);
            return ca.ok() && ca->replication().role == "standby" && ca->replication().epoch == *epoch &&
                   ca->replication().lag_commits == 0 && cb->replication().replicas == 1 &&
                   cb->replication().lag_commits == 0;
        },
        kLongWait))
        << h.logs();
    ASSERT_TRUE(ca.ok());
    EXPECT_EQ(converge(*cb, *ca), "") << "node 1 was resynced to something node 2 does not show\n" << h.logs();
    EXPECT_EQ(describe(content(*ca, "big"), applied), "");
    // And node 2's own writers build on what it shows: a commit of one block replicates onto it.
    auto sec = cb->section("big");
    ASSERT_TRUE(sec.ok());
    Model m2;
    m2.buf = applied;
    m2.buf.resize(kCap);
    m2.size = applied.size();
    auto o = write_rec(*sec, m2, 256, pattern(16, 3), Ack::kSync);
    EXPECT_TRUE(o.status.ok()) << o.status.message();
    EXPECT_EQ(describe(content(*cb, "big"), m2.content()), "");
    EXPECT_EQ(converge(*cb, *ca), "") << h.logs();
}

} // namespace

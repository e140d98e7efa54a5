// Replication under faults, with real ckptd processes: DPDK af_packet across a veth pair between
// two network namespaces (sections and bytes identical on the standby; 30 s of random loss from
// nftables plus the engines' seeded fault shim reordering, duplicating and corrupting frames; a
// 5 s partition; a one-way cut that leaves a commit half-received, and a standby restarted in
// that state then promoted), three nodes over kernel UDP on loopback (a standby killed and
// restarted, then a failover the third node follows), a standby replica outliving its local
// handles, and the async window while a standby is frozen (SIGSTOP).
// Only states, counters and bytes are asserted, never times: every wait is a poll with a
// generous limit, so a loaded 2-core machine is slower, not flaky.
#include "ckpt/client/session.hpp"
#include "engine_process.hpp"
#include "netns.hpp"
#include "two_nodes.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>

using namespace ckpt;
using namespace ckpt::client;
using ckpt::testing::bytes_of;
using ckpt::testing::EngineProcess;
using ckpt::testing::eventually;
using ckpt::testing::Hook;
using ckpt::testing::open_replica;
using ckpt::testing::realtime_ns;
using ckpt::testing::replica_attrs;
using ckpt::testing::VethPair;
using ckpt::testing::wait_peer_state;

namespace {

constexpr int kLongWait = 24000;         // x 5 ms: 120 s before a convergence wait gives up
constexpr std::size_t kBadHashIndex = 7; // LinkInfo::rejected_by_reason: net::Reject::kBadHash - 1
constexpr std::uint16_t kReplicationPort = 7490;

// ---- helpers ----------------------------------------------------------------------------------

/// n bytes of a pattern that differs for every seed (splitmix64).
std::vector<std::byte> pattern(std::size_t n, std::uint64_t seed) {
    std::vector<std::byte> v(n);
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (std::size_t i = 0; i < n; ++i) {
        if (i % 8 == 0) {
            x += 0x9E3779B97F4A7C15ull;
            std::uint64_t z = x;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            x = z ^ (z >> 31);
        }
        v[i] = static_cast<std::byte>(x >> ((i % 8) * 8));
    }
    return v;
}

/// The committed content of a section (its size bytes); nullopt when it cannot be read.
std::optional<std::vector<std::byte>> content(const Checkpoint& c, const std::string& id) {
    auto s = c.section(id);
    if (!s) return std::nullopt;
    std::vector<std::byte> buf(s->capacity());
    auto n = s->read(0, buf);
    if (!n) return std::nullopt;
    buf.resize(*n);
    return buf;
}

std::string describe(const std::optional<std::vector<std::byte>>& a, const std::optional<std::vector<std::byte>>& b) {
    if (!a || !b) return std::string(a ? "" : "first unreadable ") + (b ? "" : "second unreadable");
    if (a->size() != b->size()) return "sizes " + std::to_string(a->size()) + " and " + std::to_string(b->size());
    for (std::size_t i = 0; i < a->size(); ++i)
        if ((*a)[i] != (*b)[i]) return "first difference at byte " + std::to_string(i);
    return {};
}

/// Empty when both checkpoints hold the same sections (ids) with the same bytes; else the first
/// difference, in words.
std::string difference(const Checkpoint& a, const Checkpoint& b) {
    std::set<std::string> ia, ib;
    for (const auto& d : a.sections()) ia.insert(d.id);
    for (const auto& d : b.sections()) ib.insert(d.id);
    if (ia != ib) {
        std::string s = "section lists differ: {";
        for (const auto& i : ia) s += " " + i;
        s += " } vs {";
        for (const auto& i : ib) s += " " + i;
        return s + " }";
    }
    for (const auto& id : ia) {
        auto ca = content(a, id), cb = content(b, id);
        if (!ca || !cb || *ca != *cb) return "section " + id + ": " + describe(ca, cb);
    }
    return {};
}

/// Polls until `b` matches `a` (sections and bytes); returns the last difference (empty: same).
std::string converge(const Checkpoint& a, const Checkpoint& b, int tries = kLongWait) {
    std::string d;
    eventually(
        [&] {
            d = difference(a, b);
            return d.empty();
        },
        tries);
    return d;
}

LinkInfo link_of(const std::string& socket) {
    auto s = Session::connect({socket, kDefaultTimeout, false});
    if (!s) return {};
    auto l = s->peers();
    return l ? *l : LinkInfo{};
}

std::string peer_state(const std::string& socket, std::uint16_t peer) {
    for (const auto& p : link_of(socket).peers)
        if (p.node_id == peer) return p.state;
    return "?";
}

/// Ten UDP ports for this test process (offsets 0..9), below the ephemeral range and away from
/// the default 7490 and from test_transports' ports (20000..32000).
std::uint16_t port_base() {
    return static_cast<std::uint16_t>(10000 + (::getpid() % 1000) * 10);
}

/// The process's scheduler state letter from /proc (R, S, T...).
char proc_state(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = all.rfind(')');
    return close == std::string::npos || close + 2 >= all.size() ? '?' : all[close + 2];
}

/// SIGSTOPs an engine for its lifetime: SIGCONT in the destructor, whatever happens in between.
class Frozen {
public:
    explicit Frozen(pid_t pid) : pid_(pid) {
        ::kill(pid_, SIGSTOP);
        for (int i = 0; i < 2000 && proc_state(pid_) != 'T'; ++i) ::usleep(1000);
    }
    ~Frozen() { thaw(); }
    Frozen(const Frozen&) = delete;
    Frozen& operator=(const Frozen&) = delete;
    bool stopped() const { return proc_state(pid_) == 'T'; }
    void thaw() {
        if (pid_ > 0) ::kill(pid_, SIGCONT);
        pid_ = -1;
    }

private:
    pid_t pid_;
};

/// What one writer believes a section holds: its whole capacity and its size.
struct Model {
    std::vector<std::byte> buf;
    std::size_t size = 0;
    std::vector<std::byte> content() const { return {buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(size)}; }
};

/// The outcome of one commit by the writer helpers below.
struct Outcome {
    bool published = false; ///< the active holds it (returned OK, or failed waiting for the ack)
    Status status;          ///< OK, or the error
};

/// write(offset, rec) through an explicit transaction, so a failure before the transaction (no
/// byte written) and a failure waiting for the acknowledgement (the commit holds on the active)
/// are told apart; the model follows what the active holds.
Outcome write_rec(Section& s, Model& m, std::size_t offset, std::span<const std::byte> rec, Ack ack) {
    auto tx = s.write();
    if (!tx) return {false, tx.failure()};
    tx->write(offset, rec);
    auto r = tx->commit(ack);
    const bool published = r.ok() || r.error() == Error::kUnavailable || r.error() == Error::kTimeout;
    if (published) {
        std::memcpy(m.buf.data() + offset, rec.data(), rec.size());
        m.size = std::max(m.size, offset + rec.size());
    }
    return {published, r.ok() ? Status{} : Status(r.failure())};
}

Outcome overwrite_all(Section& s, Model& m, std::span<const std::byte> src, Ack ack) {
    auto tx = s.write();
    if (!tx) return {false, tx.failure()};
    tx->resize(src.size());
    tx->write(0, src);
    auto r = tx->commit_overwrite(ack);
    const bool published = r.ok() || r.error() == Error::kUnavailable || r.error() == Error::kTimeout;
    if (published) {
        std::memcpy(m.buf.data(), src.data(), src.size());
        m.size = src.size();
    }
    return {published, r.ok() ? Status{} : Status(r.failure())};
}

#define SKIP_WITHOUT_NETNS()                                                                                           \
    if (auto why = ckpt::testing::netns_unavailable(); !why.empty()) GTEST_SKIP() << why

// ---- two hosts: DPDK af_packet across a veth pair between two namespaces ----------------------

struct AfPacketHosts {
    VethPair net; // declared first: destroyed last, after the engines in it are killed
    std::unique_ptr<EngineProcess> a, b;

    /// Node 1 in ns1 (10.77.0.1), node 2 in ns2 (10.77.0.2); `extra` lines for both, `extra_a`
    /// and `extra_b` for one.
    void start(const std::string& tag, const std::vector<std::string>& extra,
               const std::vector<std::string>& extra_a = {}, const std::vector<std::string>& extra_b = {}) {
        ASSERT_TRUE(net.ok()) << net.error();
        auto cfg = [&](int node, const std::string& dev, const std::string& ip, const std::string& peer_ip,
                       const std::vector<std::string>& own) {
            std::vector<std::string> c = {"node_id = " + std::to_string(node),
                                          "transport = af_packet",
                                          "af_packet_iface = " + dev,
                                          "ip = " + ip,
                                          "peers = " + std::to_string(3 - node) + "@" + peer_ip,
                                          "dpdk_lcores = " + std::to_string(node - 1),
                                          "heartbeat_ms = 20",
                                          "peer_timeout_ms = 300",
                                          "reattach_grace_ms = 0"};
            c.insert(c.end(), extra.begin(), extra.end());
            c.insert(c.end(), own.begin(), own.end());
            return c;
        };
        a = std::make_unique<EngineProcess>(tag + "-a", cfg(1, net.dev1(), net.ip1(), net.ip2(), extra_a));
        b = std::make_unique<EngineProcess>(tag + "-b", cfg(2, net.dev2(), net.ip2(), net.ip1(), extra_b));
        a->set_prefix_command(ckpt::testing::in_netns(net.ns1()));
        b->set_prefix_command(ckpt::testing::in_netns(net.ns2()));
        ASSERT_TRUE(a->start()) << a->log();
        ASSERT_TRUE(b->start()) << b->log();
        ASSERT_TRUE(wait_peer_state(a->socket(), 2, "up")) << a->log() << b->log();
        ASSERT_TRUE(wait_peer_state(b->socket(), 1, "up")) << b->log() << a->log();
    }
    std::string logs() const { return "--- node 1 ---\n" + a->log() + "--- node 2 ---\n" + b->log(); }
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

// ---- three nodes over kernel UDP on loopback ---------------------------------------------------

struct ThreeNodes {
    std::uint16_t port[4] = {};
    std::unique_ptr<EngineProcess> n[4]; // 1..3

    /// extra[i]: lines appended to node i's configuration (they override the common ones).
    explicit ThreeNodes(const std::string& tag, std::map<int, std::vector<std::string>> extra = {}) {
        const std::uint16_t base = port_base();
        for (int i = 1; i <= 3; ++i) port[i] = static_cast<std::uint16_t>(base + i);
        for (int i = 1; i <= 3; ++i) {
            std::string peers;
            for (int j = 1; j <= 3; ++j)
                if (j != i)
                    peers += (peers.empty() ? "" : ",") + std::to_string(j) + "@127.0.0.1:" + std::to_string(port[j]);
            std::vector<std::string> cfg{"node_id = " + std::to_string(i),
                                         "transport = udp",
                                         "ip = 127.0.0.1",
                                         "udp_port = " + std::to_string(port[i]),
                                         "peers = " + peers,
                                         "heartbeat_ms = 20",
                                         "peer_timeout_ms = 300",
                                         "reattach_grace_ms = 0"};
            cfg.insert(cfg.end(), extra[i].begin(), extra[i].end());
            n[i] = std::make_unique<EngineProcess>(tag + "-" + std::to_string(i), std::move(cfg));
        }
    }
    ~ThreeNodes() {
        for (auto& e : n) e.reset();
    }
    bool all_up() {
        for (int i = 1; i <= 3; ++i)
            for (int j = 1; j <= 3; ++j)
                if (i != j && n[i]->running() && n[j]->running() &&
                    !wait_peer_state(n[i]->socket(), static_cast<std::uint16_t>(j), "up"))
                    return false;
        return true;
    }
    std::string logs() const {
        std::string s;
        for (int i = 1; i <= 3; ++i) s += "--- node " + std::to_string(i) + " ---\n" + n[i]->log();
        return s;
    }
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
    EXPECT_EQ(*epoch, 2u);
    auto w2 = s2->open("trio", kOpenRead | kOpenWrite);
    ASSERT_TRUE(w2.ok()) << w2.message();
    EXPECT_EQ(w2->replication().role, "active");
    EXPECT_EQ(describe(content(*w2, "calls"), m.content()), "") << "an acknowledged commit was lost";
    EXPECT_TRUE(eventually([&] {
        const auto r = c3b->replication();
        return r.active_node == 2 && r.epoch == 2 && r.role == "standby";
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
        return r.active_node == 2 && r.epoch == 2 && r.role == "standby";
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

// ---- the async window while a standby is frozen ------------------------------------------------

struct UdpPair {
    std::unique_ptr<EngineProcess> a, b;
    UdpPair(const std::string& tag, const std::vector<std::string>& extra, std::uint16_t offset) {
        const std::uint16_t pa = static_cast<std::uint16_t>(port_base() + offset),
                            pb = static_cast<std::uint16_t>(pa + 1);
        auto cfg = [&](int node, std::uint16_t port, int peer, std::uint16_t peer_port) {
            std::vector<std::string> c = {"node_id = " + std::to_string(node), "transport = udp", "ip = 127.0.0.1",
                                          "udp_port = " + std::to_string(port),
                                          "peers = " + std::to_string(peer) + "@127.0.0.1:" + std::to_string(peer_port),
                                          "heartbeat_ms = 20",
                                          // Frozen for a few seconds is not dead.
                                          "peer_timeout_ms = 5000", "reattach_grace_ms = 0"};
            c.insert(c.end(), extra.begin(), extra.end());
            return c;
        };
        a = std::make_unique<EngineProcess>(tag + "-a", cfg(1, pa, 2, pb));
        b = std::make_unique<EngineProcess>(tag + "-b", cfg(2, pb, 1, pa));
    }
    bool start() {
        return a->start() && b->start() && wait_peer_state(a->socket(), 2, "up") &&
               wait_peer_state(b->socket(), 1, "up");
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

// Two engines as two nodes over DPDK memif: what the active does to a checkpoint (sections
// created, written, deleted, expired) appears identically on the standby, byte for byte; a sync
// commit that returned OK is applied on the standby; a standby refuses writes until promoted.
// States and bytes are asserted, never times.
#include "ckpt/client/session.hpp"
#include "ckpt/net/wire_format.hpp"
#include "ckpt/shm/segment_layout.hpp"
#include "two_nodes.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>

using namespace ckpt;
using namespace ckpt::client;
using namespace ckpt::testing;

namespace {

/// The whole committed content of a section (size bytes), or empty when it cannot be read.
std::vector<std::byte> content(const Checkpoint& c, const std::string& id) {
    auto s = c.section(id);
    if (!s) return {};
    std::vector<std::byte> buf(s->capacity());
    auto n = s->read(0, buf);
    if (!n) return {};
    buf.resize(*n);
    return buf;
}

TEST(Replication, SectionsAndCommitsAppearIdenticallyOnTheStandby) {
    TwoNodes n("repl-basic");
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket()});
    auto sb = Session::connect({n.b->socket()});
    ASSERT_TRUE(sa.ok() && sb.ok());

    auto ca = sa->create("calls", replica_attrs());
    ASSERT_TRUE(ca.ok()) << ca.message();
    SectionCreate sc;
    sc.id = "s1";
    auto hello = bytes_of("hello, standby");
    sc.initial = hello;
    sc.capacity = 4096;
    ASSERT_TRUE(ca->create_section(sc).ok());
    sc.id = "s2";
    sc.initial = {};
    ASSERT_TRUE(ca->create_section(sc).ok());
    sc.id = "s3";
    ASSERT_TRUE(ca->create_section(sc).ok());

    auto cb = open_replica(*sb, "calls");
    ASSERT_TRUE(cb.ok()) << cb.message() << n.b->log();
    EXPECT_EQ(cb->replication().role, "standby");
    EXPECT_EQ(cb->replication().active_node, 1u);
    EXPECT_EQ(ca->replication().role, "active");

    // Sync commits: when write() returns OK, the standby has applied it. Spread writes over
    // several blocks and sizes.
    auto s1 = ca->section("s1");
    ASSERT_TRUE(s1.ok());
    for (int i = 0; i < 200; ++i) {
        std::string v = "commit " + std::to_string(i) + std::string(static_cast<std::size_t>(i % 37), '#');
        auto r = s1->write(static_cast<std::size_t>((i * 97) % 3800), bytes_of(v), Ack::kSync);
        ASSERT_TRUE(r.ok()) << r.message() << n.a->log();
        if (i % 50 == 49) {
            EXPECT_EQ(content(*cb, "s1"), content(*ca, "s1")) << "after sync commit " << i;
        }
    }
    EXPECT_EQ(content(*cb, "s1"), content(*ca, "s1"));
    // A large overwrite spans many frames (fragments) and must arrive whole.
    std::vector<std::byte> big(4096);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::byte>(i * 7 + 3);
    auto s2 = ca->section("s2");
    ASSERT_TRUE(s2->overwrite(big, Ack::kSync).ok());
    EXPECT_EQ(content(*cb, "s2"), big);

    // Delete and expiration travel too.
    ASSERT_TRUE(ca->delete_section("s2").ok());
    EXPECT_TRUE(eventually([&] { return !cb->section("s2").ok(); })) << "s2 still on the standby";
    ASSERT_TRUE(ca->set_expiration("s3", realtime_ns() + 100'000'000).ok());
    EXPECT_TRUE(eventually([&] { return !cb->section("s3").ok(); })) << "s3 did not expire on the standby";
    EXPECT_TRUE(cb->section("s1").ok());
    EXPECT_EQ(cb->sections().size(), ca->sections().size());

    // The standby refuses writes until promoted, with the active named.
    auto w = sb->open("calls", kOpenRead | kOpenWrite);
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.error(), Error::kBadOperation);
    EXPECT_NE(w.message().find("active: node 1"), std::string::npos) << w.message();

    // What crossed the wire: DATA payload is the changed blocks, nothing refused.
    auto la = sa->peers();
    auto lb = sb->peers();
    ASSERT_TRUE(la.ok() && lb.ok());
    EXPECT_GE(la->commits_acked, 200u);
    EXPECT_GE(lb->commits_applied, 200u);
    EXPECT_EQ(lb->bad_commits, 0u);
    EXPECT_EQ(lb->rx_rejected, 0u);
    EXPECT_EQ(la->stale_epoch + lb->stale_epoch, 0u);
    // 200 small commits touch one or two 256-byte blocks each, plus 4 KiB of overwrite:
    // far less than 200 whole sections.
    EXPECT_LT(la->data_bytes, 200u * 3 * 256 + 8192 + 4096);
}

// memif_wakeup = true (off by default): both engines sleep until a frame comes, also while
// their frames wait for the ACK; every sync commit made after a pause (both engines asleep by
// then) must still be woken through, applied and acknowledged, and a standby SIGKILLed while
// asleep (its "asleep" word left set, its socket file left behind) rejoins when it starts again.
TEST(Replication, WithMemifWakeupSleepingEnginesAreWokenForEveryCommit) {
    TwoNodes n("repl-wake", {"memif_wakeup = true"});
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    for (const auto* e : {n.a.get(), n.b.get()}) {
        EXPECT_NE(e->log().find("(RX wake-up " + n.memif + ".wake-"), std::string::npos) << e->log();
        EXPECT_NE(e->log().find("sleeps on RX"), std::string::npos) << e->log();
    }
    auto sa = Session::connect({n.a->socket()});
    ASSERT_TRUE(sa.ok());
    auto ca = sa->create("woken", replica_attrs());
    ASSERT_TRUE(ca.ok()) << ca.message();
    SectionCreate sc;
    sc.id = "s1";
    sc.capacity = 8192;
    ASSERT_TRUE(ca->create_section(sc).ok());
    auto s1 = ca->section("s1");
    ASSERT_TRUE(s1.ok());
    auto commits = [&](int from, int to) {
        for (int i = from; i < to; ++i) {
            if (i % 4 == 0) ::usleep(3000); // long past idle_spin_us: both engines are asleep
            const std::string v = "woken " + std::to_string(i) + std::string(static_cast<std::size_t>(i % 300), '*');
            auto r = s1->write(static_cast<std::size_t>((i * 131) % 7000), bytes_of(v), Ack::kSync);
            ASSERT_TRUE(r.ok()) << i << ": " << r.message() << n.a->log() << n.b->log();
        }
    };
    commits(0, 200);
    {
        auto sb = Session::connect({n.b->socket()});
        ASSERT_TRUE(sb.ok());
        auto cb = open_replica(*sb, "woken");
        ASSERT_TRUE(cb.ok()) << cb.message();
        EXPECT_EQ(content(*cb, "s1"), content(*ca, "s1"));
    }
    ::usleep(20'000); // asleep
    n.b->kill_hard();
    ASSERT_TRUE(n.b->start()) << n.b->log();
    // Sync commits fail (UNAVAILABLE, naming node 2) until it is back and resynced.
    ASSERT_TRUE(eventually([&] { return s1->write(0, bytes_of("back"), Ack::kSync).ok(); })) << n.a->log();
    commits(200, 300);
    auto sb = Session::connect({n.b->socket()});
    ASSERT_TRUE(sb.ok());
    auto cb = open_replica(*sb, "woken");
    ASSERT_TRUE(cb.ok()) << cb.message();
    EXPECT_EQ(content(*cb, "s1"), content(*ca, "s1")) << n.a->log() << n.b->log();
}

TEST(Replication, JumboMtuCarriesLargeCommitsInFewerFrames) {
    // mtu = 9000 on memif: a frame larger than the default mbuf used to be counted as sent and
    // dropped, so every sync commit of more than one standard frame timed out.
    TwoNodes n("repl-jumbo", {"mtu = 9000"});
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket()});
    auto sb = Session::connect({n.b->socket()});
    ASSERT_TRUE(sa.ok() && sb.ok());
    auto ca = sa->create("jumbo", replica_attrs());
    ASSERT_TRUE(ca.ok()) << ca.message();
    SectionCreate sc;
    sc.id = "big";
    sc.capacity = 64 << 10;
    ASSERT_TRUE(ca->create_section(sc).ok());
    auto cb = open_replica(*sb, "jumbo");
    ASSERT_TRUE(cb.ok()) << cb.message() << n.b->log();
    auto s = ca->section("big");
    ASSERT_TRUE(s.ok());
    auto before = sa->peers();
    ASSERT_TRUE(before.ok());
    std::vector<std::byte> big(64 << 10);
    for (int round = 1; round <= 5; ++round) {
        for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::byte>(i * 13 + round);
        auto r = s->overwrite(big, Ack::kSync);
        ASSERT_TRUE(r.ok()) << r.message() << n.a->log() << n.b->log();
        EXPECT_EQ(content(*cb, "big"), big) << "round " << round;
    }
    auto after = sa->peers();
    ASSERT_TRUE(after.ok());
    // 64 KiB in frames of at most 9000 - 28 - 96 bytes of payload: 8 frames a commit, where a
    // 1500-byte MTU takes 48.
    EXPECT_LE(after->data_frames - before->data_frames, 5u * 8) << "the jumbo MTU was not used";
    EXPECT_EQ(after->data_bytes - before->data_bytes, 5u * big.size());

    // A stream of small async commits: with memif buffers smaller than a jumbo frame, DPDK's
    // memif delivered the same frames over and over (millions of duplicates, retransmissions).
    std::uint64_t last = 0;
    for (int i = 0; i < 2000; ++i) {
        auto tx = s->write(std::chrono::seconds(30));
        ASSERT_TRUE(tx.ok()) << tx.message();
        auto span = tx->span(static_cast<std::size_t>(i % 60) * 1024, 1024);
        std::memset(span.data(), i % 251 + 1, span.size());
        auto r = tx->commit(Ack::kAsync);
        ASSERT_TRUE(r.ok()) << r.message();
        last = *r;
    }
    ASSERT_TRUE(s->wait_acked(last, std::chrono::seconds(60)).ok()) << n.a->log() << n.b->log();
    EXPECT_EQ(content(*cb, "big"), content(*ca, "big"));
    auto la = sa->peers();
    auto lb = sb->peers();
    ASSERT_TRUE(la.ok() && lb.ok());
    // On a loss-free link a duplicate can only be a retransmission (of a frame whose ACK was late).
    EXPECT_LE(lb->duplicates, la->retransmits) << "frames arrived more often than they were sent";
    EXPECT_EQ(lb->rx_rejected, 0u);
}

TEST(Replication, ASectionIdTooLongForTheMtuFailsItsCreateNotTheEngine) {
    // mtu 576 leaves 576 - 20 (IPv4) - 8 (UDP) - 48 (header) - 16 (tag) - 72 (SECTION body) = 412
    // bytes for a section id in a SECTION frame. A longer one used to abort ckptd in the DPDK port
    // ("frame larger than the port's max_frame").
    constexpr std::size_t kMost =
        576 - net::kIpv4Header - net::kUdpHeader - net::kHotspareHeader - net::kFrameTrailer - net::kSectionBodyFixed;
    static_assert(kMost == 412);
    TwoNodes n("repl-longid", {"mtu = 576"});
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket()});
    auto sb = Session::connect({n.b->socket()});
    ASSERT_TRUE(sa.ok() && sb.ok());
    CheckpointAttributes attrs = replica_attrs();
    attrs.max_section_id_size = 1024;
    auto ca = sa->create("longid", attrs);
    ASSERT_TRUE(ca.ok()) << ca.message();
    auto cb = open_replica(*sb, "longid");
    ASSERT_TRUE(cb.ok()) << cb.message() << n.b->log();
    SectionCreate sc;
    sc.id = std::string(kMost + 1, 'L');
    auto r = ca->create_section(sc);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::kInvalidParam);
    EXPECT_NE(
        r.message().find("with mtu 576 a replicated section id holds at most " + std::to_string(kMost) + " bytes"),
        std::string::npos)
        << r.message();
    EXPECT_EQ(::kill(n.a->pid(), 0), 0) << n.a->log();
    // The longest id that fits is created, replicated, and written through.
    sc.id = std::string(kMost, 'k');
    auto ok = ca->create_section(sc);
    ASSERT_TRUE(ok.ok()) << ok.message() << n.a->log();
    ASSERT_TRUE(ok->write(0, bytes_of("fits"), Ack::kSync).ok()) << n.a->log() << n.b->log();
    ASSERT_TRUE(eventually([&] { return cb->section(sc.id).ok(); })) << n.b->log();
    EXPECT_EQ(::kill(n.a->pid(), 0), 0) << n.a->log();
}

TEST(Replication, ClosingTheLastHandleOnTheStandbyKeepsTheReplica) {
    // retention 0: on an active, the last close deletes the checkpoint; on a standby the replica
    // belongs to the active and must stay, or later commits reach a node that dropped it.
    TwoNodes n("repl-close");
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket()});
    auto sb = Session::connect({n.b->socket()});
    ASSERT_TRUE(sa.ok() && sb.ok());
    auto ca = sa->create("closed", replica_attrs());
    ASSERT_TRUE(ca.ok()) << ca.message();
    SectionCreate sc;
    sc.id = "s";
    sc.capacity = 4096;
    ASSERT_TRUE(ca->create_section(sc).ok());
    {
        auto cb = open_replica(*sb, "closed");
        ASSERT_TRUE(cb.ok()) << cb.message();
        EXPECT_TRUE(eventually([&] { return cb->section("s").ok(); }));
    } // the standby's only handle closes here
    auto s = ca->section("s");
    ASSERT_TRUE(s.ok());
    for (std::uint64_t v = 1; v <= 50; ++v) ASSERT_TRUE(s->write(0, std::as_bytes(std::span(&v, 1)), Ack::kSync).ok());
    auto cb = sb->open("closed", kOpenRead);
    ASSERT_TRUE(cb.ok()) << "the replica was deleted when its last local handle closed: " << cb.message() << n.b->log();
    EXPECT_EQ(content(*cb, "s"), content(*ca, "s"));
    auto lb = sb->peers();
    ASSERT_TRUE(lb.ok());
    EXPECT_GE(lb->commits_applied, 50u);
    EXPECT_EQ(lb->unknown_checkpoint, 0u);
}

TEST(Replication, PromotionFencesTheOldActiveAndItRejoinsAsStandby) {
    TwoNodes n("repl-promote");
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket()});
    auto sb = Session::connect({n.b->socket()});
    ASSERT_TRUE(sa.ok() && sb.ok());
    auto ca = sa->create("sessions", replica_attrs());
    ASSERT_TRUE(ca.ok());
    SectionCreate sc;
    sc.id = "counter";
    sc.capacity = 256;
    ASSERT_TRUE(ca->create_section(sc).ok());
    auto sec = ca->section("counter");
    std::uint64_t last_ok = 0;
    for (std::uint64_t v = 1; v <= 100; ++v) {
        auto r = sec->write(0, std::as_bytes(std::span(&v, 1)), Ack::kSync);
        ASSERT_TRUE(r.ok()) << r.message();
        last_ok = v;
    }
    // The active's engine dies. Every acknowledged value is on the standby.
    n.a->kill_hard();
    ASSERT_TRUE(wait_peer_state(n.b->socket(), 1, "down"));
    auto epoch = sb->promote("sessions");
    ASSERT_TRUE(epoch.ok()) << epoch.message();
    EXPECT_EQ(*epoch, shm::next_epoch(shm::next_epoch(0, 1), 2)); // count 2, by node 2
    auto cb = sb->open("sessions", kOpenRead | kOpenWrite);
    ASSERT_TRUE(cb.ok()) << cb.message();
    EXPECT_EQ(cb->replication().role, "active");
    auto got = content(*cb, "counter");
    ASSERT_GE(got.size(), 8u);
    std::uint64_t v = 0;
    std::memcpy(&v, got.data(), 8);
    EXPECT_EQ(v, last_ok);
    // The new active commits (sync) with no standby up: nothing to wait for.
    auto bsec = cb->section("counter");
    ++v;
    ASSERT_TRUE(bsec->write(0, std::as_bytes(std::span(&v, 1)), Ack::kSync).ok());

    // The old active comes back believing it is active at epoch 1: it is fenced, steps down,
    // and is resynced from the new active.
    ::unlink(n.memif.c_str());
    ASSERT_TRUE(n.a->start()) << n.a->log();
    ASSERT_TRUE(n.linked()) << n.a->log() << n.b->log();
    auto sa2 = Session::connect({n.a->socket()});
    ASSERT_TRUE(sa2.ok());
    Result<Checkpoint> ca2 = fail(Error::kNotExist, "");
    ASSERT_TRUE(eventually([&] {
        ca2 = sa2->open("sessions", kOpenRead);
        return ca2.ok() && ca2->replication().role == "standby" && content(*ca2, "counter") == content(*cb, "counter");
    })) << n.a->log()
        << n.b->log();
    EXPECT_EQ(ca2->replication().epoch, shm::next_epoch(shm::next_epoch(0, 1), 2));
    // Commits on the new active now wait for the rejoined standby and reach it.
    for (int i = 0; i < 20; ++i) {
        ++v;
        ASSERT_TRUE(bsec->write(0, std::as_bytes(std::span(&v, 1)), Ack::kSync).ok());
    }
    EXPECT_EQ(content(*ca2, "counter"), content(*cb, "counter"));
    auto lb = sb->peers();
    ASSERT_TRUE(lb.ok());
    EXPECT_GE(lb->resyncs, 1u);
    EXPECT_GE(lb->promotions, 1u);
}

/// Writes `v` into the counter section: 8 bytes at 0 and a 64-byte pattern in block 1 + v % 15,
/// so a commit changes two blocks and a torn or lost one shows.
void put(std::vector<std::byte>& state, std::uint64_t v) {
    std::memcpy(state.data(), &v, 8);
    const std::size_t off = 256 * (1 + v % 15);
    for (std::size_t i = 0; i < 64; ++i) state[off + i] = static_cast<std::byte>((v * 31 + i) & 0xFF);
}

int env_int(const char* name, int def) {
    const char* v = std::getenv(name);
    return v && *v ? std::atoi(v) : def;
}

TEST(Replication, HundredFailoversLoseNoAcknowledgedCommit) {
    // Each round: sync commits on the active while its engine is SIGKILLed at a random moment;
    // the standby is promoted; every commit whose sync call returned OK is there, byte for byte.
    // The killed node comes back as a standby, is resynced, and the roles swap for the next round.
    const int rounds = env_int("CKPT_FAILOVER_ROUNDS", 100);
    TwoNodes n("repl-rounds", {"peer_timeout_ms = 150"});
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    CheckpointAttributes a = replica_attrs();
    a.retention_ns = 3'600'000'000'000; // kept between the rounds' openers
    {
        auto s = Session::connect({n.a->socket()});
        ASSERT_TRUE(s.ok());
        auto c = s->create("rounds", a);
        ASSERT_TRUE(c.ok()) << c.message();
        SectionCreate sc;
        sc.id = "v";
        sc.capacity = 4096;
        ASSERT_TRUE(c->create_section(sc).ok());
        ASSERT_TRUE(c->section("v")->write(0, std::vector<std::byte>(4096), Ack::kSync).ok());
    }
    std::mt19937_64 rng(12345);
    EngineProcess* active = n.a.get();
    EngineProcess* standby = n.b.get();
    std::vector<std::byte> state(4096), attempted(4096);
    std::uint64_t v = 0;
    int idle_rounds = 0;
    for (int round = 0; round < rounds; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        std::uint64_t last_ok = v;
        std::vector<std::byte> ok_state = state;
        std::atomic<bool> stop{false};
        {
            auto s = Session::connect({active->socket(), std::chrono::milliseconds(2000), false});
            ASSERT_TRUE(s.ok()) << s.message();
            auto c = s->open("rounds", kOpenRead | kOpenWrite);
            ASSERT_TRUE(c.ok()) << c.message() << active->log();
            auto sec = c->section("v");
            ASSERT_TRUE(sec.ok());
            std::thread writer([&] {
                while (!stop.load()) {
                    attempted = ok_state;
                    put(attempted, last_ok + 1);
                    auto tx = sec->write(std::chrono::milliseconds(2000));
                    if (!tx) return;
                    tx->write(0, attempted);
                    if (!tx->commit(Ack::kSync, std::chrono::milliseconds(500))) return; // the engine died
                    last_ok += 1;
                    ok_state = attempted;
                }
            });
            ::usleep(static_cast<useconds_t>(2'000 + rng() % 40'000));
            active->kill_hard();
            stop = true;
            writer.join();
        }
        if (last_ok == v) ++idle_rounds; // killed before its first commit completed: still a valid round
        ASSERT_TRUE(wait_peer_state(standby->socket(), active == n.a.get() ? 1 : 2, "down"));
        auto s = Session::connect({standby->socket()});
        ASSERT_TRUE(s.ok());
        auto epoch = s->promote("rounds");
        ASSERT_TRUE(epoch.ok()) << epoch.message() << standby->log();
        EXPECT_EQ(shm::epoch_count(*epoch), static_cast<std::uint64_t>(round + 2));
        auto c = s->open("rounds", kOpenRead);
        ASSERT_TRUE(c.ok());
        auto got = content(*c, "v");
        // The last acknowledged state, or the one in flight when the engine died (applied on
        // the standby, its acknowledgement lost): never anything older, never a mix.
        if (got == ok_state) {
            v = last_ok;
            state = ok_state;
        } else {
            ASSERT_EQ(got, attempted) << "acknowledged commit " << last_ok << " lost, or a torn state";
            v = last_ok + 1;
            state = attempted;
        }
        // The dead node comes back: fenced (older epoch), it steps down and is resynced.
        if (active == n.a.get()) ::unlink(n.memif.c_str()); // the memif server makes a new socket
        ASSERT_TRUE(active->start()) << active->log();
        ASSERT_TRUE(n.linked());
        auto back = Session::connect({active->socket()});
        ASSERT_TRUE(back.ok());
        ASSERT_TRUE(eventually([&] {
            auto r = back->open("rounds", kOpenRead);
            return r.ok() && r->replication().role == "standby" && content(*r, "v") == state;
        })) << active->log()
            << standby->log();
        std::swap(active, standby);
    }
    EXPECT_LT(idle_rounds, rounds / 2) << "most rounds must have commits in flight when the engine dies";
}

TEST(Replication, RestartedStandbyCatchesUpWithOnlyTheDifferingBlocks) {
    TwoNodes n("repl-catchup");
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket()});
    ASSERT_TRUE(sa.ok());
    CheckpointAttributes a = replica_attrs();
    a.max_sections = 1; // one default section of 64 KiB: 256 blocks of 256 bytes
    a.max_section_size = 64 << 10;
    a.checkpoint_size = 64 << 10;
    a.max_section_id_size = 0;
    auto ca = sa->create("catchup", a);
    ASSERT_TRUE(ca.ok()) << ca.message();
    auto sec = ca->default_section();
    std::vector<std::byte> all(64 << 10);
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::byte>(i * 13 + 1);
    ASSERT_TRUE(sec->overwrite(all, Ack::kSync).ok());
    auto sb = Session::connect({n.b->socket()});
    auto cb = open_replica(*sb, "catchup");
    ASSERT_TRUE(cb.ok());
    ASSERT_EQ(content(*cb, "").size(), all.size());
    ASSERT_EQ(content(*cb, ""), all);

    // The standby's engine dies; 3 of the 256 blocks change meanwhile (async: no one to wait for).
    n.b->kill_hard();
    ASSERT_TRUE(wait_peer_state(n.a->socket(), 2, "down"));
    auto before = sa->peers();
    ASSERT_TRUE(before.ok());
    const std::size_t changed_blocks[] = {7, 100, 255};
    for (std::size_t blk : changed_blocks) {
        const std::byte x[16] = {std::byte{0xAB}};
        ASSERT_TRUE(sec->write(blk * 256 + 8, x, Ack::kAsync).ok());
        std::memcpy(all.data() + blk * 256 + 8, x, 16);
    }
    // A sync commit now fails fast: the standby that was in sync is down.
    const std::byte y[1] = {std::byte{0xEE}};
    auto refused = sec->write(0, y, Ack::kSync);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error(), Error::kUnavailable) << refused.message();
    EXPECT_NE(refused.message().find("node 2"), std::string::npos) << refused.message();
    all[0] = std::byte{0xEE};

    ASSERT_TRUE(n.b->start()) << n.b->log();
    ASSERT_TRUE(n.linked());
    auto sb2 = Session::connect({n.b->socket()});
    ASSERT_TRUE(sb2.ok());
    Result<Checkpoint> cb2 = fail(Error::kNotExist, "");
    ASSERT_TRUE(eventually([&] {
        cb2 = sb2->open("catchup", kOpenRead);
        return cb2.ok() && content(*cb2, "") == all;
    })) << n.a->log()
        << n.b->log();
    auto after = sa->peers();
    ASSERT_TRUE(after.ok());
    // Exactly the blocks that differ crossed the wire in the resync (block 0 changed too).
    EXPECT_EQ(after->resync_blocks - before->resync_blocks, 4u);
    EXPECT_EQ(after->resync_bytes - before->resync_bytes, 4u * 256);
    EXPECT_EQ(after->resync_blocks_same - before->resync_blocks_same, 256u - 4);
    // And sync commits work again.
    EXPECT_TRUE(sec->write(0, y, Ack::kSync).ok());
}

TEST(Replication, StaleActiveCannotChangeThePromotedReplica) {
    TwoNodes n("repl-stale");
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket(), std::chrono::milliseconds(2000), false});
    ASSERT_TRUE(sa.ok());
    auto ca = sa->create("fenced", replica_attrs());
    ASSERT_TRUE(ca.ok());
    SectionCreate sc;
    sc.id = "x";
    sc.capacity = 256;
    ASSERT_TRUE(ca->create_section(sc).ok());
    auto secA = ca->section("x");
    const std::uint64_t one = 1;
    ASSERT_TRUE(secA->write(0, std::as_bytes(std::span(&one, 1)), Ack::kSync).ok());

    // Node 1's engine freezes (SIGSTOP): node 2 declares it down and is promoted.
    ASSERT_EQ(::kill(n.a->pid(), SIGSTOP), 0);
    ASSERT_TRUE(wait_peer_state(n.b->socket(), 1, "down"));
    auto sb = Session::connect({n.b->socket()});
    ASSERT_TRUE(sb->promote("fenced").ok());
    auto cb = sb->open("fenced", kOpenRead | kOpenWrite);
    ASSERT_TRUE(cb.ok());
    const std::uint64_t two = 2;
    ASSERT_TRUE(cb->section("x")->write(0, std::as_bytes(std::span(&two, 1)), Ack::kSync).ok());

    // The stale active's application commits while its engine is frozen; the engine wakes up
    // believing it is still active at epoch 1 and ships the commit.
    const std::uint64_t stale = 666;
    auto tx = secA->write(std::chrono::milliseconds(100));
    ASSERT_TRUE(tx.ok()) << tx.message();
    tx->write(0, std::as_bytes(std::span(&stale, 1)));
    ASSERT_TRUE(tx->commit(Ack::kAsync).ok());
    ASSERT_EQ(::kill(n.a->pid(), SIGCONT), 0);

    // Node 1 steps down and converges to node 2's state; node 2 never took node 1's commit.
    auto sa2 = Session::connect({n.a->socket()});
    ASSERT_TRUE(eventually([&] {
        auto r = sa2->open("fenced", kOpenRead);
        if (!r) return false;
        auto got = content(*r, "x");
        std::uint64_t v = 0;
        if (got.size() >= 8) std::memcpy(&v, got.data(), 8);
        return r->replication().role == "standby" && shm::epoch_count(r->replication().epoch) == 2 && v == 2;
    })) << n.a->log()
        << n.b->log();
    auto got = content(*cb, "x");
    std::uint64_t v = 0;
    std::memcpy(&v, got.data(), 8);
    EXPECT_EQ(v, 2u) << "the stale active changed the promoted replica";
    auto lb = sb->peers();
    auto la = sa2->peers();
    ASSERT_TRUE(lb.ok() && la.ok());
    EXPECT_GE(la->demotions, 1u);
    EXPECT_EQ(lb->bad_commits, 0u);
    // The old active's frames and announces at epoch 1 were refused, and counted.
    EXPECT_GE(lb->stale_epoch + la->stale_epoch, 1u) << n.a->log() << n.b->log();
}

} // namespace

TEST(Replication, ResyncCountsEachDifferingBlockOnceAcrossSections) {
    TwoNodes n("repl-resync-count");
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket()});
    ASSERT_TRUE(sa.ok());
    auto ca = sa->create("count", replica_attrs());
    ASSERT_TRUE(ca.ok()) << ca.message();
    const std::vector<std::byte> ones(4096, std::byte{1});
    for (const char* id : {"a", "b", "c"}) {
        SectionCreate sc;
        sc.id = id;
        sc.capacity = 4096; // 16 blocks of 256 bytes
        sc.initial = ones;
        ASSERT_TRUE(ca->create_section(sc).ok());
    }
    auto sb = Session::connect({n.b->socket()});
    ASSERT_TRUE(sb.ok());
    auto cb = open_replica(*sb, "count");
    ASSERT_TRUE(cb.ok());
    ASSERT_TRUE(eventually([&] { return content(*cb, "c") == ones; }));

    n.b->kill_hard();
    ASSERT_TRUE(wait_peer_state(n.a->socket(), 2, "down"));
    auto before = sa->peers();
    ASSERT_TRUE(before.ok());
    for (const char* id : {"a", "b", "c"}) { // one block of each section changes
        const std::byte x[8] = {std::byte{0x5A}};
        ASSERT_TRUE(ca->section(id)->write(3 * 256, x, Ack::kAsync).ok());
    }
    ASSERT_TRUE(n.b->start()) << n.b->log();
    ASSERT_TRUE(n.linked());
    auto sb2 = Session::connect({n.b->socket()});
    ASSERT_TRUE(sb2.ok());
    Result<Checkpoint> cb2 = fail(Error::kNotExist, "");
    ASSERT_TRUE(eventually([&] {
        cb2 = sb2->open("count", kOpenRead);
        return cb2.ok() && content(*cb2, "a") == content(*ca, "a") && content(*cb2, "b") == content(*ca, "b") &&
               content(*cb2, "c") == content(*ca, "c");
    })) << n.a->log();
    auto after = sa->peers();
    ASSERT_TRUE(after.ok());
    // Three blocks differed, one per section: the counter says three, not a running sum.
    EXPECT_EQ(after->resync_blocks - before->resync_blocks, 3u);
    EXPECT_EQ(after->resync_bytes - before->resync_bytes, 3u * 256);
    EXPECT_EQ(after->resync_blocks_same - before->resync_blocks_same, 3u * 15);
}

TEST(Replication, EnginesUnderSustainedLoadStillServeControlCallsAndTimers) {
    // A stream of async commits gives both engines work on every turn of their loops. Their
    // control sockets and timers (heartbeats, peer timeouts, stats) must still be served: the loop
    // once ran them only on turns without work, so under load a control call waited for the load
    // to end and heartbeats stopped.
    TwoNodes n("repl-busy");
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket()});
    auto sb = Session::connect({n.b->socket()});
    ASSERT_TRUE(sa.ok() && sb.ok());
    CheckpointAttributes attrs = replica_attrs(UpdateMode::kAsync);
    attrs.checkpoint_size = 8 << 20;
    attrs.max_section_size = 1 << 20;
    auto ca = sa->create("busy", attrs);
    ASSERT_TRUE(ca.ok()) << ca.message();
    std::vector<Section> secs;
    for (int i = 0; i < 4; ++i) {
        SectionCreate sc;
        sc.id = "s" + std::to_string(i);
        sc.capacity = 1 << 20;
        ASSERT_TRUE(ca->create_section(sc).ok());
        auto sec = ca->section(sc.id);
        ASSERT_TRUE(sec.ok()) << sec.message();
        secs.push_back(*sec);
    }
    ASSERT_TRUE(open_replica(*sb, "busy").ok());
    // The standby's first resync (its join) is over before the load: any later one is a flap.
    Result<LinkInfo> before = fail(Error::kNotExist, "");
    ASSERT_TRUE(eventually([&] {
        before = sa->peers();
        return before.ok() && before->resyncs >= 1;
    })) << n.a->log();

    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> commits{0};
    std::string writer_error;
    std::thread writer([&] {
        for (std::uint64_t i = 0; !stop.load(); ++i) {
            auto tx = secs[i % secs.size()].write(std::chrono::seconds(30));
            if (!tx) return (void)(writer_error = "write(): " + tx.message());
            auto span = tx->span(0, 1 << 20); // 1 MiB commits: a capture and 763 frames per turn
            std::memset(span.data(), static_cast<int>(i % 251 + 1), span.size());
            if (auto r = tx->commit(Ack::kAsync); !r) return (void)(writer_error = "commit: " + r.message());
            commits.fetch_add(1);
        }
    });
    while (commits.load() < 20 && writer_error.empty()) ::usleep(1000);
    // While the stream runs, each engine answers control calls (within the session's timeout).
    auto ctl_a = Session::connect({n.a->socket(), std::chrono::seconds(5), false});
    auto ctl_b = Session::connect({n.b->socket(), std::chrono::seconds(5), false});
    std::string failed;
    for (int i = 0; i < 20 && failed.empty() && ctl_a.ok() && ctl_b.ok(); ++i) {
        auto la = ctl_a->peers();
        auto lb = ctl_b->peers();
        if (!la.ok() || !lb.ok())
            failed = "a control call under load failed: " + (la.ok() ? lb.message() : la.message());
        else if (la->peers.empty() || la->peers[0].state != "up" || lb->peers.empty() || lb->peers[0].state != "up")
            failed = "a peer was declared down under load";
        ::usleep(50'000);
    }
    const std::uint64_t during = commits.load();
    stop = true;
    writer.join();
    ASSERT_TRUE(ctl_a.ok() && ctl_b.ok()) << "no control session while under load";
    EXPECT_TRUE(failed.empty()) << failed << n.a->log() << n.b->log();
    EXPECT_TRUE(writer_error.empty()) << writer_error;
    EXPECT_GT(commits.load(), during) << "the load stopped while the control calls ran";
    auto after = sa->peers();
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->resyncs, before->resyncs) << "the link went down and the standby was resynced";
}

namespace {
/// Waits until `fd` is readable (or `ms` pass); true when it is.
bool readable(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, ms) == 1;
}
} // namespace

// Commits in flight (Ack::kAsync) and Section::replicated(): an event loop learns through the
// checkpoint's notify fd when its commits are on the standby, and gets the sync commit's error,
// without waiting, when they cannot be (the standby frozen past peer_timeout_ms).
TEST(Replication, CommitsInFlightReportTheirReplicationThroughTheNotifyFd) {
    TwoNodes n("repl-inflight");
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket()});
    ASSERT_TRUE(sa.ok());
    auto ca = sa->create("inflight", replica_attrs());
    ASSERT_TRUE(ca.ok()) << ca.message();
    SectionCreate sc;
    sc.id = "s";
    sc.capacity = 4096;
    auto sec = ca->create_section(sc);
    ASSERT_TRUE(sec.ok()) << sec.message();
    auto fd = ca->notify_fd();
    ASSERT_TRUE(fd.ok()) << fd.message();
    auto sb = Session::connect({n.b->socket()});
    ASSERT_TRUE(sb.ok());
    ASSERT_TRUE(open_replica(*sb, "inflight").ok()) << n.b->log();
    ASSERT_TRUE(eventually([&] { return ca->replication().replicas == 1; })) << n.a->log();

    std::uint64_t seen = ca->commit_seq();
    auto commit_some = [&](int count) {
        std::uint64_t last = 0;
        for (int i = 0; i < count; ++i) {
            auto tx = sec->write(std::chrono::seconds(30));
            EXPECT_TRUE(tx.ok()) << tx.message();
            if (!tx) return last;
            std::memset(tx->span(0, 64).data(), i + 1, 64);
            auto r = tx->commit(Ack::kAsync);
            EXPECT_TRUE(r.ok()) << r.message();
            if (r) last = *r;
        }
        return last;
    };
    // Replicated: the fd wakes the waiter, and replicated() then says so.
    const std::uint64_t last = commit_some(40);
    ASSERT_GT(last, 0u);
    bool done = false;
    for (int turn = 0; turn < 1000 && !done; ++turn) {
        if (readable(*fd, 100)) {
            std::vector<std::string> ids;
            seen = ca->changes_since(seen, ids);
        }
        auto r = sec->replicated(last);
        ASSERT_TRUE(r.ok()) << r.message();
        done = *r;
    }
    EXPECT_TRUE(done) << "commit " << last << " never reported replicated\n" << n.a->log();
    EXPECT_TRUE(sec->wait_replicated(last, std::chrono::seconds(1)).ok());

    // The standby freezes: a new commit is not replicated, and once the standby is declared down
    // replicated() gives the error a sync commit would (UNAVAILABLE, naming the node).
    ASSERT_EQ(::kill(n.b->pid(), SIGSTOP), 0);
    const std::uint64_t stuck = commit_some(1);
    Result<bool> r = sec->replicated(stuck);
    for (int turn = 0; turn < 600 && r.ok(); ++turn) {
        EXPECT_FALSE(*r) << "replicated with the standby frozen";
        if (readable(*fd, 100)) {
            std::vector<std::string> ids;
            seen = ca->changes_since(seen, ids);
        }
        r = sec->replicated(stuck);
    }
    // Asked while the standby is still frozen: once it runs again it may resync and apply the
    // commit within the wait (then wait_replicated rightly succeeds).
    auto w = sec->wait_replicated(stuck, std::chrono::seconds(1));
    ::kill(n.b->pid(), SIGCONT);
    ASSERT_FALSE(r.ok()) << "never refused with the standby down";
    EXPECT_EQ(r.error(), Error::kUnavailable) << r.message();
    EXPECT_NE(r.message().find("standby node 2 is down"), std::string::npos) << r.message();
    EXPECT_FALSE(w.ok()) << "wait_replicated succeeded with the standby frozen";

    // Back: later commits are replicated again.
    EXPECT_TRUE(eventually([&] {
        const std::uint64_t again = commit_some(1);
        return sec->wait_replicated(again, std::chrono::seconds(2)).ok();
    })) << n.a->log();
}

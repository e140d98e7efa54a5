// Two engines as two nodes over DPDK memif: what the active does to a checkpoint (sections
// created, written, deleted, expired) appears identically on the standby, byte for byte; a sync
// commit that returned OK is applied on the standby; a standby refuses writes until promoted.
// States and bytes are asserted, never times.
#include "ckpt/client/session.hpp"
#include "two_nodes.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <ctime>

using namespace ckpt;
using namespace ckpt::client;
using namespace ckpt::testing;

namespace {

CheckpointAttributes sync_attrs() {
    CheckpointAttributes a;
    a.creation_flags = static_cast<std::uint32_t>(UpdateMode::kSync);
    a.checkpoint_size = 1 << 20;
    a.max_sections = 16;
    a.max_section_size = 64 << 10;
    a.max_section_id_size = 32;
    a.block_size = 256;
    return a;
}

std::vector<std::byte> bytes_of(const std::string& s) {
    std::vector<std::byte> v(s.size());
    std::memcpy(v.data(), s.data(), s.size());
    return v;
}

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

std::int64_t realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

/// Opens `name` read-only on the engine at `socket` once its replica exists.
Result<Checkpoint> open_replica(Session& s, const std::string& name) {
    Result<Checkpoint> c = fail(Error::kNotExist, "never appeared");
    eventually([&] {
        c = s.open(name, kOpenRead);
        return c.ok();
    });
    return c;
}

TEST(Replication, SectionsAndCommitsAppearIdenticallyOnTheStandby) {
    TwoNodes n("repl-basic");
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket()});
    auto sb = Session::connect({n.b->socket()});
    ASSERT_TRUE(sa.ok() && sb.ok());

    auto ca = sa->create("calls", sync_attrs());
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

TEST(Replication, ClosingTheLastHandleOnTheStandbyKeepsTheReplica) {
    // retention 0: on an active, the last close deletes the checkpoint; on a standby the replica
    // belongs to the active and must stay, or later commits reach a node that dropped it.
    TwoNodes n("repl-close");
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket()});
    auto sb = Session::connect({n.b->socket()});
    ASSERT_TRUE(sa.ok() && sb.ok());
    auto ca = sa->create("closed", sync_attrs());
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
    auto ca = sa->create("sessions", sync_attrs());
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
    EXPECT_EQ(*epoch, 2u);
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
    EXPECT_EQ(ca2->replication().epoch, 2u);
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

} // namespace

// Applications learn their role through the library, on the pollable fd that carries change
// notifications: "standby", then "active, epoch N" when the node's replica is promoted (by the
// cluster manager: here the test's own session stands in for the agent's `ckptctl promote`), and
// "standby" with the commits it gave up when an active steps down. Two ckptd over memif.
#include "ckpt/client/inspect.hpp"
#include "ckpt/client/session.hpp"
#include "ckpt/shm/segment_layout.hpp"
#include "two_nodes.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <optional>

using namespace ckpt;
using namespace ckpt::client;
using namespace ckpt::testing;

namespace {

/// Waits (poll, no busy loop) until the checkpoint's notify fd reports a role event; the other
/// wake-ups (commits) are drained with changes_since() on the way.
std::optional<RoleEvent> next_role_event(Checkpoint& c, int timeout_ms = 20'000) {
    auto fd = c.notify_fd();
    if (!fd) return std::nullopt;
    std::uint64_t seen = c.commit_seq();
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        pollfd p{*fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        std::vector<std::string> ids;
        seen = c.changes_since(seen, ids);
        if (auto e = c.role_event()) return e;
    }
    return std::nullopt;
}

void write_u64(Section& s, std::uint64_t v, Ack ack) {
    auto r = s.write(0, std::as_bytes(std::span(&v, 1)), ack);
    ASSERT_TRUE(r.ok()) << r.message();
}

TEST(Roles, ApplicationsLearnTheirRoleOnTheNotifyFd) {
    TwoNodes n("roles-fd");
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket()});
    auto sb = Session::connect({n.b->socket()});
    ASSERT_TRUE(sa.ok() && sb.ok());
    auto ca = sa->create("roles", replica_attrs());
    ASSERT_TRUE(ca.ok()) << ca.message();
    SectionCreate sc;
    sc.id = "v";
    sc.capacity = 256;
    ASSERT_TRUE(ca->create_section(sc).ok());
    auto sec = ca->section("v");
    ASSERT_TRUE(sec.ok());
    write_u64(*sec, 1, Ack::kSync);

    // The first call reports the current role.
    auto ea = ca->role_event();
    ASSERT_TRUE(ea);
    EXPECT_EQ(ea->role, Role::kActive);
    EXPECT_EQ(ea->epoch, shm::next_epoch(0, 1));
    EXPECT_EQ(ea->active_node, 1u);
    EXPECT_FALSE(ca->role_event()) << "no change, no event";

    auto cb = open_replica(*sb, "roles");
    ASSERT_TRUE(cb.ok()) << cb.message();
    ASSERT_TRUE(cb->notify_fd().ok());
    auto eb = cb->role_event();
    ASSERT_TRUE(eb);
    EXPECT_EQ(eb->role, Role::kStandby);
    EXPECT_EQ(eb->active_node, 1u);
    EXPECT_STREQ(role_name(eb->role), "standby");
    // Commits wake the fd, but are no role change.
    write_u64(*sec, 2, Ack::kSync);
    {
        const int fd = cb->notify_fd().value();
        pollfd p{fd, POLLIN, 0};
        ASSERT_EQ(::poll(&p, 1, 10'000), 1);
        std::vector<std::string> ids;
        (void)cb->changes_since(0, ids);
        EXPECT_FALSE(cb->role_event());
    }

    // The active node dies; the cluster manager promotes node 2 (another process's call). The
    // standby application learns it on its fd: no signal, no polling of ckptctl.
    n.a->kill_hard();
    ASSERT_TRUE(wait_peer_state(n.b->socket(), 1, "down"));
    auto mgr = Session::connect({n.b->socket()});
    ASSERT_TRUE(mgr.ok());
    auto epoch = mgr->promote("roles");
    ASSERT_TRUE(epoch.ok()) << epoch.message();
    auto promoted = next_role_event(*cb);
    ASSERT_TRUE(promoted) << "the standby application was not told it is active" << n.b->log();
    EXPECT_EQ(promoted->role, Role::kActive);
    EXPECT_EQ(promoted->epoch, *epoch);
    EXPECT_EQ(shm::epoch_count(promoted->epoch), 2u);
    EXPECT_EQ(shm::epoch_node(promoted->epoch), 2u);
    EXPECT_EQ(promoted->active_node, 2u);
    EXPECT_EQ(promoted->lost_commits, 0u);
    // It takes over: opens for write and commits.
    auto w = sb->open("roles", kOpenRead | kOpenWrite);
    ASSERT_TRUE(w.ok()) << w.message();
    auto wsec = w->section("v");
    ASSERT_TRUE(wsec.ok());
    write_u64(*wsec, 3, Ack::kSync);
}

TEST(Roles, AnActiveThatStepsDownReportsTheCommitsNoStandbyAcknowledged) {
    TwoNodes n("roles-lost");
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket()});
    auto sb = Session::connect({n.b->socket()});
    ASSERT_TRUE(sa.ok() && sb.ok());
    auto ca = sa->create("lossy", replica_attrs(UpdateMode::kAsync));
    ASSERT_TRUE(ca.ok()) << ca.message();
    SectionCreate sc;
    sc.id = "v";
    sc.capacity = 256;
    ASSERT_TRUE(ca->create_section(sc).ok());
    auto sec = ca->section("v");
    ASSERT_TRUE(sec.ok());
    write_u64(*sec, 1, Ack::kSync); // held by node 2
    ASSERT_TRUE(open_replica(*sb, "lossy").ok());
    ASSERT_TRUE(ca->notify_fd().ok()); // subscribed before the step-down
    ASSERT_TRUE(ca->role_event());     // active
    const std::uint64_t before = ca->commit_seq();

    // Node 2 stops acknowledging; five async commits return at once and stay unacknowledged.
    ASSERT_EQ(::kill(n.b->pid(), SIGSTOP), 0);
    constexpr int kLost = 5;
    for (std::uint64_t v = 2; v < 2 + kLost; ++v) {
        write_u64(*sec, v, Ack::kAsync);
        ASSERT_TRUE(eventually([&] { return ca->commit_seq() >= before + (v - 1); })); // captured one by one
    }
    EXPECT_EQ(ca->replication().lag_commits, static_cast<std::uint64_t>(kLost));
    // The cluster manager demotes node 1 (it is being fenced): the five are given up, and said so.
    ASSERT_TRUE(sa->demote("lossy").ok());
    auto e = next_role_event(*ca);
    ::kill(n.b->pid(), SIGCONT);
    ASSERT_TRUE(e) << n.a->log();
    EXPECT_EQ(e->role, Role::kStandby);
    EXPECT_EQ(e->lost_commits, static_cast<std::uint32_t>(kLost));
    EXPECT_EQ(e->lost_first_change, before + 1);
    EXPECT_EQ(e->lost_last_change, before + kLost);
    EXPECT_EQ(ca->replication().lost_events, 1u);
    // The log names them, and ckptstat's figures count them.
    EXPECT_NE(n.a->log().find("5 commit(s) no standby acknowledged: LOST on this node (changes " +
                              std::to_string(before + 1) + ".." + std::to_string(before + kLost) +
                              " of its change sequence; sections v)"),
              std::string::npos)
        << n.a->log();
    ASSERT_TRUE(eventually([&] {
        auto st = node_stats(*sa);
        if (!st) return false;
        auto c = st->view.read_checkpoint("lossy");
        return c && c->stats.commits_lost == static_cast<std::uint64_t>(kLost);
    }));
}

TEST(Fencing, ASilentStandbyIsFencedByTheCommandBeforeSyncCommitsAreAcknowledgedWithoutIt) {
    // The fence command stands in for hotspare-fence-peer: it records its argument, and says "no"
    // (exit 3, as without quorum) until the test allows it.
    char dir_tmpl[] = "/tmp/hs-fence.XXXXXX";
    ASSERT_NE(::mkdtemp(dir_tmpl), nullptr);
    const std::string dir = dir_tmpl;
    const std::string script = dir + "/fence";
    {
        FILE* f = std::fopen(script.c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::fprintf(f, "#!/bin/sh\necho \"$1\" >> %s/calls\n[ -e %s/allow ] && exit 0\nexit 3\n", dir.c_str(),
                     dir.c_str());
        std::fclose(f);
        ASSERT_EQ(::chmod(script.c_str(), 0700), 0);
    }
    TwoNodes n("fence-cmd", {"fence_peer_command = " + script, "fence_retry_ms = 100"});
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket()});
    auto sb = Session::connect({n.b->socket()});
    ASSERT_TRUE(sa.ok() && sb.ok());
    auto ca = sa->create("fenced", replica_attrs());
    ASSERT_TRUE(ca.ok()) << ca.message();
    SectionCreate sc;
    sc.id = "v";
    sc.capacity = 256;
    ASSERT_TRUE(ca->create_section(sc).ok());
    auto sec = ca->section("v");
    ASSERT_TRUE(sec.ok());
    write_u64(*sec, 1, Ack::kSync);
    ASSERT_TRUE(open_replica(*sb, "fenced").ok());
    write_u64(*sec, 2, Ack::kSync); // node 2 holds it: it is a synced member now

    n.b->kill_hard();
    ASSERT_TRUE(wait_peer_state(n.a->socket(), 2, "down"));
    // The command runs and fails: no sync commit is acknowledged, each fails naming node 2.
    ASSERT_TRUE(eventually([&] { return n.a->log().find("exited with status 3") != std::string::npos; })) << n.a->log();
    std::uint64_t v = 3;
    auto r = sec->write(0, std::as_bytes(std::span(&v, 1)), Ack::kSync);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::kUnavailable);
    EXPECT_NE(r.message().find("standby node 2"), std::string::npos) << r.message();
    EXPECT_NE(n.a->log().find("fencing node 2 failed: " + script + " exited with status 3; sync commits fail"),
              std::string::npos)
        << n.a->log();
    // The cluster manager can now: the next attempt succeeds and commits are acknowledged alone.
    {
        FILE* f = std::fopen((dir + "/allow").c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::fclose(f);
    }
    ASSERT_TRUE(eventually([&] {
        ++v;
        return sec->write(0, std::as_bytes(std::span(&v, 1)), Ack::kSync).ok();
    })) << n.a->log();
    EXPECT_NE(n.a->log().find("node 2 fenced by " + script), std::string::npos) << n.a->log();
    EXPECT_NE(n.a->log().find("node 2 is fenced (it cannot be promoted): acknowledging without it"), std::string::npos)
        << n.a->log();
    std::string calls;
    {
        FILE* f = std::fopen((dir + "/calls").c_str(), "r");
        ASSERT_NE(f, nullptr);
        char buf[256];
        while (std::fgets(buf, sizeof buf, f)) calls += buf;
        std::fclose(f);
    }
    EXPECT_EQ(calls.substr(0, 2), "2\n") << "the command is given the node id";
    (void)std::system(("rm -rf " + dir).c_str());
}

} // namespace

// The SA Forum C API on two ckptd nodes over DPDK memif: a standby replica opened for write,
// saCkptActiveReplicaSet taking over, saCkptCheckpointSynchronize waiting for the standby (and its
// TIMEOUT and TRY_AGAIN), hot-standby deliveries across nodes, role deliveries (hsCkptRoleTrack)
// on promotion, the codes a standby node returns.
#include "ckpt/client/session.hpp"
#include "hsCkpt.h"
#include "saCkpt.h"
#include "two_nodes.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>

#include <cstring>
#include <string>
#include <vector>

using namespace ckpt::testing;

namespace {

SaNameT name(const std::string& s) {
    SaNameT n{};
    n.length = static_cast<SaUint16T>(s.size());
    std::memcpy(n.value, s.data(), s.size());
    return n;
}
SaCkptSectionIdT sid(const std::string& s) { // the id points into s: an lvalue only
    return SaCkptSectionIdT{static_cast<SaUint16T>(s.size()), reinterpret_cast<SaUint8T*>(const_cast<char*>(s.data()))};
}
SaCkptSectionIdT sid(std::string&&) = delete;
SaCkptSectionIdT sid(const char* s) {
    return SaCkptSectionIdT{static_cast<SaUint16T>(std::strlen(s)), reinterpret_cast<SaUint8T*>(const_cast<char*>(s))};
}

const std::string kName = "safCkpt=failover,safApp=test";
constexpr SaUint32T kRW = SA_CKPT_CHECKPOINT_READ | SA_CKPT_CHECKPOINT_WRITE;
constexpr SaTimeT kTimeout = 5 * SA_TIME_ONE_SECOND;

SaCkptHandleT init(const std::string& socket) {
    ::setenv("CKPT_SOCKET", socket.c_str(), 1);
    SaVersionT v{'B', 1, 1};
    SaCkptHandleT h = 0;
    EXPECT_EQ(saCkptInitialize(&h, nullptr, &v), SA_AIS_OK) << hsCkptLastErrorText();
    return h;
}

std::string read(SaCkptCheckpointHandleT c, const std::string& id) {
    char buf[64];
    SaCkptIOVectorElementT e{sid(id), buf, sizeof buf, 0, 0};
    SaAisErrorT rc = saCkptCheckpointRead(c, &e, 1, nullptr);
    if (rc != SA_AIS_OK) return "error " + std::to_string(rc);
    return std::string(buf, e.readSize);
}

SaAisErrorT write(SaCkptCheckpointHandleT c, const std::string& id, const std::string& data) {
    SaCkptIOVectorElementT e{sid(id), const_cast<char*>(data.data()), data.size(), 0, 0};
    return saCkptCheckpointWrite(c, &e, 1, nullptr);
}

class SaFailover : public ::testing::Test {
protected:
    void SetUp() override {
        nodes = std::make_unique<TwoNodes>(tag, extra_config);
        ASSERT_TRUE(nodes->start()) << nodes->a->log() << nodes->b->log();
        h1 = init(nodes->a->socket());
        h2 = init(nodes->b->socket());
        SaCkptCheckpointCreationAttributesT a{
            SA_CKPT_WR_ACTIVE_REPLICA | SA_CKPT_CHECKPOINT_COLLOCATED, 64, SA_TIME_ONE_MINUTE, 4, 64, 16};
        SaNameT n = name(kName);
        ASSERT_EQ(saCkptCheckpointOpen(h1, &n, &a, kRW | SA_CKPT_CHECKPOINT_CREATE, kTimeout, &c1), SA_AIS_OK)
            << hsCkptLastErrorText();
        ASSERT_EQ(saCkptActiveReplicaSet(c1), SA_AIS_OK) << hsCkptLastErrorText();
        SaCkptSectionIdT s = sid("seq");
        SaCkptSectionCreationAttributesT sc{&s, SA_TIME_END};
        ASSERT_EQ(saCkptSectionCreate(c1, &sc, "0", 1), SA_AIS_OK);
        // The standby application opens it for write too, as csa103's standby does.
        ASSERT_TRUE(eventually([&] { return saCkptCheckpointOpen(h2, &n, nullptr, kRW, kTimeout, &c2) == SA_AIS_OK; }))
            << hsCkptLastErrorText();
        ASSERT_TRUE(eventually([&] { return read(c2, "seq") == "0"; }));
    }
    void TearDown() override {
        for (auto h : {h1, h2})
            if (h) (void)saCkptFinalize(h);
        nodes.reset();
    }
    std::string tag = "safo";
    std::vector<std::string> extra_config;
    std::unique_ptr<TwoNodes> nodes;
    SaCkptHandleT h1 = 0, h2 = 0;
    SaCkptCheckpointHandleT c1 = 0, c2 = 0;
};

TEST_F(SaFailover, AStandbyReplicaHasNoActiveReplicaUntilActiveReplicaSet) {
    EXPECT_EQ(write(c2, "seq", "x"), SA_AIS_ERR_NOT_EXIST) << hsCkptLastErrorText();
    SaCkptSectionIdT s = sid("other");
    SaCkptSectionCreationAttributesT sc{&s, SA_TIME_END};
    EXPECT_EQ(saCkptSectionCreate(c2, &sc, nullptr, 0), SA_AIS_ERR_NOT_EXIST);
    EXPECT_EQ(saCkptSectionDelete(c2, &s), SA_AIS_ERR_NOT_EXIST);
    EXPECT_EQ(saCkptCheckpointSynchronize(c2, kTimeout), SA_AIS_ERR_NOT_EXIST);
    SaCkptSectionIdT seq = sid("seq");
    EXPECT_EQ(saCkptSectionOverwrite(c2, &seq, "x", 1), SA_AIS_ERR_NOT_EXIST);
    EXPECT_EQ(read(c2, "seq"), "0"); // reads come from the local replica
    SaNameT n = name(kName);
    EXPECT_EQ(saCkptCheckpointUnlink(h2, &n), SA_AIS_ERR_TRY_AGAIN) << hsCkptLastErrorText(); // on its active node
}

TEST_F(SaFailover, SynchronizeWaitsForTheStandby) {
    for (int i = 1; i <= 20; ++i) {
        const std::string v = std::to_string(i);
        ASSERT_EQ(write(c1, "seq", v), SA_AIS_OK);
        ASSERT_EQ(saCkptCheckpointSynchronize(c1, kTimeout), SA_AIS_OK) << hsCkptLastErrorText();
        EXPECT_EQ(read(c2, "seq"), v); // applied on node 2 when Synchronize returned
    }
    // A frozen standby cannot apply: Synchronize times out (and the write is not lost).
    ASSERT_EQ(::kill(nodes->b->pid(), SIGSTOP), 0);
    ASSERT_EQ(write(c1, "seq", "frozen"), SA_AIS_OK);
    EXPECT_EQ(saCkptCheckpointSynchronize(c1, 1 * SA_TIME_ONE_MILLISECOND), SA_AIS_ERR_TIMEOUT);
    // Once node 1 declares it down, a required standby is missing: TRY_AGAIN, at once.
    ASSERT_TRUE(wait_peer_state(nodes->a->socket(), 2, "down"));
    EXPECT_EQ(saCkptCheckpointSynchronize(c1, kTimeout), SA_AIS_ERR_TRY_AGAIN) << hsCkptLastErrorText();
    ::kill(nodes->b->pid(), SIGCONT);
    ASSERT_TRUE(wait_peer_state(nodes->a->socket(), 2, "up"));
    EXPECT_TRUE(eventually([&] { return saCkptCheckpointSynchronize(c1, kTimeout) == SA_AIS_OK; }));
    EXPECT_EQ(read(c2, "seq"), "frozen");
}

// Synchronize covers section creation and deletion too, not only commits: an empty section (no
// commit travels for it) exists on node 2 once it returns, a deleted one is gone, and with the
// standby frozen a creation alone makes Synchronize time out.
TEST_F(SaFailover, SynchronizeCoversSectionCreateAndDelete) {
    for (int i = 0; i < 10; ++i) {
        const std::string id = "s" + std::to_string(i);
        SaCkptSectionIdT s = sid(id);
        SaCkptSectionCreationAttributesT sc{&s, SA_TIME_END};
        ASSERT_EQ(saCkptSectionCreate(c1, &sc, nullptr, 0), SA_AIS_OK) << hsCkptLastErrorText();
        ASSERT_EQ(saCkptCheckpointSynchronize(c1, kTimeout), SA_AIS_OK) << hsCkptLastErrorText();
        EXPECT_EQ(read(c2, id), ""); // there, empty
        ASSERT_EQ(saCkptSectionDelete(c1, &s), SA_AIS_OK) << hsCkptLastErrorText();
        ASSERT_EQ(saCkptCheckpointSynchronize(c1, kTimeout), SA_AIS_OK) << hsCkptLastErrorText();
        EXPECT_EQ(read(c2, id), "error " + std::to_string(SA_AIS_ERR_NOT_EXIST)); // gone
    }
    ASSERT_EQ(::kill(nodes->b->pid(), SIGSTOP), 0);
    SaCkptSectionIdT s = sid("while-frozen");
    SaCkptSectionCreationAttributesT sc{&s, SA_TIME_END};
    ASSERT_EQ(saCkptSectionCreate(c1, &sc, nullptr, 0), SA_AIS_OK) << hsCkptLastErrorText();
    EXPECT_EQ(saCkptCheckpointSynchronize(c1, 1 * SA_TIME_ONE_MILLISECOND), SA_AIS_ERR_TIMEOUT)
        << hsCkptLastErrorText();
    ::kill(nodes->b->pid(), SIGCONT);
    EXPECT_TRUE(eventually([&] { return saCkptCheckpointSynchronize(c1, kTimeout) == SA_AIS_OK; }));
    EXPECT_EQ(read(c2, "while-frozen"), "");
}

TEST_F(SaFailover, HotStandbyDeliveriesCrossNodes) {
    struct Seen {
        std::vector<std::string> values;
    } seen;
    ASSERT_EQ(hsCkptSectionChangeTrack(
                  c2, HS_CKPT_TRACK_DATA,
                  [](SaCkptCheckpointHandleT, const SaCkptSectionIdT*, const void* d, SaSizeT n, SaUint64T, void* ctx) {
                      static_cast<Seen*>(ctx)->values.emplace_back(static_cast<const char*>(d), n);
                  },
                  &seen),
              SA_AIS_OK);
    SaSelectionObjectT fd;
    ASSERT_EQ(saCkptSelectionObjectGet(h2, &fd), SA_AIS_OK);
    ASSERT_EQ(write(c1, "seq", "hello"), SA_AIS_OK);
    ASSERT_EQ(saCkptCheckpointSynchronize(c1, kTimeout), SA_AIS_OK);
    EXPECT_TRUE(eventually([&] {
        pollfd p{static_cast<int>(fd), POLLIN, 0};
        if (::poll(&p, 1, 0) == 1) {
            EXPECT_EQ(saCkptDispatch(h2, SA_DISPATCH_ALL), SA_AIS_OK);
        }
        return !seen.values.empty() && seen.values.back() == "hello";
    }));
}

TEST_F(SaFailover, ActiveReplicaSetTakesOverAfterTheActiveNodeDies) {
    ASSERT_EQ(write(c1, "seq", "41"), SA_AIS_OK);
    ASSERT_EQ(saCkptCheckpointSynchronize(c1, kTimeout), SA_AIS_OK);
    nodes->a->kill_hard();
    ASSERT_TRUE(wait_peer_state(nodes->b->socket(), 1, "down"));
    ASSERT_EQ(saCkptActiveReplicaSet(c2), SA_AIS_OK) << hsCkptLastErrorText();
    EXPECT_EQ(read(c2, "seq"), "41");
    ASSERT_EQ(write(c2, "seq", "42"), SA_AIS_OK) << hsCkptLastErrorText();
    EXPECT_EQ(saCkptCheckpointSynchronize(c2, kTimeout), SA_AIS_OK);
    EXPECT_EQ(read(c2, "seq"), "42");
    SaCkptCheckpointDescriptorT d;
    ASSERT_EQ(saCkptCheckpointStatusGet(c2, &d), SA_AIS_OK);
    EXPECT_EQ(d.checkpointCreationAttributes.checkpointSize, 64u);
    EXPECT_EQ(d.checkpointCreationAttributes.creationFlags, SA_CKPT_WR_ACTIVE_REPLICA | SA_CKPT_CHECKPOINT_COLLOCATED);
}

// saCkptActiveReplicaSet never makes a second active: while node 1 holds the active replica and is
// alive, node 2's call fails with BAD_OPERATION, says why, and changes nothing (node 1 still
// writes, node 2 still has no active replica). The C++ path (Session::activate) is the same ckptd
// op. A switch-over is the administrator's (or the cluster manager's) PROMOTE; after it the
// application's call succeeds without a second promotion.
TEST_F(SaFailover, ActiveReplicaSetRefusesASecondActiveWhileTheActiveNodeLives) {
    ASSERT_EQ(write(c1, "seq", "7"), SA_AIS_OK);
    ASSERT_EQ(saCkptCheckpointSynchronize(c1, kTimeout), SA_AIS_OK);
    ASSERT_EQ(saCkptActiveReplicaSet(c2), SA_AIS_ERR_BAD_OPERATION);
    const std::string why = hsCkptLastErrorText();
    EXPECT_NE(why.find("node 1 holds the active replica"), std::string::npos) << why;
    EXPECT_NE(why.find("alive"), std::string::npos) << why;
    EXPECT_NE(nodes->b->log().find("claim to the active role refused"), std::string::npos) << nodes->b->log();
    auto app = ckpt::client::Session::connect({.socket_path = nodes->b->socket(), .reconnect = false});
    ASSERT_TRUE(app.ok()) << app.message();
    auto claimed = app->activate(kName);
    ASSERT_FALSE(claimed.ok());
    EXPECT_EQ(claimed.error(), ckpt::Error::kBadOperation) << claimed.message();
    // Nothing changed: node 1 is still the active one.
    EXPECT_EQ(write(c2, "seq", "8"), SA_AIS_ERR_NOT_EXIST);
    ASSERT_EQ(write(c1, "seq", "9"), SA_AIS_OK) << hsCkptLastErrorText();
    EXPECT_TRUE(eventually([&] { return read(c2, "seq") == "9"; }));
    // The administrator's switch-over, then the application's call on node 2 keeps that epoch.
    auto epoch = app->promote(kName);
    ASSERT_TRUE(epoch.ok()) << epoch.message();
    ASSERT_EQ(saCkptActiveReplicaSet(c2), SA_AIS_OK) << hsCkptLastErrorText();
    auto again = app->activate(kName);
    ASSERT_TRUE(again.ok()) << again.message();
    EXPECT_EQ(*again, *epoch);
    ASSERT_EQ(write(c2, "seq", "10"), SA_AIS_OK) << hsCkptLastErrorText();
    // Node 1 learns of the higher epoch and becomes the standby; its own claim is now refused.
    EXPECT_TRUE(eventually([&] { return write(c1, "seq", "stale") == SA_AIS_ERR_NOT_EXIST; }));
    EXPECT_TRUE(eventually([&] { return read(c1, "seq") == "10"; }));
    EXPECT_EQ(saCkptActiveReplicaSet(c1), SA_AIS_ERR_BAD_OPERATION) << hsCkptLastErrorText();
}

struct Roles {
    std::vector<hsCkptRoleEventT> events;
    static void on(SaCkptCheckpointHandleT, const hsCkptRoleEventT* e, void* ctx) {
        static_cast<Roles*>(ctx)->events.push_back(*e);
    }
};

/// Dispatches library handle `h` while its selection object is readable.
void pump(SaCkptHandleT h) {
    SaSelectionObjectT fd;
    ASSERT_EQ(saCkptSelectionObjectGet(h, &fd), SA_AIS_OK);
    pollfd p{static_cast<int>(fd), POLLIN, 0};
    if (::poll(&p, 1, 0) == 1) {
        EXPECT_EQ(saCkptDispatch(h, SA_DISPATCH_ALL), SA_AIS_OK) << hsCkptLastErrorText();
    }
}

TEST_F(SaFailover, RolesArriveThroughDispatchOnPromotion) {
    Roles r1, r2;
    EXPECT_EQ(hsCkptRoleTrack(c2, nullptr, nullptr), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(hsCkptRoleTrackStop(c2), SA_AIS_ERR_NOT_EXIST);
    ASSERT_EQ(hsCkptRoleTrack(c1, Roles::on, &r1), SA_AIS_OK) << hsCkptLastErrorText();
    ASSERT_EQ(hsCkptRoleTrack(c2, Roles::on, &r2), SA_AIS_OK) << hsCkptLastErrorText();
    EXPECT_EQ(hsCkptRoleTrack(c2, Roles::on, &r2), SA_AIS_ERR_EXIST);
    // Change tracking shares the selection object and the watcher registration.
    std::vector<std::string> seen;
    ASSERT_EQ(hsCkptSectionChangeTrack(
                  c2, HS_CKPT_TRACK_DATA,
                  [](SaCkptCheckpointHandleT, const SaCkptSectionIdT*, const void* d, SaSizeT n, SaUint64T, void* ctx) {
                      static_cast<std::vector<std::string>*>(ctx)->emplace_back(static_cast<const char*>(d), n);
                  },
                  &seen),
              SA_AIS_OK);
    // The first delivery: the current role.
    ASSERT_TRUE(eventually([&] {
        pump(h1);
        pump(h2);
        return !r1.events.empty() && !r2.events.empty();
    }));
    EXPECT_EQ(r1.events.front().role, HS_CKPT_ROLE_ACTIVE);
    const SaUint64T first_epoch = r1.events.front().epoch;
    EXPECT_NE(first_epoch, 0u);
    EXPECT_EQ(r2.events.front().role, HS_CKPT_ROLE_STANDBY);
    EXPECT_EQ(r2.events.front().activeNode, 1u);
    ASSERT_EQ(write(c1, "seq", "5"), SA_AIS_OK);
    ASSERT_EQ(saCkptCheckpointSynchronize(c1, kTimeout), SA_AIS_OK);
    EXPECT_TRUE(eventually([&] {
        pump(h2);
        return !seen.empty() && seen.back() == "5";
    }));
    EXPECT_EQ(r2.events.size(), 1u); // a change is no role change
    // Someone else (under a cluster: the resource agent, `ckptctl promote`) promotes node 2's
    // replica: the standby application is told "active" with a higher epoch, the old
    // active "standby" with node 2 as the active.
    auto agent2 = ckpt::client::Session::connect({.socket_path = nodes->b->socket(), .reconnect = false});
    ASSERT_TRUE(agent2.ok()) << agent2.message();
    ASSERT_TRUE(agent2->promote(kName).ok());
    ASSERT_TRUE(eventually([&] {
        pump(h1);
        pump(h2);
        return r1.events.size() >= 2 && r2.events.size() >= 2;
    }));
    EXPECT_EQ(r2.events.back().role, HS_CKPT_ROLE_ACTIVE);
    EXPECT_GT(r2.events.back().epoch, first_epoch);
    EXPECT_EQ(r2.events.back().epoch & 0xffff, 2u); // promoted by node 2
    EXPECT_EQ(r1.events.back().role, HS_CKPT_ROLE_STANDBY);
    EXPECT_EQ(r1.events.back().activeNode, 2u);
    EXPECT_EQ(r1.events.back().lostCommits, 0u); // everything was acknowledged
    // Told "active", the application takes the write side (idempotent: the epoch stays).
    ASSERT_EQ(saCkptActiveReplicaSet(c2), SA_AIS_OK) << hsCkptLastErrorText();
    ASSERT_EQ(write(c2, "seq", "6"), SA_AIS_OK) << hsCkptLastErrorText();
    EXPECT_EQ(saCkptCheckpointSynchronize(c2, kTimeout), SA_AIS_OK) << hsCkptLastErrorText();
    for (int i = 0; i < 20; ++i) {
        pump(h2);
        ::usleep(5000);
    }
    EXPECT_EQ(r2.events.back().epoch & 0xffff, 2u);
    EXPECT_EQ(r2.events.size(), 2u) << "saCkptActiveReplicaSet after the promotion raised the epoch again";
    // Stopping change tracking keeps role tracking: node 1 takes over again (a switch-over), and
    // node 2's application is told "standby".
    ASSERT_EQ(hsCkptSectionChangeTrackStop(c2), SA_AIS_OK);
    auto agent1 = ckpt::client::Session::connect({.socket_path = nodes->a->socket(), .reconnect = false});
    ASSERT_TRUE(agent1.ok()) << agent1.message();
    ASSERT_TRUE(agent1->promote(kName).ok());
    ASSERT_TRUE(eventually([&] {
        pump(h2);
        return r2.events.size() >= 3;
    }));
    EXPECT_EQ(r2.events.back().role, HS_CKPT_ROLE_STANDBY);
    EXPECT_EQ(r2.events.back().activeNode, 1u);
    ASSERT_EQ(hsCkptRoleTrackStop(c2), SA_AIS_OK);
    EXPECT_EQ(hsCkptRoleTrackStop(c2), SA_AIS_ERR_NOT_EXIST);
}

// Under a cluster manager (issue 12, docs/CLUSTER.md) Pacemaker decides: its resource agent promotes
// the node (`ckptctl promote`, the PROMOTE op), then tells the application it is active, and the
// application calls saCkptActiveReplicaSet, as csa103's standby does. That call succeeds, and is
// no second promotion: the epoch the cluster manager's promotion set stays.
TEST_F(SaFailover, ActiveReplicaSetAfterTheClusterManagerPromotedSucceedsWithoutASecondPromotion) {
    ASSERT_EQ(write(c1, "seq", "5"), SA_AIS_OK);
    ASSERT_EQ(saCkptCheckpointSynchronize(c1, kTimeout), SA_AIS_OK);
    nodes->a->kill_hard();
    ASSERT_TRUE(wait_peer_state(nodes->b->socket(), 1, "down"));
    auto admin = ckpt::client::Session::connect({.socket_path = nodes->b->socket(), .reconnect = false});
    ASSERT_TRUE(admin.ok()) << admin.message();
    auto epoch = admin->promote(kName); // what the agent's promote action runs
    ASSERT_TRUE(epoch.ok()) << epoch.message();
    ASSERT_EQ(saCkptActiveReplicaSet(c2), SA_AIS_OK) << hsCkptLastErrorText();
    ASSERT_EQ(write(c2, "seq", "6"), SA_AIS_OK) << hsCkptLastErrorText();
    EXPECT_EQ(read(c2, "seq"), "6");
    auto ck = admin->open(kName, ckpt::kOpenRead);
    ASSERT_TRUE(ck.ok()) << ck.message();
    EXPECT_EQ(ck->replication().role, "active");
    EXPECT_EQ(ck->replication().epoch, *epoch); // not raised again by the application's call
    ASSERT_EQ(saCkptActiveReplicaSet(c2), SA_AIS_OK) << hsCkptLastErrorText(); // and again: still OK
    EXPECT_EQ(ck->replication().epoch, *epoch);
}

// Under a cluster manager (fence_peer_command set: docs/CLUSTER.md) only its agent promotes. Even
// with the active node dead, an application's saCkptActiveReplicaSet on a node the manager has not
// promoted is refused (the manager may be promoting a third node, or fencing this one); once the
// agent promoted it, the same call succeeds.
class SaFailoverClusterManaged : public SaFailover {
protected:
    SaFailoverClusterManaged() {
        tag = "safm";
        extra_config = {"fence_peer_command=/bin/true"};
    }
};

TEST_F(SaFailoverClusterManaged, ActiveReplicaSetWaitsForTheClusterManagersPromotion) {
    ASSERT_EQ(write(c1, "seq", "5"), SA_AIS_OK);
    ASSERT_EQ(saCkptCheckpointSynchronize(c1, kTimeout), SA_AIS_OK);
    ASSERT_EQ(saCkptActiveReplicaSet(c1), SA_AIS_OK) << "the node where it was created holds the active replica";
    nodes->a->kill_hard();
    ASSERT_TRUE(wait_peer_state(nodes->b->socket(), 1, "down"));
    ASSERT_EQ(saCkptActiveReplicaSet(c2), SA_AIS_ERR_BAD_OPERATION);
    const std::string why = hsCkptLastErrorText();
    EXPECT_NE(why.find("cluster manager"), std::string::npos) << why;
    EXPECT_NE(nodes->b->log().find("claim to the active role refused"), std::string::npos) << nodes->b->log();
    EXPECT_EQ(write(c2, "seq", "6"), SA_AIS_ERR_NOT_EXIST);
    auto agent = ckpt::client::Session::connect({.socket_path = nodes->b->socket(), .reconnect = false});
    ASSERT_TRUE(agent.ok()) << agent.message();
    auto refused = agent->activate(kName);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error(), ckpt::Error::kBadOperation);
    auto epoch = agent->promote(kName); // the agent's promote action
    ASSERT_TRUE(epoch.ok()) << epoch.message();
    ASSERT_EQ(saCkptActiveReplicaSet(c2), SA_AIS_OK) << hsCkptLastErrorText();
    ASSERT_EQ(write(c2, "seq", "6"), SA_AIS_OK) << hsCkptLastErrorText();
    EXPECT_EQ(read(c2, "seq"), "6");
}

} // namespace

// Two engines joined by DPDK memif (--no-huge), as two nodes: each sees the other come up through
// HELLO and HEARTBEAT frames, declares it down when it goes silent (SIGKILL), and up again, with a
// restart counted, when it comes back. State transitions are asserted, never times.
#include "ckpt/client/session.hpp"
#include "engine_process.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

using namespace ckpt;
using namespace ckpt::client;
using ckpt::testing::EngineProcess;

namespace {

std::vector<std::string> node_config(int node, int peer, const std::string& memif_socket, const char* role) {
    return {"node_id = " + std::to_string(node),
            "transport = memif",
            "memif_socket = " + memif_socket,
            std::string("memif_role = ") + role,
            "dpdk_lcores = " + std::to_string(node - 1),
            "peers = " + std::to_string(peer),
            "heartbeat_ms = 20",
            "peer_timeout_ms = 300"};
}

/// Polls the engine's view of `peer` until it is in `state` (or ~20 s pass); returns the last view.
PeerInfo wait_for_peer(const std::string& socket, std::uint16_t peer, const std::string& state) {
    PeerInfo last;
    for (int i = 0; i < 2000; ++i) {
        auto s = Session::connect({socket, kDefaultTimeout, false});
        if (s) {
            auto l = s->peers();
            if (l) {
                for (auto& p : l->peers)
                    if (p.node_id == peer) last = p;
                if (last.state == state) return last;
            }
        }
        ::usleep(10'000);
    }
    return last;
}

TEST(Peers, UpDownAndRestartOverMemif) {
    const std::string memif = "/tmp/hotspare-peers-" + std::to_string(::getpid()) + ".sock";
    ::unlink(memif.c_str());
    EngineProcess a("peers-a", node_config(1, 2, memif, "server"));
    EngineProcess b("peers-b", node_config(2, 1, memif, "client"));
    ASSERT_TRUE(a.start()) << a.log();
    // The peer link's socket is a filesystem path, private to the engine (never abstract).
    struct stat st {};
    ASSERT_EQ(::stat(memif.c_str(), &st), 0) << "no memif socket file at " << memif;
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_TRUE(b.start()) << b.log();

    auto seen_by_a = wait_for_peer(a.socket(), 2, "up");
    ASSERT_EQ(seen_by_a.state, "up") << a.log() << b.log();
    auto seen_by_b = wait_for_peer(b.socket(), 1, "up");
    ASSERT_EQ(seen_by_b.state, "up") << b.log();
    // B heard A, so A has sent by now (A may have seen B before its own first frame got through).
    seen_by_a = wait_for_peer(a.socket(), 2, "up");
    EXPECT_GT(seen_by_a.rx_frames, 0u);
    EXPECT_GT(seen_by_a.tx_frames, 0u);
    EXPECT_GE(seen_by_a.last_heard_ago_ns, 0);

    b.kill_hard();
    auto after_kill = wait_for_peer(a.socket(), 2, "down");
    EXPECT_EQ(after_kill.state, "down") << a.log();
    EXPECT_NE(a.log().find("peer 2 is down"), std::string::npos) << a.log();

    ASSERT_TRUE(b.start()) << b.log();
    auto back = wait_for_peer(a.socket(), 2, "up");
    EXPECT_EQ(back.state, "up") << a.log() << b.log();
    EXPECT_EQ(back.restarts, 1u) << "a new boot id must be noticed";

    // Nothing the link carried was refused: every frame validated.
    auto s = Session::connect({a.socket()});
    ASSERT_TRUE(s.ok());
    auto l = s->peers();
    ASSERT_TRUE(l.ok()) << l.message();
    EXPECT_EQ(l->transport, "memif");
    EXPECT_EQ(l->rx_rejected, 0u);
    EXPECT_EQ(l->rx_misdirected, 0u);
    ::unlink(memif.c_str());
}

TEST(Peers, NodeLocalEngineHasNoPeers) {
    EngineProcess e("peers-none");
    ASSERT_TRUE(e.start()) << e.log();
    auto s = Session::connect({e.socket()});
    ASSERT_TRUE(s.ok());
    auto l = s->peers();
    ASSERT_TRUE(l.ok()) << l.message();
    EXPECT_EQ(l->transport, "none");
    EXPECT_TRUE(l->peers.empty());
}

TEST(Peers, BadTransportConfigurationIsRefused) {
    // Peers naming this node, or a transport without peers: ckptd exits with a clear error.
    EngineProcess self("peers-bad", {"transport = memif", "peers = 1"});
    EXPECT_FALSE(self.start());
    EXPECT_NE(self.log().find("peers lists this node's own id"), std::string::npos) << self.log();
    EngineProcess none("peers-bad2", {"transport = memif"});
    EXPECT_FALSE(none.start());
    EXPECT_NE(none.log().find("needs peers"), std::string::npos) << none.log();
}

} // namespace

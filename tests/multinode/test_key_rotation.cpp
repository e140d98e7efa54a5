// Key rotation without downtime (issue 13): two ckptd nodes over memif authenticate their frames
// with cluster key 1; while a writer makes synchronous commits without pause, the key file is
// rotated (`ckptctl keygen --rotate`: key 2) and each engine is sent SIGHUP in turn. Every commit
// returns OK (each one applied on the standby), both engines switch their frames to key 2 once the
// other holds it too, and no frame is refused for its key or tag on either node.
#include "ckpt/net/frame_auth.hpp"
#include "tool_run.hpp"
#include "two_nodes.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <thread>

using namespace ckpt;
using namespace ckpt::client;
using namespace ckpt::testing;

namespace {

std::uint64_t rejected(const std::string& socket) {
    auto s = Session::connect({socket, kDefaultTimeout, false});
    if (!s) return ~std::uint64_t{0};
    auto l = s->peers();
    return l ? l->rx_rejected : ~std::uint64_t{0};
}

} // namespace

TEST(KeyRotation, BothNodesRotateWhileSyncCommitsKeepSucceeding) {
    const std::string key = "/tmp/hs-rotation-" + std::to_string(::getpid()) + ".key";
    ::unlink(key.c_str());
    ASSERT_EQ(net::write_key_file(key, net::generate_key(1), false), "");
    TwoNodes n("rotation", {"auth_key_file = " + key});
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket()});
    ASSERT_TRUE(sa.ok());
    auto ca = sa->create("rotating", replica_attrs());
    ASSERT_TRUE(ca.ok()) << ca.message();
    SectionCreate sc;
    sc.id = "s";
    sc.capacity = 4096;
    ASSERT_TRUE(ca->create_section(sc).ok());
    auto s = ca->section("s");
    ASSERT_TRUE(s.ok());

    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> ok{0}, failed{0};
    std::string first_failure;
    std::thread writer([&] {
        for (std::uint64_t i = 0; !stop.load(); ++i) {
            auto r = s->write(0, bytes_of("commit " + std::to_string(i)), Ack::kSync);
            if (r.ok()) {
                ++ok;
            } else if (failed++ == 0) {
                first_failure = r.message();
            }
        }
    });
    auto commits_since = [&](std::uint64_t from, std::uint64_t more) {
        return eventually([&] { return ok.load() >= from + more; });
    };
    ASSERT_TRUE(commits_since(0, 50));

    net::ClusterKey next = net::generate_key(2);
    ASSERT_EQ(net::write_key_file(key, next, true), ""); // what ckptctl keygen --rotate does
    ASSERT_EQ(::kill(n.a->pid(), SIGHUP), 0);
    EXPECT_TRUE(eventually([&] { return n.a->log().find("cluster key 2 loaded") != std::string::npos; })) << n.a->log();
    ASSERT_TRUE(commits_since(ok.load(), 50)) << "commits stalled with one node on the new key";
    ASSERT_EQ(::kill(n.b->pid(), SIGHUP), 0);
    EXPECT_TRUE(eventually([&] { return n.b->log().find("cluster key 2 loaded") != std::string::npos; })) << n.b->log();
    const std::string switched = "are now MACed with cluster key 2 (was 1)";
    EXPECT_TRUE(eventually([&] {
        return n.a->log().find("frames to peer 2 " + switched) != std::string::npos &&
               n.b->log().find("frames to peer 1 " + switched) != std::string::npos;
    })) << n.a->log()
        << n.b->log();
    ASSERT_TRUE(commits_since(ok.load(), 50)) << "commits stalled after the rotation";
    stop = true;
    writer.join();
    EXPECT_EQ(failed.load(), 0u) << first_failure;
    EXPECT_EQ(rejected(n.a->socket()), 0u) << "no frame refused for its key or tag on node 1";
    EXPECT_EQ(rejected(n.b->socket()), 0u) << "no frame refused for its key or tag on node 2";
    // A key file the engine refuses on SIGHUP leaves the keys in use: replication goes on.
    ::chmod(key.c_str(), 0644);
    ASSERT_EQ(::kill(n.a->pid(), SIGHUP), 0);
    EXPECT_TRUE(eventually([&] {
        return n.a->log().find("cluster key not reloaded, the keys in use stay") != std::string::npos;
    })) << n.a->log();
    EXPECT_TRUE(s->write(0, bytes_of("after a refused reload"), Ack::kSync).ok());
    ::unlink(key.c_str());
}

// The DPDK transport between two real processes over net_memif (--no-huge): every frame of every
// size arrives intact and in order, and the echo comes back verified. No timing is asserted.
#include "child_process.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <string>

using ckpt::testing::ChildProcess;

namespace {

std::string pingpong() {
    const char* p = std::getenv("CKPT_PINGPONG");
    return p ? p : "ckpt_pingpong";
}

struct Run {
    int server_rc, client_rc;
    std::string client_out;
};

Run exchange(const std::vector<std::string>& transport, std::size_t size, std::size_t count) {
    std::vector<std::string> srv = {pingpong(), "server", "--lcore", "0"};
    std::vector<std::string> cli = {
        pingpong(),           "client", "--lcore", "1", "--verify", "--size", std::to_string(size), "--count",
        std::to_string(count)};
    srv.insert(srv.end(), transport.begin(), transport.end());
    cli.insert(cli.end(), transport.begin(), transport.end());
    ChildProcess server(srv);
    ::usleep(200'000); // the memif server creates the socket; the client retries the link anyway
    ChildProcess client(cli);
    Run r{};
    while (auto l = client.read_line(std::chrono::seconds(60))) r.client_out += *l + "\n";
    r.client_rc = client.wait();
    r.server_rc = server.wait();
    return r;
}

std::string socket_path(const char* tag) {
    return "/tmp/hotspare-memif-" + std::string(tag) + "-" + std::to_string(::getpid()) + ".sock";
}

TEST(MemifLink, FramesOfEverySizeArriveIntact) {
    for (std::size_t size : {30u, 64u, 1000u, 1514u, 2000u}) {
        auto sock = socket_path("sizes");
        auto r = exchange({"--socket", sock}, size, 2000);
        EXPECT_EQ(r.client_rc, 0) << "size " << size << ":\n" << r.client_out;
        EXPECT_EQ(r.server_rc, 0) << "size " << size;
        EXPECT_NE(r.client_out.find("verified 2000 frames"), std::string::npos) << r.client_out;
        ::unlink(sock.c_str());
    }
}

TEST(MemifLink, SustainedExchange) {
    auto sock = socket_path("sustained");
    auto r = exchange({"--socket", sock}, 256, 50000);
    EXPECT_EQ(r.client_rc, 0) << r.client_out;
    EXPECT_EQ(r.server_rc, 0);
    EXPECT_NE(r.client_out.find("verified 50000 frames"), std::string::npos) << r.client_out;
    ::unlink(sock.c_str());
}

TEST(KernelUdpLink, SameFramesOverTheKernel) {
    auto r = exchange({"--udp", std::to_string(40000 + ::getpid() % 20000)}, 1000, 5000);
    EXPECT_EQ(r.client_rc, 0) << r.client_out;
    EXPECT_EQ(r.server_rc, 0);
    EXPECT_NE(r.client_out.find("verified 5000 frames"), std::string::npos) << r.client_out;
}

TEST(MemifLink, ClientStartedBeforeItsServer) {
    // A memif client's port cannot start until its server's socket exists: it keeps trying
    // within --link-wait-ms instead of failing at once.
    auto sock = socket_path("late");
    ::unlink(sock.c_str());
    ChildProcess client(
        {pingpong(), "client", "--lcore", "1", "--verify", "--size", "2000", "--count", "500", "--socket", sock});
    ::usleep(700'000);
    ChildProcess server({pingpong(), "server", "--lcore", "0", "--socket", sock});
    std::string out;
    while (auto l = client.read_line(std::chrono::seconds(60))) out += *l + "\n";
    EXPECT_EQ(client.wait(), 0) << out;
    EXPECT_EQ(server.wait(), 0);
    EXPECT_NE(out.find("verified 500 frames"), std::string::npos) << out;
    ::unlink(sock.c_str());
}

TEST(MemifLink, MissingPeerIsAClearError) {
    // A client with no server: the link never comes up, and the tool says so instead of hanging.
    ChildProcess client({pingpong(), "client", "--lcore", "1", "--socket", socket_path("nopeer"), "--count", "1",
                         "--link-wait-ms", "300"});
    EXPECT_EQ(client.wait(), 2);
}

} // namespace

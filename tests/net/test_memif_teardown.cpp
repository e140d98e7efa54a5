// Both ends of a memif link going away at once (issue 18). In DPDK 22.11, memif's control channel
// runs on the EAL's interrupt thread: a peer's disconnect makes that thread free the port's
// regions while the application's thread may be stopping and closing the same port, and a close
// that wins the race leaves the callback reading through a NULL process_private (SIGSEGV in
// librte_net_memif, thread eal-intr-thread). Port parks the interrupt thread around stop, close
// and restart; this test makes the race as likely as it can be and asserts the process survives
// it with every frame intact.
//
// One EAL in this process holds both ends of each link (a server and a client vdev on one
// socket), so the interrupt thread serving one end's disconnect is the very thread the other end's
// close races with, round after round, without the cost of an EAL start per round. Frame sizes sit
// around the memif buffer size (2048 bytes), where frames span one or two ring buffers.
#include "ckpt/net/dpdk_port.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace net = ckpt::net;

namespace {

unsigned rounds() {
    const char* r = std::getenv("CKPT_TEARDOWN_ROUNDS");
    return r ? static_cast<unsigned>(std::strtoul(r, nullptr, 10)) : 150;
}

std::vector<std::byte> frame_of(std::size_t size, unsigned round, unsigned i) {
    std::vector<std::byte> f(size);
    for (std::size_t b = 0; b < size; ++b) f[b] = static_cast<std::byte>((b * 31 + round * 7 + i) & 0xff);
    std::memset(f.data(), 0xff, 6); // broadcast destination, so no MAC filter drops it
    return f;
}

bool wait_link(net::Port& p) {
    for (int i = 0; i < 5000 && !p.link_up(); ++i) ::usleep(1000);
    return p.link_up();
}

class MemifTeardown : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        eal_.file_prefix = "hs-teardown-" + std::to_string(::getpid());
        eal_.memory_mb = 256;
        if (const char* l = std::getenv("CKPT_EAL_LOG")) eal_.extra = {std::string("--log-level=") + l};
        ASSERT_TRUE(net::eal_init(eal_).ok());
    }
    static void TearDownTestSuite() {
        net::eal_cleanup();
        std::error_code ec;
        std::filesystem::remove_all("/var/run/dpdk/" + eal_.file_prefix, ec);
    }
    static inline net::EalConfig eal_;
};

TEST_F(MemifTeardown, BothEndsCloseWhileThePeersDisconnectIsInFlight) {
    const std::size_t sizes[] = {2000, 2040, 2048, 2056, 2100};
    const unsigned n = rounds();
    for (unsigned r = 0; r < n; ++r) {
        const std::string sock = "/tmp/hotspare-teardown-" + std::to_string(::getpid()) + "-" + std::to_string(r);
        ::unlink(sock.c_str());
        const std::string server_name = "net_memif" + std::to_string(1000 + 2 * r);
        const std::string client_name = "net_memif" + std::to_string(1001 + 2 * r);
        ASSERT_TRUE(net::create_vdev(server_name, "role=server,socket=" + sock + ",socket-abstract=no").ok());
        ASSERT_TRUE(net::create_vdev(client_name, "role=client,socket=" + sock + ",socket-abstract=no").ok());
        net::PortOptions po;
        po.mbufs = 1023;
        po.max_frame = 2200;
        po.link_wait_ms = 0;
        auto s = net::Port::open(server_name, po);
        ASSERT_TRUE(s.ok()) << s.message();
        std::optional<net::Port> server(std::move(*s));
        auto c = net::Port::open(client_name, po);
        ASSERT_TRUE(c.ok()) << c.message();
        std::optional<net::Port> client(std::move(*c));
        ASSERT_TRUE(wait_link(*client) && wait_link(*server)) << "round " << r << ": the link did not come up";

        // A few frames each way, checked byte for byte.
        const std::size_t size = sizes[r % std::size(sizes)];
        for (unsigned i = 0; i < 4; ++i) {
            const auto f = frame_of(size, r, i);
            net::Port* from = i % 2 ? &*server : &*client;
            net::Port* to = i % 2 ? &*client : &*server;
            // A memif receiver posts its ring's buffers when it polls: poll it while the sender waits.
            std::vector<std::byte> got;
            auto take = [&](std::span<const std::byte> g) { got.assign(g.begin(), g.end()); };
            bool sent = false;
            for (int t = 0; t < 5000 && !sent; ++t) {
                to->receive(take);
                if (!(sent = from->send_one(f, 1))) ::usleep(200);
            }
            ASSERT_TRUE(sent) << "round " << r << " frame " << i << " (" << size << " bytes): the ring took nothing";
            for (int spin = 0; spin < 5000 && got.empty(); ++spin) {
                to->receive(take);
                if (got.empty()) ::usleep(200);
            }
            ASSERT_EQ(got.size(), f.size()) << "round " << r << " frame " << i;
            EXPECT_EQ(std::memcmp(got.data(), f.data(), f.size()), 0) << "round " << r << " frame " << i;
        }

        // Both ends go at once, in either order: the first one's disconnect reaches the second
        // one's control channel on the interrupt thread while the second one is being closed.
        if (r % 2) {
            client.reset();
            server.reset();
        } else {
            server.reset();
            client.reset();
        }
        ::unlink(sock.c_str());
    }
}

} // namespace

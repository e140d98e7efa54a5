// The RX wake-up of a DPDK port. A driver with RX interrupts gives Port::rx_interrupt_fd(), which
// a frame makes readable while armed; the engine sleeps on it. memif (and af_packet) in DPDK 22.11
// have none: their ethdev ops lack rx_queue_intr_enable, so the fd is -1 and the engine sleeps in
// short slices, polling. This test holds either way: with an fd, a frame sent by a real peer
// process must wake it; without one, the port must say so (-1, arming fails) and still receive.
#include "child_process.hpp"
#include "ckpt/net/dpdk_port.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <vector>

using ckpt::testing::ChildProcess;
namespace net = ckpt::net;

namespace {

std::string pingpong() {
    const char* p = std::getenv("CKPT_PINGPONG");
    return p ? p : "ckpt_pingpong";
}

TEST(MemifRxInterrupt, AFrameWakesTheFdOrThePortSaysItHasNone) {
    const std::string sock = "/tmp/hotspare-rxintr-" + std::to_string(::getpid()) + ".sock";
    ::unlink(sock.c_str());
    net::EalConfig eal;
    eal.file_prefix = "hs-rxintr-" + std::to_string(::getpid());
    eal.memory_mb = 128;
    eal.vdevs = {"net_memif0,role=server,socket=" + sock + ",socket-abstract=no"};
    ASSERT_TRUE(net::eal_init(eal).ok());
    net::PortOptions po;
    po.link_wait_ms = 0;
    po.mbufs = 2047;
    po.rx_interrupts = true;
    auto opened = net::Port::open("net_memif0", po);
    ASSERT_TRUE(opened.ok()) << opened.message();
    std::optional<net::Port> port(std::move(*opened));
    const int fd = port->rx_interrupt_fd();
    RecordProperty("memif_rx_interrupt_fd", fd);

    ChildProcess client({pingpong(), "client", "--lcore", "1", "--socket", sock, "--count", "1"});
    std::vector<std::byte> echo;
    auto take = [&](std::span<const std::byte> f) {
        if (echo.empty()) echo.assign(f.begin(), f.end());
    };
    if (fd >= 0) {
        ASSERT_TRUE(port->rx_interrupt(true));
        for (int i = 0; i < 200 && echo.empty(); ++i) { // the link comes up first, then the frame
            port->receive(take);                        // look once more after arming: a frame may already be there
            pollfd p{fd, POLLIN, 0};
            if (echo.empty() && ::poll(&p, 1, 100) == 1) port->receive(take);
        }
        port->rx_interrupt(false);
    } else {
        std::printf("memif in this DPDK has no RX interrupt: the engine polls it\n");
        EXPECT_FALSE(port->rx_interrupt(true)) << "nothing to arm";
        for (int i = 0; i < 20000 && echo.empty(); ++i) {
            port->receive(take);
            if (echo.empty()) ::usleep(1000);
        }
    }
    ASSERT_FALSE(echo.empty()) << "no frame from the peer within the limit";
    EXPECT_TRUE(port->send_one(echo));
    EXPECT_EQ(client.wait(), 0) << "the peer got its echo";
    port.reset(); // the port goes before the EAL
    net::eal_cleanup();
    ::unlink(sock.c_str());
    std::error_code ec;
    std::filesystem::remove_all("/var/run/dpdk/" + eal.file_prefix, ec); // the EAL leaves it behind
}

} // namespace

// The kernel-UDP carrier in one process, two sockets on loopback: frames cross with synthesised
// Ethernet/IPv4/UDP headers that decode_frame accepts, a sleeping receiver's wait_fd() becomes
// readable when a frame arrives, batches arrive whole, a peer's own port (NODE@IP:PORT) is used,
// and datagrams that cannot be frames are counted, not delivered.
#include "ckpt/net/transport.hpp"
#include "ckpt/net/wire_format.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

using namespace ckpt;
using namespace ckpt::net;
using Frame = std::vector<std::byte>;

namespace {

constexpr std::uint32_t kLoopback = 0x7F000001;

std::uint16_t port_base() {
    return static_cast<std::uint16_t>(10000 + (::getpid() % 2500) * 4); // below the ephemeral range
}

CarrierConfig udp_config(std::uint16_t node, std::uint16_t port, std::vector<PeerConfig> peers = {}) {
    CarrierConfig c;
    c.transport = Carrier::kUdp;
    c.node_id = node;
    c.ip = kLoopback;
    c.udp_port = port;
    c.peers = std::move(peers);
    return c;
}

std::unique_ptr<Transport> open(const CarrierConfig& c) {
    auto t = open_transport(c);
    EXPECT_TRUE(t.ok()) << t.message();
    return t.ok() ? std::move(*t) : nullptr;
}

/// A HELLO from node `src` to node `dst`, addressed to 127.0.0.1:`port`.
Frame hello(std::uint16_t src, std::uint16_t dst, std::uint16_t src_port, std::uint16_t port, std::uint64_t seq) {
    std::byte body[net::kHelloBody];
    net::encode_hello_body(body, net::HelloBody{1, 1, 20, 1000 + seq});
    net::Endpoint a, b;
    a.ip = b.ip = kLoopback;
    a.port = src_port;
    b.port = port;
    Frame f(net::kMaxFrame);
    f.resize(net::encode_frame(f, a, b, net::FrameHeader{net::FrameType::kHello, 0, src, dst, 0, seq}, body));
    return f;
}

bool readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

/// Receives until `n` frames arrived or 20 s of waiting on wait_fd() passed.
std::vector<Frame> receive_n(Transport& t, std::size_t n) {
    std::vector<Frame> got;
    for (int i = 0; i < 200 && got.size() < n; ++i) {
        t.receive([&](std::span<const std::byte> f) { got.emplace_back(f.begin(), f.end()); });
        if (got.size() < n) readable(t.wait_fd(), 100);
    }
    return got;
}

TEST(UdpTransport, FramesCrossAndDecodeWithTheSendersAddress) {
    const std::uint16_t pa = port_base(), pb = pa + 1;
    auto a = open(udp_config(1, pa)), b = open(udp_config(2, pb));
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->describe(), "udp 127.0.0.1:" + std::to_string(pa));
    const auto mac = a->mac();
    EXPECT_EQ(mac[0] & 0x03, 0x02) << "locally administered, unicast";
    EXPECT_EQ(mac[5], 1);
    EXPECT_NE(a->mac(), b->mac());

    ASSERT_TRUE(a->send(hello(1, 2, pa, pb, 7)));
    EXPECT_EQ(a->flush_tx(), 1u);
    auto got = receive_n(*b, 1);
    ASSERT_EQ(got.size(), 1u);
    net::DecodedFrame d;
    ASSERT_EQ(net::decode_frame(got[0], pb, d), net::Reject::kNone);
    EXPECT_EQ(d.header.src_node, 1);
    EXPECT_EQ(d.header.link_seq, 7u);
    EXPECT_EQ(d.src.ip, kLoopback);
    EXPECT_EQ(d.src.port, pa) << "the sender's bound port";
    EXPECT_EQ(d.src.mac, a->mac()) << "the sender's MAC, derived from its node id";
    EXPECT_EQ(d.dst.port, pb);
    EXPECT_EQ(got[0].size(), hello(1, 2, pa, pb, 7).size());
    EXPECT_EQ(a->stats().tx_packets, 1u);
    EXPECT_EQ(b->stats().rx_packets, 1u);
}

TEST(UdpTransport, SleepingReceiverWakesWhenAFrameArrives) {
    const std::uint16_t pa = port_base() + 2, pb = pa + 1;
    auto a = open(udp_config(1, pa)), b = open(udp_config(2, pb));
    ASSERT_TRUE(a && b);
    ASSERT_GE(b->wait_fd(), 0);
    b->arm_wakeup(true);
    EXPECT_FALSE(readable(b->wait_fd(), 0)) << "nothing sent yet";
    ASSERT_TRUE(a->send(hello(1, 2, pa, pb, 1)));
    a->flush_tx();
    EXPECT_TRUE(readable(b->wait_fd(), 20'000)) << "the fd the engine sleeps on";
    b->arm_wakeup(false);
    EXPECT_EQ(receive_n(*b, 1).size(), 1u);
    EXPECT_FALSE(readable(b->wait_fd(), 0)) << "drained";
}

TEST(UdpTransport, BatchesArriveWholeAndInOrder) {
    const std::uint16_t pa = port_base(), pb = pa + 1;
    auto a = open(udp_config(1, pa)), b = open(udp_config(2, pb));
    ASSERT_TRUE(a && b);
    for (std::uint64_t i = 1; i <= 500; ++i) ASSERT_TRUE(a->send(hello(1, 2, pa, pb, i))) << i;
    a->flush_tx();
    auto got = receive_n(*b, 500);
    ASSERT_EQ(got.size(), 500u);
    for (std::uint64_t i = 0; i < 500; ++i) {
        net::DecodedFrame d;
        ASSERT_EQ(net::decode_frame(got[i], pb, d), net::Reject::kNone) << i;
        EXPECT_EQ(d.header.link_seq, i + 1) << "loopback keeps the order";
    }
}

/// DATA frame `i` of a commit: `len` payload bytes at offset i * len, addressed to 127.0.0.1:`port`.
Frame data_frame(std::uint16_t src_port, std::uint16_t port, std::uint32_t i, std::size_t len) {
    std::vector<std::byte> payload(len);
    for (std::size_t k = 0; k < len; ++k) payload[k] = static_cast<std::byte>((k + i * 7) & 0xFF);
    net::DataBody d;
    d.offset = std::uint64_t{i} * len;
    d.length = static_cast<std::uint32_t>(len);
    d.fragment = i;
    std::vector<std::byte> body(net::kDataBodyFixed + len);
    body.resize(net::encode_data_body(body, d, payload));
    net::Endpoint a, b;
    a.ip = b.ip = kLoopback;
    a.port = src_port;
    b.port = port;
    Frame f(net::kMaxFrame);
    f.resize(net::encode_frame(f, a, b, net::FrameHeader{net::FrameType::kData, 0, 1, 2, 0, 1000 + i}, body));
    return f;
}

// Issue 14: a 64 KiB commit over kernel UDP (mtu 1500: 48 DATA frames of 1,376 payload bytes, the
// last shorter) leaves in one system call: sendmmsg, the frames of one size to one peer as UDP
// GSO messages the kernel cuts into datagrams. They arrive whole, in order, as separate datagrams.
TEST(UdpTransport, ACommitOf64KiBIsOneSystemCall) {
    const std::uint16_t pa = port_base() + 4, pb = pa + 1;
    auto a = open(udp_config(1, pa)), b = open(udp_config(2, pb));
    ASSERT_TRUE(a && b);
    constexpr std::size_t kPayload = 1376;
    const std::uint32_t frames = (64 * 1024 + kPayload - 1) / kPayload;
    std::vector<Frame> sent;
    for (std::uint32_t i = 0; i < frames; ++i) {
        const std::size_t len = i + 1 < frames ? kPayload : 64 * 1024 - (frames - 1) * kPayload;
        sent.push_back(data_frame(pa, pb, i, len));
        ASSERT_TRUE(a->send(sent.back())) << i;
    }
    EXPECT_EQ(a->stats().tx_calls, 0u) << "held until flush_tx";
    EXPECT_EQ(a->flush_tx(), frames);
    EXPECT_EQ(a->stats().tx_calls, 1u) << frames << " frames, one sendmmsg";
    EXPECT_EQ(a->stats().tx_packets, frames);
    auto got = receive_n(*b, frames);
    ASSERT_EQ(got.size(), frames) << "every datagram arrives on its own";
    for (std::uint32_t i = 0; i < frames; ++i) {
        net::DecodedFrame d;
        ASSERT_EQ(net::decode_frame(got[i], pb, d), net::Reject::kNone) << i;
        EXPECT_EQ(d.header.link_seq, 1000u + i) << "in order";
        // Byte for byte from the Hotspare header on (the Ethernet/IPv4/UDP headers in front are the
        // receiver's own, synthesised from the datagram's addresses).
        ASSERT_EQ(got[i].size(), sent[i].size()) << i;
        EXPECT_TRUE(std::equal(got[i].begin() + 42, got[i].end(), sent[i].begin() + 42)) << i;
    }
}

TEST(UdpTransport, APeersOwnPortWinsOverTheFramesPort) {
    // The peer link addresses every peer at this node's own udp_port; NODE@IP:PORT corrects it.
    const std::uint16_t pa = port_base() + 2, pb = pa + 1;
    auto a = open(udp_config(1, pa, {PeerConfig{2, kLoopback, pb}})), b = open(udp_config(2, pb));
    ASSERT_TRUE(a && b);
    ASSERT_TRUE(a->send(hello(1, 2, pa, pa, 3))); // addressed to a's own port, for node 2
    a->flush_tx();
    auto got = receive_n(*b, 1);
    ASSERT_EQ(got.size(), 1u);
    net::DecodedFrame d;
    EXPECT_EQ(net::decode_frame(got[0], pb, d), net::Reject::kNone);
}

TEST(UdpTransport, WhatCannotBeAFrameIsCountedNotDelivered) {
    const std::uint16_t pb = port_base() + 1;
    auto b = open(udp_config(2, pb));
    ASSERT_TRUE(b);
    const int s = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(kLoopback);
    to.sin_port = htons(pb);
    std::vector<std::byte> big(net::kMaxFrame); // its UDP payload alone exceeds any frame's
    ASSERT_EQ(::sendto(s, big.data(), big.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(big.size()));
    std::vector<std::byte> junk(10);
    ASSERT_EQ(::sendto(s, junk.data(), junk.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 10);
    ::close(s);
    auto got = receive_n(*b, 1);
    ASSERT_EQ(got.size(), 1u) << "the short one is delivered (and refused by decode_frame above)";
    net::DecodedFrame d;
    EXPECT_EQ(net::decode_frame(got[0], pb, d), net::Reject::kTooShort);
    EXPECT_EQ(b->stats().rx_errors, 1u) << "the oversized one";
    // A frame the carrier cannot parse is refused at send, not sent somewhere odd.
    EXPECT_FALSE(b->send(junk));
    EXPECT_EQ(b->stats().tx_errors, 1u);
}

TEST(UdpTransport, PortInUseIsAClearError) {
    const std::uint16_t pa = port_base() + 3;
    auto a = open(udp_config(1, pa));
    ASSERT_TRUE(a);
    auto again = open_transport(udp_config(2, pa));
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error(), Error::kExist);
    EXPECT_NE(again.message().find("127.0.0.1:" + std::to_string(pa) + " is already in use"), std::string::npos)
        << again.message();
    auto c = udp_config(3, pa + 100);
    c.ip = 0x0A0B0C0D; // 10.11.12.13: not ours (bind only; nothing is sent)
    auto foreign = open_transport(c);
    ASSERT_FALSE(foreign.ok());
    EXPECT_NE(foreign.message().find("10.11.12.13 is not an address of this host"), std::string::npos)
        << foreign.message();
}

TEST(UdpTransport, FaultKeysWrapTheCarrierInTheShim) {
    const std::uint16_t pa = port_base(), pb = pa + 1;
    auto ca = udp_config(1, pa);
    ca.fault.drop_pct = 100;
    auto a = open(ca), b = open(udp_config(2, pb));
    ASSERT_TRUE(a && b);
    EXPECT_NE(a->describe().find("faults on tx"), std::string::npos) << a->describe();
    EXPECT_EQ(a->wait_fd() >= 0, true) << "the shim passes the carrier's wake-up through";
    for (std::uint64_t i = 1; i <= 50; ++i) EXPECT_TRUE(a->send(hello(1, 2, pa, pb, i)));
    a->flush_tx();
    ASSERT_TRUE(b->send(hello(2, 1, pb, pa, 1))); // the other way is clean: proves b's socket works
    b->flush_tx();
    EXPECT_EQ(receive_n(*a, 1).size(), 1u);
    b->receive([](std::span<const std::byte>) { ADD_FAILURE() << "a dropped frame arrived"; });
    EXPECT_EQ(a->stats().tx_packets, 0u) << "nothing reached the socket";
}

} // namespace

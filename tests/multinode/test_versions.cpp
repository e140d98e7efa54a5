// Two nodes of different wire versions refuse each other by name. A real ckptd (kernel UDP on
// loopback) faces a fake peer: a UDP socket in this test that speaks the frames of another
// version (another version byte, a tag that holds under the cluster key), or our version with a
// HELLO range that leaves ours out. The fake peer holds the test's cluster key and answers the
// engine's handshake (it echoes the challenge of the engine's last HELLO). The engine must mark that peer
// `incompatible`, log both versions once, and take it back when it speaks our version again (an upgraded node). Damaged
// frames never count as another version. States and counters are asserted, never times.
#include "ckpt/client/session.hpp"
#include "ckpt/net/frame_auth.hpp"
#include "ckpt/net/wire_format.hpp"
#include "engine_process.hpp"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <functional>

using namespace ckpt;
using namespace ckpt::client;
using namespace ckpt::net;
using ckpt::testing::EngineProcess;

namespace {

constexpr int kPolls = 4000; // x 10 ms

LinkInfo link_of(const std::string& socket) {
    auto s = Session::connect({socket, kDefaultTimeout, false});
    if (!s) return {};
    auto l = s->peers();
    return l ? *l : LinkInfo{};
}

std::string state_of(const std::string& socket, std::uint16_t peer) {
    for (const auto& p : link_of(socket).peers)
        if (p.node_id == peer) return p.state;
    return "";
}

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

/// A UDP socket on 127.0.0.1 standing in for node 2.
class FakePeer {
public:
    FakePeer() {
        fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        timeval tv{0, 100'000};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ClusterKey k;
        EXPECT_EQ(load_key_file(ckpt::testing::test_key_file(), k), "");
        EXPECT_EQ(auth_.add_key(k), "");
    }
    ~FakePeer() { ::close(fd_); }
    std::uint16_t port() const { return port_; }

    /// A HELLO from node 2 to node 1 in frame version `version`, announcing the range [lo, hi];
    /// `damage` flips one bit of the body after the tag was computed.
    void hello(std::uint16_t engine_port, std::uint8_t version, std::uint16_t lo, std::uint16_t hi,
               bool damage = false) {
        take_challenge();
        std::byte body[kHelloBody];
        HelloBody hb;
        hb.version_min = lo;
        hb.version_max = hi;
        hb.heartbeat_ms = 20;
        hb.boot_id = kSession;
        hb.challenge = 0x77;
        hb.echo = challenge_;
        hb.peer_session = engine_session_;
        hb.key_newest = auth_.newest_key();
        const std::size_t n = encode_hello_body(body, hb);
        Endpoint src, dst;
        src.ip = dst.ip = 0x7F000001;
        src.port = port_;
        dst.port = engine_port;
        std::vector<std::byte> frame(kMaxFrame);
        FrameHeader h{FrameType::kHello, 0, 2, 1, 0, 0};
        frame.resize(encode_frame_unsealed(frame, src, dst, h, {body, n}));
        std::byte* hs = frame.data() + kEthHeader + kIpv4Header + kUdpHeader;
        // What a node of that version would send: its byte, a tag that holds (versions from 3 on
        // keep the version-3 envelope).
        hs[4] = std::byte{version};
        EXPECT_TRUE(seal_frame(frame, auth_, auth_.newest_key(), kSession, ++counter_));
        if (damage) hs[kHotspareHeader + 3] ^= std::byte{0x10};
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        to.sin_port = htons(engine_port);
        const std::size_t off = kEthHeader + kIpv4Header + kUdpHeader;
        ::sendto(fd_, frame.data() + off, frame.size() - off, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    }

    /// Reads what the engine sent without waiting: its session and the challenge of its last HELLO.
    void take_challenge() {
        std::vector<std::byte> buf(kMaxFrame);
        for (;;) {
            const ssize_t n = ::recv(fd_, buf.data() + kUdpPayloadOffset, kMaxFrame - kUdpPayloadOffset, MSG_DONTWAIT);
            if (n <= 0) return;
            Endpoint src, dst;
            src.ip = dst.ip = 0x7F000001;
            const std::size_t len =
                wrap_udp_payload(buf, src, dst, {buf.data() + kUdpPayloadOffset, static_cast<std::size_t>(n)});
            DecodedFrame f;
            HelloBody h;
            if (decode_frame({buf.data(), len}, dst.port, f, &auth_) != Reject::kNone) continue;
            if (f.header.type == FrameType::kHello && decode_hello_body(f.body, h) == Reject::kNone) {
                challenge_ = h.challenge;
                engine_session_ = f.header.session;
            }
        }
    }

    /// The version byte of the next frame the engine sends us; -1 if none within 100 ms.
    int next_version() {
        std::byte buf[2048];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        return n >= 5 ? std::to_integer<int>(buf[4]) : -1;
    }

private:
    static constexpr std::uint64_t kSession = 0x1234'5678;
    int fd_ = -1;
    std::uint16_t port_ = 0;
    FrameAuth auth_;
    std::uint64_t counter_ = 0, challenge_ = 0, engine_session_ = 0;
};

std::uint16_t free_udp_port() {
    FakePeer probe; // bound to an ephemeral port, released at once
    return probe.port();
}

/// Sends HELLOs made by `send` every 10 ms until the engine shows `state` for node 2.
std::string drive_until(const EngineProcess& e, const std::function<void()>& send, const std::string& state) {
    std::string s;
    for (int i = 0; i < kPolls && (s = state_of(e.socket(), 2)) != state; ++i) {
        send();
        ::usleep(10'000);
    }
    return s;
}

std::vector<std::string> engine_config(std::uint16_t port, std::uint16_t peer_port) {
    return {"node_id = 1",
            "transport = udp",
            "ip = 127.0.0.1",
            "udp_port = " + std::to_string(port),
            "peers = 2@127.0.0.1:" + std::to_string(peer_port),
            "heartbeat_ms = 20",
            "peer_timeout_ms = 300"};
}

} // namespace

TEST(WireVersions, APeerOfAnotherFrameVersionIsRefusedByNameAndTakenBackAfterAnUpgrade) {
    FakePeer peer;
    const std::uint16_t port = free_udp_port();
    EngineProcess e("wirever", engine_config(port, peer.port()));
    ASSERT_TRUE(e.start()) << e.log();
    // The engine introduces itself in its version.
    int seen = -1;
    for (int i = 0; i < 100 && seen < 0; ++i) seen = peer.next_version();
    EXPECT_EQ(seen, kWireVersion);

    // Damaged frames of "another version" are damage: counted, and the peer stays unknown.
    constexpr std::uint8_t kOther = kWireVersion + 1; // a newer node
    for (int i = 0; i < 50; ++i) peer.hello(port, kOther, kOther, kOther, /*damage=*/true);
    std::uint64_t rejected = 0;
    for (int i = 0; i < kPolls && (rejected = link_of(e.socket()).rx_rejected) < 50; ++i) ::usleep(10'000);
    EXPECT_GE(rejected, 50u);
    EXPECT_EQ(state_of(e.socket(), 2), "unknown") << e.log();

    // Intact frames of the other version: refused by name, once.
    const auto v2 = [&] { peer.hello(port, kOther, kOther, kOther); };
    EXPECT_EQ(drive_until(e, v2, "incompatible"), "incompatible") << e.log();
    for (int i = 0; i < 20; ++i) peer.hello(port, kOther, kOther, kOther);
    ::usleep(100'000);
    const std::string refused = "peer 2 sends frame version " + std::to_string(kOther) + ", this node speaks " +
                                std::to_string(kWireVersion) + " only: refused";
    EXPECT_EQ(count_of(e.log(), refused), 1u) << e.log();
    EXPECT_EQ(state_of(e.socket(), 2), "incompatible");

    // Back on our version: up again.
    const auto v1 = [&] { peer.hello(port, kWireVersion, kWireVersion, kWireVersion); };
    EXPECT_EQ(drive_until(e, v1, "up"), "up") << e.log();

    // Frames of our version whose HELLO range leaves our version out: down, then refused by name.
    const auto v1_without_1 = [&] { peer.hello(port, kWireVersion, kOther, kOther + 1); };
    EXPECT_EQ(drive_until(e, v1_without_1, "incompatible"), "incompatible") << e.log();
    const std::string range = "peer 2 speaks frame versions " + std::to_string(kOther) + ".." +
                              std::to_string(kOther + 1) + ", this node " + std::to_string(kWireVersion) + ": refused";
    EXPECT_NE(e.log().find(range), std::string::npos) << e.log();
    EXPECT_NE(e.log().find("peer 2 is down (speaks no frame version of ours)"), std::string::npos) << e.log();
}

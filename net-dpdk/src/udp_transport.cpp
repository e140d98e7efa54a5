// The kernel-UDP carrier: hosts without DPDK, and the baseline that shows what kernel bypass buys.
// The peer link hands every carrier whole Ethernet frames; this one sends only their UDP payload
// (the Hotspare header and body) with sendto, to the address inside the frame, and wraps what it
// receives in a synthesised Ethernet+IPv4+UDP header, so that decode_frame and everything above
// it are the same on every carrier.
#include "carriers.hpp"
#include "ckpt/net/wire_format.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace ckpt::net {

namespace {

constexpr unsigned kBatch = 32; ///< datagrams per recvmmsg
/// The largest UDP payload a frame can carry; one more byte of buffer tells a longer datagram.
constexpr std::size_t kMaxPayload = kMaxFrame - kUdpPayloadOffset;
constexpr std::size_t kSlot = kMaxFrame + 64; ///< room for that byte, rounded to a cache line
/// Offsets in the Hotspare header (wire_format.hpp): source and destination node ids.
constexpr std::size_t kSrcNodeOffset = 8, kDstNodeOffset = 10;

std::string ip_text(std::uint32_t ip) {
    in_addr a{htonl(ip)};
    char buf[INET_ADDRSTRLEN] = "?";
    ::inet_ntop(AF_INET, &a, buf, sizeof buf);
    return buf;
}

std::uint16_t be16(const std::byte* p) {
    return static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8) | std::to_integer<unsigned>(p[1]));
}

class UdpTransport final : public Transport {
public:
    UdpTransport(int fd, const CarrierConfig& cfg) : fd_(fd) {
        self_.mac = node_mac(cfg.node_id);
        // The destination of what we receive is the address the peer link believes is ours.
        self_.ip = cfg.ip ? cfg.ip : default_ip(cfg.node_id);
        self_.port = cfg.udp_port;
        bound_ = (cfg.ip ? ip_text(cfg.ip) : std::string("*")) + ":" + std::to_string(cfg.udp_port);
        for (const auto& p : cfg.peers)
            if (p.udp_port) port_of_.push_back({p.node_id, p.udp_port});
        buf_.resize(std::size_t{kBatch} * kSlot);
    }
    ~UdpTransport() override { ::close(fd_); }

    bool send(std::span<const std::byte> frame) override {
        UdpDatagram d;
        if (unwrap_udp_payload(frame, d) != Reject::kNone) {
            ++stats_.tx_errors;
            return false;
        }
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_addr.s_addr = htonl(d.dst.ip);
        to.sin_port = htons(port_for(d));
        // MSG_DONTWAIT: a full socket buffer is a dropped frame (the peer link counts it), never
        // a stalled engine.
        const ssize_t n = ::sendto(fd_, d.payload.data(), d.payload.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                                   reinterpret_cast<const sockaddr*>(&to), sizeof to);
        if (n != static_cast<ssize_t>(d.payload.size())) {
            ++stats_.tx_errors;
            return false;
        }
        ++stats_.tx_packets;
        stats_.tx_bytes += frame.size();
        return true;
    }

    std::size_t receive(std::size_t max, Receiver cb, void* ctx) override {
        const unsigned want = static_cast<unsigned>(std::min<std::size_t>(max, kBatch));
        if (want == 0) return 0;
        mmsghdr msgs[kBatch];
        iovec iov[kBatch];
        sockaddr_in from[kBatch];
        alignas(cmsghdr) char control[kBatch][CMSG_SPACE(sizeof(std::uint32_t))];
        for (unsigned i = 0; i < want; ++i) {
            // Each datagram lands 42 bytes into its slot: the headers are written in front of it
            // afterwards, so no byte of the payload is copied.
            iov[i] = {slot(i) + kUdpPayloadOffset, kMaxPayload + 1};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_name = &from[i];
            msgs[i].msg_hdr.msg_namelen = sizeof from[i];
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_control = control[i];
            msgs[i].msg_hdr.msg_controllen = sizeof control[i];
        }
        const int n = ::recvmmsg(fd_, msgs, want, MSG_DONTWAIT, nullptr);
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ++stats_.rx_errors;
            return 0;
        }
        for (int i = 0; i < n; ++i) {
            const msghdr& h = msgs[i].msg_hdr;
            note_kernel_drops(h);
            const std::size_t len = msgs[i].msg_len;
            if ((h.msg_flags & MSG_TRUNC) || len > kMaxPayload || from[i].sin_family != AF_INET) {
                ++stats_.rx_errors; // longer than any frame of ours: not a Hotspare datagram
                continue;
            }
            std::byte* s = slot(static_cast<unsigned>(i));
            Endpoint src;
            src.ip = ntohl(from[i].sin_addr.s_addr);
            src.port = ntohs(from[i].sin_port);
            // The MAC the sender's own carrier reports: frames from a node always show one source.
            if (len >= kSrcNodeOffset + 2) src.mac = node_mac(be16(s + kUdpPayloadOffset + kSrcNodeOffset));
            const std::size_t f = wrap_udp_payload({s, kMaxFrame}, src, self_, {s + kUdpPayloadOffset, len}, ++ip_id_);
            ++stats_.rx_packets;
            stats_.rx_bytes += f;
            cb(ctx, {s, f});
        }
        return static_cast<std::size_t>(n);
    }

    std::array<std::uint8_t, 6> mac() const override { return self_.mac; }
    /// Readable when a datagram is queued: the engine sleeps on it.
    int wait_fd() const override { return fd_; }
    std::string describe() const override { return "udp " + bound_; }
    TransportStats stats() const override { return stats_; }

private:
    std::byte* slot(unsigned i) { return buf_.data() + std::size_t{i} * kSlot; }

    /// The frame's UDP destination port, unless the peer it is for was configured as
    /// NODE@IP:PORT: the peer link addresses every peer at this node's own port (right whenever
    /// each node has its own address), and only here do several engines share one address.
    std::uint16_t port_for(const UdpDatagram& d) const {
        if (port_of_.empty() || d.payload.size() < kDstNodeOffset + 2) return d.dst.port;
        const std::uint16_t node = be16(d.payload.data() + kDstNodeOffset);
        for (const auto& [id, port] : port_of_)
            if (id == node) return port;
        return d.dst.port;
    }

    /// SO_RXQ_OVFL: the kernel's count of datagrams it dropped on a full socket buffer.
    void note_kernel_drops(const msghdr& h) {
        for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
                std::uint32_t dropped;
                std::memcpy(&dropped, CMSG_DATA(c), sizeof dropped);
                stats_.rx_missed = dropped;
            }
        }
    }

    int fd_;
    Endpoint self_;
    std::string bound_;
    std::vector<std::pair<std::uint16_t, std::uint16_t>> port_of_; ///< node id -> UDP port
    std::vector<std::byte> buf_;                                   ///< kBatch slots of kSlot bytes
    std::uint16_t ip_id_ = 0;
    TransportStats stats_;
};

} // namespace

Result<std::unique_ptr<Transport>> open_udp_transport(const CarrierConfig& cfg) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(Error::kNoResources, std::string("udp: socket: ") + std::strerror(errno));
    // Bursts of frames from a peer must not overflow the default buffer (about 200 KiB); best
    // effort, the kernel caps it at net.core.rmem_max.
    const int rcvbuf = 4 << 20, one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    ::setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(cfg.ip ? cfg.ip : INADDR_ANY);
    a.sin_port = htons(cfg.udp_port);
    // No SO_REUSEADDR/SO_REUSEPORT: a second engine on the same port must fail here, not share it.
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        const int e = errno;
        ::close(fd);
        const std::string where = (cfg.ip ? ip_text(cfg.ip) : std::string("*")) + ":" + std::to_string(cfg.udp_port);
        if (e == EADDRINUSE)
            return fail(Error::kExist,
                        "udp: " + where +
                            " is already in use (another ckptd on this host? give each its own udp_port)");
        if (e == EADDRNOTAVAIL)
            return fail(Error::kInvalidParam, "udp: ip = " + ip_text(cfg.ip) + " is not an address of this host");
        if (e == EACCES) return fail(Error::kAccess, "udp: binding " + where + ": " + std::strerror(e));
        return fail(Error::kLibrary, "udp: bind " + where + ": " + std::strerror(e));
    }
    return std::unique_ptr<Transport>(new UdpTransport(fd, cfg));
}

} // namespace ckpt::net

// The kernel-UDP carrier: hosts without DPDK, and the baseline that shows what kernel bypass buys.
// The peer link hands every carrier whole Ethernet frames; this one sends only their UDP payload
// (the Hotspare header and body) with sendto, to the address inside the frame, and wraps what it
// receives in a synthesised Ethernet+IPv4+UDP header, so that decode_frame and everything above
// it are the same on every carrier.
//
// Sending is batched: send() copies the datagram into a batch, flush_tx() (end of every peer-link
// flush) sends the batch with one sendmmsg, consecutive datagrams to one destination of one size
// (the DATA frames of a commit) as one UDP GSO message (UDP_SEGMENT: the kernel cuts it into the
// datagrams), so a 64 KiB commit is one system call instead of 45 sendto calls. Kernels without
// UDP GSO get one message per datagram, still in one sendmmsg.
#include "carriers.hpp"
#include "ckpt/net/wire_format.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace ckpt::net {

namespace {

constexpr unsigned kBatch = 32;    ///< datagrams per recvmmsg
constexpr unsigned kTxBatch = 128; ///< datagrams send() batches before flush_tx() must run
#ifndef UDP_SEGMENT
constexpr int UDP_SEGMENT = 103; // linux/udp.h; older libc headers lack it
#endif
constexpr unsigned kMaxGsoSegments = 64;    ///< the kernel's UDP_MAX_SEGMENTS
constexpr std::size_t kMaxGsoBytes = 65507; ///< one UDP/IPv4 datagram's payload at most
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
        tx_buf_.resize(std::size_t{kTxBatch} * kMaxPayload);
        int seg = 0;
        socklen_t len = sizeof seg;
        gso_ = ::getsockopt(fd_, SOL_UDP, UDP_SEGMENT, &seg, &len) == 0; // the kernel knows the option
    }
    ~UdpTransport() override {
        flush_tx();
        ::close(fd_);
    }
    /// Test seam: whether sends use UDP GSO (off: one message per datagram, still one sendmmsg).
    bool gso() const { return gso_; }

    bool send(std::span<const std::byte> frame) override {
        UdpDatagram d;
        if (unwrap_udp_payload(frame, d) != Reject::kNone) {
            ++stats_.tx_errors;
            return false;
        }
        if (tx_n_ == kTxBatch) flush_tx(); // never more than a batch held
        TxDatagram& t = tx_[tx_n_++];
        t.to = {};
        t.to.sin_family = AF_INET;
        t.to.sin_addr.s_addr = htonl(d.dst.ip);
        t.to.sin_port = htons(port_for(d));
        t.offset = tx_used_;
        t.length = d.payload.size();
        t.frame_bytes = frame.size();
        std::memcpy(tx_buf_.data() + tx_used_, d.payload.data(), d.payload.size());
        tx_used_ += d.payload.size();
        return true;
    }

    std::size_t flush_tx() override {
        if (tx_n_ == 0) return 0;
        // Messages: runs of datagrams to one destination, all of one size but the last (which may
        // be shorter), at most 64 and 65507 bytes: one GSO message each when the kernel has it.
        mmsghdr msgs[kTxBatch];
        iovec iov[kTxBatch];
        alignas(cmsghdr) char control[kTxBatch][CMSG_SPACE(sizeof(std::uint16_t))];
        unsigned first_of[kTxBatch + 1];
        unsigned m = 0;
        for (unsigned i = 0; i < tx_n_;) {
            unsigned j = i + 1;
            std::size_t bytes = tx_[i].length;
            if (gso_)
                while (j < tx_n_ && j - i < kMaxGsoSegments && same_destination(tx_[i], tx_[j]) &&
                       tx_[j - 1].length == tx_[i].length && tx_[j].length <= tx_[i].length &&
                       bytes + tx_[j].length <= kMaxGsoBytes) {
                    bytes += tx_[j].length;
                    ++j;
                }
            first_of[m] = i;
            iov[m] = {tx_buf_.data() + tx_[i].offset, bytes};
            msgs[m] = {};
            msgs[m].msg_hdr.msg_name = &tx_[i].to;
            msgs[m].msg_hdr.msg_namelen = sizeof tx_[i].to;
            msgs[m].msg_hdr.msg_iov = &iov[m];
            msgs[m].msg_hdr.msg_iovlen = 1;
            if (j - i > 1) { // several datagrams in one message: the kernel cuts it every segment bytes
                msgs[m].msg_hdr.msg_control = control[m];
                msgs[m].msg_hdr.msg_controllen = sizeof control[m];
                cmsghdr* c = CMSG_FIRSTHDR(&msgs[m].msg_hdr);
                c->cmsg_level = SOL_UDP;
                c->cmsg_type = UDP_SEGMENT;
                c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
                const std::uint16_t seg = static_cast<std::uint16_t>(tx_[i].length);
                std::memcpy(CMSG_DATA(c), &seg, sizeof seg);
            }
            ++m;
            i = j;
        }
        first_of[m] = tx_n_;
        std::size_t sent = 0;
        unsigned done = 0;
        while (done < m) {
            // MSG_DONTWAIT: a full socket buffer drops the rest of the batch (counted; the peer
            // stream sends them again), never a stalled engine.
            const int n = ::sendmmsg(fd_, msgs + done, m - done, MSG_DONTWAIT | MSG_NOSIGNAL);
            ++stats_.tx_calls;
            if (n <= 0) {
                if (n < 0 && gso_ && (errno == EINVAL || errno == EIO || errno == ENOPROTOOPT) && done == 0 &&
                    has_gso_message(msgs, m)) {
                    gso_ = false; // this kernel or route cannot segment: one message per datagram from now on
                    return flush_tx();
                }
                for (unsigned k = first_of[done]; k < tx_n_; ++k) ++stats_.tx_errors;
                break;
            }
            for (unsigned k = done; k < done + static_cast<unsigned>(n); ++k)
                for (unsigned d = first_of[k]; d < first_of[k + 1]; ++d) {
                    ++stats_.tx_packets;
                    stats_.tx_bytes += tx_[d].frame_bytes;
                    ++sent;
                }
            done += static_cast<unsigned>(n);
        }
        tx_n_ = 0;
        tx_used_ = 0;
        return sent;
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
    struct TxDatagram {
        sockaddr_in to;
        std::size_t offset, length; ///< the UDP payload in tx_buf_
        std::size_t frame_bytes;    ///< the whole frame's length (stats count frames)
    };
    static bool same_destination(const TxDatagram& a, const TxDatagram& b) {
        return a.to.sin_addr.s_addr == b.to.sin_addr.s_addr && a.to.sin_port == b.to.sin_port;
    }
    static bool has_gso_message(const mmsghdr* msgs, unsigned m) {
        for (unsigned i = 0; i < m; ++i)
            if (msgs[i].msg_hdr.msg_controllen != 0) return true;
        return false;
    }
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
    std::vector<std::byte> tx_buf_;                                ///< the TX batch's payloads, back to back
    TxDatagram tx_[kTxBatch];
    unsigned tx_n_ = 0;
    std::size_t tx_used_ = 0;
    bool gso_ = false;
    std::uint16_t ip_id_ = 0;
    TransportStats stats_{};
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

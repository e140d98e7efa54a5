// ckpt_pingpong: raw round trips between two processes, the baseline every replication figure is
// compared with (same link, same run). Transports: DPDK memif (the embedded default), DPDK
// af_packet on a kernel interface (--af-packet IFACE, e.g. one end of a veth pair; server and
// client each on their own end, typically in two network namespaces), or a kernel UDP socket on
// loopback.
//
//   ckpt_pingpong server [--socket PATH | --af-packet IFACE | --udp PORT] [--lcore N] [--prefix P]
//   ckpt_pingpong client [--socket PATH | --af-packet IFACE | --udp PORT] [--lcore N] [--prefix P]
//                        [--count N] [--size BYTES] [--verify] [--json]
//                        [--message BYTES[,BYTES...] [--mtu N] [--rate PER_S] [--samples PREFIX]]
//                        [--stream-ms MS]
//
// Echo mode (the default): the client sends a frame, waits for its echo, and records the round
// trip in a preallocated array (no allocation in the timed loop); it prints p50/p99/p99.9/max in
// microseconds. With --verify every echo is checked (sequence, size, XXH3 of the payload) and any
// mismatch fails the run: the transport test uses this mode.
//
// Message mode (--message): the shape of a replicated commit. The client sends BYTES of payload
// as a burst of frames of at most MTU + 14 bytes (42 bytes of header, like Ethernet + IPv4 + UDP,
// then at most MTU - 28 bytes of payload each), and the server answers the last one with a single
// 60-byte ACK frame that says how many fragments of that message it received. The round trip runs
// from the first send to the ACK. Several sizes run one after the other, one line each. With
// --rate the client runs open loop: message i is due at start + i / rate and its latency runs from
// that intended time, not from when it actually left, so a slow ACK that delays the next sends
// shows in their latency too (coordinated omission would hide it). --samples PREFIX writes every
// latency in ns, one per line, to PREFIX<bytes>.ns (bench/run_suite.py plots their CDF).
//
// Stream mode (--stream-ms): one-way throughput. The client sends frames of --size bytes in
// bursts of 32 for MS milliseconds (a full TX ring holds the sender back: nothing is dropped on
// memif), then asks the server for what it received: frames, bytes, and the time from the first
// to the last of them, measured where they arrive. On af_packet the receiver's socket ring can
// overflow: what it lost is the difference between sent and received.
//
// af_packet has no connection to wait for (memif has its control socket, UDP its bound port), and
// the kernel puts other frames on the wire (IPv6 neighbour discovery, MLD): the client first sends
// probe echoes until the server answers one (--link-wait-ms), and both sides ignore frames of
// EtherTypes other than their own (0x88B5..0x88B7).
#include "ckpt/net/dpdk_port.hpp"

#include <CLI/CLI.hpp>
#include <xxhash.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace {

constexpr std::uint16_t kEtherType = 0x88B5;    // IEEE local experimental: raw baseline frames only (echo)
constexpr std::uint16_t kEtherMessage = 0x88B6; // message fragments, and the server's ACK of the last one
constexpr std::uint16_t kEtherStream = 0x88B7;  // stream frames, and the server's report
constexpr std::size_t kHeader = 14 + 16;        // Ethernet + (u64 seq, u64 payload hash)
/// Message and stream frames: Ethernet + 28 bytes where IPv4 + UDP would be (u64 seq, u32 fragment,
/// u32 fragments, u64 payload hash, u32 zero), so a frame carries what a UDP datagram would.
constexpr std::size_t kMsgHeader = 14 + 28;
constexpr std::size_t kAckFrame = 60; // the Ethernet minimum (without FCS)
constexpr std::uint64_t kStop = ~0ull;

std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<std::uint64_t>(ts.tv_nsec);
}

void fill_ethernet(std::byte* f, std::uint16_t ether_type) {
    std::memset(f, 0xff, 6); // broadcast: memif is point to point
    std::memset(f + 6, 0x02, 6);
    f[12] = static_cast<std::byte>(ether_type >> 8);
    f[13] = static_cast<std::byte>(ether_type & 0xff);
}

std::uint16_t ether_type_of(std::span<const std::byte> f) {
    return f.size() < 14
               ? 0
               : static_cast<std::uint16_t>(std::to_integer<unsigned>(f[12]) << 8 | std::to_integer<unsigned>(f[13]));
}

template <typename T>
T load_at(std::span<const std::byte> f, std::size_t off) {
    T v{};
    if (f.size() >= off + sizeof v) std::memcpy(&v, f.data() + off, sizeof v);
    return v;
}

template <typename T>
void store_at(std::byte* f, std::size_t off, T v) {
    std::memcpy(f + off, &v, sizeof v);
}

void fill_frame(std::vector<std::byte>& f, std::uint64_t seq) {
    fill_ethernet(f.data(), kEtherType);
    for (std::size_t i = kHeader; i < f.size(); ++i) f[i] = static_cast<std::byte>((seq * 131 + i) & 0xff);
    std::uint64_t h = XXH3_64bits(f.data() + kHeader, f.size() - kHeader);
    std::memcpy(f.data() + 14, &seq, 8);
    std::memcpy(f.data() + 22, &h, 8);
}

/// Checks an echoed frame; empty string when it is intact.
std::string check_frame(std::span<const std::byte> f, std::uint64_t seq, std::size_t size) {
    if (f.size() != size) return "size " + std::to_string(f.size()) + " != " + std::to_string(size);
    std::uint64_t got_seq, got_hash;
    std::memcpy(&got_seq, f.data() + 14, 8);
    std::memcpy(&got_hash, f.data() + 22, 8);
    if (got_seq != seq) return "sequence " + std::to_string(got_seq) + " != " + std::to_string(seq);
    if (XXH3_64bits(f.data() + kHeader, f.size() - kHeader) != got_hash) return "payload hash mismatch";
    return {};
}

struct Options {
    std::string role, socket = "/tmp/hotspare-pingpong.sock", prefix, lcore = "0";
    std::string af_packet; ///< DPDK af_packet on this kernel interface instead of memif
    int udp_port = 0;
    unsigned link_wait_ms = 20000;
    std::size_t count = 100000, size = 64;
    bool verify = false, json = false;
    std::vector<std::size_t> message; ///< message mode: payload bytes per message, one run each
    std::size_t mtu = 1500;           ///< message mode: frames carry at most mtu - 28 payload bytes
    unsigned stream_ms = 0;           ///< stream mode: how long to send
    double rate = 0;                  ///< message mode: open loop at this many messages/s (0: closed loop)
    std::string samples;              ///< message mode: every round trip in ns to SAMPLES<bytes>.ns
};

/// A transport: DPDK port (memif or af_packet) or kernel UDP socket, same two operations.
struct Link {
    virtual ~Link() = default;
    virtual bool send(std::span<const std::byte> f) = 0;
    /// Sends as many of `frames` as the transport takes now (a burst); returns how many.
    virtual std::size_t send_burst(std::span<const std::span<const std::byte>> frames) {
        std::size_t n = 0;
        while (n < frames.size() && send(frames[n])) ++n;
        return n;
    }
    /// Polls for frames (a burst of up to 32 on memif, one datagram on UDP); calls fn for each and
    /// returns true when any arrived. A plain callback and
    /// context rather than std::function, which would allocate for most lambdas on every poll of
    /// a timed loop.
    template <typename F>
    bool poll(F&& fn) {
        return poll_raw(
            [](void* ctx, std::span<const std::byte> f) { (*static_cast<std::remove_reference_t<F>*>(ctx))(f); }, &fn);
    }
    virtual bool poll_raw(void (*cb)(void*, std::span<const std::byte>), void* ctx) = 0;
};

struct DpdkLink : Link {
    ckpt::net::Port port;
    explicit DpdkLink(ckpt::net::Port p) : port(std::move(p)) {}
    bool send(std::span<const std::byte> f) override { return port.send_one(f); }
    std::size_t send_burst(std::span<const std::span<const std::byte>> frames) override { return port.send(frames); }
    bool poll_raw(void (*cb)(void*, std::span<const std::byte>), void* ctx) override {
        return port.receive([&](std::span<const std::byte> f) { cb(ctx, f); }, 32) > 0; // a burst, as ckptd reads
    }
};

struct UdpLink : Link {
    int fd = -1;
    sockaddr_in peer{};
    bool have_peer = false;
    std::vector<std::byte> buf = std::vector<std::byte>(65536);
    ~UdpLink() override {
        if (fd >= 0) ::close(fd);
    }
    bool send(std::span<const std::byte> f) override {
        return ::sendto(fd, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&peer), sizeof peer) ==
               static_cast<ssize_t>(f.size());
    }
    bool poll_raw(void (*cb)(void*, std::span<const std::byte>), void* ctx) override {
        sockaddr_in from{};
        socklen_t len = sizeof from;
        ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0) return false;
        if (!have_peer) {
            peer = from;
            have_peer = true;
        }
        cb(ctx, {buf.data(), static_cast<std::size_t>(n)});
        return true;
    }
};

std::unique_ptr<Link> open_link(const Options& o) {
    if (o.udp_port) {
        auto l = std::make_unique<UdpLink>();
        l->fd = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<std::uint16_t>(o.udp_port));
        if (o.role == "server") {
            if (::bind(l->fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
                std::perror("ckpt_pingpong: bind");
                return nullptr;
            }
        } else {
            l->peer = a;
            l->have_peer = true;
        }
        return l;
    }
    ckpt::net::EalConfig eal;
    eal.file_prefix = o.prefix.empty() ? "hspp-" + o.role + "-" + std::to_string(::getpid()) : o.prefix;
    if (const char* l = std::getenv("CKPT_EAL_LOG")) eal.extra.push_back(std::string("--log-level=") + l); // debugging
    eal.lcores = o.lcore;
    eal.memory_mb = 128;
    std::string device = "net_memif0";
    if (!o.af_packet.empty()) {
        // As ckptd's transport = af_packet does (net-dpdk/src/dpdk_transport.cpp); frames are
        // Ethernet broadcast, which a veth delivers to its other end.
        eal.vdevs = {"net_af_packet0,iface=" + o.af_packet + ",qdisc_bypass=0"};
        device = "net_af_packet0";
    } else {
        eal.vdevs = {"net_memif0,role=" + o.role + ",socket=" + o.socket + ",socket-abstract=no"}; // a real path
    }
    if (auto s = ckpt::net::eal_init(eal); !s) {
        std::fprintf(stderr, "ckpt_pingpong: %s\n", s.message().c_str());
        return nullptr;
    }
    ckpt::net::PortOptions po;
    po.link_wait_ms = o.link_wait_ms;
    // The echo server does not know the client's frame size: every port takes the largest frame
    // the options allow (--size and --mtu up to 9000).
    po.max_frame = 9000 + 14;
    // A memif client may start before its server (no socket yet: its start fails) or connect
    // before the server's port is ready (refused): start it later and restart it while its link
    // stays down, as ckptd does.
    const bool memif_client = o.af_packet.empty() && o.role == "client";
    if (memif_client) po.start_later = true, po.link_wait_ms = 0;
    auto port = ckpt::net::Port::open(device, po);
    if (!port) {
        std::fprintf(stderr, "ckpt_pingpong: %s\n", port.message().c_str());
        return nullptr;
    }
    for (unsigned waited = 0; memif_client && !port->link_up(); waited += 10) {
        if (waited >= o.link_wait_ms) {
            std::fprintf(stderr, "ckpt_pingpong: link of %s did not come up within %u ms (is the peer running?)\n",
                         device.c_str(), o.link_wait_ms);
            return nullptr;
        }
        if (waited % 500 == 0) (void)port->restart();
        ::usleep(10'000);
    }
    return std::make_unique<DpdkLink>(std::move(*port));
}

std::uint64_t seq_of(std::span<const std::byte> f) {
    return load_at<std::uint64_t>(f, 14);
}

int serve(Link& link, const Options& o) {
    // Echo frames come back as they are; a message's last fragment gets one ACK frame; stream
    // frames are counted, and their stop frame is answered with the count. The client ends the
    // session with an echo frame carrying seq ~0.
    std::vector<std::byte> copy(65536), reply(kAckFrame);
    std::uint64_t echoed = 0, msg_seq = kStop, msg_frags = 0;
    std::uint64_t st_frames = 0, st_bytes = 0, st_first = 0, st_last = 0;
    const std::uint64_t deadline = now_ns() + 300ull * 1'000'000'000;
    bool done = false;
    while (!done && now_ns() < deadline) {
        link.poll([&](std::span<const std::byte> f) {
            const std::uint16_t type = ether_type_of(f);
            if (type == kEtherMessage) {
                const std::uint64_t seq = seq_of(f);
                if (seq != msg_seq) msg_seq = seq, msg_frags = 0;
                ++msg_frags;
                if (load_at<std::uint32_t>(f, 22) + 1 != load_at<std::uint32_t>(f, 26)) return; // not the last
                std::memset(reply.data(), 0, reply.size());
                fill_ethernet(reply.data(), kEtherMessage);
                store_at(reply.data(), 14, seq);
                store_at(reply.data(), 22, static_cast<std::uint32_t>(msg_frags));
                link.send(reply);
                return;
            }
            if (type == kEtherStream) {
                if (seq_of(f) != kStop) {
                    const std::uint64_t t = now_ns();
                    if (st_frames++ == 0) st_first = t;
                    st_last = t;
                    st_bytes += f.size();
                    return;
                }
                std::memset(reply.data(), 0, reply.size());
                fill_ethernet(reply.data(), kEtherStream);
                store_at(reply.data(), 14, kStop);
                store_at(reply.data(), 22, st_frames);
                store_at(reply.data(), 30, st_bytes);
                store_at(reply.data(), 38, st_last - st_first);
                link.send(reply);
                st_frames = st_bytes = st_first = st_last = 0;
                return;
            }
            if (type != kEtherType) return; // not ours (e.g. IPv6 neighbour discovery on a veth)
            if (seq_of(f) == kStop) done = true;
            std::memcpy(copy.data(), f.data(), f.size());
            link.send({copy.data(), f.size()});
            ++echoed;
        });
    }
    if (!o.json) std::printf("server: echoed %llu frames\n", static_cast<unsigned long long>(echoed));
    return done ? 0 : 1;
}

double percentile_us(const std::vector<std::uint64_t>& sorted, double p) {
    return static_cast<double>(sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(p * sorted.size()))]) /
           1000.0;
}

const char* transport_name(const Options& o) {
    return o.udp_port ? "kernel-udp" : !o.af_packet.empty() ? "dpdk-af_packet" : "dpdk-memif";
}

/// Message mode: `bytes` of payload in frames of at most mtu + 14 bytes, one ACK back.
int run_messages(Link& link, const Options& o, std::size_t bytes) {
    const std::size_t per_frame = o.mtu - 28;
    const std::size_t frames = std::max<std::size_t>(1, (bytes + per_frame - 1) / per_frame);
    std::vector<std::vector<std::byte>> buf(frames);
    std::vector<std::span<const std::byte>> spans(frames);
    for (std::size_t i = 0; i < frames; ++i) {
        const std::size_t payload = std::min(per_frame, bytes - std::min(bytes, i * per_frame));
        buf[i].assign(kMsgHeader + payload, std::byte{0});
        fill_ethernet(buf[i].data(), kEtherMessage);
        store_at(buf[i].data(), 22, static_cast<std::uint32_t>(i));
        store_at(buf[i].data(), 26, static_cast<std::uint32_t>(frames));
        for (std::size_t k = 0; k < payload; ++k) buf[i][kMsgHeader + k] = static_cast<std::byte>((i * 131 + k) & 0xff);
        spans[i] = buf[i];
    }
    const std::size_t warmup = std::min<std::size_t>(o.count / 10, 1000);
    std::vector<std::uint64_t> rtt(o.count); // preallocated: nothing allocates in the timed loop
    std::size_t bad = 0;
    const std::uint64_t start = now_ns();
    for (std::size_t i = 0; i < warmup + o.count; ++i) {
        const std::uint64_t seq = (std::uint64_t{bytes} << 32) | i; // unique per size and message
        for (auto& b : buf) store_at(b.data(), 14, seq);
        if (o.verify)
            for (auto& b : buf) store_at(b.data(), 30, XXH3_64bits(b.data() + kMsgHeader, b.size() - kMsgHeader));
        std::uint64_t t0 = now_ns();
        if (o.rate > 0) { // open loop: wait for the intended send time, and time from it
            const std::uint64_t due = start + static_cast<std::uint64_t>(static_cast<double>(i) * 1e9 / o.rate);
            while (t0 < due) t0 = now_ns();
            t0 = due;
        }
        for (std::size_t sent = 0; sent < frames;) {
            sent += link.send_burst(std::span(spans).subspan(sent));
            if (now_ns() - t0 > 5'000'000'000ull) {
                std::fprintf(stderr, "ckpt_pingpong: message %zu: transmit ring stayed full for 5 s\n", i);
                return 1;
            }
        }
        bool got = false;
        while (!got) {
            link.poll([&](std::span<const std::byte> f) {
                if (ether_type_of(f) != kEtherMessage) return; // not ours
                got = true;
                if (seq_of(f) != seq || load_at<std::uint32_t>(f, 22) != frames) ++bad;
            });
            if (!got && now_ns() - t0 > 5'000'000'000ull) {
                std::fprintf(stderr, "ckpt_pingpong: no ACK for message %zu within 5 s\n", i);
                return 1;
            }
        }
        if (i >= warmup) rtt[i - warmup] = now_ns() - t0;
    }
    if (!o.samples.empty()) {
        if (FILE* f = std::fopen((o.samples + std::to_string(bytes) + ".ns").c_str(), "a")) {
            for (auto v : rtt) std::fprintf(f, "%llu\n", static_cast<unsigned long long>(v));
            std::fclose(f);
        }
    }
    std::sort(rtt.begin(), rtt.end());
    if (o.json)
        std::printf("{\"transport\":\"%s\",\"mode\":\"message\",\"bytes\":%zu,\"frames\":%zu,\"mtu\":%zu,"
                    "\"count\":%zu,\"rate\":%.0f,\"p50_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,\"max_us\":%.3f,"
                    "\"corrupt\":%zu}\n",
                    transport_name(o), bytes, frames, o.mtu, o.count, o.rate, percentile_us(rtt, 0.5),
                    percentile_us(rtt, 0.99), percentile_us(rtt, 0.999), percentile_us(rtt, 1.0), bad);
    else
        std::printf("%s message of %zu B (%zu frames) + ACK x %zu: p50 %.3f us, p99 %.3f us, p99.9 %.3f us, max %.3f "
                    "us%s\n",
                    transport_name(o), bytes, frames, o.count, percentile_us(rtt, 0.5), percentile_us(rtt, 0.99),
                    percentile_us(rtt, 0.999), percentile_us(rtt, 1.0), bad ? " (BAD ACKS)" : "");
    std::fflush(stdout);
    return bad ? 1 : 0;
}

/// Stream mode: frames of o.size bytes for o.stream_ms, then the server's count.
int run_stream(Link& link, const Options& o) {
    constexpr std::size_t kBurst = 32;
    std::vector<std::vector<std::byte>> buf(kBurst);
    std::vector<std::span<const std::byte>> spans(kBurst);
    for (std::size_t i = 0; i < kBurst; ++i) {
        buf[i].assign(std::max(o.size, kMsgHeader), std::byte{0});
        fill_ethernet(buf[i].data(), kEtherStream);
        for (std::size_t k = kMsgHeader; k < buf[i].size(); ++k) buf[i][k] = static_cast<std::byte>((i + k) & 0xff);
        spans[i] = buf[i];
    }
    std::uint64_t seq = 0, tx = 0;
    const std::uint64_t t0 = now_ns(), end = t0 + std::uint64_t{o.stream_ms} * 1'000'000;
    while (now_ns() < end) {
        for (auto& b : buf) store_at(b.data(), 14, seq++);
        std::size_t sent = 0;
        while (sent < kBurst) sent += link.send_burst(std::span(spans).subspan(sent));
        tx += kBurst;
    }
    const std::uint64_t t1 = now_ns();
    std::vector<std::byte> stop(kAckFrame);
    fill_ethernet(stop.data(), kEtherStream);
    store_at(stop.data(), 14, kStop);
    std::uint64_t rx_frames = 0, rx_bytes = 0, rx_ns = 0;
    bool got = false;
    for (std::uint64_t asked = 0; !got;) {
        if (now_ns() - asked > 50'000'000) { // ask (again: UDP may drop it)
            link.send(stop);
            asked = now_ns();
        }
        link.poll([&](std::span<const std::byte> f) {
            if (ether_type_of(f) != kEtherStream || seq_of(f) != kStop) return;
            rx_frames = load_at<std::uint64_t>(f, 22);
            rx_bytes = load_at<std::uint64_t>(f, 30);
            rx_ns = load_at<std::uint64_t>(f, 38);
            got = true;
        });
        if (!got && now_ns() - t1 > 5'000'000'000ull) {
            std::fprintf(stderr, "ckpt_pingpong: no stream report within 5 s\n");
            return 1;
        }
    }
    const double secs = static_cast<double>(rx_ns) / 1e9;
    const double fps = secs > 0 ? static_cast<double>(rx_frames) / secs : 0,
                 bps = secs > 0 ? static_cast<double>(rx_bytes) / secs : 0;
    if (o.json)
        std::printf("{\"transport\":\"%s\",\"mode\":\"stream\",\"frame\":%zu,\"ms\":%u,\"tx_frames\":%llu,"
                    "\"rx_frames\":%llu,\"rx_bytes\":%llu,\"rx_ns\":%llu,\"frames_per_s\":%.0f,\"bytes_per_s\":%.0f}\n",
                    transport_name(o), buf[0].size(), o.stream_ms, static_cast<unsigned long long>(tx),
                    static_cast<unsigned long long>(rx_frames), static_cast<unsigned long long>(rx_bytes),
                    static_cast<unsigned long long>(rx_ns), fps, bps);
    else
        std::printf("%s stream of %zu B frames for %u ms: sent %llu, received %llu (%.3f Mframes/s, %.3f GB/s)\n",
                    transport_name(o), buf[0].size(), o.stream_ms, static_cast<unsigned long long>(tx),
                    static_cast<unsigned long long>(rx_frames), fps / 1e6, bps / 1e9);
    std::fflush(stdout);
    return 0;
}

int run_echo(Link& link, const Options& o) {
    std::vector<std::byte> frame(std::max(o.size, kHeader));
    std::vector<std::uint64_t> rtt(o.count); // preallocated: nothing allocates in the timed loop
    std::size_t bad = 0;
    std::string first_error;
    for (std::size_t i = 0; i < o.count; ++i) {
        fill_frame(frame, i);
        const std::uint64_t t0 = now_ns();
        if (!link.send(frame)) {
            std::fprintf(stderr, "ckpt_pingpong: send failed at %zu\n", i);
            return 1;
        }
        bool got = false;
        while (!got) {
            link.poll([&](std::span<const std::byte> f) {
                if (ether_type_of(f) != kEtherType) return; // not ours
                got = true;
                if (o.verify) {
                    auto e = check_frame(f, i, frame.size());
                    if (!e.empty() && bad++ == 0) first_error = "frame " + std::to_string(i) + ": " + e;
                }
            });
            if (!got && now_ns() - t0 > 5'000'000'000ull) {
                std::fprintf(stderr, "ckpt_pingpong: no echo for frame %zu within 5 s\n", i);
                return 1;
            }
        }
        rtt[i] = now_ns() - t0;
    }
    std::sort(rtt.begin(), rtt.end());
    auto pct = [&](double p) {
        return static_cast<double>(rtt[std::min(rtt.size() - 1, static_cast<std::size_t>(p * rtt.size()))]) / 1000.0;
    };
    const char* transport = transport_name(o);
    if (o.json)
        std::printf("{\"transport\":\"%s\",\"size\":%zu,\"count\":%zu,\"p50_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,"
                    "\"max_us\":%.3f,\"corrupt\":%zu}\n",
                    transport, frame.size(), o.count, pct(0.5), pct(0.99), pct(0.999), pct(1.0), bad);
    else
        std::printf("%s %zu B x %zu round trips: p50 %.3f us, p99 %.3f us, p99.9 %.3f us, max %.3f us\n", transport,
                    frame.size(), o.count, pct(0.5), pct(0.99), pct(0.999), pct(1.0));
    if (o.verify) {
        if (bad) {
            std::printf("verify: %zu corrupt echoes; first: %s\n", bad, first_error.c_str());
            return 1;
        }
        std::printf("verified %zu frames\n", o.count);
    }
    return 0;
}

/// af_packet: probe echoes every 50 ms until the server answers one (it may still be starting),
/// then 50 ms more to take in the answers to the other probes.
bool wait_for_server(Link& link, const Options& o) {
    constexpr std::uint64_t kProbe = kStop - 1;
    std::vector<std::byte> probe(kHeader);
    fill_frame(probe, kProbe);
    const std::uint64_t t0 = now_ns(), end = t0 + std::uint64_t{o.link_wait_ms} * 1'000'000;
    bool answered = false;
    std::uint64_t drain_until = 0;
    for (std::uint64_t sent = 0; now_ns() < (answered ? drain_until : end);) {
        if (!answered && now_ns() - sent > 50'000'000) {
            link.send(probe);
            sent = now_ns();
        }
        link.poll([&](std::span<const std::byte> f) {
            if (answered || ether_type_of(f) != kEtherType || seq_of(f) != kProbe) return;
            answered = true;
            drain_until = now_ns() + 50'000'000;
        });
    }
    if (!answered) std::fprintf(stderr, "ckpt_pingpong: no answer from the server within %u ms\n", o.link_wait_ms);
    return answered;
}

int run_client(Link& link, const Options& o) {
    if (!o.af_packet.empty() && !wait_for_server(link, o)) return 1;
    int rc = 0;
    if (o.stream_ms)
        rc = run_stream(link, o);
    else if (!o.message.empty())
        for (std::size_t bytes : o.message) rc = rc ? rc : run_messages(link, o, bytes);
    else
        rc = run_echo(link, o);
    // End the server, and wait for its echo of the stop frame before going: a frame still in a
    // memif ring when this end disconnects is lost with the ring (and an af_packet socket ring may
    // drop one), and the server would wait for it until its deadline.
    std::vector<std::byte> stop(kHeader);
    fill_frame(stop, kStop);
    bool answered = false;
    for (int attempt = 0; attempt < 20 && !answered; ++attempt) {
        link.send(stop);
        const std::uint64_t until = now_ns() + 100'000'000;
        while (!answered && now_ns() < until)
            link.poll([&](std::span<const std::byte> f) {
                answered |= ether_type_of(f) == kEtherType && seq_of(f) == kStop;
            });
    }
    if (!answered) std::fprintf(stderr, "ckpt_pingpong: the server did not echo the stop frame within 2 s\n");
    return rc;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"ckpt_pingpong: raw round trips over DPDK memif, DPDK af_packet or kernel UDP (the baseline)"};
    app.add_option("role", o.role, "server or client")->required()->check(CLI::IsMember({"server", "client"}));
    app.add_option("--socket", o.socket, "memif control socket path");
    app.add_option("--prefix", o.prefix, "DPDK --file-prefix (default: unique)");
    app.add_option("--lcore", o.lcore, "DPDK lcore list");
    auto* udp = app.add_option("--udp", o.udp_port, "use a kernel UDP socket on 127.0.0.1:PORT instead of DPDK");
    app.add_option("--af-packet", o.af_packet,
                   "use DPDK af_packet on this kernel interface (e.g. a veth end) instead of memif")
        ->excludes(udp);
    app.add_option("--count", o.count, "round trips")->check(CLI::PositiveNumber);
    app.add_option("--size", o.size, "frame size in bytes (>= 30)")->check(CLI::Range(30, 9000));
    app.add_option("--link-wait-ms", o.link_wait_ms,
                   "how long to wait for the memif peer (af_packet: for the server to answer a probe)");
    app.add_flag("--verify", o.verify, "check every echo (sequence, size, XXH3)");
    app.add_flag("--json", o.json, "one JSON object on stdout (one per size with --message)");
    app.add_option("--message", o.message,
                   "message mode: payload bytes per message (comma-separated sizes run in turn), sent in "
                   "frames of at most MTU + 14 bytes, answered with one ACK frame")
        ->delimiter(',')
        ->check(CLI::Range(std::size_t{1}, std::size_t{64} << 20));
    app.add_option("--mtu", o.mtu, "message mode: the link MTU (a frame carries at most MTU - 28 payload bytes)")
        ->check(CLI::Range(576, 9000));
    app.add_option("--stream-ms", o.stream_ms, "stream mode: send frames of --size bytes for this long (one way)");
    app.add_option("--rate", o.rate,
                   "message mode: open loop, one message every 1/RATE s, latency from the intended send time")
        ->check(CLI::Range(1.0, 10e6));
    app.add_option("--samples", o.samples, "message mode: write every latency (ns) to SAMPLES<bytes>.ns");
    CLI11_PARSE(app, argc, argv);
    auto link = open_link(o);
    if (!link) return 2;
    int rc = o.role == "server" ? serve(*link, o) : run_client(*link, o);
    link.reset();
    ckpt::net::eal_cleanup();
    return rc;
}

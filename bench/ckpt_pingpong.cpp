// ckpt_pingpong: raw round trips between two processes, the baseline every replication figure is
// compared with (same link, same run). Transports: DPDK memif (the embedded default) or a kernel
// UDP socket on loopback.
//
//   ckpt_pingpong server --socket PATH [--lcore N] [--prefix P] [--udp PORT]
//   ckpt_pingpong client --socket PATH [--lcore N] [--prefix P] [--udp PORT]
//                        [--count N] [--size BYTES] [--verify] [--json]
//
// The client sends a frame, waits for its echo, and records the round trip in a preallocated array
// (no allocation in the timed loop); it prints p50/p99/p99.9/max in microseconds. With --verify
// every echo is checked (sequence, size, XXH3 of the payload) and any mismatch fails the run: the
// transport test uses this mode.
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
#include <cstring>
#include <vector>

namespace {

constexpr std::uint16_t kEtherType = 0x88B5; // IEEE local experimental: raw baseline frames only
constexpr std::size_t kHeader = 14 + 16;     // Ethernet + (u64 seq, u64 payload hash)

std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<std::uint64_t>(ts.tv_nsec);
}

void fill_frame(std::vector<std::byte>& f, std::uint64_t seq) {
    std::memset(f.data(), 0xff, 6); // broadcast: memif is point to point
    std::memset(f.data() + 6, 0x02, 6);
    f[12] = std::byte{kEtherType >> 8};
    f[13] = std::byte{kEtherType & 0xff};
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
    int udp_port = 0;
    unsigned link_wait_ms = 20000;
    std::size_t count = 100000, size = 64;
    bool verify = false, json = false;
};

/// A transport: DPDK memif port or kernel UDP socket, same two operations.
struct Link {
    virtual ~Link() = default;
    virtual bool send(std::span<const std::byte> f) = 0;
    /// Polls for one frame; calls fn and returns true when one arrived.
    virtual bool poll(const std::function<void(std::span<const std::byte>)>& fn) = 0;
};

struct MemifLink : Link {
    ckpt::net::Port port;
    explicit MemifLink(ckpt::net::Port p) : port(std::move(p)) {}
    bool send(std::span<const std::byte> f) override { return port.send_one(f); }
    bool poll(const std::function<void(std::span<const std::byte>)>& fn) override {
        return port.receive([&](std::span<const std::byte> f) { fn(f); }, 1) > 0;
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
    bool poll(const std::function<void(std::span<const std::byte>)>& fn) override {
        sockaddr_in from{};
        socklen_t len = sizeof from;
        ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0) return false;
        if (!have_peer) {
            peer = from;
            have_peer = true;
        }
        fn({buf.data(), static_cast<std::size_t>(n)});
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
    eal.lcores = o.lcore;
    eal.memory_mb = 128;
    eal.vdevs = {"net_memif0,role=" + o.role + ",socket=" + o.socket + ",socket-abstract=no"}; // a real path
    if (auto s = ckpt::net::eal_init(eal); !s) {
        std::fprintf(stderr, "ckpt_pingpong: %s\n", s.message().c_str());
        return nullptr;
    }
    ckpt::net::PortOptions po;
    po.link_wait_ms = o.link_wait_ms;
    auto port = ckpt::net::Port::open("net_memif0", po);
    if (!port) {
        std::fprintf(stderr, "ckpt_pingpong: %s\n", port.message().c_str());
        return nullptr;
    }
    return std::make_unique<MemifLink>(std::move(*port));
}

int serve(Link& link, const Options& o) {
    // Echo until the client sends a zero-length-payload frame (size == kHeader, seq ~0).
    std::vector<std::byte> copy(65536);
    std::uint64_t echoed = 0;
    const std::uint64_t deadline = now_ns() + 300ull * 1'000'000'000;
    bool done = false;
    while (!done && now_ns() < deadline) {
        link.poll([&](std::span<const std::byte> f) {
            std::uint64_t seq = 0;
            if (f.size() >= kHeader) std::memcpy(&seq, f.data() + 14, 8);
            if (seq == ~0ull) done = true;
            std::memcpy(copy.data(), f.data(), f.size());
            link.send({copy.data(), f.size()});
            ++echoed;
        });
    }
    if (!o.json) std::printf("server: echoed %llu frames\n", static_cast<unsigned long long>(echoed));
    return done ? 0 : 1;
}

int run_client(Link& link, const Options& o) {
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
            got = link.poll([&](std::span<const std::byte> f) {
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
    std::vector<std::byte> stop(kHeader);
    fill_frame(stop, ~0ull);
    link.send(stop);
    std::sort(rtt.begin(), rtt.end());
    auto pct = [&](double p) {
        return static_cast<double>(rtt[std::min(rtt.size() - 1, static_cast<std::size_t>(p * rtt.size()))]) / 1000.0;
    };
    const char* transport = o.udp_port ? "kernel-udp" : "dpdk-memif";
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

} // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"ckpt_pingpong: raw round trips over DPDK memif or kernel UDP (the baseline)"};
    app.add_option("role", o.role, "server or client")->required()->check(CLI::IsMember({"server", "client"}));
    app.add_option("--socket", o.socket, "memif control socket path");
    app.add_option("--prefix", o.prefix, "DPDK --file-prefix (default: unique)");
    app.add_option("--lcore", o.lcore, "DPDK lcore list");
    app.add_option("--udp", o.udp_port, "use a kernel UDP socket on 127.0.0.1:PORT instead of DPDK");
    app.add_option("--count", o.count, "round trips")->check(CLI::PositiveNumber);
    app.add_option("--size", o.size, "frame size in bytes (>= 30)")->check(CLI::Range(30, 9000));
    app.add_option("--link-wait-ms", o.link_wait_ms, "how long to wait for the memif peer");
    app.add_flag("--verify", o.verify, "check every echo (sequence, size, XXH3)");
    app.add_flag("--json", o.json, "one JSON object on stdout");
    CLI11_PARSE(app, argc, argv);
    auto link = open_link(o);
    if (!link) return 2;
    int rc = o.role == "server" ? serve(*link, o) : run_client(*link, o);
    link.reset();
    ckpt::net::eal_cleanup();
    return rc;
}

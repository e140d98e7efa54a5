// ckpt_e2e: end-to-end replication between two ckptd engines, each figure next to a raw baseline
// measured in the same run (DESIGN.md, "Measuring"):
//
//   1. sync commit latency (write() + commit(Ack::kSync), p50/p99/p99.9) over DPDK memif for 64 B,
//      4 KiB and 64 KiB changed per commit, against ckpt_pingpong's message mode on a memif link
//      (the same payload in MTU-sized frames, one ACK frame back); engines busy-polling
//      (idle_spin_us = 1000000, commits back to back) and with ckptd's defaults (idle_spin_us =
//      50, commits --gap-us apart, so both engines have gone to sleep), reported separately;
//   2. replication throughput: async commits of 1 KiB, 64 KiB and 1 MiB for a fixed time, then
//      waiting until the standby applied the last one (lag 0), against ckpt_pingpong's one-way
//      stream of frames of the same payload size on a memif link;
//   3. wire bytes / changed bytes, from the active engine's counters (Session::peers());
//   4. the sync latency again over transport = udp on loopback, against ckpt_pingpong's kernel
//      UDP message mode;
//   5. over transport = af_packet (DPDK af_packet on a veth pair between two network namespaces,
//      ckpt::testing::VethPair): engine A in ns1, engine B in ns2, busy-polling; sync latency against
//      ckpt_pingpong --af-packet message mode (client in ns1, server in ns2, same veth), async
//      throughput against its one-way stream, and wire bytes. The writer (this process) stays in
//      the root namespace: the control socket and /dev/shm are not separated by namespaces.
// To split the memif round trip, the same sync commits also run on one engine without peers
// (node-local, same pinning): the local hand-off between the application and its engine.
//
// Every figure is checked: the standby must have applied every commit (its commits_applied
// counter), and the section's bytes must be identical on both nodes at the end.
//
// It starts the engines (fork/exec of ckptd, through tests/testing's EngineProcess) and the
// ping-pong processes itself, pins them, runs `rounds` rounds (alternating the order of the steps)
// and prints a Markdown table of the medians over the rounds, each with its ratio to its baseline;
// --json FILE writes the same figures, every round's values and the run's conditions as JSON.
//
//   ckpt_e2e [--quick] [--rounds N] [--count N] [--count-idle N] [--gap-us US] [--tput-ms MS] [--json FILE]
//            [--ckptd PATH] [--pingpong PATH] [--client-cpu N] [--no-udp] [--no-af-packet] [--only STEP]
//            [--keep-logs]
//            [--engine-set KEY=VALUE]...
//
// The latency of one commit is write() (which returns at once: the previous commit is acknowledged)
// plus commit(kSync), timed with CLOCK_MONOTONIC into a preallocated array; the application's own
// stores into the span between them are not timed. The ping-pong's round trip likewise runs from
// its first send to the ACK, with its frames built beforehand.
//
// Pinning (2 CPUs): engine A (the active, memif server) on CPU 0 (taskset + dpdk_lcores = 0),
// engine B (the standby) on CPU 1, this process (the writing application) on --client-cpu (0: it
// shares A's core, as an application shares its node's engine; both yield). Raw baselines mirror
// it: the ping-pong client on CPU 0, the server (echo side) on CPU 1.
#include "children.hpp"
#include "ckpt/client/session.hpp"
#include "engine_pair.hpp"
#include "netns.hpp"
#include "report.hpp"
#include "tool_lifecycle.hpp"

#include <CLI/CLI.hpp>

#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace ckpt;
using namespace ckpt::client;
using namespace ckpt::bench;

struct Options {
    std::string ckptd, pingpong, json, redis_wait;
    std::string samples; ///< directory for per-operation latencies (CDF plots), empty: none
    double rate = 0;     ///< open-loop figures at this many sync commits (and raw messages) per second
    bool quick = false, no_udp = false, no_af_packet = false, keep_logs = false;
    unsigned rounds = 3;
    std::size_t count = 20000;     ///< sync commits (and raw round trips) per size, after a warm-up
    std::size_t count_idle = 5000; ///< default mode: sync commits per size (each after a gap)
    unsigned gap_us = 1000;        ///< default mode: pause before each sync commit (the engines go idle)
    unsigned tput_ms = 3000;       ///< async commits per size for this long
    int client_cpu = 0;            ///< this process (the writer)
    int cpu_a = 0, cpu_b = 1;      ///< engine A (active) and engine B (standby); raw client and server
    std::uint32_t block = 256;     ///< the checkpoint's block size (the default)
    unsigned sections = 1;         ///< async commits of up to 16 KiB go round-robin over this many sections
    std::vector<std::size_t> async_sizes = {1024, 65536, 1 << 20}; ///< bytes per async commit, one figure each
    std::string log_dir;                                           ///< engines' and ping-pongs' output
    std::string argv_line;                                         ///< how we were called
    std::string only;                                              ///< run only the steps whose name contains this
    std::vector<std::string> engine_set; ///< extra "key = value" lines for every engine (experiments)
    std::string ip_cmd;                  ///< absolute path of iproute2's ip (af_packet: ip netns exec)
};

/// The veth pair of the af_packet steps (created in main when they run; its destructor deletes
/// both namespaces, the veth with them).
const ckpt::testing::VethPair* g_veth = nullptr;

constexpr std::size_t kSyncSizes[] = {64, 4096, 65536};
constexpr std::size_t kMtu = 1500;                    ///< ckptd's default link MTU
constexpr std::size_t kUdpHeaders = 14 + 20 + 8;      ///< Ethernet + IPv4 + UDP
constexpr std::size_t kMaxUdpPayload = kMtu - 20 - 8; ///< 1472

// ------------------------------------------------------------------------------------------
// Raw baselines (ckpt_pingpong)
// ------------------------------------------------------------------------------------------

/// Runs one ckpt_pingpong server/client pair; returns the client's JSON lines (empty on failure).
/// `kind`: "memif", "udp" (transport holds --udp PORT) or "af_packet" (the server in ns2 on dev2,
/// the client in ns1 on dev1, through ip netns exec).
std::vector<std::string> pingpong_pair(const Options& o, Results& res, const std::string& tag,
                                       const std::vector<std::string>& transport, const std::vector<std::string>& args,
                                       const std::string& kind, int timeout_ms) {
    const bool memif = kind == "memif", afp = kind == "af_packet";
    if (afp && !g_veth) {
        res.error(tag + ": no veth pair");
        return {};
    }
    static int n = 0;
    const std::string id = "hs-e2e-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
    const std::string sock = "/tmp/" + id + ".sock";
    const std::string log = o.log_dir + "/" + tag + ".log";
    std::vector<std::string> srv = {o.pingpong, "server", "--json"}, cli = {o.pingpong, "client", "--json"};
    if (afp) {
        srv.insert(srv.begin(), {o.ip_cmd, "netns", "exec", g_veth->ns2()});
        cli.insert(cli.begin(), {o.ip_cmd, "netns", "exec", g_veth->ns1()});
        srv.insert(srv.end(),
                   {"--af-packet", g_veth->dev2(), "--lcore", std::to_string(o.cpu_b), "--prefix", id + "-s"});
        cli.insert(cli.end(), {"--af-packet", g_veth->dev1(), "--lcore", std::to_string(o.cpu_a), "--prefix", id + "-c",
                               "--link-wait-ms", "30000"}); // the client probes until the server answers
    }
    if (memif) {
        srv.insert(srv.end(), {"--socket", sock, "--lcore", std::to_string(o.cpu_b), "--prefix", id + "-s"});
        cli.insert(cli.end(), {"--socket", sock, "--lcore", std::to_string(o.cpu_a), "--prefix", id + "-c"});
    }
    srv.insert(srv.end(), transport.begin(), transport.end());
    cli.insert(cli.end(), transport.begin(), transport.end());
    cli.insert(cli.end(), args.begin(), args.end());
    ::unlink(sock.c_str());
    Child server = spawn(srv, o.cpu_b, log, false);
    if (memif) { // the memif server creates the socket; the client must find it
        struct stat st {};
        for (int i = 0; i < 500 && ::stat(sock.c_str(), &st) != 0; ++i) ::usleep(10'000);
    } else if (!afp) {
        ::usleep(100'000); // the UDP server binds
    }
    Child client = spawn(cli, o.cpu_a, log, true);
    std::string out = read_all(client, timeout_ms);
    int crc = reap(client, 5000), src = reap(server, 5000);
    ::unlink(sock.c_str());
    std::error_code ec;
    if (memif || afp)
        for (const char* s : {"-s", "-c"}) std::filesystem::remove_all("/var/run/dpdk/" + id + s, ec);
    if (crc != 0 || src != 0) {
        res.error(tag + ": ckpt_pingpong client exit " + std::to_string(crc) + ", server exit " + std::to_string(src) +
                  " (log: " + log + ")\n" + read_file(log));
        return {};
    }
    return lines_of(out);
}

/// `t`: memif, udp or af_packet.
/// `t`: memif, udp or af_packet; `rate` > 0: open loop at that many messages per second.
void raw_messages(const Options& o, Results& res, const std::string& t, double rate = 0) {
    std::string sizes;
    for (auto s : kSyncSizes) sizes += (sizes.empty() ? "" : ",") + std::to_string(s);
    std::vector<std::string> transport;
    if (t == "udp") transport = {"--udp", std::to_string(20001 + ::getpid() % 10000 * 2)};
    const std::string kind = rate > 0 ? ".open." : ".msg.";
    std::vector<std::string> args = {"--message",         sizes, "--count", std::to_string(o.count), "--mtu",
                                     std::to_string(kMtu)};
    if (rate > 0) args.insert(args.end(), {"--rate", fmt("%.0f", rate)});
    if (!o.samples.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(o.samples, ec);
        args.insert(args.end(), {"--samples", o.samples + "/raw." + t + kind});
    }
    auto lines = pingpong_pair(o, res, "raw-" + t + "-message", transport, args, t, 600'000);
    for (auto& l : lines) {
        const auto bytes = static_cast<std::size_t>(json_num(l, "bytes"));
        const std::string k = "raw." + t + kind + std::to_string(bytes);
        put_lat(res, k, {json_num(l, "p50_us"), json_num(l, "p99_us"), json_num(l, "p999_us"), json_num(l, "max_us")});
        res.put(k + ".frames", json_num(l, "frames"));
    }
}

/// Redis 7 primary + replica on loopback (bench/redis_wait): SET of the same payload, then WAIT 1.
void redis_messages(const Options& o, Results& res) {
    for (auto n : kSyncSizes) {
        if (g_stop) return;
        const std::string log = o.log_dir + "/redis-" + std::to_string(n) + ".log";
        std::vector<std::string> argv = {o.redis_wait,
                                         "--size",
                                         std::to_string(n),
                                         "--count",
                                         std::to_string(o.count),
                                         "--client-cpu",
                                         std::to_string(o.cpu_a),
                                         "--primary-cpu",
                                         std::to_string(o.cpu_a),
                                         "--replica-cpu",
                                         std::to_string(o.cpu_b)};
        if (!o.samples.empty())
            argv.insert(argv.end(), {"--samples", o.samples + "/redis.wait." + std::to_string(n) + ".ns"});
        Child c = spawn(argv, o.cpu_a, log, true);
        const std::string out = read_all(c, 600'000);
        const int rc = reap(c, 10'000);
        auto lines = lines_of(out);
        if (rc != 0 || lines.empty()) {
            res.error("redis_wait --size " + std::to_string(n) + ": exit " + std::to_string(rc) + "\n" +
                      read_file(log));
            continue;
        }
        const std::string k = "redis.wait." + std::to_string(n);
        const auto& l = lines.back();
        put_lat(res, k, {json_num(l, "p50_us"), json_num(l, "p99_us"), json_num(l, "p999_us"), json_num(l, "max_us")});
    }
}

/// The raw stream for a commit size: frames of the payload a UDP datagram would carry at the
/// engine's MTU (at most 1472 bytes) plus 42 bytes of headers.
std::size_t stream_frame_for(std::size_t commit_bytes) {
    return std::min(commit_bytes, kMaxUdpPayload) + kUdpHeaders;
}

/// `t`: memif or af_packet.
void raw_streams(const Options& o, Results& res, const std::string& t) {
    std::vector<std::size_t> frames;
    for (auto s : o.async_sizes)
        if (std::find(frames.begin(), frames.end(), stream_frame_for(s)) == frames.end())
            frames.push_back(stream_frame_for(s));
    for (auto f : frames) {
        if (g_stop) return;
        auto lines = pingpong_pair(o, res, "raw-" + t + "-stream-" + std::to_string(f), {},
                                   {"--stream-ms", std::to_string(o.tput_ms), "--size", std::to_string(f)}, t,
                                   static_cast<int>(o.tput_ms) + 60'000);
        for (auto& l : lines) {
            const std::string k = "raw." + t + ".stream." + std::to_string(f);
            const double fps = json_num(l, "frames_per_s");
            res.put(k + ".frames_per_s", fps);
            res.put(k + ".payload_bytes_per_s", fps * static_cast<double>(f - kUdpHeaders));
            res.put(k + ".lost", json_num(l, "tx_frames") - json_num(l, "rx_frames"));
        }
    }
}

// ------------------------------------------------------------------------------------------
// Our figures on a pair of engines
// ------------------------------------------------------------------------------------------

PairConfig pair_config(const Options& o, const std::string& transport, bool busy) {
    PairConfig c;
    c.transport = transport;
    c.busy = busy;
    c.cpu_a = o.cpu_a;
    c.cpu_b = o.cpu_b;
    c.log_dir = o.log_dir;
    c.ip_cmd = o.ip_cmd;
    c.veth = g_veth;
    c.engine_set = o.engine_set;
    return c;
}

/// One checkpoint "e2e" on A with one 1 MiB section "s", replicated to B (which keeps a
/// hot-standby reader open), and the measurements on it.
class E2e {
public:
    E2e(const Options& o, Results& res, EnginePair& pair) : o_(o), res_(res), pair_(pair) {}
    ~E2e() {
        sec_ = Section{};
        ck_ = Checkpoint{};
        cb_ = Checkpoint{};
    }

    bool create() {
        CheckpointAttributes attrs;
        attrs.creation_flags = static_cast<std::uint32_t>(UpdateMode::kSync); // ALL_REPLICAS
        attrs.checkpoint_size = (2u << 20) + std::size_t{o_.sections} * kSmallSection;
        attrs.max_sections = 1 + o_.sections;
        attrs.max_section_size = 1u << 20;
        attrs.max_section_id_size = 16;
        attrs.block_size = o_.block;
        auto ck = pair_.a().create("e2e", attrs);
        if (!ck) return pair_.failed("create: " + ck.message());
        ck_ = std::move(*ck);
        SectionCreate sc;
        sc.id = "s";
        sc.capacity = 1u << 20;
        if (auto s = ck_.create_section(sc); !s) return pair_.failed("create_section: " + s.message());
        auto sec = ck_.section("s");
        if (!sec) return pair_.failed("section: " + sec.message());
        sec_ = *sec;
        // The standby holds the replica and is in sync before anything is timed.
        if (!pair_.wait_replica("e2e", ck_, cb_)) return false;
        // The section's install may follow the replica's creation by a moment.
        for (int i = 0; i < 3000 && pair_.b() && !cb_.section("s") && !g_stop; ++i) ::usleep(10'000);
        if (pair_.b() && !cb_.section("s")) return pair_.failed("the standby has no section 's' after 30 s");
        // --sections N: N - 1 more sections of 16 KiB, which small async commits take in turn (as
        // many sessions' states would): a second write of one section waits for its capture, so
        // only commits of several sections can be captured in one engine turn and share a frame.
        small_.clear();
        for (unsigned i = 1; i < o_.sections; ++i) {
            SectionCreate t;
            t.id = "t" + std::to_string(i);
            t.capacity = kSmallSection;
            if (auto s = ck_.create_section(t); !s) return pair_.failed("create_section: " + s.message());
            auto sec = ck_.section(t.id);
            if (!sec) return pair_.failed("section: " + sec.message());
            small_.push_back(*sec);
        }
        const std::string last_id = "t" + std::to_string(o_.sections - 1);
        for (int i = 0; i < 3000 && pair_.b() && o_.sections > 1 && !cb_.section(last_id) && !g_stop; ++i)
            ::usleep(10'000);
        if (pair_.b() && o_.sections > 1 && !cb_.section(last_id))
            return pair_.failed("the standby has no section '" + last_id + "' after 30 s");
        return true;
    }

    /// The section's bytes on the standby equal the active's.
    bool same_on_both() {
        auto sb = cb_.section("s");
        if (!sb) return pair_.failed("the standby lost section 's': " + sb.message());
        std::vector<std::byte> x(1u << 20), y(1u << 20);
        auto nx = sec_.read(0, x);
        auto ny = sb->read(0, y);
        if (!nx || !ny || *nx != *ny || std::memcmp(x.data(), y.data(), *nx) != 0)
            return pair_.failed("the standby's copy of the section differs from the active's");
        return true;
    }

    /// What crossed the wire between two counter snapshots, per changed byte; false when the
    /// standby did not apply every commit.
    bool put_wire(const std::string& k, const EnginePair::Counters& c0, const EnginePair::Counters& c1,
                  std::uint64_t commits, std::uint64_t changed) {
        const auto cd = static_cast<double>(changed);
        res_.put(k + ".wire_per_changed", static_cast<double>(c1.a.wire_bytes - c0.a.wire_bytes) / cd);
        res_.put(k + ".data_per_changed", static_cast<double>(c1.a.data_bytes - c0.a.data_bytes) / cd);
        res_.put(k + ".frames_per_commit",
                 static_cast<double>(c1.a.data_frames - c0.a.data_frames) / static_cast<double>(commits));
        res_.put(k + ".acks_per_commit",
                 static_cast<double>(c1.b.acks_sent - c0.b.acks_sent) / static_cast<double>(commits));
        res_.put(k + ".retransmits", static_cast<double>(c1.a.retransmits - c0.a.retransmits));
        res_.put(k + ".retransmits_per_commit",
                 static_cast<double>(c1.a.retransmits - c0.a.retransmits) / static_cast<double>(commits));
        res_.put(k + ".duplicates_at_standby", static_cast<double>(c1.b.duplicates - c0.b.duplicates));
        res_.put(k + ".nacks_from_standby", static_cast<double>(c1.b.nacks_sent - c0.b.nacks_sent));
        res_.put(k + ".tx_dropped_active", static_cast<double>(c1.a.tx_dropped - c0.a.tx_dropped));
        res_.put(k + ".tx_dropped_standby", static_cast<double>(c1.b.tx_dropped - c0.b.tx_dropped)); // ACKs
        res_.put(k + ".commits_acked", static_cast<double>(c1.a.commits_acked - c0.a.commits_acked));
        const std::uint64_t applied = c1.b.commits_applied - c0.b.commits_applied;
        const std::uint64_t refused = (c1.b.unknown_checkpoint - c0.b.unknown_checkpoint) +
                                      (c1.b.bad_commits - c0.b.bad_commits) + (c1.b.stale_epoch - c0.b.stale_epoch) +
                                      (c1.b.not_from_active - c0.b.not_from_active);
        if (applied != commits || refused != 0)
            return pair_.failed(k + ": the standby applied " + std::to_string(applied) + " of " +
                                std::to_string(commits) + " commits and refused " + std::to_string(refused) +
                                " frames");
        return same_on_both();
    }

    /// write() + `n` bytes through span() + commit(kSync), `count` times after a warm-up, each
    /// `gap_us` after the previous one returned (closed loop); or, with `rate` > 0, open loop: commit
    /// i is due at start + i / rate and its latency runs from that intended time to commit()'s
    /// return, so a slow commit that delays the next ones shows in theirs too.
    bool sync_latency(std::size_t n, std::size_t count, unsigned gap_us, double rate = 0) {
        const std::size_t warmup = std::min<std::size_t>(count / 10, 500);
        std::vector<std::uint64_t> lat(count);                    // preallocated: nothing allocates in the timed loop
        std::vector<std::uint64_t> service(rate > 0 ? count : 0); // open loop: from the actual start
        auto c0 = pair_.counters();
        if (!c0) return pair_.failed("peers() failed");
        std::size_t done = 0;
        const timespec gap{0, static_cast<long>(gap_us) * 1000};
        const std::uint64_t start = now_ns();
        for (std::size_t i = 0; i < warmup + count && !g_stop; ++i) {
            if (gap_us) ::nanosleep(&gap, nullptr);
            std::uint64_t due = 0;
            if (rate > 0) {
                due = start + static_cast<std::uint64_t>(static_cast<double>(i) * 1e9 / rate);
                // This process shares its CPU with engine A: waiting must leave the CPU to it (a
                // plain spin would hold it for a whole time slice), and must not sleep either (a
                // sleeper woken beside a busy-polling engine waits for the engine's slice to end).
                while (now_ns() < due) ::sched_yield();
            }
            const std::uint64_t t0 = now_ns();
            auto tx = sec_.write();
            const std::uint64_t t1 = now_ns();
            if (!tx) return pair_.failed("write(): " + tx.message());
            auto span = tx->span(0, n);
            std::memset(span.data(), static_cast<int>(i % 255 + 1), n); // every byte changes
            const std::uint64_t t2 = now_ns();
            auto r = tx->commit(Ack::kSync);
            const std::uint64_t t3 = now_ns();
            if (!r) return pair_.failed("commit(kSync) of " + std::to_string(n) + " B: " + r.message());
            if (i >= warmup) { // the application's stores are not timed in closed loop
                if (rate > 0) service[done] = t3 - t0;
                lat[done++] = rate > 0 ? t3 - due : (t1 - t0) + (t3 - t2);
            }
        }
        if (g_stop) return false;
        auto c1 = pair_.counters();
        if (!c1) return pair_.failed("peers() failed");
        const std::string k = "ours." + pair_.name() + (rate > 0 ? ".open." : ".sync.") + std::to_string(n);
        write_samples(o_.samples, k, lat, done);
        put_lat(res_, k, percentiles(lat));
        if (rate > 0) put_lat(res_, k + ".service", percentiles(service));
        return !pair_.b() || put_wire(k, *c0, *c1, warmup + count, (warmup + count) * n);
    }

    /// Async commits of `n` bytes for `ms`, then until the standby applied the last one.
    bool throughput(std::size_t n, unsigned ms) {
        auto c0 = pair_.counters();
        if (!c0) return pair_.failed("peers() failed");
        std::uint64_t commits = 0;
        // Small commits go round-robin over "s" and the --sections extras; larger ones to "s".
        const std::size_t ways = n <= kSmallSection ? 1 + small_.size() : 1;
        std::vector<std::uint64_t> last(ways, 0);
        auto section = [&](std::size_t i) -> Section& { return i == 0 ? sec_ : small_[i - 1]; };
        const std::uint64_t t0 = now_ns(), end = t0 + std::uint64_t{ms} * 1'000'000;
        while (now_ns() < end && !g_stop) {
            const std::size_t w = commits % ways;
            auto tx = section(w).write(std::chrono::seconds(30)); // waits for capture, and for lag < async_window
            if (!tx) return pair_.failed("write(): " + tx.message());
            auto span = tx->span(0, n);
            std::memset(span.data(), static_cast<int>(commits % 255 + 1), n);
            auto r = tx->commit(Ack::kAsync);
            if (!r) return pair_.failed("commit(kAsync): " + r.message());
            last[w] = *r;
            ++commits;
        }
        const std::uint64_t t1 = now_ns();
        const auto at_stop = ck_.replication(); // the lag the writer built up
        for (std::size_t w = 0; w < ways; ++w)
            if (auto ok = section(w).wait_acked(last[w], std::chrono::seconds(60)); last[w] && !ok)
                return pair_.failed("the standby did not apply the last async commit: " + ok.message());
        const std::uint64_t t2 = now_ns();
        if (g_stop) return false;
        const auto lag = ck_.replication().lag_commits;
        auto c1 = pair_.counters();
        if (!c1) return pair_.failed("peers() failed");
        const std::string k = "ours." + pair_.name() + ".async." + std::to_string(n);
        const double secs = static_cast<double>(t2 - t0) / 1e9;
        res_.put(k + ".commits_per_s", static_cast<double>(commits) / secs);
        res_.put(k + ".bytes_per_s", static_cast<double>(commits * n) / secs);
        res_.put(k + ".drain_ms", static_cast<double>(t2 - t1) / 1e6);
        res_.put(k + ".lag_after", static_cast<double>(lag));
        res_.put(k + ".lag_at_stop_commits", static_cast<double>(at_stop.lag_commits));
        res_.put(k + ".lag_at_stop_bytes", static_cast<double>(at_stop.lag_bytes));
        return put_wire(k, *c0, *c1, commits, commits * n);
    }

private:
    const Options& o_;
    Results& res_;
    EnginePair& pair_;
    Checkpoint ck_, cb_; ///< the active's handle, and the hot-standby reader's on B
    Section sec_;
    std::vector<Section> small_; ///< --sections: the extra sections small async commits take in turn
    static constexpr std::size_t kSmallSection = 16u << 10;
};

/// The node-local part alone: one engine without peers, same pinning, busy-polling.
void local(const Options& o, Results& res) {
    EnginePair pair(pair_config(o, "none", true), res);
    E2e p(o, res, pair);
    if (!pair.start() || !p.create()) return;
    for (auto n : kSyncSizes)
        if (g_stop || !p.sync_latency(n, o.count, 0)) return;
}

void ours(const Options& o, Results& res, const std::string& transport, bool busy, bool tput) {
    EnginePair pair(pair_config(o, transport, busy), res);
    E2e p(o, res, pair);
    if (!pair.start() || !p.create()) return;
    for (auto n : kSyncSizes)
        if (g_stop || !p.sync_latency(n, busy ? o.count : o.count_idle, busy ? 0 : o.gap_us)) return;
    if (busy && o.rate > 0)
        for (auto n : kSyncSizes)
            if (g_stop || !p.sync_latency(n, o.count, 0, o.rate)) return;
    if (tput)
        for (auto n : o.async_sizes)
            if (g_stop || !p.throughput(n, o.tput_ms)) return;
}
// ------------------------------------------------------------------------------------------
// Report
// ------------------------------------------------------------------------------------------

std::vector<Row> build_rows(const Options& o, const Results& r) {
    std::vector<Row> rows;
    auto lat3 = [&](const std::string& k) {
        return us(r.med(k + ".p50")) + " / " + us(r.med(k + ".p99")) + " / " + us(r.med(k + ".p999"));
    };
    // A latency row: our p50/p99/p99.9 next to the baseline's, ratio at p50 (and p99).
    auto latency_row = [&](const std::string& k, const std::string& b, std::string figure, std::string base_name) {
        Row row;
        row.key = k;
        row.base_key = b;
        row.figure = std::move(figure);
        row.ours = lat3(k);
        row.base_name = std::move(base_name);
        row.base = r.has(b + ".p50") ? lat3(b) : "n/a";
        row.ours_v = r.med(k + ".p50");
        row.base_v = r.med(b + ".p50");
        row.ratio_v = row.ours_v / row.base_v;
        row.ratio = r.has(b + ".p50")
                        ? fmt("%.2fx", row.ratio_v) + " (" + fmt("%.2fx", r.med(k + ".p99") / r.med(b + ".p99")) + ")"
                        : "n/a";
        return row;
    };
    std::vector<std::string> transports = {"memif"};
    if (!o.no_udp) transports.push_back("udp");
    if (!o.no_af_packet) transports.push_back("af_packet");
    auto raw_name = [](const std::string& t) {
        return t == "memif"       ? std::string("raw DPDK memif")
               : t == "af_packet" ? std::string("raw DPDK af_packet (veth, two namespaces)")
                                  : std::string("raw kernel UDP");
    };
    // the node-local part of the memif round trip (shown under the memif busy-poll rows)
    auto local_rows = [&] {
        for (auto n : kSyncSizes) {
            const std::string k = "ours.none.busy.sync." + std::to_string(n);
            const std::string b = "ours.memif.busy.sync." + std::to_string(n);
            if (!r.has(k + ".p50")) continue;
            Row row;
            row.key = k;
            row.base_key = b;
            row.figure = "  of which node-local: the same commit on one engine without peers (same CPU as A), " +
                         size_name(n) + ": p50 / p99 / p99.9 us";
            row.ours = lat3(k);
            row.base_name = "sync commit over memif, busy-poll, " + size_name(n);
            row.base = r.has(b + ".p50") ? lat3(b) : "n/a";
            row.ours_v = r.med(k + ".p50");
            row.base_v = r.med(b + ".p50");
            row.ratio_v = row.ours_v / row.base_v;
            row.ratio = r.has(b + ".p50") ? fmt("%.2fx", row.ratio_v) : "n/a";
            rows.push_back(row);
        }
    };
    // 1 + 4: sync latency
    for (const auto& t : transports)
        for (bool busy : {true, false}) {
            if (t == "memif" && !busy) local_rows();
            for (auto n : kSyncSizes) {
                const std::string mode = busy ? "busy" : "default";
                const std::string k = "ours." + t + "." + mode + ".sync." + std::to_string(n);
                const std::string b = "raw." + t + ".msg." + std::to_string(n);
                if (!r.has(k + ".p50")) continue;
                const double frames = r.has(b + ".frames") ? r.med(b + ".frames") : 0;
                Row row = latency_row(
                    k, b,
                    "sync commit, " + t + ", " + (busy ? "busy-poll, back to back" : "defaults, commits apart") + ", " +
                        size_name(n) + " changed: p50 / p99 / p99.9 us",
                    raw_name(t) + " message of " + size_name(n) +
                        (frames > 0 ? " (" + fmt("%.0f", frames) + (frames > 1 ? " frames)" : " frame)") : "") +
                        " + ACK");
                const double p50 = r.med(k + ".p50"), p99 = r.med(k + ".p99");
                if (t == "memif" && !busy) {
                    row.verdict = "n/a";
                    row.target = "n/a: the targets are for busy-poll (here the engines sleep between commits); p99 = " +
                                 fmt("%.1fx", p99 / p50) + " p50";
                } else if (t == "memif") {
                    const bool a = r.has(b + ".p50") && p50 <= row.base_v + 1.0, c = p99 <= 2 * p50;
                    row.verdict = a && c ? "met" : "missed";
                    row.target = "p50 <= raw + 1 us: " + verdict_word(a) + " (" +
                                 (r.has(b + ".p50") ? fmt("%+.1f us", p50 - row.base_v) : "n/a") +
                                 "); p99 <= 2x p50: " + verdict_word(c) + " (" + fmt("%.1fx", p99 / p50) + ")";
                }
                rows.push_back(row);
            }
        }
    // open loop: the same commits at a fixed rate, latency from the intended start
    for (const auto& t : transports)
        for (auto n : kSyncSizes) {
            const std::string k = "ours." + t + ".busy.open." + std::to_string(n);
            const std::string b = "raw." + t + ".open." + std::to_string(n);
            if (!r.has(k + ".p50")) continue;
            rows.push_back(
                latency_row(k, b,
                            "sync commit, " + t + ", busy-poll, open loop at " + fmt("%.0f", o.rate) + "/s, " +
                                size_name(n) + " changed: p50 / p99 / p99.9 us from the intended start",
                            raw_name(t) + " message of " + size_name(n) + " + ACK, open loop at the same rate"));
        }
    // against Redis: SET + WAIT 1 on a loopback primary/replica pair, our sync commit over kernel UDP
    for (auto n : kSyncSizes) {
        const std::string k = "ours.udp.busy.sync." + std::to_string(n);
        const std::string b = "redis.wait." + std::to_string(n);
        if (!r.has(k + ".p50") || !r.has(b + ".p50")) continue;
        Row row = latency_row(
            k, b, "sync commit, kernel UDP on loopback, busy-poll, " + size_name(n) + " changed: p50 / p99 / p99.9 us",
            "Redis 7 primary + replica on loopback: SET of " + size_name(n) + " then WAIT 1");
        const double faster = row.base_v / row.ours_v;
        row.ratio = fmt("%.2fx", row.ratio_v) + " (" + fmt("%.1fx", faster) + " faster)";
        const bool met = faster >= 3.0;
        row.verdict = met ? "met" : "missed";
        row.target = ">= 3x faster than Redis at p50: " + verdict_word(met);
        rows.push_back(row);
    }
    // 2: throughput (memif; af_packet busy-poll)
    for (const auto& t : transports)
        for (bool busy : {true, false})
            for (auto n : o.async_sizes) {
                if (t == "udp") continue;
                const std::string k =
                    "ours." + t + "." + std::string(busy ? "busy" : "default") + ".async." + std::to_string(n);
                const std::size_t f = stream_frame_for(n);
                const std::string b = "raw." + t + ".stream." + std::to_string(f);
                if (!r.has(k + ".bytes_per_s")) continue;
                Row row;
                row.key = k;
                row.base_key = b;
                row.figure = "async commits, " + t + ", " + std::string(busy ? "busy-poll" : "defaults") + ", " +
                             size_name(n) + " dirty each: MB/s (commits/s)";
                row.ours =
                    fmt("%.0f", r.med(k + ".bytes_per_s") / 1e6) + " (" + grouped(r.med(k + ".commits_per_s")) + ")";
                row.base_name = raw_name(t) + " stream, " + std::to_string(f) + " B frames (" +
                                std::to_string(f - kUdpHeaders) + " B payload each): payload MB/s" +
                                (t == "af_packet" && r.has(b + ".lost")
                                     ? " received (" + grouped(r.med(b + ".lost")) + " frames lost)"
                                     : "");
                row.base =
                    r.has(b + ".payload_bytes_per_s") ? fmt("%.0f", r.med(b + ".payload_bytes_per_s") / 1e6) : "n/a";
                row.ours_v = r.med(k + ".bytes_per_s");
                row.base_v = r.med(b + ".payload_bytes_per_s");
                row.ratio_v = row.ours_v / row.base_v;
                row.ratio = r.has(b + ".payload_bytes_per_s") ? fmt("%.2fx", row.ratio_v) : "n/a";
                const bool met = row.ratio_v >= 0.7;
                if (t == "memif") {
                    row.verdict = !r.has(b + ".payload_bytes_per_s") ? "n/a" : met ? "met" : "missed";
                    row.target = !r.has(b + ".payload_bytes_per_s") ? "n/a" : ">= 0.7x: " + verdict_word(met);
                }
                rows.push_back(row);
            }
    // 3: wire bytes / changed bytes
    auto wire_row = [&](const std::string& k, const std::string& what) {
        if (!r.has(k + ".wire_per_changed")) return;
        Row row;
        row.key = k;
        row.figure = "wire bytes / changed bytes, " + what;
        row.ours_v = r.med(k + ".wire_per_changed");
        row.ours = fmt("%.4f", row.ours_v);
        row.base_name = "changed bytes (DATA payload / changed; per commit: DATA frames, ACK frames back, frames "
                        "sent again)";
        row.base = fmt("%.3f", r.med(k + ".data_per_changed")) + "; " + fmt("%.1f", r.med(k + ".frames_per_commit")) +
                   ", " + fmt("%.2f", r.med(k + ".acks_per_commit")) + ", " +
                   fmt("%.2f", r.med(k + ".retransmits_per_commit"));
        row.ratio_v = row.ours_v;
        row.ratio = fmt("%.4fx", row.ours_v);
        const bool met = row.ours_v <= 1.1;
        row.verdict = met ? "met" : "missed";
        row.target = "<= 1.1x: " + verdict_word(met);
        rows.push_back(row);
    };
    for (const std::string t : {"memif", "af_packet"}) {
        const std::string on = t == "memif" ? "" : " (" + t + ")";
        for (auto n : kSyncSizes)
            wire_row("ours." + t + ".busy.sync." + std::to_string(n), "sync, " + size_name(n) + on);
        for (auto n : o.async_sizes)
            wire_row("ours." + t + ".busy.async." + std::to_string(n), "async, " + size_name(n) + on);
    }
    return rows;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"ckpt_e2e: end-to-end replication between two ckptd engines, against raw link baselines"};
    app.add_flag("--quick", o.quick,
                 "one round, 2000 commits per size (1000 in default mode), 1 s per throughput figure (about 30 s)");
    app.add_option("--rounds", o.rounds, "rounds (the table shows the median over them)")->check(CLI::Range(1, 50));
    app.add_option("--count", o.count, "sync commits and raw round trips per size")->check(CLI::Range(100, 10'000'000));
    app.add_option("--count-idle", o.count_idle, "default mode: sync commits per size (each after --gap-us)")
        ->check(CLI::Range(100, 10'000'000));
    app.add_option("--gap-us", o.gap_us, "default mode: pause before each sync commit")->check(CLI::Range(0, 999'999));
    app.add_option("--tput-ms", o.tput_ms, "duration of each throughput figure")->check(CLI::Range(100, 600'000));
    app.add_option("--json", o.json, "also write the figures as JSON to this file");
    app.add_option("--samples", o.samples,
                   "write every sync commit's and raw message's latency (ns) to DIR/<figure>.ns (CDF plots)");
    app.add_option("--rate", o.rate,
                   "also run the busy-poll sync commits and raw messages open loop at this many per second "
                   "(latency from the intended start); 0: closed loop only")
        ->check(CLI::Range(0.0, 1e6));
    app.add_option("--redis-wait", o.redis_wait,
                   "bench/redis_wait, for the Redis SET+WAIT baseline of the kernel UDP figures (default: "
                   "$CKPT_REDIS_WAIT, else redis_wait beside this binary; none: the row is skipped)");
    app.add_option("--ckptd", o.ckptd, "ckptd to run (default: $CKPTD, else ../engine/ckptd beside this binary)");
    app.add_option("--pingpong", o.pingpong,
                   "ckpt_pingpong (default: $CKPT_PINGPONG, else ../tests/net/ckpt_pingpong or ckpt_pingpong beside "
                   "this binary)");
    app.add_option("--client-cpu", o.client_cpu, "CPU of this process (the writing application)");
    app.add_flag("--no-udp", o.no_udp, "skip the kernel UDP figures");
    app.add_flag("--no-af-packet", o.no_af_packet,
                 "skip the DPDK af_packet figures (a veth pair between two network namespaces)");
    app.add_option("--only", o.only,
                   "run only the steps whose name contains this (e.g. 'memif busy', 'raw', 'af_packet')");
    app.add_flag("--keep-logs", o.keep_logs, "keep the engines' and ping-pongs' logs");
    app.add_option("--sections", o.sections,
                   "async commits of up to 16 KiB take this many sections in turn (1: all to one section, the "
                   "default; several: commits of several sessions can be captured in one engine turn and coalesce)")
        ->check(CLI::Range(1u, 256u));
    app.add_option("--async-sizes", o.async_sizes,
                   "bytes per async commit, one throughput figure each (default 1024 65536 1048576)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
    app.add_option("--engine-set", o.engine_set,
                   "KEY=VALUE added to every engine's configuration, after the benchmark's own (repeatable; for "
                   "experiments, e.g. retransmit_ms=20 or mtu=9000: the table's command line says so)");
    CLI11_PARSE(app, argc, argv);
    if (o.quick) {
        if (app.count("--rounds") == 0) o.rounds = 1;
        if (app.count("--count") == 0) o.count = 2000;
        if (app.count("--count-idle") == 0) o.count_idle = 1000;
        if (app.count("--tput-ms") == 0) o.tput_ms = 1000;
    }
    for (int i = 0; i < argc; ++i) o.argv_line += (i ? " " : "") + std::string(argv[i]);
    o.pingpong = find_tool(o.pingpong, "CKPT_PINGPONG", {"../tests/net/ckpt_pingpong", "ckpt_pingpong"});
    o.redis_wait = find_tool(o.redis_wait, "CKPT_REDIS_WAIT", {"redis_wait"});
    if (o.pingpong.empty() || ::access(o.pingpong.c_str(), X_OK) != 0) {
        std::fprintf(stderr, "ckpt_e2e: no ckpt_pingpong (give --pingpong PATH)\n");
        return 2;
    }
    const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 2) o.cpu_b = 0;
    if (!prepare_tool("ckpt_e2e", o.ckptd, o.log_dir, o.client_cpu)) return 2;

    auto info = run_info(argc, argv);
    info["ckptd"] = o.ckptd;
    info["pingpong"] = o.pingpong;
    info["load_before"] = loadavg();
    info["rounds"] = std::to_string(o.rounds);
    info["count"] = std::to_string(o.count);
    info["tput_ms"] = std::to_string(o.tput_ms);
    info["block_size"] = std::to_string(o.block);
    info["sections"] = std::to_string(o.sections);
    info["mtu"] = std::to_string(kMtu);
    info["pinning"] = "engine A (active, memif server) CPU " + std::to_string(o.cpu_a) + " (taskset, dpdk_lcores " +
                      std::to_string(o.cpu_a) + "); engine B (standby) CPU " + std::to_string(o.cpu_b) +
                      "; writer (ckpt_e2e) CPU " + std::to_string(o.client_cpu) + "; raw ping-pong client CPU " +
                      std::to_string(o.cpu_a) + ", server CPU " + std::to_string(o.cpu_b);
    info["busy_poll"] = "idle_spin_us = " + std::to_string(kBusySpinUs) + " on both engines";
    info["default_mode"] = "ckptd defaults (idle_spin_us = 50, link_sleep_us = 200, heartbeat_ms = 50); sync commits " +
                           std::to_string(o.gap_us) + " us apart (" + std::to_string(o.count_idle) + " per size)";
    info["count_idle"] = std::to_string(o.count_idle);
    info["gap_us"] = std::to_string(o.gap_us);
    if (load1() > 1.0)
        std::fprintf(stderr, "ckpt_e2e: load average is %s: other work shares these CPUs; figures will show it\n",
                     info["load_before"].c_str());
    std::fprintf(stderr, "ckpt_e2e: %u round(s), %zu commits per size, %u ms per throughput figure; %s\n", o.rounds,
                 o.count, o.tput_ms, info["pinning"].c_str());

    info["redis_wait"] = o.redis_wait.empty() ? "none (no Redis baseline)" : o.redis_wait;
    info["rate"] = fmt("%.0f", o.rate);
    Results res;
    res.tool = "ckpt_e2e";
    CpuSampler cpu;
    cpu.sample();
    const std::uint64_t t_start = now_ns();
    using Step = std::pair<const char*, std::function<void()>>;
    std::vector<Step> steps = {
        {"raw memif messages", [&] { raw_messages(o, res, "memif"); }},
        {"ours memif busy-poll", [&] { ours(o, res, "memif", true, true); }},
        {"ours node-local busy-poll", [&] { local(o, res); }},
        {"raw memif streams", [&] { raw_streams(o, res, "memif"); }},
        {"ours memif default", [&] { ours(o, res, "memif", false, true); }},
    };
    if (o.rate > 0) steps.push_back({"raw memif open loop", [&] { raw_messages(o, res, "memif", o.rate); }});
    if (!o.no_udp) {
        steps.push_back({"raw kernel udp messages", [&] { raw_messages(o, res, "udp"); }});
        if (o.rate > 0) steps.push_back({"raw kernel udp open loop", [&] { raw_messages(o, res, "udp", o.rate); }});
        steps.push_back({"ours udp busy-poll", [&] { ours(o, res, "udp", true, false); }});
        steps.push_back({"ours udp default", [&] { ours(o, res, "udp", false, false); }});
        if (!o.redis_wait.empty())
            steps.push_back({"redis SET+WAIT (the udp baseline)", [&] { redis_messages(o, res); }});
    }
    if (!o.no_af_packet) {
        steps.push_back({"raw af_packet messages", [&] { raw_messages(o, res, "af_packet"); }});
        if (o.rate > 0)
            steps.push_back({"raw af_packet open loop", [&] { raw_messages(o, res, "af_packet", o.rate); }});
        steps.push_back({"ours af_packet busy-poll", [&] { ours(o, res, "af_packet", true, true); }});
        steps.push_back({"raw af_packet streams", [&] { raw_streams(o, res, "af_packet"); }});
    }
    // af_packet: the veth pair, made once for the run when one of its steps runs; deleted (with
    // both namespaces) when main returns, also after a failed step or a signal.
    std::unique_ptr<ckpt::testing::VethPair> veth;
    bool afp_runs = false;
    for (const auto& [what, fn] : steps)
        if (std::string(what).find("af_packet") != std::string::npos &&
            (o.only.empty() || std::string(what).find(o.only) != std::string::npos))
            afp_runs = true;
    if (afp_runs) {
        if (auto why = ckpt::testing::netns_unavailable(); !why.empty()) {
            res.error("af_packet: " + why);
        } else if (o.ip_cmd = run_cmd("command -v ip"); o.ip_cmd.empty() || o.ip_cmd[0] != '/') {
            res.error("af_packet: no iproute2 ip in PATH");
        } else {
            veth = std::make_unique<ckpt::testing::VethPair>("10.78.0.1", "10.78.0.2");
            if (!veth->ok())
                res.error("af_packet: the veth pair: " + veth->error());
            else
                g_veth = veth.get();
            info["af_packet"] = "veth " + veth->dev1() + " (" + veth->ns1() + ", " + veth->ip1() + ") <-> " +
                                veth->dev2() + " (" + veth->ns2() + ", " + veth->ip2() +
                                "); engine A and the raw client in the first namespace, engine B and the raw "
                                "server in the second; af_packet vdev qdisc_bypass=0";
        }
    }
    CpuSampler step_cpu;
    double worst_others = 0;
    std::string worst_step;
    for (unsigned round = 0; round < o.rounds && !g_stop; ++round) {
        std::vector<Step> order = steps;
        if (round % 2) std::reverse(order.begin(), order.end()); // interleave: ABC, CBA, ...
        for (auto& [what, fn] : order) {
            if (g_stop) break;
            if (!o.only.empty() && std::string(what).find(o.only) == std::string::npos) continue;
            std::fprintf(stderr, "ckpt_e2e: round %u/%u: %s (load %s)", round + 1, o.rounds, what, loadavg().c_str());
            step_cpu.sample();
            fn();
            const auto s = step_cpu.sample();
            std::fprintf(stderr, ": other processes used %.0f%% of the CPUs\n", s.others * 100);
            res.put(std::string("cpu_others.") + what, s.others);
            if (s.others > worst_others) worst_others = s.others, worst_step = what;
        }
    }
    const auto share = cpu.sample();
    info["load_after"] = loadavg();
    info["cpu_others"] = fmt("%.0f%%", share.others * 100) +
                         " of the CPUs over the run (most in one step: " + fmt("%.0f%%", worst_others * 100) + ", " +
                         worst_step + ")";
    info["seconds"] = fmt("%.1f", static_cast<double>(now_ns() - t_start) / 1e9);
    info["date_end"] = utc_now();

    auto rows = build_rows(o, res);
    return finish_tool("ckpt_e2e", "End-to-end replication", o.rounds, info,
                       {{"Pinning", "pinning"},
                        {"Busy-poll mode", "busy_poll"},
                        {"Default mode", "default_mode"},
                        {"af_packet", "af_packet"}},
                       rows, res, o.json, o.log_dir, o.keep_logs);
}

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
#include "ckpt/client/session.hpp"
#include "engine_process.hpp"
#include "netns.hpp"

#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace ckpt;
using namespace ckpt::client;
using ckpt::testing::EngineProcess;

std::atomic<bool> g_stop{false};

std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<std::uint64_t>(ts.tv_nsec);
}

struct Options {
    std::string ckptd, pingpong, json;
    bool quick = false, no_udp = false, no_af_packet = false, keep_logs = false;
    unsigned rounds = 3;
    std::size_t count = 20000;           ///< sync commits (and raw round trips) per size, after a warm-up
    std::size_t count_idle = 5000;       ///< default mode: sync commits per size (each after a gap)
    unsigned gap_us = 1000;              ///< default mode: pause before each sync commit (the engines go idle)
    unsigned tput_ms = 3000;             ///< async commits per size for this long
    int client_cpu = 0;                  ///< this process (the writer)
    int cpu_a = 0, cpu_b = 1;            ///< engine A (active) and engine B (standby); raw client and server
    std::uint32_t block = 256;           ///< the checkpoint's block size (the default)
    std::string log_dir;                 ///< engines' and ping-pongs' output
    std::string argv_line;               ///< how we were called
    std::string only;                    ///< run only the steps whose name contains this
    std::vector<std::string> engine_set; ///< extra "key = value" lines for every engine (experiments)
    std::string ip_cmd;                  ///< absolute path of iproute2's ip (af_packet: ip netns exec)
};

/// The veth pair of the af_packet steps (created in main when they run; its destructor deletes
/// both namespaces, the veth with them).
const ckpt::testing::VethPair* g_veth = nullptr;

constexpr std::size_t kSyncSizes[] = {64, 4096, 65536};
constexpr std::size_t kAsyncSizes[] = {1024, 65536, 1 << 20};
constexpr std::size_t kMtu = 1500;                    ///< ckptd's default link MTU
constexpr std::size_t kUdpHeaders = 14 + 20 + 8;      ///< Ethernet + IPv4 + UDP
constexpr std::size_t kMaxUdpPayload = kMtu - 20 - 8; ///< 1472
constexpr unsigned kBusySpinUs = 1'000'000;           ///< idle_spin_us of the busy-poll mode

std::string fmt(const char* f, double v) {
    char b[64];
    std::snprintf(b, sizeof b, f, v);
    return b;
}

/// "1,234" style integers for the table.
std::string grouped(double v) {
    char b[64];
    std::snprintf(b, sizeof b, "%.0f", v);
    std::string s = b, out;
    const std::size_t lead = s[0] == '-' ? 1 : 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i > lead && (s.size() - i) % 3 == 0) out += ',';
        out += s[i];
    }
    return out;
}

std::string size_name(std::size_t n) {
    if (n >= (1u << 20) && n % (1u << 20) == 0) return std::to_string(n >> 20) + " MiB";
    if (n >= 1024 && n % 1024 == 0) return std::to_string(n >> 10) + " KiB";
    return std::to_string(n) + " B";
}

std::string us(double v) {
    return v >= 100 ? fmt("%.0f", v) : v >= 10 ? fmt("%.1f", v) : fmt("%.2f", v);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string run_cmd(const std::string& cmd) {
    std::string out;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char b[256];
        while (std::fgets(b, sizeof b, p)) out += b;
        ::pclose(p);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

std::string loadavg() {
    auto s = read_file("/proc/loadavg");
    std::istringstream in(s);
    std::string a, b, c;
    in >> a >> b >> c;
    return a + " " + b + " " + c;
}

double load1() {
    return std::atof(loadavg().c_str());
}

/// CPU time since the previous call, as shares of all CPUs: everything busy (/proc/stat), and
/// what other processes used, i.e. busy minus this process and its reaped children (the engines
/// and ping-pongs of finished steps; a step's children are reaped before it ends).
struct CpuSampler {
    std::uint64_t busy = 0, total = 0, self = 0;
    struct Share {
        double busy = 0, others = 0;
    };
    Share sample() {
        std::istringstream in(read_file("/proc/stat"));
        std::string cpu;
        std::uint64_t v[10] = {}, t = 0;
        in >> cpu;
        for (auto& x : v) in >> x;
        for (int i = 0; i < 8; ++i) t += v[i];
        const std::uint64_t b = t - v[3] - v[4]; // minus idle and iowait
        // /proc/self/stat fields 14..17 (utime, stime, cutime, cstime), after the ")" of the name.
        std::string st = read_file("/proc/self/stat");
        std::istringstream ss(st.substr(st.rfind(')') + 2));
        std::string f;
        std::uint64_t me = 0;
        for (int i = 3; i <= 17 && ss >> f; ++i)
            if (i >= 14) me += std::strtoull(f.c_str(), nullptr, 10);
        Share s;
        if (t > total) {
            const auto dt = static_cast<double>(t - total);
            s.busy = static_cast<double>(b - busy) / dt;
            s.others = std::max(0.0, static_cast<double>(b - busy) - static_cast<double>(me - self)) / dt;
        }
        busy = b, total = t, self = me;
        return s;
    }
};

// ------------------------------------------------------------------------------------------
// Child processes (the ping-pong pair)
// ------------------------------------------------------------------------------------------

struct Child {
    pid_t pid = -1;
    int out = -1; ///< its stdout, when piped
};

/// fork/exec pinned to `cpu`; stdout into a pipe (pipe_out) or the log, stderr into the log.
Child spawn(const std::vector<std::string>& argv, int cpu, const std::string& log, bool pipe_out) {
    int p[2] = {-1, -1};
    if (pipe_out && ::pipe2(p, O_CLOEXEC) != 0) return {};
    Child c;
    c.pid = ::fork();
    if (c.pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL); // dies with us
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        ::sched_setaffinity(0, sizeof set, &set);
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(pipe_out ? p[1] : fd, 1);
        ::dup2(fd, 2);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    if (pipe_out) {
        ::close(p[1]);
        c.out = p[0];
    }
    return c;
}

/// Reads the child's stdout to EOF (or `timeout_ms`).
std::string read_all(Child& c, int timeout_ms) {
    std::string s;
    const std::uint64_t end = now_ns() + std::uint64_t(timeout_ms) * 1'000'000;
    while (c.out >= 0 && now_ns() < end && !g_stop) {
        pollfd p{c.out, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        char b[4096];
        ssize_t n = ::read(c.out, b, sizeof b);
        if (n <= 0) break;
        s.append(b, static_cast<std::size_t>(n));
    }
    if (c.out >= 0) ::close(c.out);
    c.out = -1;
    return s;
}

/// Waits up to `timeout_ms` for the child, then kills it; returns its exit code (128+sig).
int reap(Child& c, int timeout_ms) {
    if (c.pid <= 0) return -1;
    int st = 0;
    const std::uint64_t end = now_ns() + std::uint64_t(timeout_ms) * 1'000'000;
    for (;;) {
        pid_t r = ::waitpid(c.pid, &st, WNOHANG);
        if (r == c.pid) break;
        if (now_ns() > end || g_stop) {
            ::kill(c.pid, SIGKILL);
            ::waitpid(c.pid, &st, 0);
            break;
        }
        ::usleep(10'000);
    }
    c.pid = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/// A number from one line of ckpt_pingpong's JSON ("key":value); NaN when absent.
double json_num(const std::string& line, const std::string& key) {
    auto k = line.find("\"" + key + "\":");
    if (k == std::string::npos) return NAN;
    return std::strtod(line.c_str() + k + key.size() + 3, nullptr);
}

std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> v;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);)
        if (!l.empty() && l[0] == '{') v.push_back(l);
    return v;
}

// ------------------------------------------------------------------------------------------
// Results: every figure per round, medians at the end
// ------------------------------------------------------------------------------------------

struct Results {
    std::map<std::string, std::vector<double>> v;
    std::vector<std::string> errors;
    void put(const std::string& k, double x) { v[k].push_back(x); }
    bool has(const std::string& k) const { return v.count(k) && !v.at(k).empty(); }
    double med(const std::string& k) const {
        if (!has(k)) return NAN;
        auto x = v.at(k);
        std::sort(x.begin(), x.end());
        return x.size() % 2 ? x[x.size() / 2] : (x[x.size() / 2 - 1] + x[x.size() / 2]) / 2;
    }
    void error(const std::string& e) {
        std::fprintf(stderr, "ckpt_e2e: %s\n", e.c_str());
        errors.push_back(e);
    }
};

struct Lat {
    double p50 = 0, p99 = 0, p999 = 0, max = 0;
};

/// Percentiles of a latency sample in ns, as ckpt_pingpong computes them; in microseconds.
Lat percentiles(std::vector<std::uint64_t>& v) {
    std::sort(v.begin(), v.end());
    auto at = [&](double p) {
        return static_cast<double>(v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))]) / 1000.0;
    };
    return {at(0.5), at(0.99), at(0.999), at(1.0)};
}

void put_lat(Results& r, const std::string& k, const Lat& l) {
    r.put(k + ".p50", l.p50);
    r.put(k + ".p99", l.p99);
    r.put(k + ".p999", l.p999);
    r.put(k + ".max", l.max);
}

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
void raw_messages(const Options& o, Results& res, const std::string& t) {
    std::string sizes;
    for (auto s : kSyncSizes) sizes += (sizes.empty() ? "" : ",") + std::to_string(s);
    std::vector<std::string> transport;
    if (t == "udp") transport = {"--udp", std::to_string(20001 + ::getpid() % 10000 * 2)};
    auto lines = pingpong_pair(o, res, "raw-" + t + "-message", transport,
                               {"--message", sizes, "--count", std::to_string(o.count), "--mtu", std::to_string(kMtu)},
                               t, 600'000);
    for (auto& l : lines) {
        const auto bytes = static_cast<std::size_t>(json_num(l, "bytes"));
        const std::string k = "raw." + t + ".msg." + std::to_string(bytes);
        put_lat(res, k, {json_num(l, "p50_us"), json_num(l, "p99_us"), json_num(l, "p999_us"), json_num(l, "max_us")});
        res.put(k + ".frames", json_num(l, "frames"));
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
    for (auto s : kAsyncSizes)
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
// Two engines
// ------------------------------------------------------------------------------------------

/// Two ckptd nodes (A active, B standby) over memif, kernel UDP or af_packet (A in ns1, B in ns2
/// of g_veth), one checkpoint with one 1 MiB section created on A and replicated to B.
class Pair {
public:
    Pair(const Options& o, Results& res, std::string transport, bool busy)
        : o_(o), res_(res), transport_(std::move(transport)), busy_(busy) {}
    ~Pair() {
        sec_ = Section{};
        ck_ = Checkpoint{};
        cb_ = Checkpoint{};
        sa_.reset();
        sb_.reset();
        for (auto* e : {a_.get(), b_.get()})
            if (e) {
                copy_log(*e);
                e->stop();
            }
        a_.reset();
        b_.reset();
        if (!memif_.empty()) ::unlink(memif_.c_str());
    }

    std::string name() const { return transport_ + "." + (busy_ ? "busy" : "default"); }

    bool start() {
        static int n = 0;
        const std::string tag = "e2e-" + std::to_string(n++);
        std::vector<std::string> ca = common(), cb = common();
        if (transport_ == "none") {
            // One node-local engine on A's CPU: the local part of a commit round trip alone.
            a_ = std::make_unique<EngineProcess>(tag + "-a", ca);
            a_->set_prefix_command({"taskset", "-c", std::to_string(o_.cpu_a)});
            if (!a_->start()) return failed("engine A did not start", *a_);
            auto sa = Session::connect({a_->socket(), std::chrono::seconds(10), false});
            if (!sa) return failed("no session with the engine");
            sa_.emplace(std::move(*sa));
            return create_section();
        }
        if (transport_ == "memif") {
            memif_ = "/tmp/hotspare-" + tag + "-" + std::to_string(::getpid()) + ".sock";
            ::unlink(memif_.c_str());
            for (auto* c : {&ca, &cb}) c->push_back("memif_socket = " + memif_);
            ca.insert(ca.end(), {"memif_role = server", "dpdk_lcores = " + std::to_string(o_.cpu_a)});
            cb.insert(cb.end(), {"memif_role = client", "dpdk_lcores = " + std::to_string(o_.cpu_b)});
        } else if (transport_ == "af_packet") {
            if (!g_veth) return failed("no veth pair");
            const auto& v = *g_veth;
            ca.insert(ca.end(), {"af_packet_iface = " + v.dev1(), "ip = " + v.ip1(), "peers = 2@" + v.ip2(),
                                 "dpdk_lcores = " + std::to_string(o_.cpu_a)});
            cb.insert(cb.end(), {"af_packet_iface = " + v.dev2(), "ip = " + v.ip2(), "peers = 1@" + v.ip1(),
                                 "dpdk_lcores = " + std::to_string(o_.cpu_b)});
        } else {
            // Ports 40000..59999 by pid and pair (the raw UDP baseline uses 20000..59999, odd).
            const int pa = 40000 + (::getpid() * 8 + n * 2) % 20000, pb = pa + 1;
            ca.insert(ca.end(), {"ip = 127.0.0.1", "udp_port = " + std::to_string(pa),
                                 "peers = 2@127.0.0.1:" + std::to_string(pb)});
            cb.insert(cb.end(), {"ip = 127.0.0.1", "udp_port = " + std::to_string(pb),
                                 "peers = 1@127.0.0.1:" + std::to_string(pa)});
        }
        ca.insert(ca.end(), {"node_id = 1"});
        cb.insert(cb.end(), {"node_id = 2"});
        if (transport_ == "memif") {
            ca.push_back("peers = 2");
            cb.push_back("peers = 1");
        }
        a_ = std::make_unique<EngineProcess>(tag + "-a", ca);
        b_ = std::make_unique<EngineProcess>(tag + "-b", cb);
        if (transport_ == "af_packet") { // ip netns exec and taskset exec: the pid stays ckptd's
            a_->set_prefix_command(
                {o_.ip_cmd, "netns", "exec", g_veth->ns1(), "taskset", "-c", std::to_string(o_.cpu_a)});
            b_->set_prefix_command(
                {o_.ip_cmd, "netns", "exec", g_veth->ns2(), "taskset", "-c", std::to_string(o_.cpu_b)});
        } else {
            a_->set_prefix_command({"taskset", "-c", std::to_string(o_.cpu_a)});
            b_->set_prefix_command({"taskset", "-c", std::to_string(o_.cpu_b)});
        }
        if (!a_->start()) return failed("engine A did not start", *a_);
        if (!b_->start()) return failed("engine B did not start", *b_);
        if (!peer_up(a_->socket(), 2) || !peer_up(b_->socket(), 1)) return failed("the engines never saw each other");
        auto sa = Session::connect({a_->socket(), std::chrono::seconds(10), false});
        auto sb = Session::connect({b_->socket(), std::chrono::seconds(10), false});
        if (!sa || !sb) return failed("no session with the engines");
        sa_.emplace(std::move(*sa));
        sb_.emplace(std::move(*sb));
        if (!create_section()) return false;
        // The standby holds the replica and is in sync before anything is timed. A hot-standby
        // reader keeps it open there, as an application waiting to take over would.
        bool ready = false;
        for (int i = 0; i < 3000 && !ready && !g_stop; ++i) {
            if (!have_cb_)
                if (auto rb = sb_->open("e2e", kOpenRead)) cb_ = std::move(*rb), have_cb_ = true;
            ready = have_cb_ && cb_.section("s").ok() && ck_.replication().replicas >= 1 &&
                    ck_.replication().lag_commits == 0;
            if (!ready) ::usleep(10'000);
        }
        if (!ready) return failed("the standby never held an in-sync replica");
        return true;
    }

    /// One checkpoint on A with one 1 MiB section.
    bool create_section() {
        CheckpointAttributes attrs;
        attrs.creation_flags = static_cast<std::uint32_t>(UpdateMode::kSync); // ALL_REPLICAS
        attrs.checkpoint_size = 2u << 20;
        attrs.max_sections = 2;
        attrs.max_section_size = 1u << 20;
        attrs.max_section_id_size = 16;
        attrs.block_size = o_.block;
        auto ck = sa_->create("e2e", attrs);
        if (!ck) return failed("create: " + ck.message());
        ck_ = std::move(*ck);
        SectionCreate sc;
        sc.id = "s";
        sc.capacity = 1u << 20;
        if (auto s = ck_.create_section(sc); !s) return failed("create_section: " + s.message());
        auto sec = ck_.section("s");
        if (!sec) return failed("section: " + sec.message());
        sec_ = *sec;
        return true;
    }

    /// The section's bytes on the standby equal the active's.
    bool same_on_both() {
        auto sb = cb_.section("s");
        if (!sb) return failed("the standby lost section 's': " + sb.message());
        std::vector<std::byte> x(1u << 20), y(1u << 20);
        auto nx = sec_.read(0, x);
        auto ny = sb->read(0, y);
        if (!nx || !ny || *nx != *ny || std::memcmp(x.data(), y.data(), *nx) != 0)
            return failed("the standby's copy of the section differs from the active's");
        return true;
    }

    struct Counters {
        LinkInfo a, b;
    };
    std::optional<Counters> counters() {
        if (!sb_) return Counters{}; // node-local: nothing crosses a wire
        auto a = sa_->peers();
        auto b = sb_->peers();
        if (!a || !b) return std::nullopt;
        return Counters{*a, *b};
    }

    /// What crossed the wire between two counter snapshots, per changed byte; false when the
    /// standby did not apply every commit.
    bool put_wire(const std::string& k, const Counters& c0, const Counters& c1, std::uint64_t commits,
                  std::uint64_t changed) {
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
            return failed(k + ": the standby applied " + std::to_string(applied) + " of " + std::to_string(commits) +
                          " commits and refused " + std::to_string(refused) + " frames");
        return same_on_both();
    }

    /// write() + `n` bytes through span() + commit(kSync), `count` times after a warm-up, each
    /// `gap_us` after the previous one returned.
    bool sync_latency(std::size_t n, std::size_t count, unsigned gap_us) {
        const std::size_t warmup = std::min<std::size_t>(count / 10, 500);
        std::vector<std::uint64_t> lat(count); // preallocated: nothing allocates in the timed loop
        auto c0 = counters();
        if (!c0) return failed("peers() failed");
        std::size_t done = 0;
        const timespec gap{0, static_cast<long>(gap_us) * 1000};
        for (std::size_t i = 0; i < warmup + count && !g_stop; ++i) {
            if (gap_us) ::nanosleep(&gap, nullptr);
            const std::uint64_t t0 = now_ns();
            auto tx = sec_.write();
            const std::uint64_t t1 = now_ns();
            if (!tx) return failed("write(): " + tx.message());
            auto span = tx->span(0, n);
            std::memset(span.data(), static_cast<int>(i % 255 + 1), n); // every byte changes
            const std::uint64_t t2 = now_ns();
            auto r = tx->commit(Ack::kSync);
            const std::uint64_t t3 = now_ns();
            if (!r) return failed("commit(kSync) of " + std::to_string(n) + " B: " + r.message());
            if (i >= warmup) lat[done++] = (t1 - t0) + (t3 - t2); // the application's stores are not timed
        }
        if (g_stop) return false;
        auto c1 = counters();
        if (!c1) return failed("peers() failed");
        const std::string k = "ours." + name() + ".sync." + std::to_string(n);
        put_lat(res_, k, percentiles(lat));
        return !sb_ || put_wire(k, *c0, *c1, warmup + count, (warmup + count) * n);
    }

    /// Async commits of `n` bytes for `ms`, then until the standby applied the last one.
    bool throughput(std::size_t n, unsigned ms) {
        auto c0 = counters();
        if (!c0) return failed("peers() failed");
        std::uint64_t commits = 0, last = 0;
        const std::uint64_t t0 = now_ns(), end = t0 + std::uint64_t{ms} * 1'000'000;
        while (now_ns() < end && !g_stop) {
            auto tx = sec_.write(std::chrono::seconds(30)); // waits for capture, and for lag < async_window
            if (!tx) return failed("write(): " + tx.message());
            auto span = tx->span(0, n);
            std::memset(span.data(), static_cast<int>(commits % 255 + 1), n);
            auto r = tx->commit(Ack::kAsync);
            if (!r) return failed("commit(kAsync): " + r.message());
            last = *r;
            ++commits;
        }
        const std::uint64_t t1 = now_ns();
        const auto at_stop = ck_.replication(); // the lag the writer built up
        if (auto w = sec_.wait_acked(last, std::chrono::seconds(60)); !w)
            return failed("the standby did not apply the last async commit: " + w.message());
        const std::uint64_t t2 = now_ns();
        if (g_stop) return false;
        const auto lag = ck_.replication().lag_commits;
        auto c1 = counters();
        if (!c1) return failed("peers() failed");
        const std::string k = "ours." + name() + ".async." + std::to_string(n);
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
    std::vector<std::string> common() const {
        std::vector<std::string> c = {"transport = " + transport_, "scan_interval_ms = 200"};
        if (busy_) c.push_back("idle_spin_us = " + std::to_string(kBusySpinUs));
        for (const auto& kv : o_.engine_set) {
            const auto eq = kv.find('=');
            c.push_back(eq == std::string::npos ? kv : kv.substr(0, eq) + " = " + kv.substr(eq + 1));
        }
        return c;
    }
    bool peer_up(const std::string& socket, std::uint16_t peer) {
        for (int i = 0; i < 2000 && !g_stop; ++i) {
            if (auto s = Session::connect({socket, std::chrono::seconds(2), false}))
                if (auto l = s->peers())
                    for (auto& p : l->peers)
                        if (p.node_id == peer && p.state == "up") return true;
            ::usleep(10'000);
        }
        return false;
    }
    void copy_log(const EngineProcess& e) {
        std::ofstream(o_.log_dir + "/" + name() + "-" + (&e == a_.get() ? "a" : "b") + ".log", std::ios::app)
            << e.log();
    }
    bool failed(const std::string& what, const EngineProcess& e) { return failed(what + ":\n" + e.log()); }
    bool failed(const std::string& what) {
        if (!g_stop) res_.error(name() + ": " + what);
        return false;
    }

    const Options& o_;
    Results& res_;
    std::string transport_;
    bool busy_;
    std::string memif_;
    std::unique_ptr<EngineProcess> a_, b_;
    std::optional<Session> sa_, sb_;
    Checkpoint ck_, cb_; ///< the active's handle, and the hot-standby reader's on B
    bool have_cb_ = false;
    Section sec_;
};

/// The node-local part alone: one engine without peers, same pinning, busy-polling.
void local(const Options& o, Results& res) {
    Pair p(o, res, "none", true);
    if (!p.start()) return;
    for (auto n : kSyncSizes)
        if (g_stop || !p.sync_latency(n, o.count, 0)) return;
}

void ours(const Options& o, Results& res, const std::string& transport, bool busy, bool tput) {
    Pair p(o, res, transport, busy);
    if (!p.start()) return;
    for (auto n : kSyncSizes)
        if (g_stop || !p.sync_latency(n, busy ? o.count : o.count_idle, busy ? 0 : o.gap_us)) return;
    if (tput)
        for (auto n : kAsyncSizes)
            if (g_stop || !p.throughput(n, o.tput_ms)) return;
}

// ------------------------------------------------------------------------------------------
// Report
// ------------------------------------------------------------------------------------------

struct Row {
    std::string figure, ours, base_name, base, ratio, target;
    // JSON
    std::string key, base_key;
    double ours_v = NAN, base_v = NAN, ratio_v = NAN;
    std::string verdict;
};

std::string verdict(bool met) {
    return met ? "met" : "**MISSED**";
}

std::vector<Row> build_rows(const Options& o, const Results& r) {
    std::vector<Row> rows;
    auto lat3 = [&](const std::string& k) {
        return us(r.med(k + ".p50")) + " / " + us(r.med(k + ".p99")) + " / " + us(r.med(k + ".p999"));
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
                Row row;
                row.key = k;
                row.base_key = b;
                row.figure = "sync commit, " + t + ", " +
                             (busy ? "busy-poll, back to back" : "defaults, commits apart") + ", " + size_name(n) +
                             " changed: p50 / p99 / p99.9 us";
                row.ours = lat3(k);
                const double frames = r.has(b + ".frames") ? r.med(b + ".frames") : 0;
                row.base_name = raw_name(t) + " message of " + size_name(n) +
                                (frames > 0 ? " (" + fmt("%.0f", frames) + (frames > 1 ? " frames)" : " frame)") : "") +
                                " + ACK";
                row.base = r.has(b + ".p50") ? lat3(b) : "n/a";
                row.ours_v = r.med(k + ".p50");
                row.base_v = r.med(b + ".p50");
                row.ratio_v = row.ours_v / row.base_v;
                row.ratio = r.has(b + ".p50") ? fmt("%.2fx", row.ratio_v) + " (" +
                                                    fmt("%.2fx", r.med(k + ".p99") / r.med(b + ".p99")) + ")"
                                              : "n/a";
                const double p50 = r.med(k + ".p50"), p99 = r.med(k + ".p99");
                if (t == "memif" && !busy) {
                    row.verdict = "n/a";
                    row.target = "n/a: the targets are for busy-poll (here the engines sleep between commits); p99 = " +
                                 fmt("%.1fx", p99 / p50) + " p50";
                } else if (t == "memif") {
                    const bool a = r.has(b + ".p50") && p50 <= row.base_v + 1.0, c = p99 <= 2 * p50;
                    row.verdict = a && c ? "met" : "missed";
                    row.target = "p50 <= raw + 1 us: " + verdict(a) + " (" +
                                 (r.has(b + ".p50") ? fmt("%+.1f us", p50 - row.base_v) : "n/a") +
                                 "); p99 <= 2x p50: " + verdict(c) + " (" + fmt("%.1fx", p99 / p50) + ")";
                }
                rows.push_back(row);
            }
        }
    // 2: throughput (memif; af_packet busy-poll)
    for (const auto& t : transports)
        for (bool busy : {true, false})
            for (auto n : kAsyncSizes) {
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
                    row.target = !r.has(b + ".payload_bytes_per_s") ? "n/a" : ">= 0.7x: " + verdict(met);
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
        row.target = "<= 1.1x: " + verdict(met);
        rows.push_back(row);
    };
    for (const std::string t : {"memif", "af_packet"}) {
        const std::string on = t == "memif" ? "" : " (" + t + ")";
        for (auto n : kSyncSizes)
            wire_row("ours." + t + ".busy.sync." + std::to_string(n), "sync, " + size_name(n) + on);
        for (auto n : kAsyncSizes)
            wire_row("ours." + t + ".busy.async." + std::to_string(n), "async, " + size_name(n) + on);
    }
    return rows;
}

std::string markdown(const std::vector<Row>& rows) {
    std::string s = "| figure | ours | baseline (same run) | baseline | ratio | target |\n"
                    "|---|---:|---|---:|---:|---|\n";
    for (const auto& r : rows)
        s += "| " + r.figure + " | " + r.ours + " | " + r.base_name + " | " + r.base + " | " + r.ratio + " | " +
             r.target + " |\n";
    return s;
}

std::string jstr(const std::string& s) {
    std::string o = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\')
            o += '\\', o += c;
        else if (c == '\n')
            o += "\\n";
        else if (static_cast<unsigned char>(c) < 0x20)
            o += ' ';
        else
            o += c;
    }
    return o + "\"";
}

std::string jnum(double v) {
    if (!std::isfinite(v)) return "null";
    char b[64];
    std::snprintf(b, sizeof b, "%.6g", v);
    return b;
}

std::string json_report(const std::vector<Row>& rows, const Results& r,
                        const std::map<std::string, std::string>& info) {
    std::string s = "{\n  \"run\": {";
    bool first = true;
    for (const auto& [k, v] : info)
        s += std::string(first ? "" : ",") + "\n    " + jstr(k) + ": " + jstr(v), first = false;
    s += "\n  },\n  \"rows\": [";
    first = true;
    for (const auto& row : rows) {
        s += std::string(first ? "" : ",") + "\n    {\"figure\": " + jstr(row.figure) + ", \"key\": " + jstr(row.key) +
             ", \"ours\": " + jnum(row.ours_v) + ", \"baseline\": " + jstr(row.base_name) +
             ", \"baseline_key\": " + jstr(row.base_key) + ", \"baseline_value\": " + jnum(row.base_v) +
             ", \"ratio\": " + jnum(row.ratio_v) + ", \"target\": " + jstr(row.target) +
             ", \"verdict\": " + jstr(row.verdict) + "}";
        first = false;
    }
    s += "\n  ],\n  \"values\": {";
    first = true;
    for (const auto& [k, v] : r.v) {
        s +=
            std::string(first ? "" : ",") + "\n    " + jstr(k) + ": {\"median\": " + jnum(r.med(k)) + ", \"rounds\": [";
        for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + jnum(v[i]);
        s += "]}";
        first = false;
    }
    s += "\n  },\n  \"errors\": [";
    for (std::size_t i = 0; i < r.errors.size(); ++i) s += (i ? ", " : "") + jstr(r.errors[i]);
    return s + "]\n}\n";
}

std::string beside_self(const std::string& rel) {
    char b[4096];
    ssize_t n = ::readlink("/proc/self/exe", b, sizeof b - 1);
    if (n <= 0) return {};
    b[n] = 0;
    return (std::filesystem::path(b).parent_path() / rel).lexically_normal().string();
}

std::string find_tool(const std::string& given, const char* env, std::initializer_list<const char*> rel) {
    if (!given.empty()) return given;
    if (const char* e = std::getenv(env); e && *e) return e;
    for (const char* r : rel) {
        std::string p = beside_self(r);
        if (!p.empty() && ::access(p.c_str(), X_OK) == 0) return p;
    }
    return {};
}

void on_signal(int) {
    g_stop = true;
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
    o.ckptd = find_tool(o.ckptd, "CKPTD", {"../engine/ckptd"});
    o.pingpong = find_tool(o.pingpong, "CKPT_PINGPONG", {"../tests/net/ckpt_pingpong", "ckpt_pingpong"});
    if (o.ckptd.empty() || ::access(o.ckptd.c_str(), X_OK) != 0) {
        std::fprintf(stderr, "ckpt_e2e: no ckptd (give --ckptd PATH)\n");
        return 2;
    }
    if (o.pingpong.empty() || ::access(o.pingpong.c_str(), X_OK) != 0) {
        std::fprintf(stderr, "ckpt_e2e: no ckpt_pingpong (give --pingpong PATH)\n");
        return 2;
    }
    if (::geteuid() != 0) std::fprintf(stderr, "ckpt_e2e: DPDK memif needs root; expect failures\n");
    const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 2) o.cpu_b = 0;
    ::setenv("CKPTD", o.ckptd.c_str(), 1); // EngineProcess runs $CKPTD
    char tmpl[] = "/tmp/hotspare-e2e-logs-XXXXXX";
    o.log_dir = ::mkdtemp(tmpl);
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o.client_cpu, &set);
    if (::sched_setaffinity(0, sizeof set, &set) != 0) std::perror("ckpt_e2e: sched_setaffinity");

    std::map<std::string, std::string> info;
    auto utc = [] {
        char b[64];
        std::time_t t = std::time(nullptr);
        std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
        return std::string(b);
    };
    utsname u{};
    ::uname(&u);
    info["date"] = utc();
    info["command"] = o.argv_line;
#ifdef CKPT_E2E_SOURCE_DIR
    info["commit"] = run_cmd("git -C '" CKPT_E2E_SOURCE_DIR "' rev-parse --short HEAD 2>/dev/null") +
                     (run_cmd("git -C '" CKPT_E2E_SOURCE_DIR "' status --porcelain 2>/dev/null | head -1").empty()
                          ? ""
                          : " (working tree has changes)");
#endif
    info["kernel"] = u.release;
    info["nproc"] = std::to_string(cpus);
    info["cpu"] = run_cmd("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'");
    info["ckptd"] = o.ckptd;
    info["pingpong"] = o.pingpong;
    info["load_before"] = loadavg();
    info["rounds"] = std::to_string(o.rounds);
    info["count"] = std::to_string(o.count);
    info["tput_ms"] = std::to_string(o.tput_ms);
    info["block_size"] = std::to_string(o.block);
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

    Results res;
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
    if (!o.no_udp) {
        steps.push_back({"raw kernel UDP messages", [&] { raw_messages(o, res, "udp"); }});
        steps.push_back({"ours udp busy-poll", [&] { ours(o, res, "udp", true, false); }});
        steps.push_back({"ours udp default", [&] { ours(o, res, "udp", false, false); }});
    }
    if (!o.no_af_packet) {
        steps.push_back({"raw af_packet messages", [&] { raw_messages(o, res, "af_packet"); }});
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
    info["date_end"] = utc();

    auto rows = build_rows(o, res);
    std::printf("End-to-end replication, %s (%s s, %u round(s); medians over rounds)\n\n", info["date"].c_str(),
                info["seconds"].c_str(), o.rounds);
    std::printf("Command: %s\nCommit: %s\nPinning: %s\nBusy-poll mode: %s\nDefault mode: %s\nLoad average: before "
                "%s, after %s; other processes used %s\n\n",
                info["command"].c_str(), info["commit"].c_str(), info["pinning"].c_str(), info["busy_poll"].c_str(),
                info["default_mode"].c_str(), info["load_before"].c_str(), info["load_after"].c_str(),
                info["cpu_others"].c_str());
    if (info.count("af_packet")) std::printf("af_packet: %s\n\n", info["af_packet"].c_str());
    std::printf("%s", markdown(rows).c_str());
    if (!res.errors.empty()) std::printf("\n%zu error(s); see stderr\n", res.errors.size());
    std::error_code ec;
    if (!o.json.empty()) {
        if (auto dir = std::filesystem::path(o.json).parent_path(); !dir.empty())
            std::filesystem::create_directories(dir, ec);
        std::ofstream out(o.json);
        out << json_report(rows, res, info);
        if (out.flush())
            std::fprintf(stderr, "ckpt_e2e: JSON in %s\n", o.json.c_str());
        else
            res.error("cannot write " + o.json);
    }
    if (o.keep_logs || !res.errors.empty())
        std::fprintf(stderr, "ckpt_e2e: logs in %s\n", o.log_dir.c_str());
    else
        std::filesystem::remove_all(o.log_dir, ec);
    return res.errors.empty() && !g_stop ? 0 : 1;
}

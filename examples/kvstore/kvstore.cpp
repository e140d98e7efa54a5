// hotspare-kvstore: a key-value server speaking the Redis protocol's common subset (GET, SET, DEL,
// EXISTS, MGET, PING, INFO, DBSIZE, QUIT; a clear error for the rest), so redis-cli,
// redis-benchmark and Redis client libraries talk to it, whose whole table (index and values)
// lives in the default section of a Hotspare checkpoint and is written there in place.
//
//   hotspare-kvstore [--socket CKPTD_SOCKET] [--checkpoint NAME] [--role active|standby]
//                    [--ack sync|async] [--bind ADDR] [--port N] [--port-file FILE]
//                    [--capacity KEYS] [--key-max BYTES] [--value-max BYTES] [--block-size BYTES]
//
// Writes are group-committed: every write command read in one turn of the event loop (from every
// connection) goes into one write transaction, committed once. With --ack sync the loop does not
// wait for that commit's acknowledgement: it goes on serving other clients (and committing their
// writes) while the reply of each write is held back, with everything after it on the same
// connection, until Section::replicated() says every standby applied its commit; the checkpoint's
// notify_fd() wakes the loop when acknowledgements arrive. So an acknowledged SET is on the
// standby node, and the replies of one connection leave in the order its commands came.
// With --ack async the replies go out at once.
//
// Active/standby: a standby (--role standby) opens the node's replica read-only, serves reads from
// it (consistent seqlock reads) and refuses writes with -READONLY, as a Redis replica does. It
// becomes the active when it is told so: the node's replica was promoted (by the cluster manager,
// ocf:hotspare:ckptd under Pacemaker, or `ckptctl promote`) and Checkpoint::role_event() says
// "active, epoch N" on the checkpoint's notify fd, in the same event loop as the clients. It then
// opens the checkpoint for writing and serves the same table; there is no load step, the bytes
// are mapped. An active told "standby" (a newer active elsewhere) refuses writes from then on.
#include "resp.hpp"
#include "table.hpp"

#include <ckpt/client/session.hpp>
#include <ckpt/common/clock.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

using namespace ckpt;
using namespace ckpt::client;

namespace {

volatile sig_atomic_t g_stop = 0;

struct Options {
    std::string socket;
    std::string checkpoint = "kvstore";
    bool standby = false;
    bool sync = true;
    std::string bind = "127.0.0.1";
    int port = 6380;
    std::string port_file;
    kv::Geometry geometry;
    std::uint32_t block_size = 256;
};

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "hotspare-kvstore: %s\n", what.c_str());
    std::exit(1);
}

template <typename T>
T must(Result<T> r, const char* what) {
    if (!r) die(std::string(what) + ": " + r.message() + " (" + std::string(error_name(r.error())) + ")");
    return std::move(r).value();
}

void usage() {
    std::fprintf(stderr,
                 "usage: hotspare-kvstore [--socket CKPTD_SOCKET] [--checkpoint NAME] [--role active|standby]\n"
                 "                        [--ack sync|async] [--bind ADDR] [--port N] [--port-file FILE]\n"
                 "                        [--capacity KEYS] [--key-max BYTES] [--value-max BYTES] [--block-size B]\n");
}

std::uint64_t parse_num(const char* s, const char* what) {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (errno || !end || *end || !*s) die(std::string("--") + what + ": not a number: '" + s + "'");
    return v;
}

Options parse(int argc, char** argv) {
    Options o;
    static const option longs[] = {{"socket", required_argument, nullptr, 's'},
                                   {"checkpoint", required_argument, nullptr, 'c'},
                                   {"role", required_argument, nullptr, 'r'},
                                   {"ack", required_argument, nullptr, 'a'},
                                   {"bind", required_argument, nullptr, 'b'},
                                   {"port", required_argument, nullptr, 'p'},
                                   {"port-file", required_argument, nullptr, 'f'},
                                   {"capacity", required_argument, nullptr, 'n'},
                                   {"key-max", required_argument, nullptr, 'k'},
                                   {"value-max", required_argument, nullptr, 'v'},
                                   {"block-size", required_argument, nullptr, 'B'},
                                   {"help", no_argument, nullptr, 'h'},
                                   {nullptr, 0, nullptr, 0}};
    for (int c; (c = getopt_long(argc, argv, "", longs, nullptr)) != -1;) {
        switch (c) {
        case 's':
            o.socket = optarg;
            break;
        case 'c':
            o.checkpoint = optarg;
            break;
        case 'r':
            if (std::strcmp(optarg, "active") && std::strcmp(optarg, "standby"))
                die(std::string("--role: 'active' or 'standby', not '") + optarg + "'");
            o.standby = std::strcmp(optarg, "standby") == 0;
            break;
        case 'a':
            if (std::strcmp(optarg, "sync") && std::strcmp(optarg, "async"))
                die(std::string("--ack: 'sync' or 'async', not '") + optarg + "'");
            o.sync = std::strcmp(optarg, "sync") == 0;
            break;
        case 'b':
            o.bind = optarg;
            break;
        case 'p':
            o.port = static_cast<int>(parse_num(optarg, "port"));
            break;
        case 'f':
            o.port_file = optarg;
            break;
        case 'n':
            o.geometry.capacity = static_cast<std::uint32_t>(parse_num(optarg, "capacity"));
            break;
        case 'k':
            o.geometry.key_max = static_cast<std::uint32_t>(parse_num(optarg, "key-max"));
            break;
        case 'v':
            o.geometry.value_max = static_cast<std::uint32_t>(parse_num(optarg, "value-max"));
            break;
        case 'B':
            o.block_size = static_cast<std::uint32_t>(parse_num(optarg, "block-size"));
            break;
        case 'h':
            usage();
            std::exit(0);
        default:
            usage();
            std::exit(2);
        }
    }
    if (optind != argc) {
        usage();
        std::exit(2);
    }
    if (o.port > 65535) die("--port: out of range");
    if (o.geometry.capacity == 0 || o.geometry.capacity > (1u << 28)) die("--capacity: 1 .. 268435456 keys");
    if (o.geometry.key_max == 0 || o.geometry.key_max > 65536) die("--key-max: 1 .. 65536 bytes");
    if (o.geometry.value_max > (64u << 20)) die("--value-max: at most 64 MiB");
    return o;
}

std::string upper(std::string_view s) {
    std::string u(s);
    for (auto& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return u;
}

struct Conn {
    int fd = -1;
    std::string in;
    std::size_t in_pos = 0;
    std::string out;
    std::size_t out_pos = 0;
    bool held = false;                 ///< has replies of writes waiting for this turn's commit
    bool stalled = false;              ///< a write waits for the section to be free (Server::stalled_)
    std::int64_t stalled_since_ns = 0; ///< when its first try found the section busy
    bool close_after = false;          ///< QUIT or a protocol error: close once the output is out
    bool want_out = false;             ///< EPOLLOUT registered
    std::vector<std::pair<std::size_t, std::size_t>> write_replies; ///< (offset, len) in out, this turn
    struct Held {
        std::uint64_t seq;     ///< the commit that must be replicated first
        std::size_t at, len;   ///< the reply in `out`: it and everything after it wait
        std::int64_t since_ns; ///< when it was committed (NOREPL after kAckTimeout)
    };
    std::deque<Held> waiting; ///< --ack sync: write replies waiting for their commit's replication
};

/// How long a write's reply waits for its commit's acknowledgement before it becomes a -NOREPL
/// error (a sync commit's default timeout).
constexpr std::int64_t kAckTimeoutNs = std::chrono::duration_cast<std::chrono::nanoseconds>(kDefaultTimeout).count();

class Server {
public:
    explicit Server(Options o) : opt_(std::move(o)) {}

    int run();

private:
    // --- checkpoint ---
    CheckpointAttributes attrs() const {
        CheckpointAttributes a;
        a.creation_flags = static_cast<std::uint32_t>(opt_.sync ? UpdateMode::kSync : UpdateMode::kAsync);
        const std::uint64_t bytes = (opt_.geometry.bytes() + opt_.block_size - 1) / opt_.block_size * opt_.block_size;
        a.checkpoint_size = bytes;
        a.max_section_size = bytes;
        a.max_sections = 1;
        a.max_section_id_size = 0;
        a.block_size = opt_.block_size;
        a.retention_ns = 3600LL * 1'000'000'000; // the table outlives a restart of the server
        return a;
    }
    void open_active();
    void open_standby();
    void take_over();
    /// A role event of the checkpoint (its notify fd was readable).
    void on_role(const RoleEvent& e);

    // --- network ---
    void listen_tcp();
    void accept_all();
    void on_readable(Conn& c);
    void process_input(Conn& c);
    void execute(Conn& c, const std::vector<std::string_view>& args);
    void flush(Conn& c);
    void close_conn(Conn& c);
    void commit_turn();
    void watch_acks();
    void release_replicated();
    static void replace_reply(Conn& c, std::size_t at, std::size_t len, const std::string& text);

    // --- commands ---
    std::optional<std::string> get(std::string_view key);
    bool write_allowed(Conn& c);
    std::string info(std::string_view section);

    Options opt_;
    std::optional<Session> session_;
    Checkpoint ck_;
    Section sec_;
    bool active_ = false;
    bool seen_standby_ = false; ///< told "standby" once: a later "active" is a promotion
    bool told_active_ = false;  ///< told "active" as a standby: take over at the top of the loop
    kv::Table table_;           ///< active: over the writable mapping
    std::optional<WriteTx> tx_;
    int listen_fd_ = -1;
    int ep_ = -1;
    std::unordered_map<int, std::unique_ptr<Conn>> conns_;
    std::vector<Conn*> held_;
    std::vector<int> waiting_conns_; ///< fds of connections with replies waiting for replication
    std::vector<int> closed_;        ///< closed this turn, erased from conns_ at its end
    std::vector<int> stalled_;       ///< connections whose next command is a write that must wait
    bool stall_ = false;             ///< set by execute(): the write could not begin, retry later
    int notify_fd_ = -1;             ///< the checkpoint's notify_fd(), in ep_: acks, changes, role events
    std::uint64_t notify_seen_ = 0;
    // counters for INFO
    std::uint64_t commands_ = 0, commits_ = 0, commit_failures_ = 0, batched_writes_ = 0, connections_ = 0;
    std::uint64_t write_stalls_ = 0; ///< writes that found the section not yet captured (Server::stalled_)
    /// --ack sync: how long write replies waited for their commit's acknowledgement (commit to the
    /// turn that released them); and how long stalled writes waited for the section.
    kv::LogHistogram ack_wait_, stall_wait_, commit_call_, begin_call_;
    std::int64_t started_ns_ = mono_ns();
    std::int64_t takeover_ns_ = -1; ///< promotion to serving writes, when this process took over
};

void Server::open_active() {
    auto r = session_->open(opt_.checkpoint, kOpenRead | kOpenWrite);
    if (!r && r.error() == Error::kNotExist) {
        const CheckpointAttributes a = attrs();
        r = session_->open(opt_.checkpoint, kOpenRead | kOpenWrite | kOpenCreate, &a);
    }
    ck_ = must(std::move(r), ("open checkpoint '" + opt_.checkpoint + "' for writing").c_str());
    sec_ = must(ck_.default_section(), "default section");
    auto tx = must(sec_.write(), "first write transaction");
    kv::Table t(tx.data().data(), tx.data().size());
    std::string why = t.check();
    if (why == "no table (zero header)") {
        if (!kv::Table::format(tx.data().data(), tx.data().size(), opt_.geometry))
            die("the table (" + std::to_string(opt_.geometry.bytes()) + " bytes) does not fit checkpoint '" +
                opt_.checkpoint + "' (" + std::to_string(tx.capacity()) + " bytes): unlink it or change --capacity");
        tx.resize(tx.capacity());
        must(tx.commit_overwrite(Ack::kSync), "commit the empty table");
        std::fprintf(stderr, "hotspare-kvstore: new table in checkpoint '%s': %u keys of up to %u bytes\n",
                     opt_.checkpoint.c_str(), opt_.geometry.capacity, opt_.geometry.value_max);
    } else if (!why.empty()) {
        die("checkpoint '" + opt_.checkpoint + "': " + why);
    } else {
        auto h = t.header();
        tx.mark_dirty(0, sizeof(kv::TableHeader)); // nothing changes: one block, unchanged, is not sent
        must(tx.commit(Ack::kAsync), "first commit");
        std::fprintf(stderr, "hotspare-kvstore: serving the table in checkpoint '%s': %u keys (capacity %u)\n",
                     opt_.checkpoint.c_str(), h.used, h.capacity);
    }
    table_ = kv::Table(tx.data().data(), tx.data().size());
    active_ = true;
    watch_acks();
}

void Server::watch_acks() {
    // Readable after every capture batch, every batch of acknowledgements and every change of the
    // replication state (a standby down, this node promoted or demoted): the wake-up for stalled
    // writes (Server::stalled_), for the replies held in Conn::waiting, and for role events.
    notify_fd_ = must(ck_.notify_fd(), "subscribe to the checkpoint's acknowledgements");
    notify_seen_ = ck_.commit_seq();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = notify_fd_;
    if (::epoll_ctl(ep_, EPOLL_CTL_ADD, notify_fd_, &ev) != 0)
        die(std::string("epoll_ctl(notify_fd): ") + std::strerror(errno));
}

void Server::open_standby() {
    for (;;) {
        auto r = session_->open(opt_.checkpoint, kOpenRead);
        if (r) {
            ck_ = std::move(*r);
            break;
        }
        if (r.error() != Error::kNotExist) must(std::move(r), "open the replica");
        if (g_stop) std::exit(0);
        ::usleep(20'000);
    }
    sec_ = must(ck_.default_section(), "default section");
    watch_acks(); // a standby's notify fd brings its role events
    std::fprintf(stderr, "hotspare-kvstore: standby of checkpoint '%s' (%s, epoch %llu)\n", opt_.checkpoint.c_str(),
                 ck_.replication().role.c_str(), static_cast<unsigned long long>(ck_.replication().epoch));
}

void Server::on_role(const RoleEvent& e) {
    if (e.lost_commits > 0)
        std::fprintf(stderr,
                     "hotspare-kvstore: this node's active stepped down and gave up %u commits no standby had "
                     "acknowledged (changes %llu..%llu): their writes were answered -NOREPL or were async\n",
                     e.lost_commits, static_cast<unsigned long long>(e.lost_first_change),
                     static_cast<unsigned long long>(e.lost_last_change));
    if (e.role == Role::kStandby) {
        seen_standby_ = true;
        if (active_) {
            std::fprintf(stderr,
                         "hotspare-kvstore: told standby (node %u is the active, epoch %llu): refusing writes\n",
                         e.active_node, static_cast<unsigned long long>(e.epoch));
            active_ = false;
        }
    } else if (e.role == Role::kActive && !active_) {
        // A replica still "active" when this standby started is a former active node that has not
        // yet learnt of the newer epoch: that is no promotion. Told "standby" first, it is.
        if (seen_standby_) told_active_ = true;
    }
}

void Server::take_over() {
    const std::int64_t t0 = mono_ns();
    told_active_ = false;
    Checkpoint old = std::move(ck_);
    if (notify_fd_ >= 0) ::epoll_ctl(ep_, EPOLL_CTL_DEL, notify_fd_, nullptr);
    notify_fd_ = -1;
    open_active();
    (void)old.close();
    takeover_ns_ = mono_ns() - t0;
    std::fprintf(stderr, "hotspare-kvstore: PROMOTED: serving writes (epoch %llu, %u keys, %.3f ms)\n",
                 static_cast<unsigned long long>(ck_.replication().epoch), table_.used(),
                 static_cast<double>(takeover_ns_) / 1e6);
}

void Server::listen_tcp() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) die(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(opt_.port));
    if (::inet_pton(AF_INET, opt_.bind.c_str(), &a.sin_addr) != 1) die("--bind: not an IPv4 address: " + opt_.bind);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        die("bind " + opt_.bind + ":" + std::to_string(opt_.port) + ": " + std::strerror(errno));
    if (::listen(listen_fd_, 511) != 0) die(std::string("listen: ") + std::strerror(errno));
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    opt_.port = ntohs(a.sin_port);
    if (!opt_.port_file.empty()) {
        std::string tmp = opt_.port_file + ".tmp";
        std::ofstream(tmp) << opt_.port << "\n";
        if (::rename(tmp.c_str(), opt_.port_file.c_str()) != 0)
            die("--port-file: " + std::string(std::strerror(errno)));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd_;
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, listen_fd_, &ev);
    std::fprintf(stderr, "hotspare-kvstore: listening on %s:%d as %s (%s commits)\n", opt_.bind.c_str(), opt_.port,
                 active_ ? "active" : "standby", opt_.sync ? "sync" : "async");
}

void Server::accept_all() {
    for (;;) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto c = std::make_unique<Conn>();
        c->fd = fd;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
        conns_[fd] = std::move(c);
        ++connections_;
    }
}

void Server::close_conn(Conn& c) {
    ::epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
}

void Server::on_readable(Conn& c) {
    char buf[64 * 1024];
    for (;;) {
        ssize_t n = ::read(c.fd, buf, sizeof buf);
        if (n > 0) {
            c.in.append(buf, static_cast<std::size_t>(n));
            if (static_cast<std::size_t>(n) < sizeof buf) break;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            c.close_after = true; // nothing more will be read; the complete commands are answered
            break;
        }
        if (errno == EAGAIN) break;
    }
    process_input(c);
}

void Server::process_input(Conn& c) {
    c.stalled = false;
    std::vector<std::string_view> args;
    std::string err;
    for (;;) {
        const std::size_t at = c.in_pos;
        auto r = kv::resp::parse_request(c.in, c.in_pos, args, err);
        if (r == kv::resp::Parse::kIncomplete) break;
        if (r == kv::resp::Parse::kError) {
            kv::resp::error(c.out, "ERR " + err);
            c.close_after = true;
            c.in_pos = c.in.size();
            break;
        }
        if (args.empty()) continue;
        execute(c, args);
        if (!stall_ && c.stalled_since_ns) { // the write that stalled went through
            stall_wait_.add(mono_ns() - c.stalled_since_ns);
            c.stalled_since_ns = 0;
        }
        if (stall_) {
            // A write, and this turn's transaction cannot begin before ckptd captured the last
            // commit: this command and the ones after it wait (in order) for the next turn.
            stall_ = false;
            c.in_pos = at;
            if (!c.stalled_since_ns) c.stalled_since_ns = mono_ns();
            c.stalled = true;
            stalled_.push_back(c.fd);
            break;
        }
    }
    if (c.in_pos == c.in.size()) {
        c.in.clear();
        c.in_pos = 0;
    } else if (c.in_pos > (1u << 20)) {
        c.in.erase(0, c.in_pos);
        c.in_pos = 0;
    }
}

std::optional<std::string> Server::get(std::string_view key) {
    if (active_) {
        auto v = table_.get(key);
        if (!v) return std::nullopt;
        return std::string(*v);
    }
    // Standby: the engine applies commits under the section's seqlock; read a consistent state.
    auto r = sec_.read_view([&](std::span<const std::byte> b) -> std::optional<std::string> {
        kv::Table t(const_cast<std::byte*>(b.data()), b.size());
        if (!t.check().empty()) return std::nullopt;
        auto v = t.get(key);
        if (!v) return std::nullopt;
        return std::string(*v);
    });
    if (!r) return std::nullopt;
    return *r;
}

bool Server::write_allowed(Conn& c) {
    if (active_) return true;
    kv::resp::error(c.out, "READONLY You can't write against a read only replica (hotspare-kvstore standby of "
                           "checkpoint '" +
                               opt_.checkpoint + "')");
    return false;
}

std::string Server::info(std::string_view section) {
    auto rep = ck_.replication();
    std::string s;
    const std::string sec = upper(section);
    auto want = [&](const char* name) { return sec.empty() || sec == "ALL" || sec == "EVERYTHING" || sec == name; };
    if (want("SERVER")) {
        s += "# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\nserver:hotspare-kvstore\r\n";
        s += "process_id:" + std::to_string(::getpid()) + "\r\ntcp_port:" + std::to_string(opt_.port) + "\r\n";
        s += "uptime_in_seconds:" + std::to_string((mono_ns() - started_ns_) / 1'000'000'000) + "\r\n\r\n";
    }
    if (want("CLIENTS")) s += "# Clients\r\nconnected_clients:" + std::to_string(conns_.size()) + "\r\n\r\n";
    if (want("STATS")) {
        s += "# Stats\r\ntotal_connections_received:" + std::to_string(connections_) + "\r\n";
        s += "total_commands_processed:" + std::to_string(commands_) + "\r\n";
        s += "hotspare_commits:" + std::to_string(commits_) + "\r\n";
        s += "hotspare_commit_failures:" + std::to_string(commit_failures_) + "\r\n";
        s += "hotspare_writes_committed:" + std::to_string(batched_writes_) + "\r\n";
        s += "hotspare_write_stalls:" + std::to_string(write_stalls_) + "\r\n";
        s += "hotspare_stalled_writes:" + std::to_string(stall_wait_.count()) + "\r\n";
        s += "hotspare_stall_wait_p50_us:" + stall_wait_.percentile_us(0.50) + "\r\n";
        s += "hotspare_stall_wait_p99_us:" + stall_wait_.percentile_us(0.99) + "\r\n";
        s += "hotspare_begin_call_p50_us:" + begin_call_.percentile_us(0.50) + "\r\n";
        s += "hotspare_begin_call_p99_us:" + begin_call_.percentile_us(0.99) + "\r\n";
        s += "hotspare_commit_call_p50_us:" + commit_call_.percentile_us(0.50) + "\r\n";
        s += "hotspare_commit_call_p99_us:" + commit_call_.percentile_us(0.99) + "\r\n\r\n";
    }
    if (want("REPLICATION")) {
        s += "# Replication\r\nrole:" + std::string(active_ ? "master" : "slave") + "\r\n";
        s += "hotspare_checkpoint:" + opt_.checkpoint + "\r\nhotspare_role:" + rep.role + "\r\n";
        s += "hotspare_ack:" + std::string(opt_.sync ? "sync" : "async") + "\r\n";
        s += "hotspare_epoch:" + std::to_string(rep.epoch) + "\r\n";
        s += "hotspare_active_node:" + std::to_string(rep.active_node) + "\r\n";
        s += "hotspare_replicas:" + std::to_string(rep.replicas) + "\r\n";
        s += "hotspare_lag_commits:" + std::to_string(rep.lag_commits) + "\r\n";
        s += "hotspare_lag_bytes:" + std::to_string(rep.lag_bytes) + "\r\n";
        if (takeover_ns_ >= 0) s += "hotspare_takeover_us:" + std::to_string(takeover_ns_ / 1000) + "\r\n";
        if (opt_.sync) {
            // Upper bounds of the log buckets (10 per decade) holding the 50th and 99th percentile.
            s += "hotspare_ack_waits:" + std::to_string(ack_wait_.count()) + "\r\n";
            s += "hotspare_ack_wait_p50_us:" + ack_wait_.percentile_us(0.50) + "\r\n";
            s += "hotspare_ack_wait_p99_us:" + ack_wait_.percentile_us(0.99) + "\r\n";
        }
        s += "\r\n";
    }
    if (want("KEYSPACE")) {
        std::uint32_t keys = 0;
        if (active_) {
            keys = table_.used();
        } else if (auto r = sec_.read_view([](std::span<const std::byte> b) -> std::uint32_t {
                       kv::Table t(const_cast<std::byte*>(b.data()), b.size());
                       return t.check().empty() ? t.used() : 0;
                   })) {
            keys = *r;
        }
        s += "# Keyspace\r\n";
        if (keys) s += "db0:keys=" + std::to_string(keys) + ",expires=0,avg_ttl=0\r\n";
    }
    return s;
}

void Server::execute(Conn& c, const std::vector<std::string_view>& args) {
    ++commands_;
    const std::string cmd = upper(args[0]);
    const std::size_t argc = args.size();
    auto arity = [&](std::size_t min, std::size_t max) {
        if (argc >= min && argc <= max) return true;
        kv::resp::error(c.out, "ERR wrong number of arguments for '" + std::string(args[0]) + "' command");
        return false;
    };
    auto mark = [this](std::uint64_t off, std::uint64_t len) { tx_->mark_dirty(off, len); };
    auto begin_write = [&]() -> bool {
        if (!tx_) {
            // Never wait here for ckptd to capture the previous commit (reads of every client
            // would wait behind it): try, and stall this connection when the section is not free.
            const std::int64_t t0 = mono_ns();
            auto tx = sec_.write(std::chrono::milliseconds(0));
            begin_call_.add(mono_ns() - t0);
            if (!tx && tx.error() == Error::kTimeout) {
                stall_ = true;
                --commands_;
                ++write_stalls_;
                return false;
            }
            if (!tx) {
                kv::resp::error(c.out, "ERR checkpoint write refused: " + tx.message());
                return false;
            }
            tx_ = std::move(*tx);
        }
        if (!c.held) {
            c.held = true;
            held_.push_back(&c);
        }
        return true;
    };
    if (cmd == "GET") {
        if (!arity(2, 2)) return;
        if (auto v = get(args[1]))
            kv::resp::bulk(c.out, *v);
        else
            kv::resp::nil(c.out);
    } else if (cmd == "MGET") {
        if (!arity(2, SIZE_MAX)) return;
        kv::resp::array(c.out, argc - 1);
        for (std::size_t i = 1; i < argc; ++i) {
            if (auto v = get(args[i]))
                kv::resp::bulk(c.out, *v);
            else
                kv::resp::nil(c.out);
        }
    } else if (cmd == "EXISTS") {
        if (!arity(2, SIZE_MAX)) return;
        std::int64_t n = 0;
        for (std::size_t i = 1; i < argc; ++i) n += get(args[i]).has_value();
        kv::resp::integer(c.out, n);
    } else if (cmd == "SET") {
        if (!arity(3, SIZE_MAX)) return;
        if (argc > 3) {
            kv::resp::error(c.out, "ERR SET options (" + std::string(args[3]) +
                                       " ...) are not supported by hotspare-kvstore: SET key value only");
            return;
        }
        if (!write_allowed(c) || !begin_write()) return;
        const std::size_t at = c.out.size();
        switch (table_.set(args[1], args[2], mark)) {
        case kv::SetResult::kOk:
            kv::resp::simple(c.out, "OK");
            c.write_replies.emplace_back(at, c.out.size() - at);
            ++batched_writes_;
            break;
        case kv::SetResult::kKeyTooLong:
            kv::resp::error(c.out, "ERR key longer than this table's key-max (" +
                                       std::to_string(table_.header().key_max) + " bytes)");
            break;
        case kv::SetResult::kValueTooLong:
            kv::resp::error(c.out, "ERR value longer than this table's value-max (" +
                                       std::to_string(table_.header().value_max) + " bytes)");
            break;
        case kv::SetResult::kFull:
            kv::resp::error(c.out, "OOM the table is full (" + std::to_string(table_.header().capacity) +
                                       " keys; --capacity)");
            break;
        }
    } else if (cmd == "DEL" || cmd == "UNLINK") {
        if (!arity(2, SIZE_MAX) || !write_allowed(c) || !begin_write()) return;
        std::int64_t n = 0;
        for (std::size_t i = 1; i < argc; ++i) n += table_.del(args[i], mark);
        const std::size_t at = c.out.size();
        kv::resp::integer(c.out, n);
        if (n) {
            c.write_replies.emplace_back(at, c.out.size() - at);
            ++batched_writes_;
        }
    } else if (cmd == "PING") {
        if (!arity(1, 2)) return;
        if (argc == 2)
            kv::resp::bulk(c.out, args[1]);
        else
            kv::resp::simple(c.out, "PONG");
    } else if (cmd == "ECHO") {
        if (arity(2, 2)) kv::resp::bulk(c.out, args[1]);
    } else if (cmd == "INFO") {
        kv::resp::bulk(c.out, info(argc > 1 ? args[1] : std::string_view{}));
    } else if (cmd == "DBSIZE") {
        std::uint32_t keys = 0;
        if (active_) {
            keys = table_.used();
        } else if (auto r = sec_.read_view([](std::span<const std::byte> b) -> std::uint32_t {
                       kv::Table t(const_cast<std::byte*>(b.data()), b.size());
                       return t.check().empty() ? t.used() : 0;
                   })) {
            keys = *r;
        }
        kv::resp::integer(c.out, keys);
    } else if (cmd == "SELECT") {
        if (!arity(2, 2)) return;
        if (args[1] == "0")
            kv::resp::simple(c.out, "OK");
        else
            kv::resp::error(c.out, "ERR DB index is out of range (hotspare-kvstore has database 0 only)");
    } else if (cmd == "QUIT") {
        kv::resp::simple(c.out, "OK");
        c.close_after = true;
        c.in_pos = c.in.size(); // nothing after QUIT is served
    } else {
        std::string a;
        for (std::size_t i = 1; i < argc && i < 4; ++i) a += "'" + std::string(args[i].substr(0, 64)) + "' ";
        kv::resp::error(c.out, "ERR unknown command '" + std::string(args[0].substr(0, 64)) +
                                   "', with args beginning with: " + a +
                                   "(hotspare-kvstore serves GET SET DEL EXISTS MGET PING ECHO INFO DBSIZE "
                                   "SELECT QUIT)");
    }
}

void Server::commit_turn() {
    if (!tx_) return;
    // Never waits for the standby: with --ack sync the replies wait instead (Conn::waiting).
    const std::int64_t t0 = mono_ns();
    auto r = tx_->commit(Ack::kAsync);
    commit_call_.add(mono_ns() - t0);
    tx_.reset();
    ++commits_;
    if (r && opt_.sync) {
        const std::int64_t now = mono_ns();
        for (Conn* c : held_) {
            if (c->write_replies.empty()) continue;
            if (c->waiting.empty()) waiting_conns_.push_back(c->fd);
            for (auto [at, len] : c->write_replies) c->waiting.push_back({*r, at, len, now});
        }
    }
    if (!r) {
        // The changes hold on this node but were not acknowledged as asked: say so to every
        // client whose write was in the batch (as a Redis WAIT that returned 0 would).
        ++commit_failures_;
        const std::string e = "-NOREPL write applied on this node but not acknowledged: " + r.message() + "\r\n";
        for (Conn* c : held_) {
            if (c->write_replies.empty()) continue;
            std::string out = c->out.substr(0, c->write_replies.front().first);
            std::size_t from = c->write_replies.front().first;
            for (auto [at, len] : c->write_replies) {
                out.append(c->out, from, at - from);
                out += e;
                from = at + len;
            }
            out.append(c->out, from, std::string::npos);
            c->out = std::move(out);
        }
        std::fprintf(stderr, "hotspare-kvstore: commit not acknowledged: %s\n", r.message().c_str());
        if (ck_.replication().role == "standby") { // demoted: another node is the active one now
            std::fprintf(stderr, "hotspare-kvstore: this node was demoted; serving as a standby\n");
            active_ = false;
        }
    }
}

void Server::replace_reply(Conn& c, std::size_t at, std::size_t len, const std::string& text) {
    c.out.replace(at, len, text);
    const std::ptrdiff_t delta = static_cast<std::ptrdiff_t>(text.size()) - static_cast<std::ptrdiff_t>(len);
    for (auto& h : c.waiting)
        if (h.at > at) h.at = static_cast<std::size_t>(static_cast<std::ptrdiff_t>(h.at) + delta);
}

void Server::release_replicated() {
    if (waiting_conns_.empty()) return;
    const std::int64_t now = mono_ns();
    std::vector<int> still;
    for (int fd : waiting_conns_) {
        auto it = conns_.find(fd);
        if (it == conns_.end() || it->second->fd < 0) continue;
        Conn& c = *it->second;
        while (!c.waiting.empty()) {
            Conn::Held h = c.waiting.front();
            auto r = sec_.replicated(h.seq);
            if (r && !*r && now - h.since_ns < kAckTimeoutNs) break; // still on its way
            c.waiting.pop_front();
            if (r && *r) { // replicated: the reply may leave
                ack_wait_.add(now - h.since_ns);
                continue;
            }
            // Applied here but not acknowledged as asked: say so (as a Redis WAIT that returned 0).
            const std::string why =
                r ? "no acknowledgement within " + std::to_string(kAckTimeoutNs / 1'000'000) + " ms" : r.message();
            ++commit_failures_;
            replace_reply(c, h.at, h.len, "-NOREPL write applied on this node but not acknowledged: " + why + "\r\n");
            if (!r && r.error() == Error::kBadOperation && active_) {
                std::fprintf(stderr, "hotspare-kvstore: this node was demoted; serving as a standby\n");
                active_ = false;
            }
        }
        if (!c.waiting.empty()) still.push_back(fd);
        flush(c);
        if (c.close_after && c.out.empty()) {
            close_conn(c); // erased at the end of the turn: `touched` may still point at it
            closed_.push_back(fd);
        }
    }
    waiting_conns_ = std::move(still);
}

void Server::flush(Conn& c) {
    // Bytes from the first reply still waiting for replication on stay (and all after them).
    const std::size_t limit = c.waiting.empty() ? c.out.size() : c.waiting.front().at;
    while (c.out_pos < limit) {
        ssize_t n = ::send(c.fd, c.out.data() + c.out_pos, limit - c.out_pos, MSG_NOSIGNAL);
        if (n > 0) {
            c.out_pos += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        c.close_after = true; // the peer is gone: drop what it would have received
        c.out_pos = c.out.size();
        c.waiting.clear();
        break;
    }
    const bool want = c.out_pos < std::min(limit, c.out.size()); // (EPOLLOUT only for what may leave)
    if (c.out_pos == c.out.size()) {
        c.out.clear();
        c.out_pos = 0;
    }
    if (want != c.want_out) {
        epoll_event ev{};
        ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
        ev.data.fd = c.fd;
        ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
        c.want_out = want;
    }
}

int Server::run() {
    SessionOptions so;
    so.socket_path = opt_.socket;
    session_ = must(Session::connect(so), "connect to ckptd");
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (opt_.standby)
        open_standby();
    else
        open_active();
    listen_tcp();
    std::vector<epoll_event> evs(512);
    std::vector<Conn*> touched;
    while (!g_stop) {
        if (!active_ && told_active_) take_over(); // here: it replaces ck_ and its notify fd
        // Replies waiting for replication: the notify fd wakes us; the timeout bounds a lost wake-up
        // and turns a commit never acknowledged into -NOREPL.
        const int timeout = !waiting_conns_.empty() || !stalled_.empty() ? 10 : 1000;
        int n = ::epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), timeout);
        if (n < 0 && errno != EINTR) die(std::string("epoll_wait: ") + std::strerror(errno));
        touched.clear();
        // Connections whose write waited for the section first, in the order they stalled.
        std::vector<int> retry;
        retry.swap(stalled_);
        for (int fd : retry) {
            auto it = conns_.find(fd);
            if (it == conns_.end() || it->second->fd < 0 || !it->second->stalled) continue;
            process_input(*it->second);
            touched.push_back(it->second.get());
        }
        for (int i = 0; i < n; ++i) {
            const int fd = evs[i].data.fd;
            if (fd == listen_fd_) {
                accept_all();
                continue;
            }
            if (fd == notify_fd_) {
                std::vector<std::string> ids;
                notify_seen_ = ck_.changes_since(notify_seen_, ids); // re-arms the fd
                if (auto e = ck_.role_event()) on_role(*e);
                continue;
            }
            auto it = conns_.find(fd);
            if (it == conns_.end()) continue;
            Conn& c = *it->second;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
            touched.push_back(&c);
        }
        // Replies of connections that wrote nothing this turn go out now, before the commit
        // (a read does not wait for another client's replication).
        for (Conn* c : touched)
            if (c->fd >= 0 && !c->held) flush(*c);
        commit_turn();
        for (Conn* c : held_) {
            c->held = false;
            c->write_replies.clear();
        }
        held_.clear();
        release_replicated();
        for (Conn* c : touched) {
            if (c->fd < 0) continue;
            flush(*c);
            if (c->close_after && c->out.empty()) {
                closed_.push_back(c->fd);
                close_conn(*c);
            }
        }
        for (int fd : closed_) conns_.erase(fd);
        closed_.clear();
    }
    if (tx_) commit_turn();
    // Replies still waiting: give the standby a moment, then answer what it acknowledged.
    for (const std::int64_t until = mono_ns() + 1'000'000'000; !waiting_conns_.empty() && mono_ns() < until;) {
        release_replicated();
        ::usleep(1000);
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    Options o = parse(argc, argv);
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_stop = 1; };
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    Server s(std::move(o));
    return s.run();
}

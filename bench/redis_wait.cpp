// redis_wait: the latency of a write that returns only once a replica holds it, in Redis 7 (Debian's
// redis-server): a primary and one replica on loopback, and per operation `SET key <value>` then
// `WAIT 1 1000`. It is the baseline our sync commit over the kernel UDP transport is compared with
// (issue 5): the same guarantee (the write reached a second process before the call returns), over
// the same kernel loopback, with the same pinning as ckpt_e2e's engines.
//
//   redis_wait [--redis-server PATH] [--size N] [--count N] [--warmup N] [--rate OPS_PER_S]
//              [--pipeline] [--client-cpu N] [--primary-cpu N] [--replica-cpu N] [--samples FILE]
//              [--keep-dir]
//
// It starts its own primary and replica (fork/exec of redis-server, configured on the command line:
// no RDB or AOF, a temporary directory, free ports on 127.0.0.1, the first sync without its 5 s
// delay; no configuration file, so Debian's /etc/redis/redis.conf plays no part), pins them
// (primary on CPU 0, replica on CPU 1, this client on CPU 0: as ckpt_e2e pins the active engine,
// the standby and the application), waits until the replica reports master_link_status:up and a first SET + WAIT
// succeeds, measures, and stops both (SIGTERM, then SIGKILL) and removes the directory, also after
// an error, SIGINT or SIGTERM. Children die with this process (PR_SET_PDEATHSIG).
//
// Closed loop (the default): one operation after the other on one connection. The latency runs
// from just before SET is sent to WAIT's reply (CLOCK_MONOTONIC), into a preallocated array; both
// commands are formatted before the timer starts and each operation only writes its counter into
// the value (Redis copies and replicates the whole value whatever changed, so the rest can stay).
// By default the client reads SET's +OK before sending WAIT, as an application would; --pipeline
// sends both in one write (WAIT still covers the SET: it waits for the connection's last write),
// which saves a round trip and is the fastest a client can do.
//
// Open loop (--rate R): operation i is due at t0 + i/R, and its latency runs from that INTENDED
// time to WAIT's reply, so an operation that had to wait for a slow predecessor carries the delay
// (coordinated omission would otherwise hide the tail; Aeron's latency rig measures the same way).
// There is one connection: an operation that is already late is sent at once.
//
// Output: one JSON line on stdout, like ckpt_pingpong --json; percentiles as ckpt_e2e computes
// them (sorted samples, index p * n). --samples FILE writes every latency in ns, one per line, in
// the order measured. A WAIT that returns 0 (the replica did not acknowledge within 1 s; warm-up
// included) is counted in "errors" and makes the exit status 1; 2 is any other failure (each with
// its cause: redis-server missing, exiting or silent, a replica that never linked, a broken
// connection), 130 an interruption.
#include <CLI/CLI.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr const char* kTool = "redis_wait";
constexpr int kWaitTimeoutMs = 1000;    // WAIT's own timeout: 0 would block forever on a lost replica
constexpr int kRecvTimeoutS = 10;       // no reply at all within this is a hung server, not a latency
constexpr int kStartTimeoutMs = 10'000; // redis-server accepting connections
constexpr int kLinkTimeoutMs = 20'000;  // the replica's first full sync (empty data set: milliseconds)

volatile sig_atomic_t g_stop = 0;

void on_signal(int) {
    g_stop = 1;
}

std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<std::uint64_t>(ts.tv_nsec);
}

void sleep_ms(int ms) {
    timespec ts{ms / 1000, (ms % 1000) * 1'000'000L};
    nanosleep(&ts, nullptr); // an interrupting signal only shortens it: callers check g_stop
}

void fail(const std::string& what) {
    std::fprintf(stderr, "%s: %s\n", kTool, what.c_str());
}

std::string errno_text(int e = errno) {
    return std::strerror(e);
}

/// Why sched_setaffinity refused `cpu`: EINVAL means no such CPU here, which is worth saying.
std::string pin_error(int cpu, int e) {
    return "cannot pin to CPU " + std::to_string(cpu) + ": " + errno_text(e) +
           (e == EINVAL ? " (this machine has " + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " CPUs online)" : "");
}

bool pin_to(pid_t pid, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(pid, sizeof set, &set) == 0;
}

/// The last `lines` lines of a redis-server log, for the error messages that ask "why".
std::string log_tail(const std::filesystem::path& file, std::size_t lines = 15) {
    std::ifstream in(file);
    std::vector<std::string> all;
    for (std::string l; std::getline(in, l);) all.push_back(l);
    std::string out;
    for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
        out += "  | " + all[i] + "\n";
    return out.empty() ? "  (empty)\n" : out;
}

/// "the end of its log (...)" and the tail: the directory is gone when the message is read,
/// unless --keep-dir.
std::string log_excerpt(const std::string& role, const std::filesystem::path& file) {
    return "the end of the " + role + "'s log (" + file.string() + ", kept with --keep-dir):\n" + log_tail(file);
}

/// An unused TCP port on 127.0.0.1: bind to port 0 and read back what the kernel chose. The socket
/// closes before redis-server binds, so another process could take the port in between; that
/// redis-server then exits, and the error quotes its log's "Address already in use".
std::optional<std::uint16_t> free_port() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::nullopt;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    std::optional<std::uint16_t> port;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/// redis-server as given (a path, or a name looked up in PATH as execvp would); empty if there is
/// no such executable.
std::string find_executable(const std::string& name) {
    if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : std::string{};
    const char* path = std::getenv("PATH");
    std::string_view rest = path ? path : "/usr/local/bin:/usr/bin:/bin";
    while (true) {
        auto colon = rest.find(':');
        std::string dir(rest.substr(0, colon));
        std::string candidate = (dir.empty() ? std::string{"."} : dir) + "/" + name;
        struct stat st {};
        if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(candidate.c_str(), X_OK) == 0)
            return candidate;
        if (colon == std::string_view::npos) return {};
        rest.remove_prefix(colon + 1);
    }
}

// ------------------------------------------------------------------------------------------
// A minimal RESP2 client: one blocking TCP connection; simple strings, errors, integers and bulk
// strings (all that SET, WAIT, INFO and PING answer). No hiredis: the repository depends only on
// Debian's packages it already uses, and the timed loop must not allocate.
// ------------------------------------------------------------------------------------------

struct Reply {
    char type = 0; // '+', '-', ':', '$' (a null bulk string has type '$' and null = true)
    std::int64_t integer = 0;
    std::string_view text; // simple string, error or bulk payload: valid until the next read
    bool null = false;
};

class Resp {
public:
    Resp() : buf_(64 * 1024) {}
    Resp(const Resp&) = delete;
    Resp& operator=(const Resp&) = delete;
    ~Resp() {
        if (fd_ >= 0) close(fd_);
    }

    /// Connects to 127.0.0.1:port; false with errno set (ECONNREFUSED while the server starts).
    bool connect_to(std::uint16_t port) {
        if (fd_ >= 0) close(fd_);
        fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) return false;
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            int e = errno;
            close(fd_);
            fd_ = -1;
            errno = e;
            return false;
        }
        // Without TCP_NODELAY, Nagle would hold back the WAIT behind the SET's unacknowledged bytes.
        int one = 1;
        setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        // A hung server must end the run, not hang it: WAIT itself answers within 1 s.
        timeval tv{kRecvTimeoutS, 0};
        setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        pos_ = len_ = 0;
        return true;
    }

    bool send_all(const char* p, std::size_t n) {
        while (n) {
            ssize_t w = send(fd_, p, n, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR && !g_stop) continue;
                error_ = "send: " + errno_text();
                return false;
            }
            p += w;
            n -= static_cast<std::size_t>(w);
        }
        return true;
    }
    bool send_all(std::string_view s) { return send_all(s.data(), s.size()); }

    /// Reads one reply. False on a broken connection, a timeout, a signal or a reply this client
    /// does not parse; error() says which.
    bool read(Reply& r) {
        r = Reply{};
        std::string_view line;
        if (!read_line(line)) return false;
        r.type = line.empty() ? 0 : line[0];
        line.remove_prefix(line.empty() ? 0 : 1);
        switch (r.type) {
        case '+':
        case '-':
            r.text = line;
            return true;
        case ':':
            return parse_int(line, r.integer);
        case '$': {
            std::int64_t n = 0;
            if (!parse_int(line, n)) return false;
            if (n < 0) {
                r.null = true;
                return true;
            }
            const std::size_t need = static_cast<std::size_t>(n) + 2; // payload + CRLF
            if (!fill(need)) return false;
            r.text = std::string_view(buf_.data() + pos_, static_cast<std::size_t>(n));
            pos_ += need;
            return true;
        }
        default:
            error_ = "unexpected RESP reply type '" + std::string(1, r.type) + "' (this client parses +, -, :, $)";
            return false;
        }
    }

    /// Sends a command given as words (outside the timed loop: it allocates) and reads its reply.
    bool command(std::initializer_list<std::string_view> words, Reply& r) {
        std::string cmd = "*" + std::to_string(words.size()) + "\r\n";
        for (auto w : words) cmd.append("$").append(std::to_string(w.size())).append("\r\n").append(w).append("\r\n");
        return send_all(cmd) && read(r);
    }

    const std::string& error() const { return error_; }

private:
    /// Makes `n` bytes available from pos_, reading from the socket (blocking) as needed.
    bool fill(std::size_t n) {
        while (len_ - pos_ < n) {
            if (pos_ > 0 && (buf_.size() - pos_ < n || pos_ == len_)) { // make room at the front
                std::memmove(buf_.data(), buf_.data() + pos_, len_ - pos_);
                len_ -= pos_;
                pos_ = 0;
            }
            if (buf_.size() < n) buf_.resize(n); // a large bulk reply (INFO): never in the timed loop
            ssize_t got = recv(fd_, buf_.data() + len_, buf_.size() - len_, 0);
            if (got > 0) {
                len_ += static_cast<std::size_t>(got);
                continue;
            }
            if (got == 0)
                error_ = "connection closed by redis-server";
            else if (errno == EINTR && !g_stop)
                continue;
            else if (errno == EAGAIN || errno == EWOULDBLOCK)
                error_ = "no reply within " + std::to_string(kRecvTimeoutS) + " s";
            else
                error_ = g_stop ? "interrupted" : "recv: " + errno_text();
            return false;
        }
        return true;
    }

    /// One CRLF-terminated line (without the CRLF); it stays in the buffer until the next read.
    bool read_line(std::string_view& line) {
        std::size_t scanned = 0;
        while (true) {
            const char* b = buf_.data() + pos_;
            for (std::size_t i = scanned; i + 1 < len_ - pos_; ++i)
                if (b[i] == '\r' && b[i + 1] == '\n') {
                    line = std::string_view(b, i);
                    pos_ += i + 2;
                    return true;
                }
            scanned = len_ - pos_ > 0 ? len_ - pos_ - 1 : 0;
            if (!fill(len_ - pos_ + 1)) return false;
        }
    }

    bool parse_int(std::string_view s, std::int64_t& v) {
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc{} || p != s.data() + s.size()) {
            error_ = "malformed RESP integer '" + std::string(s) + "'";
            return false;
        }
        return true;
    }

    int fd_ = -1;
    std::vector<char> buf_;
    std::size_t pos_ = 0, len_ = 0; // unread bytes are buf_[pos_, len_)
    std::string error_;
};

/// The value of `field` in an INFO reply ("field:value" lines), empty if absent.
std::string info_field(std::string_view info, std::string_view field) {
    for (std::size_t at = 0; at < info.size();) {
        std::size_t end = info.find("\r\n", at);
        if (end == std::string_view::npos) end = info.size();
        std::string_view line = info.substr(at, end - at);
        if (line.size() > field.size() && line.substr(0, field.size()) == field && line[field.size()] == ':')
            return std::string(line.substr(field.size() + 1));
        at = end + 2;
    }
    return {};
}

// ------------------------------------------------------------------------------------------
// The two redis-server processes
// ------------------------------------------------------------------------------------------

struct Server {
    std::string role; // "primary" or "replica", for messages
    std::uint16_t port = 0;
    int cpu = 0;
    std::filesystem::path log;
    pid_t pid = -1;
};

/// Owns the temporary directory and the servers: the destructor stops them and removes it, on
/// every way out of main() (success, error, SIGINT/SIGTERM).
class Cluster {
public:
    Cluster(std::string exe, bool keep_dir) : exe_(std::move(exe)), keep_dir_(keep_dir) {}
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;
    ~Cluster() {
        for (Server* s : {&primary, &replica})
            if (s->pid > 0) kill(s->pid, SIGTERM); // both at once: each shuts down on its own
        const std::uint64_t deadline = now_ns() + 3'000'000'000ull;
        for (Server* s : {&primary, &replica}) {
            while (s->pid > 0) {
                const pid_t w = waitpid(s->pid, nullptr, WNOHANG);
                if (w == s->pid || (w < 0 && errno == ECHILD)) {
                    s->pid = -1;
                } else if (now_ns() > deadline) {
                    kill(s->pid, SIGKILL);
                    waitpid(s->pid, nullptr, 0);
                    s->pid = -1;
                } else {
                    sleep_ms(5);
                }
            }
        }
        if (dir_.empty()) return;
        if (keep_dir_) {
            std::fprintf(stderr, "%s: kept %s (redis-server logs and directories)\n", kTool, dir_.c_str());
        } else {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
    }

    bool make_dir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "redis_wait.XXXXXX").string();
        if (!mkdtemp(tmpl.data())) {
            fail("cannot create a temporary directory " + tmpl + ": " + errno_text());
            return false;
        }
        dir_ = tmpl;
        return true;
    }

    /// fork/exec of redis-server for `s` (replica_of: the primary's port, or 0), its stdout and
    /// stderr into its log. Exec failures come back through a close-on-exec pipe, so "cannot
    /// execute" is told apart from "started and exited".
    bool spawn(Server& s, std::uint16_t replica_of) {
        const auto data = dir_ / s.role;
        std::error_code ec;
        std::filesystem::create_directory(data, ec);
        s.log = dir_ / (s.role + ".log");
        std::vector<std::string> args = {exe_, "--port", std::to_string(s.port), "--bind", "127.0.0.1", "--save",
                                         "", // no RDB snapshots: nothing but replication on the path
                                         "--appendonly", "no", "--daemonize", "no", "--dir", data.string(),
                                         "--protected-mode", "no",
                                         // The first full sync starts at once instead of after 5 s.
                                         "--repl-diskless-sync-delay", "0"};
        if (replica_of) {
            args.push_back("--replicaof");
            args.push_back("127.0.0.1");
            args.push_back(std::to_string(replica_of));
        }
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        const std::string log = s.log.string();

        int pipe_fds[2];
        if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
            fail("pipe2: " + errno_text());
            return false;
        }
        const pid_t parent = getpid();
        const pid_t pid = fork();
        if (pid < 0) {
            fail("fork: " + errno_text());
            close(pipe_fds[0]);
            close(pipe_fds[1]);
            return false;
        }
        if (pid == 0) {          // the child: async-signal-safe calls only, everything was prepared above
            int err[2] = {0, 0}; // {stage, errno}: 1 pinning, 2 the log and stdin, 3 exec
            // Its own process group: Ctrl-C reaches only this tool, which then stops both servers.
            setpgid(0, 0);
            // If this tool dies without cleaning up (SIGKILL, crash), the servers go too.
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(1); // the parent died before prctl took effect
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, nullptr);
            int fd = -1, null = -1;
            if (!pin_to(0, s.cpu))
                err[0] = 1, err[1] = errno;
            else if ((fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0 ||
                     (null = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 || dup2(null, 0) < 0 || dup2(fd, 1) < 0 ||
                     dup2(fd, 2) < 0)
                err[0] = 2, err[1] = errno;
            else
                execv(argv[0], argv.data()), err[0] = 3, err[1] = errno;
            ssize_t ignored = write(pipe_fds[1], err, sizeof err);
            (void)ignored;
            _exit(127);
        }
        close(pipe_fds[1]);
        s.pid = pid;
        int child_err[2] = {0, 0};
        ssize_t got;
        do got = read(pipe_fds[0], child_err, sizeof child_err);
        while (got < 0 && errno == EINTR);
        close(pipe_fds[0]);
        if (got > 0) {
            waitpid(pid, nullptr, 0);
            s.pid = -1;
            const std::string what = child_err[0] == 1   ? pin_error(s.cpu, child_err[1])
                                     : child_err[0] == 2 ? "cannot open its log " + log
                                                         : "cannot execute " + exe_;
            fail("cannot start the " + s.role + " redis-server: " + what +
                 (child_err[0] == 1 ? "" : ": " + errno_text(child_err[1])));
            return false;
        }
        return true;
    }

    /// Connects `c` to `s` once it accepts connections and answers PING; a precise error if it
    /// exited or stayed silent.
    bool connect(Server& s, Resp& c) {
        const std::uint64_t deadline = now_ns() + std::uint64_t{kStartTimeoutMs} * 1'000'000;
        while (!g_stop) {
            int status = 0;
            if (waitpid(s.pid, &status, WNOHANG) == s.pid) {
                s.pid = -1;
                fail("the " + s.role + " redis-server (port " + std::to_string(s.port) + ") exited " +
                     describe(status) + " before accepting connections; " + log_excerpt(s.role, s.log));
                return false;
            }
            if (c.connect_to(s.port)) {
                Reply r;
                if (c.command({"PING"}, r) && r.type == '+') return true;
                fail("the " + s.role + " redis-server on 127.0.0.1:" + std::to_string(s.port) +
                     " accepted a connection but did not answer PING: " +
                     (r.type == '-' ? std::string(r.text) : c.error()));
                return false;
            }
            if (now_ns() > deadline) {
                fail("the " + s.role + " redis-server (pid " + std::to_string(s.pid) +
                     ") did not accept connections on 127.0.0.1:" + std::to_string(s.port) + " within " +
                     std::to_string(kStartTimeoutMs / 1000) + " s; " + log_excerpt(s.role, s.log));
                return false;
            }
            sleep_ms(10);
        }
        return false;
    }

    Server primary{"primary"}, replica{"replica"};

private:
    static std::string describe(int status) {
        if (WIFEXITED(status)) return "with status " + std::to_string(WEXITSTATUS(status));
        if (WIFSIGNALED(status)) return std::string("on signal ") + strsignal(WTERMSIG(status));
        return "";
    }

    std::string exe_;
    bool keep_dir_;
    std::filesystem::path dir_;
};

/// Polls the replica's INFO replication until master_link_status:up.
bool wait_for_link(Cluster& cl, Resp& replica) {
    const std::uint64_t deadline = now_ns() + std::uint64_t{kLinkTimeoutMs} * 1'000'000;
    std::string status = "(none)";
    while (!g_stop) {
        Reply r;
        if (!replica.command({"INFO", "replication"}, r) || r.type != '$') {
            fail("INFO replication on the replica failed: " + (r.type == '-' ? std::string(r.text) : replica.error()));
            return false;
        }
        status = info_field(r.text, "master_link_status");
        if (status.empty()) status = "(absent: role:" + info_field(r.text, "role") + ")";
        if (status == "up") return true;
        if (now_ns() > deadline) {
            fail("the replica (127.0.0.1:" + std::to_string(cl.replica.port) +
                 ") never linked to the primary (127.0.0.1:" + std::to_string(cl.primary.port) + ") within " +
                 std::to_string(kLinkTimeoutMs / 1000) + " s: master_link_status:" + status + "; " +
                 log_excerpt("replica", cl.replica.log) + log_excerpt("primary", cl.primary.log));
            return false;
        }
        sleep_ms(20);
    }
    return false;
}

// ------------------------------------------------------------------------------------------
// The measurement
// ------------------------------------------------------------------------------------------

struct Options {
    std::string redis_server = "redis-server";
    std::size_t size = 64;
    std::size_t count = 10'000;
    std::size_t warmup = 500;
    double rate = 0; // operations per second; 0: closed loop
    bool pipeline = false;
    int client_cpu = 0, primary_cpu = 0, replica_cpu = 1;
    std::string samples;
    bool keep_dir = false;
};

/// `SET redis_wait:key <value>` then `WAIT 1 1000` in RESP, built once: closed loop sends the two
/// parts in turn, --pipeline the whole buffer. Each operation overwrites the first bytes of the
/// value (at value_at) with its counter, so no byte is copied or formatted in the timed loop.
struct Commands {
    std::vector<char> bytes;
    std::size_t value_at = 0, value_size = 0, wait_at = 0;

    explicit Commands(std::size_t size) : value_size(size) {
        constexpr std::string_view key = "redis_wait:key";
        std::string head = "*3\r\n$3\r\nSET\r\n$" + std::to_string(key.size()) + "\r\n" + std::string(key) + "\r\n$" +
                           std::to_string(size) + "\r\n";
        bytes.assign(head.begin(), head.end());
        value_at = bytes.size();
        // Random-ish bytes (splitmix64): no value along the path is conveniently uniform.
        std::uint64_t x = 0x9e3779b97f4a7c15ull;
        for (std::size_t i = 0; i < size; ++i) {
            x += 0x9e3779b97f4a7c15ull;
            std::uint64_t z = x;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            bytes.push_back(static_cast<char>(z ^ (z >> 31)));
        }
        const std::string timeout = std::to_string(kWaitTimeoutMs);
        const std::string wait =
            "\r\n*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$" + std::to_string(timeout.size()) + "\r\n" + timeout + "\r\n";
        wait_at = bytes.size() + 2; // after the value's CRLF
        bytes.insert(bytes.end(), wait.begin(), wait.end());
    }

    void stamp(std::uint64_t op) { std::memcpy(bytes.data() + value_at, &op, std::min(sizeof op, value_size)); }
    std::string_view set() const { return {bytes.data(), wait_at}; }
    std::string_view wait() const { return {bytes.data() + wait_at, bytes.size() - wait_at}; }
    std::string_view both() const { return {bytes.data(), bytes.size()}; }
};

/// Waits until `t` (CLOCK_MONOTONIC ns): sleeps while more than 100 us remain, then spins. The
/// client shares CPU 0 with the primary, so a long spin would take the core from the server it is
/// waiting to measure; the final spin keeps the timer's wake-up slack out of the send time.
void wait_until(std::uint64_t t) {
    constexpr std::uint64_t kSpinNs = 100'000;
    std::uint64_t now = now_ns();
    if (now + kSpinNs < t) {
        const std::uint64_t wake = t - kSpinNs;
        timespec ts{static_cast<time_t>(wake / 1'000'000'000), static_cast<long>(wake % 1'000'000'000)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    }
    while (now_ns() < t && !g_stop) __builtin_ia32_pause();
}

int run(const Options& o) {
    const std::string exe = find_executable(o.redis_server);
    if (exe.empty()) {
        fail(o.redis_server.find('/') != std::string::npos
                 ? "redis-server not found: " + o.redis_server + " is not an executable file (--redis-server PATH)"
                 : "redis-server not found: no executable '" + o.redis_server +
                       "' in PATH (Debian: apt install redis-server; or --redis-server PATH)");
        return 2;
    }
    // Pinned before the children exist; each child then pins itself to its own CPU before exec.
    if (!pin_to(0, o.client_cpu)) {
        fail("the client " + pin_error(o.client_cpu, errno));
        return 2;
    }

    Cluster cl(exe, o.keep_dir);
    auto p1 = free_port(), p2 = free_port();
    while (p1 && p2 && *p1 == *p2) p2 = free_port();
    if (!p1 || !p2) {
        fail("cannot find a free TCP port on 127.0.0.1: " + errno_text());
        return 2;
    }
    cl.primary.port = *p1;
    cl.primary.cpu = o.primary_cpu;
    cl.replica.port = *p2;
    cl.replica.cpu = o.replica_cpu;
    if (!cl.make_dir() || !cl.spawn(cl.primary, 0) || !cl.spawn(cl.replica, cl.primary.port)) return 2;

    Resp client, replica;
    if (!cl.connect(cl.primary, client) || !cl.connect(cl.replica, replica) || !wait_for_link(cl, replica))
        return g_stop ? 130 : 2;

    Reply r;
    if (!client.command({"INFO", "server"}, r) || r.type != '$') {
        fail("INFO server on the primary failed: " + client.error());
        return 2;
    }
    const std::string version = info_field(r.text, "redis_version");

    Commands cmd(o.size);
    std::string error; // set only on a failed operation: the loop stops there
    std::size_t wait_errors = 0, first_wait_error = 0;
    // One operation; returns WAIT's reply (replicas that acknowledged), -1 on failure (error set).
    // Nothing here allocates unless it fails.
    auto op = [&](std::uint64_t n) -> std::int64_t {
        cmd.stamp(n);
        if (!client.send_all(o.pipeline ? cmd.both() : cmd.set())) return error = client.error(), -1;
        Reply rep;
        if (!client.read(rep)) return error = "SET: " + client.error(), -1;
        if (rep.type != '+' || rep.text != "OK")
            return error = "SET answered " + std::string(1, rep.type) + std::string(rep.text) + " instead of +OK", -1;
        if (!o.pipeline && !client.send_all(cmd.wait())) return error = client.error(), -1;
        if (!client.read(rep)) return error = "WAIT: " + client.error(), -1;
        if (rep.type != ':')
            return error =
                       "WAIT answered " + std::string(1, rep.type) + std::string(rep.text) + " instead of an integer",
                   -1;
        return rep.integer;
    };

    // The replica is linked; the first replicated write proves the whole path before timing. Right
    // after its full resync a replica may not acknowledge the first WAIT (seen once in a dozen
    // runs): a few tries, each with WAIT's own timeout, before calling it a failure.
    std::int64_t first = op(0);
    for (int tries = 1; first == 0 && tries < 5 && !g_stop; ++tries) first = op(0);
    if (first < 0) {
        fail("the first SET + WAIT failed: " + error);
        return g_stop ? 130 : 2;
    }
    if (first < 1) {
        fail("the first WAIT 1 " + std::to_string(kWaitTimeoutMs) +
             " returned 0 five times: the replica is linked (master_link_status:up) but did not acknowledge a SET "
             "within " +
             std::to_string(kWaitTimeoutMs) + " ms; " + log_excerpt("replica", cl.replica.log));
        return 2;
    }

    std::vector<std::uint64_t> lat(o.count);
    const std::size_t total = o.warmup + o.count;
    const bool open = o.rate > 0;
    // The default 50 us timer slack would make wait_until's sleep overshoot into the spin's margin.
    if (open) prctl(PR_SET_TIMERSLACK, 1UL);
    const std::uint64_t t0 = now_ns() + 1'000'000; // open loop: the schedule starts 1 ms from now
    const double period = open ? 1e9 / o.rate : 0;
    std::size_t done = 0;
    std::uint64_t measured_from = now_ns();
    for (std::size_t i = 0; i < total && !g_stop; ++i) {
        if (i == o.warmup) measured_from = now_ns();
        std::uint64_t start;
        if (open) {
            start = t0 + static_cast<std::uint64_t>(static_cast<double>(i) * period);
            wait_until(start); // returns at once when already late: the delay stays in the latency
        } else {
            start = now_ns();
        }
        const std::int64_t acked = op(i + 1);
        const std::uint64_t end = now_ns();
        if (acked < 0) break;
        if (acked < 1 && wait_errors++ == 0) first_wait_error = i; // warm-up included: any is a failure
        if (i >= o.warmup) lat[done++] = end - start;
    }
    const std::uint64_t finished = now_ns();
    if (g_stop) {
        fail("interrupted after " + std::to_string(done) + " of " + std::to_string(o.count) + " operations");
        return 130;
    }
    if (!error.empty()) {
        fail("operation " + std::to_string(done) + " failed: " + error);
        return 2;
    }

    if (!o.samples.empty()) {
        std::FILE* f = std::fopen(o.samples.c_str(), "w");
        if (!f) {
            fail("cannot write " + o.samples + ": " + errno_text());
            return 2;
        }
        for (std::uint64_t v : lat) std::fprintf(f, "%llu\n", static_cast<unsigned long long>(v));
        if (std::fclose(f) != 0) {
            fail("cannot write " + o.samples + ": " + errno_text());
            return 2;
        }
    }

    double sum = 0;
    for (std::uint64_t v : lat) sum += static_cast<double>(v);
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double p) {
        return static_cast<double>(lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * lat.size()))]) / 1000.0;
    };
    const double ops_per_s = static_cast<double>(o.count) * 1e9 / static_cast<double>(finished - measured_from);
    std::printf("{\"tool\":\"%s\",\"mode\":\"%s\",\"size\":%zu,\"count\":%zu,\"rate\":%g,\"p50_us\":%.3f,"
                "\"p99_us\":%.3f,\"p999_us\":%.3f,\"max_us\":%.3f,\"mean_us\":%.3f,\"errors\":%zu,"
                "\"redis_version\":\"%s\",\"pinning\":\"client %d, primary %d, replica %d\",\"pipeline\":%s,"
                "\"warmup\":%zu,\"ops_per_s\":%.0f}\n",
                kTool, open ? "open" : "closed", o.size, o.count, o.rate, pct(0.5), pct(0.99), pct(0.999), pct(1.0),
                sum / static_cast<double>(lat.size()) / 1000.0, wait_errors, version.c_str(), o.client_cpu,
                o.primary_cpu, o.replica_cpu, o.pipeline ? "true" : "false", o.warmup, ops_per_s);
    std::fflush(stdout);
    if (wait_errors) {
        fail(std::to_string(wait_errors) + " of " + std::to_string(total) + " WAIT 1 " +
             std::to_string(kWaitTimeoutMs) +
             " (warm-up included) returned 0: the replica did not acknowledge the SET within " +
             std::to_string(kWaitTimeoutMs) + " ms; the first was operation " + std::to_string(first_wait_error) +
             (first_wait_error < o.warmup ? " (warm-up)" : "") + "; " + log_excerpt("replica", cl.replica.log));
        return 1;
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"redis_wait: Redis 7 primary + replica on loopback, SET then WAIT 1 (the replication baseline)"};
    app.add_option("--redis-server", o.redis_server, "redis-server executable (a path, or a name looked up in PATH)");
    app.add_option("--size", o.size, "value bytes per SET")->check(CLI::Range(std::size_t{1}, std::size_t{64} << 20));
    app.add_option("--count", o.count, "timed operations")->check(CLI::PositiveNumber);
    app.add_option("--warmup", o.warmup, "untimed operations first");
    app.add_option("--rate", o.rate, "open loop: operations per second, latency from each one's intended start")
        ->check(CLI::PositiveNumber);
    app.add_flag("--pipeline", o.pipeline, "send SET and WAIT in one write instead of waiting for SET's +OK");
    app.add_option("--client-cpu", o.client_cpu, "CPU of this client")->check(CLI::Range(0, CPU_SETSIZE - 1));
    app.add_option("--primary-cpu", o.primary_cpu, "CPU of the primary")->check(CLI::Range(0, CPU_SETSIZE - 1));
    app.add_option("--replica-cpu", o.replica_cpu, "CPU of the replica")->check(CLI::Range(0, CPU_SETSIZE - 1));
    app.add_option("--samples", o.samples, "write every latency (ns), one per line, in the order measured");
    app.add_flag("--keep-dir", o.keep_dir, "keep the temporary directory (redis-server logs) at the end");
    CLI11_PARSE(app, argc, argv);

    // No SA_RESTART: a blocking recv() returns EINTR, so Ctrl-C ends the run and the servers stop.
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    return run(o);
}

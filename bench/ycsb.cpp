// ycsb: a YCSB-style driver speaking the Redis protocol, so the same binary drives hotspare-kvstore,
// Redis (with or without WAIT) and a CRIU-checkpointed Redis (issue 16).
//
//   ycsb --port P [--endpoint HOST:PORT ...] [--workload a|b] [--records N] [--operations N]
//        [--clients C] [--rate OPS_PER_S] [--wait N] [--no-load] [--label TEXT]
//        [--failovers K --failover-cmd CMD] [--json] [--hist FILE] [--seed S]
//
// Workloads as YCSB's core workloads define them: A is 50% reads / 50% updates, B 95% / 5%, keys
// drawn from a scrambled zipfian distribution (theta 0.99) over `records` records of 10 fields of
// 100 bytes (1 KB). A record is one string value (every server here stores strings): a read is a
// GET of the record, an update a SET of the whole record (YCSB updates one field; a string store
// rewrites the value, as YCSB's plain key-value bindings do). The load phase SETs every record.
//
// Closed loop (default): `clients` connections, each with one operation outstanding. Open loop
// (--rate): operation i is due at t0 + i/rate and is sent on a free connection; its latency runs
// from that intended time (a late operation carries the delay; no coordinated omission).
// --wait N: each update is SET then WAIT N 1000 in one write (Redis's synchronous replication);
// the update counts as acknowledged only when WAIT reports >= N replicas.
//
// Failover (--failovers K --failover-cmd CMD): after every operations/(K+1) operations the driver
// runs `sh -c CMD` (environment YCSB_FAILOVER=i) without waiting for it: the command kills the
// active server and starts the take-over (the next one waits until the previous command exited,
// so it may bring the killed node back as a standby first). Operations that fail (connection lost, -READONLY,
// -NOREPL, refused) are retried on the next --endpoint in turn. The unavailability of failover i runs
// from its first failed operation to the first update acknowledged after it. Then the driver pauses
// the workload and reads back every record that has an acknowledged update: a record whose stored
// version is older than its last acknowledged update is a LOST update (the version travels in the
// value). The last acknowledged version of every record is kept for the whole run.
//
// Output: a report on stderr, one JSON line on stdout (--json); --hist FILE writes the latency
// histogram (log buckets, 20 per decade, µs) per operation type.
#include "resp_client.hpp"

#include <CLI/CLI.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;

std::int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

std::uint64_t fnv64(std::uint64_t v) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 8; ++i) {
        h ^= v & 0xff;
        h *= 0x100000001b3ull;
        v >>= 8;
    }
    return h;
}

/// YCSB's ZipfianGenerator (Gray et al., "Quickly generating billion-record synthetic databases"),
/// scrambled as ScrambledZipfianGenerator does: the popular items spread over the key space.
class ScrambledZipfian {
public:
    ScrambledZipfian(std::uint64_t n, double theta = 0.99) : n_(n), theta_(theta) {
        for (std::uint64_t i = 1; i <= n; ++i) zetan_ += 1.0 / std::pow(static_cast<double>(i), theta);
        const double zeta2 = 1.0 + 1.0 / std::pow(2.0, theta);
        alpha_ = 1.0 / (1.0 - theta);
        eta_ = (1.0 - std::pow(2.0 / static_cast<double>(n), 1.0 - theta)) / (1.0 - zeta2 / zetan_);
    }
    template <typename Rng>
    std::uint64_t next(Rng& rng) {
        const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
        const double uz = u * zetan_;
        std::uint64_t v;
        if (uz < 1.0)
            v = 0;
        else if (uz < 1.0 + std::pow(0.5, theta_))
            v = 1;
        else
            v = static_cast<std::uint64_t>(static_cast<double>(n_) * std::pow(eta_ * u - eta_ + 1.0, alpha_));
        if (v >= n_) v = n_ - 1;
        return fnv64(v) % n_;
    }

private:
    std::uint64_t n_;
    double theta_, zetan_ = 0, alpha_ = 0, eta_ = 0;
};

struct Endpoint {
    std::string host;
    int port;
};

enum OpType { kRead = 0, kUpdate = 1, kOpTypes = 2 };
const char* const kOpNames[] = {"read", "update"};

struct Op {
    OpType type;
    std::uint64_t key;
    std::uint64_t version; ///< update: the version written
    std::int64_t start;    ///< intended (open loop) or sent (closed loop)
    bool retried = false;
};

struct Conn {
    int fd = -1;
    std::size_t endpoint = 0;
    std::string in;
    std::size_t in_pos = 0;
    bool busy = false;
    Op op{};
    int replies_due = 0;
    std::vector<ckpt::resp::Reply> replies;
};

std::string key_name(std::uint64_t k) {
    return "user" + std::to_string(fnv64(k) % 10'000'000'000ull) + "_" + std::to_string(k);
}

/// A record: its version first, then 10 fields of 100 bytes.
std::string record(std::uint64_t key, std::uint64_t version, int fields, int field_len) {
    std::string v = "v" + std::to_string(version) + ";";
    v.reserve(static_cast<std::size_t>(fields * (field_len + 8) + 24));
    for (int f = 0; f < fields; ++f) {
        v += "field" + std::to_string(f) + "=";
        for (int i = 0; i < field_len; ++i) v += static_cast<char>('a' + (key * 7 + version * 13 + f * 3 + i) % 26);
    }
    return v;
}

long long version_of(const std::string& v) {
    if (v.size() < 2 || v[0] != 'v') return -1;
    return std::atoll(v.c_str() + 1);
}

struct Stats {
    std::vector<std::int64_t> lat[kOpTypes];
    std::uint64_t retried = 0, errors = 0, unreplicated = 0;
};

double pct(std::vector<std::int64_t>& v, double p) {
    if (v.empty()) return NAN;
    std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
    return static_cast<double>(v[i]) / 1000.0;
}

class Driver {
public:
    std::vector<Endpoint> endpoints;
    std::string workload = "a";
    std::uint64_t records = 1000, operations = 10000;
    int clients = 8;
    double rate = 0;
    int wait_replicas = 0;
    bool load = true;
    int failovers = 0;
    std::string failover_cmd;
    int fields = 10, field_len = 100;
    std::uint64_t seed = 1;

    int run(bool json, const std::string& label, const std::string& hist);

private:
    bool connect(Conn& c, std::size_t endpoint);
    void send_op(Conn& c, const Op& op);
    /// Reads replies; returns 1 when the op is complete, 0 incomplete, -1 connection lost.
    int read_replies(Conn& c);
    bool load_phase();
    std::uint64_t verify(std::uint64_t& checked);
    void fail_over_conn(Conn& c);

    int ep_ = -1;
    std::vector<Conn> conns_;
    std::vector<std::uint64_t> acked_, sent_; ///< per record: last acknowledged / last sent version
    std::size_t current_ = 0;                 ///< the endpoint that last acknowledged an update
    Stats st_;
};

bool Driver::connect(Conn& c, std::size_t endpoint) {
    if (c.fd >= 0) {
        ::epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
    }
    c.in.clear();
    c.in_pos = 0;
    c.endpoint = endpoint % endpoints.size();
    c.fd = ckpt::resp::connect_tcp(endpoints[c.endpoint].host, endpoints[c.endpoint].port, 0);
    if (c.fd < 0) return false;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &c;
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    return true;
}

void Driver::send_op(Conn& c, const Op& op) {
    c.busy = true;
    c.op = op;
    c.replies.clear();
    std::string out;
    const std::string k = key_name(op.key);
    if (op.type == kRead) {
        ckpt::resp::encode(out, {"GET", k});
        c.replies_due = 1;
    } else {
        const std::string v = record(op.key, op.version, fields, field_len);
        ckpt::resp::encode(out, {"SET", k, v});
        c.replies_due = 1;
        if (wait_replicas > 0) {
            ckpt::resp::encode(out, {"WAIT", std::to_string(wait_replicas), "1000"});
            c.replies_due = 2;
        }
    }
    for (std::size_t off = 0; off < out.size();) {
        ssize_t n = ::send(c.fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            return; // the reply read will see the connection gone
        }
        off += static_cast<std::size_t>(n);
    }
}

int Driver::read_replies(Conn& c) {
    char buf[65536];
    ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return -1;
    if (n > 0) c.in.append(buf, static_cast<std::size_t>(n));
    for (;;) {
        ckpt::resp::Reply r;
        int k = ckpt::resp::parse_reply(c.in, c.in_pos, r);
        if (k < 0) return -1;
        if (k == 0) break;
        c.replies.push_back(std::move(r));
    }
    if (c.in_pos == c.in.size()) {
        c.in.clear();
        c.in_pos = 0;
    }
    return static_cast<int>(c.replies.size()) >= c.replies_due ? 1 : 0;
}

bool Driver::load_phase() {
    // Pipelined SETs of every record on one connection, 64 in flight.
    ckpt::resp::Client c;
    for (std::size_t e = 0; e < endpoints.size(); ++e) {
        if (c.connect(endpoints[(current_ + e) % endpoints.size()].host,
                      endpoints[(current_ + e) % endpoints.size()].port)) {
            current_ = (current_ + e) % endpoints.size();
            break;
        }
    }
    if (!c.connected()) {
        std::fprintf(stderr, "ycsb: cannot connect to any endpoint\n");
        return false;
    }
    for (std::uint64_t k = 0; k < records; ++k) {
        std::vector<std::string_view> a;
        const std::string key = key_name(k), v = record(k, 1, fields, field_len);
        auto r = c.call({"SET", key, v});
        if (!r || !r->ok()) {
            std::fprintf(stderr, "ycsb: load: SET %s failed: %s\n", key.c_str(),
                         r ? r->str.c_str() : "connection lost");
            return false;
        }
        if (wait_replicas > 0) (void)c.call({"WAIT", std::to_string(wait_replicas), "1000"});
        acked_[k] = sent_[k] = 1;
    }
    return true;
}

/// Reads back every record; returns how many hold an older version than acknowledged.
std::uint64_t Driver::verify(std::uint64_t& checked) {
    ckpt::resp::Client c;
    if (!c.connect(endpoints[current_].host, endpoints[current_].port)) return ~0ull;
    std::uint64_t lost = 0;
    checked = 0;
    for (std::uint64_t k = 0; k < records; ++k) {
        if (!acked_[k]) continue;
        auto r = c.call({"GET", key_name(k)});
        if (!r) return ~0ull;
        ++checked;
        const long long v = r->type == ckpt::resp::Reply::kBulk ? version_of(r->str) : -1;
        if (v < static_cast<long long>(acked_[k])) {
            ++lost;
            if (lost <= 5)
                std::fprintf(stderr, "ycsb: LOST: %s holds version %lld, version %llu was acknowledged\n",
                             key_name(k).c_str(), v, static_cast<unsigned long long>(acked_[k]));
            acked_[k] = v > 0 ? static_cast<std::uint64_t>(v) : 0; // count each loss once
        }
    }
    return lost;
}

void Driver::fail_over_conn(Conn& c) {
    // Next endpoint in turn; a refused connect is retried by the caller after a pause.
    connect(c, c.endpoint + 1);
}

int Driver::run(bool json, const std::string& label, const std::string& hist) {
    const double read_prop = workload == "b" ? 0.95 : 0.5;
    acked_.assign(records, 0);
    sent_.assign(records, 0);
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    std::mt19937_64 rng(seed);
    ScrambledZipfian zipf(records);
    if (load && !load_phase()) return 2;
    if (!load) std::fill(acked_.begin(), acked_.end(), 0), std::fill(sent_.begin(), sent_.end(), 1);
    for (auto& v : st_.lat) v.reserve(operations);
    conns_.resize(static_cast<std::size_t>(clients));
    for (std::size_t i = 0; i < conns_.size(); ++i) {
        if (!connect(conns_[i], current_)) {
            std::fprintf(stderr, "ycsb: cannot connect to %s:%d\n", endpoints[current_].host.c_str(),
                         endpoints[current_].port);
            return 2;
        }
    }
    const std::uint64_t per_failover = failovers > 0 ? operations / static_cast<std::uint64_t>(failovers + 1) : 0;
    std::uint64_t issued = 0, done = 0;
    int failovers_started = 0;
    std::vector<pid_t> cmd_pids;
    std::vector<double> unavail_ms;
    std::vector<std::uint64_t> lost_per_failover;
    std::int64_t outage_start = -1; ///< first failure of the current failover
    bool verify_pending = false;
    std::uint64_t lost_total = 0;
    std::deque<Op> retry;       ///< operations to send again (after a failure)
    std::int64_t verify_ns = 0; ///< time spent verifying (excluded from the throughput)
    const std::int64_t t0 = now_ns();
    std::vector<epoll_event> evs(256);
    // At most one update of a record in flight (retries included): two concurrent updates of one
    // record may be applied in either order, and the lost-update check compares versions. An
    // update drawn for a busy record draws another key (a hot record stays hot).
    std::vector<std::uint8_t> updating(records, 0);
    auto make_op = [&](std::int64_t start) {
        Op op{};
        op.type = std::uniform_real_distribution<double>(0, 1)(rng) < read_prop ? kRead : kUpdate;
        op.key = zipf.next(rng);
        for (int tries = 0; op.type == kUpdate && updating[op.key] && tries < 64; ++tries) op.key = zipf.next(rng);
        if (op.type == kUpdate && updating[op.key]) op.type = kRead;
        op.start = start;
        if (op.type == kUpdate) {
            op.version = ++sent_[op.key];
            updating[op.key] = 1;
        }
        return op;
    };
    // In failover mode the run goes on past `operations` until every failover happened and was
    // checked (a take-over and the return of the killed node may outlast the operations).
    auto failovers_left = [&] { return failovers_started < failovers || verify_pending; };
    while (done < operations || failovers_left()) {
        // Failover commands at their points of the run.
        // The previous failover command (which also brings the killed node back as a standby)
        // must have finished before the next kill.
        bool cmd_running = false;
        for (pid_t& p : cmd_pids)
            if (p > 0) {
                int status = 0;
                if (::waitpid(p, &status, WNOHANG) == p) {
                    p = -1;
                    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        std::fprintf(stderr, "ycsb: failover command %d failed (status %d): no more failovers\n",
                                     failovers_started, status);
                        failovers = failovers_started;
                        ++st_.errors;
                    }
                } else {
                    cmd_running = true;
                }
            }
        if (failovers_started < failovers &&
            issued >= per_failover * static_cast<std::uint64_t>(failovers_started + 1) && !verify_pending &&
            !cmd_running) {
            pid_t pid = ::fork();
            if (pid == 0) {
                ::setenv("YCSB_FAILOVER", std::to_string(failovers_started).c_str(), 1);
                ::execl("/bin/sh", "sh", "-c", failover_cmd.c_str(), static_cast<char*>(nullptr));
                ::_exit(127);
            }
            cmd_pids.push_back(pid);
            ++failovers_started;
            verify_pending = true;
            outage_start = -1;
        }
        // Send: closed loop keeps every connection busy; open loop sends what is due.
        const std::int64_t now = now_ns();
        for (auto& c : conns_) {
            if (c.busy || c.fd < 0) continue;
            if (!retry.empty()) {
                send_op(c, retry.front());
                retry.pop_front();
                continue;
            }
            if (issued >= operations && !failovers_left()) continue;
            std::int64_t due =
                rate > 0 ? t0 + verify_ns + static_cast<std::int64_t>(static_cast<double>(issued) * 1e9 / rate) : now;
            if (due > now) break;
            send_op(c, make_op(due));
            ++issued;
        }
        // Reconnect connections that lost their endpoint.
        for (auto& c : conns_) {
            if (c.fd >= 0) continue;
            if (!connect(c, c.endpoint)) {
                c.endpoint = (c.endpoint + 1) % endpoints.size();
            }
        }
        // Sleep until a reply or the next due operation (at most 1 ms), to the nanosecond: a
        // millisecond-granular wait would spin on the CPU the servers need.
        std::int64_t wait_ns = 1'000'000;
        const bool free_conn =
            std::any_of(conns_.begin(), conns_.end(), [](const Conn& c) { return !c.busy && c.fd >= 0; });
        if (rate > 0 && free_conn && (issued < operations || failovers_left())) { // else: a reply wakes us
            std::int64_t due = t0 + verify_ns + static_cast<std::int64_t>(static_cast<double>(issued) * 1e9 / rate);
            wait_ns = std::clamp<std::int64_t>(due - now_ns(), 0, 1'000'000);
        }
        timespec wait_ts{0, static_cast<long>(wait_ns)};
        int n = ::epoll_pwait2(ep_, evs.data(), static_cast<int>(evs.size()), &wait_ts, nullptr);
        bool any_failed = false;
        for (int i = 0; i < n; ++i) {
            Conn& c = *static_cast<Conn*>(evs[i].data.ptr);
            if (!c.busy) { // hang-up of an idle connection
                char b;
                if (::recv(c.fd, &b, 1, MSG_DONTWAIT | MSG_PEEK) == 0) {
                    ::epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
                    ::close(c.fd);
                    c.fd = -1;
                    c.endpoint = (c.endpoint + 1) % endpoints.size();
                }
                continue;
            }
            int k = read_replies(c);
            if (k == 0) continue;
            bool ok = k == 1 && c.replies[0].ok();
            bool replicated = true;
            if (ok && c.op.type == kUpdate && wait_replicas > 0)
                replicated = c.replies.size() > 1 && c.replies[1].type == ckpt::resp::Reply::kInteger &&
                             c.replies[1].num >= wait_replicas;
            const std::int64_t t = now_ns();
            if (!ok) {
                // Lost connection or refused (READONLY, NOREPL, LOADING...): try the next endpoint.
                if (outage_start < 0) outage_start = t;
                any_failed = true;
                Op again = c.op;
                again.retried = true;
                c.busy = false;
                retry.push_back(again);
                if (k < 0) {
                    ::epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
                    ::close(c.fd);
                    c.fd = -1;
                    c.endpoint = (c.endpoint + 1) % endpoints.size();
                } else {
                    fail_over_conn(c);
                }
                continue;
            }
            c.busy = false;
            ++done;
            if (c.op.type == kUpdate) updating[c.op.key] = 0;
            if (c.op.retried)
                ++st_.retried;
            else
                st_.lat[c.op.type].push_back(t - c.op.start);
            if (c.op.type == kUpdate) {
                if (replicated) {
                    acked_[c.op.key] = std::max(acked_[c.op.key], c.op.version);
                    current_ = c.endpoint;
                    if (outage_start >= 0) {
                        unavail_ms.push_back(static_cast<double>(t - outage_start) / 1e6);
                        outage_start = -1;
                        if (verify_pending) {
                            // Drain what is in flight, then read every record back.
                            const std::int64_t v0 = now_ns();
                            std::uint64_t checked = 0;
                            std::uint64_t lost = verify(checked);
                            if (lost == ~0ull) lost = 0; // endpoint moved again: checked next time
                            lost_per_failover.push_back(lost);
                            lost_total += lost;
                            std::fprintf(stderr,
                                         "ycsb: failover %zu: unavailable %.1f ms, %llu of %llu records checked lost "
                                         "an acknowledged update\n",
                                         lost_per_failover.size(), unavail_ms.back(),
                                         static_cast<unsigned long long>(lost),
                                         static_cast<unsigned long long>(checked));
                            verify_pending = false;
                            verify_ns += now_ns() - v0;
                        }
                    }
                } else {
                    ++st_.unreplicated;
                }
            }
        }
        if (any_failed) ::usleep(500);
        if (g_stop) break;
    }
    const std::int64_t elapsed = now_ns() - t0 - verify_ns;
    // A failover whose recovery was not seen by an update yet: verify now.
    if (verify_pending) {
        std::uint64_t checked = 0, lost = verify(checked);
        if (lost != ~0ull) lost_per_failover.push_back(lost), lost_total += lost;
    }
    for (pid_t p : cmd_pids)
        if (p > 0) ::waitpid(p, nullptr, 0);
    const double tput = static_cast<double>(done) / (static_cast<double>(elapsed) / 1e9);
    std::fprintf(stderr, "ycsb %s: workload %s, %llu records, %llu operations, %d clients%s: %.0f ops/s\n",
                 label.c_str(), workload.c_str(), static_cast<unsigned long long>(records),
                 static_cast<unsigned long long>(done), clients,
                 rate > 0 ? (", open loop " + std::to_string(static_cast<long>(rate)) + "/s").c_str() : "", tput);
    std::string js = "{\"tool\":\"ycsb\",\"label\":\"" + label + "\",\"workload\":\"" + workload +
                     "\",\"records\":" + std::to_string(records) + ",\"operations\":" + std::to_string(done) +
                     ",\"clients\":" + std::to_string(clients) + ",\"rate\":" + std::to_string(rate) +
                     ",\"throughput_ops\":" + std::to_string(tput);
    for (int t = 0; t < kOpTypes; ++t) {
        auto& v = st_.lat[t];
        const double p50 = pct(v, 0.5), p99 = pct(v, 0.99), p999 = pct(v, 0.999);
        const double mx = v.empty() ? NAN : static_cast<double>(*std::max_element(v.begin(), v.end())) / 1000.0;
        std::fprintf(stderr, "  %-6s %8zu ops  p50 %8.1f us  p99 %8.1f us  p99.9 %8.1f us  max %9.1f us\n", kOpNames[t],
                     v.size(), p50, p99, p999, mx);
        auto num = [](double d) { return std::isnan(d) ? std::string("null") : std::to_string(d); };
        js += std::string(",\"") + kOpNames[t] + "\":{\"count\":" + std::to_string(v.size()) +
              ",\"p50_us\":" + num(p50) + ",\"p99_us\":" + num(p99) + ",\"p999_us\":" + num(p999) +
              ",\"max_us\":" + num(mx) + "}";
    }
    double un_max = 0, un_sum = 0;
    for (double u : unavail_ms) un_max = std::max(un_max, u), un_sum += u;
    js += ",\"failovers\":" + std::to_string(failovers_started) + ",\"lost_updates\":" + std::to_string(lost_total) +
          ",\"unavailable_ms_max\":" + std::to_string(un_max) + ",\"unavailable_ms_mean\":" +
          std::to_string(unavail_ms.empty() ? 0.0 : un_sum / static_cast<double>(unavail_ms.size())) +
          ",\"failover_errors\":" + std::to_string(st_.errors) + ",\"retried\":" + std::to_string(st_.retried) +
          ",\"unreplicated\":" + std::to_string(st_.unreplicated) + "}";
    if (failovers_started)
        std::fprintf(
            stderr,
            "  failovers %d: lost acknowledged updates %llu; unavailable max %.1f ms, mean %.1f ms; %llu ops retried\n",
            failovers_started, static_cast<unsigned long long>(lost_total), un_max,
            unavail_ms.empty() ? 0.0 : un_sum / static_cast<double>(unavail_ms.size()),
            static_cast<unsigned long long>(st_.retried));
    if (st_.unreplicated)
        std::fprintf(stderr, "  %llu updates answered but not replicated (WAIT reported fewer replicas)\n",
                     static_cast<unsigned long long>(st_.unreplicated));
    if (json) std::printf("%s\n", js.c_str());
    if (!hist.empty()) {
        std::ofstream h(hist);
        h << "# bucket_us read update (counts; 20 log buckets per decade)\n";
        std::vector<std::vector<std::uint64_t>> b(kOpTypes, std::vector<std::uint64_t>(200));
        for (int t = 0; t < kOpTypes; ++t)
            for (auto ns : st_.lat[t]) {
                const double us = std::max(1.0, static_cast<double>(ns) / 1000.0);
                auto i = static_cast<std::size_t>(std::min(199.0, std::log10(us) * 20));
                ++b[static_cast<std::size_t>(t)][i];
            }
        for (std::size_t i = 0; i < 200; ++i)
            if (b[0][i] || b[1][i])
                h << std::pow(10.0, static_cast<double>(i) / 20) << " " << b[0][i] << " " << b[1][i] << "\n";
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"YCSB-style workloads A and B over the Redis protocol"};
    Driver d;
    std::string host = "127.0.0.1", label = "run", hist;
    int port = 6379;
    std::vector<std::string> extra;
    bool json = false, no_load = false;
    app.add_option("--host", host);
    app.add_option("--port", port, "first endpoint");
    app.add_option("--endpoint", extra, "more endpoints (HOST:PORT), tried in turn after a failure");
    app.add_option("--workload", d.workload)->check(CLI::IsMember({"a", "b"}));
    app.add_option("--records", d.records);
    app.add_option("--operations", d.operations);
    app.add_option("--clients", d.clients)->check(CLI::Range(1, 1024));
    app.add_option("--rate", d.rate, "open loop: operations per second (0: closed loop)");
    app.add_option("--wait", d.wait_replicas, "append WAIT N 1000 to every update (Redis)");
    app.add_flag("--no-load", no_load, "skip the load phase");
    app.add_option("--failovers", d.failovers);
    app.add_option("--failover-cmd", d.failover_cmd);
    app.add_option("--seed", d.seed);
    app.add_option("--label", label);
    app.add_option("--hist", hist);
    app.add_flag("--json", json);
    CLI11_PARSE(app, argc, argv);
    if (d.failovers > 0 && d.failover_cmd.empty()) {
        std::fprintf(stderr, "ycsb: --failovers needs --failover-cmd\n");
        return 2;
    }
    d.load = !no_load;
    d.endpoints.push_back({host, port});
    for (auto& e : extra) {
        auto c = e.rfind(':');
        if (c == std::string::npos) {
            std::fprintf(stderr, "ycsb: --endpoint %s: HOST:PORT\n", e.c_str());
            return 2;
        }
        d.endpoints.push_back({e.substr(0, c), std::atoi(e.c_str() + c + 1)});
    }
    ::signal(SIGPIPE, SIG_IGN);
    ::signal(SIGINT, [](int) { g_stop = 1; });
    ::signal(SIGTERM, [](int) { g_stop = 1; });
    return d.run(json, label, hist);
}

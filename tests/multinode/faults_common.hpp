#pragma once
// What the fault scenarios share (test_faults_*.cpp): byte patterns and the model of what a
// section must hold, convergence checks between two replicas, link figures, a frozen (SIGSTOPped)
// process, writes that record what was acknowledged.
#include "ckpt/client/session.hpp"
#include "cluster.hpp"
#include "engine_process.hpp"
#include "netns.hpp"
#include "two_nodes.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>

using namespace ckpt;
using namespace ckpt::client;
using ckpt::testing::bytes_of;
using ckpt::testing::Cluster;
using ckpt::testing::ClusterCarrier;
using ckpt::testing::ClusterOptions;
using ckpt::testing::EngineProcess;
using ckpt::testing::eventually;
using ckpt::testing::Hook;
using ckpt::testing::open_replica;
using ckpt::testing::realtime_ns;
using ckpt::testing::replica_attrs;
using ckpt::testing::VethPair;
using ckpt::testing::wait_peer_state;

namespace ckpt::testing::faults {

constexpr int kLongWait = 24000;         // x 5 ms: 120 s before a convergence wait gives up
constexpr std::size_t kBadHashIndex = 7; // LinkInfo::rejected_by_reason: net::Reject::kBadHash - 1
constexpr std::uint16_t kReplicationPort = 7490;

// ---- helpers ----------------------------------------------------------------------------------

/// n bytes of a pattern that differs for every seed (splitmix64).
inline std::vector<std::byte> pattern(std::size_t n, std::uint64_t seed) {
    std::vector<std::byte> v(n);
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (std::size_t i = 0; i < n; ++i) {
        if (i % 8 == 0) {
            x += 0x9E3779B97F4A7C15ull;
            std::uint64_t z = x;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            x = z ^ (z >> 31);
        }
        v[i] = static_cast<std::byte>(x >> ((i % 8) * 8));
    }
    return v;
}

/// The committed content of a section (its size bytes); nullopt when it cannot be read.
inline std::optional<std::vector<std::byte>> content(const Checkpoint& c, const std::string& id) {
    auto s = c.section(id);
    if (!s) return std::nullopt;
    std::vector<std::byte> buf(s->capacity());
    auto n = s->read(0, buf);
    if (!n) return std::nullopt;
    buf.resize(*n);
    return buf;
}

inline std::string describe(const std::optional<std::vector<std::byte>>& a,
                            const std::optional<std::vector<std::byte>>& b) {
    if (!a || !b) return std::string(a ? "" : "first unreadable ") + (b ? "" : "second unreadable");
    if (a->size() != b->size()) return "sizes " + std::to_string(a->size()) + " and " + std::to_string(b->size());
    for (std::size_t i = 0; i < a->size(); ++i)
        if ((*a)[i] != (*b)[i]) return "first difference at byte " + std::to_string(i);
    return {};
}

/// Empty when both checkpoints hold the same sections (ids) with the same bytes; else the first
/// difference, in words.
inline std::string difference(const Checkpoint& a, const Checkpoint& b) {
    std::set<std::string> ia, ib;
    for (const auto& d : a.sections()) ia.insert(d.id);
    for (const auto& d : b.sections()) ib.insert(d.id);
    if (ia != ib) {
        std::string s = "section lists differ: {";
        for (const auto& i : ia) s += " " + i;
        s += " } vs {";
        for (const auto& i : ib) s += " " + i;
        return s + " }";
    }
    for (const auto& id : ia) {
        auto ca = content(a, id), cb = content(b, id);
        if (!ca || !cb || *ca != *cb) return "section " + id + ": " + describe(ca, cb);
    }
    return {};
}

/// Polls until `b` matches `a` (sections and bytes); returns the last difference (empty: same).
inline std::string converge(const Checkpoint& a, const Checkpoint& b, int tries = kLongWait) {
    std::string d;
    eventually(
        [&] {
            d = difference(a, b);
            return d.empty();
        },
        tries);
    return d;
}

inline LinkInfo link_of(const std::string& socket) {
    auto s = Session::connect({socket, kDefaultTimeout, false});
    if (!s) return {};
    auto l = s->peers();
    return l ? *l : LinkInfo{};
}

inline std::string peer_state(const std::string& socket, std::uint16_t peer) {
    for (const auto& p : link_of(socket).peers)
        if (p.node_id == peer) return p.state;
    return "?";
}

/// Ten UDP ports for this test process (offsets 0..9), below the ephemeral range and away from
/// the default 7490 and from test_transports' ports (20000..32000).
inline std::uint16_t port_base() {
    return static_cast<std::uint16_t>(10000 + (::getpid() % 1000) * 10);
}

/// The process's scheduler state letter from /proc (R, S, T...).
inline char proc_state(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = all.rfind(')');
    return close == std::string::npos || close + 2 >= all.size() ? '?' : all[close + 2];
}

/// SIGSTOPs an engine for its lifetime: SIGCONT in the destructor, whatever happens in between.
class Frozen {
public:
    explicit Frozen(pid_t pid) : pid_(pid) {
        ::kill(pid_, SIGSTOP);
        for (int i = 0; i < 2000 && proc_state(pid_) != 'T'; ++i) ::usleep(1000);
    }
    ~Frozen() { thaw(); }
    Frozen(const Frozen&) = delete;
    Frozen& operator=(const Frozen&) = delete;
    bool stopped() const { return proc_state(pid_) == 'T'; }
    void thaw() {
        if (pid_ > 0) ::kill(pid_, SIGCONT);
        pid_ = -1;
    }

private:
    pid_t pid_;
};

/// What one writer believes a section holds: its whole capacity and its size.
struct Model {
    std::vector<std::byte> buf;
    std::size_t size = 0;
    std::vector<std::byte> content() const { return {buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(size)}; }
};

/// The outcome of one commit by the writer helpers below.
struct Outcome {
    bool published = false; ///< the active holds it (returned OK, or failed waiting for the ack)
    Status status;          ///< OK, or the error
};

/// write(offset, rec) through an explicit transaction, so a failure before the transaction (no
/// byte written) and a failure waiting for the acknowledgement (the commit holds on the active)
/// are told apart; the model follows what the active holds.
inline Outcome write_rec(Section& s, Model& m, std::size_t offset, std::span<const std::byte> rec, Ack ack) {
    auto tx = s.write();
    if (!tx) return {false, tx.failure()};
    tx->write(offset, rec);
    auto r = tx->commit(ack);
    const bool published = r.ok() || r.error() == Error::kUnavailable || r.error() == Error::kTimeout;
    if (published) {
        std::memcpy(m.buf.data() + offset, rec.data(), rec.size());
        m.size = std::max(m.size, offset + rec.size());
    }
    return {published, r.ok() ? Status{} : Status(r.failure())};
}

inline Outcome overwrite_all(Section& s, Model& m, std::span<const std::byte> src, Ack ack) {
    auto tx = s.write();
    if (!tx) return {false, tx.failure()};
    tx->resize(src.size());
    tx->write(0, src);
    auto r = tx->commit_overwrite(ack);
    const bool published = r.ok() || r.error() == Error::kUnavailable || r.error() == Error::kTimeout;
    if (published) {
        std::memcpy(m.buf.data(), src.data(), src.size());
        m.size = src.size();
    }
    return {published, r.ok() ? Status{} : Status(r.failure())};
}

#define SKIP_WITHOUT_NETNS()                                                                                           \
    if (auto why = ckpt::testing::netns_unavailable(); !why.empty()) GTEST_SKIP() << why

} // namespace ckpt::testing::faults

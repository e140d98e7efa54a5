// ckpt_scale: how failover, resync and section count scale, each figure next to a baseline
// measured in the same run (DESIGN.md, "Measuring": resume time vs checkpoint size, wire bytes vs
// changed bytes). Two real ckptd nodes over DPDK memif (bench/support's EnginePair, ckptd's
// defaults: engines sleep when idle), A (node 1) the active and B (node 2) the standby.
//
//   1. Standby takeover vs checkpoint size (invariant 1: "resuming on the standby is a map, whose
//      cost does not grow with the checkpoint's size"). A checkpoint of 1 MiB, 64 MiB and 1 GiB in
//      1 MiB sections, every byte written (async commits) and replicated to B (lag 0). Engine A is
//      SIGKILLed; once B has declared it down, a fresh session to B (as a new application process
//      would make) connects, promotes the replica (Session::promote, what ckptctl promote and the
//      multinode tests call), opens it read-write, looks up every section (a pointer to each, the
//      mapping), and makes one write + commit(sync): the takeover. Baseline: the same state read
//      through a copying API, as SA Forum readers must (saCkptCheckpointRead): a fresh session
//      opens the replica and Section::read()s every section into a private, pre-touched buffer.
//      Targets: takeover at 1 GiB within 2x of 1 MiB, and >= 100x faster than reading 1 GiB. One
//      pair of engines per size (a promotion is one-way). The failure detection (peer_timeout_ms)
//      is not part of the takeover and is reported beside it.
//   2. Resync after a restart (invariant 4: "a replica that rejoins catches up by comparing block
//      hashes and receiving only the blocks that differ"). A 64 MiB checkpoint (64 sections of
//      1 MiB, block size 256) in sync on both nodes; engine B is SIGKILLed; 1% of the blocks are
//      changed on A, spread (one block every 99), and committed; B restarts, adopts its surviving
//      segments, reports its block hashes, and receives what differs. Wire bytes are engine A's
//      replication frames (LinkInfo::wire_bytes: every sequenced frame, headers included) from
//      before the kill to the end of the resync, against the changed bytes; target <= 1.1x. The
//      block-hash map the restarted B sends is its own wire_bytes (its counters start at zero).
//   3. A checkpoint of 100,000 sections (256 B each, with initial data) against the same at 1,000:
//      create_section per section (one control call each); until the standby holds every section
//      and a reader opened it; a reader's open of the replica and its lookup of every section; and
//      a full resync of a fresh standby (engine B SIGKILLed, its segments removed, restarted), its
//      time from the link coming up to the resync's end and its bytes. Per section, 100k against
//      1k: "flat" when within 2x.
//
// Bulk fills (parts 1 and 2) are async commits paced to at most 16 unacknowledged (see pace()),
// then waited for (lag 0); they are not what is measured. --quick runs part 3 at 20,000 sections
// instead of 100,000 (the rows say so): at 100,000 that step alone takes about two minutes here,
// because the standby installs a section in time linear in max_sections (install_section's
// overlap scan), so replicating or resyncing the whole checkpoint takes quadratic time.
//
// Correctness is checked everywhere: the standby applied every commit (commits_applied), and the
// bytes are equal on both nodes (and to the pattern written) at the end of every step; failures
// go into the run's errors (and the exit code), never into a figure.
//
//   ckpt_scale [--quick] [--rounds N] [--json FILE] [--ckptd PATH] [--sections N] [--only STEP]
//              [--sizes-mib LIST] [--keep-logs] [--engine-set KEY=VALUE]...
//
// Rounds run the steps in turn, the next round in reverse order; the table shows medians. Pinning
// (2 CPUs): engine A on CPU 0, engine B on CPU 1, this process (the application) on CPU 0.
#include "children.hpp"
#include "ckpt/client/session.hpp"
#include "engine_pair.hpp"
#include "report.hpp"
#include "tool_lifecycle.hpp"

#include <CLI/CLI.hpp>

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace ckpt;
using namespace ckpt::client;
using namespace ckpt::bench;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct Options {
    std::string ckptd, json, log_dir, only;
    bool quick = false, keep_logs = false, busy = false;
    unsigned rounds = 3;
    std::vector<std::size_t> sizes_mib = {1, 64, 1024}; ///< takeover sizes
    std::size_t resync_mib = 64;
    double resync_pct = 1.0;
    std::uint32_t sections_big = 100'000, sections_small = 1'000;
    int client_cpu = 0, cpu_a = 0, cpu_b = 1;
    std::vector<std::string> engine_set;
};

constexpr std::size_t kSection = 1u << 20;             ///< parts 1 and 2: section size
constexpr std::uint32_t kBlock = 256;                  ///< every checkpoint's block size (the default)
constexpr std::size_t kSmallSection = 256;             ///< part 3: section size (one block)
constexpr std::size_t kResumeBytes = 64;               ///< the takeover's one write
constexpr std::int64_t kRetention = 3'600'000'000'000; ///< 1 h: replicas stay while nobody has them open

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

/// The pattern every step writes: word `w` of section `sec`, version `salt` (splitmix64).
std::uint64_t word_of(std::uint64_t sec, std::uint64_t w, std::uint64_t salt) {
    std::uint64_t x = (sec << 40) ^ w ^ (salt * 0x9E3779B97F4A7C15ull);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/// Writes the pattern into `out`, whose first byte is word `first_word` of section `sec`.
void fill(std::span<std::byte> out, std::uint64_t sec, std::uint64_t first_word, std::uint64_t salt) {
    for (std::size_t i = 0; i + 8 <= out.size(); i += 8) {
        const std::uint64_t v = word_of(sec, first_word + i / 8, salt);
        std::memcpy(out.data() + i, &v, 8);
    }
}

/// Offset of the first word of `in` that differs from the pattern, or npos.
std::size_t mismatch(std::span<const std::byte> in, std::uint64_t sec, std::uint64_t first_word, std::uint64_t salt) {
    for (std::size_t i = 0; i + 8 <= in.size(); i += 8) {
        std::uint64_t v;
        std::memcpy(&v, in.data() + i, 8);
        if (v != word_of(sec, first_word + i / 8, salt)) return i;
    }
    return std::string::npos;
}

std::string sec_id(std::size_t i) {
    std::string s = std::to_string(i);
    return "s" + std::string(s.size() < 6 ? 6 - s.size() : 0, '0') + s;
}

std::uint64_t shm_free() {
    struct statvfs v {};
    if (::statvfs("/dev/shm", &v) != 0) return 0;
    return static_cast<std::uint64_t>(v.f_bavail) * v.f_frsize;
}

std::uint64_t mem_available() {
    std::istringstream in(read_file("/proc/meminfo"));
    std::string key;
    std::uint64_t kb = 0;
    std::string unit;
    while (in >> key >> kb >> unit)
        if (key == "MemAvailable:") return kb * 1024;
    return 0;
}

std::string gib(std::uint64_t b) {
    return fmt("%.1f GiB", static_cast<double>(b) / (1ull << 30));
}

double ms_of(std::uint64_t ns) {
    return static_cast<double>(ns) / 1e6;
}
double us_of(std::uint64_t ns) {
    return static_cast<double>(ns) / 1e3;
}

/// Progress on stderr: " what +1.2 s" since the step began (long steps say where their time goes).
struct Progress {
    std::uint64_t t0 = now_ns();
    void operator()(const char* what) const {
        std::fprintf(stderr, " [%s +%.1f s]", what, static_cast<double>(now_ns() - t0) / 1e9);
    }
};

/// Node `node`'s state as the engine behind `s` sees it.
std::string peer_state(Session& s, std::uint16_t node) {
    auto l = s.peers();
    if (!l) return "(peers(): " + l.message() + ")";
    for (const auto& p : l->peers)
        if (p.node_id == node) return p.state;
    return "(absent)";
}

bool wait_peer(Session& s, std::uint16_t node, const std::string& state, milliseconds timeout) {
    const std::uint64_t end = now_ns() + static_cast<std::uint64_t>(timeout.count()) * 1'000'000;
    while (now_ns() < end && !g_stop) {
        if (peer_state(s, node) == state) return true;
        ::usleep(2'000);
    }
    return false;
}

/// Waits until engine A counted `want` completed resyncs: a checkpoint created while B is up is
/// joined by a resync (ANNOUNCE, HASHES, one commit per section, RESYNC_DONE acknowledged), whose
/// commits must be applied before the standby's counters are compared.
bool wait_resyncs(EnginePair& pair, std::uint64_t want) {
    for (int i = 0; i < 15'000 && !g_stop; ++i) {
        auto l = pair.a().peers();
        if (!l) return pair.failed("peers(): " + l.message());
        if (l->resyncs >= want) return true;
        ::usleep(2'000);
    }
    return pair.failed("the standby's first resync never completed");
}

/// Paces a bulk fill: waits while more than `max_lag` async commits are unacknowledged. An
/// unpaced burst of 1 GiB of async commits kept engine A busy long enough (capture, hashing and
/// ~780k frames queued at once, on the CPU it shares with the writer) that the peers declared each
/// other down after 500 ms without heartbeats and the whole checkpoint was resynced.
bool pace(EnginePair& pair, const Checkpoint& ck, std::uint64_t max_lag) {
    for (int i = 0; ck.replication().lag_commits > max_lag; ++i) {
        if (g_stop || i > 240'000) return pair.failed("the replication lag never came down");
        ::usleep(250);
    }
    return true;
}
constexpr std::uint64_t kFillLag = 16; ///< commits (of 1 MiB) in flight during a fill

PairConfig pair_config(const Options& o) {
    PairConfig c;
    c.transport = "memif";
    c.busy = o.busy;
    c.cpu_a = o.cpu_a;
    c.cpu_b = o.cpu_b;
    c.log_dir = o.log_dir;
    c.engine_set = o.engine_set;
    return c;
}

CheckpointAttributes attrs_for(std::uint64_t size, std::uint32_t sections, std::uint64_t section_size) {
    CheckpointAttributes a;
    a.creation_flags = static_cast<std::uint32_t>(UpdateMode::kAsync);
    a.checkpoint_size = size;
    a.max_sections = sections;
    a.max_section_size = section_size;
    a.max_section_id_size = 16;
    a.block_size = kBlock;
    a.retention_ns = kRetention;
    return a;
}

/// Enough /dev/shm and memory for a checkpoint of `bytes` on both nodes (DATA + SHADOW each) plus
/// `private_bytes` of this process; otherwise the reason, in words.
std::string space_for(std::uint64_t bytes, std::uint64_t private_bytes) {
    const std::uint64_t shm_need = 4 * bytes + (256ull << 20);
    const std::uint64_t free_shm = shm_free(), avail = mem_available();
    if (free_shm < shm_need)
        return "needs about " + gib(shm_need) + " of /dev/shm (DATA + SHADOW on both nodes), " + gib(free_shm) +
               " free";
    if (avail < shm_need + private_bytes)
        return "needs about " + gib(shm_need + private_bytes) + " of memory, " + gib(avail) + " available";
    return {};
}

/// Engine A's view of the resync of a restarted node 2, polled through a session of its own (a
/// thread): when A saw the peer up again, and when A counted the resync complete (RESYNC_DONE
/// acknowledged, so B applied everything before it).
class ResyncWatch {
public:
    ResyncWatch(const std::string& socket, std::uint64_t resyncs_before) {
        th_ = std::thread([this, socket, resyncs_before] { run(socket, resyncs_before); });
    }
    ~ResyncWatch() { join(); }
    void join() {
        if (th_.joinable()) th_.join();
    }
    std::uint64_t up = 0, done = 0;
    std::string error;

private:
    void run(const std::string& socket, std::uint64_t resyncs_before) {
        auto s = Session::connect({socket, seconds(10), false});
        if (!s) {
            error = "watcher session: " + s.message();
            return;
        }
        const std::uint64_t end = now_ns() + 300'000'000'000ull;
        while (now_ns() < end && !g_stop) {
            auto l = s->peers();
            const std::uint64_t t = now_ns();
            if (!l) {
                error = "peers(): " + l.message();
                return;
            }
            for (const auto& p : l->peers)
                if (p.node_id == 2 && p.state == "up" && up == 0) up = t;
            if (l->resyncs > resyncs_before) {
                done = t;
                if (up == 0) up = t;
                return;
            }
            ::usleep(200);
        }
        error = "no resync within 300 s";
    }
    std::thread th_;
};

/// Reads section `id` of `c` whole; empty optional on failure (reason in `why`).
std::optional<std::vector<std::byte>> read_section(const Checkpoint& c, const std::string& id, std::size_t cap,
                                                   std::string& why) {
    auto s = c.section(id);
    if (!s) {
        why = "section " + id + ": " + s.message();
        return std::nullopt;
    }
    std::vector<std::byte> b(cap);
    auto n = s->read(0, b);
    if (!n) {
        why = "read of section " + id + ": " + n.message();
        return std::nullopt;
    }
    b.resize(*n);
    return b;
}

/// The standby applied exactly `commits` commits and refused nothing between two snapshots.
bool applied_all(EnginePair& pair, const std::string& what, const EnginePair::Counters& c0,
                 const EnginePair::Counters& c1, std::uint64_t commits) {
    const std::uint64_t applied = c1.b.commits_applied - c0.b.commits_applied;
    const std::uint64_t refused = (c1.b.unknown_checkpoint - c0.b.unknown_checkpoint) +
                                  (c1.b.bad_commits - c0.b.bad_commits) + (c1.b.stale_epoch - c0.b.stale_epoch) +
                                  (c1.b.not_from_active - c0.b.not_from_active) +
                                  (c1.b.refusals_sent - c0.b.refusals_sent);
    const std::uint64_t resyncs = c1.a.resyncs - c0.a.resyncs;
    if (applied != commits || refused != 0)
        return pair.failed(
            what + ": the standby applied " + std::to_string(applied) + " of " + std::to_string(commits) +
            " commits and refused " + std::to_string(refused) + " frames" +
            (resyncs ? " (the link went down and B was resynced " + std::to_string(resyncs) + " time(s) in between)"
                     : ""));
    return true;
}

/// Creates `n` sections of kSection bytes (ids sec_id(i)) in `ck`, waits until B holds the replica
/// (`cb`, a reader there) and is in sync, then writes every byte once with async commits paced to
/// kFillLag. `c0` and `t0`: the link counters and the time just before the writes. False after
/// recording a failure.
bool create_and_fill(EnginePair& pair, Checkpoint& ck, const std::string& name, std::size_t n,
                     std::vector<Section>& secs, Checkpoint& cb, std::optional<EnginePair::Counters>& c0,
                     std::uint64_t& t0) {
    secs.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        SectionCreate sc;
        sc.id = sec_id(i);
        sc.capacity = kSection;
        if (auto r = ck.create_section(sc); !r) return pair.failed("create_section: " + r.message());
        auto s = ck.section(sc.id);
        if (!s) return pair.failed("section: " + s.message());
        secs.push_back(*s);
    }
    if (!pair.wait_replica(name, ck, cb, seconds(60)) || !wait_resyncs(pair, 1)) return false;
    c0 = pair.counters();
    if (!c0) return pair.failed("peers() failed");
    t0 = now_ns();
    for (std::size_t i = 0; i < n && !g_stop; ++i) {
        if (!pace(pair, ck, kFillLag)) return false;
        auto tx = secs[i].write(seconds(60));
        if (!tx) return pair.failed("write(): " + tx.message());
        fill(tx->span(0, kSection), i, 0, 1);
        if (auto r = tx->commit(Ack::kAsync); !r) return pair.failed("commit(kAsync): " + r.message());
    }
    return !g_stop;
}

// ------------------------------------------------------------------------------------------
// 1. Standby takeover vs checkpoint size
// ------------------------------------------------------------------------------------------

void takeover(const Options& o, Results& res, std::size_t bytes, unsigned round) {
    const std::string k = "takeover." + std::to_string(bytes >> 20);
    const std::size_t n = bytes / kSection;
    if (auto why = space_for(bytes, bytes); !why.empty()) {
        std::fprintf(stderr, "\nckpt_scale: takeover of %s skipped: %s\n", size_name(bytes).c_str(), why.c_str());
        res.put(k + ".skipped", 1);
        return;
    }
    Progress progress;
    EnginePair pair(pair_config(o), res);
    if (!pair.start()) return;
    const std::string name = "takeover";
    std::vector<std::string> ids(n);
    for (std::size_t i = 0; i < n; ++i) ids[i] = sec_id(i);
    {
        auto ck = pair.a().create(name, attrs_for(bytes, static_cast<std::uint32_t>(n + 1), kSection));
        if (!ck) return (void)pair.failed("create " + size_name(bytes) + ": " + ck.message());
        // Fill every byte (async commits), then wait until the standby applied all of it.
        std::vector<Section> secs;
        Checkpoint cb;
        std::optional<EnginePair::Counters> c0;
        std::uint64_t t0 = 0;
        if (!create_and_fill(pair, *ck, name, n, secs, cb, c0, t0)) return;
        const std::uint64_t t1 = now_ns();
        if (!pair.wait_replica(name, *ck, cb, seconds(300))) return;
        const std::uint64_t t2 = now_ns();
        auto c1 = pair.counters();
        if (!c1) return (void)pair.failed("peers() failed");
        if (const std::uint64_t flaps = c1->a.resyncs - c0->a.resyncs; flaps != 0) {
            // Not a measured figure: the fill is set-up. The resync that followed the flap replaced
            // the commits B missed (so commits_applied no longer counts them one by one); the
            // bytes are checked against the pattern after the takeover.
            std::fprintf(stderr,
                         "\nckpt_scale: %s: the link went down during the fill (a peer silent for peer_timeout_ms) "
                         "and B was resynced %lu time(s); A tx_dropped +%lu retransmits +%lu, B tx_dropped +%lu\n",
                         k.c_str(), static_cast<unsigned long>(flaps),
                         static_cast<unsigned long>(c1->a.tx_dropped - c0->a.tx_dropped),
                         static_cast<unsigned long>(c1->a.retransmits - c0->a.retransmits),
                         static_cast<unsigned long>(c1->b.tx_dropped - c0->b.tx_dropped));
            res.put(k + ".fill_flaps", static_cast<double>(flaps));
        } else {
            res.put(k + ".fill_flaps", 0);
            if (!applied_all(pair, k + " fill", *c0, *c1, n)) return;
        }
        progress("replicated");
        res.put(k + ".fill_ms", ms_of(t1 - t0));
        res.put(k + ".replicated_ms", ms_of(t2 - t0));
        if (auto st = cb.close(); !st) return (void)pair.failed("close: " + st.message()); // the takeover: a new opener
    } // the active's handles go with it
    if (g_stop) return;

    // The active node dies; B notices (peer_timeout_ms) before anyone acts.
    const std::uint64_t tk = now_ns();
    pair.engine_a().kill_hard();
    if (!wait_peer(*pair.b(), 1, "down", seconds(30)))
        return (void)pair.failed("B never declared the killed A down", *pair.engine_b());
    res.put(k + ".detect_ms", ms_of(now_ns() - tk));
    const std::string sock_b = pair.engine_b()->socket();
    bool promoted = false;
    std::byte resume[kResumeBytes];
    std::memset(resume, 0xA5, sizeof resume);

    auto do_takeover = [&]() -> bool {
        std::vector<Section> secs;
        secs.reserve(n);
        const std::uint64_t t0 = now_ns();
        auto s = Session::connect({sock_b, seconds(10), false});
        const std::uint64_t t1 = now_ns();
        if (!s) return pair.failed("takeover: connect: " + s.message());
        auto epoch = s->promote(name);
        const std::uint64_t t2 = now_ns();
        if (!epoch) return pair.failed("takeover: promote: " + epoch.message(), *pair.engine_b());
        auto c = s->open(name, kOpenRead | kOpenWrite);
        const std::uint64_t t3 = now_ns();
        if (!c) return pair.failed("takeover: open read-write: " + c.message());
        for (std::size_t i = 0; i < n; ++i) {
            auto x = c->section(ids[i]);
            if (!x) return pair.failed("takeover: section " + ids[i] + ": " + x.message());
            secs.push_back(*x);
        }
        const std::uint64_t t4 = now_ns();
        auto tx = secs[0].write();
        if (!tx) return pair.failed("takeover: write(): " + tx.message());
        std::memcpy(tx->span(0, kResumeBytes).data(), resume, kResumeBytes);
        auto r = tx->commit(Ack::kSync);
        const std::uint64_t t5 = now_ns();
        if (!r) return pair.failed("takeover: commit(kSync): " + r.message());
        promoted = true;
        res.put(k + ".total_us", us_of(t5 - t0));
        res.put(k + ".connect_us", us_of(t1 - t0));
        res.put(k + ".promote_us", us_of(t2 - t1));
        res.put(k + ".open_us", us_of(t3 - t2));
        res.put(k + ".lookup_us", us_of(t4 - t3));
        res.put(k + ".commit_us", us_of(t5 - t4));
        const auto rep = c->replication();
        if (rep.role != "active" || rep.epoch != *epoch || *epoch < 2)
            return pair.failed("takeover: after promote the replica is " + rep.role + " at epoch " +
                               std::to_string(rep.epoch) + " (promote said " + std::to_string(*epoch) + ")");
        std::byte back[kResumeBytes];
        auto rb = secs[0].read(0, back);
        if (!rb || *rb < kResumeBytes || std::memcmp(back, resume, kResumeBytes) != 0)
            return pair.failed("takeover: the resumed write is not in the section");
        return true;
    };

    // Baseline: a new reader copies the whole state out, section by section.
    auto do_read = [&]() -> bool {
        std::vector<std::byte> buf(bytes);
        std::memset(buf.data(), 0, buf.size()); // pre-touched: the copy is timed, not our page faults
        const std::uint64_t t0 = now_ns();
        auto s = Session::connect({sock_b, seconds(10), false});
        if (!s) return pair.failed("read: connect: " + s.message());
        auto c = s->open(name, kOpenRead);
        if (!c) return pair.failed("read: open: " + c.message());
        for (std::size_t i = 0; i < n; ++i) {
            auto x = c->section(ids[i]);
            if (!x) return pair.failed("read: section " + ids[i] + ": " + x.message());
            auto r = x->read(0, std::span(buf).subspan(i * kSection, kSection));
            if (!r || *r != kSection)
                return pair.failed("read: section " + ids[i] + ": " +
                                   (r ? std::to_string(*r) + " bytes" : r.message()));
        }
        const std::uint64_t t1 = now_ns();
        res.put(k + ".read_ms", ms_of(t1 - t0));
        // What the standby holds is exactly what A committed (and the resumed write, if made).
        for (std::size_t i = 0; i < n; ++i) {
            auto sec = std::span<const std::byte>(buf).subspan(i * kSection, kSection);
            std::size_t skip = 0;
            if (i == 0 && promoted) {
                if (std::memcmp(sec.data(), resume, kResumeBytes) != 0)
                    return pair.failed("read: the resumed write is missing");
                skip = kResumeBytes;
            }
            if (auto m = mismatch(sec.subspan(skip), i, skip / 8, 1); m != std::string::npos)
                return pair.failed("the standby's section " + ids[i] + " differs from what A committed at offset " +
                                   std::to_string(skip + m));
        }
        return true;
    };
    progress("A down");
    if (round % 2 == 0) {
        if (do_takeover()) do_read();
    } else {
        if (do_read()) do_takeover();
    }
    progress("measured and checked");
}

// ------------------------------------------------------------------------------------------
// 2. Resync after a restart with 1% of the blocks changed
// ------------------------------------------------------------------------------------------

void resync(const Options& o, Results& res) {
    const std::size_t bytes = o.resync_mib << 20;
    const std::size_t n = bytes / kSection, per_section = kSection / kBlock, blocks = bytes / kBlock;
    const std::size_t changed = std::max<std::size_t>(
        1, static_cast<std::size_t>(std::ceil(static_cast<double>(blocks) * o.resync_pct / 100.0)));
    const std::size_t stride = std::max<std::size_t>(1, blocks / changed);
    if (auto why = space_for(bytes, 2 * bytes); !why.empty()) {
        res.error("resync: " + why);
        return;
    }
    EnginePair pair(pair_config(o), res);
    if (!pair.start()) return;
    const std::string name = "resync";
    auto ck = pair.a().create(name, attrs_for(bytes, static_cast<std::uint32_t>(n + 1), kSection));
    if (!ck) return (void)pair.failed("create: " + ck.message());
    std::vector<Section> secs;
    Checkpoint cb;
    std::optional<EnginePair::Counters> c0;
    std::uint64_t t0 = 0;
    if (!create_and_fill(pair, *ck, name, n, secs, cb, c0, t0)) return;
    if (!pair.wait_replica(name, *ck, cb, seconds(120))) return;
    const std::uint64_t t1 = now_ns();
    auto c1 = pair.counters();
    if (!c1) return (void)pair.failed("peers() failed");
    if (!applied_all(pair, "resync fill", *c0, *c1, n)) return;
    res.put("resync.full_ms", ms_of(t1 - t0));
    res.put("resync.full_wire_bytes", static_cast<double>(c1->a.wire_bytes - c0->a.wire_bytes));
    if (auto st = cb.close(); !st) return (void)pair.failed("close: " + st.message());

    // B dies; A notices; 1% of the blocks change on A, committed while B is away.
    pair.engine_b()->kill_hard();
    if (!wait_peer(pair.a(), 2, "down", seconds(30))) return (void)pair.failed("A never declared the killed B down");
    auto la = pair.a().peers();
    if (!la) return (void)pair.failed("peers() failed");
    const LinkInfo before = *la;
    std::vector<bool> is_changed(blocks);
    std::size_t commits = 0;
    for (std::size_t s = 0; s < n && !g_stop; ++s) {
        std::optional<WriteTx> tx;
        for (std::size_t b = s * per_section; b < (s + 1) * per_section; ++b) {
            if (b % stride != 0 || b / stride >= changed) continue;
            if (!tx) {
                auto w = secs[s].write(seconds(60));
                if (!w) return (void)pair.failed("write(): " + w.message());
                tx.emplace(std::move(*w));
            }
            const std::size_t off = (b - s * per_section) * kBlock;
            fill(tx->span(off, kBlock), s, off / 8, 2);
            is_changed[b] = true;
        }
        if (tx) {
            if (auto r = tx->commit(Ack::kAsync); !r) return (void)pair.failed("commit(kAsync): " + r.message());
            ++commits;
        }
    }
    const std::size_t changed_blocks = static_cast<std::size_t>(std::count(is_changed.begin(), is_changed.end(), true));
    auto lm = pair.a().peers();
    if (!lm) return (void)pair.failed("peers() failed");

    // B restarts, adopts its segments and is resynced.
    ResyncWatch watch(pair.engine_a().socket(), before.resyncs);
    const std::uint64_t r0 = now_ns();
    if (!pair.restart_b()) return;
    const std::uint64_t r1 = now_ns();
    watch.join();
    if (!watch.error.empty()) return (void)pair.failed("resync: " + watch.error, *pair.engine_b());
    // The commits made while B was away complete with the resync's end.
    for (int i = 0; i < 3000 && ck->replication().lag_commits != 0; ++i) ::usleep(2'000);
    if (ck->replication().lag_commits != 0)
        return (void)pair.failed("resync: " + std::to_string(ck->replication().lag_commits) +
                                 " commits still unacknowledged after the resync");
    auto c2 = pair.counters();
    if (!c2) return (void)pair.failed("peers() failed");
    const double changed_bytes = static_cast<double>(changed_blocks * kBlock);
    res.put("resync.changed_blocks", static_cast<double>(changed_blocks));
    res.put("resync.blocks", static_cast<double>(blocks));
    res.put("resync.changed_bytes", changed_bytes);
    res.put("resync.commits", static_cast<double>(commits));
    res.put("resync.wire_while_down", static_cast<double>(lm->wire_bytes - before.wire_bytes));
    res.put("resync.wire_bytes", static_cast<double>(c2->a.wire_bytes - before.wire_bytes));
    res.put("resync.data_bytes", static_cast<double>(c2->a.data_bytes - before.data_bytes));
    res.put("resync.data_frames", static_cast<double>(c2->a.data_frames - before.data_frames));
    res.put("resync.resync_blocks", static_cast<double>(c2->a.resync_blocks - before.resync_blocks));
    res.put("resync.resync_bytes", static_cast<double>(c2->a.resync_bytes - before.resync_bytes));
    res.put("resync.resync_blocks_same", static_cast<double>(c2->a.resync_blocks_same - before.resync_blocks_same));
    res.put("resync.retransmits", static_cast<double>(c2->a.retransmits - before.retransmits));
    res.put("resync.hash_bytes", static_cast<double>(c2->b.wire_bytes)); // B's counters start at its restart
    res.put("resync.hash_frames", static_cast<double>(c2->b.tx_frames));
    res.put("resync.wire_per_changed", static_cast<double>(c2->a.wire_bytes - before.wire_bytes) / changed_bytes);
    res.put("resync.data_per_changed", static_cast<double>(c2->a.data_bytes - before.data_bytes) / changed_bytes);
    res.put("resync.restart_ms", ms_of(r1 - r0));
    res.put("resync.resync_ms", ms_of(watch.done - watch.up));
    res.put("resync.restart_to_sync_ms", ms_of(watch.done - r0));
    if (c2->a.resync_bytes - before.resync_bytes != changed_blocks * kBlock)
        std::fprintf(stderr, "\nckpt_scale: the resync sent %lu bytes for %zu changed blocks\n",
                     static_cast<unsigned long>(c2->a.resync_bytes - before.resync_bytes), changed_blocks);

    // Both nodes hold the same bytes: the pattern, with the changed blocks' new version.
    auto rb = pair.b()->open(name, kOpenRead);
    if (!rb) return (void)pair.failed("open on the restarted B: " + rb.message());
    for (std::size_t s = 0; s < n; ++s) {
        std::string why;
        auto x = read_section(*ck, sec_id(s), kSection, why), y = read_section(*rb, sec_id(s), kSection, why);
        if (!x || !y) return (void)pair.failed("resync check: " + why);
        if (*x != *y) return (void)pair.failed("resync: section " + sec_id(s) + " differs between A and B");
        for (std::size_t b = 0; b < per_section; ++b) {
            const std::size_t off = b * kBlock;
            if (mismatch(std::span<const std::byte>(*x).subspan(off, kBlock), s, off / 8,
                         is_changed[s * per_section + b] ? 2 : 1) != std::string::npos)
                return (void)pair.failed("resync: section " + sec_id(s) + " block " + std::to_string(b) +
                                         " is not what A committed");
        }
    }
}

// ------------------------------------------------------------------------------------------
// 3. Many sections
// ------------------------------------------------------------------------------------------

void many_sections(const Options& o, Results& res, std::uint32_t n) {
    const std::string k = "sections." + std::to_string(n);
    const std::uint64_t bytes = std::uint64_t{n} * kSmallSection;
    if (auto why = space_for(bytes, 0); !why.empty()) {
        res.error(k + ": " + why);
        return;
    }
    EnginePair pair(pair_config(o), res);
    if (!pair.start()) return;
    const std::string name = "many";
    auto ck = pair.a().create(name, attrs_for(bytes, n, kSmallSection));
    if (!ck) return (void)pair.failed("create (" + std::to_string(n) + " sections): " + ck.message());
    if (!wait_resyncs(pair, 1)) return;
    auto c0 = pair.counters();
    if (!c0) return (void)pair.failed("peers() failed");
    std::vector<std::uint64_t> lat(n);
    std::byte init[kSmallSection];
    const std::uint64_t t0 = now_ns();
    for (std::uint32_t i = 0; i < n && !g_stop; ++i) {
        fill(init, i, 0, 3);
        SectionCreate sc;
        sc.id = sec_id(i);
        sc.capacity = kSmallSection;
        sc.initial = init;
        const std::uint64_t a = now_ns();
        auto r = ck->create_section(sc);
        lat[i] = now_ns() - a;
        if (!r)
            return (void)pair.failed("create_section #" + std::to_string(i) + " of " + std::to_string(n) + ": " +
                                         r.message(),
                                     pair.engine_a());
    }
    const std::uint64_t t1 = now_ns();
    if (g_stop) return;
    // Until the standby holds every section (and their initial bytes: lag 0) and a reader opened it.
    Checkpoint cb;
    bool have = false, all = false;
    const std::uint64_t end = now_ns() + 300'000'000'000ull;
    while (!all && now_ns() < end && !g_stop) {
        if (!have)
            if (auto r = pair.b()->open(name, kOpenRead)) cb = std::move(*r), have = true;
        if (have) {
            auto st = cb.status();
            const auto rep = ck->replication();
            all = st && st->sections == n && rep.replicas >= 1 && rep.lag_commits == 0;
        }
        if (!all) ::usleep(1'000);
    }
    const std::uint64_t t2 = now_ns();
    if (!all) return (void)pair.failed(k + ": the standby never held every section", *pair.engine_b());
    auto c1 = pair.counters();
    if (!c1) return (void)pair.failed("peers() failed");
    if (!applied_all(pair, k + " creates", *c0, *c1, n)) return;
    std::fprintf(stderr, " [created in %.1f s, on the standby after %.1f s", ms_of(t1 - t0) / 1e3,
                 ms_of(t2 - t0) / 1e3);
    res.put(k + ".create_us_per", us_of(t1 - t0) / n);
    put_lat(res, k + ".create", percentiles(lat));
    res.put(k + ".standby_us_per", us_of(t2 - t0) / n);
    res.put(k + ".standby_tail_ms", ms_of(t2 - t1));
    res.put(k + ".create_wire_per_section", static_cast<double>(c1->a.wire_bytes - c0->a.wire_bytes) / n);
    if (auto st = cb.close(); !st) return (void)pair.failed("close: " + st.message());

    // A reader opens the replica and looks every section up.
    {
        const std::uint64_t a = now_ns();
        auto r = pair.b()->open(name, kOpenRead);
        const std::uint64_t b = now_ns();
        if (!r) return (void)pair.failed("reader open on B: " + r.message());
        for (std::uint32_t i = 0; i < n; ++i)
            if (auto s = r->section(sec_id(i)); !s) return (void)pair.failed("reader: " + s.message());
        const std::uint64_t c = now_ns();
        res.put(k + ".reader_open_us", us_of(b - a));
        res.put(k + ".reader_lookup_us_per", us_of(c - b) / n);
    }

    auto check_equal = [&](const char* when) -> bool {
        auto r = pair.b()->open(name, kOpenRead);
        if (!r) return pair.failed(std::string(when) + ": open on B: " + r.message());
        auto st = r->status();
        if (!st || st->sections != n)
            return pair.failed(std::string(when) + ": B holds " + (st ? std::to_string(st->sections) : st.message()) +
                               " sections of " + std::to_string(n));
        for (std::uint32_t i = 0; i < n; ++i) {
            std::string why;
            auto x = read_section(*ck, sec_id(i), kSmallSection, why),
                 y = read_section(*r, sec_id(i), kSmallSection, why);
            if (!x || !y) return pair.failed(std::string(when) + ": " + why);
            if (*x != *y || x->size() != kSmallSection || mismatch(*x, i, 0, 3) != std::string::npos)
                return pair.failed(std::string(when) + ": section " + sec_id(i) +
                                   " differs between A and B or from "
                                   "what was written");
        }
        return true;
    };
    if (!check_equal("after the creates")) return;

    // A fresh standby: B dies, loses its segments, comes back empty and is resynced in full.
    auto la = pair.a().peers();
    if (!la) return (void)pair.failed("peers() failed");
    const LinkInfo before = *la;
    pair.engine_b()->kill_hard();
    std::size_t removed = 0;
    for (const auto& obj : pair.engine_b()->shm_objects()) removed += ::unlink(("/dev/shm/" + obj).c_str()) == 0;
    if (removed == 0) return (void)pair.failed("B left no segments to remove");
    if (!wait_peer(pair.a(), 2, "down", seconds(30))) return (void)pair.failed("A never declared the killed B down");
    ResyncWatch watch(pair.engine_a().socket(), before.resyncs);
    const std::uint64_t r0 = now_ns();
    if (!pair.restart_b()) return;
    watch.join();
    if (!watch.error.empty()) return (void)pair.failed("full resync: " + watch.error, *pair.engine_b());
    auto c2 = pair.counters();
    if (!c2) return (void)pair.failed("peers() failed");
    std::fprintf(stderr, ", full resync %.1f s]", ms_of(watch.done - watch.up) / 1e3);
    res.put(k + ".resync_ms", ms_of(watch.done - watch.up));
    res.put(k + ".resync_retransmits", static_cast<double>(c2->a.retransmits - before.retransmits));
    res.put(k + ".create_retransmits", static_cast<double>(c1->a.retransmits - c0->a.retransmits));
    res.put(k + ".resync_us_per", us_of(watch.done - watch.up) / n);
    res.put(k + ".restart_to_sync_ms", ms_of(watch.done - r0));
    res.put(k + ".resync_wire_bytes", static_cast<double>(c2->a.wire_bytes - before.wire_bytes));
    res.put(k + ".resync_wire_per_section", static_cast<double>(c2->a.wire_bytes - before.wire_bytes) / n);
    res.put(k + ".resync_data_bytes", static_cast<double>(c2->a.data_bytes - before.data_bytes));
    res.put(k + ".resync_frames_b", static_cast<double>(c2->b.tx_frames));
    res.put(k + ".resync_wire_b", static_cast<double>(c2->b.wire_bytes));
    check_equal("after the full resync");
}

// ------------------------------------------------------------------------------------------
// Report
// ------------------------------------------------------------------------------------------

std::vector<Row> build_rows(const Options& o, const Results& r) {
    std::vector<Row> rows;
    auto has = [&](const std::string& k) { return r.has(k); };
    // 1: takeover
    for (auto mib : o.sizes_mib) {
        const std::string k = "takeover." + std::to_string(mib);
        const std::size_t bytes = mib << 20;
        if (has(k + ".skipped") && !has(k + ".total_us")) {
            Row row;
            row.figure = "standby takeover, " + size_name(bytes);
            row.ours = "skipped: not enough /dev/shm or memory (see stderr)";
            row.verdict = "n/a";
            rows.push_back(row);
            continue;
        }
        if (!has(k + ".total_us")) continue;
        Row row;
        row.key = k + ".total_us";
        row.base_key = k + ".read_ms";
        row.figure = "standby takeover, " + size_name(bytes) + " (" + std::to_string(bytes / kSection) +
                     " x 1 MiB sections): connect + promote + open rw + look up every section + write 64 B + "
                     "commit(sync), us (connect / promote / open / lookups / write+commit)";
        row.ours = us(r.med(k + ".total_us")) + " (" + us(r.med(k + ".connect_us")) + " / " +
                   us(r.med(k + ".promote_us")) + " / " + us(r.med(k + ".open_us")) + " / " +
                   us(r.med(k + ".lookup_us")) + " / " + us(r.med(k + ".commit_us")) + ")";
        row.base_name = "a new reader on the standby copies the state out: connect + open + Section::read() of "
                        "every section into a private buffer (saCkptCheckpointRead-style), ms";
        row.ours_v = r.med(k + ".total_us");
        if (has(k + ".read_ms")) {
            row.base_v = r.med(k + ".read_ms") * 1000;
            row.base = fmt("%.2f", r.med(k + ".read_ms"));
            row.ratio_v = row.ours_v / row.base_v;
            row.ratio =
                fmt("%.4fx", row.ratio_v) + (row.ratio_v <= 1 ? " (" + fmt("%.1fx", 1 / row.ratio_v) + " faster)"
                                                              : " (" + fmt("%.1fx", row.ratio_v) + " slower)");
        } else {
            row.base = row.ratio = "n/a";
        }
        if (mib == 1024) {
            const bool met = has(k + ".read_ms") && row.base_v / row.ours_v >= 100;
            row.verdict = has(k + ".read_ms") ? (met ? "met" : "missed") : "n/a";
            row.target = ">= 100x faster than reading 1 GiB: " + verdict_word(met);
        }
        row.target += std::string(row.target.empty() ? "" : "; ") + "(" + fmt("%.0f", r.med(k + ".detect_ms")) +
                      " ms failure detection before; fill " + fmt("%.0f", r.med(k + ".fill_ms")) +
                      " ms, replicated after " + fmt("%.0f", r.med(k + ".replicated_ms")) + " ms)";
        if (has(k + ".fill_flaps")) {
            double flaps = 0;
            for (double f : r.v.at(k + ".fill_flaps")) flaps += f;
            if (flaps > 0)
                row.target += "; the link went down during " + fmt("%.0f", flaps) +
                              " fill(s) (a peer silent 500 ms) and B was resynced: see stderr";
        }
        rows.push_back(row);
    }
    {
        const std::size_t lo = o.sizes_mib.empty() ? 0 : *std::min_element(o.sizes_mib.begin(), o.sizes_mib.end());
        const std::size_t hi = o.sizes_mib.empty() ? 0 : *std::max_element(o.sizes_mib.begin(), o.sizes_mib.end());
        const std::string kl = "takeover." + std::to_string(lo) + ".total_us",
                          kh = "takeover." + std::to_string(hi) + ".total_us";
        if (hi > lo && has(kl) && has(kh)) {
            Row row;
            row.key = kh;
            row.base_key = kl;
            row.figure = "takeover time, " + size_name(hi << 20) + " against " + size_name(lo << 20) + ", us";
            row.ours = us(r.med(kh));
            row.base_name = "the same takeover at " + size_name(lo << 20);
            row.base = us(r.med(kl));
            row.ours_v = r.med(kh);
            row.base_v = r.med(kl);
            row.ratio_v = row.ours_v / row.base_v;
            row.ratio = fmt("%.2fx", row.ratio_v);
            const bool met = row.ratio_v <= 2.0;
            row.verdict = met ? "met" : "missed";
            row.target = "flat (<= 2x): " + verdict_word(met);
            if (hi != 1024) row.target += " (largest size run: " + size_name(hi << 20) + ")";
            rows.push_back(row);
        }
    }
    // 2: resync
    if (has("resync.wire_per_changed")) {
        Row row;
        row.key = "resync.wire_bytes";
        row.base_key = "resync.changed_bytes";
        row.figure = "resync after a SIGKILLed standby restarts, " + size_name(o.resync_mib << 20) + ", " +
                     fmt("%.0f", r.med("resync.changed_blocks")) + " of " + grouped(r.med("resync.blocks")) +
                     " blocks (256 B) changed, one every " +
                     std::to_string(static_cast<std::size_t>(r.med("resync.blocks") / r.med("resync.changed_blocks"))) +
                     ": bytes on the wire A -> B (DATA payload; DATA frames; blocks the resync sent / found equal)";
        row.ours = grouped(r.med("resync.wire_bytes")) + " (" + grouped(r.med("resync.data_bytes")) + "; " +
                   grouped(r.med("resync.data_frames")) + "; " + grouped(r.med("resync.resync_bytes") / kBlock) +
                   " / " + grouped(r.med("resync.resync_blocks_same")) + ")";
        row.base_name = "changed bytes (data payload / changed)";
        row.base = grouped(r.med("resync.changed_bytes")) + " (" + fmt("%.3fx", r.med("resync.data_per_changed")) + ")";
        row.ours_v = r.med("resync.wire_bytes");
        row.base_v = r.med("resync.changed_bytes");
        row.ratio_v = r.med("resync.wire_per_changed");
        row.ratio = fmt("%.3fx", row.ratio_v);
        const bool met = row.ratio_v <= 1.1;
        row.verdict = met ? "met" : "missed";
        row.target = "<= 1.1x: " + verdict_word(met);
        if (r.med("resync.resync_blocks") != r.med("resync.resync_bytes") / kBlock)
            row.target += " (blocks sent from resync_bytes; the engine's resync_blocks counter says " +
                          grouped(r.med("resync.resync_blocks")) + ")";
        rows.push_back(row);

        Row h;
        h.key = "resync.hash_bytes";
        h.base_key = "resync.changed_bytes";
        h.figure = "  block-hash map the restarted standby sent (B -> A replication frames, headers included; "
                   "frames B sent)";
        h.ours = grouped(r.med("resync.hash_bytes")) + " (" + grouped(r.med("resync.hash_frames")) + ")";
        h.base_name = "changed bytes";
        h.base = grouped(r.med("resync.changed_bytes"));
        h.ours_v = r.med("resync.hash_bytes");
        h.base_v = r.med("resync.changed_bytes");
        h.ratio_v = h.ours_v / h.base_v;
        h.ratio = fmt("%.2fx", h.ratio_v);
        h.target = "(A -> B plus B -> A: " + fmt("%.2fx", (row.ours_v + h.ours_v) / h.base_v) + " the changed bytes)";
        rows.push_back(h);

        Row t;
        t.key = "resync.resync_ms";
        t.base_key = "resync.full_ms";
        t.figure = "  resync time, A sees B up again -> resync acknowledged, ms (restart -> in sync)";
        t.ours = fmt("%.1f", r.med("resync.resync_ms")) + " (" + fmt("%.0f", r.med("resync.restart_to_sync_ms")) + ")";
        t.base_name = "initial replication of all " + size_name(o.resync_mib << 20) + " (async commits -> lag 0), ms";
        t.base = fmt("%.1f", r.med("resync.full_ms"));
        t.ours_v = r.med("resync.resync_ms");
        t.base_v = r.med("resync.full_ms");
        t.ratio_v = t.ours_v / t.base_v;
        t.ratio = fmt("%.3fx", t.ratio_v);
        rows.push_back(t);
    }
    // 3: many sections
    const std::string big = std::to_string(o.sections_big), small = std::to_string(o.sections_small);
    const std::string kb = "sections." + big, ks = "sections." + small;
    const std::string quick_note =
        o.quick && o.sections_big < 100'000 ? " (--quick: " + grouped(o.sections_big) + " instead of 100,000)" : "";
    auto per_row = [&](const std::string& suffix, const std::string& figure, const std::string& unit, bool flat,
                       const std::string& extra_ours, const std::string& extra_base) {
        if (!has(kb + suffix) || !has(ks + suffix)) return;
        Row row;
        row.key = kb + suffix;
        row.base_key = ks + suffix;
        row.figure = figure + ", " + grouped(o.sections_big) + " sections" + quick_note + ", " + unit;
        row.ours_v = r.med(kb + suffix);
        row.base_v = r.med(ks + suffix);
        row.ours = us(row.ours_v) + extra_ours;
        row.base_name = "the same at " + grouped(o.sections_small) + " sections";
        row.base = us(row.base_v) + extra_base;
        row.ratio_v = row.ours_v / row.base_v;
        row.ratio = fmt("%.2fx", row.ratio_v);
        if (flat) {
            const bool met = row.ratio_v <= 2.0;
            row.verdict = met ? "met" : "missed";
            row.target = "flat (<= 2x): " + verdict_word(met);
        }
        rows.push_back(row);
    };
    auto lat = [&](const std::string& k) {
        return " (p50 " + us(r.med(k + ".create.p50")) + ", p99 " + us(r.med(k + ".create.p99")) + ")";
    };
    auto tail = [&](const std::string& k) {
        return " (" + fmt("%.0f", r.med(k + ".standby_tail_ms")) + " ms after the last create)";
    };
    per_row(".create_us_per", "create_section (256 B with initial data, one control call each) on the active",
            "us per section (per call p50, p99)", true, lat(kb), lat(ks));
    per_row(".standby_us_per", "from the first create until the standby holds every section and a reader opened it",
            "us per section", true, tail(kb), tail(ks));
    per_row(".reader_open_us", "a reader's open of the replica on the standby (one call)", "us", false, "", "");
    per_row(".reader_lookup_us_per", "  then looking up every section on it", "us per section", true, "", "");
    auto resync_extra = [&](const std::string& k) {
        return " (" + fmt("%.1f", r.med(k + ".resync_ms")) + " ms, " +
               fmt("%.0f", r.med(k + ".resync_wire_per_section")) + " B on the wire per section)";
    };
    per_row(".resync_us_per",
            "full resync of a fresh standby (SIGKILLed, its segments removed, restarted): A sees it up -> resync "
            "acknowledged",
            "us per section (total ms, wire bytes per section)", true, resync_extra(kb), resync_extra(ks));
    return rows;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"ckpt_scale: standby takeover vs checkpoint size, resync after a restart, 100,000 sections"};
    app.add_flag("--quick", o.quick,
                 "the many-sections step at 20,000 sections unless --sections (3 rounds: about 50 s)");
    app.add_option("--rounds", o.rounds, "rounds (the table shows the median over them)")->check(CLI::Range(1, 50));
    app.add_option("--json", o.json, "also write the figures as JSON to this file");
    app.add_option("--ckptd", o.ckptd, "ckptd to run (default: $CKPTD, else ../engine/ckptd beside this binary)");
    app.add_option("--sizes-mib", o.sizes_mib, "takeover checkpoint sizes in MiB (default 1 64 1024)")
        ->check(CLI::Range(1, 65536));
    app.add_option("--resync-mib", o.resync_mib, "resync checkpoint size in MiB")->check(CLI::Range(1, 65536));
    app.add_option("--resync-pct", o.resync_pct, "percentage of blocks changed while the standby is down")
        ->check(CLI::Range(0.001, 100.0));
    app.add_option("--sections", o.sections_big, "sections of the large many-sections checkpoint (default 100000)")
        ->check(CLI::Range(2, 1 << 24));
    app.add_option("--sections-base", o.sections_small, "sections of its baseline (default 1000)")
        ->check(CLI::Range(1, 1 << 24));
    app.add_flag("--busy", o.busy, "engines busy-poll (idle_spin_us = 1000000) instead of ckptd's defaults");
    app.add_option("--only", o.only, "run only the steps whose name contains this (takeover, resync, sections)");
    app.add_flag("--keep-logs", o.keep_logs, "keep the engines' logs");
    app.add_option("--engine-set", o.engine_set,
                   "KEY=VALUE added to every engine's configuration (repeatable; experiments only)");
    app.add_option("--client-cpu", o.client_cpu, "CPU of this process (the application)");
    CLI11_PARSE(app, argc, argv);
    if (o.quick) {
        if (app.count("--sections") == 0) o.sections_big = 20'000;
    }
    if (::sysconf(_SC_NPROCESSORS_ONLN) < 2) o.cpu_b = 0;
    if (!prepare_tool("ckpt_scale", o.ckptd, o.log_dir, o.client_cpu)) return 2;

    auto info = run_info(argc, argv);
    info["ckptd"] = o.ckptd;
    info["load_before"] = loadavg();
    info["rounds"] = std::to_string(o.rounds);
    info["shm_free_before"] = gib(shm_free());
    info["mem_available_before"] = gib(mem_available());
    info["pinning"] = "engine A (active, memif server) CPU " + std::to_string(o.cpu_a) + "; engine B (standby) CPU " +
                      std::to_string(o.cpu_b) + "; application (ckpt_scale) CPU " + std::to_string(o.client_cpu);
    info["engines"] = o.busy ? "busy-poll (idle_spin_us = 1000000)"
                             : "ckptd defaults (idle_spin_us = 50, link_sleep_us = 200, peer_timeout_ms = 500)";
    info["block_size"] = std::to_string(kBlock);
    info["sections"] = std::to_string(o.sections_big) + " against " + std::to_string(o.sections_small);
    info["resync_poll"] = "resync times from engine A's peers() polled every ~0.2 ms by a thread of its own";
    if (load1() > 1.0)
        std::fprintf(stderr, "ckpt_scale: load average is %s: other work shares these CPUs; figures will show it\n",
                     info["load_before"].c_str());

    Results res;
    res.tool = "ckpt_scale";
    CpuSampler cpu;
    cpu.sample();
    const std::uint64_t t_start = now_ns();
    using Step = std::pair<std::string, std::function<void(unsigned)>>;
    std::vector<Step> steps;
    for (auto mib : o.sizes_mib)
        steps.push_back(
            {"takeover " + size_name(mib << 20), [&, mib](unsigned round) { takeover(o, res, mib << 20, round); }});
    steps.push_back({"resync " + size_name(o.resync_mib << 20), [&](unsigned) { resync(o, res); }});
    steps.push_back(
        {"sections " + std::to_string(o.sections_small), [&](unsigned) { many_sections(o, res, o.sections_small); }});
    steps.push_back(
        {"sections " + std::to_string(o.sections_big), [&](unsigned) { many_sections(o, res, o.sections_big); }});
    for (unsigned round = 0; round < o.rounds && !g_stop; ++round) {
        std::vector<Step> order = steps;
        if (round % 2) std::reverse(order.begin(), order.end());
        for (auto& [what, fn] : order) {
            if (g_stop) break;
            if (!o.only.empty() && what.find(o.only) == std::string::npos) continue;
            std::fprintf(stderr, "ckpt_scale: round %u/%u: %s (load %s, /dev/shm free %s)", round + 1, o.rounds,
                         what.c_str(), loadavg().c_str(), gib(shm_free()).c_str());
            const std::uint64_t t0 = now_ns();
            fn(round);
            std::fprintf(stderr, ": %.1f s\n", static_cast<double>(now_ns() - t0) / 1e9);
        }
    }
    const auto share = cpu.sample();
    info["load_after"] = loadavg();
    info["cpu_others"] = fmt("%.0f%%", share.others * 100) + " of the CPUs over the run";
    info["seconds"] = fmt("%.1f", static_cast<double>(now_ns() - t_start) / 1e9);
    info["date_end"] = utc_now();

    auto rows = build_rows(o, res);
    return finish_tool("ckpt_scale", "Scale: takeover, resync, sections", o.rounds, info,
                       {{"Pinning", "pinning"}, {"Engines (DPDK memif)", "engines"}}, rows, res, o.json, o.log_dir,
                       o.keep_logs);
}

// ckpt_observe: how long after a local commit a reader in another process sees it (issue 5), next
// to two baselines measured in the same run (DESIGN.md, "Measuring"):
//
//   1. cache-line ping-pong between two PROCESSES (not threads: the figure is about processes)
//      over a shared memfd mapping: A stores an odd value into one 64-byte line, B spins until it
//      sees it and stores the next even value, A spins until it sees that. One round trip = two
//      line transfers; it is the floor of any two-process hand-off through shared memory.
//   2. ours: one node-local ckptd (transport none) and two application processes with their own
//      sessions on one checkpoint with two 4 KiB sections X and Y. A: write() on X, 64 B through
//      span(), commit(Ack::kAsync); B spins on X's committed sequence (Section::sequence(), one
//      load of the section's seqlock word, which only moves at a commit), then reads the 64 B in
//      place with read_view (the seqlock read: a torn or half-written state is never returned),
//      checks them, and answers the same way on Y; A observes Y likewise. A round trip is two
//      commit-to-observed hops: hop = from the writer's write() to the reader's checked view of
//      the committed bytes.
//      The same with --sections-in-turn (64) sections each way, used in turn, shows the hop with
//      ckptd off the path: before the local stage (--engine-set local_stage=false) a writer could
//      not change a section again until ckptd captured its previous commit (that copy is what a
//      writer that dies mid-write is rolled back to), and on 2 CPUs ckptd shares a core with A, so
//      with one section each way every round trip waited for a context switch to ckptd and back;
//      with 64, ckptd captures all pending sections at once, once per about 64 round trips. With
//      the local stage (the default) the writer copies an uncaptured previous commit into a stage
//      record and goes on (docs/ARCHITECTURE.md §3.6). For information (the target is for the
//      one-section figure).
//      Also in a blocking mode: each side sleeps in poll() on Checkpoint::notify_fd() (the
//      hot-standby change notification, signalled by ckptd after it captured a commit) and calls
//      changes_since() on wake-up, instead of spinning. DESIGN.md: a cross-core blocking wake
//      costs tens of microseconds here against under a microsecond for a spin; reported apart.
//   3. iceoryx 2.0 (Debian's libiceoryx-posh-dev; optional at build time) publish/subscribe of
//      64 B in two processes through its own daemon (iox-roudi, started and stopped here): A
//      loan()s a sample on topic Ping, writes it, publish()es; B busy-polls take() on Ping and
//      answers on Pong the same way; A busy-polls take() on Pong. Zero-copy on both sides.
//
// Every figure is a ROUND TRIP timed in A with CLOCK_MONOTONIC, one sample per operation into a
// preallocated array (nothing allocates or prints in the timed loop), after a warm-up; the
// one-way figure is round trip / 2 (the two hops are symmetric: same section size, same code,
// the roles swapped). The target (issue 5): ours one-way p50 <= 1.5x the cache-line ping-pong's
// one-way p50 — i.e. round trip vs round trip, same CPUs, same run. Every value B observes and A
// gets back is checked (8 copies of the round-trip counter in the 64 B: a torn read would show as
// copies that differ), and a mismatch fails the run.
//
// Pinning (2 CPUs): A (the timing side) on --cpu-a (0), B on --cpu-b (1); ckptd and iox-roudi on
// --daemon-cpu (0: beside A, as a node's engine shares a core with its applications). ckptd
// busy-polls (idle_spin_us = 1000000, yielding its core every 16 polls) in every one of our
// modes. A spinning process that shares its CPU with ckptd yields every --yield-every (16) polls,
// so that ckptd captures the commits the next write()s wait for; without it ckptd runs only when
// the scheduler preempts the spinner (milliseconds). Sections in turn: no periodic yield, only
// write()'s own while it waits for a capture.
//
// Steps run in rounds, alternating their order (ABC, CBA, ...); the table shows medians over the
// rounds. --samples DIR writes every round trip (ns, one per line) to DIR/<key>.ns for CDF plots:
// cacheline.pingpong, ours.observe.64, ours.observe_turn.64, ours.observe_blocking.64,
// iox.pubsub.64.
//
//   ckpt_observe [--quick] [--rounds N] [--count N] [--count-blocking N] [--json FILE] [--samples DIR]
//                [--ckptd PATH] [--roudi PATH] [--cpu-a N] [--cpu-b N] [--daemon-cpu N]
//                [--yield-every N] [--sections-in-turn K] [--only STEP] [--keep-logs] [--engine-set K=V]
#include "children.hpp"
#include "ckpt/client/session.hpp"
#include "engine_pair.hpp"
#include "report.hpp"
#include "tool_lifecycle.hpp"

#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xmmintrin.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <vector>

#ifdef CKPT_OBSERVE_ICEORYX
#include "iceoryx_hoofs/log/logmanager.hpp"
#include "iceoryx_posh/popo/publisher.hpp"
#include "iceoryx_posh/popo/subscriber.hpp"
#include "iceoryx_posh/runtime/posh_runtime.hpp"
#include "iceoryx_versions.hpp"
#endif

namespace {

using namespace ckpt;
using namespace ckpt::client;
using namespace ckpt::bench;

struct Options {
    std::string ckptd, roudi, json, samples, only;
    bool quick = false, keep_logs = false;
    unsigned rounds = 5;
    std::size_t count = 200'000;         ///< round trips per busy-poll figure, after the warm-up
    std::size_t count_blocking = 20'000; ///< round trips of the blocking mode
    int cpu_a = 0, cpu_b = 1, daemon_cpu = 0;
    unsigned yield_every = 16; ///< polls between sched_yield() of the spinner beside ckptd (0: never)
    std::size_t turn = 64;     ///< sections each way of the "in turn" figure
    std::string log_dir;
    std::vector<std::string> engine_set; ///< extra ckptd.conf lines (A/B experiments: local_stage=false)
};

constexpr std::size_t kPayload = 64;                    ///< bytes changed per commit / per message
constexpr std::size_t kSection = 4096;                  ///< the sections' capacity
constexpr std::uint64_t kStop = ~0ull;                  ///< the value that tells B to finish
constexpr std::uint64_t kTimeoutNs = 10'000'000'000ull; ///< a partner that does not answer for 10 s

// ------------------------------------------------------------------------------------------
// Two child processes and what they share
// ------------------------------------------------------------------------------------------

/// What the tool and its two children share: a memfd mapping made before fork. The ping-pong line
/// has a cache line of its own; the control words sit on another so that they never disturb it.
struct Shared {
    struct alignas(64) Line {
        std::atomic<std::uint64_t> v{0};
    };
    Line line;                                       ///< the cache-line ping-pong's line
    alignas(64) std::atomic<std::uint32_t> ready{0}; ///< children set up
    std::atomic<std::uint32_t> go{0};                ///< the tool says start
    std::atomic<std::uint32_t> abort{0};             ///< a child failed or the tool stops
    std::atomic<std::uint64_t> recorded{0};          ///< samples A wrote
    std::atomic<std::uint64_t> checked_b{0};         ///< values B observed and checked
    std::atomic<std::uint64_t> checked_a{0};         ///< answers A observed and checked
    std::atomic<std::uint64_t> wakeups_b{0};         ///< blocking mode: B's poll() returns
    char error[2][2048] = {};                        ///< A's and B's failure, if any
    // followed by std::uint64_t samples[count]
    std::uint64_t* samples() { return reinterpret_cast<std::uint64_t*>(this + 1); }
};
static_assert(sizeof(Shared) % 8 == 0);

/// The shared mapping of one step: a Shared followed by `count` samples.
class SharedMap {
public:
    explicit SharedMap(std::size_t count) : bytes_(sizeof(Shared) + count * sizeof(std::uint64_t)) {
        const int fd = ::memfd_create("hs-observe", MFD_CLOEXEC);
        if (fd < 0) return;
        if (::ftruncate(fd, static_cast<off_t>(bytes_)) == 0) {
            void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (p != MAP_FAILED) sh_ = new (p) Shared;
        }
        ::close(fd); // the mapping keeps the memory; the children inherit the mapping, not the fd
    }
    ~SharedMap() {
        if (sh_) ::munmap(sh_, bytes_);
    }
    SharedMap(const SharedMap&) = delete;
    SharedMap& operator=(const SharedMap&) = delete;
    Shared* get() const { return sh_; }

private:
    std::size_t bytes_;
    Shared* sh_ = nullptr;
};

/// A child's failure, for the tool to report; returns the exit code.
[[gnu::format(printf, 3, 4)]] int child_fail(Shared& sh, int role, const char* f, ...) {
    va_list ap;
    va_start(ap, f);
    std::vsnprintf(sh.error[role], sizeof sh.error[role], f, ap);
    va_end(ap);
    sh.abort.store(1);
    return 1;
}

/// Spins until `done()`; every `yield_every` polls (0: never) gives the core away, for a spinner
/// that shares its CPU with ckptd. The deadline is looked at only every 65536 polls, so the hot
/// loop is the predicate and a pause. False on timeout, abort or stop.
template <typename Pred>
[[gnu::always_inline]] inline bool spin_until(Pred done, Shared& sh, unsigned yield_every) {
    std::uint32_t n = 0, to_yield = yield_every;
    std::uint64_t deadline = 0;
    while (!done()) {
        _mm_pause();
        ++n;
        if (to_yield && --to_yield == 0) ::sched_yield(), to_yield = yield_every;
        if ((n & 0xFFFF) == 0) {
            const std::uint64_t t = now_ns();
            if (deadline == 0)
                deadline = t + kTimeoutNs;
            else if (t > deadline || sh.abort.load(std::memory_order_relaxed) || g_stop)
                return false;
        }
    }
    return true;
}

/// A's samples are written between round trips, outside the timed interval; touching them before
/// the start keeps even the page faults of the first write to each page out of the run.
void prefault(Shared& sh, std::size_t count) {
    std::memset(sh.samples(), 0, count * sizeof(std::uint64_t));
}

/// Waits (sleeping: set-up is not timed) until the tool says go; false on abort.
bool wait_go(Shared& sh) {
    sh.ready.fetch_add(1);
    const std::uint64_t end = now_ns() + 60 * 1'000'000'000ull;
    while (!sh.go.load()) {
        if (sh.abort.load() || g_stop || now_ns() > end) return false;
        ::usleep(200);
    }
    return true;
}

/// fork()s a child pinned to `cpu` that runs `body` and exits with its result. The child dies with
/// the tool (PR_SET_PDEATHSIG) and never returns into the tool's frames (whose destructors would
/// stop the tool's engine); the body's own objects are destroyed when it returns.
pid_t fork_child(int cpu, Shared& sh, int role, const std::function<int()>& body) {
    const pid_t parent = ::getpid();
    std::fflush(stdout); // nothing buffered is written twice
    std::fflush(stderr);
    const pid_t pid = ::fork();
    if (pid != 0) return pid;
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1); // the tool died before the line above
    int rc = 1;
    if (!pin_to_cpu(cpu))
        rc = child_fail(sh, role, "cannot pin to CPU %d: %s", cpu, std::strerror(errno));
    else
        try {
            rc = body();
        } catch (const std::exception& e) {
            rc = child_fail(sh, role, "exception: %s", e.what());
        }
    std::fflush(stdout);
    std::fflush(stderr);
    ::_exit(rc);
}

/// Starts both children, lets them go once both are set up (so neither times the other's set-up),
/// and reaps them; false (with the children's errors in `res`) when either failed or time ran out.
bool run_pair(Results& res, const std::string& what, Shared& sh, const Options& o, std::function<int()> a,
              std::function<int()> b, int setup_timeout_ms = 30'000) {
    pid_t pids[2] = {fork_child(o.cpu_a, sh, 0, a), -1};
    pids[1] = fork_child(o.cpu_b, sh, 1, b);
    int codes[2] = {-1, -1};
    bool went = false;
    const std::uint64_t setup_end = now_ns() + std::uint64_t(setup_timeout_ms) * 1'000'000;
    std::uint64_t kill_at = 0;
    for (int left = 2; left > 0;) {
        for (int i = 0; i < 2; ++i) {
            if (pids[i] <= 0) continue;
            int st = 0;
            if (::waitpid(pids[i], &st, WNOHANG) != pids[i]) continue;
            codes[i] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            pids[i] = -1;
            --left;
            if (codes[i] != 0) sh.abort.store(1); // the partner stops at its next deadline check
        }
        if (!went && sh.ready.load() == 2) sh.go.store(1), went = true;
        if (!went && now_ns() > setup_end && !sh.abort.load()) {
            sh.abort.store(1);
            res.error(what + ": the two processes were not set up within " + std::to_string(setup_timeout_ms) + " ms");
        }
        if (g_stop) sh.abort.store(1);
        // After an abort the survivor notices within its deadline check (a few ms); a child that
        // does not finish in 15 s more is killed.
        if (sh.abort.load() && kill_at == 0) kill_at = now_ns() + 15'000'000'000ull;
        if (kill_at && now_ns() > kill_at)
            for (pid_t p : pids)
                if (p > 0) ::kill(p, SIGKILL);
        if (left) ::usleep(1000);
    }
    bool ok = true;
    for (int i = 0; i < 2; ++i)
        if (codes[i] != 0) {
            ok = false;
            if (!g_stop)
                res.error(what + ": process " + (i ? "B" : "A") + " exited with " + std::to_string(codes[i]) +
                          (sh.error[i][0] ? std::string(": ") + sh.error[i] : std::string()));
        }
    return ok && !g_stop;
}

/// Percentiles and samples of A's round trips.
void put_round_trips(const Options& o, Results& res, Shared& sh, const std::string& key) {
    const std::size_t n = sh.recorded.load();
    std::vector<std::uint64_t> v(sh.samples(), sh.samples() + n);
    write_samples(o.samples, key, v, n);
    put_lat(res, key, percentiles(v));
    res.put(key + ".count", static_cast<double>(n));
}

std::size_t warmup_of(std::size_t count) {
    return std::min<std::size_t>(count / 10, 10'000);
}

// ------------------------------------------------------------------------------------------
// 1. Cache-line ping-pong between two processes
// ------------------------------------------------------------------------------------------

void cacheline(const Options& o, Results& res) {
    SharedMap map(o.count);
    if (!map.get()) return res.error("cache-line ping-pong: memfd mapping failed");
    Shared& sh = *map.get();
    const std::size_t warm = warmup_of(o.count), total = warm + o.count;
    auto a = [&]() -> int {
        prefault(sh, o.count);
        if (!wait_go(sh)) return child_fail(sh, 0, "not started");
        std::uint64_t v = 0;
        std::uint64_t* lat = sh.samples();
        for (std::size_t i = 0; i < total; ++i) {
            const std::uint64_t t0 = now_ns();
            sh.line.v.store(++v, std::memory_order_release);
            ++v;
            if (!spin_until([&] { return sh.line.v.load(std::memory_order_acquire) == v; }, sh, 0))
                return child_fail(sh, 0, "B did not answer round trip %zu", i);
            const std::uint64_t t1 = now_ns();
            if (i >= warm) lat[i - warm] = t1 - t0;
        }
        sh.recorded.store(o.count);
        sh.line.v.store(kStop, std::memory_order_release);
        return 0;
    };
    auto b = [&]() -> int {
        if (!wait_go(sh)) return child_fail(sh, 1, "not started");
        std::uint64_t seen = 0;
        for (;;) {
            std::uint64_t v = 0;
            if (!spin_until([&] { return (v = sh.line.v.load(std::memory_order_acquire)) != seen; }, sh, 0))
                return child_fail(sh, 1, "A stopped sending");
            if (v == kStop) return 0;
            seen = v + 1;
            sh.line.v.store(seen, std::memory_order_release);
        }
    };
    if (run_pair(res, "cache-line ping-pong", sh, o, a, b)) put_round_trips(o, res, sh, "cacheline.pingpong");
}

// ------------------------------------------------------------------------------------------
// 2. Ours: commit on one section, observed in place by the other process
// ------------------------------------------------------------------------------------------

/// The 64 B a commit carries: 8 copies of the value, so that a torn read cannot pass the check.
struct Payload {
    std::uint64_t w[kPayload / 8];
};

void fill(std::span<std::byte> s, std::uint64_t v) {
    Payload p;
    for (auto& w : p.w) w = v;
    std::memcpy(s.data(), &p, kPayload);
}

constexpr std::uint64_t kTorn = ~0ull - 1, kShort = ~0ull - 2;

/// The committed value of `s`, read in place under its seqlock; kTorn if the copies differ
/// (impossible unless the seqlock failed), kShort if the section holds fewer than 64 B.
std::uint64_t observe(const Section& s, Shared& sh, int role) {
    auto r = s.read_view([](std::span<const std::byte> b) -> std::uint64_t {
        if (b.size() < kPayload) return kShort;
        Payload p;
        std::memcpy(&p, b.data(), kPayload);
        for (auto w : p.w)
            if (w != p.w[0]) return kTorn;
        return p.w[0];
    });
    if (!r) {
        child_fail(sh, role, "read_view: %s", r.message().c_str());
        return kShort;
    }
    return *r;
}

/// The three ways our figure runs.
enum class Mode {
    kBusy,     ///< one section each way, readers spin (the figure with the target)
    kTurn,     ///< busy, but --sections-in-turn sections each way, used in turn
    kBlocking, ///< one section each way, readers sleep on the change notification
};

/// One application process of the ours figure: a session of its own on the tool's checkpoint;
/// it writes sections mine[k] and reads theirs[k].
struct App {
    std::optional<Session> session;
    Checkpoint ck;
    std::vector<Section> mine, theirs;
    std::vector<std::uint64_t> last; ///< theirs[k]'s sequence last seen
    int fd = -1;                     ///< notify_fd (blocking mode)
    std::uint64_t since = 0;
    std::vector<std::string> ids; ///< changes_since's answer (not needed: the sequence says what changed)

    int open(Shared& sh, int role, const std::string& socket, char mine_c, char theirs_c, std::size_t k,
             bool blocking) {
        auto s = Session::connect({socket, std::chrono::seconds(10), false});
        if (!s) return child_fail(sh, role, "connect: %s", s.message().c_str());
        session.emplace(std::move(*s));
        auto c = session->open("observe", kOpenRead | kOpenWrite);
        if (!c) return child_fail(sh, role, "open: %s", c.message().c_str());
        ck = std::move(*c);
        for (std::size_t i = 0; i < k; ++i) {
            auto m = ck.section(mine_c + std::to_string(i));
            auto t = ck.section(theirs_c + std::to_string(i));
            if (!m || !t) return child_fail(sh, role, "section: %s", (!m ? m : t).message().c_str());
            mine.push_back(*m);
            theirs.push_back(*t);
            // Now, before saying ready: once both are, the partner may commit at any moment.
            last.push_back(t->sequence());
        }
        if (blocking) {
            auto f = ck.notify_fd(); // subscribes now, before anything is timed
            if (!f) return child_fail(sh, role, "notify_fd: %s", f.message().c_str());
            fd = *f;
            since = ck.changes_since(0, ids);
            ids.clear();
        }
        ids.reserve(4);
        return 0;
    }

    /// write() + 64 B through span() + commit(kAsync) on mine[k].
    bool commit(Shared& sh, int role, std::size_t k, std::uint64_t v) {
        auto tx = mine[k].write();
        if (!tx) return child_fail(sh, role, "write(): %s", tx.message().c_str()), false;
        fill(tx->span(0, kPayload), v);
        auto r = tx->commit(Ack::kAsync);
        if (!r) return child_fail(sh, role, "commit(kAsync): %s", r.message().c_str()), false;
        return true;
    }

    /// Waits until theirs[k]'s committed sequence moves, then reads it in place; the value
    /// (kTorn, kShort as observe()), 0 on timeout. Busy: spins on the seqlock word. Blocking:
    /// sleeps on the change notification; changes_since() re-arms it before the sequence is looked
    /// at again, so a commit that lands between the look and poll() still wakes us.
    std::uint64_t receive(Shared& sh, int role, std::size_t k, bool blocking, unsigned yield_every) {
        const Section& t = theirs[k];
        std::uint64_t seq = 0;
        if (!blocking) {
            if (!spin_until([&] { return (seq = t.sequence()) != last[k]; }, sh, yield_every)) return 0;
        } else {
            const std::uint64_t end = now_ns() + kTimeoutNs;
            while ((seq = t.sequence()) == last[k]) {
                pollfd p{fd, POLLIN, 0};
                if (::poll(&p, 1, 100) > 0) {
                    if (role == 1) sh.wakeups_b.fetch_add(1, std::memory_order_relaxed);
                    since = ck.changes_since(since, ids);
                    ids.clear();
                }
                if (now_ns() > end || sh.abort.load(std::memory_order_relaxed) || g_stop) return 0;
            }
        }
        last[k] = seq;
        return observe(t, sh, role);
    }
};

/// One engine, the checkpoint "observe" with sections x0.. and y0.., A and B.
void ours(const Options& o, Results& res, Mode mode) {
    const bool blocking = mode == Mode::kBlocking;
    const std::string what = mode == Mode::kBusy   ? "ours (busy-poll)"
                             : mode == Mode::kTurn ? "ours (busy-poll, sections in turn)"
                                                   : "ours (blocking)";
    const std::size_t count = blocking ? o.count_blocking : o.count;
    const std::size_t k = mode == Mode::kTurn ? o.turn : 1;
    PairConfig pc;
    pc.transport = "none";
    pc.busy = true;
    pc.cpu_a = o.daemon_cpu; // where EnginePair pins the node-local engine
    pc.log_dir = o.log_dir;
    pc.engine_set = o.engine_set;
    EnginePair pair(pc, res);
    if (!pair.start()) return;
    CheckpointAttributes attrs;
    attrs.creation_flags = static_cast<std::uint32_t>(UpdateMode::kAsync);
    attrs.checkpoint_size = 2 * k * kSection;
    attrs.max_sections = static_cast<std::uint32_t>(2 * k);
    attrs.max_section_size = kSection;
    attrs.max_section_id_size = 8;
    auto ck = pair.a().create("observe", attrs);
    if (!ck) return (void)pair.failed("create: " + ck.message());
    for (std::size_t i = 0; i < 2 * k; ++i) {
        SectionCreate sc;
        sc.id = (i < k ? "x" : "y") + std::to_string(i % k);
        sc.capacity = kSection;
        if (auto s = ck->create_section(sc); !s) return (void)pair.failed("create_section: " + s.message());
    }
    SharedMap map(count);
    if (!map.get()) return res.error(what + ": memfd mapping failed");
    Shared& sh = *map.get();
    const std::string socket = pair.engine_a().socket();
    const std::size_t warm = warmup_of(count), total = warm + count;
    // The spinner that shares its CPU with ckptd yields to it every few polls, so that ckptd
    // captures the commit its partner's next write() waits for; the other spinner never needs to.
    // Sections in turn: no periodic yield, only write()'s own (it yields while ckptd has not
    // captured the section's previous commit): ckptd then captures every section pending at
    // once, one hand-off per about `k` round trips instead of one per round trip.
    const unsigned yield = mode == Mode::kTurn ? 0 : o.yield_every;
    const unsigned yield_a = o.cpu_a == o.daemon_cpu ? yield : 0;
    const unsigned yield_b = o.cpu_b == o.daemon_cpu ? yield : 0;
    auto a = [&]() -> int {
        App app;
        if (int rc = app.open(sh, 0, socket, 'x', 'y', k, blocking)) return rc;
        prefault(sh, count);
        if (!wait_go(sh)) return child_fail(sh, 0, "not started");
        std::uint64_t* lat = sh.samples();
        for (std::size_t i = 1; i <= total; ++i) {
            const std::size_t s = (i - 1) % k;
            const std::uint64_t t0 = now_ns();
            if (!app.commit(sh, 0, s, i)) return 1;
            const std::uint64_t v = app.receive(sh, 0, s, blocking, yield_a);
            const std::uint64_t t1 = now_ns();
            if (v != i)
                return child_fail(sh, 0, "round trip %zu: B's answer %s (%llu)", i,
                                  v == 0       ? "never came"
                                  : v == kTorn ? "was torn"
                                               : "was wrong",
                                  static_cast<unsigned long long>(v));
            if (i > warm) lat[i - warm - 1] = t1 - t0;
        }
        sh.checked_a.store(total);
        sh.recorded.store(count);
        return app.commit(sh, 0, total % k, kStop) ? 0 : 1;
    };
    auto b = [&]() -> int {
        App app;
        if (int rc = app.open(sh, 1, socket, 'y', 'x', k, blocking)) return rc;
        if (!wait_go(sh)) return child_fail(sh, 1, "not started");
        for (std::uint64_t expect = 1;; ++expect) {
            const std::size_t s = (expect - 1) % k;
            const std::uint64_t v = app.receive(sh, 1, s, blocking, yield_b);
            if (v == kStop) return 0;
            if (v != expect)
                return child_fail(sh, 1, "commit %llu of A %s (%llu)", static_cast<unsigned long long>(expect),
                                  v == 0       ? "never came"
                                  : v == kTorn ? "was read torn"
                                               : "was read wrong",
                                  static_cast<unsigned long long>(v));
            sh.checked_b.fetch_add(1, std::memory_order_relaxed);
            if (!app.commit(sh, 1, s, v)) return 1;
        }
    };
    if (!run_pair(res, what, sh, o, a, b)) return;
    const std::string key = mode == Mode::kBusy   ? "ours.observe.64"
                            : mode == Mode::kTurn ? "ours.observe_turn.64"
                                                  : "ours.observe_blocking.64";
    put_round_trips(o, res, sh, key);
    res.put(key + ".checked", static_cast<double>(sh.checked_a.load() + sh.checked_b.load()));
    if (blocking) res.put(key + ".wakeups_per_round_trip", static_cast<double>(sh.wakeups_b.load()) / double(total));
}

// ------------------------------------------------------------------------------------------
// 3. iceoryx publish/subscribe
// ------------------------------------------------------------------------------------------

#ifdef CKPT_OBSERVE_ICEORYX

/// The message: 8 copies of the round-trip counter, 64 B like our commits.
struct IoxMsg {
    std::uint64_t w[kPayload / 8];
};
static_assert(sizeof(IoxMsg) == kPayload);

/// RouDi, started for one step and stopped at its end (also on failure or a signal).
class Roudi {
public:
    Roudi(const Options& o, Results& res) : o_(o), res_(res) {}
    ~Roudi() { stop(); }

    /// Starts iox-roudi and waits until it accepts applications; false with a precise error.
    bool start() {
        // One RouDi per machine: it holds /tmp/roudi.lock. If one runs already it is not ours
        // (ours die with this tool: PR_SET_PDEATHSIG), and we neither stop it nor measure through
        // a daemon whose configuration we do not know.
        if (const int fd = ::open(kLock, O_RDONLY | O_CLOEXEC); fd >= 0) {
            const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
            ::close(fd); // closing drops our probe lock at once
            if (held)
                return failed("another iox-roudi is running (it holds " + std::string(kLock) +
                              "); this tool starts and stops its own and does not touch one it did not start: stop "
                              "it first (pgrep -a iox-roudi)");
        }
        // A RouDi killed hard (SIGKILL, or with a run of this tool) leaves its socket and shared
        // memory behind; iox-roudi unlinks a stale socket and re-creates its segments itself. Our
        // applications' sockets and locks of a killed run are removed here (their names carry
        // the pid of the run; only those of runs no longer alive).
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator("/tmp", ec)) {
            const std::string n = e.path().filename().string();
            if (n.rfind("hs-observe-a-", 0) != 0 && n.rfind("hs-observe-b-", 0) != 0) continue;
            const long pid = std::strtol(n.c_str() + 13, nullptr, 10);
            if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) ::unlink(e.path().c_str());
        }
        log_ = o_.log_dir + "/iox-roudi.log";
        ::unlink(log_.c_str());
        if (::access(o_.roudi.c_str(), X_OK) != 0)
            return failed("cannot run " + o_.roudi + ": " + std::strerror(errno) +
                          " (install Debian's iceoryx package, or give --roudi PATH)");
        child_ = spawn({o_.roudi, "--log-level", "info", "--monitoring-mode", "on"}, o_.daemon_cpu, log_, false);
        if (child_.pid <= 0) return failed("fork failed");
        const std::uint64_t end = now_ns() + 10'000'000'000ull;
        while (now_ns() < end && !g_stop) {
            if (read_file(log_).find("RouDi is ready for clients") != std::string::npos) return true;
            int st = 0;
            if (::waitpid(child_.pid, &st, WNOHANG) == child_.pid) {
                child_.pid = -1;
                const int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                return failed(o_.roudi + " exited with " + std::to_string(code) +
                              (code == 127 ? " (could not be executed)" : "") + " before it was ready:\n" +
                              read_file(log_));
            }
            ::usleep(10'000);
        }
        return failed(o_.roudi + " did not say \"RouDi is ready for clients\" within 10 s:\n" + read_file(log_));
    }

    /// SIGTERM (RouDi removes its socket and segments); SIGKILL after 5 s, and then the files
    /// it left are removed here, as long as no other RouDi took the lock meanwhile.
    void stop() {
        if (child_.pid <= 0) return;
        ::kill(child_.pid, SIGTERM);
        int st = 0;
        bool exited = false;
        for (int i = 0; i < 500 && !exited; ++i) {
            if (::waitpid(child_.pid, &st, WNOHANG) == child_.pid)
                exited = true;
            else
                ::usleep(10'000);
        }
        if (!exited) {
            ::kill(child_.pid, SIGKILL);
            ::waitpid(child_.pid, &st, 0);
            res_.error("iceoryx: iox-roudi did not stop within 5 s of SIGTERM; killed (log: " + log_ + ")");
            remove_leftovers();
        }
        child_.pid = -1;
    }

    const std::string& log() const { return log_; }

private:
    static constexpr const char* kLock = "/tmp/roudi.lock";

    void remove_leftovers() {
        const int fd = ::open(kLock, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            const bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
            ::close(fd);
            if (!free) return; // someone else's RouDi now: not ours to clean
        }
        // iox-roudi's built-in configuration: the management segment, one data segment named after
        // the group it runs as, its socket and its locks.
        std::string grp = "root";
        if (const struct group* g = ::getgrgid(::getegid())) grp = g->gr_name;
        for (const std::string& f : {std::string("/dev/shm/iceoryx_mgmt"), "/dev/shm/" + grp, std::string("/tmp/roudi"),
                                     std::string(kLock), std::string("/tmp/iox-unique-roudi.lock")})
            ::unlink(f.c_str());
    }

    bool failed(const std::string& what) {
        res_.error("iceoryx: " + what);
        return false;
    }

    const Options& o_;
    Results& res_;
    Child child_;
    std::string log_;
};

/// One iceoryx application: a runtime of its own, a publisher and a subscriber.
struct IoxApp {
    iox::popo::Publisher<IoxMsg> pub;
    iox::popo::Subscriber<IoxMsg> sub;
    IoxApp(const char* out, const char* in)
        : pub(iox::capro::ServiceDescription{"HotspareObserve", "RoundTrip",
                                             iox::capro::IdString_t(iox::cxx::TruncateToCapacity, out)}),
          sub(iox::capro::ServiceDescription{"HotspareObserve", "RoundTrip",
                                             iox::capro::IdString_t(iox::cxx::TruncateToCapacity, in)}) {}

    /// Both directions connected (RouDi's discovery loop connects ports every 100 ms or so).
    bool wait_connected(Shared& sh) {
        const std::uint64_t end = now_ns() + 20'000'000'000ull;
        while (sub.getSubscriptionState() != iox::SubscribeState::SUBSCRIBED || !pub.hasSubscribers()) {
            if (now_ns() > end || sh.abort.load() || g_stop) return false;
            ::usleep(1000);
        }
        return true;
    }

    bool send(std::uint64_t v) {
        auto l = pub.loan();
        if (l.has_error()) return false;
        for (auto& w : l.value()->w) w = v;
        l.value().publish();
        return true;
    }

    /// Busy-polls take(); the value, kTorn if the copies differ, 0 on timeout.
    std::uint64_t receive(Shared& sh) {
        std::uint64_t v = 0;
        const bool ok = spin_until(
            [&] {
                auto r = sub.take();
                if (r.has_error()) return false;
                const IoxMsg& m = *r.value();
                v = m.w[0];
                for (auto w : m.w)
                    if (w != v) v = kTorn;
                return true; // the sample goes back to its publisher's pool here
            },
            sh, 0);
        return ok ? v : 0;
    }
};

/// Runs `body` in a process with an iceoryx runtime named `name`, then leaves through exit() so
/// that the runtime's destructor unregisters from RouDi (RouDi would otherwise SIGTERM the pid
/// when it shuts down).
int with_runtime(const std::string& name, const std::function<int()>& body) {
    // Warnings and errors only: the library logs every registration at debug level otherwise.
    iox::log::LogManager::GetLogManager().SetDefaultLogLevel(iox::log::LogLevel::kWarn,
                                                             iox::log::LogLevelOutput::kHideLogLevel);
    iox::runtime::PoshRuntime::initRuntime(iox::RuntimeName_t(iox::cxx::TruncateToCapacity, name.c_str()));
    const int rc = body();
    std::fflush(stdout);
    std::exit(rc);
}

void iceoryx(const Options& o, Results& res) {
    // A RouDi that cannot start in one round will not in the next: say why once.
    static bool roudi_failed = false;
    if (roudi_failed) return;
    Roudi roudi(o, res);
    if (!roudi.start()) {
        roudi_failed = true;
        return;
    }
    SharedMap map(o.count);
    if (!map.get()) return res.error("iceoryx: memfd mapping failed");
    Shared& sh = *map.get();
    const std::size_t warm = warmup_of(o.count), total = warm + o.count;
    const std::string tag = std::to_string(::getpid());
    auto a = [&]() -> int {
        return with_runtime("hs-observe-a-" + tag, [&]() -> int {
            IoxApp app("Ping", "Pong");
            if (!app.wait_connected(sh)) return child_fail(sh, 0, "publisher/subscriber never connected");
            prefault(sh, o.count);
            if (!wait_go(sh)) return child_fail(sh, 0, "not started");
            std::uint64_t* lat = sh.samples();
            for (std::size_t i = 1; i <= total; ++i) {
                const std::uint64_t t0 = now_ns();
                if (!app.send(i)) return child_fail(sh, 0, "loan() failed at round trip %zu", i);
                const std::uint64_t v = app.receive(sh);
                const std::uint64_t t1 = now_ns();
                if (v != i)
                    return child_fail(sh, 0, "round trip %zu: B answered %llu", i, static_cast<unsigned long long>(v));
                if (i > warm) lat[i - warm - 1] = t1 - t0;
            }
            sh.checked_a.store(total);
            sh.recorded.store(o.count);
            return app.send(kStop) ? 0 : 1;
        });
    };
    auto b = [&]() -> int {
        return with_runtime("hs-observe-b-" + tag, [&]() -> int {
            IoxApp app("Pong", "Ping");
            if (!app.wait_connected(sh)) return child_fail(sh, 1, "publisher/subscriber never connected");
            if (!wait_go(sh)) return child_fail(sh, 1, "not started");
            for (std::uint64_t expect = 1;; ++expect) {
                const std::uint64_t v = app.receive(sh);
                if (v == kStop) return 0;
                if (v != expect)
                    return child_fail(sh, 1, "received %llu where A sent %llu", static_cast<unsigned long long>(v),
                                      static_cast<unsigned long long>(expect));
                sh.checked_b.fetch_add(1, std::memory_order_relaxed);
                if (!app.send(v)) return child_fail(sh, 1, "loan() failed");
            }
        });
    };
    const bool ok = run_pair(res, "iceoryx", sh, o, a, b);
    // An application that died without unregistering leaves its socket in /tmp.
    for (const char* r : {"a", "b"}) ::unlink(("/tmp/hs-observe-" + std::string(r) + "-" + tag).c_str());
    if (!ok) {
        res.error("iceoryx: RouDi's log: " + roudi.log() + "\n" + read_file(roudi.log()));
        return;
    }
    put_round_trips(o, res, sh, "iox.pubsub.64");
    res.put("iox.pubsub.64.checked", static_cast<double>(sh.checked_a.load() + sh.checked_b.load()));
}

#endif // CKPT_OBSERVE_ICEORYX

// ------------------------------------------------------------------------------------------
// Report
// ------------------------------------------------------------------------------------------

std::vector<Row> build_rows(const Options& o, const Results& r) {
    std::vector<Row> rows;
    // One-way = round trip / 2, for each percentile.
    auto half3 = [&](const std::string& k) {
        return us(r.med(k + ".p50") / 2) + " / " + us(r.med(k + ".p99") / 2) + " / " + us(r.med(k + ".p999") / 2);
    };
    auto rt3 = [&](const std::string& k) {
        return us(r.med(k + ".p50")) + " / " + us(r.med(k + ".p99")) + " / " + us(r.med(k + ".p999"));
    };
    const std::string cpus = "CPU " + std::to_string(o.cpu_a) + " <-> " + std::to_string(o.cpu_b);
    const std::string pp = "cacheline.pingpong", busy = "ours.observe.64", blk = "ours.observe_blocking.64",
                      turn = "ours.observe_turn.64", iox = "iox.pubsub.64";
    const std::string pp_name = "cache-line ping-pong between two processes, " + cpus;
    const std::string iox_name = "iceoryx 2.0 publish/subscribe of 64 B (loan/publish, take busy-poll), " + cpus;
    auto row = [&](const std::string& k, const std::string& b, const std::string& figure, const std::string& base_name,
                   bool one_way) {
        Row x;
        x.key = k;
        x.base_key = b;
        x.figure = figure;
        x.ours = r.has(k + ".p50") ? (one_way ? half3(k) : rt3(k)) : "n/a";
        x.base_name = base_name;
        x.base = r.has(b + ".p50") ? (one_way ? half3(b) : rt3(b)) : "n/a";
        x.ours_v = r.med(k + ".p50") / (one_way ? 2 : 1);
        x.base_v = r.med(b + ".p50") / (one_way ? 2 : 1);
        x.ratio_v = x.ours_v / x.base_v;
        x.ratio = std::isfinite(x.ratio_v) ? fmt("%.2fx", x.ratio_v) : "n/a";
        return x;
    };
    if (r.has(busy + ".p50")) {
        Row x = row(busy, pp,
                    "commit -> observed by a reader in another process, 64 B in a 4 KiB section, async commit, "
                    "busy-poll: one-way (round trip / 2) p50 / p99 / p99.9 us",
                    pp_name + ": one-way (round trip / 2)", true);
        const bool have = r.has(pp + ".p50"), met = have && x.ratio_v <= 1.5;
        x.verdict = !have ? "n/a" : met ? "met" : "missed";
        x.target = !have ? "n/a" : "p50 <= 1.5x: " + verdict_word(met);
        rows.push_back(x);
        rows.push_back(row(busy, pp,
                           "  the same, round trip (two hops: A commits X, B observes and commits Y, A observes)",
                           pp_name + ": round trip", false));
    }
    if (r.has(turn + ".p50"))
        rows.push_back(row(turn, pp,
                           "  the same with " + std::to_string(o.turn) +
                               " sections in turn each way (ckptd's capture before a section's next write() off "
                               "the round trip): one-way p50 / p99 / p99.9 us",
                           pp_name + ": one-way", true));
    if (r.has(busy + ".p50") && r.has(iox + ".p50"))
        rows.push_back(row(busy, iox, "commit -> observed, busy-poll: one-way p50 / p99 / p99.9 us (as above)",
                           iox_name + ": one-way (round trip / 2)", true));
    if (r.has(iox + ".p50"))
        rows.push_back(row(
            iox, pp, "iceoryx 2.0 publish -> take of 64 B, busy-poll: one-way p50 / p99 / p99.9 us (for information)",
            pp_name + ": one-way", true));
    if (r.has(blk + ".p50")) {
        Row x = row(blk, busy,
                    "commit -> observed, blocking: reader sleeps in poll() on notify_fd(), woken after ckptd's "
                    "capture: one-way p50 / p99 / p99.9 us",
                    "the same, busy-poll (above)", true);
        x.target = "n/a: the target is for busy-poll" +
                   (r.has(blk + ".wakeups_per_round_trip")
                        ? fmt("; %.2f wake-ups of B per round trip", r.med(blk + ".wakeups_per_round_trip"))
                        : std::string());
        x.verdict = "n/a";
        rows.push_back(x);
    }
    return rows;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"ckpt_observe: local commit to observed by a reader in another process, against a cache-line "
                 "ping-pong and iceoryx publish/subscribe"};
    app.add_flag("--quick", o.quick, "2 rounds of 50000 round trips (5000 blocking): about 10 s");
    app.add_option("--rounds", o.rounds, "rounds, alternating the order of the steps (the table: medians)")
        ->check(CLI::Range(1, 100));
    app.add_option("--count", o.count, "round trips per busy-poll figure and round (after a warm-up of a tenth)")
        ->check(CLI::Range(100, 50'000'000));
    app.add_option("--count-blocking", o.count_blocking, "round trips of the blocking mode per round")
        ->check(CLI::Range(100, 50'000'000));
    app.add_option("--json", o.json, "also write the figures as JSON to this file");
    app.add_option("--samples", o.samples,
                   "write every round trip (ns) to DIR/<key>.ns (cacheline.pingpong, ours.observe.64, "
                   "ours.observe_turn.64, ours.observe_blocking.64, iox.pubsub.64), appended over the rounds");
    app.add_option("--ckptd", o.ckptd, "ckptd to run (default: $CKPTD, else ../engine/ckptd beside this binary)");
    app.add_option("--roudi", o.roudi, "iceoryx's daemon")->default_val("/usr/bin/iox-roudi");
    app.add_option("--cpu-a", o.cpu_a, "CPU of process A (the timing side)");
    app.add_option("--cpu-b", o.cpu_b, "CPU of process B (the answering side)");
    app.add_option("--daemon-cpu", o.daemon_cpu, "CPU of ckptd and of iox-roudi");
    app.add_option("--yield-every", o.yield_every,
                   "a spinning process on ckptd's CPU calls sched_yield() every N polls, so that ckptd can capture "
                   "(0: never; then only write() yields, when it waits for a capture)")
        ->capture_default_str();
    app.add_option("--sections-in-turn", o.turn,
                   "sections each way of the 'in turn' figure (a section is written again only this many round "
                   "trips later)")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    app.add_option("--only", o.only,
                   "run only the steps whose name contains this (cacheline, ours, blocking, iceoryx)");
    app.add_flag("--keep-logs", o.keep_logs, "keep ckptd's and iox-roudi's logs");
    app.add_option("--engine-set", o.engine_set, "an extra ckptd.conf line for ckptd, key=value (repeatable)");
    CLI11_PARSE(app, argc, argv);
    if (o.quick) {
        if (app.count("--rounds") == 0) o.rounds = 2;
        if (app.count("--count") == 0) o.count = 50'000;
        if (app.count("--count-blocking") == 0) o.count_blocking = 5'000;
    }
    const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    for (int c : {o.cpu_a, o.cpu_b, o.daemon_cpu})
        if (c < 0 || c >= cpus) {
            std::fprintf(stderr, "ckpt_observe: CPU %d does not exist (%ld online)\n", c, cpus);
            return 2;
        }
    if (o.cpu_a == o.cpu_b)
        std::fprintf(stderr,
                     "ckpt_observe: A and B share CPU %d: spinning partners on one core measure the "
                     "scheduler, not the hand-off\n",
                     o.cpu_a);
    // The tool itself only forks and waits; it sleeps on the daemon's CPU, away from B.
    if (!prepare_tool("ckpt_observe", o.ckptd, o.log_dir, o.daemon_cpu)) return 2;

    auto info = run_info(argc, argv);
    info["ckptd"] = o.ckptd;
    info["rounds"] = std::to_string(o.rounds);
    info["count"] = std::to_string(o.count);
    info["count_blocking"] = std::to_string(o.count_blocking);
    info["payload"] = std::to_string(kPayload) + " B per commit / message; sections of " + size_name(kSection);
    info["pinning"] = "A (timing side) CPU " + std::to_string(o.cpu_a) + ", B CPU " + std::to_string(o.cpu_b) +
                      " in every step; ckptd and iox-roudi CPU " + std::to_string(o.daemon_cpu) +
                      " (taskset); the tool itself CPU " + std::to_string(o.daemon_cpu) + " (asleep)";
    info["engine"] = "node-local ckptd (transport none), idle_spin_us = " + std::to_string(kBusySpinUs) +
                     " (busy-polling, sched_yield every 16 polls), in every one of our modes";
    info["yield_every"] = std::to_string(o.yield_every) +
                          (o.yield_every ? " (polls between sched_yield() of a spinner on ckptd's CPU)" : " (never)");
    info["measure"] = "round trip in A, CLOCK_MONOTONIC per operation; one-way = round trip / 2";
#ifdef CKPT_OBSERVE_ICEORYX
    info["iceoryx"] = "iceoryx " + std::string(ICEORYX_LATEST_RELEASE_VERSION) + ", " + o.roudi;
#else
    info["iceoryx"] = "not built (no iceoryx_posh found at configure time): no iceoryx rows";
    std::fprintf(stderr, "ckpt_observe: built without iceoryx (libiceoryx-posh-dev): no iceoryx baseline\n");
#endif
    if (load1() > 1.0)
        std::fprintf(stderr, "ckpt_observe: load average is %s: other work shares these CPUs; figures will show it\n",
                     info["load_before"].c_str());
    std::fprintf(stderr, "ckpt_observe: %u round(s) of %zu round trips (%zu blocking); %s\n", o.rounds, o.count,
                 o.count_blocking, info["pinning"].c_str());

    Results res;
    res.tool = "ckpt_observe";
    CpuSampler cpu;
    cpu.sample();
    const std::uint64_t t_start = now_ns();
    using Step = std::pair<const char*, std::function<void()>>;
    std::vector<Step> steps = {
        {"cacheline ping-pong", [&] { cacheline(o, res); }},
        {"ours busy-poll", [&] { ours(o, res, Mode::kBusy); }},
        {"ours busy-poll sections in turn", [&] { ours(o, res, Mode::kTurn); }},
#ifdef CKPT_OBSERVE_ICEORYX
        {"iceoryx pub/sub", [&] { iceoryx(o, res); }},
#endif
        {"ours blocking", [&] { ours(o, res, Mode::kBlocking); }},
    };
    for (unsigned round = 0; round < o.rounds && !g_stop; ++round) {
        std::vector<Step> order = steps;
        if (round % 2) std::reverse(order.begin(), order.end()); // interleave: ABC, CBA, ...
        for (auto& [what, fn] : order) {
            if (g_stop) break;
            if (!o.only.empty() && std::string(what).find(o.only) == std::string::npos) continue;
            std::fprintf(stderr, "ckpt_observe: round %u/%u: %s (load %s)\n", round + 1, o.rounds, what,
                         loadavg().c_str());
            fn();
        }
    }
    const auto share = cpu.sample();
    info["load_after"] = loadavg();
    info["cpu_others"] = fmt("%.0f%%", share.others * 100) + " of the CPUs over the run";
    info["seconds"] = fmt("%.1f", static_cast<double>(now_ns() - t_start) / 1e9);
    info["date_end"] = utc_now();

    auto rows = build_rows(o, res);
    return finish_tool("ckpt_observe", "Commit to observed", o.rounds, info,
                       {{"Pinning", "pinning"}, {"Engine", "engine"}, {"Measured", "measure"}, {"iceoryx", "iceoryx"}},
                       rows, res, o.json, o.log_dir, o.keep_logs);
}

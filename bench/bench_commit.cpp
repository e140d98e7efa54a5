// Local commit and read costs against a real ckptd (node-local: no replicas exist yet).
//
// The benchmark runs on CPU 0 and ckptd on CPU 1 (pinned when the machine has two CPUs), so every
// handshake crosses the same two cores as bench_baselines' cache-line ping-pong.
// What each figure means (all wall-clock time; ckptd busy-polls for 50 us after its last work):
//   BM_CommitAsync           the commit(kAsync) call alone, timed with the TSC around it; counters
//                            p50_ns / p99_ns are per-commit percentiles. The write() that opens the
//                            transaction (and waits for the engine to capture the previous commit)
//                            is outside the timed region.
//   BM_TscTimerOverhead      the same TSC bracket around nothing: included in every TSC-timed figure.
//   BM_CacheLinePingPong     bench_baselines' yardstick, repeated here (see cache_line_pingpong.hpp).
//   BM_WriteCommitAsyncLoop  write() + 64 B through span() + commit(kAsync) on ONE section: a
//                            write() whose previous commit ckptd has not captured yet stages it (the
//                            local stage) and goes on; with one commit staged already it waits for
//                            the capture, so this is at most two commits per capture.
//   BM_WriteCommitRotating   the same transaction over 64 sections in turn, so the engine normally
//                            has captured a section before it is written again: client-side cost of
//                            a whole transaction when the engine keeps up.
//   BM_CommitSync            write() + 64 B + commit(kSync): returns once the engine captured it.
//   BM_CommitAsyncSpinAck    the same round trip, waiting by spinning on acked_sequence() (yields
//                            every 256 pauses, so a ckptd sharing this core still runs).
//   BM_CommitAsyncIdleEngine BM_CommitAsync when ckptd has gone to sleep (commits 200 us apart).
//   BM_ReadView64 / BM_ReadCopy64   a consistent read of 64 bytes in place / copied out.
//   BM_CommitAsyncBySize / BM_CommitSyncBySize   as BM_CommitAsync / BM_CommitSync with one section
//                            of 4 KiB .. 1 GiB and the same 64 dirty bytes in its middle.
// $CKPT_BENCH_ENGINE_SET="key=value;..." adds lines to ckptd's configuration (A/B runs: with
// local_stage=false every write() of BM_WriteCommitAsyncLoop waits for the capture again).
#include "cache_line_pingpong.hpp"
#include "ckpt/client/session.hpp"
#include "engine_process.hpp"
#include "repetitions.hpp"

#include <benchmark/benchmark.h>

#include <sched.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace ckpt;
using namespace ckpt::client;

constexpr std::size_t kDirty = 64;    // bytes changed per commit
constexpr std::uint32_t kBlock = 256; // the default block size (dirty-tracking granularity)
constexpr int kRotatingSections = 64;

/// Joins pieces into a message (not `"literal" + std::string`, which trips GCC 12's -Wrestrict at -O3).
std::string cat(std::initializer_list<std::string_view> parts) {
    std::string out;
    for (auto p : parts) out += p;
    return out;
}

void skip(benchmark::State& state, std::initializer_list<std::string_view> parts) {
    state.SkipWithError(cat(parts).c_str());
}

// ------------------------------------------------------------------------------------------
// TSC timing for regions too short for Google Benchmark's per-loop timer
// ------------------------------------------------------------------------------------------

inline std::uint64_t ticks() {
    _mm_lfence(); // earlier instructions finished before the read
    std::uint64_t t = __rdtsc();
    _mm_lfence(); // later instructions start after it
    return t;
}

double ns_per_tick() {
    static const double v = [] {
        const auto c0 = std::chrono::steady_clock::now();
        const std::uint64_t t0 = ticks();
        while (std::chrono::steady_clock::now() - c0 < std::chrono::milliseconds(50)) {
        }
        const auto c1 = std::chrono::steady_clock::now();
        const std::uint64_t t1 = ticks();
        return std::chrono::duration<double, std::nano>(c1 - c0).count() / static_cast<double>(t1 - t0);
    }();
    return v;
}

/// Per-iteration TSC samples; reports p50/p99 in ns as counters (aggregated over repetitions).
class Samples {
public:
    explicit Samples(std::size_t reserve) { ticks_.reserve(reserve); }
    void add(benchmark::State& state, std::uint64_t t) {
        ticks_.push_back(t);
        state.SetIterationTime(static_cast<double>(t) * ns_per_tick() * 1e-9);
    }
    void report(benchmark::State& state) {
        if (ticks_.empty()) return;
        std::sort(ticks_.begin(), ticks_.end());
        auto at = [&](double q) {
            return static_cast<double>(ticks_[static_cast<std::size_t>(q * static_cast<double>(ticks_.size() - 1))]) *
                   ns_per_tick();
        };
        state.counters["p50_ns"] = at(0.50);
        state.counters["p99_ns"] = at(0.99);
    }

private:
    std::vector<std::uint64_t> ticks_;
};

// ------------------------------------------------------------------------------------------
// One engine and one session for the whole binary; checkpoints are made once and kept, because
// Google Benchmark calls a benchmark function several times (iteration search, repetitions).
// ------------------------------------------------------------------------------------------

struct Fixture {
    Checkpoint ck;
    std::vector<Section> sections;
};

/// Extra ckptd.conf lines from $CKPT_BENCH_ENGINE_SET ("key=value;key=value"), for A/B runs of
/// an engine option (local_stage=false, say) against the default in the same session.
std::vector<std::string> engine_set_from_env() {
    std::vector<std::string> lines;
    const char* env = std::getenv("CKPT_BENCH_ENGINE_SET");
    for (std::string rest = env ? env : ""; !rest.empty();) {
        const auto semi = rest.find(';');
        if (semi != 0) lines.push_back(rest.substr(0, semi));
        rest = semi == std::string::npos ? "" : rest.substr(semi + 1);
    }
    return lines;
}

struct Node {
    ckpt::testing::EngineProcess engine{"bench", engine_set_from_env()}; // declared first: destroyed last
    std::optional<Session> session;
    std::map<std::string, std::unique_ptr<Fixture>> fixtures; // destroyed first: closes while ckptd runs
    std::string error;

    Node() {
        if (!engine.start()) {
            error = cat({"ckptd did not start (is CKPTD set to the built engine?): ", engine.log()});
            return;
        }
        auto s = Session::connect({.socket_path = engine.socket(), .timeout = std::chrono::seconds(60)});
        if (!s.ok()) {
            error = cat({"connect: ", s.message()});
            return;
        }
        session.emplace(std::move(s).value());
        // Application on CPU 0, ckptd on CPU 1, as bench_baselines pins its ping-pong: every
        // handshake then crosses the same two cores, run after run (unpinned, the scheduler moves
        // ckptd onto the benchmark's core now and then, and the figures jump between two modes).
        if (::sysconf(_SC_NPROCESSORS_ONLN) >= 2 && (!pin(0, 0) || !pin(engine.pid(), 1)))
            error = "could not pin the benchmark to CPU 0 and ckptd to CPU 1";
    }

    static bool pin(pid_t pid, int cpu) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        return ::sched_setaffinity(pid, sizeof set, &set) == 0;
    }
};

Node& node() {
    static Node n;
    return n;
}

CheckpointAttributes attributes(std::uint64_t section_size, std::uint32_t sections) {
    CheckpointAttributes a;
    a.creation_flags = static_cast<std::uint32_t>(UpdateMode::kAsync);
    a.checkpoint_size = section_size * sections;
    a.max_sections = sections;
    a.max_section_size = section_size;
    a.max_section_id_size = 16;
    a.block_size = kBlock;
    return a;
}

/// The checkpoint `name` with `sections` sections of `section_size` bytes (made on first use);
/// nullptr after SkipWithError.
Fixture* fixture(benchmark::State& state, const std::string& name, std::uint64_t section_size, std::uint32_t sections) {
    Node& n = node();
    if (!n.error.empty()) {
        state.SkipWithError(n.error.c_str());
        return nullptr;
    }
    if (auto it = n.fixtures.find(name); it != n.fixtures.end()) return it->second.get();

    // The engine backs a checkpoint with DATA and SHADOW objects of its size each, in /dev/shm.
    struct statvfs fs {};
    const std::uint64_t need = 2 * section_size * sections + (64u << 20);
    if (::statvfs("/dev/shm", &fs) == 0 && std::uint64_t{fs.f_bavail} * fs.f_frsize < need) {
        skip(state, {"/dev/shm has ", std::to_string((std::uint64_t{fs.f_bavail} * fs.f_frsize) >> 20),
                     " MiB free; a checkpoint of ", std::to_string((section_size * sections) >> 20),
                     " MiB needs DATA + SHADOW = ", std::to_string(need >> 20), " MiB"});
        return nullptr;
    }
    auto f = std::make_unique<Fixture>();
    auto ck = n.session->create(name, attributes(section_size, sections));
    if (!ck.ok()) {
        skip(state, {"create ", name, ": ", ck.message()});
        return nullptr;
    }
    f->ck = std::move(ck).value();
    for (std::uint32_t i = 0; i < sections; ++i) {
        auto sec = sections == 1
                       ? f->ck.default_section()
                       : f->ck.create_section({.id = cat({"s", std::to_string(i)}), .capacity = section_size});
        if (!sec.ok()) {
            skip(state, {"section of ", name, ": ", sec.message()});
            return nullptr;
        }
        f->sections.push_back(std::move(sec).value());
    }
    // Give every section a committed size covering its capacity (reads then see all of it).
    for (auto& sec : f->sections) {
        auto tx = sec.write();
        if (!tx.ok()) {
            skip(state, {"first write of ", name, ": ", tx.message()});
            return nullptr;
        }
        tx->resize(tx->capacity());
        tx->span(0, kDirty)[0] = std::byte{1};
        if (auto r = tx->commit(Ack::kSync); !r.ok()) {
            skip(state, {"first commit of ", name, ": ", r.message()});
            return nullptr;
        }
    }
    return n.fixtures.emplace(name, std::move(f)).first->second.get();
}

/// Writes 64 bytes derived from `v` (so every commit really changes them).
inline void fill(std::span<std::byte> s, std::uint64_t v) {
    for (std::size_t i = 0; i < s.size(); i += sizeof v) std::memcpy(s.data() + i, &v, sizeof v);
}

// Opens a transaction and changes 64 bytes at `offset`; false after SkipWithError.
bool open_and_change(benchmark::State& state, Section& sec, std::size_t offset, std::uint64_t v,
                     std::optional<WriteTx>& tx) {
    auto t = sec.write();
    if (!t.ok()) {
        skip(state, {"write(): ", t.message()});
        return false;
    }
    tx.emplace(std::move(t).value());
    fill(tx->span(offset, kDirty), v);
    return true;
}

// The yardstick again, here, so random interleaving puts its repetitions between the commit ones.
void BM_CacheLinePingPong(benchmark::State& state) {
    ckpt::bench::cache_line_pingpong(state);
}
BENCHMARK(BM_CacheLinePingPong)->UseRealTime()->Repetitions(ckpt::bench::repetitions())->ReportAggregatesOnly(true);

// ------------------------------------------------------------------------------------------
// 4 KiB section, 64 dirty bytes
// ------------------------------------------------------------------------------------------

void BM_TscTimerOverhead(benchmark::State& state) {
    Samples samples(1 << 20);
    for (auto _ : state) {
        const std::uint64_t t0 = ticks();
        const std::uint64_t t1 = ticks();
        samples.add(state, t1 - t0);
    }
    samples.report(state);
}
BENCHMARK(BM_TscTimerOverhead)
    ->UseManualTime()
    ->Iterations(200'000)
    ->Repetitions(ckpt::bench::repetitions())
    ->ReportAggregatesOnly(true);

void timed_commits(benchmark::State& state, Section& sec, std::size_t offset, Ack ack) {
    Samples samples(static_cast<std::size_t>(state.max_iterations));
    std::uint64_t v = 0;
    std::optional<WriteTx> tx;
    for (auto _ : state) {
        if (!open_and_change(state, sec, offset, ++v, tx)) break;
        const std::uint64_t t0 = ticks();
        auto r = tx->commit(ack);
        const std::uint64_t t1 = ticks();
        if (!r.ok()) {
            skip(state, {"commit: ", r.message()});
            break;
        }
        samples.add(state, t1 - t0);
    }
    samples.report(state);
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kDirty));
}

void BM_CommitAsync(benchmark::State& state) {
    if (Fixture* f = fixture(state, "c4k", 4096, 1)) timed_commits(state, f->sections[0], 0, Ack::kAsync);
}
BENCHMARK(BM_CommitAsync)
    ->UseManualTime()
    ->Iterations(200'000)
    ->Repetitions(ckpt::bench::repetitions())
    ->ReportAggregatesOnly(true);

void BM_WriteCommitAsyncLoop(benchmark::State& state) {
    Fixture* f = fixture(state, "c4k", 4096, 1);
    if (!f) return;
    Section& sec = f->sections[0];
    std::uint64_t v = 0;
    std::optional<WriteTx> tx;
    for (auto _ : state) {
        if (!open_and_change(state, sec, 0, ++v, tx)) break;
        if (auto r = tx->commit(Ack::kAsync); !r.ok()) {
            skip(state, {"commit: ", r.message()});
            break;
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kDirty));
}
BENCHMARK(BM_WriteCommitAsyncLoop)->UseRealTime()->Repetitions(ckpt::bench::repetitions())->ReportAggregatesOnly(true);

void BM_WriteCommitRotating(benchmark::State& state) {
    Fixture* f = fixture(state, "rot4k", 4096, kRotatingSections);
    if (!f) return;
    std::uint64_t v = 0;
    std::size_t i = 0;
    std::optional<WriteTx> tx;
    for (auto _ : state) {
        Section& sec = f->sections[i];
        i = (i + 1) % f->sections.size();
        if (!open_and_change(state, sec, 0, ++v, tx)) break;
        if (auto r = tx->commit(Ack::kAsync); !r.ok()) {
            skip(state, {"commit: ", r.message()});
            break;
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kDirty));
}
BENCHMARK(BM_WriteCommitRotating)->UseRealTime()->Repetitions(ckpt::bench::repetitions())->ReportAggregatesOnly(true);

void BM_CommitSync(benchmark::State& state) {
    Fixture* f = fixture(state, "c4k", 4096, 1);
    if (!f) return;
    Section& sec = f->sections[0];
    std::uint64_t v = 0;
    std::optional<WriteTx> tx;
    for (auto _ : state) {
        if (!open_and_change(state, sec, 0, ++v, tx)) break;
        if (auto r = tx->commit(Ack::kSync); !r.ok()) {
            skip(state, {"commit: ", r.message()});
            break;
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kDirty));
}
BENCHMARK(BM_CommitSync)->UseRealTime()->Repetitions(ckpt::bench::repetitions())->ReportAggregatesOnly(true);

// The same round trip as BM_CommitSync, waiting by spinning on acked_sequence() (yielding only every
// 256 pauses) instead of the library's wait (which yields the core after every other look):
// separates the engine's capture from the client's wait policy.
void BM_CommitAsyncSpinAck(benchmark::State& state) {
    Fixture* f = fixture(state, "c4k", 4096, 1);
    if (!f) return;
    Section& sec = f->sections[0];
    std::uint64_t v = 0;
    std::optional<WriteTx> tx;
    for (auto _ : state) {
        if (!open_and_change(state, sec, 0, ++v, tx)) break;
        auto r = tx->commit(Ack::kAsync);
        if (!r.ok()) {
            skip(state, {"commit: ", r.message()});
            break;
        }
        for (unsigned spins = 1; sec.acked_sequence() < r.value(); ++spins) {
            _mm_pause();
            if (spins % 256 == 0) sched_yield(); // ckptd may share this core: let it run
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kDirty));
}
BENCHMARK(BM_CommitAsyncSpinAck)->UseRealTime()->Repetitions(ckpt::bench::repetitions())->ReportAggregatesOnly(true);

// BM_CommitAsync after 200 us without commits: ckptd has stopped polling (idle_spin_us = 50) and
// sleeps in epoll, so the commit also writes its eventfd to wake it. This is what an application
// that commits less often than every 50 us pays.
void BM_CommitAsyncIdleEngine(benchmark::State& state) {
    Fixture* f = fixture(state, "c4k", 4096, 1);
    if (!f) return;
    Section& sec = f->sections[0];
    Samples samples(static_cast<std::size_t>(state.max_iterations));
    std::uint64_t v = 0;
    std::optional<WriteTx> tx;
    for (auto _ : state) {
        if (!open_and_change(state, sec, 0, ++v, tx)) break;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        const std::uint64_t t0 = ticks();
        auto r = tx->commit(Ack::kAsync);
        const std::uint64_t t1 = ticks();
        if (!r.ok()) {
            skip(state, {"commit: ", r.message()});
            break;
        }
        samples.add(state, t1 - t0);
    }
    samples.report(state);
}
BENCHMARK(BM_CommitAsyncIdleEngine)
    ->UseManualTime()
    ->Iterations(2'000)
    ->Repetitions(ckpt::bench::repetitions())
    ->ReportAggregatesOnly(true);

void BM_ReadView64(benchmark::State& state) {
    Fixture* f = fixture(state, "c4k", 4096, 1);
    if (!f) return;
    const Section& sec = f->sections[0];
    for (auto _ : state) {
        // Touch all 64 bytes in place (8 loads); the copy variant below moves the same bytes.
        auto r = sec.read_view([](std::span<const std::byte> b) {
            std::uint64_t x = 0;
            for (std::size_t i = 0; i < kDirty; i += 8) {
                std::uint64_t w;
                std::memcpy(&w, b.data() + i, sizeof w);
                x ^= w;
            }
            return x;
        });
        if (!r.ok()) {
            skip(state, {"read_view: ", r.message()});
            break;
        }
        benchmark::DoNotOptimize(r.value());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kDirty));
}
BENCHMARK(BM_ReadView64)->UseRealTime()->Repetitions(ckpt::bench::repetitions())->ReportAggregatesOnly(true);

void BM_ReadCopy64(benchmark::State& state) {
    Fixture* f = fixture(state, "c4k", 4096, 1);
    if (!f) return;
    const Section& sec = f->sections[0];
    alignas(64) std::byte buf[kDirty];
    for (auto _ : state) {
        auto r = sec.read(0, buf);
        if (!r.ok()) {
            skip(state, {"read: ", r.message()});
            break;
        }
        benchmark::DoNotOptimize(buf);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kDirty));
}
BENCHMARK(BM_ReadCopy64)->UseRealTime()->Repetitions(ckpt::bench::repetitions())->ReportAggregatesOnly(true);

// ------------------------------------------------------------------------------------------
// Commit cost as the section grows, 64 dirty bytes in its middle
// ------------------------------------------------------------------------------------------

void size_args(benchmark::internal::Benchmark* b) {
    for (std::int64_t s : {4ll << 10, 64ll << 10, 1ll << 20, 16ll << 20, 256ll << 20, 1ll << 30}) b->Arg(s);
}

Fixture* sized(benchmark::State& state) {
    const auto size = static_cast<std::uint64_t>(state.range(0));
    return fixture(state, cat({"size", std::to_string(size)}), size, 1);
}

void BM_CommitAsyncBySize(benchmark::State& state) {
    if (Fixture* f = sized(state)) timed_commits(state, f->sections[0], f->sections[0].capacity() / 2, Ack::kAsync);
}
BENCHMARK(BM_CommitAsyncBySize)
    ->Apply(size_args)
    ->UseManualTime()
    ->Iterations(20'000)
    ->Repetitions(ckpt::bench::repetitions())
    ->ReportAggregatesOnly(true);

void BM_CommitSyncBySize(benchmark::State& state) {
    Fixture* f = sized(state);
    if (!f) return;
    Section& sec = f->sections[0];
    const std::size_t offset = sec.capacity() / 2;
    std::uint64_t v = 0;
    std::optional<WriteTx> tx;
    for (auto _ : state) {
        if (!open_and_change(state, sec, offset, ++v, tx)) break;
        if (auto r = tx->commit(Ack::kSync); !r.ok()) {
            skip(state, {"commit: ", r.message()});
            break;
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kDirty));
}
BENCHMARK(BM_CommitSyncBySize)
    ->Apply(size_args)
    ->UseRealTime()
    ->Repetitions(ckpt::bench::repetitions())
    ->ReportAggregatesOnly(true);

} // namespace

BENCHMARK_MAIN();

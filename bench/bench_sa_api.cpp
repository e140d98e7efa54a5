// The SA Forum C API (libSaCkpt) against the C++ API (libckpt) in the same run, on one node-local
// ckptd: a write and a read of 64 B and of 4 KiB. At the end it prints each C/C++ ratio (target:
// at most 1.2).
//
//   BM_SaWrite/N        saCkptCheckpointWrite of one element of N bytes at offset 0
//   BM_CppWrite/N       what that call is in C++: Checkpoint::section(id) then Section::write(0, N bytes)
//   BM_CppSectionWrite/N  Section::write on a Section looked up once (the C++ API's fastest path)
//   BM_SaRead/N         saCkptCheckpointRead of one element of N bytes
//   BM_CppRead/N        Checkpoint::read of one ReadRequest (the C++ io vector)
//   BM_CppSectionRead/N Section::read on a Section looked up once
//
// Writes rotate over 64 sections of one ACTIVE_REPLICA (async) checkpoint, so ckptd has normally
// captured a section before it is written again: what is measured is the caller's cost, not a
// wait for the engine. Both APIs write the same sections of the same checkpoint. The application
// runs on CPU 0 and ckptd on CPU 1 when there are two.
#include "ckpt/client/session.hpp"
#include "engine_process.hpp"
#include "repetitions.hpp"
#include "saCkpt.h"

#include <benchmark/benchmark.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace ckpt;
using namespace ckpt::client;

constexpr int kSections = 64;
constexpr SaSizeT kSectionSize = 4096;

struct Node {
    ckpt::testing::EngineProcess engine{"bench-sa"};
    std::optional<Session> session;
    SaCkptHandleT h = 0;
    SaCkptCheckpointHandleT ck = 0;
    std::optional<Checkpoint> cpp;
    std::vector<Section> sections;
    std::vector<std::string> ids;
    std::string error;

    Node() {
        if (!engine.start()) {
            error = "ckptd did not start (is CKPTD set to the built engine?): " + engine.log();
            return;
        }
        ::setenv("CKPT_SOCKET", engine.socket().c_str(), 1);
        SaVersionT v{'B', 2, 2};
        if (saCkptInitialize(&h, nullptr, &v) != SA_AIS_OK) {
            error = "saCkptInitialize failed";
            return;
        }
        SaNameT n{};
        n.length = 8;
        std::memcpy(n.value, "bench-sa", 8);
        SaCkptCheckpointCreationAttributesT a{
            SA_CKPT_WR_ACTIVE_REPLICA, kSections * kSectionSize, 0, kSections, kSectionSize, 16};
        if (saCkptCheckpointOpen(h, &n, &a,
                                 SA_CKPT_CHECKPOINT_CREATE | SA_CKPT_CHECKPOINT_READ | SA_CKPT_CHECKPOINT_WRITE,
                                 SA_TIME_END, &ck) != SA_AIS_OK) {
            error = "saCkptCheckpointOpen failed";
            return;
        }
        std::string init(kSectionSize, 'i');
        for (int i = 0; i < kSections; ++i) {
            ids.push_back("s" + std::to_string(i));
            SaCkptSectionIdT id{static_cast<SaUint16T>(ids.back().size()),
                                reinterpret_cast<SaUint8T*>(ids.back().data())};
            SaCkptSectionCreationAttributesT sc{&id, SA_TIME_END};
            if (saCkptSectionCreate(ck, &sc, init.data(), init.size()) != SA_AIS_OK) {
                error = "saCkptSectionCreate failed";
                return;
            }
        }
        auto s = Session::connect({.socket_path = engine.socket(), .timeout = std::chrono::seconds(60)});
        if (!s) {
            error = "connect: " + s.message();
            return;
        }
        session.emplace(std::move(*s));
        auto c = session->open("bench-sa", kOpenRead | kOpenWrite);
        if (!c) {
            error = "open: " + c.message();
            return;
        }
        cpp.emplace(std::move(*c));
        for (auto& id : ids) sections.push_back(std::move(cpp->section(id).value()));
        if (::sysconf(_SC_NPROCESSORS_ONLN) >= 2) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(0, &set);
            ::sched_setaffinity(0, sizeof set, &set);
            CPU_ZERO(&set);
            CPU_SET(1, &set);
            ::sched_setaffinity(engine.pid(), sizeof set, &set);
        }
    }
    ~Node() {
        sections.clear();
        cpp.reset();
        if (h) saCkptFinalize(h);
    }
};

Node& node() {
    static Node n;
    return n;
}

bool ready(benchmark::State& state) {
    if (!node().error.empty()) {
        state.SkipWithError(node().error.c_str());
        return false;
    }
    return true;
}

void BM_SaWrite(benchmark::State& state) {
    if (!ready(state)) return;
    Node& n = node();
    const auto size = static_cast<SaSizeT>(state.range(0));
    std::vector<char> buf(size, 'c');
    int k = 0;
    for (auto _ : state) {
        const std::string& id = n.ids[k++ % kSections];
        SaCkptIOVectorElementT e{{static_cast<SaUint16T>(id.size()), (SaUint8T*)id.data()}, buf.data(), size, 0, 0};
        if (saCkptCheckpointWrite(n.ck, &e, 1, nullptr) != SA_AIS_OK) state.SkipWithError("saCkptCheckpointWrite");
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void BM_CppWrite(benchmark::State& state) {
    if (!ready(state)) return;
    Node& n = node();
    const auto size = static_cast<std::size_t>(state.range(0));
    std::vector<std::byte> buf(size, std::byte{'p'});
    int k = 0;
    for (auto _ : state) {
        auto sec = n.cpp->section(n.ids[k++ % kSections]);
        if (!sec || !sec->write(0, buf)) state.SkipWithError("Section::write");
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void BM_CppSectionWrite(benchmark::State& state) {
    if (!ready(state)) return;
    Node& n = node();
    const auto size = static_cast<std::size_t>(state.range(0));
    std::vector<std::byte> buf(size, std::byte{'q'});
    int k = 0;
    for (auto _ : state)
        if (!n.sections[k++ % kSections].write(0, buf)) state.SkipWithError("Section::write");
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void BM_SaRead(benchmark::State& state) {
    if (!ready(state)) return;
    Node& n = node();
    const auto size = static_cast<SaSizeT>(state.range(0));
    std::vector<char> buf(size);
    const std::string& id = n.ids[0];
    for (auto _ : state) {
        SaCkptIOVectorElementT e{{static_cast<SaUint16T>(id.size()), (SaUint8T*)id.data()}, buf.data(), size, 0, 0};
        if (saCkptCheckpointRead(n.ck, &e, 1, nullptr) != SA_AIS_OK || e.readSize != size)
            state.SkipWithError("saCkptCheckpointRead");
        benchmark::DoNotOptimize(buf.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void BM_CppRead(benchmark::State& state) {
    if (!ready(state)) return;
    Node& n = node();
    const auto size = static_cast<std::size_t>(state.range(0));
    std::vector<std::byte> buf(size);
    for (auto _ : state) {
        ReadRequest r{n.ids[0], 0, buf};
        if (!n.cpp->read(std::span(&r, 1)) || r.read_size != size) state.SkipWithError("Checkpoint::read");
        benchmark::DoNotOptimize(buf.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void BM_CppSectionRead(benchmark::State& state) {
    if (!ready(state)) return;
    Node& n = node();
    const auto size = static_cast<std::size_t>(state.range(0));
    std::vector<std::byte> buf(size);
    for (auto _ : state) {
        auto r = n.sections[0].read(0, buf);
        if (!r || *r != size) state.SkipWithError("Section::read");
        benchmark::DoNotOptimize(buf.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

#define SA_BENCH(fn)                                                                                                   \
    BENCHMARK(fn)                                                                                                      \
        ->Arg(64)                                                                                                      \
        ->Arg(4096)                                                                                                    \
        ->UseRealTime()                                                                                                \
        ->Repetitions(ckpt::bench::repetitions())                                                                      \
        ->ReportAggregatesOnly(true)
SA_BENCH(BM_SaWrite);
SA_BENCH(BM_CppWrite);
SA_BENCH(BM_CppSectionWrite);
SA_BENCH(BM_SaRead);
SA_BENCH(BM_CppRead);
SA_BENCH(BM_CppSectionRead);

/// The console table, then each C/C++ ratio of medians.
class RatioReporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const auto& r : runs)
            if (r.aggregate_name == "median") {
                const std::string key = r.run_name.function_name + "/" + r.run_name.args;
                real_[key] = r.GetAdjustedRealTime();
                cpu_[key] = r.GetAdjustedCPUTime();
            }
    }
    void Finalize() override {
        ConsoleReporter::Finalize();
        std::printf("\nC API / C++ API, medians (target <= 1.20); wall-clock time, then CPU time:\n");
        for (const char* op : {"Write", "Read"})
            for (const char* size : {"64", "4096"}) {
                const std::string sa = std::string("BM_Sa") + op + "/" + size;
                for (const char* cpp : {"BM_Cpp", "BM_CppSection"}) {
                    const std::string c = std::string(cpp) + op + "/" + size;
                    if (real_.count(sa) && real_.count(c) && real_[c] > 0 && cpu_[c] > 0)
                        std::printf("  %-15s vs %-24s real %7.1f / %7.1f ns = %.2fx   cpu %7.1f / %7.1f ns = %.2fx\n",
                                    sa.c_str(), c.c_str(), real_[sa], real_[c], real_[sa] / real_[c], cpu_[sa], cpu_[c],
                                    cpu_[sa] / cpu_[c]);
                }
            }
    }

private:
    std::map<std::string, double> real_, cpu_;
};

} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    RatioReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}

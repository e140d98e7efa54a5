// What every end-to-end benchmark tool of bench/ reports, and how: figures collected per round
// (medians at the end), latency percentiles from per-operation samples, the run's conditions
// (machine, load, pinning), and one table row per figure with its same-run baseline, ratio, target
// and verdict; printed as Markdown and written as JSON in the one schema bench/run_suite.py merges.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ckpt::bench {

std::uint64_t now_ns(); ///< CLOCK_MONOTONIC

std::string fmt(const char* f, double v);
std::string grouped(double v);        ///< "1,234"
std::string size_name(std::size_t n); ///< "64 B", "4 KiB", "1 MiB"
std::string us(double v);             ///< microseconds with 2 to 0 decimals
std::string read_file(const std::string& path);
std::string run_cmd(const std::string& cmd); ///< popen, trailing newlines trimmed
std::string loadavg();                       ///< "0.12 0.34 0.56"
double load1();
std::string utc_now(); ///< 2026-11-22T10:00:00Z

/// CPU time since the previous call, as shares of all CPUs: everything busy (/proc/stat), and
/// what other processes used, i.e. busy minus this process and its reaped children.
struct CpuSampler {
    std::uint64_t busy = 0, total = 0, self = 0;
    struct Share {
        double busy = 0, others = 0;
    };
    Share sample();
};

/// Every figure per round; the table shows medians over the rounds.
struct Results {
    std::string tool; ///< prefix of error messages
    std::map<std::string, std::vector<double>> v;
    std::vector<std::string> errors;
    void put(const std::string& k, double x) { v[k].push_back(x); }
    bool has(const std::string& k) const { return v.count(k) && !v.at(k).empty(); }
    double med(const std::string& k) const;
    void error(const std::string& e);
};

struct Lat {
    double p50 = 0, p99 = 0, p999 = 0, max = 0;
};

/// Percentiles of a latency sample in ns (sorts it), in microseconds; index p * n, as
/// ckpt_pingpong computes them.
Lat percentiles(std::vector<std::uint64_t>& v);
/// k.p50, k.p99, k.p999, k.max
void put_lat(Results& r, const std::string& k, const Lat& l);

/// Writes a latency sample (ns, one per line) for bench/run_suite.py's CDF plot; `dir` empty: no-op.
void write_samples(const std::string& dir, const std::string& key, const std::vector<std::uint64_t>& v, std::size_t n);

struct Row {
    std::string figure, ours, base_name, base, ratio, target;
    std::string key, base_key;
    double ours_v = NAN, base_v = NAN, ratio_v = NAN;
    std::string verdict; ///< "met", "missed", "n/a" or empty (no target)
};

std::string verdict_word(bool met); ///< "met" or "**MISSED**"
std::string markdown(const std::vector<Row>& rows);
std::string jstr(const std::string& s);
std::string jnum(double v);
/// {"run": info, "rows": [...], "values": {key: {median, rounds}}, "errors": [...]}
std::string json_report(const std::vector<Row>& rows, const Results& r, const std::map<std::string, std::string>& info);
/// Writes json_report to `path` (creating its directory); false (and an error in `r`) on failure.
bool write_json(const std::string& path, const std::vector<Row>& rows, Results& r,
                const std::map<std::string, std::string>& info);

/// date, command, commit (of the source tree the tools were built from), kernel, nproc, cpu,
/// load_before.
std::map<std::string, std::string> run_info(int argc, char** argv);

/// Pins the calling thread (and what it forks afterwards) to one CPU; false on failure.
bool pin_to_cpu(int cpu);

} // namespace ckpt::bench

#include "report.hpp"

#include <sched.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ckpt::bench {

std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::string fmt(const char* f, double v) {
    char b[64];
    std::snprintf(b, sizeof b, f, v);
    return b;
}

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
    if (n >= (1u << 30) && n % (1u << 30) == 0) return std::to_string(n >> 30) + " GiB";
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
    std::istringstream in(read_file("/proc/loadavg"));
    std::string a, b, c;
    in >> a >> b >> c;
    return a + " " + b + " " + c;
}

double load1() {
    return std::atof(loadavg().c_str());
}

std::string utc_now() {
    char b[64];
    std::time_t t = std::time(nullptr);
    std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return b;
}

CpuSampler::Share CpuSampler::sample() {
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

double Results::med(const std::string& k) const {
    if (!has(k)) return NAN;
    auto x = v.at(k);
    std::sort(x.begin(), x.end());
    return x.size() % 2 ? x[x.size() / 2] : (x[x.size() / 2 - 1] + x[x.size() / 2]) / 2;
}

void Results::error(const std::string& e) {
    std::fprintf(stderr, "%s: %s\n", tool.c_str(), e.c_str());
    errors.push_back(e);
}

Lat percentiles(std::vector<std::uint64_t>& v) {
    if (v.empty()) return {NAN, NAN, NAN, NAN};
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

void write_samples(const std::string& dir, const std::string& key, const std::vector<std::uint64_t>& v, std::size_t n) {
    if (dir.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    // Appended: a figure measured in several rounds gets one sample of all of them.
    if (FILE* f = std::fopen((dir + "/" + key + ".ns").c_str(), "a")) {
        for (std::size_t i = 0; i < std::min(n, v.size()); ++i)
            std::fprintf(f, "%llu\n", static_cast<unsigned long long>(v[i]));
        std::fclose(f);
    }
}

std::string verdict_word(bool met) {
    return met ? "met" : "**MISSED**";
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
             ", \"ours\": " + jnum(row.ours_v) + ", \"ours_text\": " + jstr(row.ours) +
             ", \"baseline\": " + jstr(row.base_name) + ", \"baseline_key\": " + jstr(row.base_key) +
             ", \"baseline_value\": " + jnum(row.base_v) + ", \"baseline_text\": " + jstr(row.base) +
             ", \"ratio\": " + jnum(row.ratio_v) + ", \"ratio_text\": " + jstr(row.ratio) +
             ", \"target\": " + jstr(row.target) + ", \"verdict\": " + jstr(row.verdict) + "}";
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

bool write_json(const std::string& path, const std::vector<Row>& rows, Results& r,
                const std::map<std::string, std::string>& info) {
    std::error_code ec;
    if (auto dir = std::filesystem::path(path).parent_path(); !dir.empty())
        std::filesystem::create_directories(dir, ec);
    std::ofstream out(path);
    out << json_report(rows, r, info);
    if (!out.flush()) {
        r.error("cannot write " + path);
        return false;
    }
    std::fprintf(stderr, "%s: JSON in %s\n", r.tool.c_str(), path.c_str());
    return true;
}

std::map<std::string, std::string> run_info(int argc, char** argv) {
#ifdef CKPT_BENCH_SOURCE_DIR
    const char* source_dir = CKPT_BENCH_SOURCE_DIR; // bench/meson.build
#else
    const char* source_dir = nullptr;
#endif
    std::map<std::string, std::string> info;
    std::string line;
    for (int i = 0; i < argc; ++i) line += (i ? " " : "") + std::string(argv[i]);
    utsname u{};
    ::uname(&u);
    info["date"] = utc_now();
    info["command"] = line;
    if (source_dir && *source_dir) {
        const std::string git = "git -C '" + std::string(source_dir) + "' ";
        info["commit"] =
            run_cmd(git + "rev-parse --short HEAD 2>/dev/null") +
            (run_cmd(git + "status --porcelain 2>/dev/null | head -1").empty() ? "" : " (working tree has changes)");
    }
    info["kernel"] = u.release;
    info["nproc"] = std::to_string(::sysconf(_SC_NPROCESSORS_ONLN));
    info["cpu"] = run_cmd("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'");
    info["load_before"] = loadavg();
    return info;
}

bool pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return ::sched_setaffinity(0, sizeof set, &set) == 0;
}

} // namespace ckpt::bench

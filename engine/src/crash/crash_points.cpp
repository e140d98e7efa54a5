#include "crash/crash_points.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace ckpt::engine::crash {

namespace {
constexpr const char* kNames[kPointCount] = {
    "capture-before-send",       "send-before-ack", "staged-before-apply", "applied-before-ack", "mid-resync",
    "group-staged-before-apply", "mid-apply"};
Point g_point = Point::kCaptureBeforeSend;
std::uint64_t g_nth = 1;
std::uint64_t g_hits = 0;

[[noreturn]] void die(Point p) {
    // write(2), not the logger: nothing buffered, nothing allocated, then the same death as kill -9.
    char line[160];
    const int n = std::snprintf(line, sizeof line, "ckptd[%d]: crash point %s reached (hit %llu): SIGKILL\n",
                                static_cast<int>(::getpid()), name(p), static_cast<unsigned long long>(g_hits));
    if (n > 0) [[maybe_unused]]
        auto r = ::write(2, line, static_cast<std::size_t>(n));
    ::kill(::getpid(), SIGKILL);
    std::abort(); // not reached
}
} // namespace

namespace detail {
bool g_armed = false;
bool g_deferred = false;

void reached(Point p) {
    if (p != g_point) return;
    if (++g_hits >= g_nth) die(p);
}

void defer(Point p) {
    if (p == g_point) g_deferred = true;
}

void fire_deferred() {
    g_deferred = false;
    reached(g_point);
}
} // namespace detail

const char* name(Point p) {
    return kNames[static_cast<int>(p)];
}

std::optional<Point> parse(std::string_view n) {
    for (int i = 0; i < kPointCount; ++i)
        if (n == kNames[i]) return static_cast<Point>(i);
    return std::nullopt;
}

void arm(Point p, std::uint64_t nth) {
    g_point = p;
    g_nth = nth == 0 ? 1 : nth;
    g_hits = 0;
    detail::g_deferred = false;
    detail::g_armed = true;
}

void disarm() {
    detail::g_armed = false;
    detail::g_deferred = false;
}

Result<std::string> arm_from_env(std::uint32_t node_id) {
    const char* spec = std::getenv("CKPT_CRASH_POINT");
    if (!spec || !*spec) return std::string();
    if (const char* only = std::getenv("CKPT_CRASH_NODE"); only && *only) {
        char* end = nullptr;
        const unsigned long want = std::strtoul(only, &end, 10);
        if (*end != '\0')
            return fail(Error::kInvalidParam, std::string("CKPT_CRASH_NODE='") + only + "': expected a node id");
        if (want != node_id) return std::string();
    }
    std::string_view s(spec);
    std::uint64_t nth = 1;
    if (auto colon = s.find(':'); colon != std::string_view::npos) {
        const std::string count(s.substr(colon + 1));
        char* end = nullptr;
        nth = std::strtoull(count.c_str(), &end, 10);
        if (count.empty() || *end != '\0' || nth == 0)
            return fail(Error::kInvalidParam,
                        std::string("CKPT_CRASH_POINT='") + spec + "': expected NAME[:N], N >= 1");
        s = s.substr(0, colon);
    }
    auto p = parse(s);
    if (!p) {
        std::string known;
        for (int i = 0; i < kPointCount; ++i) known += std::string(i ? ", " : "") + kNames[i];
        return fail(Error::kInvalidParam,
                    std::string("CKPT_CRASH_POINT='") + spec + "': no such crash point (" + known + ")");
    }
    arm(*p, nth);
    return std::string(name(*p)) + " (hit " + std::to_string(nth) + ")";
}

} // namespace ckpt::engine::crash

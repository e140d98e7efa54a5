#include "format.hpp"

#include "ckpt/common/attributes.hpp"
#include "ckpt/shm/segment_layout.hpp"

#include <cstdio>
#include <ctime>

namespace ckpt::tools {

std::string format_section_id(std::string_view id) {
    if (id.empty()) return "(default)";
    // Escaped as checkpoint names are (space and backslash too: one token per cell, and "\x41"
    // can only mean the byte 0x41).
    return printable_name(id);
}

std::string format_time_ns(std::int64_t ns) {
    if (ns == kTimeEnd) return "never";
    if (ns == 0) return "-";
    // Floor division, so that times before 1970 still print the right second.
    std::int64_t secs = ns / 1'000'000'000;
    std::int64_t rem = ns % 1'000'000'000;
    if (rem < 0) {
        rem += 1'000'000'000;
        --secs;
    }
    const std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    if (::gmtime_r(&t, &tm) == nullptr) return std::to_string(ns) + "ns";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(rem / 1'000'000));
    return buf;
}

std::string_view format_update_mode(UpdateMode mode) {
    switch (mode) {
    case UpdateMode::kSync:
        return "sync";
    case UpdateMode::kAsync:
        return "async";
    case UpdateMode::kAsyncWeak:
        return "weak";
    }
    return "?";
}

std::string format_section_state(std::uint32_t state) {
    switch (state) {
    case shm::kSectionValid:
        return "valid";
    case shm::kSectionCorrupted:
        return "corrupted";
    default:
        return "state=" + std::to_string(state);
    }
}

std::string format_fraction(std::uint64_t used, std::uint64_t limit) {
    return std::to_string(used) + "/" + std::to_string(limit);
}

std::string format_checkpoint_flags(const client::CheckpointSummary& c) {
    std::string flags;
    auto add = [&](const char* f) {
        if (!flags.empty()) flags += ',';
        flags += f;
    };
    if (c.attributes.persistent()) add("persistent");
    if (!c.damage.empty()) add("damaged");
    return flags.empty() ? "-" : flags;
}

} // namespace ckpt::tools

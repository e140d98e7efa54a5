// The Redis protocol (RESP2) as far as examples/kvstore needs it: requests (arrays of bulk strings,
// as every client library sends them, and inline commands, as telnet does) and replies.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kv::resp {

inline constexpr std::size_t kMaxBulk = 512u << 20; // Redis's proto-max-bulk-len
inline constexpr std::size_t kMaxArgs = 1u << 20;
inline constexpr std::size_t kMaxInline = 64u << 10;

enum class Parse { kOk, kIncomplete, kError };

/// Parses one request from buf[pos..]; on kOk fills args (views into buf) and advances pos.
/// On kError, `error` says what was wrong (the connection is then closed, as Redis does).
inline Parse parse_request(std::string_view buf, std::size_t& pos, std::vector<std::string_view>& args,
                           std::string& error) {
    args.clear();
    std::size_t p = pos;
    if (p >= buf.size()) return Parse::kIncomplete;
    auto read_line = [&](std::size_t from, std::string_view& line, std::size_t& next) {
        std::size_t e = buf.find("\r\n", from);
        if (e == std::string_view::npos) return false;
        line = buf.substr(from, e - from);
        next = e + 2;
        return true;
    };
    auto number = [](std::string_view s, std::int64_t& v) {
        auto r = std::from_chars(s.data(), s.data() + s.size(), v);
        return r.ec == std::errc() && r.ptr == s.data() + s.size();
    };
    if (buf[p] != '*') { // inline command: words separated by spaces, ended by \n
        std::size_t e = buf.find('\n', p);
        if (e == std::string_view::npos) {
            if (buf.size() - p > kMaxInline) {
                error = "Protocol error: too big inline request";
                return Parse::kError;
            }
            return Parse::kIncomplete;
        }
        std::string_view line = buf.substr(p, e - p);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        std::size_t i = 0;
        while (i < line.size()) {
            while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
            std::size_t s = i;
            while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
            if (i > s) args.push_back(line.substr(s, i - s));
        }
        pos = e + 1;
        return Parse::kOk;
    }
    std::string_view line;
    std::size_t next;
    if (!read_line(p + 1, line, next)) return Parse::kIncomplete;
    std::int64_t n;
    if (!number(line, n) || n > static_cast<std::int64_t>(kMaxArgs)) {
        error = "Protocol error: invalid multibulk length";
        return Parse::kError;
    }
    p = next;
    for (std::int64_t k = 0; k < n; ++k) {
        if (p >= buf.size()) return Parse::kIncomplete;
        if (buf[p] != '$') {
            error = std::string("Protocol error: expected '$', got '") + buf[p] + "'";
            return Parse::kError;
        }
        if (!read_line(p + 1, line, next)) return Parse::kIncomplete;
        std::int64_t len;
        if (!number(line, len) || len < 0 || static_cast<std::size_t>(len) > kMaxBulk) {
            error = "Protocol error: invalid bulk length";
            return Parse::kError;
        }
        if (buf.size() - next < static_cast<std::size_t>(len) + 2) return Parse::kIncomplete;
        args.push_back(buf.substr(next, static_cast<std::size_t>(len)));
        p = next + static_cast<std::size_t>(len) + 2;
    }
    pos = p;
    return Parse::kOk;
}

inline void simple(std::string& out, std::string_view s) {
    out += '+';
    out += s;
    out += "\r\n";
}
inline void error(std::string& out, std::string_view s) {
    out += '-';
    out += s;
    out += "\r\n";
}
inline void integer(std::string& out, std::int64_t v) {
    out += ':';
    out += std::to_string(v);
    out += "\r\n";
}
inline void bulk(std::string& out, std::string_view s) {
    out += '$';
    out += std::to_string(s.size());
    out += "\r\n";
    out += s;
    out += "\r\n";
}
inline void nil(std::string& out) {
    out += "$-1\r\n";
}
inline void array(std::string& out, std::size_t n) {
    out += '*';
    out += std::to_string(n);
    out += "\r\n";
}

} // namespace kv::resp

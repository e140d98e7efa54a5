#pragma once
/// ckptd's log: one line per event, "HH:MM:SS.micros ckptd[node] ...", to stderr or log_file.
#include "ckpt/common/result.hpp"

#include <cstdint>
#include <cstdio>
#include <string>

namespace ckpt::engine {

class Logger {
public:
    explicit Logger(std::uint32_t node_id) : node_id_(node_id) {}
    ~Logger();
    Logger(const Logger&) = delete;
    Logger& operator=(const Logger&) = delete;

    /// Appends to `path` from now on (stderr until then, and when it cannot be opened).
    Status open(const std::string& path);
    void log(const char* fmt, ...) const __attribute__((format(printf, 2, 3)));

private:
    std::uint32_t node_id_;
    FILE* out_ = stderr;
};

} // namespace ckpt::engine

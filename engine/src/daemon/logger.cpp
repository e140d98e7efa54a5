#include "daemon/logger.hpp"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <ctime>
#include <string>

namespace ckpt::engine {

Logger::~Logger() {
    if (out_ != stderr) std::fclose(out_);
}

Status Logger::open(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "a");
    if (!f) return fail(Error::kAccess, "cannot open log file " + path + ": " + std::strerror(errno));
    if (out_ != stderr) std::fclose(out_);
    out_ = f;
    return {};
}

void Logger::log(const char* fmt, ...) const {
    char when[32];
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    gmtime_r(&ts.tv_sec, &t);
    std::strftime(when, sizeof when, "%H:%M:%S", &t);
    std::fprintf(out_, "%s.%06ld ckptd[%u] ", when, ts.tv_nsec / 1000, node_id_);
    // One line per entry whatever the arguments hold (a checkpoint name may hold any byte):
    // control characters are written as \xHH, so no value can forge a line of its own.
    std::string line(512, '\0');
    va_list ap;
    va_start(ap, fmt);
    va_list again;
    va_copy(again, ap);
    int n = std::vsnprintf(line.data(), line.size(), fmt, ap);
    va_end(ap);
    if (n >= 0 && static_cast<std::size_t>(n) >= line.size()) {
        line.resize(static_cast<std::size_t>(n) + 1);
        n = std::vsnprintf(line.data(), line.size(), fmt, again);
    }
    va_end(again);
    line.resize(n < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(n), line.size()));
    for (const char ch : line) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f)
            std::fprintf(out_, "\\x%02x", c);
        else
            std::fputc(c, out_);
    }
    std::fputc('\n', out_);
    std::fflush(out_);
}

} // namespace ckpt::engine

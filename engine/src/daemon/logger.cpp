#include "daemon/logger.hpp"

#include <time.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <ctime>

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
    va_list ap;
    va_start(ap, fmt);
    std::vfprintf(out_, fmt, ap);
    va_end(ap);
    std::fputc('\n', out_);
    std::fflush(out_);
}

} // namespace ckpt::engine

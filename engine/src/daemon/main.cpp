// ckptd: one per node. Exit codes: 0 clean stop, 1 runtime failure, 2 bad configuration.
#include "daemon/engine.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

int main(int argc, char** argv) {
    ckpt::engine::Config cfg;
    std::string error;
    int rc = ckpt::engine::parse_command_line(argc, argv, cfg, error);
    if (rc >= 0) {
        // A refusal goes to stderr; --check's verdict on a valid configuration to stdout.
        if (!error.empty()) std::fprintf(rc == 0 ? stdout : stderr, "ckptd: %s\n", error.c_str());
        return rc;
    }
    if (cfg.daemonize) {
        // Classic double fork; the parent returns only after the child is detached.
        if (pid_t p = ::fork(); p < 0) {
            std::perror("ckptd: fork");
            return 1;
        } else if (p > 0) {
            return 0;
        }
        ::setsid();
        if (::fork() > 0) ::_exit(0);
        int devnull = ::open("/dev/null", O_RDWR);
        ::dup2(devnull, 0);
        ::dup2(devnull, 1);
        if (cfg.log_file.empty()) ::dup2(devnull, 2);
    }
    ckpt::engine::Engine engine(cfg);
    if (auto s = engine.start(); !s) {
        std::fprintf(stderr, "ckptd: %s (%s)\n", s.message().c_str(), std::string(ckpt::error_name(s.error())).c_str());
        return s.error() == ckpt::Error::kInvalidParam ? 2 : 1;
    }
    return engine.run();
}

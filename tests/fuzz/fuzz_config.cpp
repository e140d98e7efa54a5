// libFuzzer target: ckptd's configuration parser. The input is a configuration file
// (load_config_file reads it through a memfd), then the cross-field validation runs on what it
// set. Nothing may crash, hang or read out of bounds, whatever the bytes.
#include "ckpt/engine/config.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const int fd = ::memfd_create("fuzz-config", MFD_CLOEXEC);
    if (fd < 0) return 0;
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return 0;
    ckpt::engine::Config cfg;
    if (ckpt::engine::load_config_file("/proc/self/fd/" + std::to_string(fd), cfg).ok())
        (void)ckpt::engine::validate_config(cfg);
    return 0;
}

#pragma once
// Big-endian field access on byte buffers, shared by the frame codecs. Callers check bounds first.
#include <cstddef>
#include <cstdint>

namespace ckpt::net::be {

inline void put16(std::byte* p, std::uint16_t v) {
    p[0] = static_cast<std::byte>(v >> 8);
    p[1] = static_cast<std::byte>(v);
}
inline void put32(std::byte* p, std::uint32_t v) {
    put16(p, static_cast<std::uint16_t>(v >> 16));
    put16(p + 2, static_cast<std::uint16_t>(v));
}
inline void put64(std::byte* p, std::uint64_t v) {
    put32(p, static_cast<std::uint32_t>(v >> 32));
    put32(p + 4, static_cast<std::uint32_t>(v));
}
inline std::uint16_t get16(const std::byte* p) {
    return static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8) | std::to_integer<unsigned>(p[1]));
}
inline std::uint32_t get32(const std::byte* p) {
    return (std::uint32_t{get16(p)} << 16) | get16(p + 2);
}
inline std::uint64_t get64(const std::byte* p) {
    return (std::uint64_t{get32(p)} << 32) | get32(p + 4);
}

} // namespace ckpt::net::be

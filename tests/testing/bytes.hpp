#pragma once
// The bytes of a string: section ids and payloads in tests.
#include <cstddef>
#include <string_view>
#include <vector>

namespace ckpt::testing {

inline std::vector<std::byte> bytes_of(std::string_view s) {
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    return {p, p + s.size()};
}

} // namespace ckpt::testing

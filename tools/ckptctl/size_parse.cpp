#include "size_parse.hpp"

#include <limits>

namespace ckpt::tools {

std::optional<std::uint64_t> parse_size(std::string_view text) {
    std::uint64_t shift = 0;
    if (!text.empty()) {
        switch (text.back()) {
        case 'K':
        case 'k':
            shift = 10;
            break;
        case 'M':
        case 'm':
            shift = 20;
            break;
        case 'G':
        case 'g':
            shift = 30;
            break;
        default:
            break;
        }
        if (shift != 0) text.remove_suffix(1);
    }
    if (text.empty()) return std::nullopt;
    // By hand rather than strtoull: that one accepts blanks, signs and "0x", none of which is a size.
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
        value = value * 10 + digit;
    }
    if (value > (std::numeric_limits<std::uint64_t>::max() >> shift)) return std::nullopt;
    return value << shift;
}

std::string size_error(std::string_view text, std::uint64_t max) {
    const auto v = parse_size(text);
    if (!v) return "'" + std::string(text) + "' is not a byte count (digits with an optional K, M or G suffix)";
    if (*v > max) return "'" + std::string(text) + "' is more than " + std::to_string(max) + " bytes";
    return {};
}

} // namespace ckpt::tools

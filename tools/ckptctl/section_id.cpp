#include "section_id.hpp"

namespace ckpt::tools {

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

} // namespace

std::optional<std::string> parse_section_id(std::string_view text) {
    std::string id;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\') {
            id += text[i];
            continue;
        }
        // A lone backslash is refused rather than taken literally: the output spells it \x5c, and
        // accepting both would make "\x41" ambiguous.
        if (i + 3 >= text.size() || text[i + 1] != 'x') return std::nullopt;
        const int hi = hex_digit(text[i + 2]), lo = hex_digit(text[i + 3]);
        if (hi < 0 || lo < 0) return std::nullopt;
        id += static_cast<char>(hi * 16 + lo);
        i += 3;
    }
    return id;
}

std::string section_id_error(std::string_view text) {
    if (parse_section_id(text)) return {};
    return "'" + std::string(text) + "': a backslash in a section id must start \\xNN (write a backslash as \\x5c)";
}

} // namespace ckpt::tools

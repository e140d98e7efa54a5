#include "hexdump.hpp"

#include <cstdio>
#include <string>

namespace ckpt::tools {

namespace {

constexpr std::size_t kBytesPerLine = 16;

std::string offset_text(std::size_t offset) {
    char b[24];
    std::snprintf(b, sizeof b, "%08zx", offset);
    return b;
}

} // namespace

void write_hexdump(std::ostream& out, std::span<const std::byte> bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (std::size_t line = 0; line < bytes.size(); line += kBytesPerLine) {
        const auto chunk = bytes.subspan(line, std::min(kBytesPerLine, bytes.size() - line));
        std::string text = offset_text(line) + " ";
        std::string ascii;
        for (std::size_t i = 0; i < kBytesPerLine; ++i) {
            if (i % 8 == 0) text += ' ';
            if (i < chunk.size()) {
                const auto b = static_cast<unsigned char>(chunk[i]);
                text += kHex[b >> 4];
                text += kHex[b & 0xf];
                text += ' ';
                ascii += b >= 0x20 && b < 0x7f ? static_cast<char>(b) : '.';
            } else {
                // A short last line keeps the ASCII column where the full lines have it.
                text += "   ";
            }
        }
        out << text << " |" << ascii << "|\n";
    }
    out << offset_text(bytes.size()) << '\n';
}

} // namespace ckpt::tools

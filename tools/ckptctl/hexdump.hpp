#pragma once
/// The canonical hex dump (`hexdump -C` layout), so that operators read it as they read any other.
#include <cstddef>
#include <ostream>
#include <span>

namespace ckpt::tools {

/// One line per 16 bytes: the offset (8 hex digits), the bytes in hex (a gap after the eighth), and
/// the same bytes as ASCII between bars ('.' for anything outside 0x20..0x7e). A last line holds
/// the total length, also for an empty span. No line is folded into '*': every byte is shown.
void write_hexdump(std::ostream& out, std::span<const std::byte> bytes);

} // namespace ckpt::tools

#pragma once
/// Byte counts as operators type them: "4096", "64K", "1M", "2G" (powers of 1024).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ckpt::tools {

/// Decimal digits with an optional K, M or G suffix (either case; powers of 1024). nullopt for
/// anything else: no sign, no blanks, no fractions, no other suffix, nothing that overflows 64 bits.
std::optional<std::uint64_t> parse_size(std::string_view text);

/// Why `text` is not a size of at most `max` bytes, in words; empty when it is one.
std::string size_error(std::string_view text, std::uint64_t max);

} // namespace ckpt::tools

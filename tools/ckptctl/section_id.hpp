#pragma once
/// Section ids on the command line. Ids are raw bytes; ckptctl prints them with every byte outside
/// 0x21..0x7e, and the backslash, as \xNN, so an id copied from its output must decode back to the
/// same bytes. The empty argument ('') names the default section.
#include <optional>
#include <string>
#include <string_view>

namespace ckpt::tools {

/// Decodes \xNN (two hex digits, either case) into that byte; every other byte stands for itself.
/// nullopt when a backslash does not start a complete \xNN.
std::optional<std::string> parse_section_id(std::string_view text);

/// Why `text` is not a section id argument, in words; empty when it is one.
std::string section_id_error(std::string_view text);

} // namespace ckpt::tools

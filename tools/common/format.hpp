#pragma once
/// How the operator tools spell single values: section ids, times, update modes, section states.
/// Pure functions, so the spelling is the same in every table.
#include "ckpt/client/session.hpp"
#include "ckpt/common/attributes.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace ckpt::tools {

/// A section id as one whitespace-free token: bytes 0x21..0x7e as they are, every other byte
/// (space and backslash included) as \xNN; the empty id (the default section) as "(default)".
std::string format_section_id(std::string_view id);

/// A CLOCK_REALTIME time in ns as ISO-8601 UTC with milliseconds ("2030-01-01T00:00:00.000Z");
/// kTimeEnd (SA_TIME_END) as "never", 0 (never set) as "-".
std::string format_time_ns(std::int64_t ns);

/// "sync", "async" or "weak"; "?" for flags that name no single mode.
std::string_view format_update_mode(UpdateMode mode);

/// "valid", "corrupted", or "state=N" for a value this build does not know.
std::string format_section_state(std::uint32_t state);

/// "used/limit", as the SECTIONS and BYTES columns show them.
std::string format_fraction(std::uint64_t used, std::uint64_t limit);

/// "persistent,damaged", or "-" so every row keeps the same number of whitespace-separated tokens.
std::string format_checkpoint_flags(const client::CheckpointSummary& c);

} // namespace ckpt::tools

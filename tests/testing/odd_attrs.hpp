#pragma once
// Checkpoint attributes whose every field is a distinct value with no two equal bytes in a row, so
// that a codec that swaps, truncates or reorders a field is caught: the control codec's and the
// typed messages' round-trip tests encode them. Not valid for a real checkpoint.
#include "ckpt/common/attributes.hpp"

#include <cstdint>

namespace ckpt::testing {

inline CheckpointAttributes odd_attrs(std::uint32_t creation_flags) {
    CheckpointAttributes a;
    a.creation_flags = creation_flags;
    a.checkpoint_size = 0x0102'0304'0506'0708ULL;
    a.retention_ns = -0x1122'3344'5566'7788LL;
    a.max_sections = 0xA1B2'C3D4u;
    a.max_section_size = 0xF0E0'D0C0'B0A0'9080ULL;
    a.max_section_id_size = 0x1357'9BDFu;
    a.block_size = 0x2468'ACE0u;
    return a;
}

} // namespace ckpt::testing

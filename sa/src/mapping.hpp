#pragma once
// SA Forum names and creation attributes <-> what ckptd takes. Never installed.
#include "ckpt/common/attributes.hpp"
#include "saCkpt.h"

#include <string>
#include <string_view>

namespace hotspare::sa {

/// Creation attributes for ckptd: the update mode and collocation as given, the section limits as
/// given, a block size from maxSectionSize, and a checkpoint size of maxSections block-rounded
/// maxSectionSize extents plus checkpointSize (from which to_sa() recovers checkpointSize).
/// INVALID_PARAM / NO_RESOURCES with `why` when the attributes are refused.
SaAisErrorT to_engine(const SaCkptCheckpointCreationAttributesT& a, ckpt::CheckpointAttributes& out, std::string& why);
/// The attributes the application created the checkpoint with (for one created through this
/// library); a checkpoint created through the C++ API reports its own figures.
SaCkptCheckpointCreationAttributesT to_sa(const ckpt::CheckpointAttributes& e);

/// The block size to_engine() picks for sections of up to `max_section_size` bytes.
std::uint32_t block_for(SaSizeT max_section_size);

/// Retention durations above this (~146 years) are stored as this (ckptd adds them to a clock).
inline constexpr SaTimeT kRetentionForever = SaTimeT{1} << 62;

} // namespace hotspare::sa

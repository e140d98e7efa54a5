#pragma once
/// Which columns ckptstat shows and where each value comes from: the checkpoint list (from the
/// engine's LIST reply) and one checkpoint's sections (from the shm reader API's directory copy).
#include "table.hpp"

#include "ckpt/client/session.hpp"
#include "ckpt/shm/checkpoint_view.hpp"

#include <vector>

namespace ckpt::tools {

/// NAME MODE SECTIONS BYTES BLOCK COMMIT_SEQ OPEN FLAGS, one row per checkpoint, with a
/// "  damaged: <text>" note under each checkpoint whose damage text is non-empty.
Table checkpoint_table(const std::vector<client::CheckpointSummary>& checkpoints);

/// ID SIZE CAPACITY SEQ STATE EXPIRES LAST_UPDATE, one row per section in slot order.
Table section_table(const std::vector<shm::SectionInfo>& sections);

} // namespace ckpt::tools

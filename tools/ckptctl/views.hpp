#pragma once
/// What ckptctl prints for the commands that show state: the checkpoint list, one checkpoint's
/// sections, one checkpoint's status. Cells are spelt by ckptstat's format functions (shared
/// sources), so both tools write a section id, a time or a mode the same way.
#include "table.hpp"

#include "ckpt/client/checkpoint.hpp"
#include "ckpt/client/session.hpp"
#include "ckpt/shm/checkpoint_view.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace ckpt::tools {

/// NAME MODE SECTIONS(used/max) BYTES(used/size) COMMIT_SEQ OPEN FLAGS, one row per checkpoint,
/// with a "  damaged: <text>" note under each checkpoint that has damage text.
Table checkpoint_list_table(const std::vector<client::CheckpointSummary>& checkpoints);

/// ID SIZE CAPACITY STATE EXPIRES LAST_UPDATE SEQ, one row per section in slot order.
Table section_list_table(const std::vector<shm::SectionInfo>& sections);

/// "key: value" lines, values aligned: the creation attributes, the usage and the engine counters
/// of one checkpoint, then its damage text ("none" when there is none).
void write_status(std::ostream& out, const std::string& name, const client::CheckpointStatus& status,
                  const client::ReplicationState& replication);

} // namespace ckpt::tools

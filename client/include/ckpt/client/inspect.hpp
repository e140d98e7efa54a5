#pragma once
/// For observer tools (ckptstat, ckptctl): a read-only view of a checkpoint through the shm reader
/// API, obtained over a session without opening a handle (retention is unaffected).
#include "ckpt/client/session.hpp"
#include "ckpt/shm/checkpoint_view.hpp"
#include "ckpt/shm/shared_object.hpp"

namespace ckpt::client {

struct Inspection {
    shm::Mapping meta_map, data_map;
    shm::MetaView meta;
    shm::DataView data;
    std::uint32_t open_handles = 0;
    CheckpointSummary counters; ///< engine counters (name/attributes filled too)
};

Result<Inspection> inspect(Session& session, std::string_view name);

} // namespace ckpt::client

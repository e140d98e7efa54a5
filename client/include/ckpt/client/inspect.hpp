#pragma once
/// For observer tools (ckptstat, ckptctl): a read-only view of a checkpoint through the shm reader
/// API, obtained over a session without opening a handle (retention is unaffected).
#include "ckpt/client/session.hpp"
#include "ckpt/shm/checkpoint_view.hpp"
#include "ckpt/shm/shared_object.hpp"
#include "ckpt/shm/stats_view.hpp"

namespace ckpt::client {

struct Inspection {
    shm::Mapping meta_map, data_map;
    shm::MetaView meta;
    shm::DataView data;
    std::uint32_t open_handles = 0;
    CheckpointSummary counters; ///< engine counters (name/attributes filled too)
};

Result<Inspection> inspect(Session& session, std::string_view name);

/// The engine's stats region (counters, histograms), read through the shm reader API from the
/// NODE mapping the session already holds (HELLO passed it read-only). Valid while the session is and
/// until it reconnects (a reconnect maps NODE again): observers connect with reconnect = false.
struct NodeStats {
    shm::StatsView view;
    std::uint32_t node_id = 0;
};
/// VERSION when the engine's stats layout (or NODE layout) is not one this library reads;
/// TRY_AGAIN while the engine is still laying the region out.
Result<NodeStats> node_stats(Session& session);

} // namespace ckpt::client

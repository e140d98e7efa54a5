#pragma once
/// One checkpoint as replication sees it: the ids it has on the wire and what each role keeps
/// about it. Which role it has is the checkpoint's (META's role word); the Replicator moves it
/// between the two.
#include "replication/active_side.hpp"
#include "replication/standby_side.hpp"
#include "store/checkpoint.hpp"

#include <cstdint>
#include <memory>

namespace ckpt::engine {

struct Replica {
    explicit Replica(std::shared_ptr<Checkpoint> c) : ckpt(std::move(c)), standby(*ckpt) {}

    std::shared_ptr<Checkpoint> ckpt;
    std::uint32_t wire_id = 0; ///< this node's id of the checkpoint in frames it sends as the active
    /// The active this node follows and its id of the checkpoint. Kept after a promotion: the former
    /// active's late frames are then recognised (and counted) as stale rather than unknown.
    std::uint16_t active_node = 0;
    std::uint32_t remote_wire_id = 0;
    ActiveState active;   ///< while active here
    StandbyState standby; ///< while a standby here
};

} // namespace ckpt::engine

#pragma once
/// What replication needs from the engine's checkpoint registry (daemon/): find a checkpoint by
/// name, create a standby replica of an announced one, unlink one its active deleted, and log.
#include "ckpt/common/attributes.hpp"
#include "ckpt/common/result.hpp"
#include "store/checkpoint.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace ckpt::engine {

class ReplicaHost {
public:
    virtual ~ReplicaHost() = default;
    virtual std::shared_ptr<Checkpoint> find_checkpoint(const std::string& name) = 0;
    /// Creates a standby replica with these attributes (identical layout).
    virtual Result<std::shared_ptr<Checkpoint>> create_replica(const std::string& name,
                                                               const CheckpointAttributes& attrs) = 0;
    /// The active deleted the checkpoint: unlink the replica (it goes when its last handle closes).
    virtual void unlink_replica(const std::shared_ptr<Checkpoint>& c) = 0;
    virtual void replication_log(const std::string& line) = 0;
};

/// "node 7", as replication's log lines name a peer.
inline std::string node_str(std::uint16_t node) {
    return "node " + std::to_string(node);
}

} // namespace ckpt::engine

#pragma once
/// The engine's registry: checkpoints by name (linked) and every one still mapped (linked or
/// unlinked-but-open), their creation, adoption after a restart, deletion and retention, and the
/// orphans (writers recorded before a restart, awaiting their reattach or their exit). It is what
/// replication sees of the engine (ReplicaHost).
#include "ckpt/common/attributes.hpp"
#include "ckpt/common/fd.hpp"
#include "ckpt/engine/config.hpp"
#include "daemon/logger.hpp"
#include "replication/replica_host.hpp"
#include "store/checkpoint.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ckpt::engine {

class Replicator;

/// The monotonic time at which a checkpoint whose last close was at `now_ns` is deleted, given its
/// retention, never before `floor_ns` (the reattach grace after a restart). 0 means no deadline:
/// a retention that reaches past the clock's range, SA_TIME_END ("forever") included, keeps the
/// checkpoint until it is unlinked. (The plain sum overflowed to a time in the past, and
/// SA_TIME_END deleted the checkpoint at the next timer pass.)
std::int64_t retention_deadline(std::int64_t now_ns, std::int64_t retention_ns, std::int64_t floor_ns);

class Registry final : public ReplicaHost {
public:
    Registry(const Config& cfg, const Logger& log) : cfg_(cfg), log_(log) {}

    /// The replicator told about every checkpoint created, adopted or destroyed (null: node-local).
    void set_replicator(Replicator* r) { repl_ = r; }
    /// Until then after a restart, no retention countdown ends (clients have time to come back).
    void set_grace(std::int64_t until_ns) { grace_until_ns_ = until_ns; }

    /// Shared-memory name of a checkpoint's objects on this node.
    SegmentNames segment_names(const std::string& name, bool persistent) const;
    SegmentNames stem_names(const std::string& stem, bool persistent) const; ///< from a file's stem
    Result<std::shared_ptr<Checkpoint>> create_checkpoint(const std::string& name, const CheckpointAttributes& a);
    /// Adopts the checkpoints a previous engine left (in /dev/shm and the state dir); the pidfds of
    /// their surviving writers join `epoll_fd`.
    void adopt_existing(int epoll_fd);
    void destroy(const std::shared_ptr<Checkpoint>& c);
    /// The last handle closed: destroyed now, or when its retention ends.
    void last_close(const std::shared_ptr<Checkpoint>& c);
    /// POSIX-like: the name goes now (a new checkpoint may take it), the data at the last close.
    void unlink(const std::shared_ptr<Checkpoint>& c);
    /// Checkpoints whose retention ended are destroyed (timer path).
    void expire_retention(std::int64_t now_ns);

    /// A writer that reattached takes over the hold of the orphan recorded for its slot.
    void take_orphan(const std::shared_ptr<Checkpoint>& c, std::uint32_t slot, int epoll_fd);
    /// `fd` became readable: if it is an orphan's pidfd, its writer slot is released; false otherwise.
    bool orphan_exited(int fd);

    const std::map<std::string, std::shared_ptr<Checkpoint>>& by_name() const { return by_name_; }
    const std::vector<std::shared_ptr<Checkpoint>>& all() const { return all_; }

    // ReplicaHost
    std::shared_ptr<Checkpoint> find_checkpoint(const std::string& name) override;
    Result<std::shared_ptr<Checkpoint>> create_replica(const std::string& name,
                                                       const CheckpointAttributes& attrs) override;
    void unlink_replica(const std::shared_ptr<Checkpoint>& c) override;
    void replication_log(const std::string& line) override;

private:
    const Config& cfg_;
    const Logger& log_;
    Replicator* repl_ = nullptr;
    std::int64_t grace_until_ns_ = 0;
    std::map<std::string, std::shared_ptr<Checkpoint>> by_name_; ///< linked checkpoints
    std::vector<std::shared_ptr<Checkpoint>> all_;               ///< linked and unlinked-but-open
    struct Orphan {
        std::shared_ptr<Checkpoint> ckpt;
        std::uint32_t slot;
        Fd pidfd;
    };
    std::map<int, Orphan> orphans_; ///< pidfd -> writer recorded before a restart
};

} // namespace ckpt::engine

#pragma once
/// Making a silent standby unpromotable before the active acknowledges without it (what DRBD's
/// fence-peer handler does): the engine runs `fence_peer_command NODE` (packaging/ocf/
/// hotspare-fence-peer removes the node's promotion score through the cluster manager, after
/// checking quorum); tests give their own. Per node, not per checkpoint: a node made unpromotable
/// is so for every checkpoint.
#include <cstdint>
#include <string>

namespace ckpt::engine {

class PeerFencer {
public:
    enum class State : std::uint8_t {
        kIdle,    ///< never asked since the node was last seen up
        kRunning, ///< asked; no answer yet
        kFenced,  ///< the node cannot be promoted: acknowledging without it keeps every guarantee
        kFailed,  ///< it could not be done (no quorum, manager unreachable, the command failed)
    };
    virtual ~PeerFencer() = default;
    /// Starts fencing `node` (nothing while it runs; again after a failure once the retry
    /// interval passed). Log lines say what happened.
    virtual void start(std::uint16_t node, std::int64_t now_ns) = 0;
    /// The state of the last attempt; `why` (optional) gets the failure's reason.
    virtual State state(std::uint16_t node, std::string* why = nullptr) const = 0;
    /// The node is back (it resyncs): a later loss fences it again.
    virtual void reset(std::uint16_t node) = 0;
};

} // namespace ckpt::engine

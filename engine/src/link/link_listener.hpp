#pragma once
/// What the peer link tells the layer above it (the Replicator).
#include "ckpt/net/wire_format.hpp"
#include "link/peer_stream.hpp"

#include <cstdint>
#include <vector>

namespace ckpt::engine {

/// The replication layer above the link (the Replicator).
class LinkListener {
public:
    virtual ~LinkListener() = default;
    /// The peer became reachable (first contact, after being down, or after it restarted).
    virtual void on_peer_up(std::uint16_t node) = 0;
    /// The peer is gone (silent for peer_timeout_ms, or it restarted): frames queued for it were
    /// dropped; `abandoned` lists their completions.
    virtual void on_peer_down(std::uint16_t node, const std::vector<Completion>& abandoned) = 0;
    /// A sequenced frame, in the sender's order, exactly once. `buffer`, when not null, is the
    /// carrier buffer holding the frame (an RX mbuf): the listener may move it out to keep f's
    /// bytes without copying them (ReplicaApplier holds a commit's fragments so); nullptr (a
    /// carrier that hands none over, a frame that waited behind a gap): valid during the call only.
    virtual void on_frame(std::uint16_t node, const net::DecodedFrame& f, net::FrameBuf* buffer) = 0;
    /// The peer acknowledged the frame that carried `c`.
    virtual void on_completed(std::uint16_t node, Completion c) = 0;
};

} // namespace ckpt::engine

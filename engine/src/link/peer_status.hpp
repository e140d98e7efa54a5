#pragma once
/// What the peer link knows about one configured peer: its state, its traffic, its stream.
#include "ckpt/net/wire_format.hpp"
#include "link/peer_stream.hpp"
#include "link/replay_window.hpp"

#include <array>
#include <cstdint>
#include <vector>

namespace ckpt::engine {

enum class PeerState : std::uint8_t {
    kUnknown = 0,      ///< never heard from
    kUp = 1,           ///< heard from within peer_timeout_ms
    kDown = 2,         ///< was up, then silent for peer_timeout_ms
    kIncompatible = 3, ///< speaks no frame version this node speaks: refused
};
const char* peer_state_name(PeerState s);

struct PeerStatus {
    std::uint16_t node_id = 0;
    PeerState state = PeerState::kUnknown;
    std::int64_t last_heard_ns = 0;  ///< CLOCK_MONOTONIC, 0 = never
    std::uint64_t boot_id = 0;       ///< its session this node accepted (0: none yet)
    ReplayWindow replay;             ///< frame counters seen in that session
    std::uint64_t challenge = 0;     ///< ours: its next new session must echo it (drawn anew on each accept)
    std::uint64_t its_challenge = 0; ///< its challenge, from its last HELLO: echoed in ours
    std::uint64_t accepted_us = 0;   ///< our session as it last said it accepted (HELLO, HEARTBEAT)
    std::uint8_t key_newest = 0, key_previous = 0; ///< the cluster key ids it holds
    std::int64_t hello_sent_ns = 0;                ///< last HELLO answer (rate limit)
    std::uint8_t tx_key = 0;                       ///< the key our frames to it were last MACed with
    bool warned_source = false;                    ///< the wrong-source-address log line was written
    std::array<std::uint8_t, 6> mac{};
    /// Its stream; its counters() are this peer's figures (stream, traffic, restarts) for the stats region.
    PeerStream stream;
    /// A HELLO or HEARTBEAT the full TX ring did not take (when liveness_held): sent ahead of data.
    bool liveness_held = false;
    net::FrameType liveness_type = net::FrameType::kHeartbeat;
    std::vector<std::byte> liveness_body;
    /// An ACK that names sequenced frames of this peer (a REFUSED) we have not taken in yet: it
    /// waits for them, so a refusal is always seen before the acknowledgement it qualifies.
    bool ack_deferred = false;
    std::uint64_t deferred_cumulative = 0, deferred_selective = 0, deferred_until = 0;
    /// The link_seq of the last REFUSED we queued for this peer in its current stream (0: none).
    /// Our ACKs name it (AckBody::sent_through): the peer takes the refusal in before it applies
    /// them. Not every frame we queued: with both streams' backlogs past their windows, each side
    /// would hold the other's ACKs until frames arrived that wait for those very ACKs.
    std::uint64_t refused_through = 0;
};

} // namespace ckpt::engine

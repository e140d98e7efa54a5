#pragma once
/// The peer link part of ckptd's configuration: the carrier (net-dpdk's CarrierConfig: which
/// carrier, its addresses, the fault shim) plus what the engine's link and replication need.
#include "ckpt/net/carrier.hpp"
#include "ckpt/net/frame_auth.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ckpt::engine {

using net::PeerConfig;

/// The reliable per-peer stream (link/peer_stream.hpp).
struct StreamConfig {
    std::uint32_t window = 1024;           ///< frames in flight (sent, not acknowledged)
    std::int64_t rto_ns = 4'000'000;       ///< RTO before the first round trip is measured (RFC 6298 initial RTO)
    std::int64_t min_rto_ns = 1'000'000;   ///< floor of the measured RTO (SRTT + 4 RTTVAR)
    std::int64_t max_rto_ns = 200'000'000; ///< cap of the measured RTO and of the exponential back-off
    std::uint32_t reorder_limit = 4096;    ///< frames a receiver buffers beyond a gap
};

/// `auth = key` (the default: frames carry AES-256-GMAC under the cluster key) or `auth = none`.
enum class AuthMode : std::uint8_t { kKey, kNone };

struct LinkConfig : net::CarrierConfig {
    AuthMode auth = AuthMode::kKey;
    std::string auth_key_file;              ///< the cluster key (ckptctl keygen); 0600, owned by root or us
    std::vector<net::ClusterKey> auth_keys; ///< keys given directly (in-process tests); the file wins
    unsigned heartbeat_ms = 50;
    unsigned peer_timeout_ms = 500;
    StreamConfig stream;                 ///< window, retransmission timeout
    std::uint32_t async_window = 4096;   ///< replication lag (commits) an async writer may run ahead
    std::uint32_t window_policy = 0;     ///< 0 block, 1 try_again (shm::kWindow*)
    std::uint32_t member_timeout_ms = 0; ///< a down replica stops being required after this; 0 never
    /// Copies of each checkpoint active here: this node's and replicas - 1 standbys, chosen among the
    /// peers that are up (lowest node id first); one that is lost (fenced, timed out, or gone
    /// during its first resync) is replaced by another peer, which joins and resyncs. 0: one on
    /// every configured peer.
    std::uint32_t replicas = 0;
    /// Largest replica a peer's ANNOUNCE may make this node create (checkpoint_size, bytes; its
    /// DATA and shadow objects cost twice that): larger is refused (REFUSED reason 6).
    std::uint64_t replica_max_bytes = std::uint64_t{64} << 30;
    /// Most section slots an announced replica may have (its META grows with them).
    std::uint32_t replica_max_sections = 1u << 20;
};

} // namespace ckpt::engine

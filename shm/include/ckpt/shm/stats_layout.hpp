#pragma once
/// The stats region ABI: ckptd's counters and latency histograms, in the NODE object after the
/// NodeHeader, so that reading them costs the engine nothing (AeronStat's counters file, SPDK's
/// trace file). Single writer: the engine thread. Readers (ckptstat) map NODE read-only and read
/// through shm/stats_view.hpp, never by reinterpreting these bytes themselves.
///
///   NODE object (engine writes; clients map it read-only from the fd HELLO passes them)
///   +-----------------------------------+ 0
///   | NodeHeader (256)                  |  stats_offset / stats_size point below (layout minor 3)
///   +-----------------------------------+ 4096 = NodeHeader::stats_offset
///   | StatsHeader (256)                 |  magic (last), stats major/minor, geometry, node-wide counters
///   +-----------------------------------+ +256 = link_offset
///   | LinkStats (512)                   |  carrier, link, fault shim and replication counters
///   +-----------------------------------+ +768 = peers_offset
///   | PeerStats[kStatsMaxPeers] (256)   |  one per configured peer, in configuration order
///   +-----------------------------------+ +4864 = checkpoints_offset
///   | CheckpointStats[checkpoint_slots] |  one per checkpoint (slot claimed by the engine);
///   |   stride sizeof(CheckpointStats)  |  ack-latency histogram at the end of each slot
///   +-----------------------------------+ stats_size (4096-rounded)
///
/// Consistency: the node part (StatsHeader's live words, LinkStats, PeerStats) is one seqlock,
/// StatsHeader::node_seq; each CheckpointStats slot is its own seqlock, CheckpointStats::seq. The
/// writer makes the word odd (relaxed store + release fence), stores the fields (relaxed), then
/// makes it even (release); a reader copies the part out and keeps the copy only if the word was
/// even and unchanged around it. So a reader always sees one whole publication, never half of one.
///
/// Counting: these structs are also the engine's counter types. Each component counts into a
/// private instance of the struct its figures belong to (plain fields, on the engine thread) and
/// publishing copies that instance into the region whole; no figure is declared twice.
///
/// Versioning: like the segments. The magic is written last; kStatsLayoutMajor changes on any
/// incompatible change and readers refuse another major; fields are carved from reserved bytes
/// (zero) with kStatsLayoutMinor bumped, and readers accept any minor.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace ckpt::shm {

inline constexpr std::uint64_t kStatsMagic = 0x5441'5453'5450'4B43ULL; // "CKPTSTAT"
inline constexpr std::uint16_t kStatsLayoutMajor = 1;                  ///< bump on any incompatible change
inline constexpr std::uint16_t kStatsLayoutMinor = 6;                  ///< bump when a field is carved from reserved

inline constexpr std::uint64_t kStatsOffset = 4096;      ///< where the region starts in NODE
inline constexpr std::uint32_t kStatsMaxPeers = 16;      ///< peers with a PeerStats (and a lag entry) each
inline constexpr std::uint32_t kStatsNameMax = 256;      ///< a whole SaNameT (minor 3; before, 255 and NUL-terminated)
inline constexpr std::uint32_t kStatsDefaultSlots = 128; ///< CheckpointStats slots unless configured

// ---------------------------------------------------------------------------------------------
// Log-linear latency histogram (HdrHistogram-like), in nanoseconds.
//
// Values below 2^kHistSubBucketBits (32 ns) each have their own bucket. Above that, every power of
// two [2^e, 2^(e+1)) is split into kHistSubBuckets equal buckets, so a bucket is at most 1/32 of
// its values wide (3.1 %). The top octave is e = kHistMaxExponent: values up to 2^34 - 1 ns
// (17.2 s) are bucketed, which covers the 100 ns .. 10 s the engine measures; larger ones count in
// `overflow` (and in count/sum/max).
// ---------------------------------------------------------------------------------------------

inline constexpr unsigned kHistSubBucketBits = 5;
inline constexpr std::uint32_t kHistSubBuckets = 1u << kHistSubBucketBits; // 32
inline constexpr unsigned kHistMaxExponent = 33;
inline constexpr std::uint32_t kHistBuckets = (kHistMaxExponent - kHistSubBucketBits + 2) * kHistSubBuckets; // 960
inline constexpr std::uint64_t kHistMaxValue = (std::uint64_t{1} << (kHistMaxExponent + 1)) - 1;

/// Bucket of a value; kHistBuckets when it is above kHistMaxValue (overflow).
constexpr std::uint32_t hist_bucket(std::uint64_t v) {
    if (v < kHistSubBuckets) return static_cast<std::uint32_t>(v);
    if (v > kHistMaxValue) return kHistBuckets;
    const unsigned e = 63u - static_cast<unsigned>(std::countl_zero(v)); // >= kHistSubBucketBits
    const unsigned shift = e - kHistSubBucketBits;
    return static_cast<std::uint32_t>((e - kHistSubBucketBits + 1) * kHistSubBuckets +
                                      ((v >> shift) - kHistSubBuckets));
}
/// Smallest value of a bucket.
constexpr std::uint64_t hist_lower(std::uint32_t bucket) {
    if (bucket < kHistSubBuckets) return bucket;
    const std::uint32_t group = bucket / kHistSubBuckets; // 1 .. kHistMaxExponent - bits + 1
    const std::uint32_t sub = bucket % kHistSubBuckets;
    const unsigned shift = group - 1; // e - kHistSubBucketBits
    return std::uint64_t{kHistSubBuckets + sub} << shift;
}
/// Largest value of a bucket.
constexpr std::uint64_t hist_upper(std::uint32_t bucket) {
    return bucket + 1 >= kHistBuckets ? kHistMaxValue : hist_lower(bucket + 1) - 1;
}
static_assert(hist_bucket(31) == 31 && hist_bucket(32) == 32 && hist_bucket(63) == 63 && hist_bucket(64) == 64);
static_assert(hist_bucket(kHistMaxValue) == kHistBuckets - 1 && hist_bucket(kHistMaxValue + 1) == kHistBuckets);
static_assert(hist_lower(hist_bucket(100)) <= 100 && hist_upper(hist_bucket(100)) >= 100);
static_assert(hist_lower(hist_bucket(10'000'000'000)) <= 10'000'000'000 &&
              hist_upper(hist_bucket(10'000'000'000)) >= 10'000'000'000);

struct LatencyHistogram {
    std::uint64_t count;    ///< values recorded
    std::uint64_t sum_ns;   ///< their sum
    std::uint64_t min_ns;   ///< 0 while count is 0
    std::uint64_t max_ns;   ///< largest value recorded
    std::uint64_t overflow; ///< values above kHistMaxValue (in no bucket)
    std::uint64_t reserved[3];
    std::uint64_t buckets[kHistBuckets];

    /// Engine side (a private histogram the engine publishes): not for shared memory.
    void record(std::uint64_t ns) {
        if (count == 0 || ns < min_ns) min_ns = ns;
        if (ns > max_ns) max_ns = ns;
        ++count;
        sum_ns += ns;
        const std::uint32_t b = hist_bucket(ns);
        if (b == kHistBuckets)
            ++overflow;
        else
            ++buckets[b];
    }
};
static_assert(sizeof(LatencyHistogram) == 64 + 8 * kHistBuckets && sizeof(LatencyHistogram) == 7744);
static_assert(offsetof(LatencyHistogram, buckets) == 64);

// ---------------------------------------------------------------------------------------------
// The region.
// ---------------------------------------------------------------------------------------------

/// Replication, node-wide, what no single checkpoint's slot holds (minor 4: carved from
/// StatsHeader::reserved; the Replicator's counters next to those in LinkStats).
struct ReplicationTotals {
    std::uint64_t commits_sent;         ///< commits shipped (one per standby), every checkpoint ever
    std::uint64_t data_frames;          ///< DATA frames queued
    std::uint64_t data_bytes;           ///< DATA payload bytes queued (changed blocks)
    std::uint64_t wire_bytes;           ///< whole replication frames queued (headers included), all types
    std::uint64_t commits_applied;      ///< standby: whole commits applied
    std::uint64_t commits_acked;        ///< active: commits every required standby applied
    std::uint64_t commits_lost;         ///< given up unacknowledged by actives that stepped down
    std::uint64_t fenced;               ///< active: stepped down because a standby follows a newer active
    std::uint64_t announces_over_limit; ///< ANNOUNCEs refused: replica over replica_max_bytes/_sections
    std::uint64_t resyncs_started;      ///< resyncs whose sending began (HASHES received in full)
    /// active: HASHES frames refused because their block hashes exceed what the checkpoint can hold
    std::uint64_t hashes_refused;
    /// active (minor 5): HASHES frames ignored because no join of ours awaits them: a report that
    /// answers an ANNOUNCE a later join superseded (its join id is not the latest)
    std::uint64_t hashes_stale;
};
static_assert(sizeof(ReplicationTotals) == 96);

struct alignas(64) StatsHeader {
    std::uint64_t magic; ///< 0 until the engine finished the layout; then kStatsMagic (release)
    std::uint16_t layout_major;
    std::uint16_t layout_minor;
    std::uint32_t header_size;          ///< sizeof(StatsHeader) of the writer
    std::uint64_t stats_size;           ///< bytes of the region (from its start)
    std::uint64_t link_offset;          ///< from the region's start
    std::uint64_t peers_offset;         ///< from the region's start
    std::uint64_t checkpoints_offset;   ///< from the region's start
    std::uint32_t checkpoint_slots;     ///< CheckpointStats slots
    std::uint32_t checkpoint_stride;    ///< sizeof(CheckpointStats) of the writer
    std::uint32_t peer_slots;           ///< kStatsMaxPeers
    std::uint32_t peer_stride;          ///< sizeof(PeerStats)
    std::uint32_t hist_sub_bucket_bits; ///< kHistSubBucketBits of the writer
    std::uint32_t hist_buckets;         ///< kHistBuckets of the writer
    std::uint32_t node_id;
    std::uint32_t engine_pid;
    std::int64_t started_ns;   ///< CLOCK_REALTIME when the engine started
    std::uint32_t interval_ms; ///< publication period (stats_interval_ms)
    std::uint32_t reserved0;
    // -- live words, under node_seq --
    std::uint64_t node_seq;         ///< seqlock of the node part: odd while the engine publishes
    std::uint64_t publications;     ///< publications so far
    std::int64_t published_mono_ns; ///< CLOCK_MONOTONIC of the latest publication
    std::int64_t published_ns;      ///< CLOCK_REALTIME of the same
    std::uint64_t captures;         ///< commits captured on this node since start
    std::uint32_t checkpoints;      ///< checkpoints this engine holds
    std::uint32_t untracked;        ///< of them, without a slot (all checkpoint_slots taken)
    std::uint32_t peer_count;       ///< PeerStats in use
    std::uint32_t reserved1;
    ReplicationTotals replication; ///< minor 4 (hashes_stale: minor 5)
    std::uint8_t reserved[8];      ///< zero; new fields come from here
};
static_assert(sizeof(StatsHeader) == 256, "StatsHeader is ABI: bump kStatsLayoutMajor");
static_assert(offsetof(StatsHeader, magic) == 0);
static_assert(offsetof(StatsHeader, layout_major) == 8 && offsetof(StatsHeader, layout_minor) == 10);
static_assert(offsetof(StatsHeader, checkpoint_slots) == 48);
static_assert(offsetof(StatsHeader, node_seq) == 96);
static_assert(offsetof(StatsHeader, captures) == 128);
static_assert(offsetof(StatsHeader, replication) == 152 && offsetof(StatsHeader, reserved) == 248);

/// What the seeded fault shim did in one direction: the shim's own counter type.
struct FaultStats {
    std::uint64_t frames;     ///< frames that entered the shim
    std::uint64_t dropped;    ///< never passed on
    std::uint64_t duplicated; ///< passed on twice
    std::uint64_t reordered;  ///< held back behind the next frame
    std::uint64_t corrupted;  ///< one bit flipped
    std::uint64_t delayed;    ///< copies that waited delay_us
    std::uint64_t unsent;     ///< TX: copies the carrier refused when the shim released them
    std::uint64_t bursts;     ///< minor 4: Gilbert-Elliott entries into the bad (losing) state
};
static_assert(sizeof(FaultStats) == 64);

/// What the carrier (net::Transport) saw: frames on the wire, whatever they carry. The carriers'
/// own counter type (net::TransportStats adds what only tests read).
struct CarrierStats {
    std::uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes;
    std::uint64_t rx_missed, rx_errors, tx_errors;
};
static_assert(sizeof(CarrierStats) == 56);

/// LinkStats::rejected indexes: net::Reject values (1..14 used).
inline constexpr std::uint32_t kStatsRejectReasons = 16;

struct alignas(64) LinkStats {
    CarrierStats carrier; ///< taken from the carrier when the link's figures are published
    // the peer link (PeerLink counts into its LinkStats)
    std::uint64_t rx_frames, tx_frames, tx_dropped;
    std::uint64_t not_for_us, unknown_peer, not_up, acks_sent, nacks_sent;
    std::uint64_t rejected[kStatsRejectReasons]; ///< refused frames by net::Reject value
    // replication, node-wide (the Replicator counts into its link's LinkStats)
    std::uint64_t stale_epoch, not_from_active, unknown_checkpoint, bad_commits;
    std::uint64_t resyncs, resync_blocks, resync_bytes, resync_blocks_same, promotions, demotions;
    FaultStats fault_tx, fault_rx;   ///< zero unless fault_* keys are set
    std::uint32_t transport;         ///< kStatsTransport*
    std::uint32_t fault_enabled;     ///< 1 when the fault shim wraps the carrier
    std::uint64_t refusals_sent;     ///< standby: REFUSED frames sent (frames it did not apply)
    std::uint64_t refusals_received; ///< active: REFUSED frames received
    // the peer link, minor 4
    std::uint64_t acks_deferred; ///< ACKs held back behind the peer's own sequenced frames
    /// HELLOs of a session not accepted yet that echo no challenge (first contact, a restart):
    /// answered with a HELLO, not counted as refused
    std::uint64_t handshakes;
    std::uint64_t liveness_held;    ///< HELLOs/HEARTBEATs that found the TX ring full (sent ahead of data later)
    std::uint64_t silence_deferred; ///< ticks whose RX drain did not empty the ring: no peer judged silent
};
static_assert(sizeof(LinkStats) == 512, "LinkStats is ABI: bump kStatsLayoutMajor");
static_assert(offsetof(LinkStats, rejected) == 120);
static_assert(offsetof(LinkStats, fault_tx) == 328 && offsetof(LinkStats, fault_rx) == 392);
static_assert(offsetof(LinkStats, transport) == 456 && offsetof(LinkStats, refusals_sent) == 464);
static_assert(offsetof(LinkStats, acks_deferred) == 480);

/// LinkStats::transport
inline constexpr std::uint32_t kStatsTransportNone = 0;
inline constexpr std::uint32_t kStatsTransportMemif = 1;
inline constexpr std::uint32_t kStatsTransportAfPacket = 2;
inline constexpr std::uint32_t kStatsTransportPci = 3;
inline constexpr std::uint32_t kStatsTransportUdp = 4;

/// PeerStats::state (engine PeerState values).
inline constexpr std::uint32_t kPeerUnknown = 0;
inline constexpr std::uint32_t kPeerUp = 1;
inline constexpr std::uint32_t kPeerDown = 2;
inline constexpr std::uint32_t kPeerIncompatible = 3;

/// The carrier's name as the configuration spells it (`transport`); "none" for kStatsTransportNone
/// and any value this reader does not know.
constexpr std::string_view transport_name(std::uint32_t transport) {
    switch (transport) {
    case kStatsTransportMemif:
        return "memif";
    case kStatsTransportAfPacket:
        return "af_packet";
    case kStatsTransportPci:
        return "pci";
    case kStatsTransportUdp:
        return "udp";
    default:
        return "none";
    }
}

/// "unknown", "up", "down", "incompatible"; "?" for a value this reader does not know.
constexpr std::string_view peer_state_name(std::uint32_t state) {
    switch (state) {
    case kPeerUnknown:
        return "unknown";
    case kPeerUp:
        return "up";
    case kPeerDown:
        return "down";
    case kPeerIncompatible:
        return "incompatible";
    default:
        return "?";
    }
}

struct alignas(64) PeerStats {
    std::uint32_t node_id;
    std::uint32_t state;                                    ///< kPeer*
    std::int64_t last_heard_mono_ns;                        ///< CLOCK_MONOTONIC of the last frame from it; 0 never
    std::uint64_t restarts;                                 ///< times its engine restarted while we watched
    std::uint64_t rx_frames, tx_frames, rx_bytes, tx_bytes; ///< valid frames from / to it
    // its reliable stream (PeerStream counts into the peer's PeerStats), both directions
    std::uint64_t sent, retransmits, acked, nacks_received;
    std::uint64_t delivered, duplicates, reordered, stale, beyond_window, nacks_sent;
    std::uint64_t in_flight, backlog; ///< frames sent and not acknowledged; queued behind the window
    std::uint64_t timeouts;           ///< retransmissions the timer caused (the rest answered NACKs)
    std::uint64_t rtt_samples;        ///< minor 4: round trips measured (frames acknowledged after one transmission)
    std::uint8_t reserved[88];
};
static_assert(sizeof(PeerStats) == 256, "PeerStats is ABI: bump kStatsLayoutMajor");
static_assert(offsetof(PeerStats, rx_frames) == 24 && offsetof(PeerStats, retransmits) == 64);
static_assert(offsetof(PeerStats, timeouts) == 152 && offsetof(PeerStats, rtt_samples) == 160);

/// One standby as the active sees it, inside a CheckpointStats.
struct PeerLag {
    std::uint32_t node_id;       ///< 0: entry unused
    std::uint32_t state;         ///< kMember*
    std::uint64_t commits;       ///< commits it has not applied yet
    std::uint64_t bytes;         ///< their changed bytes
    std::int64_t oldest_mono_ns; ///< CLOCK_MONOTONIC capture time of the oldest of them; 0 none
};
static_assert(sizeof(PeerLag) == 32);

/// PeerLag::state
inline constexpr std::uint32_t kMemberDown = 0;
inline constexpr std::uint32_t kMemberResync = 1;
inline constexpr std::uint32_t kMemberInSync = 2;

/// CheckpointStats::state
inline constexpr std::uint32_t kStatsSlotFree = 0;
inline constexpr std::uint32_t kStatsSlotUsed = 1;

struct alignas(64) CheckpointStats {
    std::uint64_t seq;   ///< slot seqlock: odd while the engine publishes the slot
    std::uint32_t state; ///< kStatsSlot*
    std::uint32_t name_len;
    std::uint64_t incarnation; ///< MetaHeader::incarnation: a re-created name gets a new one
    std::uint32_t role;        ///< kRole* (segment_layout.hpp)
    std::uint32_t creation_flags;
    std::uint64_t epoch;
    std::uint32_t sections, max_sections;
    std::uint64_t bytes_used, checkpoint_size;
    std::uint64_t commit_seq; ///< change-log head
    // local commit path (the Checkpoint counts into its CheckpointStats)
    std::uint64_t commits;     ///< commits captured (active) or applied (standby) here
    std::uint64_t dirty_bytes; ///< bytes of the dirty blocks those commits copied into the shadow
    std::uint64_t rollbacks, corruptions;
    // replication (active: to all standbys together)
    std::uint64_t commits_sent;           ///< commits shipped, one per standby
    std::uint64_t data_frames;            ///< DATA frames of those commits
    std::uint64_t data_bytes;             ///< changed bytes they carried (payload)
    std::uint64_t wire_bytes;             ///< the same frames whole: Ethernet/IP/UDP/Hotspare headers included
    std::uint64_t commits_acked;          ///< commits every required standby applied
    std::uint64_t commits_applied;        ///< standby: whole commits applied
    std::uint64_t lag_commits, lag_bytes; ///< MetaHeader::repl_lag_*: not yet applied by every required standby
    std::uint32_t replicas;               ///< standbys in sync
    std::uint32_t sync_blocked;           ///< a required standby that is down (0: none)
    std::uint32_t peer_count;             ///< PeerLag entries in use
    std::uint32_t reserved0;
    std::uint64_t segment_resizes; ///< minor 1: DATA found resized by a client, size restored (0 before)
    PeerLag peers[kStatsMaxPeers];
    char name[kStatsNameMax];   ///< name_len bytes, not NUL-terminated when name_len is 256
    std::uint64_t commits_lost; ///< minor 2: captured as active, given up unacknowledged when it stepped down
    // the local commit path, minor 4
    std::uint64_t spurious_doorbells; ///< doorbells for free slots or unchanged sections
    std::uint64_t invalid_words;      ///< application-writable words found invalid
    /// slots the periodic timers looked at: sections in use and due deadlines only, never every slot
    std::uint64_t timer_slots_visited;
    std::uint64_t capture_budget_cuts; ///< turns whose capture budget ran out with doorbells left
    // the local stage, minor 6
    std::uint64_t staged_commits; ///< commits captured from a stage record a writer filled
    std::uint64_t stage_invalid;  ///< stage records or claims found invalid (also in invalid_words)
    std::uint8_t reserved[136];
    LatencyHistogram ack_latency; ///< capture to acknowledged by every required standby, per commit
};
static_assert(offsetof(CheckpointStats, commits) == 72 && offsetof(CheckpointStats, wire_bytes) == 128);
static_assert(offsetof(CheckpointStats, segment_resizes) == 184 && offsetof(CheckpointStats, peers) == 192);
static_assert(offsetof(CheckpointStats, name) == 704 && offsetof(CheckpointStats, commits_lost) == 960);
static_assert(offsetof(CheckpointStats, spurious_doorbells) == 968 &&
              offsetof(CheckpointStats, staged_commits) == 1000 && offsetof(CheckpointStats, reserved) == 1016);
static_assert(offsetof(CheckpointStats, ack_latency) == 1152);
static_assert(sizeof(CheckpointStats) == 8896, "CheckpointStats is ABI: bump kStatsLayoutMajor");

inline constexpr std::uint64_t kStatsLinkOffset = sizeof(StatsHeader);
inline constexpr std::uint64_t kStatsPeersOffset = kStatsLinkOffset + sizeof(LinkStats);
inline constexpr std::uint64_t kStatsCheckpointsOffset = kStatsPeersOffset + kStatsMaxPeers * sizeof(PeerStats);
static_assert(kStatsLinkOffset == 256 && kStatsPeersOffset == 768 && kStatsCheckpointsOffset == 4864);
static_assert(kStatsCheckpointsOffset % 64 == 0);

/// Bytes of a region with `slots` checkpoint slots, 4096-rounded.
constexpr std::uint64_t stats_region_size(std::uint32_t slots) {
    return (kStatsCheckpointsOffset + std::uint64_t{slots} * sizeof(CheckpointStats) + 4095) & ~std::uint64_t{4095};
}

static_assert(std::is_standard_layout_v<StatsHeader> && std::is_trivially_copyable_v<StatsHeader>);
static_assert(std::is_standard_layout_v<LinkStats> && std::is_trivially_copyable_v<LinkStats>);
static_assert(std::is_standard_layout_v<PeerStats> && std::is_trivially_copyable_v<PeerStats>);
static_assert(std::is_standard_layout_v<CheckpointStats> && std::is_trivially_copyable_v<CheckpointStats>);

} // namespace ckpt::shm

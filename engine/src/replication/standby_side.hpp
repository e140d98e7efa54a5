#pragma once
/// The standby side of replication: it takes the active's sequenced frames for a checkpoint it
/// follows (already checked for epoch and sender by the Replicator), hands whole commits and
/// directory changes to the replica applier, says what it could not apply with a REFUSED frame,
/// and reports its block hashes when an active announces itself (the start of a resync).
#include "ckpt/net/wire_format.hpp"
#include "ckpt/shm/stats_layout.hpp"
#include "replication/outbox.hpp"
#include "replication/replica_applier.hpp"
#include "replication/replica_host.hpp"

#include <cstdint>
#include <vector>

namespace ckpt::engine {

struct Replica;

/// What a standby keeps about a checkpoint it follows: the commit being received.
struct StandbyState {
    explicit StandbyState(Checkpoint& c) : applier(c) {}
    ReplicaApplier applier;
    bool rx_open = false;                           ///< a commit is being received
    bool resyncing = false;                         ///< HASHES sent, RESYNC_DONE not received yet
    bool reporting = false;                         ///< the HASHES report is being sent, a budget per loop turn
    std::uint32_t report_slot = 0, report_last = 0; ///< next slot to report; the last one in use
    std::uint64_t report_join = 0;                  ///< the ANNOUNCE's join the report answers (echoed)
    std::uint32_t rx_slot = 0, rx_next = 0;
    std::uint64_t rx_generation = 0, rx_seq = 0;
};

class StandbySide {
public:
    /// Counts into `link_counts` (refusals, bad commits) and `totals` (commits applied).
    StandbySide(ReplicaHost& host, Outbox& out, shm::LinkStats& link_counts, shm::ReplicationTotals& totals)
        : host_(host), out_(out), link_counts_(link_counts), totals_(totals) {}

    /// The checkpoint enters or leaves the standby role: a commit half received is void.
    /// A frame other than DATA arrived while members of a write group were held: the group is
    /// void (the active never puts anything between them).
    void interrupt_group(Replica& r);
    void reset(Replica& r);
    /// Reports every section's block hashes to the active (HASHES frames, the last one flagged):
    /// starts the report and sends its first part; report_step() sends the rest.
    /// `join`: the ANNOUNCE's join id, echoed in every frame of the report.
    void send_hashes(Replica& r, std::uint64_t join);
    /// The next part of a report under way (every loop turn): whole sections, until 4 MiB were
    /// hashed or a window of frames waits for the active. Returns sections reported.
    std::size_t report_step(Replica& r);
    /// A DATA frame from the active: holds it (in `buffer`, the carrier's buffer, when given:
    /// ReplicaApplier::receive), applies the commit at its last fragment; false when it did not
    /// fit (the caller refuses it).
    bool on_data(Replica& r, const net::DecodedFrame& f, net::FrameBuf* buffer = nullptr);
    enum class SectionResult : std::uint8_t { kApplied, kBad, kCheckpointDeleted };
    /// A SECTION frame from the active (install, delete, expiration, or the checkpoint's deletion).
    SectionResult on_section(Replica& r, const net::DecodedFrame& f);
    /// Sends REFUSED for a frame not applied (only for frames an acknowledgement would vouch for).
    void refuse(std::uint16_t node, const net::DecodedFrame& f, net::RefuseReason why, std::uint64_t epoch);

private:
    ReplicaHost& host_;
    Outbox& out_;
    shm::LinkStats& link_counts_;
    shm::ReplicationTotals& totals_;
    /// A batch DATA frame (kFlagBatch): each entry through on_data; true unless the batch is malformed.
    bool on_batch(Replica& r, const net::DecodedFrame& f);
    std::vector<net::DataRun> runs_ = std::vector<net::DataRun>(net::kMaxDataRuns); ///< on_data's run table
    std::vector<net::DataBatchEntry> batch_ =
        std::vector<net::DataBatchEntry>(net::kMaxBatchEntries); ///< on_batch's entries
};

} // namespace ckpt::engine

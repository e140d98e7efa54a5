#pragma once
/// One ckptstat sample: what the engine published in its stats region (read through the shm
/// reader API), the checkpoint list (open handles, flags: only the engine's LIST knows them), and
/// with -c one checkpoint's sections; plus the figures derived from it and the previous sample
/// (rates over the interval, latency percentiles), computed once so that the text, JSON and
/// Prometheus outputs always agree.
#include "ckpt/client/inspect.hpp"
#include "ckpt/client/session.hpp"
#include "ckpt/shm/stats_view.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ckpt::tools {

struct Sample {
    shm::NodeStatsSample node;
    std::vector<shm::CheckpointStatsSample> checkpoints;   ///< by name
    std::vector<client::CheckpointSummary> summaries;      ///< LIST, by name
    std::optional<std::vector<shm::SectionInfo>> sections; ///< -c NAME: its sections
};

/// Reads a sample; with `checkpoint` set, only that checkpoint (NOT_EXIST when the engine has no
/// such checkpoint) and its sections.
Result<Sample> take_sample(client::Session& session, const shm::StatsView& stats, const std::string& checkpoint);

struct Latency {
    std::uint64_t count = 0, sum_ns = 0, p50_ns = 0, p99_ns = 0, p999_ns = 0, max_ns = 0;
};

struct CheckpointFigures {
    const shm::CheckpointStats* stats = nullptr;
    std::string name;
    const client::CheckpointSummary* summary = nullptr; ///< from LIST; null if it went in between
    double commits_per_s = 0, dirty_bytes_per_s = 0, wire_bytes_per_s = 0;
    /// Changed bytes sent per dirty byte captured, per standby, over the interval; nullopt when no
    /// dirty byte was shipped (a standby, a node-local engine, an idle interval).
    std::optional<double> delta_ratio;
    Latency ack;            ///< commits acknowledged over the interval
    Latency ack_cumulative; ///< since the engine started
};

/// Figures of a sample. `prev` is the previous sample of the same engine (nullopt for the first:
/// rates are then averages since the engine started, as vmstat's first line).
struct Figures {
    double seconds = 0;      ///< the interval the rates cover
    bool since_start = true; ///< true: rates are since the engine started
    std::int64_t uptime_ns = 0;
    std::vector<CheckpointFigures> checkpoints;
};
Figures derive(const Sample& cur, const Sample* prev);

std::string_view role_name(std::uint32_t role);
using shm::peer_state_name;
std::string_view member_state_name(std::uint32_t state);
using shm::transport_name;
/// net::Reject names for LinkStats::rejected (index 1..10), snake_case.
std::string_view reject_reason_name(std::uint32_t reason);
inline constexpr std::uint32_t kRejectReasons = 14;
inline constexpr std::uint32_t kRejectBadHash = 8;
inline constexpr std::uint32_t kRejectUnknownKey = 11, kRejectReplayed = 12, kRejectStaleSession = 13,
                               kRejectWrongSource = 14;

/// Frames this node lost: carrier TX refusals, RX misses, and what the fault shim dropped.
std::uint64_t link_drops(const shm::LinkStats& l);

} // namespace ckpt::tools

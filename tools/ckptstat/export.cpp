#include "export.hpp"

#include "ckpt/common/attributes.hpp"
#include "format.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace ckpt::tools {

namespace {

using nlohmann::ordered_json;

ordered_json latency_json(const Latency& l) {
    return {{"count", l.count},   {"sum_ns", l.sum_ns},   {"p50_ns", l.p50_ns},
            {"p99_ns", l.p99_ns}, {"p999_ns", l.p999_ns}, {"max_ns", l.max_ns}};
}

ordered_json fault_json(const shm::FaultStats& f) {
    return {{"frames", f.frames},       {"dropped", f.dropped},     {"duplicated", f.duplicated},
            {"reordered", f.reordered}, {"corrupted", f.corrupted}, {"delayed", f.delayed},
            {"unsent", f.unsent}};
}

std::uint64_t age(std::int64_t at, std::int64_t since) {
    return since == 0 ? 0 : static_cast<std::uint64_t>(std::max<std::int64_t>(0, at - since));
}

} // namespace

void write_json(std::ostream& out, const Sample& s, const Figures& f, std::uint64_t sample_no) {
    const auto& h = s.node.header;
    const auto& l = s.node.link;
    ordered_json j;
    j["sample"] = sample_no;
    j["time_ns"] = h.published_ns;
    j["interval_s"] = f.seconds;
    j["since_start"] = f.since_start;
    j["node"] = {{"id", h.node_id},
                 {"pid", h.engine_pid},
                 {"started_ns", h.started_ns},
                 {"uptime_ns", f.uptime_ns},
                 {"transport", transport_name(l.transport)},
                 {"checkpoints", h.checkpoints},
                 {"untracked_checkpoints", h.untracked},
                 {"captures", h.captures},
                 {"stats_layout", std::to_string(h.layout_major) + "." + std::to_string(h.layout_minor)}};
    ordered_json cps = ordered_json::array();
    for (const auto& c : f.checkpoints) {
        const auto& x = *c.stats;
        ordered_json o;
        o["name"] = printable_name(c.name);
        o["role"] = role_name(x.role);
        o["epoch"] = x.epoch;
        o["mode"] = format_update_mode(static_cast<UpdateMode>(x.creation_flags & kUpdateModeMask));
        o["sections"] = x.sections;
        o["max_sections"] = x.max_sections;
        o["bytes_used"] = x.bytes_used;
        o["checkpoint_size"] = x.checkpoint_size;
        o["commit_seq"] = x.commit_seq;
        o["commits"] = x.commits;
        o["dirty_bytes"] = x.dirty_bytes;
        o["rollbacks"] = x.rollbacks;
        o["corruptions"] = x.corruptions;
        o["segment_resizes"] = x.segment_resizes;
        o["commits_sent"] = x.commits_sent;
        o["data_frames"] = x.data_frames;
        o["data_bytes"] = x.data_bytes;
        o["wire_bytes"] = x.wire_bytes;
        o["commits_acked"] = x.commits_acked;
        o["commits_applied"] = x.commits_applied;
        o["commits_lost"] = x.commits_lost;
        o["lag_commits"] = x.lag_commits;
        o["lag_bytes"] = x.lag_bytes;
        o["replicas"] = x.replicas;
        o["sync_blocked_by"] = x.sync_blocked;
        o["commits_per_s"] = c.commits_per_s;
        o["dirty_bytes_per_s"] = c.dirty_bytes_per_s;
        o["wire_bytes_per_s"] = c.wire_bytes_per_s;
        o["delta_ratio"] = c.delta_ratio ? ordered_json(*c.delta_ratio) : ordered_json(nullptr);
        o["ack_latency"] = latency_json(c.ack);
        o["ack_latency_total"] = latency_json(c.ack_cumulative);
        ordered_json lag = ordered_json::array();
        for (std::uint32_t i = 0; i < x.peer_count; ++i) {
            const auto& p = x.peers[i];
            lag.push_back({{"peer", p.node_id},
                           {"state", member_state_name(p.state)},
                           {"commits", p.commits},
                           {"bytes", p.bytes},
                           {"age_ns", age(h.published_mono_ns, p.oldest_mono_ns)}});
        }
        o["lag"] = std::move(lag);
        if (c.summary) {
            o["open_handles"] = c.summary->open_handles;
            o["persistent"] = c.summary->attributes.persistent();
            o["damage"] = c.summary->damage;
        }
        if (s.sections) {
            ordered_json secs = ordered_json::array();
            for (const auto& sec : *s.sections)
                secs.push_back({{"id", format_section_id(sec.id)},
                                {"size", sec.committed_size},
                                {"capacity", sec.capacity},
                                {"seq", sec.captured_seq},
                                {"acked_seq", sec.acked_seq},
                                {"state", format_section_state(sec.state)},
                                {"expiration_ns", sec.expiration_ns},
                                {"last_update_ns", sec.last_update_ns}});
            o["sections_list"] = std::move(secs);
        }
        cps.push_back(std::move(o));
    }
    j["checkpoints"] = std::move(cps);
    ordered_json peers = ordered_json::array();
    for (const auto& p : s.node.peers)
        peers.push_back({{"node", p.node_id},
                         {"state", peer_state_name(p.state)},
                         {"last_heard_ago_ns", p.last_heard_mono_ns == 0
                                                   ? ordered_json(nullptr)
                                                   : ordered_json(age(h.published_mono_ns, p.last_heard_mono_ns))},
                         {"rx_frames", p.rx_frames},
                         {"rx_bytes", p.rx_bytes},
                         {"tx_frames", p.tx_frames},
                         {"tx_bytes", p.tx_bytes},
                         {"retransmits", p.retransmits},
                         {"retransmit_timeouts", p.timeouts},
                         {"nacks_received", p.nacks_received},
                         {"nacks_sent", p.nacks_sent},
                         {"duplicates", p.duplicates},
                         {"reordered", p.reordered},
                         {"stale", p.stale},
                         {"in_flight", p.in_flight},
                         {"backlog", p.backlog},
                         {"restarts", p.restarts}});
    j["peers"] = std::move(peers);
    ordered_json rejected = ordered_json::object();
    for (std::uint32_t r = 1; r <= kRejectReasons; ++r) rejected[std::string(reject_reason_name(r))] = l.rejected[r];
    j["link"] = {{"rx_packets", l.carrier.rx_packets},
                 {"rx_bytes", l.carrier.rx_bytes},
                 {"tx_packets", l.carrier.tx_packets},
                 {"tx_bytes", l.carrier.tx_bytes},
                 {"rx_missed", l.carrier.rx_missed},
                 {"rx_errors", l.carrier.rx_errors},
                 {"tx_errors", l.carrier.tx_errors},
                 {"rx_frames", l.rx_frames},
                 {"tx_frames", l.tx_frames},
                 {"tx_dropped", l.tx_dropped},
                 {"drops", link_drops(l)},
                 {"rejected", std::move(rejected)},
                 {"not_for_us", l.not_for_us},
                 {"unknown_peer", l.unknown_peer},
                 {"acks_sent", l.acks_sent},
                 {"nacks_sent", l.nacks_sent},
                 {"stale_epoch", l.stale_epoch},
                 {"not_from_active", l.not_from_active},
                 {"unknown_checkpoint", l.unknown_checkpoint},
                 {"bad_commits", l.bad_commits},
                 {"resyncs", l.resyncs},
                 {"resync_blocks", l.resync_blocks},
                 {"resync_bytes", l.resync_bytes},
                 {"promotions", l.promotions},
                 {"demotions", l.demotions},
                 {"refusals_sent", l.refusals_sent},
                 {"refusals_received", l.refusals_received},
                 {"fault_injection", l.fault_enabled != 0},
                 {"fault_tx", fault_json(l.fault_tx)},
                 {"fault_rx", fault_json(l.fault_rx)}};
    out << j.dump() << '\n';
}

namespace {

/// Label values escaped as the exposition format wants (backslash, quote, newline).
std::string label_value(std::string_view v) {
    std::string o;
    for (char c : v) {
        if (c == '\\' || c == '"')
            o += '\\', o += c;
        else if (c == '\n')
            o += "\\n";
        else
            o += c;
    }
    return o;
}

class Exposition {
public:
    Exposition(std::ostream& out, std::uint32_t node) : out_(out), node_(std::to_string(node)) {}
    /// Starts a metric family (HELP and TYPE once).
    Exposition& family(const char* name, const char* type, const char* help) {
        out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
        name_ = name;
        return *this;
    }
    /// One sample of the current family; `labels` are extra name="value" pairs.
    template <typename V>
    void sample(const std::vector<std::pair<const char*, std::string>>& labels, V value, const char* suffix = "") {
        out_ << name_ << suffix << "{node=\"" << node_ << '"';
        for (const auto& [k, v] : labels) out_ << ',' << k << "=\"" << label_value(v) << '"';
        out_ << "} " << value << '\n';
    }

private:
    std::ostream& out_;
    std::string node_;
    std::string name_;
};

std::string seconds(std::uint64_t ns) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(ns) / 1e9);
    return buf;
}

} // namespace

void write_prometheus(std::ostream& out, const Sample& s, const Figures& f) {
    const auto& h = s.node.header;
    const auto& l = s.node.link;
    Exposition e(out, h.node_id);
    e.family("ckpt_engine_start_time_seconds", "gauge", "When ckptd started (Unix time).");
    e.sample({}, seconds(static_cast<std::uint64_t>(h.started_ns)));
    e.family("ckpt_checkpoints", "gauge", "Checkpoints the engine holds.");
    e.sample({}, h.checkpoints);
    e.family("ckpt_captures_total", "counter", "Commits captured on this node since ckptd started.");
    e.sample({}, h.captures);

    using Field = std::uint64_t shm::CheckpointStats::*;
    struct Counter {
        const char* name;
        const char* type;
        const char* help;
        Field field;
    };
    static const Counter kCounters[] = {
        {"ckpt_epoch", "gauge", "The checkpoint's epoch (raised by each promotion).", &shm::CheckpointStats::epoch},
        {"ckpt_bytes_used", "gauge", "Bytes the checkpoint's sections reserve.", &shm::CheckpointStats::bytes_used},
        {"ckpt_commit_seq", "gauge", "The checkpoint's change-log head.", &shm::CheckpointStats::commit_seq},
        {"ckpt_commits_total", "counter", "Commits captured (active) or applied (standby).",
         &shm::CheckpointStats::commits},
        {"ckpt_dirty_bytes_total", "counter", "Bytes of the dirty blocks commits copied into the committed copy.",
         &shm::CheckpointStats::dirty_bytes},
        {"ckpt_rollbacks_total", "counter", "Sections restored after their writer died mid-write.",
         &shm::CheckpointStats::rollbacks},
        {"ckpt_corruptions_total", "counter", "Sections marked corrupted.", &shm::CheckpointStats::corruptions},
        {"ckpt_commits_sent_total", "counter", "Commits shipped to standbys (one per standby).",
         &shm::CheckpointStats::commits_sent},
        {"ckpt_data_frames_total", "counter", "DATA frames of those commits.", &shm::CheckpointStats::data_frames},
        {"ckpt_data_bytes_total", "counter", "Changed bytes those frames carried.", &shm::CheckpointStats::data_bytes},
        {"ckpt_wire_bytes_total", "counter", "Those frames whole, headers included.",
         &shm::CheckpointStats::wire_bytes},
        {"ckpt_commits_acked_total", "counter", "Commits every required standby applied.",
         &shm::CheckpointStats::commits_acked},
        {"ckpt_commits_applied_total", "counter", "Standby: whole commits applied.",
         &shm::CheckpointStats::commits_applied},
        {"ckpt_commits_lost_total", "counter",
         "Commits captured here as the active, given up unacknowledged when it stepped down.",
         &shm::CheckpointStats::commits_lost},
        {"ckpt_segment_resizes_total", "counter",
         "Times ckptd found the DATA segment resized by a client and restored its size.",
         &shm::CheckpointStats::segment_resizes},
        {"ckpt_replication_lag_commits", "gauge", "Commits not yet applied by every required standby.",
         &shm::CheckpointStats::lag_commits},
        {"ckpt_replication_lag_bytes", "gauge", "Changed bytes of those commits.", &shm::CheckpointStats::lag_bytes},
    };
    for (const auto& k : kCounters) {
        e.family(k.name, k.type, k.help);
        for (const auto& c : s.checkpoints) e.sample({{"checkpoint", printable_name(c.name())}}, c.stats.*k.field);
    }
    e.family("ckpt_sections", "gauge", "Sections in the checkpoint.");
    for (const auto& c : s.checkpoints) e.sample({{"checkpoint", printable_name(c.name())}}, c.stats.sections);
    e.family("ckpt_role", "gauge", "1 for the checkpoint's role on this node (local, active or standby).");
    for (const auto& c : s.checkpoints)
        e.sample({{"checkpoint", printable_name(c.name())}, {"role", std::string(role_name(c.stats.role))}}, 1);
    e.family("ckpt_ack_latency_seconds", "summary",
             "Capture to acknowledged by every required standby, per commit, since ckptd started.");
    for (const auto& c : f.checkpoints) {
        const auto& a = c.ack_cumulative;
        e.sample({{"checkpoint", printable_name(c.name)}, {"quantile", "0.5"}}, seconds(a.p50_ns));
        e.sample({{"checkpoint", printable_name(c.name)}, {"quantile", "0.99"}}, seconds(a.p99_ns));
        e.sample({{"checkpoint", printable_name(c.name)}, {"quantile", "0.999"}}, seconds(a.p999_ns));
        e.sample({{"checkpoint", printable_name(c.name)}}, seconds(a.sum_ns), "_sum");
        e.sample({{"checkpoint", printable_name(c.name)}}, a.count, "_count");
    }
    e.family("ckpt_peer_lag_commits", "gauge", "Commits a standby has not applied yet.");
    for (const auto& c : s.checkpoints)
        for (std::uint32_t i = 0; i < c.stats.peer_count; ++i)
            e.sample({{"checkpoint", printable_name(c.name())}, {"peer", std::to_string(c.stats.peers[i].node_id)}},
                     c.stats.peers[i].commits);
    e.family("ckpt_peer_lag_bytes", "gauge", "Changed bytes of those commits.");
    for (const auto& c : s.checkpoints)
        for (std::uint32_t i = 0; i < c.stats.peer_count; ++i)
            e.sample({{"checkpoint", printable_name(c.name())}, {"peer", std::to_string(c.stats.peers[i].node_id)}},
                     c.stats.peers[i].bytes);

    if (l.transport == shm::kStatsTransportNone) return;
    using PeerField = std::uint64_t shm::PeerStats::*;
    struct PeerCounter {
        const char* name;
        const char* help;
        PeerField field;
    };
    static const PeerCounter kPeerCounters[] = {
        {"ckpt_peer_rx_packets_total", "Valid frames received from the peer.", &shm::PeerStats::rx_frames},
        {"ckpt_peer_rx_bytes_total", "Their bytes (whole Ethernet frames).", &shm::PeerStats::rx_bytes},
        {"ckpt_peer_tx_packets_total", "Frames sent to the peer.", &shm::PeerStats::tx_frames},
        {"ckpt_peer_tx_bytes_total", "Their bytes (whole Ethernet frames).", &shm::PeerStats::tx_bytes},
        {"ckpt_peer_retransmits_total", "Frames sent to the peer again.", &shm::PeerStats::retransmits},
        {"ckpt_peer_nacks_received_total", "NACKs the peer sent.", &shm::PeerStats::nacks_received},
        {"ckpt_peer_duplicates_total", "Duplicate frames from the peer, discarded.", &shm::PeerStats::duplicates},
        {"ckpt_peer_restarts_total", "Times the peer's engine restarted.", &shm::PeerStats::restarts},
    };
    e.family("ckpt_peer_up", "gauge", "1 when the peer is up.");
    for (const auto& p : s.node.peers) e.sample({{"peer", std::to_string(p.node_id)}}, p.state == shm::kPeerUp ? 1 : 0);
    e.family("ckpt_peer_last_heard_seconds", "gauge", "Time since the last frame from the peer (-1: never).");
    for (const auto& p : s.node.peers)
        e.sample({{"peer", std::to_string(p.node_id)}}, p.last_heard_mono_ns == 0
                                                            ? std::string("-1")
                                                            : seconds(static_cast<std::uint64_t>(std::max<std::int64_t>(
                                                                  0, h.published_mono_ns - p.last_heard_mono_ns))));
    for (const auto& k : kPeerCounters) {
        e.family(k.name, "counter", k.help);
        for (const auto& p : s.node.peers) e.sample({{"peer", std::to_string(p.node_id)}}, p.*k.field);
    }
    e.family("ckpt_link_rx_packets_total", "counter", "Frames the carrier received.");
    e.sample({}, l.carrier.rx_packets);
    e.family("ckpt_link_rx_bytes_total", "counter", "Bytes the carrier received.");
    e.sample({}, l.carrier.rx_bytes);
    e.family("ckpt_link_tx_packets_total", "counter", "Frames the carrier sent.");
    e.sample({}, l.carrier.tx_packets);
    e.family("ckpt_link_tx_bytes_total", "counter", "Bytes the carrier sent.");
    e.sample({}, l.carrier.tx_bytes);
    e.family("ckpt_link_drops_total", "counter", "Frames lost on this node: TX refused, RX missed, fault shim drops.");
    e.sample({}, link_drops(l));
    e.family("ckpt_link_rejected_frames_total", "counter", "Received frames refused by validation, by reason.");
    for (std::uint32_t r = 1; r <= kRejectReasons; ++r)
        e.sample({{"reason", std::string(reject_reason_name(r))}}, l.rejected[r]);
    e.family("ckpt_replication_stale_epoch_total", "counter", "Frames from an older epoch, refused.");
    e.sample({}, l.stale_epoch);
    e.family("ckpt_fault_dropped_frames_total", "counter", "Frames the fault shim dropped (tests).");
    e.sample({{"direction", "tx"}}, l.fault_tx.dropped);
    e.sample({{"direction", "rx"}}, l.fault_rx.dropped);
    e.family("ckpt_fault_corrupted_frames_total", "counter", "Frames the fault shim corrupted (tests).");
    e.sample({{"direction", "tx"}}, l.fault_tx.corrupted);
    e.sample({{"direction", "rx"}}, l.fault_rx.corrupted);
}

} // namespace ckpt::tools

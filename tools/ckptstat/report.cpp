#include "report.hpp"

#include "ckpt/common/attributes.hpp"
#include "format.hpp"

#include <cinttypes>
#include <cstdio>
#include <string>

namespace ckpt::tools {

namespace {

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string num(std::uint64_t v) {
    return std::to_string(v);
}

std::string latency_cell(const Latency& l, std::uint64_t Latency::*field) {
    return l.count == 0 ? "-" : format_duration_ns(l.*field);
}

Table checkpoint_table(const Figures& f) {
    Table t({{"NAME"},
             {"ROLE"},
             {"EPOCH", Align::kRight},
             {"MODE"},
             {"SECTIONS", Align::kRight},
             {"BYTES", Align::kRight},
             {"COMMITS", Align::kRight},
             {"COMMITS/S", Align::kRight},
             {"DIRTY_B/S", Align::kRight},
             {"WIRE_B/S", Align::kRight},
             {"DELTA", Align::kRight},
             {"ACK_P50", Align::kRight},
             {"ACK_P99", Align::kRight},
             {"ACK_P99.9", Align::kRight},
             {"OPEN", Align::kRight},
             {"FLAGS"}});
    for (const auto& c : f.checkpoints) {
        const auto& s = *c.stats;
        const auto mode = static_cast<UpdateMode>(s.creation_flags & kUpdateModeMask);
        t.add_row({printable_name(c.name), std::string(role_name(s.role)), num(s.epoch),
                   std::string(format_update_mode(mode)), format_fraction(s.sections, s.max_sections),
                   format_fraction(s.bytes_used, s.checkpoint_size), num(s.commits), fixed(c.commits_per_s, 1),
                   fixed(c.dirty_bytes_per_s, 0), fixed(c.wire_bytes_per_s, 0),
                   c.delta_ratio ? fixed(*c.delta_ratio, 3) : "-", latency_cell(c.ack, &Latency::p50_ns),
                   latency_cell(c.ack, &Latency::p99_ns), latency_cell(c.ack, &Latency::p999_ns),
                   c.summary ? num(c.summary->open_handles) : "-",
                   c.summary ? format_checkpoint_flags(*c.summary) : "-"});
        if (c.summary && !c.summary->damage.empty()) t.add_note("  damaged: " + c.summary->damage);
        if (s.segment_resizes)
            t.add_note("  resized: a client changed the size of the DATA segment " + num(s.segment_resizes) +
                       " time(s); ckptd restored it (its log names the checkpoint)");
        if (s.commits_lost)
            t.add_note("  lost: " + num(s.commits_lost) +
                       " commit(s) captured here as the active and given up unacknowledged when it stepped down "
                       "(ckptd's log names them)");
    }
    return t;
}

Table lag_table(const Sample& s) {
    Table t({{"CHECKPOINT"},
             {"PEER", Align::kRight},
             {"STATE"},
             {"LAG_COMMITS", Align::kRight},
             {"LAG_BYTES", Align::kRight},
             {"LAG_TIME", Align::kRight}});
    const std::int64_t at = s.node.header.published_mono_ns;
    for (const auto& c : s.checkpoints) {
        for (std::uint32_t i = 0; i < c.stats.peer_count; ++i) {
            const auto& l = c.stats.peers[i];
            const std::uint64_t age =
                l.oldest_mono_ns == 0 ? 0
                                      : static_cast<std::uint64_t>(std::max<std::int64_t>(0, at - l.oldest_mono_ns));
            t.add_row({printable_name(c.name()), num(l.node_id), std::string(member_state_name(l.state)),
                       num(l.commits), num(l.bytes), format_duration_ns(age)});
        }
    }
    return t;
}

Table peer_table(const Sample& s) {
    Table t({{"PEER", Align::kRight},
             {"STATE"},
             {"LAST_HEARD", Align::kRight},
             {"RX_PKTS", Align::kRight},
             {"RX_BYTES", Align::kRight},
             {"TX_PKTS", Align::kRight},
             {"TX_BYTES", Align::kRight},
             {"RETRANS", Align::kRight},
             {"NACKS", Align::kRight},
             {"DUPS", Align::kRight},
             {"RESTARTS", Align::kRight}});
    const std::int64_t at = s.node.header.published_mono_ns;
    for (const auto& p : s.node.peers) {
        const std::string heard =
            p.last_heard_mono_ns == 0
                ? "never"
                : format_duration_ns(static_cast<std::uint64_t>(std::max<std::int64_t>(0, at - p.last_heard_mono_ns)));
        t.add_row({num(p.node_id), std::string(peer_state_name(p.state)), heard, num(p.rx_frames), num(p.rx_bytes),
                   num(p.tx_frames), num(p.tx_bytes), num(p.retransmits), num(p.nacks_received), num(p.duplicates),
                   num(p.restarts)});
    }
    return t;
}

Table link_table(const Sample& s) {
    Table t({{"TRANSPORT"},
             {"RX_PKTS", Align::kRight},
             {"RX_BYTES", Align::kRight},
             {"TX_PKTS", Align::kRight},
             {"TX_BYTES", Align::kRight},
             {"DROPS", Align::kRight},
             {"FAULT_DROPS", Align::kRight},
             {"REJ_HASH", Align::kRight},
             {"REJ_REPLAY", Align::kRight},
             {"REJ_SOURCE", Align::kRight},
             {"REJ_EPOCH", Align::kRight},
             {"REJ_OTHER", Align::kRight}});
    const auto& l = s.node.link;
    std::uint64_t other = 0;
    for (std::uint32_t i = 0; i < shm::kStatsRejectReasons; ++i)
        if (i != kRejectBadHash && i != kRejectReplayed && i != kRejectStaleSession && i != kRejectWrongSource)
            other += l.rejected[i];
    t.add_row({std::string(transport_name(l.transport)), num(l.carrier.rx_packets), num(l.carrier.rx_bytes),
               num(l.carrier.tx_packets), num(l.carrier.tx_bytes), num(link_drops(l)),
               num(l.fault_tx.dropped + l.fault_rx.dropped), num(l.rejected[kRejectBadHash]),
               num(l.rejected[kRejectReplayed] + l.rejected[kRejectStaleSession]), num(l.rejected[kRejectWrongSource]),
               num(l.stale_epoch), num(other)});
    return t;
}

} // namespace

std::string format_duration_ns(std::uint64_t ns) {
    if (ns < 1000) return std::to_string(ns) + "ns";
    if (ns < 1'000'000) return fixed(static_cast<double>(ns) / 1e3, 1) + "us";
    if (ns < 1'000'000'000) return fixed(static_cast<double>(ns) / 1e6, 2) + "ms";
    return fixed(static_cast<double>(ns) / 1e9, 2) + "s";
}

void render_screen(std::ostream& out, const Sample& s, const Figures& f) {
    const auto& h = s.node.header;
    out << "node " << h.node_id << "  pid " << h.engine_pid << "  uptime "
        << format_duration_ns(static_cast<std::uint64_t>(f.uptime_ns)) << "  transport "
        << transport_name(s.node.link.transport) << "  checkpoints " << h.checkpoints;
    if (h.untracked) out << " (" << h.untracked << " without stats: stats_checkpoints)";
    out << "  rates over " << fixed(f.seconds, 2) << "s" << (f.since_start ? " (since start)" : "") << '\n';
    out << '\n';
    checkpoint_table(f).render(out);
    const Table lag = lag_table(s);
    if (lag.rows()) {
        out << '\n';
        lag.render(out);
    }
    if (s.node.link.transport != shm::kStatsTransportNone) {
        out << '\n';
        peer_table(s).render(out);
        out << '\n';
        link_table(s).render(out);
    }
    if (s.sections) {
        out << '\n';
        section_table(*s.sections).render(out);
    }
}

Table section_table(const std::vector<shm::SectionInfo>& sections) {
    Table t({{"ID"},
             {"SIZE", Align::kRight},
             {"CAPACITY", Align::kRight},
             {"SEQ", Align::kRight},
             {"STATE"},
             {"EXPIRES"},
             {"LAST_UPDATE"}});
    for (const auto& s : sections) {
        t.add_row({format_section_id(s.id), std::to_string(s.committed_size), std::to_string(s.capacity),
                   std::to_string(s.captured_seq), format_section_state(s.state), format_time_ns(s.expiration_ns),
                   format_time_ns(s.last_update_ns)});
    }
    return t;
}

} // namespace ckpt::tools

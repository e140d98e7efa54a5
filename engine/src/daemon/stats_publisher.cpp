// Publishing the engine's counters into the stats region of NODE (shm/stats_layout.hpp), so
// ckptstat reads them from shared memory at no cost to the engine. Timer path: every
// stats_interval_ms the engine copies what its components count privately (checkpoints, the
// peer link, its streams, the carrier, the fault shim, the replicator) into the region, each part
// under its seqlock. Nothing here runs per commit; the commit path only bumps private counters.
#include "daemon/stats_publisher.hpp"
#include "ckpt/net/fault_shim.hpp"
#include "ckpt/shm/atomics.hpp"
#include "link/peer_link.hpp"
#include "replication/replicator.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace ckpt::engine {

using namespace ckpt::shm;

namespace {

std::uint32_t transport_kind(net::Carrier t) {
    switch (t) {
    case net::Carrier::kMemif:
        return kStatsTransportMemif;
    case net::Carrier::kAfPacket:
        return kStatsTransportAfPacket;
    case net::Carrier::kPci:
        return kStatsTransportPci;
    case net::Carrier::kUdp:
        return kStatsTransportUdp;
    case net::Carrier::kNone:
        break;
    }
    return kStatsTransportNone;
}

FaultStats fault_stats(const net::FaultCounters& c) {
    return {c.frames, c.dropped, c.duplicated, c.reordered, c.corrupted, c.delayed, c.unsent, 0};
}

void fill_link(LinkStats& l, const PeerLink& link, const ReplicationCounters& r) {
    const net::TransportStats t = link.transport().stats();
    l.rx_packets = t.rx_packets;
    l.tx_packets = t.tx_packets;
    l.rx_bytes = t.rx_bytes;
    l.tx_bytes = t.tx_bytes;
    l.rx_missed = t.rx_missed;
    l.rx_errors = t.rx_errors;
    l.tx_errors = t.tx_errors;
    const LinkCounters& c = link.counters();
    l.rx_frames = c.rx_frames;
    l.tx_frames = c.tx_frames;
    l.tx_dropped = c.tx_dropped;
    l.not_for_us = c.not_for_us;
    l.unknown_peer = c.unknown_peer;
    l.not_up = c.not_up;
    l.acks_sent = c.acks_sent;
    l.nacks_sent = c.nacks_sent;
    std::copy(std::begin(c.rejected), std::end(c.rejected), l.rejected);
    l.stale_epoch = r.stale_epoch;
    l.not_from_active = r.not_from_active;
    l.unknown_checkpoint = r.unknown_checkpoint;
    l.bad_commits = r.bad_commits;
    l.resyncs = r.resyncs;
    l.resync_blocks = r.resync_blocks;
    l.resync_bytes = r.resync_bytes;
    l.resync_blocks_same = r.resync_blocks_same;
    l.promotions = r.promotions;
    l.demotions = r.demotions;
    l.refusals_sent = r.refusals_sent;
    l.refusals_received = r.refusals_received;
    l.transport = transport_kind(link.config().transport);
    if (const auto* shim = dynamic_cast<const net::FaultShim*>(&link.transport())) {
        l.fault_enabled = 1;
        l.fault_tx = fault_stats(shim->tx_counters());
        l.fault_rx = fault_stats(shim->rx_counters());
    }
}

void fill_peer(PeerStats& s, const PeerStatus& p) {
    s = {};
    s.node_id = p.node_id;
    s.state = static_cast<std::uint32_t>(p.state);
    s.last_heard_mono_ns = p.last_heard_ns;
    s.restarts = p.restarts;
    s.rx_frames = p.rx_frames;
    s.tx_frames = p.tx_frames;
    s.rx_bytes = p.rx_bytes;
    s.tx_bytes = p.tx_bytes;
    const StreamCounters& c = p.stream.counters();
    s.sent = c.sent;
    s.retransmits = c.retransmits;
    s.timeouts = c.timeouts;
    s.acked = c.acked;
    s.nacks_received = c.nacks_received;
    s.delivered = c.delivered;
    s.duplicates = c.duplicates;
    s.reordered = c.reordered;
    s.stale = c.stale;
    s.beyond_window = c.beyond_window;
    s.nacks_sent = c.nacks_sent;
    s.in_flight = p.stream.in_flight();
    s.backlog = p.stream.backlog();
}

} // namespace

void StatsPublisher::init(std::byte* region, std::uint32_t checkpoints, std::uint32_t node_id, std::int64_t started_ns,
                          std::uint32_t interval_ms) {
    stats_ = StatsWriter::init(region, checkpoints, node_id, static_cast<std::uint32_t>(::getpid()), started_ns,
                               interval_ms);
    interval_ms_ = interval_ms;
    stats_free_.clear();
    for (std::uint32_t i = checkpoints; i-- > 0;) stats_free_.push_back(i); // slot 0 first
    stats_scratch_ = std::make_unique<CheckpointStats>();
}

void StatsPublisher::publish(std::int64_t now_ns, const std::vector<std::shared_ptr<Checkpoint>>& all, Replicator* repl,
                             const PeerLink* peer_link, std::uint64_t captures) {
    if (!stats_ || now_ns < next_stats_ns_) return;
    next_stats_ns_ = now_ns + std::int64_t{interval_ms_} * 1'000'000;
    const std::uint64_t round = ++stats_round_;

    // Slots: every checkpoint keeps the one it got until it goes; one that finds none is counted.
    std::uint32_t untracked = 0;
    for (const auto& c : all) {
        auto [it, added] = stats_slots_.try_emplace(c->meta().header().incarnation);
        if (added) {
            if (stats_free_.empty()) {
                stats_slots_.erase(it);
                ++untracked;
                continue;
            }
            it->second.slot = stats_free_.back();
            stats_free_.pop_back();
        }
        it->second.round = round;
        it->second.figures = nullptr;
    }
    for (auto it = stats_slots_.begin(); it != stats_slots_.end();) {
        if (it->second.round == round) {
            ++it;
            continue;
        }
        stats_.clear_checkpoint(it->second.slot);
        stats_free_.push_back(it->second.slot);
        it = stats_slots_.erase(it);
    }
    if (repl) {
        repl->collect_stats([&](const Checkpoint& c, const CheckpointFigures& f) {
            if (auto it = stats_slots_.find(c.meta().header().incarnation); it != stats_slots_.end())
                it->second.figures = &f;
        });
    }

    CheckpointStats& s = *stats_scratch_;
    for (const auto& c : all) {
        auto it = stats_slots_.find(c->meta().header().incarnation);
        if (it == stats_slots_.end()) continue;
        StatsSlot& slot = it->second;
        std::memset(&s, 0, offsetof(CheckpointStats, ack_latency)); // the head; the histogram is apart
        s.state = kStatsSlotUsed;
        const std::string& name = c->name();
        s.name_len = static_cast<std::uint32_t>(std::min<std::size_t>(name.size(), kStatsNameMax));
        std::memcpy(s.name, name.data(), s.name_len);
        const MetaView& m = c->meta();
        const MetaHeader& h = m.header();
        s.incarnation = h.incarnation;
        s.role = c->role();
        s.creation_flags = c->attributes().creation_flags;
        s.epoch = m.epoch();
        s.sections = m.section_count();
        s.max_sections = c->attributes().max_sections;
        s.bytes_used = m.bytes_used();
        s.checkpoint_size = c->attributes().checkpoint_size;
        s.commit_seq = m.commit_seq();
        const CheckpointCounters& k = c->counters();
        s.commits = k.captures;
        s.dirty_bytes = k.captured_bytes;
        s.rollbacks = k.rollbacks;
        s.corruptions = k.corruptions;
        s.segment_resizes = k.segment_resizes;
        s.lag_commits = load_relaxed(h.repl_lag_commits); // our own words: no ordering needed
        s.lag_bytes = load_relaxed(h.repl_lag_bytes);
        s.replicas = load_relaxed(h.replicas);
        s.sync_blocked = load_relaxed(h.sync_blocked);
        const LatencyHistogram* hist = nullptr;
        if (const auto* f = slot.figures) {
            s.commits_sent = f->commits_sent;
            s.data_frames = f->data_frames;
            s.data_bytes = f->data_bytes;
            s.wire_bytes = f->wire_bytes;
            s.commits_acked = f->commits_acked;
            s.commits_applied = f->commits_applied;
            s.commits_lost = f->commits_lost;
            s.peer_count = f->peer_count;
            std::copy_n(f->peers, f->peer_count, s.peers);
            if (f->ack_latency.count != slot.hist_count) {
                hist = &f->ack_latency; // 7.7 KB: copied only when a commit was acknowledged since
                slot.hist_count = f->ack_latency.count;
            }
        }
        stats_.publish_checkpoint(slot.slot, s, hist);
    }

    // The node part.
    StatsHeader hdr{};
    hdr.publications = round;
    hdr.published_mono_ns = now_ns;
    hdr.published_ns = now_realtime_ns();
    hdr.captures = captures;
    hdr.checkpoints = static_cast<std::uint32_t>(all.size());
    hdr.untracked = untracked;
    LinkStats link{};
    PeerStats peers[kStatsMaxPeers];
    std::uint32_t n = 0;
    if (peer_link) {
        fill_link(link, *peer_link, repl->counters());
        for (const auto& p : peer_link->peers()) {
            if (n == kStatsMaxPeers) break;
            fill_peer(peers[n++], p);
        }
    }
    stats_.publish_node(hdr, link, peers, n);
}

} // namespace ckpt::engine

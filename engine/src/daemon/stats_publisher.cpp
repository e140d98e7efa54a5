// Publishing the engine's counters into the stats region of NODE (shm/stats_layout.hpp), so
// ckptstat reads them from shared memory at no cost to the engine. Timer path (and STATS): the
// components count into private instances of the region's structs (a checkpoint's
// CheckpointStats, the link's LinkStats, each stream's PeerStats, the replicator's
// ReplicationTotals); each is copied into the region whole, each part under its seqlock. Nothing
// here runs per commit; the commit path only bumps private counters.
#include "daemon/stats_publisher.hpp"
#include "ckpt/shm/atomics.hpp"
#include "link/peer_link.hpp"
#include "replication/replicator.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace ckpt::engine {

using namespace ckpt::shm;

namespace {

/// A peer's figures as its stream holds them, with its identity and gauges.
PeerStats peer_stats(const PeerStatus& p) {
    PeerStats s = p.stream.counters();
    s.node_id = p.node_id;
    s.state = static_cast<std::uint32_t>(p.state);
    s.last_heard_mono_ns = p.last_heard_ns;
    s.in_flight = p.stream.in_flight();
    s.backlog = p.stream.backlog();
    return s;
}

} // namespace

void StatsPublisher::init(std::byte* region, std::uint32_t checkpoints, std::uint32_t node_id, std::int64_t started_ns,
                          std::uint32_t interval_ms) {
    stats_ = StatsWriter::init(region, checkpoints, node_id, static_cast<std::uint32_t>(::getpid()), started_ns,
                               interval_ms);
    interval_ms_ = interval_ms;
    stats_free_.clear();
    for (std::uint32_t i = checkpoints; i-- > 0;) stats_free_.push_back(i); // slot 0 first
}

void StatsPublisher::publish(std::int64_t now_ns, const std::vector<std::shared_ptr<Checkpoint>>& all, Replicator* repl,
                             const PeerLink* peer_link, std::uint64_t captures, bool force) {
    if (!stats_ || (now_ns < next_stats_ns_ && !force)) return;
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
    if (repl) repl->refresh_lag_figures();

    for (const auto& c : all) {
        auto it = stats_slots_.find(c->meta().header().incarnation);
        if (it == stats_slots_.end()) continue;
        StatsSlot& slot = it->second;
        // What the checkpoint counted, with its identity and the figures META holds added: then
        // its slot is a copy of it.
        CheckpointStats& s = c->counters();
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
        s.lag_commits = load_relaxed(h.repl_lag_commits); // our own words: no ordering needed
        s.lag_bytes = load_relaxed(h.repl_lag_bytes);
        s.replicas = load_relaxed(h.replicas);
        s.sync_blocked = load_relaxed(h.sync_blocked);
        const LatencyHistogram* hist = nullptr;
        if (s.ack_latency.count != slot.hist_count) {
            hist = &s.ack_latency; // 7.7 KB: copied only when a commit was acknowledged since
            slot.hist_count = s.ack_latency.count;
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
        link = peer_link->stats();
        if (repl) hdr.replication = repl->counters();
        for (const auto& p : peer_link->peers()) {
            if (n == kStatsMaxPeers) break;
            peers[n++] = peer_stats(p);
        }
    }
    stats_.publish_node(hdr, link, peers, n);
}

} // namespace ckpt::engine

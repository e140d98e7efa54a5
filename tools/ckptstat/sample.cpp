#include "sample.hpp"

#include <unistd.h>

#include <algorithm>

namespace ckpt::tools {

namespace {

/// The percentiles of a histogram.
Latency latency_of(const shm::LatencyHistogram& h) {
    return {h.count,
            h.sum_ns,
            shm::histogram_percentile(h, 0.50),
            shm::histogram_percentile(h, 0.99),
            shm::histogram_percentile(h, 0.999),
            h.max_ns};
}

/// What `cur` recorded since `prev` (the same checkpoint's earlier copy): bucket by bucket. Its
/// extremes are not known, so they are bounded by the buckets that gained values.
Latency latency_between(const shm::LatencyHistogram& cur, const shm::LatencyHistogram& prev) {
    if (cur.count < prev.count) return latency_of(cur); // the engine restarted: all of it is new
    auto d = std::make_unique<shm::LatencyHistogram>();
    d->count = cur.count - prev.count;
    d->sum_ns = cur.sum_ns - prev.sum_ns;
    d->overflow = cur.overflow - prev.overflow;
    bool any = false;
    for (std::uint32_t b = 0; b < shm::kHistBuckets; ++b) {
        d->buckets[b] = cur.buckets[b] - prev.buckets[b];
        if (d->buckets[b] == 0) continue;
        if (!any) d->min_ns = std::max(shm::hist_lower(b), cur.min_ns);
        any = true;
        d->max_ns = std::min(shm::hist_upper(b), cur.max_ns);
    }
    if (d->overflow) d->max_ns = cur.max_ns;
    return latency_of(*d);
}

double per_second(std::uint64_t now, std::uint64_t before, double seconds) {
    return seconds > 0 && now >= before ? static_cast<double>(now - before) / seconds : 0.0;
}

} // namespace

Result<Sample> take_sample(client::Session& session, const shm::StatsView& stats, const std::string& checkpoint) {
    Sample s;
    if (checkpoint.empty()) {
        CKPT_TRY_ASSIGN(list, session.list());
        s.summaries = std::move(list);
    } else {
        // INSPECT names the error the engine gives for a missing or bad name.
        CKPT_TRY_ASSIGN(in, client::inspect(session, checkpoint));
        client::CheckpointSummary summary = in.counters;
        summary.sections = in.meta.section_count();
        summary.bytes_used = in.meta.bytes_used();
        summary.commit_seq = in.meta.commit_seq();
        summary.open_handles = in.open_handles;
        s.summaries.push_back(std::move(summary));
        s.sections = in.meta.list();
    }
    // A checkpoint the engine just made gets its slot at the next publication (stats_interval_ms,
    // or the engine's next wake-up when it sleeps): wait that long for every one LIST named,
    // unless the engine says some have no slot at all.
    for (int tries = 0;; ++tries) {
        auto node = stats.read_node();
        if (!node) return fail(Error::kTryAgain, "the engine kept its stats busy; try again");
        s.node = std::move(*node);
        s.checkpoints.clear();
        if (checkpoint.empty()) {
            s.checkpoints = stats.read_checkpoints();
        } else if (auto c = stats.read_checkpoint(checkpoint)) {
            s.checkpoints.push_back(std::move(*c));
        }
        bool all = true;
        for (const auto& sum : s.summaries) {
            bool found = false;
            for (const auto& c : s.checkpoints) found = found || c.name() == sum.name;
            all = all && found;
        }
        if (all || tries == 50 || (checkpoint.empty() && s.node.header.untracked > 0)) break;
        ::usleep(10'000);
    }
    if (!checkpoint.empty() && s.checkpoints.empty())
        return fail(Error::kTryAgain,
                    "checkpoint '" + checkpoint + "' has no stats slot (every one is taken: see stats_checkpoints)");
    auto by_name = [](const auto& a, const auto& b) { return a.name() < b.name(); };
    std::sort(s.checkpoints.begin(), s.checkpoints.end(), by_name);
    std::sort(s.summaries.begin(), s.summaries.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return s;
}

Figures derive(const Sample& cur, const Sample* prev) {
    Figures f;
    const auto& h = cur.node.header;
    f.uptime_ns = std::max<std::int64_t>(0, h.published_ns - h.started_ns);
    // A previous sample of the same engine run (a restarted engine starts its counters again).
    const bool same_run = prev && prev->node.header.engine_pid == h.engine_pid &&
                          prev->node.header.started_ns == h.started_ns &&
                          prev->node.header.publications <= h.publications;
    f.since_start = !same_run;
    f.seconds = same_run ? static_cast<double>(h.published_mono_ns - prev->node.header.published_mono_ns) / 1e9
                         : static_cast<double>(f.uptime_ns) / 1e9;
    for (const auto& c : cur.checkpoints) {
        CheckpointFigures x;
        x.stats = &c.stats;
        x.name = c.name();
        for (const auto& s : cur.summaries)
            if (s.name == x.name) x.summary = &s;
        static const shm::CheckpointStats kZero{};
        const shm::CheckpointStats* before = &kZero;
        if (same_run)
            for (const auto& p : prev->checkpoints)
                if (p.stats.incarnation == c.stats.incarnation && p.name() == x.name) before = &p.stats;
        const auto& s = c.stats;
        x.commits_per_s = per_second(s.commits, before->commits, f.seconds);
        x.dirty_bytes_per_s = per_second(s.dirty_bytes, before->dirty_bytes, f.seconds);
        x.wire_bytes_per_s = per_second(s.wire_bytes, before->wire_bytes, f.seconds);
        const std::uint64_t dirty = s.dirty_bytes - std::min(s.dirty_bytes, before->dirty_bytes);
        const std::uint64_t commits = s.commits - std::min(s.commits, before->commits);
        const std::uint64_t sent = s.commits_sent - std::min(s.commits_sent, before->commits_sent);
        const std::uint64_t data = s.data_bytes - std::min(s.data_bytes, before->data_bytes);
        // Per standby: a commit goes to each standby, so its dirty bytes could cross the wire
        // commits_sent / commits times.
        if (dirty > 0 && sent > 0 && commits > 0)
            x.delta_ratio = static_cast<double>(data) * static_cast<double>(commits) /
                            (static_cast<double>(dirty) * static_cast<double>(sent));
        x.ack_cumulative = latency_of(s.ack_latency);
        x.ack = before == &kZero ? x.ack_cumulative : latency_between(s.ack_latency, before->ack_latency);
        f.checkpoints.push_back(std::move(x));
    }
    return f;
}

std::string_view role_name(std::uint32_t role) {
    switch (role) {
    case shm::kRoleLocal:
        return "local";
    case shm::kRoleActive:
        return "active";
    case shm::kRoleStandby:
        return "standby";
    default:
        return "unknown";
    }
}

std::string_view member_state_name(std::uint32_t state) {
    switch (state) {
    case shm::kMemberDown:
        return "down";
    case shm::kMemberResync:
        return "resync";
    case shm::kMemberInSync:
        return "in-sync";
    default:
        return "?";
    }
}

std::string_view reject_reason_name(std::uint32_t reason) {
    static constexpr std::string_view kNames[] = {"none",       "too_short",     "not_ipv4",    "not_udp",
                                                  "wrong_port", "bad_length",    "bad_magic",   "bad_version",
                                                  "bad_hash",   "unknown_type",  "bad_body",    "unknown_key",
                                                  "replayed",   "stale_session", "wrong_source"};
    return reason < std::size(kNames) ? kNames[reason] : "other";
}

std::uint64_t link_drops(const shm::LinkStats& l) {
    return l.tx_dropped + l.carrier.rx_missed + l.fault_tx.dropped + l.fault_rx.dropped;
}

} // namespace ckpt::tools

#include "link/peer_stream.hpp"

#include <algorithm>
#include <climits>

namespace ckpt::engine {

void PeerStream::enqueue(net::FrameBuf frame, Completion c) {
    backlog_.push_back(TxFrame{next_link_seq(), std::move(frame), c});
    ++tx_next_;
}

std::size_t PeerStream::pick(std::int64_t now_ns, Picks& out, std::size_t budget) {
    out.n = 0;
    out.new_frames = 0;
    out.nacks_left = false;
    const std::size_t cap = std::min<std::size_t>(budget, net::TxBurst::kMaxBurst);
    if (cap == 0) return 0;
    // Retransmissions first: the receiver delivers in order, so a hole holds everything behind it.
    // What a NACK asked for goes at once.
    if (nacked_) {
        for (TxFrame& f : unacked_) {
            if (!f.resend || f.sacked) continue;
            if (out.n == cap) {
                out.nacks_left = true; // nacked_ stays set: the rest goes in the next burst
                return out.n;
            }
            out.at[out.n++] = {&f, Picks::kNacked};
        }
    }
    // The timer resends the oldest frame not known to have arrived, and the holes selective ACKs
    // revealed (frames older than one the receiver has are lost, not late). Frames after the
    // last one known to have arrived may just be late: resending the whole window on every
    // timeout turned a few milliseconds of a descheduled standby into thousands of spurious
    // copies. Those wait until they are the oldest (the ACK a probe draws clocks them out).
    bool oldest = true;
    for (TxFrame& f : unacked_) {
        if (f.sacked) continue;
        if (!oldest && f.link_seq > highest_sacked_) break;
        const std::int64_t rto = backed_off(f.tries);
        if (f.resend && nacked_) {
            if (oldest) break; // resent now for its NACK: not due, and nothing behind it is
        } else if (now_ns - f.sent_ns >= rto) {
            if (out.n == cap) return out.n;
            out.at[out.n++] = {&f, Picks::kTimedOut};
        } else if (oldest && f.sent_ns != now_ns) {
            // The oldest is not due: nothing behind it is either. (One resent by an earlier burst
            // of this same transmission is not due, and the holes behind it still are.)
            break;
        }
        oldest = false;
    }
    for (std::size_t i = 0; i < backlog_.size() && unacked_.size() + out.new_frames < cfg_.window && out.n < cap; ++i) {
        out.at[out.n++] = {&backlog_[i], Picks::kNew};
        ++out.new_frames;
    }
    return out.n;
}

net::FrameBuf& PeerStream::picked(Picks& p, std::size_t i) {
    return static_cast<TxFrame*>(p.at[i].frame)->bytes;
}

void PeerStream::sent(std::int64_t now_ns, Picks& p, std::size_t accepted) {
    bool nack_unsent = p.nacks_left;
    for (std::size_t i = 0; i < p.n; ++i) {
        TxFrame& f = *static_cast<TxFrame*>(p.at[i].frame);
        if (i >= accepted) {
            if (p.at[i].why == Picks::kNacked) nack_unsent = true;
            continue;
        }
        f.sent_ns = now_ns;
        switch (p.at[i].why) {
        case Picks::kNacked:
            f.resend = false;
            ++f.tries;
            ++counters_.retransmits;
            break;
        case Picks::kTimedOut:
            ++f.tries;
            ++counters_.retransmits;
            ++counters_.timeouts;
            break;
        case Picks::kNew: // the backlog's front, in order
            f.tries = 1;
            unacked_.push_back(std::move(backlog_.front()));
            backlog_.pop_front();
            ++counters_.sent;
            break;
        }
    }
    if (nacked_ && !nack_unsent) nacked_ = false;
}

void PeerStream::sample_rtt(std::int64_t r) {
    // RFC 6298 section 2: alpha 1/8, beta 1/4, K 4; the clock granularity G is the floor.
    if (r < 0) return;
    ++counters_.rtt_samples;
    if (srtt_ == 0) {
        srtt_ = std::max<std::int64_t>(r, 1);
        rttvar_ = r / 2;
    } else {
        const std::int64_t err = srtt_ > r ? srtt_ - r : r - srtt_;
        rttvar_ = rttvar_ - rttvar_ / 4 + err / 4;
        srtt_ = std::max<std::int64_t>(srtt_ - srtt_ / 8 + r / 8, 1);
    }
    rto_ = std::clamp(srtt_ + std::max<std::int64_t>(cfg_.min_rto_ns, 4 * rttvar_), cfg_.min_rto_ns,
                      std::max(cfg_.min_rto_ns, cfg_.max_rto_ns));
}

std::int64_t PeerStream::backed_off(std::uint32_t tries) const {
    const std::uint32_t shift = std::min<std::uint32_t>(tries > 0 ? tries - 1 : 0, 16);
    return std::min(rto_ << shift, std::max(rto_, cfg_.max_rto_ns));
}

bool PeerStream::ack_applies(std::uint64_t cumulative) const {
    if ((cumulative >> kLinkGenerationShift) != tx_gen_) return false; // an old stream's ACK
    // Nothing beyond what was sent can have arrived: such an ACK is from another incarnation.
    return unacked_.empty() || cumulative <= unacked_.back().link_seq;
}

void PeerStream::mark_sacked(std::uint64_t cumulative, std::uint64_t selective) {
    // Selective bits: frames past the hole arrived; do not send them again on timeout.
    for (TxFrame& f : unacked_) {
        if (f.link_seq <= cumulative) continue;
        const std::uint64_t d = f.link_seq - cumulative - 1;
        if (d >= 64) break;
        if (selective & (std::uint64_t{1} << d)) {
            f.sacked = true;
            highest_sacked_ = std::max(highest_sacked_, f.link_seq);
        }
    }
}

void PeerStream::on_nack(std::uint64_t first, std::uint64_t last) {
    ++counters_.nacks_received;
    for (TxFrame& f : unacked_) {
        if (f.link_seq > last) break;
        if (f.link_seq >= first && !f.sacked) f.resend = nacked_ = true;
    }
}

std::vector<Completion> PeerStream::reset_tx() {
    std::vector<Completion> r;
    for (auto* q : {&unacked_, &backlog_})
        for (TxFrame& f : *q)
            if (f.completion.kind) r.push_back(f.completion);
    unacked_.clear();
    backlog_.clear();
    nacked_ = false;
    highest_sacked_ = 0;
    ++tx_gen_;
    tx_next_ = 1;
    return r;
}

std::int64_t PeerStream::next_deadline() const {
    if (nacked_) return 0;
    std::int64_t d = INT64_MAX;
    bool oldest = true;
    for (const TxFrame& f : unacked_) {
        if (f.sacked) continue;
        if (!oldest && f.link_seq > highest_sacked_) break;
        const std::int64_t rto = backed_off(f.tries);
        d = std::min(d, f.sent_ns + rto);
        oldest = false;
    }
    return d;
}

PeerStream::Rx PeerStream::accept(std::uint64_t link_seq, std::span<const std::byte> frame) {
    const std::uint64_t gen = link_seq >> kLinkGenerationShift, n = link_seq & kLinkSeqMask;
    if (gen < rx_gen_ || n == 0) {
        ++counters_.stale;
        return Rx::kStale;
    }
    if (gen > rx_gen_) { // the sender started over: so do we
        rx_gen_ = gen;
        rx_next_ = 1;
        reorder_.clear();
    }
    ack_pending = true;
    if (n < rx_next_ || reorder_.count(n)) {
        ++counters_.duplicates;
        return Rx::kDuplicate;
    }
    if (n > rx_next_) {
        if (n - rx_next_ > cfg_.reorder_limit) {
            ++counters_.beyond_window;
            return Rx::kBeyondWindow;
        }
        reorder_.emplace(n, std::vector<std::byte>(frame.begin(), frame.end()));
        ++counters_.reordered;
        return Rx::kBuffered;
    }
    return Rx::kDeliver;
}

std::pair<std::uint64_t, std::uint64_t> PeerStream::ack_fields() const {
    const std::uint64_t base = rx_gen_ << kLinkGenerationShift;
    std::uint64_t sel = 0;
    for (const auto& [n, f] : reorder_) {
        const std::uint64_t d = n - rx_next_; // bit i: rx_next_ + i, i.e. cumulative + 1 + i
        if (d >= 64) break;
        sel |= std::uint64_t{1} << d;
    }
    return {base | (rx_next_ - 1), sel};
}

bool PeerStream::nack_due(std::int64_t now_ns, std::int64_t interval_ns, std::uint64_t& first, std::uint64_t& last) {
    if (reorder_.empty()) return false;
    const std::uint64_t base = rx_gen_ << kLinkGenerationShift;
    const std::uint64_t f = base | rx_next_, l = base | (reorder_.begin()->first - 1);
    if (f == last_nack_first_ && now_ns - last_nack_ns_ < interval_ns) return false;
    last_nack_ns_ = now_ns;
    last_nack_first_ = f;
    first = f;
    last = l;
    ++counters_.nacks_sent;
    return true;
}

void PeerStream::reset_rx() {
    rx_gen_ = 0;
    rx_next_ = 1;
    reorder_.clear();
    ack_pending = false;
    // The NACK rate limit is receive state too: the restarted peer's numbering can leave a gap at
    // the very link_seq NACKed just before the reset, and that NACK must not be held back.
    last_nack_ns_ = 0;
    last_nack_first_ = 0;
}

} // namespace ckpt::engine

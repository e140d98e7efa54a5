#pragma once
/// One direction-pair of the reliable, ordered replication stream with one peer: the sender side
/// numbers frames, keeps them until acknowledged, bounds what is in flight with a window and sends
/// again on timeout or NACK; the receiver side delivers frames strictly in order (buffering a few
/// that overtook a gap), and says what arrived with cumulative + selective ACKs and what is
/// missing with NACKs. Pure logic with no I/O or clock of its own, so it is tested with simulated
/// loss, duplication and reordering (tests/unit/test_peer_stream.cpp).
///
/// link_seq = generation << 48 | n, n = 1, 2, ... A sender starts a new generation when it gives
/// up on the stream (the peer was declared down or restarted); a receiver that sees a newer
/// generation drops what it buffered and starts over at n = 1. Frames of an older generation are
/// stale and ignored.
#include "ckpt/engine/link_config.hpp"
#include "ckpt/net/frame_pool.hpp"
#include "ckpt/shm/stats_layout.hpp"
#include "link/frame_ring.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <utility>
#include <vector>

namespace ckpt::engine {

inline constexpr unsigned kLinkGenerationShift = 48;
inline constexpr std::uint64_t kLinkSeqMask = (std::uint64_t{1} << kLinkGenerationShift) - 1;

/// What the sender learns when a frame is acknowledged (opaque to the stream).
struct Completion {
    std::uint8_t kind = 0; ///< 0: none
    std::uint64_t id = 0;
    std::uint32_t extent = 0; ///< a frame that completes several things: ids id .. id + extent (kind says how)
};

class PeerStream {
public:
    explicit PeerStream(StreamConfig cfg = {}) : cfg_(cfg) {}
    // Move-only (it owns frame buffers); noexcept, so that a vector of peers moves them when it grows.
    PeerStream(PeerStream&&) noexcept = default;
    PeerStream& operator=(PeerStream&&) noexcept = default;
    PeerStream(const PeerStream&) = delete;
    PeerStream& operator=(const PeerStream&) = delete;

    // ---- sender ----
    /// The link_seq the next enqueued frame must carry (it is part of the frame's hash).
    std::uint64_t next_link_seq() const { return (tx_gen_ << kLinkGenerationShift) | tx_next_; }
    /// Queues an encoded frame carrying next_link_seq(), in a carrier buffer (net::FramePool) that
    /// the stream keeps until the frame is acknowledged: a retransmission sends it again.
    void enqueue(net::FrameBuf frame, Completion c);
    /// The frame enqueued last, while it still carries `link_seq` and was never picked for
    /// transmission (it waits in the backlog): its sender may still grow it (small commits
    /// coalesced into one frame, docs/PROTOCOL.md "Batches"). nullptr otherwise: once a frame went
    /// out, its bytes are what a retransmission sends again and never change.
    net::FrameBuf* untransmitted_tail(std::uint64_t link_seq) {
        if (backlog_.empty() || backlog_.back().link_seq != link_seq) return nullptr;
        return &backlog_.back().bytes;
    }
    /// The completion of untransmitted_tail()'s frame (it now completes more).
    void set_tail_completion(Completion c) { backlog_.back().completion = c; }

    /// The frames of one burst, picked by pick() and settled by sent(): at most
    /// net::TxBurst::kMaxBurst, no allocation.
    struct Picks {
        enum Why : std::uint8_t { kNacked, kTimedOut, kNew };
        struct Pick {
            void* frame; ///< a TxFrame of this stream
            Why why;
        };
        Pick at[net::TxBurst::kMaxBurst];
        std::size_t n = 0;
        std::size_t new_frames = 0; ///< of them from the backlog (the last ones)
        bool nacks_left = false;    ///< some NACKed frame did not fit
    };
    /// Picks the next burst, in the order they must go: what a NACK asked for, then what timed
    /// out (the oldest frame not known to have arrived, and the holes selective ACKs revealed),
    /// then new frames while the window allows; at most `budget` and one burst. Changes nothing
    /// until sent() says which of them the carrier took.
    std::size_t pick(std::int64_t now_ns, Picks& out, std::size_t budget = ~std::size_t{0});
    /// The buffer of pick `i` (the peer link seals it in place before each transmission, or
    /// replaces it by a copy when the carrier still holds it from the previous one).
    net::FrameBuf& picked(Picks& p, std::size_t i);
    /// The carrier took the first `accepted` picks (the rest wait for the next call).
    void sent(std::int64_t now_ns, Picks& p, std::size_t accepted);

    /// Sends what the window allows and what timed out, burst by burst (pick(), then
    /// send(std::span<std::byte>) for each pick until it returns false, then sent()); returns frames
    /// sent. At most `budget` frames a call (one loop turn's share). The peer link does the same
    /// with whole bursts handed to the carrier; tests use this one.
    template <typename Send>
    std::size_t transmit(std::int64_t now_ns, Send&& send, std::size_t budget = ~std::size_t{0}) {
        std::size_t total = 0;
        while (total < budget) {
            Picks p;
            const std::size_t m = pick(now_ns, p, budget - total);
            if (m == 0) break;
            std::size_t ok = 0;
            while (ok < m && send(picked(p, ok).bytes())) ++ok;
            sent(now_ns, p, ok);
            total += ok;
            if (ok < m) break;
        }
        return total;
    }
    /// Cumulative + selective acknowledgement; done(c) runs for each frame newly acknowledged, in
    /// link_seq order (its buffer goes back to the carrier's pool). Returns how many were
    /// retired. With `now_ns` (> 0), the newest frame it retires that was sent only once (Karn's
    /// rule) is a round-trip sample for the RTO.
    template <typename Done>
    std::size_t on_ack(std::uint64_t cumulative, std::uint64_t selective, Done&& done, std::int64_t now_ns = 0) {
        if (!ack_applies(cumulative)) return 0;
        std::size_t n = 0;
        std::int64_t sample = -1;
        while (!unacked_.empty() && unacked_.front().link_seq <= cumulative) {
            // Karn: a frame sent more than once says nothing about the round trip.
            if (now_ns > 0 && unacked_.front().tries == 1) sample = now_ns - unacked_.front().sent_ns;
            done(unacked_.front().completion);
            unacked_.pop_front();
            ++counters_.acked;
            ++n;
        }
        if (sample >= 0) sample_rtt(sample);
        mark_sacked(cumulative, selective);
        return n;
    }
    /// The retransmission timeout now (RFC 6298): SRTT + max(floor, 4 RTTVAR) from the measured
    /// round trips, within [min_rto_ns, max_rto_ns]; rto_ns until the first sample.
    std::int64_t rto() const { return rto_; }
    /// Smoothed round trip (0 before the first sample).
    std::int64_t srtt() const { return srtt_; }
    /// The receiver misses [first, last]: those go out again on the next transmit().
    void on_nack(std::uint64_t first, std::uint64_t last);
    /// Gives up on everything queued (the peer went away); returns their completions, in order, so
    /// the caller can account for them. The next frame starts a new generation.
    std::vector<Completion> reset_tx();
    std::size_t in_flight() const { return unacked_.size(); }
    std::size_t backlog() const { return backlog_.size(); }
    bool idle() const { return unacked_.empty() && backlog_.empty(); }
    /// Earliest time a retransmission is due (INT64_MAX when nothing is in flight).
    std::int64_t next_deadline() const;

    // ---- receiver ----
    enum class Rx : std::uint8_t { kDeliver, kDuplicate, kBuffered, kStale, kBeyondWindow };
    /// Accepts a sequenced frame; in-order frames (and buffered ones they unblock) go to
    /// deliver(frame) in link_seq order. The caller sends an ACK (ack_fields) afterwards.
    template <typename Deliver>
    Rx receive(std::uint64_t link_seq, std::span<const std::byte> frame, Deliver&& deliver) {
        const Rx r = accept(link_seq, frame);
        if (r != Rx::kDeliver) return r;
        deliver(frame);
        ++rx_next_;
        ++counters_.delivered;
        for (auto it = reorder_.begin(); it != reorder_.end() && it->first == rx_next_; it = reorder_.erase(it)) {
            deliver(std::span<const std::byte>(it->second));
            ++rx_next_;
            ++counters_.delivered;
        }
        return Rx::kDeliver;
    }
    /// Cumulative and selective fields for an ACK now.
    std::pair<std::uint64_t, std::uint64_t> ack_fields() const;
    /// A gap to NACK ([first, last], link_seq values), at most once per `interval_ns`; false when
    /// there is none or it was asked recently.
    bool nack_due(std::int64_t now_ns, std::int64_t interval_ns, std::uint64_t& first, std::uint64_t& last);
    /// The last link_seq delivered in order (generation << 48 | n; n = 0 before the first).
    std::uint64_t delivered_through() const { return (rx_gen_ << kLinkGenerationShift) | (rx_next_ - 1); }
    /// Forgets the receive state (the peer restarted: its numbering starts again).
    void reset_rx();
    bool ack_pending = false; ///< something arrived since the last ACK was sent

    /// The peer's figures in the stats region's type: the stream counts its own (sent .. nacks_sent,
    /// timeouts, rtt_samples); the peer link counts the peer's traffic and restarts here too
    /// (mutable overload), so that publishing a peer is one copy. Identity and gauges (node_id,
    /// state, last_heard_mono_ns, in_flight, backlog) are filled by whoever publishes.
    const shm::PeerStats& counters() const { return counters_; }
    shm::PeerStats& counters() { return counters_; }

private:
    struct TxFrame {
        std::uint64_t link_seq;
        net::FrameBuf bytes;
        Completion completion;
        std::int64_t sent_ns = 0;
        std::uint32_t tries = 0;
        bool sacked = false, resend = false;
    };
    StreamConfig cfg_;
    std::uint64_t tx_gen_ = 1, tx_next_ = 1;
    bool nacked_ = false;                ///< some frame in unacked_ has resend set
    std::uint64_t highest_sacked_ = 0;   ///< newest frame a selective ACK reported (this generation)
    std::int64_t srtt_ = 0, rttvar_ = 0; ///< RFC 6298 estimators (ns); srtt_ 0: no sample yet
    std::int64_t rto_ = cfg_.rto_ns;     ///< current base RTO (before back-off)
    void sample_rtt(std::int64_t rtt_ns);
    /// on_ack(): false for an ACK of an older stream or beyond what was sent.
    bool ack_applies(std::uint64_t cumulative) const;
    /// on_ack(): frames past the hole that the selective bits say arrived.
    void mark_sacked(std::uint64_t cumulative, std::uint64_t selective);
    /// receive(): kDeliver when `link_seq` is the next in order (the caller delivers it and what
    /// it unblocks), else what became of the frame (buffered, duplicate, ...).
    Rx accept(std::uint64_t link_seq, std::span<const std::byte> frame);
    std::int64_t backed_off(std::uint32_t tries) const;
    FrameRing<TxFrame> unacked_, backlog_;                    ///< no allocation per frame once grown
    std::uint64_t rx_gen_ = 0, rx_next_ = 1;                  ///< next n expected in generation rx_gen_
    std::map<std::uint64_t, std::vector<std::byte>> reorder_; ///< by n
    std::int64_t last_nack_ns_ = 0;
    std::uint64_t last_nack_first_ = 0;
    shm::PeerStats counters_{};
};

} // namespace ckpt::engine

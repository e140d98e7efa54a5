#pragma once
/// How both sides of replication put frames on the peer link: one encoding buffer, and every
/// sequenced frame counted in wire_bytes.
#include "ckpt/shm/stats_layout.hpp"
#include "link/peer_link.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace ckpt::engine {

class Outbox {
public:
    /// `totals`: where the bytes queued are counted (wire_bytes).
    Outbox(PeerLink& link, shm::ReplicationTotals& totals) : link_(link), totals_(totals), body_(net::kMaxFrame) {}
    /// Scratch for one frame body (kMaxFrame bytes), valid until the next encoding.
    std::span<std::byte> body() { return body_; }
    /// Queues a sequenced frame for `node`; false when the node is not up (nothing queued).
    bool queue(std::uint16_t node, net::FrameType type, std::uint16_t flags, std::uint64_t epoch,
               std::span<const std::byte> body, Completion c = {});
    /// A sequenced frame with a `body_len`-byte body built in place, in a buffer of the carrier's
    /// pool (an mbuf on DPDK): DATA's payload is copied once, from the committed copy into the
    /// buffer the link keeps until acknowledged and hands to the carrier as is.
    /// `body_room`: the body may grow to that many bytes later (a frame small commits may join).
    net::FrameBuf frame_buffer(std::size_t body_len, std::size_t body_room = 0) {
        return link_.frame_buffer(body_len, body_room);
    }
    static std::span<std::byte> frame_body(net::FrameBuf& frame) {
        return frame.bytes().subspan(net::kFrameBodyOffset, frame.size() - net::kFrameOverhead);
    }
    /// Queues a frame from frame_buffer() whose body is written; false when the node is not up.
    bool queue_frame(std::uint16_t node, net::FrameType type, std::uint16_t flags, std::uint64_t epoch,
                     net::FrameBuf frame, Completion c = {});
    PeerLink& link() { return link_; }
    const PeerLink& link() const { return link_; }

private:
    PeerLink& link_;
    shm::ReplicationTotals& totals_;
    std::vector<std::byte> body_;
};

} // namespace ckpt::engine

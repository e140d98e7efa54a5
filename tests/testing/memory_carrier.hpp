#pragma once
// Carriers joined in memory: what one sends, the other receives, in order, with no loss (wrap
// either end in net::FaultShim for loss, duplication, reordering, corruption and delay). A pair
// delivers everything to the other end; a mesh of three or more routes each frame by its
// destination MAC (net::node_mac), as a switch would. No thread, no clock, no root: the
// in-process replication tests run engines' links over these.
#include "ckpt/net/transport.hpp"

#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

namespace ckpt::testing {

class MemoryCarrier final : public net::Transport {
public:
    /// A connected pair: frames sent on .first arrive on .second and the other way round.
    static std::pair<std::unique_ptr<MemoryCarrier>, std::unique_ptr<MemoryCarrier>> pair(std::uint16_t node_a,
                                                                                          std::uint16_t node_b);
    /// One end per node, joined by a switch: a frame goes to the end whose node_mac() it is
    /// addressed to (every other end for a MAC that is none of theirs).
    static std::vector<std::unique_ptr<MemoryCarrier>> mesh(const std::vector<std::uint16_t>& nodes);

    bool send(std::span<const std::byte> frame) override;
    std::size_t receive(std::size_t max, Receiver cb, void* ctx) override;
    using Transport::receive;
    /// Hands over each frame's pooled buffer (as a DPDK port hands over its RX mbufs).
    std::size_t receive_held(std::size_t max, HeldReceiver cb, void* ctx) override;
    /// Buffers of the wire's pool not given back: queued on a lane or kept by a receiver (what a
    /// DPDK port's RX pool would be short of).
    std::uint64_t buffers_out() const {
        const auto& c = wire_->pool.counters();
        return c.allocs - c.releases;
    }
    std::array<std::uint8_t, 6> mac() const override { return net::node_mac(node_); }
    std::string describe() const override { return "memory"; }
    net::TransportStats stats() const override { return stats_; }

    /// Frames sent to the other ends that they have not received yet.
    std::size_t queued_at_peer() const;
    /// While cut, frames sent either way are lost (a partition).
    void cut(bool on) { wire_->cut = on; }
    /// While isolated, frames to and from this end are lost (its node cut off from all others).
    void isolate(bool on) { wire_->isolated[end_] = on; }
    /// Frames an attacker on the wire puts in front of this end (delivered before what is queued).
    void inject(const std::vector<std::byte>& frame) { wire_->lane[end_].push_front(wire_->copy(frame)); }
    /// A copy of every frame delivered to this end from now on (an attacker recording the wire).
    void record(bool on) { wire_->recording[end_] = on; }
    const std::vector<std::vector<std::byte>>& recorded() const { return wire_->recorded[end_]; }
    /// Copies of the frames sent to this end that it has not received yet, oldest first (what an
    /// attacker on the wire sees before the node does).
    std::vector<std::vector<std::byte>> in_flight() const {
        std::vector<std::vector<std::byte>> r;
        const Lane& in = wire_->lane[end_];
        for (std::size_t i = 0; i < in.size(); ++i) r.emplace_back(in.at(i).data(), in.at(i).data() + in.at(i).size());
        return r;
    }
    /// A new carrier on the same end of the same wire: this end's node restarted (the old carrier
    /// goes with the old node; frames still queued for this end go to it).
    std::unique_ptr<MemoryCarrier> reopen() const {
        return std::unique_ptr<MemoryCarrier>(new MemoryCarrier(wire_, end_, node_));
    }

private:
    /// Frames waiting for one end, in order: a ring of pooled buffers that grows (doubling) and
    /// never shrinks, so that steady traffic allocates nothing.
    class Lane {
    public:
        bool empty() const { return count_ == 0; }
        std::size_t size() const { return count_; }
        void push_back(net::FrameBuf f) {
            grow();
            ring_[(head_ + count_++) & (ring_.size() - 1)] = std::move(f);
        }
        void push_front(net::FrameBuf f) {
            grow();
            head_ = (head_ + ring_.size() - 1) & (ring_.size() - 1);
            ring_[head_] = std::move(f);
            ++count_;
        }
        const net::FrameBuf& at(std::size_t i) const { return ring_[(head_ + i) & (ring_.size() - 1)]; }
        net::FrameBuf pop_front() {
            net::FrameBuf f = std::move(ring_[head_]);
            head_ = (head_ + 1) & (ring_.size() - 1);
            --count_;
            return f;
        }

    private:
        void grow() {
            if (count_ < ring_.size()) return;
            std::vector<net::FrameBuf> r(ring_.empty() ? 64 : ring_.size() * 2);
            for (std::size_t i = 0; i < count_; ++i) r[i] = std::move(ring_[(head_ + i) & (ring_.size() - 1)]);
            ring_ = std::move(r);
            head_ = 0;
        }
        std::vector<net::FrameBuf> ring_;
        std::size_t head_ = 0, count_ = 0;
    };
    struct Wire {
        explicit Wire(std::vector<std::uint16_t> n)
            : nodes(std::move(n)), lane(nodes.size()), isolated(nodes.size()), recording(nodes.size()),
              recorded(nodes.size()) {}
        /// A copy of `frame` in a buffer of the wire's pool (the memif ring's copy, in effect).
        net::FrameBuf copy(std::span<const std::byte> frame) {
            net::FrameBuf b = pool.alloc(frame.size());
            if (!b) return net::FrameBuf::copy_of(frame); // longer than a jumbo frame: a test's forgery
            if (!frame.empty()) std::memcpy(b.data(), frame.data(), frame.size());
            return b;
        }
        net::FramePool pool;              ///< first: the lanes' buffers go back to it
        std::vector<std::uint16_t> nodes; ///< nodes[i]: end i's node
        std::vector<Lane> lane;           ///< lane[i]: frames for end i
        bool cut = false;
        std::vector<bool> isolated;
        std::vector<bool> recording;
        std::vector<std::vector<std::vector<std::byte>>> recorded;
    };
    MemoryCarrier(std::shared_ptr<Wire> w, int end, std::uint16_t node) : wire_(std::move(w)), end_(end), node_(node) {}
    std::shared_ptr<Wire> wire_;
    int end_ = 0;
    std::uint16_t node_ = 0;
    net::TransportStats stats_{};
};

} // namespace ckpt::testing

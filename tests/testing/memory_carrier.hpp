#pragma once
// Carriers joined in memory: what one sends, the other receives, in order, with no loss (wrap
// either end in net::FaultShim for loss, duplication, reordering, corruption and delay). A pair
// delivers everything to the other end; a mesh of three or more routes each frame by its
// destination MAC (net::node_mac), as a switch would. No thread, no clock, no root: the
// in-process replication tests run engines' links over these.
#include "ckpt/net/transport.hpp"

#include <cstdint>
#include <deque>
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
    void inject(std::vector<std::byte> frame) { wire_->lane[end_].push_front(std::move(frame)); }
    /// A copy of every frame delivered to this end from now on (an attacker recording the wire).
    void record(bool on) { wire_->recording[end_] = on; }
    const std::vector<std::vector<std::byte>>& recorded() const { return wire_->recorded[end_]; }
    /// A new carrier on the same end of the same wire: this end's node restarted (the old carrier
    /// goes with the old node; frames still queued for this end go to it).
    std::unique_ptr<MemoryCarrier> reopen() const {
        return std::unique_ptr<MemoryCarrier>(new MemoryCarrier(wire_, end_, node_));
    }

private:
    struct Wire {
        explicit Wire(std::vector<std::uint16_t> n)
            : nodes(std::move(n)), lane(nodes.size()), isolated(nodes.size()), recording(nodes.size()),
              recorded(nodes.size()) {}
        std::vector<std::uint16_t> nodes;                     ///< nodes[i]: end i's node
        std::vector<std::deque<std::vector<std::byte>>> lane; ///< lane[i]: frames for end i
        bool cut = false;
        std::vector<bool> isolated;
        std::vector<bool> recording;
        std::vector<std::vector<std::vector<std::byte>>> recorded;
    };
    MemoryCarrier(std::shared_ptr<Wire> w, int end, std::uint16_t node) : wire_(std::move(w)), end_(end), node_(node) {}
    std::shared_ptr<Wire> wire_;
    int end_ = 0;
    std::uint16_t node_ = 0;
    net::TransportStats stats_;
};

} // namespace ckpt::testing

#include "memory_carrier.hpp"

#include <cstring>

namespace ckpt::testing {

std::pair<std::unique_ptr<MemoryCarrier>, std::unique_ptr<MemoryCarrier>> MemoryCarrier::pair(std::uint16_t node_a,
                                                                                              std::uint16_t node_b) {
    auto w = std::make_shared<Wire>(std::vector<std::uint16_t>{node_a, node_b});
    return {std::unique_ptr<MemoryCarrier>(new MemoryCarrier(w, 0, node_a)),
            std::unique_ptr<MemoryCarrier>(new MemoryCarrier(w, 1, node_b))};
}

std::vector<std::unique_ptr<MemoryCarrier>> MemoryCarrier::mesh(const std::vector<std::uint16_t>& nodes) {
    auto w = std::make_shared<Wire>(nodes);
    std::vector<std::unique_ptr<MemoryCarrier>> ends;
    for (std::size_t i = 0; i < nodes.size(); ++i)
        ends.push_back(std::unique_ptr<MemoryCarrier>(new MemoryCarrier(w, static_cast<int>(i), nodes[i])));
    return ends;
}

std::size_t MemoryCarrier::queued_at_peer() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < wire_->lane.size(); ++i)
        if (static_cast<int>(i) != end_) n += wire_->lane[i].size();
    return n;
}

bool MemoryCarrier::send(std::span<const std::byte> frame) {
    ++stats_.tx_packets;
    stats_.tx_bytes += frame.size();
    Wire& w = *wire_;
    if (w.cut || w.isolated[end_]) return true;
    const std::size_t ends = w.lane.size();
    if (ends == 2) {
        if (!w.isolated[1 - end_]) w.lane[1 - end_].push_back(w.copy(frame));
        return true;
    }
    int to = -1; // the end the destination MAC names
    for (std::size_t i = 0; i < ends && frame.size() >= 6; ++i) {
        const auto mac = net::node_mac(w.nodes[i]);
        if (std::memcmp(frame.data(), mac.data(), mac.size()) == 0) to = static_cast<int>(i);
    }
    for (std::size_t i = 0; i < ends; ++i)
        if (static_cast<int>(i) != end_ && !w.isolated[i] && (to < 0 || static_cast<int>(i) == to))
            w.lane[i].push_back(w.copy(frame));
    return true;
}

std::size_t MemoryCarrier::receive(std::size_t max, Receiver cb, void* ctx) {
    auto& in = wire_->lane[end_];
    std::size_t n = 0;
    for (; n < max && !in.empty(); ++n) {
        const net::FrameBuf f = in.pop_front(); // back to the wire's pool after the callback
        ++stats_.rx_packets;
        stats_.rx_bytes += f.size();
        if (wire_->recording[end_]) wire_->recorded[end_].emplace_back(f.data(), f.data() + f.size());
        cb(ctx, f.bytes());
    }
    return n;
}

std::size_t MemoryCarrier::receive_held(std::size_t max, HeldReceiver cb, void* ctx) {
    auto& in = wire_->lane[end_];
    std::size_t n = 0;
    for (; n < max && !in.empty(); ++n) {
        net::FrameBuf f = in.pop_front(); // kept by the receiver, or back to the wire's pool after the call
        ++stats_.rx_packets;
        stats_.rx_bytes += f.size();
        if (wire_->recording[end_]) wire_->recorded[end_].emplace_back(f.data(), f.data() + f.size());
        cb(ctx, f.bytes(), &f);
    }
    return n;
}

} // namespace ckpt::testing

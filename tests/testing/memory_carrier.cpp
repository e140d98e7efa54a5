#include "memory_carrier.hpp"

namespace ckpt::testing {

std::pair<std::unique_ptr<MemoryCarrier>, std::unique_ptr<MemoryCarrier>> MemoryCarrier::pair(std::uint16_t node_a,
                                                                                              std::uint16_t node_b) {
    auto w = std::make_shared<Wire>();
    return {std::unique_ptr<MemoryCarrier>(new MemoryCarrier(w, 0, node_a)),
            std::unique_ptr<MemoryCarrier>(new MemoryCarrier(w, 1, node_b))};
}

bool MemoryCarrier::send(std::span<const std::byte> frame) {
    ++stats_.tx_packets;
    stats_.tx_bytes += frame.size();
    if (!wire_->cut) wire_->lane[1 - end_].emplace_back(frame.begin(), frame.end());
    return true;
}

std::size_t MemoryCarrier::receive(std::size_t max, Receiver cb, void* ctx) {
    auto& in = wire_->lane[end_];
    std::size_t n = 0;
    for (; n < max && !in.empty(); ++n) {
        const std::vector<std::byte> f = std::move(in.front());
        in.pop_front();
        ++stats_.rx_packets;
        stats_.rx_bytes += f.size();
        if (wire_->recording[end_]) wire_->recorded[end_].push_back(f);
        cb(ctx, f);
    }
    return n;
}

} // namespace ckpt::testing

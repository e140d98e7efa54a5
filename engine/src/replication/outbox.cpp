#include "replication/outbox.hpp"

namespace ckpt::engine {

bool Outbox::queue(std::uint16_t node, net::FrameType type, std::uint16_t flags, std::uint64_t epoch,
                   std::span<const std::byte> body, Completion c) {
    if (!link_.send_sequenced(node, type, flags, epoch, body, c)) return false;
    totals_.wire_bytes += net::kFrameOverhead + body.size();
    return true;
}

bool Outbox::queue_frame(std::uint16_t node, net::FrameType type, std::uint16_t flags, std::uint64_t epoch,
                         net::FrameBuf frame, Completion c) {
    const std::size_t size = frame.size();
    if (!link_.send_sequenced_frame(node, type, flags, epoch, std::move(frame), c)) return false;
    totals_.wire_bytes += size;
    return true;
}

} // namespace ckpt::engine

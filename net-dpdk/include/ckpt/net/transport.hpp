#pragma once
/// What the engine's peer link sends whole Ethernet frames through. One interface, several
/// carriers: a DPDK port (memif, af_packet, a PCI NIC), or a kernel UDP socket (hosts without
/// DPDK, and the baseline that shows what kernel bypass buys). The frames are the same bytes on
/// every carrier (docs/PROTOCOL.md), so everything above this line is carrier-agnostic.
///
/// Hot paths return counts; set-up returns Result.
#include "ckpt/common/result.hpp"
#include "ckpt/net/carrier.hpp"

#include "ckpt/shm/stats_layout.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace ckpt::net {

/// What a carrier counts: the stats region's CarrierStats (what ckptd publishes), and what only
/// tests read. Value-initialise it (`TransportStats s{}`): the region's structs have no defaults.
struct TransportStats : shm::CarrierStats {
    /// System calls made to send (kernel carriers; 0 on DPDK): a batch of frames flushed with
    /// sendmmsg and UDP GSO is one, however many datagrams it carried.
    std::uint64_t tx_calls = 0;
};

class Transport {
public:
    using Receiver = void (*)(void* ctx, std::span<const std::byte> frame);
    virtual ~Transport() = default;

    /// Sends one whole Ethernet frame; false when it could not be queued (ring full, link down).
    /// A carrier may hold it in a batch until flush_tx() (the kernel UDP carrier does).
    virtual bool send(std::span<const std::byte> frame) = 0;
    /// Puts on the wire what send() batched (one system call for many frames where the carrier
    /// can); returns frames sent. The peer link calls it at the end of every flush.
    virtual std::size_t flush_tx() { return 0; }
    /// Hands up to `max` received frames to cb(ctx, frame); the span is valid during the call only.
    virtual std::size_t receive(std::size_t max, Receiver cb, void* ctx) = 0;
    template <typename F>
    std::size_t receive(F&& fn, std::size_t max = 32) {
        return receive(
            max, [](void* c, std::span<const std::byte> f) { (*static_cast<std::remove_reference_t<F>*>(c))(f); }, &fn);
    }
    /// This node's MAC on the link (the source of our frames).
    virtual std::array<std::uint8_t, 6> mac() const = 0;
    /// A file descriptor that becomes readable when frames arrive, for the engine's epoll while it
    /// sleeps; -1 when the carrier has none (the engine then sleeps in short slices).
    virtual int wait_fd() const { return -1; }
    /// Called before the engine sleeps on wait_fd(), and after it wakes (interrupt mode on/off).
    virtual void arm_wakeup(bool /*on*/) {}
    /// Timer path (every heartbeat): carriers that need upkeep do it here (a memif client whose
    /// server went away connects again).
    virtual void maintain(std::int64_t /*now_ns*/) {}
    /// "memif server /run/hotspare/memif.sock", for logs and errors.
    virtual std::string describe() const = 0;
    virtual TransportStats stats() const = 0;
};

/// Opens the carrier named by cfg.transport, behind the seeded fault shim when cfg.fault is on.
Result<std::unique_ptr<Transport>> open_transport(const CarrierConfig& cfg);

} // namespace ckpt::net

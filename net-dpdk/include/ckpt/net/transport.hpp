#pragma once
/// What the engine's peer link sends whole Ethernet frames through. One interface, several
/// carriers: a DPDK port (memif, af_packet, a PCI NIC), or a kernel UDP socket (hosts without
/// DPDK, and the baseline that shows what kernel bypass buys). The frames are the same bytes on
/// every carrier (docs/PROTOCOL.md), so everything above this line is carrier-agnostic.
///
/// Hot paths return counts; set-up returns Result.
#include "ckpt/common/result.hpp"
#include "ckpt/net/carrier.hpp"
#include "ckpt/net/frame_pool.hpp"

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

/// Bursts submitted through Transport::submit (the peer link's sequenced frames), counted by the
/// transport the link talks to: frames / bursts is the mean burst size.
struct BurstCounters {
    std::uint64_t bursts = 0;  ///< submit() calls that sent at least one frame
    std::uint64_t frames = 0;  ///< frames they sent
    std::uint64_t largest = 0; ///< the most frames one burst sent
    std::uint64_t partial = 0; ///< bursts the carrier took only part of (ring full, link down)
};

class Transport {
public:
    using Receiver = void (*)(void* ctx, std::span<const std::byte> frame);
    virtual ~Transport() = default;

    /// Sends one whole Ethernet frame; false when it could not be queued (ring full, link down).
    /// A carrier may hold it in a batch until flush_tx() (the kernel UDP carrier does).
    virtual bool send(std::span<const std::byte> frame) = 0;
    /// The pool the peer link builds sequenced frames in (a DPDK port: its TX mbuf pool; other
    /// carriers: a heap pool of fixed slots). Frames built there go out through submit().
    virtual FramePool& frame_pool() { return heap_pool_; }
    /// Sends a burst of frames from frame_pool() (at most TxBurst::kMaxBurst); the caller keeps
    /// its reference to each (the carrier takes its own for as long as it needs the bytes: an
    /// mbuf's refcnt), so a frame can be sent again later. Returns how many, from the first,
    /// were taken; the rest were not sent (ring full, link down). Hot path; counted in bursts().
    std::size_t submit(std::span<FrameBuf* const> frames) {
        const std::size_t n = send_burst(frames);
        if (n) {
            ++bursts_.bursts;
            bursts_.frames += n;
            if (n > bursts_.largest) bursts_.largest = n;
        }
        if (n < frames.size()) ++bursts_.partial;
        return n;
    }
    const BurstCounters& bursts() const { return bursts_; }
    /// Puts on the wire what send() batched (one system call for many frames where the carrier
    /// can); returns frames sent. The peer link calls it at the end of every flush.
    virtual std::size_t flush_tx() { return 0; }
    /// Hands up to `max` received frames to cb(ctx, frame); the span is valid during the call only.
    virtual std::size_t receive(std::size_t max, Receiver cb, void* ctx) = 0;
    /// A receiver that may keep the buffer a frame arrived in: `buffer`, when not null, holds the
    /// frame's bytes, and moving it out keeps them (no copy; it goes back to the carrier's pool
    /// when destroyed); left in place, the carrier reuses it after the call. nullptr: the bytes
    /// are valid during the call only.
    using HeldReceiver = void (*)(void* ctx, std::span<const std::byte> frame, FrameBuf* buffer);
    /// receive() for a receiver that may keep buffers. Carriers that receive into buffers of a
    /// pool (a DPDK port's RX mbufs, the in-memory test carrier) hand them over; the default hands
    /// none (kernel UDP, the fault shim: their bytes are valid during the call only).
    virtual std::size_t receive_held(std::size_t max, HeldReceiver cb, void* ctx) {
        struct Fwd {
            HeldReceiver cb;
            void* ctx;
        } fwd{cb, ctx};
        return receive(
            max,
            [](void* c, std::span<const std::byte> f) {
                static_cast<Fwd*>(c)->cb(static_cast<Fwd*>(c)->ctx, f, nullptr);
            },
            &fwd);
    }
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

protected:
    /// submit()'s carrier part. The default sends each frame's bytes with send() (a copy: the
    /// kernel UDP carrier batches them for sendmmsg, the in-memory carrier queues them).
    virtual std::size_t send_burst(std::span<FrameBuf* const> frames) {
        std::size_t n = 0;
        while (n < frames.size() && send(frames[n]->bytes())) ++n;
        return n;
    }

private:
    FramePool heap_pool_;
    BurstCounters bursts_{};
};

/// Opens the carrier named by cfg.transport, behind the seeded fault shim when cfg.fault is on.
Result<std::unique_ptr<Transport>> open_transport(const CarrierConfig& cfg);

} // namespace ckpt::net

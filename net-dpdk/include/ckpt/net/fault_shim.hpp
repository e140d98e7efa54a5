#pragma once
/// A seeded fault shim between the peer link and its carrier (DESIGN: loss, delay, reordering,
/// duplication and corruption "from a seeded fault shim of the project's own on the RX/TX path",
/// as Aeron's loss generators). Off unless a fault_* key is set; meant for tests. Loss and
/// partitions on a real link come from nftables in a namespace (tests/testing/netns.hpp).
///
/// Each frame that enters the shim gets, in this order and each from its own draw of a seeded
/// splitmix64 stream (so a seed gives the same decisions on every run and every host):
///   drop      it never leaves the shim;
///   corrupt   one random bit of its Hotspare header or body is flipped (frame_hash then refuses
///             it on every carrier; the Ethernet/IPv4/UDP headers are left alone, so it still
///             reaches the peer rather than being misrouted);
///   duplicate it leaves twice;
///   reorder   it is held back and leaves right after the next frame (or after kReorderHoldNs
///             plus the delay when no next frame comes);
///   delay     every frame waits delay_us in a FIFO.
/// Held frames leave on a later send() or receive() call once due: the shim has no thread and
/// no timer, so on a sleeping engine a frame may wait until its next wake-up (at most a
/// heartbeat interval).
#include "ckpt/net/fault_config.hpp"
#include "ckpt/net/transport.hpp"
#include "ckpt/shm/stats_layout.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ckpt::net {

/// What the shim did, per direction: the stats region's FaultStats (what ckptd publishes) and
/// what only tests read. Every frame counts in `frames` once; a duplicated frame that is also
/// delayed counts one in each.
struct FaultCounters : shm::FaultStats {
    /// Copies passed on with a bit flipped (a duplicated corrupted frame counts twice): what the
    /// receiver's frame check must reject, one for one.
    std::uint64_t corrupted_copies = 0;
};

class FaultShim final : public Transport {
public:
    /// CLOCK_MONOTONIC in ns; tests pass a fake one to step time.
    using Clock = std::function<std::int64_t()>;
    /// The longest a reordered frame waits for a next frame to overtake it.
    static constexpr std::int64_t kReorderHoldNs = 1'000'000;
    /// Frames held at most per direction; past it the oldest leaves at once (bounded memory).
    static constexpr std::size_t kMaxHeld = 4096;

    FaultShim(std::unique_ptr<Transport> inner, const FaultConfig& cfg, Clock clock = {});

    bool send(std::span<const std::byte> frame) override;
    std::size_t receive(std::size_t max, Receiver cb, void* ctx) override;
    using Transport::receive;
    std::array<std::uint8_t, 6> mac() const override { return inner_->mac(); }
    /// The carrier's wake-up, unless this shim holds received frames back (delay, reordering: as
    /// configured at start): those leave only when the engine polls, so it polls in slices.
    int wait_fd() const override { return holds_rx_ ? -1 : inner_->wait_fd(); }
    void maintain(std::int64_t now_ns) override { inner_->maintain(now_ns); }
    std::size_t flush_tx() override { return inner_->flush_tx(); }
    /// The carrier's pool: frames are built where they would be without the shim (each one sent
    /// through the shim is copied by send(), as its faults need).
    FramePool& frame_pool() override { return inner_->frame_pool(); }
    void arm_wakeup(bool on) override { inner_->arm_wakeup(on); }
    std::string describe() const override;
    TransportStats stats() const override { return inner_->stats(); }

    const FaultCounters& tx_counters() const { return tx_.counters; }
    const FaultCounters& rx_counters() const { return rx_.counters; }
    /// Frames the shim holds now (delayed or reordered), both directions.
    std::size_t held() const;
    const Transport& inner() const { return *inner_; }
    /// The network heals: from now on no fault is applied (frames already held still leave when
    /// due). The counters keep what was done.
    void heal() {
        const FaultConfig keep = cfg_;
        cfg_ = FaultConfig{};
        cfg_.seed = keep.seed;
        cfg_.tx = keep.tx;
        cfg_.rx = keep.rx;
        // delay_us 0: frames already held keep their due times, new ones are not delayed.
    }

    /// The network turns bad: from now on the faults of `c` apply (its seed and directions are
    /// ignored: the shim keeps its own, and its counters).
    void impair(const FaultConfig& c) {
        const FaultConfig keep = cfg_;
        cfg_ = c;
        cfg_.seed = keep.seed;
        cfg_.tx = keep.tx;
        cfg_.rx = keep.rx;
    }

private:
    struct Held {
        std::vector<std::byte> bytes;
        std::int64_t due_ns = 0;
    };
    struct Lane {
        std::uint64_t decide = 0; ///< splitmix64 state: one draw per decision per frame
        std::uint64_t bits = 0;   ///< splitmix64 state: which bit a corruption flips
        FaultCounters counters{};
        std::deque<Held> delayed;    ///< FIFO; every entry waits the same delay, so due times rise
        std::optional<Held> reorder; ///< at most one frame held back
        bool bad = false;            ///< Gilbert-Elliott state (burst_frames > 1)
    };
    /// Where a lane's frames go: the carrier (TX) or the receive callback (RX).
    using Emit = std::function<void(std::span<const std::byte>)>;

    void process(Lane& lane, std::span<const std::byte> frame, std::int64_t now, const Emit& emit);
    void to_delay(Lane& lane, std::vector<std::byte> bytes, std::int64_t now, const Emit& emit);
    /// Releases what is due; returns how many frames left.
    std::size_t flush(Lane& lane, std::int64_t now, const Emit& emit);
    std::int64_t now() const;

    std::unique_ptr<Transport> inner_;
    FaultConfig cfg_;
    Clock clock_;
    Lane tx_, rx_;
    bool holds_rx_ = false; ///< configured to hold received frames back (wait_fd)
};

} // namespace ckpt::net

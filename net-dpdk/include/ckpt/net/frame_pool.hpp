#pragma once
/// Frame buffers handed out by a carrier (DPDK's mbuf pools, SPDK's and Seastar's "the driver
/// owns the buffer" shape): the peer link builds each sequenced frame straight into one, keeps it
/// until the frame is acknowledged, and submits it to the carrier in bursts; a retransmission
/// sends the same buffer again. DPDK-free header: an mbuf is an opaque token here.
///
/// Two kinds of pool, one concrete class (no virtual call per frame):
///  - heap: fixed slots in three size classes, taken from free lists and grown in chunks of 64
///    slots when a list is empty, never shrunk: after the first window of frames no frame costs a
///    heap allocation (the kernel UDP carrier, the fault shim, the in-process test carriers);
///  - mbuf: a DPDK port's TX mempool (dpdk_port.cpp); when it is empty, frames come from the
///    pool's heap part instead (counted in `fallbacks`) and are copied into an mbuf when sent, so
///    a long backlog never starves the port (the RX queue has its own mempool).
/// Single-threaded (the engine's loop), like everything on the link.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace ckpt::net {

class FramePool;

/// One frame's bytes in a carrier buffer; move-only, given back to its pool when destroyed.
class FrameBuf {
public:
    FrameBuf() = default;
    FrameBuf(FrameBuf&& o) noexcept { take(o); }
    FrameBuf& operator=(FrameBuf&& o) noexcept {
        if (this != &o) {
            reset();
            take(o);
        }
        return *this;
    }
    FrameBuf(const FrameBuf&) = delete;
    FrameBuf& operator=(const FrameBuf&) = delete;
    ~FrameBuf() { reset(); }

    /// A buffer of its own (operator new) holding a copy of `bytes`: tests and cold paths only.
    static FrameBuf copy_of(std::span<const std::byte> bytes);

    std::byte* data() const { return data_; }
    std::size_t size() const { return size_; }
    std::span<std::byte> bytes() const { return {data_, size_}; }
    explicit operator bool() const { return data_ != nullptr; }
    /// The rte_mbuf behind it (nullptr: a heap slot or a buffer of its own).
    void* mbuf() const { return mbuf_; }
    FramePool* pool() const { return pool_; }
    /// Gives the buffer back (to its pool, or to the heap); the FrameBuf is empty afterwards.
    void reset();
    /// Bytes the buffer can hold (its size class, an mbuf's frame limit; a buffer of its own: its size).
    std::size_t capacity() const;
    /// Grows or shrinks the frame to `len` bytes in the same buffer (the bytes kept stay where they
    /// are: coalescing appends to a frame not sent yet); false, nothing changed, beyond capacity().
    bool resize(std::size_t len);

private:
    friend class FramePool;
    void take(FrameBuf& o) noexcept {
        pool_ = o.pool_;
        mbuf_ = o.mbuf_;
        data_ = o.data_;
        size_ = o.size_;
        cls_ = o.cls_;
        o.pool_ = nullptr;
        o.mbuf_ = nullptr;
        o.data_ = nullptr;
        o.size_ = 0;
    }
    FramePool* pool_ = nullptr; ///< nullptr with data_: a buffer of its own (delete[])
    void* mbuf_ = nullptr;
    std::byte* data_ = nullptr;
    std::uint32_t size_ = 0;
    std::uint8_t cls_ = 0; ///< heap slot: its size class
};

/// What a pool counts (tests read them; no stats-region field yet).
struct FramePoolCounters {
    std::uint64_t allocs = 0;    ///< frames handed out
    std::uint64_t releases = 0;  ///< frames given back
    std::uint64_t chunks = 0;    ///< heap chunks allocated (64 slots each): growth, not per frame
    std::uint64_t fallbacks = 0; ///< mbuf pool empty: a heap slot instead (copied into an mbuf when sent)
    std::uint64_t refused = 0;   ///< a frame longer than the largest slot (a broken contract upstream)
};

class FramePool {
public:
    /// Size classes of heap slots; the largest holds a jumbo frame (kMaxFrame).
    static constexpr std::size_t kClassBytes[3] = {512, 2048, 9216};
    static constexpr std::size_t kChunkSlots = 64;

    /// A heap pool.
    FramePool() = default;
    /// An mbuf pool over a DPDK `rte_mempool*` (dpdk_port.cpp), frames of at most `max_frame` bytes.
    FramePool(void* mempool, std::size_t max_frame) : mempool_(mempool), max_frame_(max_frame) {}
    FramePool(const FramePool&) = delete;
    FramePool& operator=(const FramePool&) = delete;
    ~FramePool();

    /// A writable buffer of exactly `len` bytes (contents undefined); empty when `len` is larger
    /// than any slot. Hot path: no heap allocation once the pool has grown to the traffic.
    /// `room`: the frame may grow to that many bytes later (FrameBuf::resize), so a heap slot is
    /// taken from the size class that holds it (an mbuf always holds a whole frame).
    FrameBuf alloc(std::size_t len, std::size_t room = 0);
    /// True when nobody but the holder references the buffer (a NIC may still be reading an
    /// mbuf handed to it earlier): only then may it be written again (a retransmission's new
    /// counter and tag).
    static bool exclusive(const FrameBuf& f);
    /// A received mbuf of this pool's kind (an RX mbuf), `len` bytes at `data`, as a frame buffer:
    /// whoever keeps the FrameBuf keeps the mbuf (rte_pktmbuf_free when it is destroyed). The
    /// standby holds a commit's fragments in them until its last one (ReplicaApplier).
    FrameBuf adopt_mbuf(void* mbuf, std::byte* data, std::size_t len);
    const FramePoolCounters& counters() const { return counters_; }
    bool is_mbuf_pool() const { return mempool_ != nullptr; }

private:
    friend class FrameBuf;
    void release(FrameBuf& f);
    std::size_t max_frame() const { return max_frame_; }
    void* mempool_ = nullptr;
    std::size_t max_frame_ = 0;
    std::vector<std::byte*> free_[3];
    std::vector<std::unique_ptr<std::byte[]>> chunks_;
    FramePoolCounters counters_{};
};

/// A burst being built for a carrier: at most kMaxBurst frames per submission (DPDK's usual
/// burst size: one rte_eth_tx_burst, one sendmmsg batch). Holds pointers to frames owned by the
/// sender (kept until acknowledged); no allocation.
struct TxBurst {
    static constexpr std::size_t kMaxBurst = 32;
    FrameBuf* frames[kMaxBurst];
    std::size_t n = 0;
    bool full() const { return n == kMaxBurst; }
    void push(FrameBuf* f) { frames[n++] = f; }
    std::span<FrameBuf* const> view() const { return {frames, n}; }
};

} // namespace ckpt::net

#pragma once
/// The DPDK transport, behind a DPDK-free header (SPDK's env_dpdk pattern): nothing outside
/// net-dpdk/ includes <rte_*.h> or inherits DPDK's `-include rte_config.h -march=...` flags.
///
/// One EAL per process (rte_eal_init can run once), then one Port per ethdev (a memif or
/// af_packet vdev, or a PCI NIC bound to vfio-pci). Hot paths return counts (DPDK style); set-up
/// returns Result with rte_errno turned into words.
#include "ckpt/common/result.hpp"
#include "ckpt/net/frame_pool.hpp"
#include "ckpt/shm/stats_layout.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace ckpt::net {

struct EalConfig {
    std::string file_prefix; ///< unique per process on a host (--file-prefix)
    std::vector<std::string>
        vdevs;                ///< e.g. "net_memif0,role=server,socket=/run/hotspare/memif.sock,socket-abstract=no"
    std::string lcores = "0"; ///< -l
    unsigned memory_mb = 256; ///< -m
    bool hugepages = false;   ///< false: --no-huge (works everywhere); true: use reserved hugepages
    bool pci = false;         ///< false: --no-pci
    std::vector<std::string> extra; ///< any further EAL arguments, verbatim
};

/// Initialises DPDK's EAL once for this process; a second call with any config is BAD_OPERATION.
Status eal_init(const EalConfig& cfg);
/// Releases the EAL (at process exit).
void eal_cleanup();
/// Creates a virtual device after eal_init (as --vdev would at start-up): `name` such as
/// "net_memif7" (unique in the process), `args` its devargs ("role=server,socket=PATH,...").
Status create_vdev(const std::string& name, const std::string& args);

struct PortOptions {
    std::uint16_t rx_descriptors = 1024;
    std::uint16_t tx_descriptors = 1024;
    std::uint32_t mbufs = 8191; ///< RX pool size (per port)
    /// TX pool: the mbufs frames are built in and kept until acknowledged; 0: as many as
    /// `tx_pool_bytes` of data room hold (between 511 and 8191). When it is empty, frames are
    /// built on the heap and copied into an mbuf of the RX pool when sent.
    std::uint32_t tx_mbufs = 0;
    std::size_t tx_pool_bytes = std::size_t{16} << 20;
    std::uint16_t data_room = 2048 + 128; ///< mbuf data room incl. headroom: one standard frame
    /// The largest Ethernet frame this port sends or receives (the link's MTU + 14); the mbuf data
    /// room grows to hold it in one segment. send() refuses a larger frame as a broken contract.
    std::uint16_t max_frame = 1514;
    unsigned link_wait_ms = 5000; ///< how long open() waits for the link to come up; 0: not at all
    /// Ask the driver for an RX interrupt (rte_eth_conf intr_conf.rxq = 1), so that a poller can
    /// sleep on rx_interrupt_fd(). Drivers without one (memif and af_packet in DPDK 22.11) open
    /// as usual and report -1.
    bool rx_interrupts = false;
    /// A start that fails (a memif client whose server's socket is not there yet) leaves the port
    /// open and stopped, for restart() to start later, instead of failing open(). Sends and
    /// receives on a stopped port do nothing. (A memif client that connects before its server's
    /// port is configured is refused, "ID not found", and does not try again by itself either:
    /// restart it while its link stays down, as ckptd does every 500 ms.)
    bool start_later = false;
};

using MacAddress = std::array<std::uint8_t, 6>;

/// One ethdev with one RX and one TX queue, started, link up.
class Port {
public:
    /// `device` is the ethdev name ("net_memif0") from the EAL's vdev list, or a PCI address.
    static Result<Port> open(const std::string& device, const PortOptions& opts = {});
    Port(Port&&) noexcept;
    Port& operator=(Port&&) noexcept;
    ~Port();

    /// Copies each frame into an mbuf and sends them in one burst; returns how many were queued
    /// (the rest were not sent: the TX ring is full). Frames longer than the data room are skipped.
    std::size_t send(std::span<const std::span<const std::byte>> frames);
    /// The TX pool as frame buffers (mbufs with the frame's length appended).
    FramePool& frame_pool();
    /// Sends frames built in frame_pool() buffers, up to 32 per rte_eth_tx_burst: each mbuf's
    /// refcnt is raised first, so the caller keeps its reference (a retransmission sends the same
    /// mbuf again); a frame in a heap buffer (the pool was empty) is copied into an mbuf. Returns
    /// how many, from the first, were queued (the rest: the TX ring is full).
    std::size_t send_burst(std::span<FrameBuf* const> frames);
    /// rte_eth_tx_burst calls of send_burst() that queued at least one frame.
    std::uint64_t tx_bursts() const;
    /// Sends one frame, retrying a full ring up to `spins` times; true when queued.
    bool send_one(std::span<const std::byte> frame, unsigned spins = 1'000'000);
    /// Receives up to `max` frames and hands each to fn(std::span<const std::byte>) before freeing
    /// it; returns how many were received. Zero copy: the span points into the mbuf.
    template <typename F>
    std::size_t receive(F&& fn, std::size_t max = 32) {
        return receive_raw(
            max, [](void* ctx, std::span<const std::byte> f) { (*static_cast<std::remove_reference_t<F>*>(ctx))(f); },
            &fn);
    }

    /// receive() that hands each frame's RX mbuf over as a FrameBuf (Transport::HeldReceiver):
    /// the callee may move it out to keep the mbuf; otherwise it is freed after the call. A
    /// chained mbuf is linearised into a copy and handed over as nullptr.
    std::size_t receive_held(std::size_t max, void (*cb)(void*, std::span<const std::byte>, FrameBuf*), void* ctx);

    /// An fd (epoll it for EPOLLIN) that becomes readable when a frame arrives while
    /// rx_interrupt(true) is in force; -1 when the driver has no RX interrupt or it was not asked
    /// for. Owned by DPDK: never close it.
    int rx_interrupt_fd() const;
    /// Arms (true, before sleeping) or disarms (false, after waking) the RX interrupt; false when
    /// there is none. Look at the ring once more after arming: a frame that arrived just before
    /// raises no interrupt.
    bool rx_interrupt(bool on);

    MacAddress mac() const;
    bool link_up() const;
    /// Stops (when started) and starts the port: a memif client connects again to a server that
    /// restarted, or for the first time to one that was not there at open().
    Status restart();
    std::uint16_t port_id() const { return port_id_; }

    /// The ethdev's counters (rte_eth_stats_get), in the stats region's type.
    shm::CarrierStats stats() const;

private:
    Port() = default;
    std::size_t receive_raw(std::size_t max, void (*cb)(void*, std::span<const std::byte>), void* ctx);
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::uint16_t port_id_ = 0;
};

} // namespace ckpt::net

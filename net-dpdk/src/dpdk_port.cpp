// The only translation unit of the tree that includes DPDK.
#include "ckpt/net/dpdk_port.hpp"

#include "mbuf_ops.hpp"

#include <rte_bus_vdev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_interrupts.h>
#include <rte_mbuf.h>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

namespace ckpt::net {

namespace {

std::atomic<bool> g_eal_ready{false};

Failure dpdk_failure(Error code, const std::string& what, int err) {
    return fail(code, what + ": " + rte_strerror(err < 0 ? -err : err));
}

/// Parks DPDK's interrupt thread for the life of the object, so that a port can be stopped,
/// closed or restarted while no driver callback runs.
///
/// Why: memif's control channel lives on that thread. When the peer disconnects (its message, or
/// its socket closing), the thread runs memif_disconnect() for the port, which frees the port's
/// regions through dev->process_private. DPDK 22.11 lets rte_eth_dev_stop() and
/// rte_eth_dev_close() run at the same time from the application's thread: stop's own
/// memif_disconnect() meets a callback in flight (rte_intr_callback_unregister() says -EAGAIN and
/// only defers the unregistration), close frees process_private and rte_eth_dev_release_port()
/// sets it to NULL, and the callback still in flight then reads regions_num at NULL + 0x800: the
/// SIGSEGV in librte_net_memif (memif_free_regions from memif_disconnect, thread "eal-intr-thread")
/// seen when both ends of a link shut down at once. The two memif_disconnect() calls also free the
/// same regions twice when they overlap.
///
/// How: the interrupt thread runs its callbacks one at a time. We register a callback of our own
/// on an eventfd that is already readable and wait until it runs; it then waits for us. While it
/// does, no memif callback is in flight and none starts. The control operations never wait on the
/// interrupt thread (unregistering a callback that is not running returns at once), so holding it
/// cannot deadlock. (An alarm would do the same, but rte_eal_cleanup() waits for a running alarm
/// callback to finish, which a thread parked for good never does.)
class InterruptThreadParked {
public:
    enum Forever { kForever };
    /// Parks the thread until the process ends (for rte_eal_cleanup()); never destroyed.
    explicit InterruptThreadParked(Forever) : InterruptThreadParked() { forever_ = true; }
    InterruptThreadParked() {
        efd_ = ::eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
        handle_ = efd_ < 0 ? nullptr : rte_intr_instance_alloc(RTE_INTR_INSTANCE_F_PRIVATE);
        if (!handle_ || rte_intr_fd_set(handle_, efd_) != 0 || rte_intr_type_set(handle_, RTE_INTR_HANDLE_EXT) != 0 ||
            rte_intr_callback_register(handle_, &InterruptThreadParked::park, this) != 0) {
            std::fprintf(stderr, "hotspare: cannot park DPDK's interrupt thread; the port stops without it\n");
            release_source();
            return;
        }
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (state_.load(std::memory_order_acquire) == kWaiting) {
            if (std::chrono::steady_clock::now() > give_up) {
                // The thread is stuck in another callback. Take ours back: if it has not started,
                // it never will; if it starts now, it sees kAbandoned and returns.
                int expected = kWaiting;
                if (state_.compare_exchange_strong(expected, kAbandoned)) {
                    std::fprintf(stderr, "hotspare: DPDK's interrupt thread did not answer within 5 s; "
                                         "the port stops without parking it\n");
                    rte_intr_callback_unregister_sync(handle_, &InterruptThreadParked::park, this);
                    release_source();
                    return;
                }
                break; // it parked just now
            }
            std::this_thread::sleep_for(std::chrono::microseconds(20));
        }
    }
    ~InterruptThreadParked() {
        if (!handle_ || forever_) return;
        state_.store(kReleased, std::memory_order_release);
        state_.notify_one();
        // Returns once the callback has returned: then nothing reads this object any more.
        rte_intr_callback_unregister_sync(handle_, &InterruptThreadParked::park, this);
        release_source();
    }
    InterruptThreadParked(const InterruptThreadParked&) = delete;
    InterruptThreadParked& operator=(const InterruptThreadParked&) = delete;

private:
    enum : int { kWaiting, kParked, kReleased, kAbandoned };
    static void park(void* arg) {
        auto* self = static_cast<InterruptThreadParked*>(arg);
        std::uint64_t v;
        [[maybe_unused]] auto r = ::read(self->efd_, &v, sizeof v); // else the thread calls us again
        int expected = kWaiting;
        if (!self->state_.compare_exchange_strong(expected, kParked)) return; // abandoned, or a second call
        while (self->state_.load(std::memory_order_acquire) == kParked)
            self->state_.wait(kParked, std::memory_order_acquire);
    }
    void release_source() {
        if (handle_) rte_intr_instance_free(handle_);
        handle_ = nullptr;
        if (efd_ >= 0) ::close(efd_);
        efd_ = -1;
    }
    std::atomic<int> state_{kWaiting};
    int efd_ = -1;
    rte_intr_handle* handle_ = nullptr;
    bool forever_ = false;
};

} // namespace

Status eal_init(const EalConfig& cfg) {
    if (g_eal_ready.load()) return fail(Error::kBadOperation, "the DPDK EAL is already initialised in this process");
    if (cfg.file_prefix.empty())
        return fail(Error::kInvalidParam, "EAL file prefix is empty (it must be unique per process)");
    std::vector<std::string> args = {"hotspare",
                                     "--file-prefix=" + cfg.file_prefix,
                                     "-l",
                                     cfg.lcores,
                                     "-m",
                                     std::to_string(cfg.memory_mb),
                                     "--log-level=lib.eal:warning",
                                     "--no-telemetry"};
    if (!cfg.hugepages) args.push_back("--no-huge");
    if (!cfg.pci) args.push_back("--no-pci");
    for (const auto& v : cfg.vdevs) args.push_back("--vdev=" + v);
    args.insert(args.end(), cfg.extra.begin(), cfg.extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // rte_eal_init keeps pointers into argv for the life of the process.
    static std::vector<std::string> keep_alive;
    keep_alive = std::move(args);
    int rc = rte_eal_init(static_cast<int>(argv.size() - 1), argv.data());
    if (rc < 0) return dpdk_failure(Error::kLibrary, "rte_eal_init", rte_errno);
    g_eal_ready.store(true);
    return {};
}

Status create_vdev(const std::string& name, const std::string& args) {
    if (!g_eal_ready.load()) return fail(Error::kInit, "DPDK EAL not initialised (call eal_init first)");
    if (int rc = rte_vdev_init(name.c_str(), args.c_str()); rc != 0)
        return dpdk_failure(rc == -EEXIST ? Error::kExist : Error::kInvalidParam, "vdev " + name + " (" + args + ")",
                            rc);
    return {};
}

namespace {
InterruptThreadParked* g_parked_for_exit = nullptr; ///< see eal_cleanup()
} // namespace

void eal_cleanup() {
    if (!g_eal_ready.exchange(false)) return;
    // DPDK 22.11's rte_eal_cleanup() unmaps its memory but leaves the interrupt thread running over
    // interrupt sources that point into it (memif leaves its listener's source registered after
    // freeing its handle): the thread then faults in rte_intr_fd_get(). Park the thread for good
    // first; it stays in our callback until the process ends. The parking lot is leaked on
    // purpose (the parked thread reads it); `g_parked_for_exit` keeps it reachable.
    g_parked_for_exit = new InterruptThreadParked(InterruptThreadParked::kForever);
    rte_eal_cleanup();
}

namespace detail {

void* mbuf_alloc(void* mempool, std::size_t len, std::byte** data) {
    rte_mbuf* m = rte_pktmbuf_alloc(static_cast<rte_mempool*>(mempool));
    if (!m) return nullptr;
    char* d = rte_pktmbuf_append(m, static_cast<std::uint16_t>(len));
    if (!d) { // the data room is smaller than the pool promised: a broken contract
        rte_pktmbuf_free(m);
        return nullptr;
    }
    *data = reinterpret_cast<std::byte*>(d);
    return m;
}

void mbuf_free(void* mbuf) {
    rte_pktmbuf_free(static_cast<rte_mbuf*>(mbuf));
}

bool mbuf_resize(void* mbuf, std::size_t len) {
    rte_mbuf* m = static_cast<rte_mbuf*>(mbuf);
    const std::size_t now = rte_pktmbuf_data_len(m);
    if (len > UINT16_MAX) return false;
    if (len > now) return rte_pktmbuf_append(m, static_cast<std::uint16_t>(len - now)) != nullptr;
    return len == now || rte_pktmbuf_trim(m, static_cast<std::uint16_t>(now - len)) == 0;
}

std::uint16_t mbuf_refcnt(const void* mbuf) {
    return rte_mbuf_refcnt_read(static_cast<const rte_mbuf*>(mbuf));
}

} // namespace detail

struct Port::Impl {
    rte_mempool* pool = nullptr;    ///< RX, and copies of frames not built in an mbuf
    rte_mempool* tx_pool = nullptr; ///< frames built in place (frame_pool())
    std::unique_ptr<FramePool> frames;
    std::unique_ptr<FramePool> rx_frames; ///< RX mbufs handed over by receive_held()
    std::uint64_t tx_bursts = 0;
    std::uint16_t data_room = 0;
    std::uint16_t max_frame = 0;
    bool opened = false;  ///< configured: rte_eth_dev_close() is owed
    bool started = false; ///< bursts allowed
    int rx_intr_fd = -1;  ///< -1: the driver has no RX interrupt (or it was not asked for)
};

Result<Port> Port::open(const std::string& device, const PortOptions& opts) {
    if (!g_eal_ready.load()) return fail(Error::kInit, "DPDK EAL not initialised (call eal_init first)");
    std::uint16_t port_id = 0;
    if (int rc = rte_eth_dev_get_port_by_name(device.c_str(), &port_id); rc != 0)
        return fail(Error::kNotExist,
                    "no DPDK port '" + device + "' (is it in the EAL's vdev list or bound to vfio-pci?)");
    Port p;
    p.port_id_ = port_id;
    p.impl_ = std::make_unique<Impl>();
    // One frame, one segment: a jumbo MTU needs a bigger data room, else it would be dropped.
    p.impl_->data_room =
        std::max<std::uint16_t>(opts.data_room, static_cast<std::uint16_t>(RTE_PKTMBUF_HEADROOM + opts.max_frame));
    p.impl_->max_frame = opts.max_frame;
    const std::string pool_name = "hs_pool_" + std::to_string(port_id);
    p.impl_->pool =
        rte_pktmbuf_pool_create(pool_name.c_str(), opts.mbufs, 256, 0, p.impl_->data_room,
                                static_cast<int>(rte_eth_dev_socket_id(port_id)) < 0 ? static_cast<int>(rte_socket_id())
                                                                                     : rte_eth_dev_socket_id(port_id));
    if (!p.impl_->pool) return dpdk_failure(Error::kNoMemory, "mbuf pool for " + device, rte_errno);
    // The TX pool is separate: frames kept until acknowledged must never starve the RX queue.
    std::uint32_t tx_mbufs = opts.tx_mbufs;
    if (tx_mbufs == 0)
        tx_mbufs = static_cast<std::uint32_t>(
            std::clamp<std::size_t>(opts.tx_pool_bytes / (p.impl_->data_room + 192u), 511, 8191));
    const std::string tx_pool_name = "hs_txpool_" + std::to_string(port_id);
    p.impl_->tx_pool =
        rte_pktmbuf_pool_create(tx_pool_name.c_str(), tx_mbufs, 256, 0, p.impl_->data_room,
                                static_cast<int>(rte_eth_dev_socket_id(port_id)) < 0 ? static_cast<int>(rte_socket_id())
                                                                                     : rte_eth_dev_socket_id(port_id));
    if (!p.impl_->tx_pool) return dpdk_failure(Error::kNoMemory, "TX mbuf pool for " + device, rte_errno);
    p.impl_->frames = std::make_unique<FramePool>(p.impl_->tx_pool, opts.max_frame);
    p.impl_->rx_frames = std::make_unique<FramePool>(p.impl_->pool, opts.max_frame);
    rte_eth_conf conf{};
    conf.intr_conf.rxq = opts.rx_interrupts ? 1 : 0;
    int rc_conf = rte_eth_dev_configure(port_id, 1, 1, &conf);
    if (rc_conf < 0 && opts.rx_interrupts) { // a driver may refuse the request: poll without it
        conf.intr_conf.rxq = 0;
        rc_conf = rte_eth_dev_configure(port_id, 1, 1, &conf);
    }
    if (rc_conf < 0) return dpdk_failure(Error::kLibrary, "configure " + device, rc_conf);
    p.impl_->opened = true;
    std::uint16_t rxd = opts.rx_descriptors, txd = opts.tx_descriptors;
    rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rxd, &txd);
    const int socket =
        rte_eth_dev_socket_id(port_id) < 0 ? static_cast<int>(rte_socket_id()) : rte_eth_dev_socket_id(port_id);
    if (int rc = rte_eth_rx_queue_setup(port_id, 0, rxd, static_cast<unsigned>(socket), nullptr, p.impl_->pool); rc < 0)
        return dpdk_failure(Error::kLibrary, "RX queue of " + device, rc);
    if (int rc = rte_eth_tx_queue_setup(port_id, 0, txd, static_cast<unsigned>(socket), nullptr); rc < 0)
        return dpdk_failure(Error::kLibrary, "TX queue of " + device, rc);
    // A memif client's start connects to its server's socket and fails (EPERM) while there is
    // none: with start_later the port stays open and stopped, for restart() to try again.
    const int rc_start = rte_eth_dev_start(port_id);
    if (rc_start < 0 && !opts.start_later)
        return dpdk_failure(Error::kLibrary, "start " + device + " (a memif client needs its server's socket)",
                            rc_start);
    p.impl_->started = rc_start >= 0;
    if (p.impl_->started && conf.intr_conf.rxq) {
        // Only a driver with rx_queue_intr_enable and an interrupt vector per queue gives both;
        // memif and af_packet in DPDK 22.11 have neither (-ENOTSUP), and the port is polled.
        // Enable first: it fails quietly with -ENOTSUP, where asking for the fd of a driver
        // without an interrupt handle logs an error.
        if (rte_eth_dev_rx_intr_enable(port_id, 0) == 0) {
            const int fd = rte_eth_dev_rx_intr_ctl_q_get_fd(port_id, 0);
            rte_eth_dev_rx_intr_disable(port_id, 0);
            p.impl_->rx_intr_fd = fd;
        }
    }
    for (unsigned waited = 0; waited < opts.link_wait_ms && !p.link_up(); waited += 10) ::usleep(10'000);
    if (opts.link_wait_ms != 0 && !p.link_up())
        return fail(Error::kTimeout, "link of " + device + " did not come up within " +
                                         std::to_string(opts.link_wait_ms) + " ms (is the peer running?)");
    return p;
}

Port::Port(Port&&) noexcept = default;
Port& Port::operator=(Port&&) noexcept = default;

Port::~Port() {
    if (!impl_) return;
    {
        InterruptThreadParked parked; // no driver callback runs while the port goes
        if (impl_->started) rte_eth_dev_stop(port_id_);
        if (impl_->opened) rte_eth_dev_close(port_id_);
    }
    impl_->frames.reset();
    impl_->rx_frames.reset();
    if (impl_->tx_pool) rte_mempool_free(impl_->tx_pool);
    if (impl_->pool) rte_mempool_free(impl_->pool);
}

FramePool& Port::frame_pool() {
    return *impl_->frames;
}

std::uint64_t Port::tx_bursts() const {
    return impl_->tx_bursts;
}

std::size_t Port::send_burst(std::span<FrameBuf* const> frames) {
    if (!impl_->started) return 0;
    rte_mbuf* mbufs[32];
    std::size_t queued = 0;
    while (queued < frames.size()) {
        std::size_t n = 0;
        for (std::size_t i = queued; i < frames.size() && n < 32; ++i) {
            const FrameBuf& f = *frames[i];
            CKPT_ENFORCE(f.size() <= impl_->max_frame, "frame larger than the port's max_frame (the link MTU + 14)");
            if (auto* m = static_cast<rte_mbuf*>(f.mbuf())) {
                // The driver's reference; the sender keeps its own until the frame is acknowledged.
                rte_mbuf_refcnt_update(m, 1);
                mbufs[n++] = m;
                continue;
            }
            rte_mbuf* m = rte_pktmbuf_alloc(impl_->pool); // a heap frame: the TX pool was empty
            if (!m) break;
            char* d = rte_pktmbuf_append(m, static_cast<std::uint16_t>(f.size()));
            CKPT_ENFORCE(d != nullptr, "mbuf data room smaller than max_frame");
            std::memcpy(d, f.data(), f.size());
            mbufs[n++] = m;
        }
        if (n == 0) break;
        const std::uint16_t sent = rte_eth_tx_burst(port_id_, 0, mbufs, static_cast<std::uint16_t>(n));
        for (std::size_t j = sent; j < n; ++j) rte_pktmbuf_free(mbufs[j]); // our reference, or the copy
        if (sent) ++impl_->tx_bursts;
        queued += sent;
        if (sent < n) break; // TX ring full
    }
    return queued;
}

std::size_t Port::send(std::span<const std::span<const std::byte>> frames) {
    if (!impl_->started) return 0;
    rte_mbuf* mbufs[32];
    std::size_t queued = 0;
    while (queued < frames.size()) {
        std::size_t n = 0;
        for (std::size_t i = queued; i < frames.size() && n < 32; ++i) {
            const auto& f = frames[i];
            // Counting an oversized frame as sent would lose it silently (the sender would wait
            // for an acknowledgement that never comes): the frame builder owns the size limit.
            CKPT_ENFORCE(f.size() <= impl_->max_frame, "frame larger than the port's max_frame (the link MTU + 14)");
            rte_mbuf* m = rte_pktmbuf_alloc(impl_->pool);
            if (!m) break; // pool exhausted: report what was queued
            char* d = rte_pktmbuf_append(m, static_cast<std::uint16_t>(f.size()));
            CKPT_ENFORCE(d != nullptr, "mbuf data room smaller than max_frame");
            std::memcpy(d, f.data(), f.size());
            mbufs[n++] = m;
        }
        if (n == 0) break;
        std::uint16_t sent = rte_eth_tx_burst(port_id_, 0, mbufs, static_cast<std::uint16_t>(n));
        for (std::size_t j = sent; j < n; ++j) rte_pktmbuf_free(mbufs[j]);
        queued += sent;
        if (sent < n) break; // TX ring full
    }
    return queued;
}

bool Port::send_one(std::span<const std::byte> frame, unsigned spins) {
    const std::span<const std::byte> one[1] = {frame};
    for (unsigned i = 0; i < spins; ++i)
        if (send(one) == 1) return true;
    return false;
}

std::size_t Port::receive_raw(std::size_t max, void (*cb)(void*, std::span<const std::byte>), void* ctx) {
    if (!impl_->started) return 0;
    rte_mbuf* mbufs[32];
    std::uint16_t n = rte_eth_rx_burst(port_id_, 0, mbufs, static_cast<std::uint16_t>(std::min<std::size_t>(max, 32)));
    for (std::uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = mbufs[i];
        if (rte_pktmbuf_is_contiguous(m)) {
            cb(ctx, {rte_pktmbuf_mtod(m, const std::byte*), rte_pktmbuf_pkt_len(m)});
        } else { // chained mbuf (jumbo on some PMDs): linearise into a bounded copy
            std::vector<std::byte> buf(rte_pktmbuf_pkt_len(m));
            rte_pktmbuf_read(m, 0, static_cast<std::uint32_t>(buf.size()), buf.data());
            cb(ctx, buf);
        }
        rte_pktmbuf_free(m);
    }
    return n;
}

std::size_t Port::receive_held(std::size_t max, void (*cb)(void*, std::span<const std::byte>, FrameBuf*), void* ctx) {
    if (!impl_->started) return 0;
    rte_mbuf* mbufs[32];
    std::uint16_t n = rte_eth_rx_burst(port_id_, 0, mbufs, static_cast<std::uint16_t>(std::min<std::size_t>(max, 32)));
    for (std::uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = mbufs[i];
        if (rte_pktmbuf_is_contiguous(m)) {
            // The mbuf goes with the FrameBuf: freed when it is destroyed, here or by whoever kept it.
            FrameBuf b = impl_->rx_frames->adopt_mbuf(m, rte_pktmbuf_mtod(m, std::byte*), rte_pktmbuf_pkt_len(m));
            cb(ctx, {b.data(), b.size()}, &b);
        } else { // chained mbuf (jumbo on some PMDs): linearise into a bounded copy
            std::vector<std::byte> buf(rte_pktmbuf_pkt_len(m));
            rte_pktmbuf_read(m, 0, static_cast<std::uint32_t>(buf.size()), buf.data());
            cb(ctx, buf, nullptr);
            rte_pktmbuf_free(m);
        }
    }
    return n;
}

int Port::rx_interrupt_fd() const {
    return impl_ ? impl_->rx_intr_fd : -1;
}

bool Port::rx_interrupt(bool on) {
    if (!impl_ || impl_->rx_intr_fd < 0) return false;
    if (!on) return rte_eth_dev_rx_intr_disable(port_id_, 0) == 0;
    // Drain the eventfd a previous wake-up left readable, so the next sleep is not a busy one.
    // poll() first: the fd is DPDK's, and a blocking read of an empty one would hang the engine.
    pollfd pfd{impl_->rx_intr_fd, POLLIN, 0};
    if (::poll(&pfd, 1, 0) == 1) {
        std::uint64_t v;
        [[maybe_unused]] auto r = ::read(impl_->rx_intr_fd, &v, sizeof v);
    }
    return rte_eth_dev_rx_intr_enable(port_id_, 0) == 0;
}

MacAddress Port::mac() const {
    rte_ether_addr a{};
    rte_eth_macaddr_get(port_id_, &a);
    MacAddress m{};
    std::memcpy(m.data(), a.addr_bytes, 6);
    return m;
}

bool Port::link_up() const {
    rte_eth_link link{};
    return rte_eth_link_get_nowait(port_id_, &link) == 0 && link.link_status == RTE_ETH_LINK_UP;
}

Status Port::restart() {
    // Bursts on a stopped port are a DPDK usage error (it dumps a stack): send and receive check
    // `started`, which is false from the stop until a start succeeds.
    InterruptThreadParked parked; // no driver callback runs while the port stops and starts
    if (impl_->started) {
        impl_->started = false;
        if (int rc = rte_eth_dev_stop(port_id_); rc < 0) return dpdk_failure(Error::kLibrary, "stop port", rc);
    }
    if (int rc = rte_eth_dev_start(port_id_); rc < 0) return dpdk_failure(Error::kLibrary, "start port", rc);
    impl_->started = true;
    return {};
}

shm::CarrierStats Port::stats() const {
    rte_eth_stats s{};
    rte_eth_stats_get(port_id_, &s);
    return shm::CarrierStats{s.ipackets, s.opackets, s.ibytes, s.obytes, s.imissed, s.ierrors, s.oerrors};
}

} // namespace ckpt::net

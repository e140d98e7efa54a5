// The DPDK carrier: one EAL per engine and one port (a memif, af_packet or PCI ethdev), through
// net-dpdk's DPDK-free Port API.
#include "carriers.hpp"
#include "ckpt/net/dpdk_port.hpp"
#include "ckpt/net/memif_wake.hpp"

#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <optional>

namespace ckpt::net {

namespace {

class DpdkTransport final : public Transport {
public:
    DpdkTransport(Port port, std::string what, bool reconnect, std::optional<MemifWake> wake)
        : port_(std::move(port)), what_(std::move(what)), reconnect_(reconnect), wake_(std::move(wake)) {}
    ~DpdkTransport() override {
        port_.reset();
        eal_cleanup();
    }
    bool send(std::span<const std::byte> frame) override {
        const bool sent = port_->send_one(frame, 16);
        if (sent && wake_) wake_->notify_peer();
        return sent;
    }
    FramePool& frame_pool() override { return port_->frame_pool(); }
    std::size_t receive(std::size_t max, Receiver cb, void* ctx) override {
        return port_->receive([&](std::span<const std::byte> f) { cb(ctx, f); }, max);
    }
    std::size_t receive_held(std::size_t max, HeldReceiver cb, void* ctx) override {
        return port_->receive_held(max, cb, ctx);
    }
    std::array<std::uint8_t, 6> mac() const override { return port_->mac(); }
    void maintain(std::int64_t now_ns) override {
        // DPDK's memif client connects when the port starts and not again after its server
        // restarted: restart the port while the link stays down (every 500 ms at most).
        if (!reconnect_ || port_->link_up()) {
            down_since_ns_ = 0;
            return;
        }
        if (down_since_ns_ == 0) down_since_ns_ = now_ns;
        if (now_ns - down_since_ns_ < 500'000'000) return;
        down_since_ns_ = now_ns;
        (void)port_->restart();
    }
    /// memif: our own wake-up (memif_wake.hpp); otherwise the driver's RX interrupt when it has one
    /// (a PCI NIC); -1 for af_packet in DPDK 22.11, whose ethdev ops have no rx_queue_intr_enable
    /// (the engine then sleeps in short slices).
    int wait_fd() const override { return wake_ ? wake_->fd() : port_->rx_interrupt_fd(); }
    void arm_wakeup(bool on) override {
        if (wake_)
            wake_->sleeping(on);
        else
            port_->rx_interrupt(on);
    }
    std::string describe() const override { return what_; }
    TransportStats stats() const override {
        TransportStats t{};
        static_cast<shm::CarrierStats&>(t) = port_->stats();
        return t;
    }

protected:
    std::size_t send_burst(std::span<FrameBuf* const> frames) override {
        const std::size_t n = port_->send_burst(frames);
        if (n && wake_) wake_->notify_peer();
        return n;
    }

private:
    std::optional<Port> port_;
    std::string what_;
    bool reconnect_ = false;
    std::int64_t down_since_ns_ = 0;
    std::optional<MemifWake> wake_; ///< memif: the peer's RX wake-up and ours
};

} // namespace

Result<std::unique_ptr<Transport>> open_dpdk_transport(const CarrierConfig& cfg) {
    EalConfig eal;
    eal.file_prefix = cfg.file_prefix;
    eal.lcores = cfg.lcores;
    eal.memory_mb = cfg.memory_mb;
    eal.hugepages = cfg.hugepages;
    std::string device, what;
    if (cfg.transport == Carrier::kMemif) {
        if (cfg.memif_role == "client") {
            // The memif server (the peer) creates the socket; an engine started at the same moment
            // waits for it a little instead of failing, then says precisely what is missing.
            struct stat st {};
            for (int i = 0; i < 1000 && ::stat(cfg.memif_socket.c_str(), &st) != 0; ++i) ::usleep(10'000);
            if (::stat(cfg.memif_socket.c_str(), &st) != 0)
                return fail(Error::kUnavailable, "memif client: no server socket " + cfg.memif_socket +
                                                     " after 10 s (start the memif_role = server engine first)");
        }
        // socket-abstract=no: DPDK 22.11 defaults memif to an abstract socket, which has no
        // permissions; ours is a filesystem path (DESIGN invariant 7).
        eal.vdevs = {"net_memif0,role=" + cfg.memif_role + ",socket=" + cfg.memif_socket + ",socket-abstract=no"};
        // A jumbo MTU: memif buffers that hold a whole frame (the 2048-byte default chains a 9000-byte
        // frame over five descriptors). Both ends must agree: the server's value is the one used.
        if (cfg.mtu + 14 > 2048) {
            unsigned bsize = 2048;
            while (bsize < cfg.mtu + 14) bsize *= 2;
            eal.vdevs[0] += ",bsize=" + std::to_string(bsize);
        }
        device = "net_memif0";
        what = "memif " + cfg.memif_role + " " + cfg.memif_socket;
    } else if (cfg.transport == Carrier::kAfPacket) {
        // Checked here because DPDK's own error ("Couldn't open ...") names neither the key nor
        // the namespace, which is where a missing veth usually is.
        if (cfg.af_packet_iface.empty())
            return fail(Error::kInvalidParam, "transport af_packet needs af_packet_iface = <kernel interface>");
        if (::if_nametoindex(cfg.af_packet_iface.c_str()) == 0)
            return fail(Error::kNotExist, "af_packet_iface '" + cfg.af_packet_iface +
                                              "': no such network interface in this network namespace");
        // qdisc_bypass=0: our frames go through the interface's qdisc and netfilter egress hook,
        // so tc and nftables on the host (tests: loss, partitions) see what the engine sends.
        eal.vdevs = {"net_af_packet0,iface=" + cfg.af_packet_iface + ",qdisc_bypass=0"};
        device = "net_af_packet0";
        what = "af_packet " + cfg.af_packet_iface;
    } else if (cfg.transport == Carrier::kPci) {
        if (cfg.pci_address.empty())
            return fail(Error::kInvalidParam, "transport pci needs pci_address = <domain:bus:device.function>");
        const std::string sys = "/sys/bus/pci/devices/" + cfg.pci_address;
        struct stat st {};
        if (::stat(sys.c_str(), &st) != 0)
            return fail(Error::kNotExist,
                        "pci_address " + cfg.pci_address + ": no such PCI device on this host (lspci -D lists them)");
        std::string driver = "no driver";
        char link[PATH_MAX];
        if (ssize_t n = ::readlink((sys + "/driver").c_str(), link, sizeof link - 1); n > 0) {
            link[n] = 0;
            driver = std::string(link).substr(std::string(link).rfind('/') + 1);
        }
        eal.pci = true;
        eal.extra = {"-a", cfg.pci_address}; // only this NIC: DPDK must not take the others
        device = cfg.pci_address;
        what = "pci " + cfg.pci_address + " (" + driver + ")";
    } else {
        return fail(Error::kInvalidParam,
                    std::string("transport '") + carrier_name(cfg.transport) + "' is not a DPDK transport");
    }
    CKPT_TRY(eal_init(eal));
    PortOptions po;
    po.link_wait_ms = 0;   // the peer may start later: the link comes up when it does
    po.start_later = true; // a memif client before its server: maintain() starts it later
    po.mbufs = 8191;
    po.max_frame = static_cast<std::uint16_t>(cfg.mtu + 14); // Ethernet header on top of the IPv4 MTU
    po.rx_interrupts = true; // used when the driver has one (a PCI NIC); memif/af_packet poll
    auto port = Port::open(device, po);
    if (!port) {
        eal_cleanup();
        if (cfg.transport == Carrier::kPci)
            return fail(port.error(), what + ": " + port.message() +
                                          " (a NIC for DPDK is bound to vfio-pci: dpdk-devbind.py -b vfio-pci " +
                                          cfg.pci_address + ")");
        return port.failure();
    }
    std::optional<MemifWake> wake;
    if (cfg.transport == Carrier::kMemif && !cfg.memif_wakeup) {
        if (cfg.memif_role == "server") ::chmod(cfg.memif_socket.c_str(), 0600);
        what += " (polled: memif_wakeup = false)";
    } else if (cfg.transport == Carrier::kMemif) {
        if (cfg.memif_role == "server") ::chmod(cfg.memif_socket.c_str(), 0600); // owner-only peer link
        // The RX wake-up DPDK's memif lacks, so that an idle engine sleeps until a frame comes
        // instead of polling in slices; without it (said in the description) the engine polls.
        auto w = MemifWake::open(cfg.memif_socket, cfg.memif_role == "server");
        if (w) {
            wake.emplace(std::move(*w));
            what += " (RX wake-up " + cfg.memif_socket + ".wake-" + cfg.memif_role + ")";
        } else {
            what += " (no RX wake-up: " + w.message() + ")";
        }
    }
    return std::unique_ptr<Transport>(new DpdkTransport(
        std::move(*port), what, cfg.transport == Carrier::kMemif && cfg.memif_role == "client", std::move(wake)));
}

} // namespace ckpt::net

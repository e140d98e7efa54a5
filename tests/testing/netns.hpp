#pragma once
// Test helper: two "hosts" on one machine. Network namespaces joined by a veth pair, commands run
// inside them, and nftables rules that lose frames on a veth (these kernels have no sch_netem).
// Needs root, iproute2 and nftables (scripts/install-deps.sh installs both).
//
// What these rules do to which carrier (measured on this project's kernels, see
// docs/OPERATIONS.md "Impairing a link"):
//   - ingress (netdev family, hook ingress) drops a frame before the kernel's IP stack, so a
//     kernel UDP socket never sees it; an AF_PACKET socket on the same device (DPDK af_packet)
//     still does: packet taps run before the ingress hook;
//   - egress (hook egress) drops what the device sends, whoever sends it: the kernel stack, an
//     AF_PACKET socket (DPDK af_packet, with or without qdisc_bypass).
// So to silence an af_packet node, drop on the egress of its own veth.
#include <cstdint>
#include <string>
#include <vector>

namespace ckpt::testing {

/// Runs argv (argv[0] searched in PATH) and waits; returns its exit code (-1 if it did not exit
/// normally or could not start). Its stdout and stderr go to `output` when given.
int run(const std::vector<std::string>& argv, std::string* output = nullptr);
/// The argv prefix that runs a command inside network namespace `ns`: ip netns exec NS.
std::vector<std::string> in_netns(const std::string& ns);
/// run() inside `ns`.
int run_in(const std::string& ns, const std::vector<std::string>& argv, std::string* output = nullptr);

/// Empty when this process can make namespaces, veths and nftables rules; otherwise why not.
std::string netns_unavailable();

/// Two network namespaces joined by a veth pair, each end up with an address (/24), loopback up.
/// Names carry this process's pid, so parallel tests never meet; the destructor deletes both
/// namespaces (the veth and any nftables tables go with them). The constructor also deletes
/// namespaces this helper left behind in a run that was killed (their pid is gone).
class VethPair {
public:
    explicit VethPair(const std::string& ip1 = "10.77.0.1", const std::string& ip2 = "10.77.0.2");
    ~VethPair();
    VethPair(const VethPair&) = delete;
    VethPair& operator=(const VethPair&) = delete;

    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; } ///< the failed command and its output

    const std::string& ns1() const { return ns1_; }
    const std::string& ns2() const { return ns2_; }
    const std::string& dev1() const { return dev1_; } ///< the veth end inside ns1
    const std::string& dev2() const { return dev2_; }
    const std::string& ip1() const { return ip1_; }
    const std::string& ip2() const { return ip2_; }

private:
    std::string ns1_, ns2_, dev1_, dev2_, ip1_, ip2_, error_;
};

enum class Hook { kIngress, kEgress, kBoth };

/// Drops UDP datagrams for `port` on `dev` inside `ns` (table netdev hs, one chain per device and
/// hook). False (with nft's words in `error`) when nft refused.
bool block_udp(const std::string& ns, const std::string& dev, std::uint16_t port, Hook hook = Hook::kBoth,
               std::string* error = nullptr);
/// Drops `pct` percent of all frames on `dev` (nft: numgen random mod 100 < pct drop).
bool drop_pct(const std::string& ns, const std::string& dev, unsigned pct, Hook hook = Hook::kBoth,
              std::string* error = nullptr);
/// Drops frames on `dev` that match the nft expression `match` (e.g. "udp dport 7490 @th,104,8 1":
/// raw payload matches reach into the Hotspare header). Same table and chains as block_udp.
bool drop_matching(const std::string& ns, const std::string& dev, const std::string& match, Hook hook = Hook::kBoth,
                   std::string* error = nullptr);
/// Removes every rule block_udp/drop_pct/drop_matching put on `dev` (its chains; the table stays).
bool unblock(const std::string& ns, const std::string& dev, std::string* error = nullptr);
/// Frames the rules on `dev` dropped so far (nft counters), for assertion messages and checks.
std::uint64_t dropped(const std::string& ns, const std::string& dev, Hook hook = Hook::kBoth);

} // namespace ckpt::testing

#include "ckpt/engine/config.hpp"

#include <CLI/CLI.hpp>

#include <arpa/inet.h>
#include <net/if.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ckpt::engine {
namespace {

std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return "";
    auto e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

bool parse_u64(const std::string& v, std::uint64_t& out, int base = 10) {
    if (v.empty()) return false;
    char* end = nullptr;
    errno = 0;
    unsigned long long x = std::strtoull(v.c_str(), &end, base);
    if (errno || *end || v[0] == '-') return false;
    out = x;
    return true;
}

/// A percentage 0..100, fractions allowed ("0.5").
bool parse_pct(const std::string& v, double& out) {
    if (v.empty()) return false;
    char* end = nullptr;
    errno = 0;
    const double x = std::strtod(v.c_str(), &end);
    if (errno || *end || !std::isfinite(x) || x < 0 || x > 100) return false;
    out = x;
    return true;
}

/// "0000:03:00.0" (domain:bus:device.function, hex), or "03:00.0" with domain 0 implied; the
/// result is DPDK's and sysfs's spelling, in lower case.
bool parse_pci_address(std::string v, std::string& out) {
    for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (v.size() == 7) v = "0000:" + v;
    if (v.size() != 12 || v[4] != ':' || v[7] != ':' || v[10] != '.' || v[11] < '0' || v[11] > '7') return false;
    for (std::size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u})
        if (!std::isxdigit(static_cast<unsigned char>(v[i]))) return false;
    out = v;
    return true;
}

template <typename T>
bool parse_list(const std::string& v, std::vector<T>& out) {
    std::stringstream ss(v);
    std::string item;
    while (std::getline(ss, item, ',')) {
        std::uint64_t x;
        if (!parse_u64(trim(item), x)) return false;
        out.push_back(static_cast<T>(x));
    }
    return true;
}

Status set_key(Config& c, const std::string& key, const std::string& v) {
    std::uint64_t n = 0;
    auto bad = [&](const std::string& what) { return fail(Error::kInvalidParam, key + " = '" + v + "': " + what); };
    if (key == "node_id") {
        if (!parse_u64(v, n) || n == 0 || n > 65535) return bad("expected 1..65535");
        c.node_id = static_cast<std::uint32_t>(n);
    } else if (key == "socket")
        c.socket_path = v;
    else if (key == "socket_mode") {
        if (!parse_u64(v, n, 8) || n > 0777) return bad("expected an octal mode like 0660");
        c.socket_mode = static_cast<mode_t>(n);
    } else if (key == "shm_prefix")
        c.shm_prefix = v;
    else if (key == "state_dir")
        c.state_dir = v;
    else if (key == "segment_mode") {
        // Owner read/write always; group bits optional; never "other": segments are private.
        if (!parse_u64(v, n, 8) || n > 0660 || (n & 0600) != 0600 || (n & 0007) != 0)
            return bad("expected 0600 or a group mode like 0660 (never bits for others)");
        c.segment_mode = static_cast<mode_t>(n);
    } else if (key == "segment_gid") {
        if (!parse_u64(v, n)) return bad("expected a numeric gid");
        c.segment_gid = static_cast<gid_t>(n);
    } else if (key == "allow_uids") {
        if (!parse_list(v, c.allow_uids)) return bad("expected comma-separated numeric uids");
    } else if (key == "allow_gids") {
        if (!parse_list(v, c.allow_gids)) return bad("expected comma-separated numeric gids");
    } else if (key == "reattach_grace_ms") {
        if (!parse_u64(v, n) || n > 600000) return bad("expected 0..600000");
        c.reattach_grace_ms = static_cast<std::uint32_t>(n);
    } else if (key == "local_stage") {
        if (v != "true" && v != "false") return bad("expected true or false");
        c.local_stage = v == "true";
    } else if (key == "scan_interval_ms") {
        if (!parse_u64(v, n) || n == 0 || n > 60000) return bad("expected 1..60000");
        c.scan_interval_ms = static_cast<std::uint32_t>(n);
    } else if (key == "stats_interval_ms") {
        if (!parse_u64(v, n) || n == 0 || n > 60000) return bad("expected 1..60000");
        c.stats_interval_ms = static_cast<std::uint32_t>(n);
    } else if (key == "stats_checkpoints") {
        if (!parse_u64(v, n) || n == 0 || n > 4096) return bad("expected 1..4096");
        c.stats_checkpoints = static_cast<std::uint32_t>(n);
    } else if (key == "idle_spin_us") {
        if (!parse_u64(v, n) || n > 1000000) return bad("expected 0..1000000");
        c.idle_spin_us = static_cast<std::uint32_t>(n);
    } else if (key == "transport") {
        auto carrier = net::parse_carrier(v);
        if (!carrier) return bad("expected none, memif, af_packet, pci or udp");
        c.link.transport = *carrier;
    } else if (key == "auth") {
        if (v == "none")
            c.link.auth = AuthMode::kNone;
        else if (v == "key")
            c.link.auth = AuthMode::kKey;
        else
            return bad("expected key (frames authenticated with auth_key_file) or none");
    } else if (key == "auth_key_file") {
        if (v.empty() || v[0] != '/') return bad("expected an absolute path (ckptctl keygen PATH makes the file)");
        c.link.auth_key_file = v;
    } else if (key == "af_packet_iface") {
        // It becomes part of a DPDK device argument list: no ',' or '=' can pass.
        if (v.empty() || v.size() >= IFNAMSIZ) return bad("expected an interface name of 1..15 characters");
        for (char ch : v)
            if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.' || ch == ':'))
                return bad("an interface name holds only [A-Za-z0-9_.:-]");
        c.link.af_packet_iface = v;
    } else if (key == "pci_address") {
        if (!parse_pci_address(v, c.link.pci_address)) return bad("expected a PCI address like 0000:03:00.0");
    } else if (key == "memif_socket") {
        if (v.empty() || v[0] != '/') return bad("expected an absolute path");
        c.link.memif_socket = v;
    } else if (key == "memif_role") {
        if (v != "server" && v != "client") return bad("expected server or client");
        c.link.memif_role = v;
    } else if (key == "memif_wakeup") {
        if (v != "true" && v != "false") return bad("expected true or false");
        c.link.memif_wakeup = v == "true";
    } else if (key == "dpdk_lcores") {
        c.link.lcores = v;
    } else if (key == "dpdk_memory_mb") {
        if (!parse_u64(v, n) || n < 64 || n > 65536) return bad("expected 64..65536");
        c.link.memory_mb = static_cast<unsigned>(n);
    } else if (key == "dpdk_hugepages") {
        if (v != "true" && v != "false") return bad("expected true or false");
        c.link.hugepages = v == "true";
    } else if (key == "dpdk_file_prefix") {
        c.link.file_prefix = v;
    } else if (key == "ip") {
        in_addr a{};
        if (::inet_pton(AF_INET, v.c_str(), &a) != 1) return bad("expected an IPv4 address");
        c.link.ip = ntohl(a.s_addr);
    } else if (key == "udp_port") {
        if (!parse_u64(v, n) || n == 0 || n > 65535) return bad("expected 1..65535");
        c.link.udp_port = static_cast<std::uint16_t>(n);
    } else if (key == "peers") {
        // "2", "2@10.77.0.2" or "2@127.0.0.1:7491", comma-separated
        c.link.peers.clear();
        std::stringstream ss(v);
        std::string item;
        while (std::getline(ss, item, ',')) {
            item = trim(item);
            PeerConfig p;
            auto at = item.find('@');
            if (!parse_u64(item.substr(0, at), n) || n == 0 || n > 65534) return bad("peer node ids are 1..65534");
            p.node_id = static_cast<std::uint16_t>(n);
            if (at != std::string::npos) {
                std::string addr = item.substr(at + 1);
                if (auto colon = addr.find(':'); colon != std::string::npos) {
                    if (!parse_u64(addr.substr(colon + 1), n) || n == 0 || n > 65535)
                        return bad("a peer's UDP port (NODE@IP:PORT) is 1..65535");
                    p.udp_port = static_cast<std::uint16_t>(n);
                    addr.resize(colon);
                }
                in_addr a{};
                if (::inet_pton(AF_INET, addr.c_str(), &a) != 1)
                    return bad("expected NODE, NODE@IPv4 or NODE@IPv4:PORT");
                p.ip = ntohl(a.s_addr);
            }
            for (const auto& q : c.link.peers)
                if (q.node_id == p.node_id) return bad("peer " + std::to_string(p.node_id) + " is listed twice");
            c.link.peers.push_back(p);
        }
    } else if (key == "heartbeat_ms") {
        if (!parse_u64(v, n) || n == 0 || n > 60000) return bad("expected 1..60000");
        c.link.heartbeat_ms = static_cast<unsigned>(n);
    } else if (key == "peer_timeout_ms") {
        if (!parse_u64(v, n) || n == 0 || n > 600000) return bad("expected 1..600000");
        c.link.peer_timeout_ms = static_cast<unsigned>(n);
    } else if (key == "link_sleep_us") {
        if (!parse_u64(v, n) || n == 0 || n > 100000) return bad("expected 1..100000");
        c.link_sleep_us = static_cast<std::uint32_t>(n);
    } else if (key == "mtu") {
        if (!parse_u64(v, n) || n < 576 || n > 9000) return bad("expected 576..9000 (the link's IPv4 MTU)");
        c.link.mtu = static_cast<unsigned>(n);
    } else if (key == "send_window") {
        if (!parse_u64(v, n) || n == 0 || n > 65536) return bad("expected 1..65536 frames");
        c.link.stream.window = static_cast<std::uint32_t>(n);
    } else if (key == "retransmit_ms") {
        if (!parse_u64(v, n) || n == 0 || n > 10000) return bad("expected 1..10000");
        c.link.stream.rto_ns = static_cast<std::int64_t>(n) * 1'000'000;
    } else if (key == "replica_max_bytes") {
        if (!parse_u64(v, n) || n == 0) return bad("expected a size in bytes, at least 1");
        c.link.replica_max_bytes = n;
    } else if (key == "replica_max_sections") {
        if (!parse_u64(v, n) || n == 0 || n > 0xFFFFFFFFull) return bad("expected 1..4294967295");
        c.link.replica_max_sections = static_cast<std::uint32_t>(n);
    } else if (key == "retransmit_min_ms") {
        if (!parse_u64(v, n) || n == 0 || n > 10000) return bad("expected 1..10000");
        c.link.stream.min_rto_ns = static_cast<std::int64_t>(n) * 1'000'000;
    } else if (key == "async_window") {
        if (!parse_u64(v, n) || n > 1'000'000) return bad("expected 0..1000000 commits (0: unbounded)");
        c.link.async_window = static_cast<std::uint32_t>(n);
    } else if (key == "async_window_policy") {
        if (v != "block" && v != "try_again") return bad("expected block or try_again");
        c.link.window_policy = v == "block" ? 0 : 1;
    } else if (key == "fence_peer_command") {
        if (v.empty() || v[0] != '/') return bad("expected an absolute path to an executable");
        c.fence_peer_command = v;
    } else if (key == "fence_timeout_ms") {
        if (!parse_u64(v, n) || n == 0 || n > 600'000) return bad("expected 1..600000");
        c.fence_timeout_ms = static_cast<std::uint32_t>(n);
    } else if (key == "fence_retry_ms") {
        if (!parse_u64(v, n) || n == 0 || n > 600'000) return bad("expected 1..600000");
        c.fence_retry_ms = static_cast<std::uint32_t>(n);
    } else if (key == "member_timeout_ms") {
        if (!parse_u64(v, n) || n > 86'400'000) return bad("expected 0..86400000 (0: a down replica stays required)");
        c.link.member_timeout_ms = static_cast<std::uint32_t>(n);
    } else if (key == "replicas") {
        if (!parse_u64(v, n) || n == 1 || n > 65535)
            return bad("expected 0 (one on every peer) or 2..65535 (this node's copy and replicas - 1 standbys)");
        c.link.replicas = static_cast<std::uint32_t>(n);
    } else if (key == "fault_seed") {
        if (!parse_u64(v, n)) return bad("expected an unsigned 64-bit number");
        c.link.fault.seed = n;
    } else if (key == "fault_drop_pct") {
        if (!parse_pct(v, c.link.fault.drop_pct)) return bad("expected a percentage 0..100 (fractions allowed)");
    } else if (key == "fault_dup_pct") {
        if (!parse_pct(v, c.link.fault.dup_pct)) return bad("expected a percentage 0..100 (fractions allowed)");
    } else if (key == "fault_reorder_pct") {
        if (!parse_pct(v, c.link.fault.reorder_pct)) return bad("expected a percentage 0..100 (fractions allowed)");
    } else if (key == "fault_corrupt_pct") {
        if (!parse_pct(v, c.link.fault.corrupt_pct)) return bad("expected a percentage 0..100 (fractions allowed)");
    } else if (key == "fault_burst_frames") {
        double b = 0;
        char* end = nullptr;
        b = std::strtod(v.c_str(), &end);
        if (v.empty() || *end != '\0' || !(b == 0 || (b >= 1 && b <= 1'000'000)))
            return bad("expected 0 (independent loss) or a mean burst length of 1..1000000 frames");
        c.link.fault.burst_frames = b;
    } else if (key == "fault_delay_us") {
        if (!parse_u64(v, n) || n > 10'000'000) return bad("expected 0..10000000 microseconds");
        c.link.fault.delay_us = static_cast<std::uint32_t>(n);
    } else if (key == "fault_direction") {
        if (v != "tx" && v != "rx" && v != "both") return bad("expected tx, rx or both");
        c.link.fault.tx = v != "rx";
        c.link.fault.rx = v != "tx";
    } else if (key == "log_file")
        c.log_file = v;
    else if (key == "pid_file")
        c.pid_file = v;
    else if (key == "daemonize") {
        if (v != "true" && v != "false") return bad("expected true or false");
        c.daemonize = v == "true";
    } else
        return fail(Error::kInvalidParam, "unknown key '" + key + "'");
    return {};
}

} // namespace

Status load_config_file(const std::string& path, Config& cfg) {
    std::ifstream in(path);
    if (!in) return fail(Error::kNotExist, "cannot read configuration file " + path);
    std::string line;
    for (int lineno = 1; std::getline(in, line); ++lineno) {
        auto hash = line.find('#');
        if (hash != std::string::npos) line.resize(hash);
        line = trim(line);
        if (line.empty()) continue;
        auto eq = line.find('=');
        if (eq == std::string::npos)
            return fail(Error::kInvalidParam, path + ":" + std::to_string(lineno) + ": expected 'key = value'");
        if (Status s = set_key(cfg, trim(line.substr(0, eq)), trim(line.substr(eq + 1))); !s)
            return fail(Error::kInvalidParam, path + ":" + std::to_string(lineno) + ": " + s.message());
    }
    return {};
}

int parse_command_line(int argc, char** argv, Config& cfg, std::string& error) {
    CLI::App app{"ckptd: the Hotspare checkpoint engine (one per node)"};
    std::string config_file;
    std::vector<std::string> sets;
    std::uint32_t node_id = 0;
    std::string socket, prefix, state_dir, log_file;
    bool foreground = false, daemon = false, verbose = false, check = false;
    app.add_option("-c,--config", config_file, "configuration file (key = value lines)");
    app.add_option("-n,--node-id", node_id, "node id (1..65535)");
    app.add_option("-s,--socket", socket, "control socket path");
    app.add_option("-p,--shm-prefix", prefix, "prefix of POSIX shared-memory names");
    app.add_option("--state-dir", state_dir, "directory for persistent checkpoints");
    app.add_option("--log-file", log_file, "log to this file instead of stderr");
    app.add_option("-o,--set", sets, "override one configuration key: KEY=VALUE (repeatable)");
    app.add_flag("-f,--foreground", foreground, "stay in the foreground (default)");
    app.add_flag("-d,--daemon", daemon, "detach and run in the background");
    app.add_flag("-v,--verbose", verbose, "log every control request");
    app.add_flag("-t,--check", check,
                 "check the configuration and exit (0 valid, 2 not); opens no socket, segment or device");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    if (!config_file.empty()) {
        if (Status s = load_config_file(config_file, cfg); !s) {
            error = s.message();
            return 2;
        }
    }
    for (const auto& kv : sets) {
        auto eq = kv.find('=');
        if (eq == std::string::npos) {
            error = "--set expects KEY=VALUE, got '" + kv + "'";
            return 2;
        }
        if (Status s = set_key(cfg, trim(kv.substr(0, eq)), trim(kv.substr(eq + 1))); !s) {
            error = s.message();
            return 2;
        }
    }
    if (node_id) cfg.node_id = node_id;
    if (!socket.empty()) cfg.socket_path = socket;
    if (!prefix.empty()) cfg.shm_prefix = prefix;
    if (!state_dir.empty()) cfg.state_dir = state_dir;
    if (!log_file.empty()) cfg.log_file = log_file;
    if (daemon) cfg.daemonize = true;
    if (foreground) cfg.daemonize = false;
    cfg.verbose = cfg.verbose || verbose;
    if (Status s = validate_config(cfg); !s) {
        error = s.message();
        return 2;
    }
    if (check) {
        // What the engine would serve, so that an operator sees which file and overrides won.
        error = "configuration OK: node " + std::to_string(cfg.node_id) + ", socket " + cfg.socket_path +
                ", shm_prefix " + cfg.shm_prefix + ", state_dir " + cfg.state_dir + ", transport " +
                net::carrier_name(cfg.link.transport);
        if (cfg.link.transport == net::Carrier::kMemif)
            error += " (" + cfg.link.memif_role + " " + cfg.link.memif_socket + ")";
        if (cfg.link.transport == net::Carrier::kAfPacket) error += " (" + cfg.link.af_packet_iface + ")";
        if (cfg.link.transport == net::Carrier::kPci) error += " (" + cfg.link.pci_address + ")";
        if (cfg.link.transport != net::Carrier::kNone) {
            error += ", peers";
            for (std::size_t i = 0; i < cfg.link.peers.size(); ++i)
                error += (i ? "," : " ") + std::to_string(cfg.link.peers[i].node_id);
        }
        return 0;
    }
    return -1;
}

Status validate_config(const Config& c) {
    if (c.socket_path.empty() || c.socket_path[0] != '/')
        return fail(Error::kInvalidParam,
                    "socket path must be absolute (abstract sockets are not used), got '" + c.socket_path + "'");
    if (c.socket_path.size() >= sizeof(sockaddr_un::sun_path))
        return fail(Error::kInvalidParam,
                    "socket path is longer than " + std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
    if (c.shm_prefix.empty() || c.shm_prefix.size() > 40)
        return fail(Error::kInvalidParam, "shm_prefix must be 1..40 characters");
    if (!c.fence_peer_command.empty() && ::access(c.fence_peer_command.c_str(), X_OK) != 0)
        return fail(Error::kInvalidParam, "fence_peer_command '" + c.fence_peer_command +
                                              "' is not an executable file: " + std::strerror(errno));
    if (!c.fence_peer_command.empty() && c.link.peers.empty())
        return fail(Error::kInvalidParam, "fence_peer_command is set but no peers are: nothing to fence");
    for (char ch : c.shm_prefix)
        if (!(isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-'))
            return fail(Error::kInvalidParam,
                        "shm_prefix '" + c.shm_prefix + "' holds a character outside [A-Za-z0-9._-]");
    if (c.state_dir.empty() || c.state_dir[0] != '/')
        return fail(Error::kInvalidParam, "state_dir must be an absolute path");
    if (c.link.transport != net::Carrier::kNone) {
        if (c.link.peers.empty())
            return fail(Error::kInvalidParam,
                        std::string("transport ") + net::carrier_name(c.link.transport) + " needs peers = ...");
        for (const auto& p : c.link.peers)
            if (p.node_id == c.node_id) return fail(Error::kInvalidParam, "peers lists this node's own id");
        if (c.link.replicas > c.link.peers.size() + 1)
            return fail(Error::kInvalidParam, "replicas = " + std::to_string(c.link.replicas) + " needs " +
                                                  std::to_string(c.link.replicas - 1) + " peers, and peers lists " +
                                                  std::to_string(c.link.peers.size()));
        if (c.link.peer_timeout_ms <= c.link.heartbeat_ms)
            return fail(Error::kInvalidParam, "peer_timeout_ms must exceed heartbeat_ms");
        if (c.link.transport == net::Carrier::kAfPacket && c.link.af_packet_iface.empty())
            return fail(Error::kInvalidParam,
                        "transport af_packet needs af_packet_iface = <kernel interface> (a veth or a NIC)");
        if (c.link.transport == net::Carrier::kPci && c.link.pci_address.empty())
            return fail(Error::kInvalidParam,
                        "transport pci needs pci_address = <domain:bus:device.function> (lspci -D lists them)");
        for (const auto& p : c.link.peers) {
            const std::string name = "peer " + std::to_string(p.node_id);
            const std::uint16_t port = p.udp_port ? p.udp_port : c.link.udp_port;
            if (port != c.link.udp_port && c.link.transport != net::Carrier::kUdp)
                return fail(Error::kInvalidParam, name + " has UDP port " + std::to_string(port) + " but this node " +
                                                      std::to_string(c.link.udp_port) +
                                                      ": per-peer ports (NODE@IP:PORT) "
                                                      "need transport = udp");
            if (c.link.transport == net::Carrier::kUdp && p.ip != 0 && p.ip == c.link.ip && port == c.link.udp_port)
                return fail(Error::kInvalidParam, name + " has this node's own address and udp_port " +
                                                      std::to_string(port) + " (give it NODE@IP:PORT)");
        }
        if (c.link.auth == AuthMode::kKey && c.link.auth_key_file.empty())
            return fail(Error::kInvalidParam,
                        "replication needs a cluster key: set auth_key_file = PATH (make the key with `ckptctl keygen "
                        "PATH` and copy the file to every node), or auth = none to replicate without "
                        "authentication");
        if (c.link.auth == AuthMode::kNone && !c.link.auth_key_file.empty())
            return fail(Error::kInvalidParam, "auth = none and auth_key_file both set: keep one");
    } else if (c.link.fault.enabled()) {
        return fail(Error::kInvalidParam, "fault_* keys apply to a peer link: transport = none has none");
    }
    return {};
}

} // namespace ckpt::engine

#pragma once
/// ckptd's configuration: a `key = value` file (comments with '#') overlaid by command-line flags.
#include "ckpt/common/result.hpp"
#include "ckpt/engine/link_config.hpp"

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ckpt::engine {

struct Config {
    std::uint32_t node_id = 1;
    std::string socket_path = "/run/hotspare/ckptd.sock"; ///< control socket (a filesystem path)
    mode_t socket_mode = 0660;
    std::string shm_prefix = "hotspare.1.";      ///< POSIX shm names start with this
    std::string state_dir = "/var/lib/hotspare"; ///< persistent checkpoints live here
    mode_t segment_mode = 0600;                  ///< private by default
    gid_t segment_gid = static_cast<gid_t>(-1);  ///< group given to segments (and the socket), -1 = keep
    /// Checkpoints created get a local stage after DATA (docs/ARCHITECTURE.md §3.6): a writer's next
    /// transaction then does not wait for the capture of its previous commit.
    bool local_stage = true;
    std::vector<uid_t> allow_uids;          ///< besides root and ckptd's own uid
    std::vector<gid_t> allow_gids;          ///< any client whose primary gid is listed
    std::uint32_t reattach_grace_ms = 5000; ///< after a restart, how long clients have to come back
    std::uint32_t scan_interval_ms = 200;   ///< safety scan for commits whose doorbell was lost
    std::uint32_t idle_spin_us = 50;        ///< busy-poll this long after the last work, then sleep
    std::uint32_t link_sleep_us = 200;      ///< with peers on a carrier without RX wake-ups: longest sleep
    std::uint32_t stats_interval_ms = 10;   ///< how often the stats region in NODE is published
    std::uint32_t stats_checkpoints = 128;  ///< checkpoints with a slot in the stats region
    bool daemonize = false;
    std::string log_file; ///< empty: stderr
    std::string pid_file; ///< written once serving, removed at a clean exit
    bool verbose = false;
    /// Run as `fence_peer_command NODE` when a standby that holds this active's state goes silent;
    /// exit 0 means the node cannot be promoted now, and only then are sync commits acknowledged
    /// without it (until then they fail naming it). Empty (the default, outside a cluster):
    /// member_timeout_ms decides instead. CLUSTER.md: packaging/ocf/hotspare-fence-peer.
    std::string fence_peer_command;
    std::uint32_t fence_timeout_ms = 10'000; ///< a command that does not answer by then has failed
    std::uint32_t fence_retry_ms = 1'000;    ///< a failed attempt is tried again after this
    LinkConfig link;                         ///< peers and transport; transport "none" keeps the engine node-local
};

/// Parses a configuration file into `cfg`; INVALID_PARAM with file:line for the first bad line.
Status load_config_file(const std::string& path, Config& cfg);

/// Parses argv (flags override the file given with --config). Returns exit code >= 0 when the
/// program should stop (e.g. after --help, or --check: 0 with a one-line summary of the valid
/// configuration in `error`, for stdout), -1 to run.
int parse_command_line(int argc, char** argv, Config& cfg, std::string& error);

/// Cross-field checks (paths absolute, prefix characters, lengths).
Status validate_config(const Config& cfg);

} // namespace ckpt::engine

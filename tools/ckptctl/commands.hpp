#pragma once
/// What each ckptctl command does over a connected session, through the client library only.
/// Every function prints its result to stdout, reports a failure on stderr (exit_codes.hpp) and
/// returns the exit code. The command line (ckptctl.cpp) has already checked the arguments' syntax;
/// everything else (names, limits, state) is the engine's to judge, so its words reach the operator.
#include "ckpt/client/session.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace ckpt::tools {

/// `list`: every checkpoint of the node.
int list_checkpoints(client::Session& session);

/// `peers`: the engine's transport and each peer's state, last heard, frames and restarts.
int list_peers(client::Session& session);

/// `create`: Session::create, then close. The checkpoint outlives this process only for its
/// retention time (unless an application holds it open).
int create_checkpoint(client::Session& session, const std::string& name, const CheckpointAttributes& attrs);

/// `unlink`: the name goes at once, the data at the last close.
int unlink_checkpoint(client::Session& session, const std::string& name);

/// `status`: opens the checkpoint read-only and prints Checkpoint::status().
int show_status(client::Session& session, const std::string& name);

/// `sections`: the section directory, read through the shm reader API without opening a handle.
int list_sections(client::Session& session, const std::string& name);

struct SectionCreateRequest {
    std::string checkpoint;
    std::string id;                            ///< raw bytes (already decoded from \xNN)
    std::uint64_t capacity = 0;                ///< 0: the checkpoint's max_section_size
    std::string data;                          ///< initial bytes, when data_file is empty
    std::string data_file;                     ///< read the initial bytes from this file instead
    std::optional<std::int64_t> expires_in_ms; ///< none: the section never expires
};

/// `section-create`: opens the checkpoint read-write and creates one section.
int create_section(client::Session& session, const SectionCreateRequest& request);

/// `section-delete`.
int delete_section(client::Session& session, const std::string& checkpoint, const std::string& id);

/// `dump`: the section's committed bytes, as a hex dump or (raw) unchanged.
int dump_section(client::Session& session, const std::string& checkpoint, const std::string& id, bool raw);

/// `promote`: this node becomes the active replica (Session::promote); prints the new epoch.
int promote_checkpoint(client::Session& session, const std::string& name);

/// `demote`: this node becomes a standby for the checkpoint.
int demote_checkpoint(client::Session& session, const std::string& name);

/// `write`: copies `data` to `offset` in one synchronous commit and prints the commit sequence.
int write_section(client::Session& session, const std::string& checkpoint, const std::string& id,
                  const std::string& data, std::uint64_t offset);

} // namespace ckpt::tools

#pragma once
/// An open checkpoint: section lookup (O(1), local, no engine round trip), section management
/// through the engine, iteration with the SA Forum filters, multi-section reads, and change
/// notification through a pollable fd.
#include "ckpt/client/section.hpp"
#include "ckpt/common/attributes.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::client {

/// SaCkptSectionsChosenT.
enum class SectionsChosen : std::uint32_t {
    kForever = 1,           ///< SA_CKPT_SECTIONS_FOREVER: expiration is SA_TIME_END
    kLeqExpirationTime = 2, ///< expiration <= the given time
    kGeqExpirationTime = 3, ///< expiration >= the given time
    kCorrupted = 4,         ///< SA_CKPT_SECTIONS_CORRUPTED
    kAny = 5,               ///< SA_CKPT_SECTIONS_ANY
};

/// SaCkptSectionDescriptorT.
struct SectionDescriptor {
    std::string id;
    std::int64_t expiration_ns = kTimeEnd;
    std::uint64_t size = 0;
    std::uint64_t capacity = 0;
    bool corrupted = false;
    std::int64_t last_update_ns = 0;
    std::uint64_t sequence = 0; ///< last captured commit sequence
};

struct SectionCreate {
    std::string id;           ///< ignored when generate_id
    bool generate_id = false; ///< SA_CKPT_GENERATED_SECTION_ID
    std::int64_t expiration_ns = kTimeEnd;
    std::uint64_t capacity = 0;         ///< bytes reserved; 0 = max_section_size
    std::span<const std::byte> initial; ///< initial data
};

/// One element of a multi-section read (SaCkptIOVectorElementT).
struct ReadRequest {
    std::string_view id;
    std::uint64_t offset = 0;
    std::span<std::byte> buffer;
    std::size_t read_size = 0; ///< out
};

/// What ckptd counts per checkpoint (STATUS, LIST and INSPECT carry it).
struct EngineCounters {
    std::uint64_t captures = 0;       ///< commits captured into the engine's committed copy
    std::uint64_t captured_bytes = 0; ///< bytes copied doing so (dirty blocks only)
    std::uint64_t rollbacks = 0;      ///< sections restored after their writer died mid-write
    std::uint64_t corruptions = 0;    ///< sections marked corrupted (weak mode)
    std::uint64_t invalid_words = 0;  ///< application-writable words found invalid
    std::string damage;               ///< empty unless such words were found: what, in words
};

/// The checkpoint's replication state on this node, read from its shared header (no engine call).
struct ReplicationState {
    std::string role;                  ///< "local" (no peers), "active" or "standby"
    std::uint64_t epoch = 0;           ///< raised by each promotion
    std::uint32_t active_node = 0;     ///< node id of the active replica (0: unknown yet)
    std::uint32_t replicas = 0;        ///< standbys in sync with this active
    std::uint64_t lag_commits = 0;     ///< commits not yet applied by every required standby
    std::uint64_t lag_bytes = 0;       ///< their changed bytes
    std::uint32_t sync_blocked_by = 0; ///< a required standby that is down: sync commits fail (0: none)
    std::uint32_t lost_events = 0;     ///< step-downs of this node's active that gave up commits
    std::uint32_t lost_commits = 0;    ///< commits the last of them gave up (never acknowledged)
    std::uint64_t lost_first_change = 0, lost_last_change = 0; ///< their range in commit_seq()
};

/// This node's role for a checkpoint, as the application is told it (AMF's CSI assignment in
/// csa103): the cluster manager promotes or demotes the node's replica, and every holder of a
/// handle learns it on notify_fd().
enum class Role : std::uint8_t {
    kLocal,   ///< no replication (a node-local engine): writers commit here
    kActive,  ///< this node's replica is the active one: commit here
    kStandby, ///< a replica following `active_node`: read, and wait to be told "active"
};
const char* role_name(Role r);

struct RoleEvent {
    Role role = Role::kLocal;
    std::uint64_t epoch = 0;       ///< of that role: (promotion count << 16) | the node that promoted
    std::uint32_t active_node = 0; ///< the active replica's node (0: not known yet)
    /// Set when this node's active stepped down since the previous event and gave up commits no
    /// standby had acknowledged (async commits that returned at once; a sync commit among them
    /// failed): how many, and their range in the checkpoint's change sequence (commit_seq()).
    /// The sections are named in ckptd's log. The new active's state replaced them.
    std::uint32_t lost_commits = 0;
    std::uint64_t lost_first_change = 0, lost_last_change = 0;
};

struct CheckpointStatus : EngineCounters {
    CheckpointAttributes attributes;
    std::uint32_t sections = 0;
    std::uint64_t bytes_used = 0;
    std::uint64_t commit_seq = 0;
};

class Checkpoint {
public:
    Checkpoint() = default;

    const std::string& name() const;
    const CheckpointAttributes& attributes() const;
    bool writable() const;

    /// Looks a section up by id (bytes); NOT_EXIST when absent.
    Result<Section> section(std::span<const std::byte> id) const;
    Result<Section> section(std::string_view id) const {
        return section(std::as_bytes(std::span(id.data(), id.size())));
    }
    /// The default section of a checkpoint with max_sections == 1.
    Result<Section> default_section() const { return section(std::string_view{}); }

    Result<Section> create_section(const SectionCreate& c);
    Status delete_section(std::string_view id);
    Status set_expiration(std::string_view id, std::int64_t expiration_ns);

    /// Opens a write transaction on each of `sections` (sections of this checkpoint, each once),
    /// for commit_group(): the locks are taken in slot order, so two groups never wait for each
    /// other in a circle. The transactions come back in the order given. On failure none is open
    /// (INVALID_PARAM: a section twice or of another checkpoint; as Section::write() otherwise).
    Result<std::vector<WriteTx>> write_group(std::span<const Section> sections,
                                             std::chrono::milliseconds timeout = kDefaultTimeout) const;

    /// Sections matching the filter (saCkptSectionIterationInitialize/Next), in slot order.
    std::vector<SectionDescriptor> sections(SectionsChosen chosen = SectionsChosen::kAny,
                                            std::int64_t expiration_ns = 0) const;
    /// Reads several sections into caller buffers; on failure `error_index` names the element.
    /// The elements are one state: each one's lock word is checked again after all are copied
    /// (and all copied again if one changed), so a write of several sections that holds every
    /// lock before it publishes any (saCkptCheckpointWrite's) is seen whole or not at all.
    Status read(std::span<ReadRequest> requests, std::size_t* error_index = nullptr) const;

    /// Checkpoint-wide count of captured changes (commits, creates, deletes).
    std::uint64_t commit_seq() const;
    /// Ids of sections that changed after `since`; returns the sequence the answer covers.
    std::uint64_t changes_since(std::uint64_t since, std::vector<std::string>& ids) const;
    /// A pollable fd: readable after changes, and when ckptd went away. Call changes_since() when it
    /// is readable: that re-arms it, and after an engine restart reconnects and re-subscribes.
    /// Subscribes on the first call; the fd stays the same for the life of the handle.
    Result<int> notify_fd();

    Result<CheckpointStatus> status() const;
    /// saCkptCheckpointRetentionDurationSet: the retention from the next last close on
    /// (BAD_OPERATION once the checkpoint is unlinked).
    Status set_retention(std::int64_t retention_ns);
    /// True when every section create, delete and expiration change numbered up to `change` (a
    /// commit_seq() value) is applied by every required standby; false while one still waits for
    /// a standby. Always true on a node-local checkpoint. One control call to ckptd (op DIRECTORY);
    /// commits are what Section::acked_sequence() answers for.
    Result<bool> directory_replicated(std::uint64_t change) const;
    /// Role, epoch and replication lag, as the engine last published them.
    ReplicationState replication() const;
    /// The role, when it changed since this handle last reported it: "active, epoch N", "standby"
    /// (and what a step-down gave up). The first call reports the current role. notify_fd()
    /// becomes readable on every change of role: call this when it is, beside changes_since()
    /// (either one re-arms the fd). nullopt: no change (or the handle is closed).
    std::optional<RoleEvent> role_event();
    /// Closes the handle (also done when the last copy goes away).
    Status close();

private:
    friend class Session;
    friend Status enable_write_tracking(Checkpoint& ck); // write_tracking.hpp
    std::shared_ptr<detail::CheckpointCore> core_;
};

} // namespace ckpt::client

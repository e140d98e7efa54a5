#pragma once
/// Named crash points (issue 13): places in the replication path where a test makes ckptd die
/// abruptly (SIGKILL to itself, no cleanup, exactly as `kill -9` at that instant would), so that
/// "0 acknowledged commits lost, 0 torn, byte-identical" is proven at each dangerous moment rather
/// than at random ones. Compiled in, off unless armed: an unarmed point costs one load of a
/// global flag. Armed from the environment at start (Engine::start):
///
///   CKPT_CRASH_POINT=<name>[:<n>]   die at the n-th time (default 1) the point is reached
///   CKPT_CRASH_NODE=<node_id>       optional: only the engine with this node_id arms it
///
/// | name                 | where                                                              |
/// |----------------------|--------------------------------------------------------------------|
/// | `capture-before-send`| active: a commit is captured into the shadow, no DATA frame queued |
/// | `send-before-ack`    | active: the commit's DATA frames were transmitted, its ACK not yet |
/// |                      | received (fires at the link flush that sent them)                  |
/// | `staged-before-apply`| standby: every fragment of a commit is staged in SHADOW, not applied|
/// | `applied-before-ack` | standby: the commit is applied to DATA, its ACK not yet sent        |
/// | `mid-resync`         | standby: a resync commit was applied, RESYNC_DONE not yet received |
/// | `group-staged-before-apply` | standby: every member of a write group is staged, none applied |
/// | `mid-apply`          | standby: the commit's locks are taken and half of its bytes copied |
/// |                      | to DATA (from the held frame buffers or the shadow)                |
///
/// docs/RELIABILITY.md lists them with the test that kills ckptd at each
/// (tests/multinode/test_crash_points.cpp).
#include "ckpt/common/result.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace ckpt::engine::crash {

enum class Point : std::uint8_t {
    kCaptureBeforeSend,
    kSendBeforeAck,
    kStagedBeforeApply,
    kAppliedBeforeAck,
    kMidResync,
    kGroupStagedBeforeApply,
    kMidApply,
};
inline constexpr int kPointCount = 7;

const char* name(Point p);
std::optional<Point> parse(std::string_view name);

/// Arms `p`: the process kills itself on the `nth` hit (1 = the first).
void arm(Point p, std::uint64_t nth);
void disarm();
/// Reads CKPT_CRASH_POINT / CKPT_CRASH_NODE; INVALID_PARAM naming the value when malformed.
/// Returns the armed point's description ("" when none is armed).
Result<std::string> arm_from_env(std::uint32_t node_id);

namespace detail {
extern bool g_armed;
void reached(Point p);
void defer(Point p);
void fire_deferred();
extern bool g_deferred;
} // namespace detail

/// The point is reached now.
inline void hit(Point p) {
    if (detail::g_armed) [[unlikely]]
        detail::reached(p);
}
/// The point is reached at the next flush of the link (after what was just queued was sent).
inline void hit_after_flush(Point p) {
    if (detail::g_armed) [[unlikely]]
        detail::defer(p);
}
/// Called by the link after a flush that transmitted frames.
inline void flushed() {
    if (detail::g_deferred) [[unlikely]]
        detail::fire_deferred();
}

} // namespace ckpt::engine::crash

#pragma once
// Two engines' cores in the test's own process, node 1 and node 2, joined by a MemoryCarrier pair
// (each end optionally wrapped: the seeded fault shim, a carrier that charges time) and driven by
// one clock the harness advances, 100 us a turn. The in-process replication tests and the
// replication fuzzer build on it: the set-up (links up, a synchronous checkpoint active on node 1
// with one section and a writer, its replica on node 2), the loop, and the commit helpers are
// written here once. A gtest fixture derives from ::testing::Test and this.
#include "ckpt/common/attributes.hpp"
#include "ckpt/net/fault_shim.hpp"
#include "in_process_node.hpp"
#include "memory_carrier.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace ckpt::testing {

inline constexpr std::int64_t kMs = 1'000'000;

/// The replicated checkpoint the in-process tests use: `mode`, 64 KiB, 4 sections of up to 16 KiB,
/// 256-byte blocks.
CheckpointAttributes pair_attrs(UpdateMode mode = UpdateMode::kSync);

class InProcessPair {
public:
    struct Options {
        engine::LinkConfig link_a, link_b;
        /// Puts something between a node and its end of the wire (a FaultShim, a costly carrier);
        /// unset: the node gets the bare MemoryCarrier.
        std::function<std::unique_ptr<net::Transport>(std::unique_ptr<MemoryCarrier>, std::uint16_t node)> wrap;
        bool record_a = false; ///< wire_a_ records what node 2 sends node 1
        bool record_b = false; ///< wire_b_ records what node 1 sends node 2
        int link_up_ms = 5000; ///< how long the links may take to come up
    };

    /// Builds both nodes; false when their links did not come up in time.
    bool start_pair(Options o);
    bool start_pair() { return start_pair(Options{}); }
    /// The same, each end wrapped in the fault shim when its config enables faults.
    bool start_pair(const net::FaultConfig& fault_a, const net::FaultConfig& fault_b);

    /// One turn of both loops (node 1, then node 2), then each_step_, then the clock moves `dt`.
    void step(std::int64_t dt = kMs / 10);
    /// Steps until `done` (checked before each turn); false after `turns` turns.
    bool run_turns(const std::function<bool()>& done, long turns);
    /// Steps until `done`; false after `limit_ms` of the clock's 100 us turns.
    bool run_until(const std::function<bool()>& done, int limit_ms = 5000) {
        return run_turns(done, static_cast<long>(limit_ms) * 10);
    }
    /// Steps for `ms` of the clock.
    void run_for(int ms);

    /// A checkpoint `name` active on node 1 with one section "s" of `capacity` bytes and this
    /// process attached as its writer, held by node 2 (the section's replica exists there). False,
    /// with why in failure_, when a step fails or node 2 does not get it within `limit_ms`.
    bool create_replicated(const std::string& name, const CheckpointAttributes& attrs, std::uint64_t capacity = 8192,
                           int limit_ms = 5000);
    /// Writes `bytes` at `offset` of the section and commits; returns the commit's sequence.
    std::uint64_t commit(std::uint64_t offset, std::span<const std::byte> bytes);
    /// Steps until every required standby acknowledged `seq` (false after `limit_ms`).
    bool acked(std::uint64_t seq, int limit_ms = 5000);

    InProcessNode& node(std::uint16_t id) { return id == 1 ? *a_ : *b_; }
    /// The carrier end that delivers to node `id`.
    MemoryCarrier& wire_to(std::uint16_t id) { return id == 1 ? *wire_a_ : *wire_b_; }

    std::int64_t now_ = 1'000 * kMs;
    MemoryCarrier *wire_a_ = nullptr, *wire_b_ = nullptr;
    std::unique_ptr<InProcessNode> a_, b_;
    std::shared_ptr<engine::Checkpoint> active_, standby_;
    std::uint32_t slot_ = 0, writer_ = 0;
    std::function<void()> each_step_; ///< runs after every turn (invariant checks, peak figures)
    std::string failure_;             ///< why start_pair/create_replicated returned false
};

} // namespace ckpt::testing

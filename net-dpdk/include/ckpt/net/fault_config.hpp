#pragma once
/// What the seeded fault shim (fault_shim.hpp) does to the frames of a carrier: the fault_* keys of
/// ckptd's configuration. Off by default.
#include <cstdint>

namespace ckpt::net {

struct FaultConfig {
    std::uint64_t seed = 1;
    double drop_pct = 0;    ///< 0..100 (fractions allowed: 0.5 is one frame in 200)
    double dup_pct = 0;     ///< 0..100
    double reorder_pct = 0; ///< 0..100
    double corrupt_pct = 0; ///< 0..100
    std::uint32_t delay_us = 0;
    /// Bursty loss (Gilbert-Elliott): above 1, drops come in bursts of this many frames on
    /// average, drop_pct staying the long-run fraction lost. A two-state chain per direction: in
    /// the bad state every frame is lost, in the good state none; it leaves the bad state with
    /// probability 1/burst_frames per frame and enters it with p = r·d/(1−d) (d = drop_pct/100),
    /// whose stationary share of bad frames is d. 0 or 1: independent (Bernoulli) loss.
    double burst_frames = 0;
    bool tx = true;  ///< apply to frames this node sends (fault_direction = tx | both)
    bool rx = false; ///< apply to frames this node receives (fault_direction = rx | both)
    /// True when any fault is configured: open_transport then wraps the carrier.
    bool enabled() const { return drop_pct > 0 || dup_pct > 0 || reorder_pct > 0 || corrupt_pct > 0 || delay_us > 0; }
};

} // namespace ckpt::net

// The seeded fault shim (see fault_shim.hpp for what it does and in which order).
#include "ckpt/net/fault_shim.hpp"
#include "ckpt/common/clock.hpp"

#include "ckpt/net/wire_format.hpp"

#include <time.h>

#include <cstdio>

namespace ckpt::net {

namespace {

/// splitmix64 (Steele, Lea, Flood): tiny, fast, and the same sequence everywhere, which is all a
/// reproducible fault needs (std::random_device and the distributions are not portable).
std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E37'79B9'7F4A'7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58'476D'1CE4'E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D0'49BB'1331'11EBULL;
    return z ^ (z >> 31);
}

/// A uniform draw in [0, 100): compared with a percentage, 0 never fires and 100 always does.
double percent(std::uint64_t& state) {
    return static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53 * 100.0;
}

} // namespace

FaultShim::FaultShim(std::unique_ptr<Transport> inner, const FaultConfig& cfg, Clock clock)
    : inner_(std::move(inner)), cfg_(cfg), clock_(std::move(clock)),
      holds_rx_(cfg.rx && (cfg.delay_us > 0 || cfg.reorder_pct > 0)) {
    // Four independent streams from one seed: turning corruption on does not change which
    // frames are dropped, and RX decisions do not depend on how much was sent.
    std::uint64_t s = cfg.seed;
    tx_.decide = splitmix64(s);
    tx_.bits = splitmix64(s);
    rx_.decide = splitmix64(s);
    rx_.bits = splitmix64(s);
}

std::int64_t FaultShim::now() const {
    return clock_ ? clock_() : mono_ns();
}

std::size_t FaultShim::held() const {
    return tx_.delayed.size() + rx_.delayed.size() + (tx_.reorder ? 1 : 0) + (rx_.reorder ? 1 : 0);
}

void FaultShim::to_delay(Lane& lane, std::vector<std::byte> bytes, std::int64_t t, const Emit& emit) {
    if (cfg_.delay_us == 0) {
        emit(bytes);
        return;
    }
    if (lane.delayed.size() >= kMaxHeld) { // bounded: the oldest leaves early rather than grow
        emit(lane.delayed.front().bytes);
        lane.delayed.pop_front();
    }
    lane.delayed.push_back(Held{std::move(bytes), t + std::int64_t{cfg_.delay_us} * 1000});
    ++lane.counters.delayed;
}

std::size_t FaultShim::flush(Lane& lane, std::int64_t t, const Emit& emit) {
    std::size_t n = 0;
    const Emit counted = [&](std::span<const std::byte> f) {
        emit(f);
        ++n;
    };
    if (lane.reorder && lane.reorder->due_ns <= t) { // no next frame came to overtake it
        Held h = std::move(*lane.reorder);
        lane.reorder.reset();
        to_delay(lane, std::move(h.bytes), t, counted);
    }
    while (!lane.delayed.empty() && lane.delayed.front().due_ns <= t) {
        counted(lane.delayed.front().bytes);
        lane.delayed.pop_front();
    }
    return n;
}

void FaultShim::process(Lane& lane, std::span<const std::byte> frame, std::int64_t t, const Emit& emit) {
    FaultCounters& c = lane.counters;
    ++c.frames;
    // Every decision is drawn for every frame, whatever the earlier ones said, so the decisions
    // for frame N depend only on the seed and N.
    const double u_drop = percent(lane.decide), u_corrupt = percent(lane.decide), u_dup = percent(lane.decide),
                 u_reorder = percent(lane.decide);
    bool drop = u_drop < cfg_.drop_pct;
    if (cfg_.burst_frames > 1) {
        // Gilbert-Elliott: one more draw (only in this mode, so Bernoulli runs of a seed are
        // unchanged) moves the chain; the frame is lost while it is in the bad state.
        const double u_state = percent(lane.decide);
        const double leave = 100.0 / cfg_.burst_frames;
        const double d = cfg_.drop_pct / 100.0;
        const double enter = d >= 1.0 ? 100.0 : leave * d / (1.0 - d);
        if (lane.bad) {
            if (u_state < leave) lane.bad = false;
        } else if (u_state < enter) {
            lane.bad = true;
            ++c.bursts;
        }
        drop = lane.bad;
    }
    if (drop) {
        ++c.dropped;
        return;
    }
    std::vector<std::byte> bytes(frame.begin(), frame.end());
    bool flipped = false;
    if (u_corrupt < cfg_.corrupt_pct && !bytes.empty()) {
        flipped = true;
        // Inside the Hotspare header or body, which frame_hash covers on every carrier; a flip in
        // the addresses would misroute the frame (or vanish with the headers on kernel UDP).
        const std::size_t first = bytes.size() > kUdpPayloadOffset ? kUdpPayloadOffset : 0;
        const std::uint64_t bit = splitmix64(lane.bits) % ((bytes.size() - first) * 8);
        bytes[first + bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
        ++c.corrupted;
    }
    const int copies = u_dup < cfg_.dup_pct ? 2 : 1;
    if (copies == 2) ++c.duplicated;
    if (flipped) c.corrupted_copies += static_cast<std::uint64_t>(copies);
    for (int i = 0; i < copies; ++i) {
        std::vector<std::byte> copy = i + 1 < copies ? bytes : std::move(bytes);
        if (i == 0 && u_reorder < cfg_.reorder_pct && !lane.reorder) {
            lane.reorder = Held{std::move(copy), t + kReorderHoldNs};
            ++c.reordered;
            continue;
        }
        to_delay(lane, std::move(copy), t, emit);
        if (lane.reorder) { // this frame overtook the held one: the held one follows it
            Held h = std::move(*lane.reorder);
            lane.reorder.reset();
            to_delay(lane, std::move(h.bytes), t, emit);
        }
    }
}

bool FaultShim::send(std::span<const std::byte> frame) {
    const std::int64_t t = now();
    std::uint64_t refused = 0;
    const Emit out = [&](std::span<const std::byte> f) {
        if (!inner_->send(f)) ++refused;
    };
    flush(tx_, t, out); // RX frames can only be delivered by receive(): they wait for it
    const std::uint64_t before = refused;
    if (!cfg_.tx) return inner_->send(frame);
    process(tx_, frame, t, out);
    tx_.counters.unsent += refused;
    return refused == before; // false: the carrier refused what this call passed on
}

std::size_t FaultShim::receive(std::size_t max, Receiver cb, void* ctx) {
    const std::int64_t t = now();
    if (cfg_.tx) { // delayed TX frames leave even when nothing new is sent
        std::uint64_t refused = 0;
        flush(tx_, t, [&](std::span<const std::byte> f) {
            if (!inner_->send(f)) ++refused;
        });
        tx_.counters.unsent += refused;
    }
    if (!cfg_.rx) return inner_->receive(max, cb, ctx);
    const Emit deliver = [&](std::span<const std::byte> f) { cb(ctx, f); };
    const std::size_t released = flush(rx_, t, deliver);
    const std::size_t got = inner_->receive([&](std::span<const std::byte> f) { process(rx_, f, t, deliver); }, max);
    return released + got;
}

std::string FaultShim::describe() const {
    char burst[64] = "";
    if (cfg_.burst_frames > 1) std::snprintf(burst, sizeof burst, " in bursts of %g frames", cfg_.burst_frames);
    char buf[320];
    std::snprintf(buf, sizeof buf,
                  " + faults on %s (seed %llu: drop %g%%%s, dup %g%%, reorder %g%%, corrupt %g%%, delay %u us)",
                  cfg_.tx && cfg_.rx ? "tx+rx"
                  : cfg_.rx          ? "rx"
                                     : "tx",
                  static_cast<unsigned long long>(cfg_.seed), cfg_.drop_pct, burst, cfg_.dup_pct, cfg_.reorder_pct,
                  cfg_.corrupt_pct, cfg_.delay_us);
    return inner_->describe() + buf;
}

} // namespace ckpt::net

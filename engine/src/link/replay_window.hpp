#pragma once
/// Which frame counters of one peer session arrived (RFC 4303 §3.4.3 style): the highest counter
/// seen and a 256-bit bitmap behind it. A counter at or below the window's bottom, or one already
/// marked, is a replay (or a duplicate the network made: the same bytes twice) and is refused.
/// Counters are per transmission (a retransmission carries a new one), so nothing legitimate is
/// refused unless the network reorders by more than the window.
#include <cstdint>

namespace ckpt::engine {

class ReplayWindow {
public:
    static constexpr std::uint64_t kBits = 256;

    void reset() { *this = ReplayWindow{}; }
    /// True and marked when `counter` is new; false for a replay (nothing changes). Counter 0 is
    /// never valid (senders count from 1).
    bool accept(std::uint64_t counter) {
        if (counter == 0) return false;
        if (counter > highest_) {
            const std::uint64_t shift = counter - highest_;
            if (shift >= kBits) {
                for (auto& w : bits_) w = 0;
            } else {
                for (std::uint64_t i = 0; i < shift; ++i) clear(highest_ + 1 + i);
            }
            highest_ = counter;
            set(counter);
            return true;
        }
        if (highest_ - counter >= kBits) return false; // older than the window: cannot tell, refused
        if (test(counter)) return false;
        set(counter);
        return true;
    }
    std::uint64_t highest() const { return highest_; }

private:
    void set(std::uint64_t c) { bits_[(c / 64) % 4] |= std::uint64_t{1} << (c % 64); }
    void clear(std::uint64_t c) { bits_[(c / 64) % 4] &= ~(std::uint64_t{1} << (c % 64)); }
    bool test(std::uint64_t c) const { return (bits_[(c / 64) % 4] >> (c % 64)) & 1; }

    std::uint64_t highest_ = 0;
    std::uint64_t bits_[4] = {};
};

} // namespace ckpt::engine

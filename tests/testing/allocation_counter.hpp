#pragma once
// Heap allocations counted in a test binary: allocation_counter.cpp replaces the global operator
// new and delete of the executable it is compiled into (add it to that executable's sources, never
// to a library other tests link). The tests that prove a path allocates nothing per frame or per
// commit (unit_tx_bursts, unit_coalesce, unit_standby_one_copy) count with it.
#include <cstdint>

namespace ckpt::testing {

/// Counting on or off (off at start); allocations made while it is off are not counted.
void count_allocations(bool on);
void reset_allocations();
/// Allocations counted since the last reset.
std::uint64_t allocations();

/// Counts the allocations made while an instance lives (from zero).
class CountAllocations {
public:
    CountAllocations() {
        reset_allocations();
        count_allocations(true);
    }
    ~CountAllocations() { count_allocations(false); }
    CountAllocations(const CountAllocations&) = delete;
    CountAllocations& operator=(const CountAllocations&) = delete;
    std::uint64_t count() const { return allocations(); }
};

} // namespace ckpt::testing

#include "store/extent_allocator.hpp"

#include <algorithm>

namespace ckpt::engine {

ExtentAllocator::ExtentAllocator(std::uint64_t blocks) {
    if (blocks) free_.emplace(0, blocks);
    free_blocks_ = blocks;
}

std::optional<std::uint64_t> ExtentAllocator::allocate(std::uint64_t n) {
    if (n == 0) return std::nullopt;
    for (auto it = free_.begin(); it != free_.end(); ++it) {
        if (it->second < n) continue;
        std::uint64_t first = it->first, len = it->second;
        free_.erase(it);
        if (len > n) free_.emplace(first + n, len - n);
        free_blocks_ -= n;
        return first;
    }
    return std::nullopt;
}

bool ExtentAllocator::reserve(std::uint64_t first, std::uint64_t n) {
    if (n == 0) return true;
    auto it = free_.upper_bound(first);
    if (it == free_.begin()) return false;
    --it;
    std::uint64_t s = it->first, len = it->second;
    // Offsets relative to the run: neither `first + n` nor `s + len - first` may wrap.
    if (first < s || first - s >= len || n > len - (first - s)) return false;
    free_.erase(it);
    if (first > s) free_.emplace(s, first - s);
    if (first + n < s + len) free_.emplace(first + n, s + len - first - n);
    free_blocks_ -= n;
    return true;
}

void ExtentAllocator::release(std::uint64_t first, std::uint64_t n) {
    if (n == 0) return;
    auto next = free_.lower_bound(first);
    std::uint64_t start = first, len = n;
    if (next != free_.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second == first) {
            start = prev->first;
            len += prev->second;
            free_.erase(prev);
        }
    }
    if (next != free_.end() && next->first == first + n) {
        len += next->second;
        free_.erase(next);
    }
    free_.emplace(start, len);
    free_blocks_ += n;
}

std::uint64_t ExtentAllocator::largest_free() const {
    std::uint64_t m = 0;
    for (auto& [s, l] : free_) m = std::max(m, l);
    return m;
}

} // namespace ckpt::engine

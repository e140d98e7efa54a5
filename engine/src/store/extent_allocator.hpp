#pragma once
/// Block-granular first-fit allocator of the data area. Engine-private: its state lives in the
/// engine's memory and is rebuilt from the directory when a segment is adopted.
#include <cstdint>
#include <map>
#include <optional>

namespace ckpt::engine {

class ExtentAllocator {
public:
    ExtentAllocator() = default;
    /// An allocator over [0, blocks) blocks, all free.
    explicit ExtentAllocator(std::uint64_t blocks);

    /// First block of a free run of `n` blocks, or nullopt (no run long enough).
    std::optional<std::uint64_t> allocate(std::uint64_t n);
    /// Marks [first, first+n) used; false when any of it is not free (adoption found an overlap).
    bool reserve(std::uint64_t first, std::uint64_t n);
    /// Returns [first, first+n) to the free set, merging neighbours.
    void release(std::uint64_t first, std::uint64_t n);

    std::uint64_t free_blocks() const { return free_blocks_; }
    std::uint64_t largest_free() const;

private:
    std::map<std::uint64_t, std::uint64_t> free_; ///< first block -> length
    std::uint64_t free_blocks_ = 0;
};

} // namespace ckpt::engine

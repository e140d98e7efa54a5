#pragma once
/// Keeps ckptd alive when a client resizes a DATA object under it (docs/ARCHITECTURE.md §5.1).
///
/// A client with a write handle holds DATA through an O_RDWR descriptor, and an O_RDWR descriptor
/// may `ftruncate` the object. DATA is a named object (/dev/shm or a persistent file) because a
/// restarted engine must adopt it and surviving clients keep their mappings; only memfds can be
/// sealed against resizing, so the engine guards instead: a SIGBUS at an address inside a
/// registered DATA mapping (the pages past the new end of file) is answered by mapping stand-in
/// pages over the lost range: the SHADOW's committed bytes for the section area (so a capture that
/// faults copies the committed copy onto itself and the shadow stays whole), zero pages for the
/// application's control words. The instruction then resumes. The engine's loop notices the fault
/// (or the changed size at its next scan), restores the size, maps the object again at the same
/// address and rolls the sections in the lost range back from the shadow: the client harmed only
/// its own checkpoint, and the engine says what it did (`Checkpoint::check_resized`).
///
/// Process-wide: the handler is installed once, regions are registered per checkpoint. Register
/// and unregister from one thread at a time (the engine thread); the handler only reads.
#include <cstddef>
#include <cstdint>

namespace ckpt::engine {

class SegmentGuard {
public:
    SegmentGuard() = default;
    SegmentGuard(const SegmentGuard&) = delete;
    SegmentGuard& operator=(const SegmentGuard&) = delete;
    SegmentGuard(SegmentGuard&& o) noexcept : entry_(o.entry_) { o.entry_ = nullptr; }
    SegmentGuard& operator=(SegmentGuard&& o) noexcept;
    ~SegmentGuard() { reset(); }

    /// Guards the DATA mapping [data, data + data_size): bytes from `area_offset` on are stood in
    /// for by `shadow_fd` at `shadow_area_offset` (up to `shadow_size`), the rest by zero pages.
    /// Installs the SIGBUS handler on first use. Offsets must be page-aligned. False when no entry
    /// is left (the mapping then stays unguarded, as before).
    bool arm(std::byte* data, std::uint64_t data_size, std::uint64_t area_offset, int shadow_fd,
             std::uint64_t shadow_area_offset, std::uint64_t shadow_size);
    void reset();

    /// SIGBUSes absorbed for this mapping so far (the handler counts; any thread may read).
    std::uint64_t faults() const;
    /// Lowest offset from the mapping's start at which a fault was absorbed since the last
    /// clear_low_water(); UINT64_MAX if none.
    std::uint64_t low_water() const;
    void clear_low_water();
    bool armed() const { return entry_ != nullptr; }

    /// Faults absorbed in the whole process: one load tells the loop whether to look closer.
    static std::uint64_t total_faults();

    struct Entry;

private:
    Entry* entry_ = nullptr;
};

} // namespace ckpt::engine

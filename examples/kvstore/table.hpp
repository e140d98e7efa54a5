// The key-value table of examples/kvstore, laid out in one checkpoint section and changed in place.
//
//   0      TableHeader (128 B): geometry, counters, the free list, the slots never used yet
//   4096   u32 bucket[bucket_count]: open addressing, linear probing; 0 empty, kTomb deleted, else slot+1
//   ...    Slot[capacity], each slot_size bytes (a multiple of 64): SlotHeader, key bytes, value bytes
//
// Nothing is serialised: a SET writes the value where it lies and marks the bytes it changed
// through the Marker (the open write transaction's mark_dirty), so only those blocks are captured
// and replicated. The standby holds the same bytes at the same offsets: promoting it is mapping
// them. Every number read from the table is checked against the geometry before use (the section
// is memory another process wrote).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace kv {

/// Durations in log buckets of 1 µs .. 10 s, 10 per decade (INFO's percentiles: each the upper bound
/// of the bucket that holds it).
class LogHistogram {
public:
    void add(std::int64_t ns) {
        const double us = std::max(1.0, static_cast<double>(ns) / 1e3);
        b_[std::min<std::size_t>(b_.size() - 1, static_cast<std::size_t>(std::log10(us) * 10))]++;
        ++n_;
    }
    std::uint64_t count() const { return n_; }
    std::string percentile_us(double q) const {
        if (n_ == 0) return "0";
        const auto want = static_cast<std::uint64_t>(q * static_cast<double>(n_ - 1)) + 1;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < b_.size(); ++i)
            if ((seen += b_[i]) >= want) return std::to_string(static_cast<long>(std::pow(10.0, (i + 1) / 10.0)));
        return "0";
    }

private:
    std::array<std::uint64_t, 71> b_{};
    std::uint64_t n_ = 0;
};

inline constexpr std::uint64_t kMagic = 0x314c425456534b48; // "HKSVTBL1"
inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::uint32_t kTomb = 0xFFFFFFFFu;
inline constexpr std::uint32_t kNone = 0xFFFFFFFFu;
inline constexpr std::size_t kBucketsOffset = 4096;
inline constexpr std::uint32_t kSlotLive = 1;

struct TableHeader {
    std::uint64_t magic;
    std::uint32_t version;
    std::uint32_t slot_size;
    std::uint32_t key_max;
    std::uint32_t value_max;
    std::uint32_t capacity;     ///< slots
    std::uint32_t bucket_count; ///< a power of two, >= 2 * capacity
    std::uint32_t used;         ///< live keys
    std::uint32_t tombstones;   ///< deleted buckets
    std::uint32_t free_head;    ///< first slot of the free list, kNone when empty
    std::uint32_t next_unused;  ///< slots [next_unused, capacity) were never used
    std::uint64_t slots_offset;
    std::uint64_t sets, dels; ///< counters (committed with the data)
    std::uint8_t reserved[56];
};
static_assert(sizeof(TableHeader) == 128);

struct SlotHeader {
    std::uint32_t key_len;
    std::uint32_t value_len;
    std::uint32_t next_free; ///< free list link when not live
    std::uint32_t flags;     ///< kSlotLive
};
static_assert(sizeof(SlotHeader) == 16);

struct Geometry {
    std::uint32_t capacity = 16384;
    std::uint32_t key_max = 112;
    std::uint32_t value_max = 1920;

    std::uint32_t slot_size() const { return static_cast<std::uint32_t>((16 + key_max + value_max + 63) / 64 * 64); }
    std::uint32_t bucket_count() const {
        std::uint32_t b = 16;
        while (b < 2ull * capacity) b <<= 1;
        return b;
    }
    std::uint64_t slots_offset() const { return (kBucketsOffset + 4ull * bucket_count() + 4095) / 4096 * 4096; }
    /// Bytes the section must hold.
    std::uint64_t bytes() const { return slots_offset() + static_cast<std::uint64_t>(slot_size()) * capacity; }
};

inline std::uint64_t hash_key(std::string_view k) {
    std::uint64_t h = 0xcbf29ce484222325ull; // FNV-1a, then a finaliser (keys like user123 differ in few bits)
    for (unsigned char c : k) h = (h ^ c) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

enum class SetResult { kOk, kKeyTooLong, kValueTooLong, kFull };

/// A view of the table over a section's bytes. Marker: callable(offset, len) marking changed bytes.
class Table {
public:
    Table() = default;
    Table(std::byte* base, std::size_t size) : base_(base), size_(size) {}

    /// Writes an empty table of geometry g (the caller marks the whole section).
    static bool format(std::byte* base, std::size_t size, const Geometry& g) {
        if (g.bytes() > size || g.capacity == 0 || g.capacity >= kTomb / 2) return false;
        std::memset(base, 0, static_cast<std::size_t>(g.slots_offset())); // header and buckets
        TableHeader h{};
        h.version = kVersion;
        h.slot_size = g.slot_size();
        h.key_max = g.key_max;
        h.value_max = g.value_max;
        h.capacity = g.capacity;
        h.bucket_count = g.bucket_count();
        h.free_head = kNone;
        h.slots_offset = g.slots_offset();
        h.magic = kMagic;
        std::memcpy(base, &h, sizeof h);
        return true;
    }

    /// Whether the bytes hold a table whose geometry fits the section (empty string) or why not.
    std::string check() const {
        if (size_ < sizeof(TableHeader)) return "section smaller than a table header";
        const TableHeader h = header();
        if (h.magic != kMagic) return h.magic == 0 ? "no table (zero header)" : "not a kvstore table (bad magic)";
        if (h.version != kVersion) return "table version " + std::to_string(h.version) + " not supported";
        Geometry g{h.capacity, h.key_max, h.value_max};
        if (h.capacity == 0 || h.capacity >= kTomb / 2 || h.slot_size != g.slot_size() ||
            h.bucket_count != g.bucket_count() || h.slots_offset != g.slots_offset() || g.bytes() > size_)
            return "table geometry does not fit the section";
        if (h.used > h.capacity || h.next_unused > h.capacity || (h.free_head != kNone && h.free_head >= h.capacity))
            return "table counters out of range";
        return {};
    }

    TableHeader header() const {
        TableHeader h;
        std::memcpy(&h, base_, sizeof h);
        return h;
    }
    std::uint32_t used() const { return hdr().used; }

    /// The value of `key`, or nothing.
    std::optional<std::string_view> get(std::string_view key) const {
        std::uint32_t bucket;
        std::uint32_t slot = find(key, bucket);
        if (slot == kNone) return std::nullopt;
        const SlotHeader& s = slot_header(slot);
        return std::string_view(reinterpret_cast<const char*>(slot_ptr(slot)) + 16 + hdr().key_max,
                                std::min(s.value_len, hdr().value_max));
    }

    template <typename Marker>
    SetResult set(std::string_view key, std::string_view value, Marker&& mark) {
        TableHeader& h = hdr();
        if (key.size() > h.key_max) return SetResult::kKeyTooLong;
        if (value.size() > h.value_max) return SetResult::kValueTooLong;
        std::uint32_t bucket;
        std::uint32_t slot = find(key, bucket);
        if (slot != kNone) { // in place
            SlotHeader& s = slot_header(slot);
            std::byte* v = slot_ptr(slot) + 16 + h.key_max;
            std::memcpy(v, value.data(), value.size());
            s.value_len = static_cast<std::uint32_t>(value.size());
            mark(slot_offset(slot), 16);
            if (!value.empty()) mark(slot_offset(slot) + 16 + h.key_max, value.size());
        } else {
            if (bucket == kNone) return SetResult::kFull; // no free bucket (cannot happen below 1/2 load)
            if (h.free_head != kNone) {
                slot = h.free_head;
                std::uint32_t next = slot_header(slot).next_free;
                h.free_head = next < h.capacity ? next : kNone;
            } else if (h.next_unused < h.capacity) {
                slot = h.next_unused++;
            } else {
                return SetResult::kFull;
            }
            SlotHeader& s = slot_header(slot);
            s.key_len = static_cast<std::uint32_t>(key.size());
            s.value_len = static_cast<std::uint32_t>(value.size());
            s.next_free = kNone;
            s.flags = kSlotLive;
            std::byte* p = slot_ptr(slot);
            std::memcpy(p + 16, key.data(), key.size());
            std::memcpy(p + 16 + h.key_max, value.data(), value.size());
            mark(slot_offset(slot), 16 + key.size());
            if (!value.empty()) mark(slot_offset(slot) + 16 + h.key_max, value.size());
            if (buckets()[bucket] == kTomb) --h.tombstones;
            buckets()[bucket] = slot + 1;
            mark(kBucketsOffset + 4ull * bucket, 4);
            ++h.used;
        }
        ++h.sets;
        mark(0, sizeof(TableHeader));
        return SetResult::kOk;
    }

    template <typename Marker>
    bool del(std::string_view key, Marker&& mark) {
        TableHeader& h = hdr();
        std::uint32_t bucket;
        std::uint32_t slot = find(key, bucket);
        if (slot == kNone) return false;
        SlotHeader& s = slot_header(slot);
        s.flags = 0;
        s.next_free = h.free_head;
        h.free_head = slot;
        mark(slot_offset(slot), 16);
        buckets()[bucket] = kTomb;
        mark(kBucketsOffset + 4ull * bucket, 4);
        --h.used;
        ++h.tombstones;
        ++h.dels;
        mark(0, sizeof(TableHeader));
        if (h.tombstones > h.bucket_count / 4) rebuild(mark);
        return true;
    }

private:
    TableHeader& hdr() const { return *reinterpret_cast<TableHeader*>(base_); }
    std::uint32_t* buckets() const { return reinterpret_cast<std::uint32_t*>(base_ + kBucketsOffset); }
    std::uint64_t slot_offset(std::uint32_t slot) const {
        return hdr().slots_offset + static_cast<std::uint64_t>(hdr().slot_size) * slot;
    }
    std::byte* slot_ptr(std::uint32_t slot) const { return base_ + slot_offset(slot); }
    SlotHeader& slot_header(std::uint32_t slot) const { return *reinterpret_cast<SlotHeader*>(slot_ptr(slot)); }

    /// The live slot holding `key` (kNone if none); `bucket` is where it is, or where it would go
    /// (the first tombstone on the probe path, else the empty bucket that ended it).
    std::uint32_t find(std::string_view key, std::uint32_t& bucket) const {
        const TableHeader& h = hdr();
        const std::uint32_t mask = h.bucket_count - 1;
        std::uint32_t i = static_cast<std::uint32_t>(hash_key(key)) & mask;
        std::uint32_t first_tomb = kNone;
        for (std::uint32_t n = 0; n < h.bucket_count; ++n, i = (i + 1) & mask) {
            std::uint32_t e = buckets()[i];
            if (e == 0) {
                bucket = first_tomb != kNone ? first_tomb : i;
                return kNone;
            }
            if (e == kTomb) {
                if (first_tomb == kNone) first_tomb = i;
                continue;
            }
            std::uint32_t slot = e - 1;
            if (slot >= h.capacity) continue; // damaged entry: never followed
            const SlotHeader& s = slot_header(slot);
            if (s.key_len == key.size() && s.key_len <= h.key_max &&
                std::memcmp(slot_ptr(slot) + 16, key.data(), key.size()) == 0) {
                bucket = i;
                return slot;
            }
        }
        bucket = first_tomb; // full of tombstones and entries: set() finds a tombstone here
        return kNone;
    }

    template <typename Marker>
    void rebuild(Marker&& mark) {
        TableHeader& h = hdr();
        std::memset(buckets(), 0, 4ull * h.bucket_count);
        const std::uint32_t mask = h.bucket_count - 1;
        for (std::uint32_t slot = 0; slot < h.next_unused; ++slot) {
            const SlotHeader& s = slot_header(slot);
            if (!(s.flags & kSlotLive) || s.key_len > h.key_max) continue;
            std::string_view k(reinterpret_cast<const char*>(slot_ptr(slot)) + 16, s.key_len);
            std::uint32_t i = static_cast<std::uint32_t>(hash_key(k)) & mask;
            while (buckets()[i] != 0) i = (i + 1) & mask;
            buckets()[i] = slot + 1;
        }
        h.tombstones = 0;
        mark(kBucketsOffset, 4ull * h.bucket_count);
    }

    std::byte* base_ = nullptr;
    std::size_t size_ = 0;
};

} // namespace kv

#include "ckpt/shm/checkpoint_view.hpp"

#include "ckpt/shm/dirty_bitmap.hpp"
#include "ckpt/shm/doorbell.hpp"

#include <xxhash.h>

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstring>

namespace ckpt::shm {
namespace {

bool same_layout(const MetaHeader& h, const Layout& l) {
    return h.writers_offset == l.writers_offset && h.index_offset == l.index_offset &&
           h.index_capacity == l.index_capacity && h.desc_offset == l.desc_offset && h.desc_stride == l.desc_stride &&
           h.changelog_offset == l.changelog_offset && h.changelog_capacity == kChangelogCapacity &&
           h.meta_size == l.meta_size && h.data_size == l.data_size;
}

/// Runs `body` until it completes inside one even, unchanged directory sequence.
template <typename F>
auto under_dir_seqlock(const MetaHeader& h, F&& body) {
    for (unsigned spins = 0;; ++spins) {
        std::uint64_t s1 = load_acquire(h.dir_seq);
        if ((s1 & 1) == 0) {
            auto r = body();
            fence_acquire();
            if (load_relaxed(h.dir_seq) == s1) return r;
        }
        if (spins > 64) sched_yield(); // the engine edits the directory for microseconds at most
    }
}

} // namespace

std::int64_t now_realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

HeaderState MetaView::classify(const std::byte* base, std::uint64_t size) {
    if (size < sizeof(MetaHeader)) return HeaderState::kCorrupt;
    const auto* h = reinterpret_cast<const MetaHeader*>(base);
    std::uint64_t magic = load_acquire(h->magic);
    if (magic == 0) return HeaderState::kNotReady;
    if (magic != kMetaMagic) return HeaderState::kCorrupt;
    if (h->layout_major != kLayoutMajor) return HeaderState::kVersionMismatch;
    return HeaderState::kReady;
}

Result<MetaView> MetaView::attach(std::byte* base, std::uint64_t size) {
    switch (classify(base, size)) {
    case HeaderState::kReady:
        break;
    case HeaderState::kNotReady:
        return fail(Error::kTryAgain, "checkpoint segment is still being created");
    case HeaderState::kVersionMismatch:
        return fail(Error::kVersion, "segment layout major version " +
                                         std::to_string(reinterpret_cast<const MetaHeader*>(base)->layout_major) +
                                         ", this library speaks " + std::to_string(kLayoutMajor));
    case HeaderState::kCorrupt:
        return fail(Error::kFailedOperation, "checkpoint META segment has no valid magic");
    }
    MetaView v;
    v.base_ = base;
    v.size_ = size;
    v.hdr_ = reinterpret_cast<MetaHeader*>(base);
    // Copy the attributes out once; from here on only the copy is used.
    MetaHeader snapshot;
    std::memcpy(&snapshot, base, sizeof snapshot);
    if (snapshot.layout_major != kLayoutMajor) // classify() looked at the shared word; decide on the copy
        return fail(Error::kVersion, "segment layout major version changed while attaching");
    if (snapshot.header_size < sizeof(MetaHeader))
        return fail(Error::kFailedOperation, "META header_size " + std::to_string(snapshot.header_size) + " too small");
    v.attrs_ = attributes_of(snapshot);
    if (Status s = validate_attributes(v.attrs_); !s)
        return fail(Error::kFailedOperation, "META holds invalid attributes: " + s.message());
    auto layout = compute_layout(v.attrs_);
    if (!layout) return layout.failure();
    v.layout_ = *layout;
    if (!same_layout(snapshot, v.layout_))
        return fail(Error::kFailedOperation, "META offsets disagree with its attributes (corrupt header)");
    if (size < v.layout_.meta_size)
        return fail(Error::kFailedOperation, "META mapping is " + std::to_string(size) + " bytes, layout needs " +
                                                 std::to_string(v.layout_.meta_size));
    if (snapshot.name_len == 0 || snapshot.name_len > kMaxNameLength)
        return fail(Error::kFailedOperation, "META name length invalid");
    return v;
}

std::string MetaView::name() const {
    std::uint32_t n = std::min<std::uint32_t>(hdr_->name_len, kMaxNameLength);
    return std::string(hdr_->name, n);
}

const SectionDesc& MetaView::desc(std::uint32_t slot) const {
    CKPT_ENFORCE(slot < attrs_.max_sections, "section slot out of range");
    return *reinterpret_cast<const SectionDesc*>(base_ + layout_.desc_offset +
                                                 std::uint64_t{slot} * layout_.desc_stride);
}

std::uint8_t* MetaView::mutable_desc_id(std::uint32_t slot) const {
    return reinterpret_cast<std::uint8_t*>(&mutable_desc(slot)) + sizeof(SectionDesc);
}

std::uint32_t* MetaView::mutable_index() const {
    return reinterpret_cast<std::uint32_t*>(base_ + layout_.index_offset);
}

const WriterSlot& MetaView::writer(std::uint32_t i) const {
    CKPT_ENFORCE(i < kMaxWriters, "writer slot out of range");
    return reinterpret_cast<const WriterSlot*>(base_ + layout_.writers_offset)[i];
}

ChangeRecord* MetaView::mutable_changelog() const {
    return reinterpret_cast<ChangeRecord*>(base_ + layout_.changelog_offset);
}

std::optional<SectionInfo> MetaView::read_slot(std::uint32_t slot) const {
    const SectionDesc& d = desc(slot);
    SectionInfo i;
    i.state = load_relaxed(d.state);
    if (i.state != kSectionValid && i.state != kSectionCorrupted) return std::nullopt;
    std::uint32_t id_len = load_relaxed(d.id_len);
    i.slot = slot;
    i.generation = load_relaxed(d.generation);
    i.data_offset = load_relaxed(d.data_offset);
    i.capacity = load_relaxed(d.capacity);
    i.committed_size = load_acquire(d.committed_size);
    i.expiration_ns = load_relaxed(d.expiration_ns);
    i.last_update_ns = load_relaxed(d.last_update_ns);
    i.captured_seq = load_acquire(d.captured_seq);
    i.acked_seq = load_acquire(d.acked_seq);
    i.change_seq = load_acquire(d.change_seq);
    // Validate the copies, not the shared words: a torn or corrupt entry never escapes.
    if (id_len > attrs_.max_section_id_size) return std::nullopt;
    if (i.data_offset % attrs_.block_size != 0 || i.capacity > layout_.area_size ||
        i.data_offset > layout_.area_size - i.capacity || i.committed_size > i.capacity)
        return std::nullopt;
    i.id.assign(reinterpret_cast<const char*>(&d) + sizeof(SectionDesc), id_len);
    return i;
}

std::optional<SectionInfo> MetaView::info(std::uint32_t slot) const {
    if (slot >= attrs_.max_sections) return std::nullopt;
    return under_dir_seqlock(*hdr_, [&] { return read_slot(slot); });
}

std::optional<SectionInfo> MetaView::find(std::span<const std::byte> id) const {
    if (id.size() > attrs_.max_section_id_size) return std::nullopt;
    const std::uint64_t h = XXH3_64bits(id.data(), id.size());
    const std::uint32_t mask = layout_.index_capacity - 1;
    const std::uint32_t* index = reinterpret_cast<const std::uint32_t*>(base_ + layout_.index_offset);
    return under_dir_seqlock(*hdr_, [&]() -> std::optional<SectionInfo> {
        std::uint32_t pos = static_cast<std::uint32_t>(h) & mask;
        for (std::uint32_t probe = 0; probe <= mask; ++probe, pos = (pos + 1) & mask) {
            std::uint32_t e = load_relaxed(index[pos]);
            if (e == kIndexEmpty) return std::nullopt;
            if (e == kIndexTombstone || e - 1 >= attrs_.max_sections) continue;
            auto i = read_slot(e - 1);
            // memcmp is undefined on a null pointer even for 0 bytes (the default section's empty id)
            if (i && i->id.size() == id.size() && (id.empty() || std::memcmp(i->id.data(), id.data(), id.size()) == 0))
                return i;
        }
        return std::nullopt;
    });
}

std::vector<SectionInfo> MetaView::list() const {
    std::vector<SectionInfo> out;
    // section_count is a word of the mapping: never reserve more than the slots can hold (a
    // damaged header asked for 193 GB in fuzz_segment).
    out.reserve(std::min<std::uint64_t>(section_count(), attrs_.max_sections));
    for (std::uint32_t s = 0; s < attrs_.max_sections; ++s) {
        // Skip free slots without taking the seqlock: most of a sparse directory is free.
        if (load_relaxed(desc(s).state) == kSectionFree) continue;
        if (auto i = info(s)) out.push_back(std::move(*i));
    }
    return out;
}

std::uint64_t MetaView::changed_since(std::uint64_t since, std::vector<std::uint32_t>& slots) const {
    const std::uint64_t head = commit_seq();
    if (head <= since) return head;
    const ChangeRecord* log = reinterpret_cast<const ChangeRecord*>(base_ + layout_.changelog_offset);
    if (head - since <= kChangelogCapacity) {
        std::vector<std::uint32_t> found;
        bool complete = true;
        for (std::uint64_t seq = since + 1; seq <= head; ++seq) {
            const ChangeRecord& r = log[(seq - 1) % kChangelogCapacity];
            std::uint32_t slot = load_relaxed(r.slot);
            fence_acquire();
            if (load_acquire(r.commit_seq) != seq || slot >= attrs_.max_sections) { // overwritten meanwhile
                complete = false;
                break;
            }
            found.push_back(slot);
        }
        if (complete) {
            std::sort(found.begin(), found.end());
            found.erase(std::unique(found.begin(), found.end()), found.end());
            slots.insert(slots.end(), found.begin(), found.end());
            return head;
        }
    }
    // Fell out of the log: scan every descriptor's change_seq.
    for (std::uint32_t s = 0; s < attrs_.max_sections; ++s) {
        std::uint64_t c = load_acquire(desc(s).change_seq);
        if (c > since && c <= head) slots.push_back(s);
    }
    return head;
}

Result<DataView> DataView::attach(std::byte* base, std::uint64_t size, const MetaView& meta) {
    if (size < sizeof(DataHeader)) return fail(Error::kFailedOperation, "DATA mapping too small");
    const auto* h = reinterpret_cast<const DataHeader*>(base);
    if (load_acquire(h->magic) != kDataMagic) return fail(Error::kFailedOperation, "DATA segment has no valid magic");
    DataHeader snap;
    std::memcpy(&snap, base, sizeof snap);
    if (snap.layout_major != kLayoutMajor)
        return fail(Error::kVersion, "DATA layout major " + std::to_string(snap.layout_major));
    const Layout& l = meta.layout();
    if (snap.incarnation != meta.header().incarnation)
        return fail(Error::kFailedOperation, "DATA segment belongs to another incarnation of the checkpoint");
    if (snap.data_size != l.data_size || snap.pending_offset != l.pending_offset ||
        snap.summary_words != l.summary_words || snap.pending_words != l.pending_words ||
        snap.control_offset != l.control_offset || snap.dirty_offset != l.dirty_offset ||
        snap.dirty_words != l.dirty_words || snap.area_offset != l.area_offset || snap.area_size != l.area_size ||
        snap.block_size != meta.attributes().block_size || snap.max_sections != meta.attributes().max_sections)
        return fail(Error::kFailedOperation, "DATA header disagrees with META layout");
    if (size < l.data_size)
        return fail(Error::kFailedOperation,
                    "DATA mapping is " + std::to_string(size) + " bytes, layout needs " + std::to_string(l.data_size));
    DataView v;
    v.base_ = base;
    v.size_ = size;
    v.hdr_ = reinterpret_cast<DataHeader*>(base);
    v.layout_ = l;
    v.block_size_ = snap.block_size;
    v.max_sections_ = snap.max_sections;
    v.has_stage_ = size >= l.data_object_size;
    return v;
}

SectionControl& DataView::control(std::uint32_t slot) const {
    CKPT_ENFORCE(slot < max_sections_, "section slot out of range");
    return reinterpret_cast<SectionControl*>(base_ + layout_.control_offset)[slot];
}

std::span<std::byte> DataView::section_bytes(const SectionInfo& info) const {
    CKPT_ENFORCE(info.data_offset <= layout_.area_size && info.capacity <= layout_.area_size - info.data_offset,
                 "section extent outside the data area");
    return {area() + info.data_offset, info.capacity};
}

void DataView::mark_dirty(const SectionInfo& info, std::uint64_t offset, std::uint64_t len) const {
    if (len == 0) return;
    CKPT_ENFORCE(offset <= info.capacity && len <= info.capacity - offset, "dirty range outside the section");
    const std::uint64_t first = (info.data_offset + offset) / block_size_;
    const std::uint64_t last = (info.data_offset + offset + len - 1) / block_size_;
    dirty_bitmap::mark(dirty_words(), first, last - first + 1);
}

void DataView::ring_doorbell(std::uint32_t slot) const {
    CKPT_ENFORCE(slot < max_sections_, "section slot out of range");
    doorbell::ring({hdr_, summary_words(), pending_words(), layout_.summary_words, layout_.pending_words}, slot);
}

Result<const NodeHeader*> attach_node(const std::byte* base, std::uint64_t size) {
    if (size < sizeof(NodeHeader)) return fail(Error::kFailedOperation, "NODE segment too small");
    const auto* h = reinterpret_cast<const NodeHeader*>(base);
    std::uint64_t magic = load_acquire(h->magic);
    if (magic != kNodeMagic) return fail(Error::kFailedOperation, "NODE segment has no valid magic");
    if (h->layout_major != kLayoutMajor)
        return fail(Error::kVersion, "engine speaks layout " + std::to_string(h->layout_major) + ", library " +
                                         std::to_string(kLayoutMajor));
    return h;
}

} // namespace ckpt::shm

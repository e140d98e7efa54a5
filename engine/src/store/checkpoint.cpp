#include "store/checkpoint.hpp"

#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/dirty_bitmap.hpp"
#include "ckpt/shm/section_lock.hpp"

#include <xxhash.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ckpt::engine {

using namespace ckpt::shm;

namespace {

std::string as_string(std::span<const std::byte> b) {
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

std::string printable(std::span<const std::byte> id) {
    std::string s;
    for (std::byte b : id) {
        auto c = static_cast<unsigned char>(b);
        if (c >= 0x20 && c < 0x7f)
            s += static_cast<char>(c);
        else {
            char buf[5];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            s += buf;
        }
    }
    return "'" + s + "'";
}

Result<Fd> reopen(int fd, bool writable) {
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    Fd r(::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC));
    if (!r.valid()) return fail(Error::kNoResources, "reopen segment: " + std::string(std::strerror(errno)));
    return r;
}

} // namespace

std::uint64_t process_start_time(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(f, line)) return 0;
    // Field 2 (comm) may hold spaces and parentheses: parse after the last ')'.
    auto p = line.rfind(')');
    if (p == std::string::npos) return 0;
    std::istringstream in(line.substr(p + 2));
    std::string field;
    for (int i = 3; i <= 22 && (in >> field); ++i)
        if (i == 22) return std::stoull(field);
    return 0;
}

Checkpoint::~Checkpoint() = default;

namespace {
/// The DATA header is derived entirely from the layout, so the engine can always rewrite it.
void write_data_header(std::byte* base, const Layout& layout, const CheckpointAttributes& attrs,
                       std::uint64_t incarnation) {
    auto* dh = reinterpret_cast<DataHeader*>(base);
    store_release(dh->magic, std::uint64_t{0});
    dh->layout_major = kLayoutMajor;
    dh->layout_minor = kLayoutMinor;
    dh->header_size = sizeof(DataHeader);
    dh->data_size = layout.data_size;
    dh->incarnation = incarnation;
    dh->pending_offset = layout.pending_offset;
    dh->summary_words = layout.summary_words;
    dh->pending_words = layout.pending_words;
    dh->control_offset = layout.control_offset;
    dh->dirty_offset = layout.dirty_offset;
    dh->dirty_words = layout.dirty_words;
    dh->area_offset = layout.area_offset;
    dh->area_size = layout.area_size;
    dh->block_size = attrs.block_size;
    dh->max_sections = attrs.max_sections;
    store_release(dh->magic, kDataMagic);
}
} // namespace

bool Checkpoint::repair_data_header() {
    if (DataView::attach(data_map_.data(), data_map_.size(), meta_).ok()) return false;
    write_data_header(data_map_.data(), layout_, attrs_, meta_.header().incarnation);
    note_damage("DATA header was overwritten; rewritten from the layout");
    auto dv = DataView::attach(data_map_.data(), data_map_.size(), meta_);
    CKPT_ENFORCE(dv.ok(), "rewritten DATA header does not validate");
    return true;
}

ShadowEntry& Checkpoint::shadow_entry(std::uint32_t slot) const {
    return reinterpret_cast<ShadowEntry*>(shadow_map_.data() + layout_.shadow_entries_offset)[slot];
}

std::byte* Checkpoint::shadow_area() const {
    return shadow_map_.data() + layout_.shadow_area_offset;
}

void Checkpoint::arm_guard() {
    guard_.arm(data_map_.data(), data_map_.size(), layout_.area_offset, shadow_fd_.get(), layout_.shadow_area_offset,
               shadow_map_.size());
    guard_seen_ = guard_.faults();
}

std::optional<std::string> Checkpoint::check_resized() {
    const std::uint64_t faults = guard_.faults();
    struct stat st {};
    if (::fstat(data_fd_.get(), &st) != 0) return std::nullopt;
    const auto size = static_cast<std::uint64_t>(st.st_size);
    const std::uint64_t expected = data_map_.size();
    if (size == expected && faults == guard_seen_) return std::nullopt;
    // Bytes from `lost_from` on may be gone: truncation freed them (the client may have grown the
    // object again since: then only the guard's low-water mark says where).
    const std::uint64_t lost_from = std::min(size, guard_.low_water());
    std::string what = "DATA was resized to " + std::to_string(size) + " bytes (its layout needs " +
                       std::to_string(expected) + ") by a client holding a write handle";
    std::string writers;
    for (std::uint32_t w = 0; w < kMaxWriters; ++w) {
        const WriterSlot& ws = meta_.writer(w);
        if (load_relaxed(ws.state) == kWriterAttached)
            writers += (writers.empty() ? "" : ", ") + std::to_string(load_relaxed(ws.pid));
    }
    if (!writers.empty()) what += " (writer pids " + writers + ")";
    if (faults != guard_seen_)
        what += "; " + std::to_string(faults - guard_seen_) + " engine access(es) past its end absorbed";
    if (size != expected && ::ftruncate(data_fd_.get(), static_cast<off_t>(expected)) != 0) {
        // The stand-in pages stay: the engine keeps running on them, the checkpoint stays damaged.
        what += "; cannot restore its size: " + std::string(std::strerror(errno));
        note_damage(what);
        guard_seen_ = faults;
        return what;
    }
    if (size < expected) (void)::posix_fallocate(data_fd_.get(), 0, static_cast<off_t>(expected));
    // Back onto the object, at the same address: every view and every pointer stays valid.
    void* p = ::mmap(data_map_.data(), expected, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, data_fd_.get(), 0);
    CKPT_ENFORCE(p != MAP_FAILED, "cannot map DATA again over its stand-in pages");
    guard_seen_ = faults;
    guard_.clear_low_water();
    ++counters().segment_resizes;
    std::size_t restored = 0;
    if (lost_from < expected) {
        if (!DataView::attach(data_map_.data(), data_map_.size(), meta_).ok()) // the cut took the header
            write_data_header(data_map_.data(), layout_, attrs_, meta_.header().incarnation);
        for (std::uint32_t s = 0; s < attrs_.max_sections; ++s) {
            const Slot& sl = slots_[s];
            if (!sl.used) continue;
            const std::uint64_t ctl_off = layout_.control_offset + std::uint64_t{s} * sizeof(SectionControl);
            const std::uint64_t end = layout_.area_offset + sl.offset + sl.capacity;
            if (end <= lost_from && ctl_off + sizeof(SectionControl) <= lost_from) continue;
            // Past anything a reader saw: the lock word may read zero now.
            const std::uint64_t seq = std::max(lock_seq(section_lock::load(data_.control(s))), sl.captured_seq);
            commit_.recover(s, make_lock(seq, 0), false);
            ++restored;
        }
    }
    what += "; size restored, " + std::to_string(restored) + " section(s) rolled back to their last committed state";
    note_damage(what, true); // the cause of whatever the stand-in pages made the engine note before
    return what;
}

Status Checkpoint::map_views() {
    CKPT_TRY_ASSIGN(mm, Mapping::map(meta_fd_.get(), layout_.meta_size, true));
    CKPT_TRY_ASSIGN(dm, Mapping::map(data_fd_.get(), data_bytes_, true));
    CKPT_TRY_ASSIGN(sm, Mapping::map(shadow_fd_.get(), layout_.shadow_size, true));
    meta_map_ = std::move(mm);
    data_map_ = std::move(dm);
    shadow_map_ = std::move(sm);
    return {};
}

std::string segment_stem(std::string_view name) {
    auto plain = [](unsigned char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '-';
    };
    if (!name.empty() && name.size() <= 200 && name.front() != '.' && std::all_of(name.begin(), name.end(), plain))
        return std::string(name);
    const XXH128_hash_t h = XXH3_128bits(name.data(), name.size());
    char b[40];
    std::snprintf(b, sizeof b, "~%016llx%016llx", static_cast<unsigned long long>(h.high64),
                  static_cast<unsigned long long>(h.low64));
    return b;
}

Result<std::unique_ptr<Checkpoint>> Checkpoint::create(const std::string& name, const CheckpointAttributes& attrs,
                                                       const SegmentNames& names, const ObjectOptions& opts,
                                                       std::uint32_t node_id, bool local_stage) {
    CKPT_TRY(validate_name(name));
    CKPT_TRY(validate_attributes(attrs));
    CKPT_TRY_ASSIGN(layout, compute_layout(attrs));
    std::unique_ptr<Checkpoint> c(new Checkpoint);
    c->name_ = name;
    c->attrs_ = attrs;
    c->names_ = names;
    c->layout_ = layout;
    c->data_bytes_ = local_stage ? layout.data_object_size : layout.data_size;
    auto cleanup = [&] { c->remove_objects(); };
    {
        // META is the engine's alone: clients get it as an O_RDONLY fd, and even a group that may
        // share DATA gets no write bit on it.
        ObjectOptions meta_opts{static_cast<mode_t>(opts.mode & 0640), opts.gid};
        auto m = create_object(names.meta, layout.meta_size, meta_opts);
        if (!m) return m.failure();
        c->meta_fd_ = std::move(*m);
        auto d = create_object(names.data, c->data_bytes_, opts);
        if (!d) {
            cleanup();
            return d.failure();
        }
        c->data_fd_ = std::move(*d);
        ObjectOptions private_opts{0600, static_cast<gid_t>(-1)}; // the shadow is never shared
        auto s = create_object(names.shadow, layout.shadow_size, private_opts);
        if (!s) {
            cleanup();
            return s.failure();
        }
        c->shadow_fd_ = std::move(*s);
    }
    if (Status s = c->map_views(); !s) {
        cleanup();
        return s.failure();
    }
    const std::uint64_t incarnation =
        (static_cast<std::uint64_t>(now_realtime_ns()) << 8) ^ static_cast<std::uint64_t>(::getpid());

    // Objects are fresh (ftruncate zero-fills), so only non-zero fields are written; magic last.
    write_data_header(c->data_map_.data(), layout, attrs, incarnation);

    auto* sh = reinterpret_cast<ShadowHeader*>(c->shadow_map_.data());
    sh->layout_major = kLayoutMajor;
    sh->layout_minor = kLayoutMinor;
    sh->header_size = sizeof(ShadowHeader);
    sh->shadow_size = layout.shadow_size;
    sh->incarnation = incarnation;
    sh->entries_offset = layout.shadow_entries_offset;
    sh->area_offset = layout.shadow_area_offset;
    sh->area_size = layout.area_size;
    sh->max_sections = attrs.max_sections;
    store_release(sh->magic, kShadowMagic);

    auto* mh = reinterpret_cast<MetaHeader*>(c->meta_map_.data());
    mh->layout_major = kLayoutMajor;
    mh->layout_minor = kLayoutMinor;
    mh->header_size = sizeof(MetaHeader);
    mh->meta_size = layout.meta_size;
    mh->data_size = layout.data_size;
    mh->checkpoint_size = attrs.checkpoint_size;
    mh->max_section_size = attrs.max_section_size;
    mh->retention_ns = attrs.retention_ns;
    mh->max_sections = attrs.max_sections;
    mh->max_section_id_size = attrs.max_section_id_size;
    mh->block_size = attrs.block_size;
    mh->creation_flags = attrs.creation_flags;
    mh->writers_offset = layout.writers_offset;
    mh->index_offset = layout.index_offset;
    mh->index_capacity = layout.index_capacity;
    mh->desc_stride = layout.desc_stride;
    mh->desc_offset = layout.desc_offset;
    mh->changelog_offset = layout.changelog_offset;
    mh->changelog_capacity = kChangelogCapacity;
    mh->node_id = node_id;
    mh->incarnation = incarnation;
    mh->created_ns = now_realtime_ns();
    mh->epoch = 1;
    mh->name_len = static_cast<std::uint32_t>(name.size());
    std::memcpy(mh->name, name.data(), name.size());
    store_release(mh->magic, kMetaMagic);

    auto mv = MetaView::attach(c->meta_map_.data(), c->meta_map_.size());
    CKPT_ENFORCE(mv.ok(), "freshly created META does not validate");
    c->meta_ = *mv;
    auto dv = DataView::attach(c->data_map_.data(), c->data_map_.size(), c->meta_);
    CKPT_ENFORCE(dv.ok(), "freshly created DATA does not validate");
    c->data_ = *dv;
    c->arm_guard();
    c->alloc_ = ExtentAllocator(layout.area_size / attrs.block_size);
    c->slots_.resize(attrs.max_sections);
    for (std::uint32_t s = 0; s < attrs.max_sections; ++s) c->free_slots_.insert(c->free_slots_.end(), s);
    c->orphan_pids_.assign(kMaxWriters, 0);

    // SA Forum: a checkpoint with max_sections == 1 has the default section (empty id) from the start.
    if (attrs.max_sections == 1) {
        auto r = c->create_section({}, false, kTimeEnd, attrs.max_section_size, {});
        if (!r) {
            cleanup();
            return r.failure();
        }
    }
    return c;
}

Result<std::unique_ptr<Checkpoint>> Checkpoint::adopt(const SegmentNames& names, mode_t max_mode) {
    std::unique_ptr<Checkpoint> c(new Checkpoint);
    c->names_ = names;
    CKPT_TRY_ASSIGN(mfd, open_object(names.meta, true, max_mode));
    CKPT_TRY_ASSIGN(dfd, open_object(names.data, true, max_mode));
    CKPT_TRY_ASSIGN(sfd, open_object(names.shadow, true, 0600));
    c->meta_fd_ = std::move(mfd);
    c->data_fd_ = std::move(dfd);
    c->shadow_fd_ = std::move(sfd);
    CKPT_TRY_ASSIGN(msize, object_size(c->meta_fd_.get()));
    CKPT_TRY_ASSIGN(probe, Mapping::map(c->meta_fd_.get(), std::min<std::uint64_t>(msize, sizeof(MetaHeader)), false));
    {
        auto pv = MetaView::classify(probe.data(), probe.size());
        if (pv != HeaderState::kReady)
            return fail(pv == HeaderState::kVersionMismatch ? Error::kVersion : Error::kFailedOperation,
                        names.meta.describe() + " has no complete header (creation interrupted or foreign layout)");
        const auto* h = reinterpret_cast<const MetaHeader*>(probe.data());
        c->attrs_ = attributes_of(*h);
    }
    CKPT_TRY(validate_attributes(c->attrs_));
    CKPT_TRY_ASSIGN(layout, compute_layout(c->attrs_));
    c->layout_ = layout;
    // A client may have resized DATA (its write descriptor allows ftruncate) while no engine ran
    // or just before one died: restore the size now, and roll back below what the cut lost. META
    // and SHADOW are never given out writable, so they are still refused when short.
    CKPT_TRY_ASSIGN(dsize, object_size(c->data_fd_.get()));
    std::uint64_t lost_from = UINT64_MAX;
    // An object that ends at data_size has no local stage (made with local_stage = false, or by an
    // engine before layout minor 6): it keeps none. Any other size but the staged one: a client
    // resized it; restored with a stage.
    c->data_bytes_ = dsize == layout.data_size ? dsize : layout.data_object_size;
    if (dsize != c->data_bytes_) {
        if (::ftruncate(c->data_fd_.get(), static_cast<off_t>(layout.data_object_size)) != 0)
            return fail(Error::kNoResources, names.data.describe() + " is " + std::to_string(dsize) +
                                                 " bytes, its layout needs " + std::to_string(layout.data_object_size) +
                                                 ", and its size cannot be restored: " + std::strerror(errno));
        (void)::posix_fallocate(c->data_fd_.get(), 0,
                                static_cast<off_t>(layout.data_object_size)); // no holes to SIGBUS on later
        lost_from = std::min(dsize, layout.data_size); // below data_size the cut took committed bytes
    }
    CKPT_TRY(c->map_views());
    CKPT_TRY_ASSIGN(mv, MetaView::attach(c->meta_map_.data(), c->meta_map_.size()));
    c->meta_ = mv;
    if (!DataView::attach(c->data_map_.data(), c->data_map_.size(), c->meta_)) {
        // Application-writable, and derivable: a scribbled header is rewritten, not fatal.
        write_data_header(c->data_map_.data(), layout, c->attrs_, c->meta_.header().incarnation);
        c->note_damage("DATA header was overwritten; rewritten from the layout");
    }
    CKPT_TRY_ASSIGN(dv, DataView::attach(c->data_map_.data(), c->data_map_.size(), c->meta_));
    c->data_ = dv;
    c->arm_guard();
    const auto* sh = reinterpret_cast<const ShadowHeader*>(c->shadow_map_.data());
    if (load_acquire(sh->magic) != kShadowMagic || sh->incarnation != c->meta_.header().incarnation ||
        sh->area_offset != layout.shadow_area_offset || sh->area_size != layout.area_size)
        return fail(Error::kFailedOperation, names.shadow.describe() + " does not belong to " + names.meta.describe());
    c->name_ = c->meta_.name();
    CKPT_TRY(validate_name(c->name_));

    // A directory edit interrupted by the crash leaves dir_seq odd; the index is rebuilt below anyway.
    MetaHeader& mh = c->meta_.mutable_header();
    if (load_relaxed(mh.dir_seq) & 1) store_release(mh.dir_seq, mh.dir_seq + 1);

    c->alloc_ = ExtentAllocator(layout.area_size / c->attrs_.block_size);
    c->slots_.resize(c->attrs_.max_sections);
    c->commit_seq_ = load_relaxed(mh.commit_seq);
    const std::uint32_t bs = c->attrs_.block_size;
    std::uint64_t bytes = 0;
    std::uint32_t count = 0;
    for (std::uint32_t s = 0; s < c->attrs_.max_sections; ++s) {
        const SectionDesc& d = c->meta_.desc(s);
        std::uint32_t st = d.state;
        if (st == kSectionFree) continue;
        if (st != kSectionValid && st != kSectionCorrupted)
            return fail(Error::kFailedOperation,
                        "slot " + std::to_string(s) + " has invalid state " + std::to_string(st));
        if (d.id_len > c->attrs_.max_section_id_size || d.capacity == 0 || d.capacity % bs || d.data_offset % bs ||
            d.capacity > layout.area_size || d.data_offset > layout.area_size - d.capacity ||
            d.committed_size > d.capacity || !c->alloc_.reserve(d.data_offset / bs, d.capacity / bs))
            return fail(Error::kFailedOperation, "slot " + std::to_string(s) + " has an invalid or overlapping extent");
        Slot& sl = c->slots_[s];
        sl.used = true;
        c->list_add(s);
        sl.generation = d.generation;
        sl.offset = d.data_offset;
        sl.capacity = d.capacity;
        sl.captured_seq = d.captured_seq;
        sl.committed_size = d.committed_size;
        c->set_slot_expiration(s, d.expiration_ns);
        std::string id(reinterpret_cast<const char*>(&d) + sizeof(SectionDesc), d.id_len);
        sl.id = id;
        if (!c->by_id_.emplace(id, s).second)
            return fail(Error::kFailedOperation,
                        "two slots hold section id " + printable(std::as_bytes(std::span(id))));
        // The shadow is the committed truth; resynchronise its bookkeeping with the directory.
        ShadowEntry& e = c->shadow_entry(s);
        if (e.seq != sl.captured_seq || e.size != sl.committed_size) {
            e.size = sl.committed_size;
            e.seq = sl.captured_seq;
        }
        bytes += d.capacity;
        ++count;
    }
    for (std::uint32_t s = c->attrs_.max_sections; s-- > 0;)
        if (!c->slots_[s].used) c->free_slots_.insert(s);
    c->begin_dir_edit();
    c->rebuild_index();
    store_relaxed(mh.section_count, count);
    store_relaxed(mh.bytes_used, bytes);
    c->end_dir_edit();

    // Writers recorded before the restart: keep the slots of processes still alive (they will
    // reattach); release the others, which rolls back whatever they left half-written.
    c->orphan_pids_.assign(kMaxWriters, 0);
    for (std::uint32_t w = 0; w < kMaxWriters; ++w) {
        const WriterSlot& ws = c->meta_.writer(w);
        if (ws.state != kWriterAttached) continue;
        if (ws.pid != 0 && process_start_time(static_cast<pid_t>(ws.pid)) == ws.start_time && ws.start_time != 0)
            c->orphan_pids_[w] = static_cast<pid_t>(ws.pid);
        else
            c->release_writer(w);
    }
    if (lost_from != UINT64_MAX) {
        // Everything from the cut on reads zero: roll those sections back from the shadow.
        std::size_t restored = 0;
        for (std::uint32_t s = 0; s < c->attrs_.max_sections; ++s) {
            const Slot& sl = c->slots_[s];
            if (!sl.used) continue;
            const std::uint64_t ctl_off = layout.control_offset + std::uint64_t{s} * sizeof(SectionControl);
            if (layout.area_offset + sl.offset + sl.capacity <= lost_from &&
                ctl_off + sizeof(SectionControl) <= lost_from)
                continue;
            const std::uint64_t seq = std::max(lock_seq(section_lock::load(c->data_.control(s))), sl.captured_seq);
            c->commit_.recover(s, make_lock(seq, 0), false);
            ++restored;
        }
        ++c->counters().segment_resizes;
        c->note_damage("DATA was resized to " + std::to_string(dsize) + " bytes (its layout needs " +
                       std::to_string(layout.data_object_size) +
                       ") by a client holding a write handle; size restored, " + std::to_string(restored) +
                       " section(s) rolled back to their last committed state");
    }
    // Sections held by an owner that is not a live writer: recover; commits without a doorbell: capture.
    for (std::uint32_t s = 0; s < c->attrs_.max_sections; ++s) {
        if (!c->slots_[s].used) continue;
        std::uint64_t lock = section_lock::load(c->data_.control(s));
        std::uint32_t owner = lock_owner(lock);
        if (lock_held(lock)) {
            bool live_owner = owner >= 1 && owner <= kMaxWriters && c->orphan_pids_[owner - 1] != 0;
            if (!live_owner) c->commit_.recover(s, lock);
        }
    }
    // Stage records of writers that did not survive the restart (released above) go back.
    c->commit_.sweep_stage([&](std::uint32_t x) { return c->orphan_pids_[x] != 0; });
    // An active replica's commits captured now were made while no engine ran: no standby holds
    // them, so they are not acknowledged here; the replicator acknowledges them once one does.
    c->hold_acks_ = load_acquire(c->meta_.header().role) == kRoleActive;
    c->scan_all();
    c->publish_acks();
    return c;
}

Result<Fd> Checkpoint::meta_fd_readonly() const {
    return reopen(meta_fd_.get(), false);
}
Result<Fd> Checkpoint::data_fd(bool writable) const {
    return reopen(data_fd_.get(), writable);
}

void Checkpoint::flush_to_disk() const {
    if (!attrs_.persistent()) return;
    // Asynchronous: an fsync per commit would cost milliseconds; the page cache survives process
    // and engine deaths anyway, and this bounds what a power loss can take to one scan interval
    // plus the kernel's write-back delay.
    for (const Mapping* m : {&meta_map_, &data_map_, &shadow_map_}) ::msync(m->data(), m->size(), MS_ASYNC);
}

void Checkpoint::remove_objects() {
    (void)remove_object(names_.meta);
    (void)remove_object(names_.data);
    (void)remove_object(names_.shadow);
}

// ------------------------------------------------------------------------------------------
// Directory
// ------------------------------------------------------------------------------------------

void Checkpoint::begin_dir_edit() {
    MetaHeader& h = meta_.mutable_header();
    store_relaxed(h.dir_seq, h.dir_seq + 1);
    fence_release(); // the odd sequence is visible before any directory word changes
}

void Checkpoint::end_dir_edit() {
    MetaHeader& h = meta_.mutable_header();
    store_release(h.dir_seq, h.dir_seq + 1);
}

void Checkpoint::index_insert(std::span<const std::byte> id, std::uint32_t slot) {
    std::uint32_t* index = meta_.mutable_index();
    const std::uint32_t mask = layout_.index_capacity - 1;
    std::uint32_t pos = static_cast<std::uint32_t>(XXH3_64bits(id.data(), id.size())) & mask;
    while (true) {
        std::uint32_t e = index[pos];
        if (e == kIndexEmpty || e == kIndexTombstone) {
            if (e == kIndexTombstone) --tombstones_;
            store_relaxed(index[pos], slot + 1);
            return;
        }
        pos = (pos + 1) & mask;
    }
}

void Checkpoint::index_remove(std::span<const std::byte> id, std::uint32_t slot) {
    std::uint32_t* index = meta_.mutable_index();
    const std::uint32_t mask = layout_.index_capacity - 1;
    std::uint32_t pos = static_cast<std::uint32_t>(XXH3_64bits(id.data(), id.size())) & mask;
    for (std::uint32_t probe = 0; probe <= mask; ++probe, pos = (pos + 1) & mask) {
        if (index[pos] == kIndexEmpty) return;
        if (index[pos] == slot + 1) {
            store_relaxed(index[pos], kIndexTombstone);
            ++tombstones_;
            return;
        }
    }
}

void Checkpoint::rebuild_index() {
    std::uint32_t* index = meta_.mutable_index();
    for (std::uint32_t i = 0; i < layout_.index_capacity; ++i) store_relaxed(index[i], kIndexEmpty);
    tombstones_ = 0;
    for (auto& [id, slot] : by_id_) index_insert(std::as_bytes(std::span(id)), slot);
}

std::optional<std::uint32_t> Checkpoint::lookup(std::span<const std::byte> id) const {
    auto it = by_id_.find(as_string(id));
    if (it == by_id_.end()) return std::nullopt;
    return it->second;
}

void Checkpoint::record_change(std::uint32_t slot) {
    // Change log entry first, then the head (release): a reader that sees the head sees the entry.
    const std::uint64_t seq = ++commit_seq_;
    ChangeRecord& r = meta_.mutable_changelog()[(seq - 1) % kChangelogCapacity];
    store_relaxed(r.commit_seq, std::uint64_t{0});
    fence_release();
    store_relaxed(r.slot, slot);
    store_relaxed(r.generation, static_cast<std::uint32_t>(slots_[slot].generation));
    store_release(r.commit_seq, seq);
    store_release(meta_.mutable_desc(slot).change_seq, seq);
    store_release(meta_.mutable_header().commit_seq, seq);
    batch_dirty_ = true;
}

void Checkpoint::occupy(std::uint32_t slot, const std::string& id, std::uint64_t offset, std::uint64_t capacity,
                        std::int64_t expiration_ns, std::span<const std::byte> initial) {
    const std::uint32_t bs = attrs_.block_size;
    Slot& sl = slots_[slot];
    sl.used = true;
    list_add(slot);
    sl.generation += 1;
    sl.offset = offset;
    sl.capacity = capacity;
    sl.committed_size = initial.size();
    set_slot_expiration(slot, expiration_ns);
    sl.id = id;
    // Sequence numbers keep growing across reuse of a slot, so a seqlock reader of the previous
    // occupant never mistakes the new section for the state it started reading.
    sl.captured_seq =
        (std::max<std::uint64_t>(sl.captured_seq, lock_seq(section_lock::load(data_.control(slot)))) + 2) & ~1ull;

    // Data first (fresh bytes: no leak from a deleted section), then control words, then directory.
    std::byte* live = data_.area() + sl.offset;
    std::byte* shadow = shadow_area() + sl.offset;
    std::memset(live, 0, sl.capacity);
    if (!initial.empty()) std::memcpy(live, initial.data(), initial.size());
    std::memcpy(shadow, live, sl.capacity);
    ShadowEntry& se = shadow_entry(slot);
    se.size = sl.committed_size;
    se.seq = sl.captured_seq;
    SectionControl& ctl = data_.control(slot);
    store_relaxed(ctl.size, sl.committed_size);
    store_relaxed(ctl.commit_flags, 0u);
    dirty_bitmap::reset_range(ctl);
    commit_.drop_stage(slot); // a record a previous occupant staged is not this section's
    // Clear stale dirty bits of the extent.
    commit_.clear_dirty(offset / bs, capacity / bs);

    begin_dir_edit();
    SectionDesc& d = meta_.mutable_desc(slot);
    store_relaxed(d.state, kSectionValid);
    store_relaxed(d.id_len, static_cast<std::uint32_t>(id.size()));
    store_relaxed(d.generation, sl.generation);
    store_relaxed(d.data_offset, sl.offset);
    store_relaxed(d.capacity, sl.capacity);
    store_relaxed(d.expiration_ns, expiration_ns);
    store_relaxed(d.last_update_ns, now_realtime_ns());
    store_relaxed(d.committed_size, sl.committed_size);
    store_relaxed(d.captured_seq, sl.captured_seq);
    store_relaxed(d.acked_seq, sl.captured_seq);
    std::memcpy(meta_.mutable_desc_id(slot), id.data(), id.size());
    index_insert(std::as_bytes(std::span(id)), slot);
    by_id_.emplace(id, slot);
    MetaHeader& h = meta_.mutable_header();
    store_relaxed(h.section_count, h.section_count + 1);
    store_relaxed(h.bytes_used, h.bytes_used + sl.capacity);
    end_dir_edit();
    // The lock goes even last (release): a writer that takes it sees the new generation.
    section_lock::publish(ctl, sl.captured_seq);
    record_change(slot);
}

Result<Checkpoint::Created> Checkpoint::create_section(std::span<const std::byte> id_in, bool generate,
                                                       std::int64_t expiration_ns, std::uint64_t capacity,
                                                       std::span<const std::byte> initial) {
    std::string id;
    if (generate) {
        if (attrs_.max_sections == 1)
            return fail(Error::kInvalidParam, "a checkpoint with max_sections 1 only has the default section");
        MetaHeader& h = meta_.mutable_header();
        do {
            id = "#" + std::to_string(++h.generated_ids);
        } while (by_id_.count(id));
        if (id.size() > attrs_.max_section_id_size)
            return fail(Error::kInvalidParam, "max_section_id_size " + std::to_string(attrs_.max_section_id_size) +
                                                  " is too small for generated id " + id);
    } else {
        id = as_string(id_in);
        if (id.size() > attrs_.max_section_id_size)
            return fail(Error::kInvalidParam, "section id is " + std::to_string(id.size()) +
                                                  " bytes, max_section_id_size is " +
                                                  std::to_string(attrs_.max_section_id_size));
    }
    if (capacity == 0) capacity = std::max<std::uint64_t>(initial.size(), attrs_.max_section_size);
    if (capacity > attrs_.max_section_size)
        return fail(Error::kInvalidParam, "section size " + std::to_string(capacity) + " exceeds max_section_size " +
                                              std::to_string(attrs_.max_section_size));
    if (initial.size() > capacity)
        return fail(Error::kInvalidParam, "initial data of " + std::to_string(initial.size()) +
                                              " bytes exceeds the section size " + std::to_string(capacity));
    if (by_id_.count(id)) return fail(Error::kExist, "section " + printable(std::as_bytes(std::span(id))) + " exists");
    if (free_slots_.empty())
        return fail(Error::kNoSpace, "checkpoint '" + printable_name(name_) + "' holds max_sections (" +
                                         std::to_string(attrs_.max_sections) + ") sections");
    if (attrs_.net_size()) {
        if (poll_commits() > 0) publish_acks(); // count what published commits hold, not what they replaced
        const std::uint64_t held = held_bytes(UINT32_MAX);
        if (initial.size() > attrs_.checkpoint_size - std::min(held, attrs_.checkpoint_size))
            return fail(Error::kNoSpace, "checkpoint '" + printable_name(name_) + "' holds " + std::to_string(held) +
                                             " bytes of its checkpoint_size " + std::to_string(attrs_.checkpoint_size) +
                                             "; a section of " + std::to_string(initial.size()) + " more does not fit");
    }
    const std::uint32_t bs = attrs_.block_size;
    const std::uint64_t blocks = (capacity + bs - 1) / bs;
    auto first = alloc_.allocate(blocks);
    if (!first)
        return fail(Error::kNoSpace, "checkpoint '" + printable_name(name_) + "' has no free run of " +
                                         std::to_string(blocks * bs) + " bytes (free " +
                                         std::to_string(alloc_.free_blocks() * bs) + ", largest run " +
                                         std::to_string(alloc_.largest_free() * bs) + ")");
    const std::uint32_t slot = *free_slots_.begin();
    free_slots_.erase(free_slots_.begin());
    occupy(slot, id, *first * bs, blocks * bs, expiration_ns, initial);
    Slot& sl = slots_[slot];
    if (replicating_) {
        emit(install_event(slot));
        // Fresh blocks are zero on both sides; only the initial bytes travel.
        const std::uint64_t nb = sl.capacity / bs;
        std::fill_n(block_hash_.begin() + static_cast<std::ptrdiff_t>(sl.offset / bs), nb, zero_block_hash());
        if (!initial.empty()) {
            ReplEvent ev;
            ev.kind = ReplEvent::Kind::kCommit;
            ev.slot = slot;
            ev.generation = sl.generation;
            ev.seq = sl.captured_seq;
            ev.size = sl.committed_size;
            const std::uint64_t len = (initial.size() + bs - 1) / bs * bs;
            ev.runs.push_back({0, len});
            for (std::uint64_t b = 0; b < len / bs; ++b)
                block_hash_[sl.offset / bs + b] = XXH3_64bits(shadow_area() + sl.offset + b * bs, bs);
            emit(std::move(ev));
        }
    }
    return Created{id, slot, sl.generation};
}

void Checkpoint::remove_section(std::uint32_t slot) {
    Slot& sl = slots_[slot];
    SectionDesc& d = meta_.mutable_desc(slot);
    const std::string id = std::move(sl.id);
    begin_dir_edit();
    store_relaxed(d.state, kSectionFree);
    index_remove(std::as_bytes(std::span(id)), slot);
    MetaHeader& h = meta_.mutable_header();
    store_relaxed(h.section_count, h.section_count - 1);
    store_relaxed(h.bytes_used, h.bytes_used - sl.capacity);
    end_dir_edit();
    by_id_.erase(id);
    alloc_.release(sl.offset / attrs_.block_size, sl.capacity / attrs_.block_size);
    set_slot_expiration(slot, kTimeEnd);
    sl.used = false;
    list_remove(slot);
    free_slots_.insert(slot);
    record_change(slot);
    if (tombstones_ > layout_.index_capacity / 4) {
        begin_dir_edit();
        rebuild_index();
        end_dir_edit();
    }
}

Status Checkpoint::delete_section(std::span<const std::byte> id) {
    auto slot = lookup(id);
    if (!slot) return fail(Error::kNotExist, "no section " + printable(id) + " in checkpoint '" + name_ + "'");
    if (attrs_.max_sections == 1)
        return fail(Error::kInvalidParam, "the default section of a single-section checkpoint cannot be deleted");
    // Fence the section: after this CAS no writer can take it, and one that holds it makes us wait.
    SectionControl& ctl = data_.control(*slot);
    std::uint64_t lock = section_lock::load(ctl);
    for (;;) {
        if (lock_held(lock)) {
            std::uint32_t owner = lock_owner(lock);
            pid_t pid = owner >= 1 && owner <= kMaxWriters ? static_cast<pid_t>(meta_.writer(owner - 1).pid) : 0;
            return fail(Error::kTryAgain, "section " + printable(id) + " is being written (writer pid " +
                                              std::to_string(pid) + "); retry after its commit");
        }
        if (section_lock::try_fence(ctl, lock)) break;
    }
    slots_[*slot].captured_seq = lock_seq(lock) + 1;
    commit_.drop_stage(*slot); // a commit staged and not captured goes with the section
    if (replicating_) {
        ReplEvent ev;
        ev.kind = ReplEvent::Kind::kDelete;
        ev.slot = *slot;
        ev.generation = slots_[*slot].generation;
        emit(std::move(ev));
    }
    remove_section(*slot);
    return {};
}

Status Checkpoint::set_expiration(std::span<const std::byte> id, std::int64_t expiration_ns) {
    auto slot = lookup(id);
    if (!slot) return fail(Error::kNotExist, "no section " + printable(id) + " in checkpoint '" + name_ + "'");
    if (attrs_.max_sections == 1) return fail(Error::kInvalidParam, "the default section's expiration cannot be set");
    set_slot_expiration(*slot, expiration_ns);
    begin_dir_edit();
    store_relaxed(meta_.mutable_desc(*slot).expiration_ns, expiration_ns);
    end_dir_edit();
    if (replicating_) {
        ReplEvent ev;
        ev.kind = ReplEvent::Kind::kExpiration;
        ev.slot = *slot;
        ev.generation = slots_[*slot].generation;
        ev.expiration_ns = expiration_ns;
        emit(std::move(ev));
    }
    return {};
}

void Checkpoint::list_add(std::uint32_t slot) {
    slots_[slot].list_pos = static_cast<std::uint32_t>(used_list_.size());
    used_list_.push_back(slot);
}

void Checkpoint::list_remove(std::uint32_t slot) {
    const std::uint32_t pos = slots_[slot].list_pos;
    const std::uint32_t last = used_list_.back();
    used_list_[pos] = last;
    slots_[last].list_pos = pos;
    used_list_.pop_back();
}

void Checkpoint::set_slot_expiration(std::uint32_t slot, std::int64_t expiration_ns) {
    Slot& sl = slots_[slot];
    if (sl.expiration_ns != kTimeEnd) expiry_.erase({sl.expiration_ns, slot});
    sl.expiration_ns = expiration_ns;
    if (expiration_ns != kTimeEnd) expiry_.insert({expiration_ns, slot});
}

std::size_t Checkpoint::expire_sections(std::int64_t now_ns) {
    // Earliest deadline first; stop at the first one still in the future.
    std::size_t n = 0;
    std::vector<std::uint32_t> busy; // being written: they expire right after their commit (next pass)
    while (!expiry_.empty() && expiry_.begin()->first <= now_ns) {
        const std::uint32_t s = expiry_.begin()->second;
        ++counters().timer_slots_visited;
        const std::string id = slots_[s].id;
        if (delete_section(std::as_bytes(std::span(id)))) {
            ++n; // remove_section took it out of expiry_
        } else {
            busy.push_back(s);
            expiry_.erase(expiry_.begin());
        }
    }
    for (std::uint32_t s : busy) expiry_.insert({slots_[s].expiration_ns, s});
    return n;
}

std::int64_t Checkpoint::next_expiration() const {
    return expiry_.empty() ? kTimeEnd : expiry_.begin()->first;
}

// ------------------------------------------------------------------------------------------
// Writers
// ------------------------------------------------------------------------------------------

Result<std::uint32_t> Checkpoint::attach_writer(pid_t pid, std::uint64_t start_time) {
    for (std::uint32_t w = 0; w < kMaxWriters; ++w) {
        WriterSlot& ws = meta_.mutable_writer(w);
        if (ws.state != kWriterFree || orphan_pids_[w] != 0) continue;
        store_relaxed(ws.pid, static_cast<std::uint32_t>(pid));
        store_relaxed(ws.start_time, start_time);
        store_release(ws.state, kWriterAttached);
        return w;
    }
    return fail(Error::kNoResources, "checkpoint '" + name_ + "' is open for write by " + std::to_string(kMaxWriters) +
                                         " processes already");
}

bool Checkpoint::reattach_writer(std::uint32_t slot, pid_t pid, std::uint64_t start_time) {
    if (slot >= kMaxWriters || orphan_pids_[slot] != pid) return false;
    const WriterSlot& ws = meta_.writer(slot);
    if (ws.pid != static_cast<std::uint32_t>(pid) || ws.start_time != start_time) return false;
    orphan_pids_[slot] = 0;
    return true;
}

Status Checkpoint::rollback(std::uint32_t slot, std::uint32_t writer) {
    if (slot >= slots_.size() || !slots_[slot].used)
        return fail(Error::kNotExist, "no section in slot " + std::to_string(slot));
    std::uint64_t lock = section_lock::load(data_.control(slot));
    if (!lock_held(lock) || lock_owner(lock) != writer + 1)
        return fail(Error::kBadOperation, "the section is not in a write transaction of this client");
    commit_.recover(slot, lock, false);
    publish_acks();
    return {};
}

std::uint64_t Checkpoint::held_bytes(std::uint32_t except) const {
    std::uint64_t held = 0;
    for (std::uint32_t s : used_list_) {
        if (s == except) continue;
        const Slot& sl = slots_[s];
        held += sl.captured_seq < sl.reserved_at ? std::max(sl.committed_size, sl.reserved) : sl.committed_size;
    }
    return held;
}

Status Checkpoint::reserve_size(std::uint32_t slot, std::uint32_t writer, std::uint64_t size) {
    if (slot >= slots_.size() || !slots_[slot].used)
        return fail(Error::kNotExist, "no section in slot " + std::to_string(slot));
    Slot& sl = slots_[slot];
    const std::uint64_t lock = section_lock::load(data_.control(slot));
    if (!lock_held(lock) || lock_owner(lock) != writer + 1)
        return fail(Error::kBadOperation, "the section is not in a write transaction of this client");
    if (size > sl.capacity)
        return fail(Error::kInvalidParam,
                    "section size " + std::to_string(size) + " exceeds its capacity " + std::to_string(sl.capacity));
    if (!attrs_.net_size()) return {};
    if (poll_commits() > 0) publish_acks(); // count what published commits hold, not what they replaced
    const std::uint64_t others = held_bytes(slot);
    if (others > attrs_.checkpoint_size || size > attrs_.checkpoint_size - others)
        return fail(Error::kNoSpace, "checkpoint '" + printable_name(name_) + "' would hold " +
                                         std::to_string(others + size) + " bytes, more than its checkpoint_size " +
                                         std::to_string(attrs_.checkpoint_size) + " (this section " +
                                         std::to_string(size) + ", the others " + std::to_string(others) + ")");
    sl.reserved = size;
    // Held until the capture (or rollback) of this transaction moves captured_seq past its odd
    // sequence; the capture of a commit it staged before it (local_stage.hpp) does not.
    sl.reserved_at = lock_seq(lock);
    return {};
}

std::vector<std::pair<std::uint32_t, pid_t>> Checkpoint::orphan_writers() const {
    std::vector<std::pair<std::uint32_t, pid_t>> r;
    for (std::uint32_t w = 0; w < kMaxWriters; ++w)
        if (orphan_pids_[w] != 0) r.emplace_back(w, orphan_pids_[w]);
    return r;
}

void Checkpoint::release_writer(std::uint32_t w) {
    CKPT_ENFORCE(w < kMaxWriters, "writer slot out of range");
    orphan_pids_[w] = 0;
    // First the members of its unfinished write groups that it published already (found from the
    // members it still holds, whose rollback below clears the group's tags): none of a group stays.
    commit_.recover_open_groups(w);
    for (std::uint32_t s : std::vector<std::uint32_t>(used_list_)) { // recover() never frees a slot; copied anyway
        std::uint64_t lock = section_lock::load(data_.control(s));
        if (lock_held(lock) && lock_owner(lock) == w + 1) commit_.recover(s, lock);
    }
    // Stage records it was filling, or filled and never named (it died in between), go back.
    commit_.sweep_stage(
        [&](std::uint32_t x) { return x != w && load_relaxed(meta_.writer(x).state) == kWriterAttached; });
    scan_all(); // commits the writer made but never announced
    WriterSlot& ws = meta_.mutable_writer(w);
    store_relaxed(ws.pid, 0u);
    store_relaxed(ws.start_time, std::uint64_t{0});
    store_release(ws.state, kWriterFree);
    publish_acks();
}

// ------------------------------------------------------------------------------------------
// Commit capture and recovery
// ------------------------------------------------------------------------------------------

void Checkpoint::note_damage(const std::string& what, bool headline) {
    ++counters().invalid_words;
    if (damage_.empty() || headline) damage_ = what;
    MetaHeader& h = meta_.mutable_header();
    store_release(h.state, h.state | kMetaDamaged);
}

void Checkpoint::mark_corrupted(std::uint32_t slot, const std::string& why) {
    ++counters().corruptions;
    begin_dir_edit();
    store_relaxed(meta_.mutable_desc(slot).state, kSectionCorrupted);
    end_dir_edit();
    if (!why.empty()) note_damage(why);
}

std::size_t Checkpoint::poll_commits(std::uint64_t budget_bytes) {
    return commit_.drain_doorbells(budget_bytes);
}

std::size_t Checkpoint::scan_all() {
    return commit_.scan_all();
}

void Checkpoint::publish_acks() {
    commit_.publish_acks();
}

// ------------------------------------------------------------------------------------------
// What replication reads and sets (role, acknowledgements, lag, block hashes)
// ------------------------------------------------------------------------------------------

std::uint32_t Checkpoint::role() const {
    return load_acquire(meta_.header().role);
}

void Checkpoint::set_role(std::uint32_t role, std::uint64_t epoch, std::uint32_t active_node) {
    MetaHeader& h = meta_.mutable_header();
    store_release(h.epoch, epoch);
    store_release(h.active_node, active_node);
    store_release(h.role, role);
    batch_dirty_ = true; // waiters re-check (a demoted writer's sync commit fails)
}

void Checkpoint::record_lost(std::uint32_t commits, std::uint64_t first_change, std::uint64_t last_change) {
    MetaHeader& h = meta_.mutable_header();
    store_relaxed(h.lost_commits, commits);
    store_relaxed(h.lost_first_change, first_change);
    store_relaxed(h.lost_last_change, last_change);
    store_release(h.lost_events, load_relaxed(h.lost_events) + 1); // last: readers see the fields with it
    batch_dirty_ = true;
}

void Checkpoint::release_held_acks() {
    if (!hold_acks_) return;
    hold_acks_ = false;
    for (std::uint32_t s = 0; s < slots_.size(); ++s)
        if (slots_[s].used) store_release(meta_.mutable_desc(s).acked_seq, slots_[s].captured_seq);
    batch_dirty_ = true;
}

std::vector<std::pair<std::uint32_t, SectionState>> Checkpoint::unacknowledged_sections() const {
    std::vector<std::pair<std::uint32_t, SectionState>> v;
    for (std::uint32_t s = 0; s < slots_.size(); ++s)
        if (slots_[s].used && load_acquire(meta_.desc(s).acked_seq) < slots_[s].captured_seq)
            v.emplace_back(s, *section_state(s));
    return v;
}

void Checkpoint::set_replicating(EventSink sink) {
    hold_acks_ = false; // the sink's owner acknowledges from now on
    if (block_hash_.empty()) block_hash_.allocate(layout_.area_size / attrs_.block_size); // 0: not known yet
    sink_ = std::move(sink);
    replicating_ = true;
}

void Checkpoint::stop_replicating(bool ack_captured) {
    replicating_ = false;
    sink_ = nullptr;
    if (!ack_captured) return;
    for (std::uint32_t s = 0; s < slots_.size(); ++s)
        if (slots_[s].used) store_release(meta_.mutable_desc(s).acked_seq, slots_[s].captured_seq);
    batch_dirty_ = true;
}

void Checkpoint::set_acked(std::uint32_t slot, std::uint64_t generation, std::uint64_t seq) {
    if (slot >= slots_.size() || !slots_[slot].used || slots_[slot].generation != generation) return;
    SectionDesc& d = meta_.mutable_desc(slot);
    if (seq > load_relaxed(d.acked_seq)) {
        store_release(d.acked_seq, std::min(seq, slots_[slot].captured_seq));
        batch_dirty_ = true;
    }
}

void Checkpoint::publish_lag(std::uint64_t commits, std::uint64_t bytes, std::uint32_t replicas,
                             std::uint32_t sync_blocked) {
    MetaHeader& h = meta_.mutable_header();
    store_relaxed(h.repl_lag_bytes, bytes);
    store_release(h.repl_lag_commits, commits);
    store_release(h.replicas, replicas);
    if (load_relaxed(h.sync_blocked) != sync_blocked) {
        store_release(h.sync_blocked, sync_blocked);
        batch_dirty_ = true; // sleeping sync committers must see it now
    }
}

void Checkpoint::set_window(std::uint32_t commits, std::uint32_t policy) {
    MetaHeader& h = meta_.mutable_header();
    store_release(h.async_window, commits);
    store_release(h.window_policy, policy);
}

std::optional<SectionState> Checkpoint::section_state(std::uint32_t slot) const {
    if (slot >= slots_.size() || !slots_[slot].used) return std::nullopt;
    const Slot& sl = slots_[slot];
    return SectionState{sl.id,           sl.generation,     sl.offset,       sl.capacity,
                        sl.captured_seq, sl.committed_size, sl.expiration_ns};
}

std::span<const std::byte> Checkpoint::committed_bytes(std::uint32_t slot) const {
    const Slot& sl = slots_[slot];
    return {shadow_area() + sl.offset, sl.capacity};
}

std::vector<std::uint64_t> Checkpoint::block_hashes(std::uint32_t slot, bool live) const {
    std::vector<std::uint64_t> r;
    if (slot >= slots_.size() || !slots_[slot].used) return r;
    const Slot& sl = slots_[slot];
    const std::uint32_t bs = attrs_.block_size;
    const std::byte* base = (live ? data_.area() : shadow_area()) + sl.offset;
    r.reserve(sl.capacity / bs);
    for (std::uint64_t off = 0; off < sl.capacity; off += bs) r.push_back(XXH3_64bits(base + off, bs));
    return r;
}

void Checkpoint::set_replicated_hashes(std::uint32_t slot, std::span<const std::uint64_t> hashes) {
    if (block_hash_.empty() || slot >= slots_.size() || !slots_[slot].used) return;
    const Slot& sl = slots_[slot];
    const std::uint64_t first = sl.offset / attrs_.block_size;
    const std::uint64_t n = std::min<std::uint64_t>(hashes.size(), sl.capacity / attrs_.block_size);
    std::copy_n(hashes.begin(), n, block_hash_.begin() + static_cast<std::ptrdiff_t>(first));
}

std::uint64_t Checkpoint::zero_block_hash() const {
    static thread_local std::uint32_t cached_bs = 0;
    static thread_local std::uint64_t cached = 0;
    if (cached_bs != attrs_.block_size) {
        std::vector<std::byte> zero(attrs_.block_size);
        cached = XXH3_64bits(zero.data(), zero.size());
        cached_bs = attrs_.block_size;
    }
    return cached;
}

ReplEvent Checkpoint::install_event(std::uint32_t slot) const {
    const Slot& sl = slots_[slot];
    ReplEvent ev;
    ev.kind = ReplEvent::Kind::kInstall;
    ev.slot = slot;
    ev.generation = sl.generation;
    ev.seq = sl.captured_seq;
    ev.size = sl.committed_size;
    ev.id = sl.id;
    ev.data_offset = sl.offset;
    ev.capacity = sl.capacity;
    ev.expiration_ns = sl.expiration_ns;
    return ev;
}

} // namespace ckpt::engine

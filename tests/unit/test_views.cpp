// MetaView / DataView / attach_node validation on hand-built segments in heap buffers: a valid
// segment attaches, and every corruption a reader can meet is refused with the right error (not
// ready -> TRY_AGAIN, other version -> VERSION, corrupt -> FAILED_OPERATION). Directory reads of a
// corrupt descriptor return nothing rather than a view outside the mapping.
#include "ckpt/shm/checkpoint_view.hpp"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

using namespace ckpt;
using namespace ckpt::shm;

namespace {

constexpr std::uint64_t kIncarnation = 0x1234'5678'9ABC'DEF0ULL;
constexpr const char* kName = "views-test";

/// A zeroed, page-aligned heap buffer standing in for a mapping.
class Buffer {
public:
    explicit Buffer(std::uint64_t size) : size_(size) {
        std::uint64_t alloc = (size + 4095) / 4096 * 4096;
        if (alloc == 0) alloc = 4096;
        p_ = static_cast<std::byte*>(std::aligned_alloc(4096, alloc));
        std::memset(p_, 0, alloc);
    }
    ~Buffer() { std::free(p_); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    std::byte* data() const { return p_; }
    std::uint64_t size() const { return size_; }

private:
    std::byte* p_;
    std::uint64_t size_;
};

CheckpointAttributes test_attrs() {
    CheckpointAttributes a;
    a.creation_flags = static_cast<std::uint32_t>(UpdateMode::kAsync);
    a.checkpoint_size = 64 * 1024;
    a.max_sections = 16;
    a.max_section_size = 4096;
    a.max_section_id_size = 32;
    a.block_size = 256;
    a.retention_ns = 0;
    return a;
}

/// Fills a META the way the engine does: everything, then the magic (release) last.
void build_meta(std::byte* base, const CheckpointAttributes& a, const Layout& l, std::string_view name) {
    auto* h = reinterpret_cast<MetaHeader*>(base);
    h->layout_major = kLayoutMajor;
    h->layout_minor = kLayoutMinor;
    h->header_size = sizeof(MetaHeader);
    h->meta_size = l.meta_size;
    h->data_size = l.data_size;
    h->checkpoint_size = a.checkpoint_size;
    h->max_section_size = a.max_section_size;
    h->retention_ns = a.retention_ns;
    h->max_sections = a.max_sections;
    h->max_section_id_size = a.max_section_id_size;
    h->block_size = a.block_size;
    h->creation_flags = a.creation_flags;
    h->writers_offset = l.writers_offset;
    h->index_offset = l.index_offset;
    h->index_capacity = l.index_capacity;
    h->desc_stride = l.desc_stride;
    h->desc_offset = l.desc_offset;
    h->changelog_offset = l.changelog_offset;
    h->changelog_capacity = kChangelogCapacity;
    h->node_id = 1;
    h->incarnation = kIncarnation;
    h->created_ns = 1;
    h->name_len = static_cast<std::uint32_t>(name.size());
    std::memcpy(h->name, name.data(), name.size());
    store_release(h->magic, kMetaMagic);
}

void build_data(std::byte* base, const CheckpointAttributes& a, const Layout& l) {
    auto* h = reinterpret_cast<DataHeader*>(base);
    h->layout_major = kLayoutMajor;
    h->layout_minor = kLayoutMinor;
    h->header_size = sizeof(DataHeader);
    h->data_size = l.data_size;
    h->incarnation = kIncarnation;
    h->pending_offset = l.pending_offset;
    h->summary_words = l.summary_words;
    h->pending_words = l.pending_words;
    h->control_offset = l.control_offset;
    h->dirty_offset = l.dirty_offset;
    h->dirty_words = l.dirty_words;
    h->area_offset = l.area_offset;
    h->area_size = l.area_size;
    h->block_size = a.block_size;
    h->max_sections = a.max_sections;
    store_release(h->magic, kDataMagic);
}

class Views : public ::testing::Test {
protected:
    void SetUp() override {
        attrs = test_attrs();
        auto l = compute_layout(attrs);
        ASSERT_TRUE(l.ok());
        layout = *l;
        meta = std::make_unique<Buffer>(layout.meta_size);
        data = std::make_unique<Buffer>(layout.data_size);
        build_meta(meta->data(), attrs, layout, kName);
        build_data(data->data(), attrs, layout);
    }
    MetaHeader& mh() { return *reinterpret_cast<MetaHeader*>(meta->data()); }
    DataHeader& dh() { return *reinterpret_cast<DataHeader*>(data->data()); }
    SectionDesc& desc(std::uint32_t slot) {
        return *reinterpret_cast<SectionDesc*>(meta->data() + layout.desc_offset +
                                               std::uint64_t{slot} * layout.desc_stride);
    }
    /// A valid section entry in `slot`; the index points at it.
    void put_section(std::uint32_t slot, std::string_view id, std::uint64_t offset, std::uint64_t capacity,
                     std::uint64_t committed) {
        SectionDesc& d = desc(slot);
        d.state = kSectionValid;
        d.id_len = static_cast<std::uint32_t>(id.size());
        d.generation = 5;
        d.data_offset = offset;
        d.capacity = capacity;
        d.committed_size = committed;
        d.expiration_ns = kTimeEnd;
        std::memcpy(reinterpret_cast<std::byte*>(&d) + sizeof(SectionDesc), id.data(), id.size());
        auto* index = reinterpret_cast<std::uint32_t*>(meta->data() + layout.index_offset);
        std::uint32_t pos = static_cast<std::uint32_t>(XXH3_64bits(id.data(), id.size())) & (layout.index_capacity - 1);
        while (index[pos] != kIndexEmpty) pos = (pos + 1) & (layout.index_capacity - 1);
        index[pos] = slot + 1;
    }
    Result<MetaView> attach_meta() { return MetaView::attach(meta->data(), meta->size()); }

    CheckpointAttributes attrs;
    Layout layout{};
    std::unique_ptr<Buffer> meta, data;
};

std::span<const std::byte> B(std::string_view s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

// ---------------------------------------------------------------------------------------------
// MetaView::attach
// ---------------------------------------------------------------------------------------------

TEST_F(Views, ValidMetaAttaches) {
    EXPECT_EQ(MetaView::classify(meta->data(), meta->size()), HeaderState::kReady);
    auto v = attach_meta();
    ASSERT_TRUE(v.ok()) << v.message();
    EXPECT_EQ(v->name(), kName);
    EXPECT_EQ(v->attributes(), attrs);
    EXPECT_EQ(std::memcmp(&v->layout(), &layout, sizeof layout), 0);
    EXPECT_EQ(v->section_count(), 0u);
    EXPECT_TRUE(v->list().empty());
    EXPECT_FALSE(v->find(B("nothing")).has_value());
}

TEST_F(Views, MagicZeroIsNotReady) {
    mh().magic = 0;
    EXPECT_EQ(MetaView::classify(meta->data(), meta->size()), HeaderState::kNotReady);
    auto v = attach_meta();
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error(), Error::kTryAgain) << v.message();
}

TEST_F(Views, WrongMagicIsCorrupt) {
    for (std::uint64_t m : {kDataMagic, kNodeMagic, kShadowMagic, kMetaMagic + 1, ~kMetaMagic, std::uint64_t{1}}) {
        mh().magic = m;
        EXPECT_EQ(MetaView::classify(meta->data(), meta->size()), HeaderState::kCorrupt) << std::hex << m;
        auto v = attach_meta();
        ASSERT_FALSE(v.ok()) << std::hex << m;
        EXPECT_EQ(v.error(), Error::kFailedOperation) << v.message();
    }
}

TEST_F(Views, OtherMajorVersionIsVersionError) {
    for (std::uint16_t major : {0, 2, 0xFFFF}) {
        mh().layout_major = major;
        EXPECT_EQ(MetaView::classify(meta->data(), meta->size()), HeaderState::kVersionMismatch);
        auto v = attach_meta();
        ASSERT_FALSE(v.ok()) << major;
        EXPECT_EQ(v.error(), Error::kVersion) << v.message();
        EXPECT_NE(v.message().find(std::to_string(major)), std::string::npos) << v.message();
    }
}

TEST_F(Views, NewerMinorVersionAttaches) {
    mh().layout_minor = 7; // minor versions only carve fields from reserved bytes
    mh().header_size = sizeof(MetaHeader);
    EXPECT_TRUE(attach_meta().ok());
}

TEST_F(Views, HeaderSizeTooSmallIsRefused) {
    mh().header_size = sizeof(MetaHeader) - 1;
    auto v = attach_meta();
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error(), Error::kFailedOperation);
}

TEST_F(Views, OffsetsThatDisagreeWithAttributesAreRefused) {
    const std::vector<std::pair<const char*, std::function<void(MetaHeader&)>>> corruptions = {
        {"writers_offset", [](MetaHeader& h) { h.writers_offset += 64; }},
        {"index_offset", [](MetaHeader& h) { h.index_offset = 1ull << 40; }},
        {"index_capacity", [](MetaHeader& h) { h.index_capacity *= 2; }},
        {"index_capacity 0", [](MetaHeader& h) { h.index_capacity = 0; }},
        {"desc_stride", [](MetaHeader& h) { h.desc_stride = 64; }},
        {"desc_offset", [](MetaHeader& h) { h.desc_offset -= 64; }},
        {"changelog_offset", [](MetaHeader& h) { h.changelog_offset = ~0ull; }},
        {"changelog_capacity", [](MetaHeader& h) { h.changelog_capacity = kChangelogCapacity * 2; }},
        {"meta_size", [](MetaHeader& h) { h.meta_size += 4096; }},
        {"data_size", [](MetaHeader& h) { h.data_size -= 4096; }},
        // An attribute changed without its offsets: the recomputed layout differs.
        {"max_sections", [](MetaHeader& h) { h.max_sections = 1000; }},
        {"max_section_id_size", [](MetaHeader& h) { h.max_section_id_size = 1024; }},
        {"checkpoint_size", [](MetaHeader& h) { h.checkpoint_size = 1ull << 30; }},
        {"block_size 8192", [](MetaHeader& h) { h.block_size = 8192; }}, // moves area_offset, so data_size
    };
    for (const auto& [what, corrupt] : corruptions) {
        SetUp();
        corrupt(mh());
        auto v = attach_meta();
        ASSERT_FALSE(v.ok()) << what;
        EXPECT_EQ(v.error(), Error::kFailedOperation) << what << ": " << v.message();
    }
}

TEST_F(Views, InvalidAttributesAreRefused) {
    const std::vector<std::pair<const char*, std::function<void(MetaHeader&)>>> corruptions = {
        {"block_size 100", [](MetaHeader& h) { h.block_size = 100; }},
        {"block_size 0", [](MetaHeader& h) { h.block_size = 0; }},
        {"block_size 2 MiB", [](MetaHeader& h) { h.block_size = 2u << 20; }},
        {"max_sections 0", [](MetaHeader& h) { h.max_sections = 0; }},
        {"max_sections huge", [](MetaHeader& h) { h.max_sections = 0xFFFF'FFFFu; }},
        {"checkpoint_size 0", [](MetaHeader& h) { h.checkpoint_size = 0; }},
        {"checkpoint_size huge", [](MetaHeader& h) { h.checkpoint_size = ~0ull; }},
        {"max_section_size > checkpoint_size", [](MetaHeader& h) { h.max_section_size = h.checkpoint_size + 1; }},
        {"id size 0", [](MetaHeader& h) { h.max_section_id_size = 0; }},
        {"creation flags", [](MetaHeader& h) { h.creation_flags = 0x3; }},
        {"unknown flag", [](MetaHeader& h) { h.creation_flags |= 0x8000; }},
        {"retention", [](MetaHeader& h) { h.retention_ns = -1; }},
    };
    for (const auto& [what, corrupt] : corruptions) {
        SetUp();
        corrupt(mh());
        auto v = attach_meta();
        ASSERT_FALSE(v.ok()) << what;
        EXPECT_EQ(v.error(), Error::kFailedOperation) << what << ": " << v.message();
    }
}

TEST_F(Views, MappingShorterThanLayoutIsRefused) {
    for (std::uint64_t size :
         {layout.meta_size - 1, layout.meta_size - 4096, std::uint64_t{4096}, std::uint64_t{sizeof(MetaHeader)},
          std::uint64_t{sizeof(MetaHeader) - 1}, std::uint64_t{0}}) {
        auto v = MetaView::attach(meta->data(), size);
        ASSERT_FALSE(v.ok()) << size;
        EXPECT_EQ(v.error(), Error::kFailedOperation) << size << ": " << v.message();
    }
    EXPECT_EQ(MetaView::classify(meta->data(), sizeof(MetaHeader) - 1), HeaderState::kCorrupt);
    EXPECT_TRUE(MetaView::attach(meta->data(), layout.meta_size).ok());
}

TEST_F(Views, NameLengthIsChecked) {
    for (std::uint32_t n : {0u, 257u, 0xFFFF'FFFFu}) {
        mh().name_len = n;
        auto v = attach_meta();
        ASSERT_FALSE(v.ok()) << n;
        EXPECT_EQ(v.error(), Error::kFailedOperation) << n << ": " << v.message();
    }
    mh().name_len = 256; // a whole SaNameT
    EXPECT_TRUE(attach_meta().ok());
    mh().name_len = 1;
    auto v = attach_meta();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->name(), "v");
}

// ---------------------------------------------------------------------------------------------
// MetaView directory reads
// ---------------------------------------------------------------------------------------------

TEST_F(Views, InfoAndFindOfValidSections) {
    put_section(3, "s3", 512, 1024, 10);
    put_section(7, "seven", 4096, 256, 256);
    auto v = attach_meta();
    ASSERT_TRUE(v.ok());
    auto i = v->info(3);
    ASSERT_TRUE(i.has_value());
    EXPECT_EQ(i->slot, 3u);
    EXPECT_EQ(i->id, "s3");
    EXPECT_EQ(i->state, kSectionValid);
    EXPECT_EQ(i->generation, 5u);
    EXPECT_EQ(i->data_offset, 512u);
    EXPECT_EQ(i->capacity, 1024u);
    EXPECT_EQ(i->committed_size, 10u);
    EXPECT_EQ(i->expiration_ns, kTimeEnd);

    auto f = v->find(B("seven"));
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->slot, 7u);
    EXPECT_FALSE(v->find(B("s")).has_value());
    EXPECT_FALSE(v->find(B(std::string(33, 'x'))).has_value()); // longer than any id

    auto all = v->list();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].slot, 3u);
    EXPECT_EQ(all[1].slot, 7u);

    EXPECT_FALSE(v->info(0).has_value()); // free
    EXPECT_FALSE(v->info(attrs.max_sections).has_value());
    EXPECT_FALSE(v->info(0xFFFF'FFFFu).has_value());

    // A section reaching exactly the end of the area is fine.
    put_section(9, "end", layout.area_size - 512, 512, 512);
    EXPECT_TRUE(v->info(9).has_value());
}

TEST_F(Views, CorruptDescriptorsNeverYieldAView) {
    const std::uint64_t area = layout.area_size;
    const std::vector<std::pair<const char*, std::function<void(SectionDesc&)>>> corruptions = {
        {"offset+capacity past the area",
         [&](SectionDesc& d) {
             d.data_offset = area - 256;
             d.capacity = 512;
         }},
        {"capacity larger than the area",
         [&](SectionDesc& d) {
             d.data_offset = 0;
             d.capacity = area + 256;
         }},
        {"offset past the area",
         [&](SectionDesc& d) {
             d.data_offset = area;
             d.capacity = 256;
         }},
        {"offset near 2^64 (wraps)",
         [&](SectionDesc& d) {
             d.data_offset = ~0ull - 255;
             d.capacity = 512;
         }},
        {"capacity near 2^64 (wraps)",
         [&](SectionDesc& d) {
             d.data_offset = 512;
             d.capacity = ~0ull - 255;
         }},
        {"offset not block-aligned", [&](SectionDesc& d) { d.data_offset = 100; }},
        {"committed_size > capacity", [&](SectionDesc& d) { d.committed_size = d.capacity + 1; }},
        {"committed_size huge", [&](SectionDesc& d) { d.committed_size = ~0ull; }},
        {"id_len > max id size", [&](SectionDesc& d) { d.id_len = 33; }},
        {"id_len huge", [&](SectionDesc& d) { d.id_len = 0xFFFF'FFFFu; }},
        {"state unknown", [&](SectionDesc& d) { d.state = 3; }},
    };
    for (const auto& [what, corrupt] : corruptions) {
        SetUp();
        put_section(3, "s3", 512, 1024, 10);
        auto v = attach_meta();
        ASSERT_TRUE(v.ok());
        ASSERT_TRUE(v->info(3).has_value());
        corrupt(desc(3));
        EXPECT_FALSE(v->info(3).has_value()) << what;
        EXPECT_FALSE(v->find(B("s3")).has_value()) << what;
        EXPECT_TRUE(v->list().empty()) << what;
    }
}

TEST_F(Views, CorruptIndexEntriesAreSkipped) {
    put_section(3, "s3", 512, 1024, 10);
    put_section(4, "s4", 2048, 256, 0);
    auto* index = reinterpret_cast<std::uint32_t*>(meta->data() + layout.index_offset);
    auto v = attach_meta();
    ASSERT_TRUE(v.ok());
    // Out-of-range slot numbers and tombstones everywhere: lookups end (no endless probe) and find nothing.
    for (std::uint32_t i = 0; i < layout.index_capacity; ++i) index[i] = (i % 2) ? kIndexTombstone : 1000 + i;
    EXPECT_FALSE(v->find(B("s3")).has_value());
    EXPECT_FALSE(v->find(B("other")).has_value());
    // An entry that points at another section's slot does not match by id.
    for (std::uint32_t i = 0; i < layout.index_capacity; ++i) index[i] = 5; // slot 4 everywhere
    EXPECT_FALSE(v->find(B("s3")).has_value());
    EXPECT_TRUE(v->find(B("s4")).has_value());
}

TEST_F(Views, ChangedSinceUsesLogAndFallsBackToScan) {
    put_section(3, "s3", 512, 1024, 10);
    put_section(5, "s5", 2048, 256, 0);
    auto* log = reinterpret_cast<ChangeRecord*>(meta->data() + layout.changelog_offset);
    log[0] = {1, 3, 5};
    log[1] = {2, 5, 5};
    log[2] = {3, 3, 5};
    desc(3).change_seq = 3;
    desc(5).change_seq = 2;
    mh().commit_seq = 3;
    auto v = attach_meta();
    ASSERT_TRUE(v.ok());
    std::vector<std::uint32_t> slots;
    EXPECT_EQ(v->changed_since(0, slots), 3u);
    EXPECT_EQ(slots, (std::vector<std::uint32_t>{3, 5}));
    slots.clear();
    EXPECT_EQ(v->changed_since(2, slots), 3u);
    EXPECT_EQ(slots, (std::vector<std::uint32_t>{3}));
    slots.clear();
    EXPECT_EQ(v->changed_since(3, slots), 3u);
    EXPECT_TRUE(slots.empty());

    // A log record naming a slot out of range: the answer comes from the descriptors instead.
    log[1].slot = 999;
    slots.clear();
    EXPECT_EQ(v->changed_since(1, slots), 3u);
    EXPECT_EQ(slots, (std::vector<std::uint32_t>{3, 5}));
}

// ---------------------------------------------------------------------------------------------
// DataView::attach
// ---------------------------------------------------------------------------------------------

TEST_F(Views, ValidDataAttachesAndStaysInBounds) {
    auto m = attach_meta();
    ASSERT_TRUE(m.ok());
    auto d = DataView::attach(data->data(), data->size(), *m);
    ASSERT_TRUE(d.ok()) << d.message();
    EXPECT_EQ(d->area(), data->data() + layout.area_offset);
    EXPECT_EQ(d->area_size(), layout.area_size);
    EXPECT_EQ(d->block_size(), attrs.block_size);

    put_section(3, "s3", 512, 1024, 10);
    auto i = m->info(3);
    ASSERT_TRUE(i.has_value());
    auto bytes = d->section_bytes(*i);
    EXPECT_EQ(bytes.data(), data->data() + layout.area_offset + 512);
    EXPECT_EQ(bytes.size(), 1024u);

    // Bytes 0..299 of a section starting at block 2 touch blocks 2 and 3.
    d->mark_dirty(*i, 0, 300);
    EXPECT_EQ(d->dirty_words()[0], 0xCull);
    // The last byte of the section is block 2 + 3 = 5.
    d->mark_dirty(*i, 1023, 1);
    EXPECT_EQ(d->dirty_words()[0], 0x2Cull);
    for (std::uint64_t w = 1; w < layout.dirty_words; ++w) EXPECT_EQ(d->dirty_words()[w], 0u);

    d->ring_doorbell(3);
    EXPECT_EQ(d->pending_words()[0], 1ull << 3);
    EXPECT_EQ(d->summary_words()[0], 1ull);
    EXPECT_EQ(dh().pending_any, 1u);
}

TEST_F(Views, DataHeaderMismatchesAreRefused) {
    const std::vector<std::tuple<const char*, Error, std::function<void(DataHeader&)>>> corruptions = {
        {"magic 0", Error::kFailedOperation, [](DataHeader& h) { h.magic = 0; }},
        {"META magic", Error::kFailedOperation, [](DataHeader& h) { h.magic = kMetaMagic; }},
        {"major 2", Error::kVersion, [](DataHeader& h) { h.layout_major = 2; }},
        {"incarnation", Error::kFailedOperation, [](DataHeader& h) { h.incarnation = kIncarnation + 1; }},
        {"data_size", Error::kFailedOperation, [](DataHeader& h) { h.data_size += 4096; }},
        {"pending_offset", Error::kFailedOperation, [](DataHeader& h) { h.pending_offset = 0; }},
        {"summary_words", Error::kFailedOperation, [](DataHeader& h) { h.summary_words = 1000; }},
        {"pending_words", Error::kFailedOperation, [](DataHeader& h) { h.pending_words = 1000; }},
        {"control_offset", Error::kFailedOperation, [](DataHeader& h) { h.control_offset = ~0ull; }},
        {"dirty_offset", Error::kFailedOperation, [](DataHeader& h) { h.dirty_offset += 8; }},
        {"dirty_words", Error::kFailedOperation, [](DataHeader& h) { h.dirty_words = 1ull << 40; }},
        {"area_offset", Error::kFailedOperation, [](DataHeader& h) { h.area_offset = 0; }},
        {"area_size", Error::kFailedOperation, [](DataHeader& h) { h.area_size *= 2; }},
        {"block_size", Error::kFailedOperation, [](DataHeader& h) { h.block_size = 64; }},
        {"max_sections", Error::kFailedOperation, [](DataHeader& h) { h.max_sections = 1 << 20; }},
    };
    for (const auto& [what, code, corrupt] : corruptions) {
        SetUp();
        auto m = attach_meta();
        ASSERT_TRUE(m.ok());
        corrupt(dh());
        auto d = DataView::attach(data->data(), data->size(), *m);
        ASSERT_FALSE(d.ok()) << what;
        EXPECT_EQ(d.error(), code) << what << ": " << d.message();
    }
}

TEST_F(Views, DataMappingShorterThanLayoutIsRefused) {
    auto m = attach_meta();
    ASSERT_TRUE(m.ok());
    for (std::uint64_t size : {layout.data_size - 1, layout.area_offset, std::uint64_t{sizeof(DataHeader)},
                               std::uint64_t{sizeof(DataHeader) - 1}, std::uint64_t{0}}) {
        auto d = DataView::attach(data->data(), size, *m);
        ASSERT_FALSE(d.ok()) << size;
        EXPECT_EQ(d.error(), Error::kFailedOperation) << size << ": " << d.message();
    }
}

// A META whose block size was changed to another value that yields the same META offsets: only the
// DATA header can tell, and it must.
TEST_F(Views, MetaBlockSizeDisagreeingWithDataIsRefused) {
    mh().block_size = 64;
    auto m = attach_meta();
    ASSERT_TRUE(m.ok()) << m.message(); // META alone is self-consistent
    auto d = DataView::attach(data->data(), data->size(), *m);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error(), Error::kFailedOperation);
}

TEST_F(Views, DataOfAnotherCheckpointIsRefused) {
    // A DATA whose header is self-consistent but built for other attributes.
    auto m = attach_meta();
    ASSERT_TRUE(m.ok());
    auto other = attrs;
    other.max_sections = 100;
    auto ol = compute_layout(other);
    ASSERT_TRUE(ol.ok());
    Buffer d2(ol->data_size);
    build_data(d2.data(), other, *ol);
    auto d = DataView::attach(d2.data(), d2.size(), *m);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error(), Error::kFailedOperation);
}

// ---------------------------------------------------------------------------------------------
// attach_node
// ---------------------------------------------------------------------------------------------

TEST(NodeView, Validation) {
    Buffer b(4096);
    auto* h = reinterpret_cast<NodeHeader*>(b.data());
    h->layout_major = kLayoutMajor;
    h->header_size = sizeof(NodeHeader);
    h->node_id = 3;
    EXPECT_EQ(attach_node(b.data(), b.size()).error(), Error::kFailedOperation); // magic not yet written
    store_release(h->magic, kNodeMagic);
    auto ok = attach_node(b.data(), b.size());
    ASSERT_TRUE(ok.ok()) << ok.message();
    EXPECT_EQ((*ok)->node_id, 3u);
    EXPECT_EQ(attach_node(b.data(), sizeof(NodeHeader) - 1).error(), Error::kFailedOperation);
    h->layout_major = 2;
    EXPECT_EQ(attach_node(b.data(), b.size()).error(), Error::kVersion);
    h->layout_major = kLayoutMajor;
    h->magic = kMetaMagic;
    EXPECT_EQ(attach_node(b.data(), b.size()).error(), Error::kFailedOperation);
}

} // namespace

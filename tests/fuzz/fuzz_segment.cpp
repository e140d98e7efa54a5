// libFuzzer target: the segment validator (shm/). The input is a META mapping as a hostile client
// could leave it; MetaView::attach validates it, and on success every section's directory entry
// is read back through the reader API (find, info, sections), each copied out and validated.
#include "ckpt/shm/checkpoint_view.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

using namespace ckpt::shm;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // Mappings are page-aligned: an aligned copy of exactly the input's size.
    std::vector<std::uint64_t> buf((size + 7) / 8 + 1);
    auto* base = reinterpret_cast<std::byte*>(buf.data());
    std::memcpy(base, data, size);
    auto meta = MetaView::attach(base, size);
    if (!meta) return 0;
    volatile std::uint64_t sink = meta->section_count() + meta->name().size();
    for (std::uint32_t slot = 0; slot < 64; ++slot)
        if (auto i = meta->info(slot)) sink = sink + i->committed_size;
    for (const auto& s : meta->list()) {
        sink = sink + s.committed_size;
        (void)meta->find(std::as_bytes(std::span(s.id)));
    }
    std::vector<std::uint32_t> slots;
    sink = sink + meta->changed_since(0, slots) + slots.size();
    return 0;
}

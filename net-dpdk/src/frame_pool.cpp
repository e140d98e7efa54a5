#include "ckpt/net/frame_pool.hpp"

#include "ckpt/common/result.hpp"
#include "mbuf_ops.hpp"

#include <cstring>

namespace ckpt::net {

namespace {
constexpr std::uint8_t kOwnClass = 0xFF; ///< a buffer of its own (copy_of)
} // namespace

FrameBuf FrameBuf::copy_of(std::span<const std::byte> bytes) {
    FrameBuf f;
    f.data_ = new std::byte[bytes.empty() ? 1 : bytes.size()];
    if (!bytes.empty()) std::memcpy(f.data_, bytes.data(), bytes.size());
    f.size_ = static_cast<std::uint32_t>(bytes.size());
    f.cls_ = kOwnClass;
    return f;
}

void FrameBuf::reset() {
    if (!data_) return;
    if (pool_) {
        pool_->release(*this);
    } else {
        delete[] data_;
    }
    pool_ = nullptr;
    mbuf_ = nullptr;
    data_ = nullptr;
    size_ = 0;
}

std::size_t FrameBuf::capacity() const {
    if (!data_) return 0;
    if (!pool_) return size_;             // a buffer of its own
    if (mbuf_) return pool_->max_frame(); // every mbuf of the pool holds a whole frame
    return FramePool::kClassBytes[cls_];
}

bool FrameBuf::resize(std::size_t len) {
    if (!data_ || len > capacity()) return false;
    if (mbuf_ && !detail::mbuf_resize(mbuf_, len)) return false;
    size_ = static_cast<std::uint32_t>(len);
    return true;
}

FramePool::~FramePool() = default;

FrameBuf FramePool::alloc(std::size_t len, std::size_t room) {
    FrameBuf f;
    if (mempool_ && len <= max_frame_) {
        std::byte* d = nullptr;
        if (void* m = detail::mbuf_alloc(mempool_, len, &d)) {
            f.pool_ = this;
            f.mbuf_ = m;
            f.data_ = d;
            f.size_ = static_cast<std::uint32_t>(len);
            ++counters_.allocs;
            return f;
        }
        ++counters_.fallbacks; // the TX mempool is empty: a heap slot, copied into an mbuf when sent
    }
    std::uint8_t c = 0;
    while (c < 3 && kClassBytes[c] < len) ++c;
    while (c < 2 && kClassBytes[c] < room) ++c; // room for growth, within the largest class
    if (c == 3) {
        ++counters_.refused;
        return f;
    }
    if (free_[c].empty()) {
        // Growth, in chunks: a steady state reuses what earlier frames gave back.
        auto chunk = std::make_unique<std::byte[]>(kClassBytes[c] * kChunkSlots);
        free_[c].reserve(free_[c].size() + kChunkSlots);
        for (std::size_t i = kChunkSlots; i-- > 0;) free_[c].push_back(chunk.get() + i * kClassBytes[c]);
        chunks_.push_back(std::move(chunk));
        ++counters_.chunks;
    }
    f.pool_ = this;
    f.data_ = free_[c].back();
    free_[c].pop_back();
    f.size_ = static_cast<std::uint32_t>(len);
    f.cls_ = c;
    ++counters_.allocs;
    return f;
}

FrameBuf FramePool::adopt_mbuf(void* mbuf, std::byte* data, std::size_t len) {
    FrameBuf f;
    f.pool_ = this;
    f.mbuf_ = mbuf;
    f.data_ = data;
    f.size_ = static_cast<std::uint32_t>(len);
    ++counters_.allocs;
    return f;
}

bool FramePool::exclusive(const FrameBuf& f) {
    return !f.mbuf_ || detail::mbuf_refcnt(f.mbuf_) == 1;
}

void FramePool::release(FrameBuf& f) {
    ++counters_.releases;
    if (f.mbuf_) {
        detail::mbuf_free(f.mbuf_);
        return;
    }
    CKPT_ENFORCE(f.cls_ < 3, "frame buffer of no size class given back to a pool");
    free_[f.cls_].push_back(f.data_); // capacity reserved when the chunk came: no allocation
}

} // namespace ckpt::net

#pragma once
// Bytes placed so that they end exactly where an inaccessible page begins: a decoder that reads
// past its input crashes the test instead of passing silently.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <span>

namespace ckpt::testing {

class GuardedBuffer {
public:
    explicit GuardedBuffer(std::size_t max) {
        page_ = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        data_pages_ = (max + page_ - 1) / page_ + 1;
        len_ = (data_pages_ + 1) * page_;
        void* p = ::mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return;
        base_ = static_cast<std::byte*>(p);
        ::mprotect(base_ + data_pages_ * page_, page_, PROT_NONE);
    }
    ~GuardedBuffer() {
        if (base_) ::munmap(base_, len_);
    }
    GuardedBuffer(const GuardedBuffer&) = delete;
    GuardedBuffer& operator=(const GuardedBuffer&) = delete;
    bool valid() const { return base_ != nullptr; }
    /// Copies `in` (at most the size given at construction) to end at the guard page.
    std::span<const std::byte> place(std::span<const std::byte> in) {
        std::byte* end = base_ + data_pages_ * page_;
        if (!in.empty()) std::memcpy(end - in.size(), in.data(), in.size()); // an empty span may hold a null pointer
        return {end - in.size(), in.size()};
    }

private:
    std::byte* base_ = nullptr;
    std::size_t page_ = 0, data_pages_ = 0, len_ = 0;
};

} // namespace ckpt::testing

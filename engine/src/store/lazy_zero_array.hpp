#pragma once
/// An array of zero-initialised trivial values whose pages the kernel supplies on first touch
/// (an anonymous private mapping). Allocating it costs the same for a 1 GiB checkpoint as for a
/// 1 MiB one: a promotion, which allocates the block-hash array of a replica, must not pay 8 bytes
/// per block of zero-filling (32 MiB at 1 GiB) before the new active can take a commit.
#include "ckpt/common/result.hpp"

#include <sys/mman.h>

#include <cstddef>
#include <type_traits>
#include <utility>

namespace ckpt::engine {

template <typename T>
class LazyZeroArray {
    static_assert(std::is_trivially_copyable_v<T>, "its bytes start as zeroes, not as constructed objects");

public:
    LazyZeroArray() = default;
    ~LazyZeroArray() { release(); }
    LazyZeroArray(LazyZeroArray&& o) noexcept : data_(std::exchange(o.data_, nullptr)), n_(std::exchange(o.n_, 0)) {}
    LazyZeroArray& operator=(LazyZeroArray&& o) noexcept {
        if (this != &o) {
            release();
            data_ = std::exchange(o.data_, nullptr);
            n_ = std::exchange(o.n_, 0);
        }
        return *this;
    }
    LazyZeroArray(const LazyZeroArray&) = delete;
    LazyZeroArray& operator=(const LazyZeroArray&) = delete;

    /// `n` zeroes (any previous contents are dropped). MAP_NORESERVE: untouched pages cost nothing.
    void allocate(std::size_t n) {
        release();
        if (n == 0) return;
        void* p =
            ::mmap(nullptr, n * sizeof(T), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        CKPT_ENFORCE(p != MAP_FAILED, "out of address space for a block-hash array");
        data_ = static_cast<T*>(p);
        n_ = n;
    }

    bool empty() const { return n_ == 0; }
    std::size_t size() const { return n_; }
    T* begin() { return data_; }
    T* end() { return data_ + n_; }
    T& operator[](std::size_t i) { return data_[i]; }
    const T& operator[](std::size_t i) const { return data_[i]; }

private:
    void release() {
        if (data_) ::munmap(data_, n_ * sizeof(T));
        data_ = nullptr;
        n_ = 0;
    }

    T* data_ = nullptr;
    std::size_t n_ = 0;
};

} // namespace ckpt::engine

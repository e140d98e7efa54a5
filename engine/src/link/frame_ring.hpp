#pragma once
/// A FIFO of move-only elements in one ring buffer that doubles when full and never shrinks:
/// after the first window of frames a push or pop allocates nothing (std::deque allocates a
/// block every few elements and frees it when they are popped: a heap allocation every seven
/// frames or so on the hot path). Elements do not move when others are pushed or popped, except
/// when the ring grows (push_back/push_front). Index 0 is the front.
#include <cstddef>
#include <utility>
#include <vector>

namespace ckpt::engine {

template <typename T>
class FrameRing {
public:
    bool empty() const { return count_ == 0; }
    std::size_t size() const { return count_; }
    T& operator[](std::size_t i) { return ring_[(head_ + i) & mask()]; }
    const T& operator[](std::size_t i) const { return ring_[(head_ + i) & mask()]; }
    T& front() { return (*this)[0]; }
    T& back() { return (*this)[count_ - 1]; }
    const T& back() const { return (*this)[count_ - 1]; }
    void push_back(T v) {
        grow();
        ring_[(head_ + count_) & mask()] = std::move(v);
        ++count_;
    }
    /// Destroys the front element's contents (it is assigned an empty T) and removes it.
    void pop_front() {
        ring_[head_] = T{};
        head_ = (head_ + 1) & mask();
        --count_;
    }
    void clear() {
        while (!empty()) pop_front();
        head_ = 0;
    }

    template <typename R, typename E>
    class Iter {
    public:
        Iter(R* r, std::size_t i) : r_(r), i_(i) {}
        E& operator*() const { return (*r_)[i_]; }
        E* operator->() const { return &(*r_)[i_]; }
        Iter& operator++() {
            ++i_;
            return *this;
        }
        bool operator!=(const Iter& o) const { return i_ != o.i_; }
        bool operator==(const Iter& o) const { return i_ == o.i_; }

    private:
        R* r_;
        std::size_t i_;
    };
    using iterator = Iter<FrameRing, T>;
    using const_iterator = Iter<const FrameRing, const T>;
    iterator begin() { return {this, 0}; }
    iterator end() { return {this, count_}; }
    const_iterator begin() const { return {this, 0}; }
    const_iterator end() const { return {this, count_}; }

private:
    std::size_t mask() const { return ring_.size() - 1; }
    void grow() {
        if (count_ < ring_.size()) return;
        std::vector<T> r(ring_.empty() ? 64 : ring_.size() * 2);
        for (std::size_t i = 0; i < count_; ++i) r[i] = std::move((*this)[i]);
        ring_ = std::move(r);
        head_ = 0;
    }
    std::vector<T> ring_; ///< size 0 or a power of two
    std::size_t head_ = 0, count_ = 0;
};

} // namespace ckpt::engine

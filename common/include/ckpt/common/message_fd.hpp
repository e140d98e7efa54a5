#pragma once
/// A descriptor that one control message carries by SCM_RIGHTS (control_messages.hpp).
#include "ckpt/common/fd.hpp"

#include <utility>

namespace ckpt::proto {

#pragma GCC visibility push(hidden) // internal to libckpt and ckptd, as control_messages.hpp

/// The sender either lends a descriptor it keeps open after the send (the engine's kick eventfd,
/// a handle's subscription) or hands over one it opened for this message (closed with the
/// message once sent); the receiver owns every descriptor that arrived and take()s it.
class MessageFd {
public:
    MessageFd() = default;
    /// One opened for this message: closed when the message goes.
    explicit MessageFd(Fd owned) noexcept : owned_(std::move(owned)), fd_(owned_.get()) {}
    /// One the sender keeps open past the send: never closed here.
    static MessageFd lent(int fd) noexcept {
        MessageFd m;
        m.fd_ = fd;
        return m;
    }
    MessageFd(MessageFd&& o) noexcept : owned_(std::move(o.owned_)), fd_(std::exchange(o.fd_, -1)) {}
    MessageFd& operator=(MessageFd&& o) noexcept {
        if (this != &o) {
            owned_ = std::move(o.owned_);
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    MessageFd(const MessageFd&) = delete;
    MessageFd& operator=(const MessageFd&) = delete;

    int get() const noexcept { return fd_; }
    bool valid() const noexcept { return fd_ >= 0; }
    /// The receiver's descriptor, to keep (a lent one stays its lender's: invalid here).
    Fd take() noexcept {
        fd_ = -1;
        return std::move(owned_);
    }

    /// Messages compare by the places their descriptors are in, not by number: the same file has
    /// another number on each side of the socket (tests compare the files themselves).
    friend bool operator==(const MessageFd& a, const MessageFd& b) noexcept { return a.valid() == b.valid(); }

private:
    Fd owned_;
    int fd_ = -1;
};

#pragma GCC visibility pop

} // namespace ckpt::proto

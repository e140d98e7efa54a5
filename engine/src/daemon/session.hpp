#pragma once
/// One connected client process and the handles it holds open.
#include "ckpt/common/control_protocol.hpp"
#include "ckpt/common/fd.hpp"
#include "ckpt/common/unix_socket.hpp"
#include "store/checkpoint.hpp"

#include <cstdint>
#include <map>
#include <memory>

namespace ckpt::engine {

/// One open handle of a session.
struct Handle {
    std::shared_ptr<Checkpoint> ckpt;
    std::uint32_t flags = 0;
    std::uint32_t writer = proto::kNoWriterSlot;
    Fd subscription; ///< eventfd, when subscribed
};

/// One connected client process.
struct Session {
    Fd sock;
    Fd pidfd; ///< readable when the client process exits, even if it leaked the socket to a child
    PeerCredentials cred{};
    std::uint64_t start_time = 0;
    bool authorised = false;
    std::uint64_t next_handle = 1;
    std::map<std::uint64_t, Handle> handles;
    /// A reply could not be sent (the client does not read them, or its socket broke): the
    /// session is closed once the request in hand is done, so its handles do not outlive a
    /// client that never learnt of them.
    bool reply_failed = false;
};

} // namespace ckpt::engine

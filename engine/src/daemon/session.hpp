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
};

} // namespace ckpt::engine

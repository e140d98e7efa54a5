#pragma once
/// SOCK_SEQPACKET helpers with SCM_RIGHTS file-descriptor passing.
#include "ckpt/common/fd.hpp"
#include "ckpt/common/result.hpp"

#include <sys/types.h>

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace ckpt {

/// Sends one datagram with up to 4 fds. EPIPE/ECONNRESET map to UNAVAILABLE.
Status send_message(int sock, std::span<const std::byte> payload, std::span<const int> fds = {});

struct Received {
    std::vector<std::byte> payload; ///< empty with eof set when the peer hung up
    std::vector<Fd> fds;
    bool eof = false;
    bool truncated = false; ///< the datagram (or its fds) did not fit
};

/// Receives one datagram (blocking unless the socket is non-blocking: then TRY_AGAIN).
Result<Received> receive_message(int sock, std::size_t max_payload);

/// Connects to a SEQPACKET socket path; UNAVAILABLE with the path when nobody listens.
Result<Fd> connect_seqpacket(const std::string& path);

struct PeerCredentials {
    pid_t pid;
    uid_t uid;
    gid_t gid;
};
Result<PeerCredentials> peer_credentials(int sock);

} // namespace ckpt

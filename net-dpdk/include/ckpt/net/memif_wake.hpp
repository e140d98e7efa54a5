#pragma once
/// An RX wake-up for a memif link, which DPDK 22.11's memif PMD does not give (its ethdev ops have
/// no rx_queue_intr_enable, and it masks the peer's ring interrupts): without one an idle engine
/// sleeps in `link_sleep_us` slices and a frame waits for the end of the slice (200 us by default:
/// most of a standby's acknowledgement time when both engines are idle between commits).
///
/// The two engines of a memif link are on one host and share the memif socket's directory, so
/// beside the socket they share
///   - `<socket>.wake`: a 128-byte file, one "sleeping" word per role (server @0, client @64), each
///     written only by its own engine;
///   - `<socket>.wake-server`, `<socket>.wake-client`: a unix datagram socket per role, bound by
///     that role's engine; its fd is what the engine's epoll waits on.
/// The handshake is the one of the engine's kick eventfd (Dekker's): the sleeper stores its word
/// (seq_cst) and then polls RX once more before it sleeps; a sender, after its TX burst, fences and
/// loads the peer's word, and sends one byte to the peer's socket when it is set. Either the
/// sleeper sees the frame or the sender sees the word. A sender pays one fence and one load per
/// burst; the system call only when the peer sleeps.
///
/// Everything is created 0600 and refused unless it is ours (a regular file owned by this uid, no
/// symlink); a peer that died with its word set costs the sender a failed `sendto` per burst until
/// it is back (its next open clears the word).
#include "ckpt/common/result.hpp"

#include <cstdint>
#include <string>

namespace ckpt::net {

class MemifWake {
public:
    /// `server`: this engine's memif role. Fails (the caller polls in slices instead) when the
    /// files cannot be made ours: a path too long for a unix socket, a foreign or odd file.
    static Result<MemifWake> open(const std::string& memif_socket, bool server);
    MemifWake(MemifWake&& o) noexcept;
    MemifWake& operator=(MemifWake&& o) noexcept;
    MemifWake(const MemifWake&) = delete;
    MemifWake& operator=(const MemifWake&) = delete;
    ~MemifWake();

    /// Readable after a peer's wake-up (for epoll).
    int fd() const { return sock_; }
    /// on: this engine is about to sleep (its caller then polls RX once more); off: it is awake
    /// (the pending wake-ups are read).
    void sleeping(bool on);
    /// After a TX burst: wakes the peer if it sleeps. Hot path: a fence and a load.
    void notify_peer();

    std::uint64_t wakes_sent() const { return wakes_sent_; }
    std::uint64_t wakes_failed() const { return wakes_failed_; } ///< sendto failed (the peer is not there)

private:
    MemifWake() = default;
    void close_all();
    int sock_ = -1;
    std::uint64_t* mine_ = nullptr;
    const std::uint64_t* peer_ = nullptr;
    void* map_ = nullptr;
    std::string own_path_, peer_path_;
    std::uint64_t wakes_sent_ = 0, wakes_failed_ = 0;
};

} // namespace ckpt::net

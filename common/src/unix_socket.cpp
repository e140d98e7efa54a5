#include "ckpt/common/unix_socket.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

namespace ckpt {

Status send_message(int sock, std::span<const std::byte> payload, std::span<const int> fds) {
    CKPT_ENFORCE(fds.size() <= 4, "at most 4 fds per message");
    iovec iov{const_cast<std::byte*>(payload.data()), payload.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    if (!fds.empty()) {
        std::memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    for (;;) {
        ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (n >= 0) return {};
        if (errno == EINTR) continue;
        if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
            return fail(Error::kUnavailable, "engine connection closed");
        if (errno == EAGAIN) return fail(Error::kTryAgain, "control socket send buffer full");
        return fail(Error::kLibrary, std::string("sendmsg: ") + std::strerror(errno));
    }
}

Result<Received> receive_message(int sock, std::size_t max_payload) {
    Received r;
    r.payload.resize(max_payload);
    iovec iov{r.payload.data(), r.payload.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    for (;;) {
        n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (n >= 0) break;
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return fail(Error::kTryAgain, "no message");
        if (errno == ECONNRESET) {
            r.eof = true;
            r.payload.clear();
            return r;
        }
        return fail(Error::kLibrary, std::string("recvmsg: ") + std::strerror(errno));
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (std::size_t i = 0; i < count; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                r.fds.emplace_back(fd); // owned now, closed if the caller ignores it
            }
        }
    }
    r.truncated = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
    r.payload.resize(static_cast<std::size_t>(n));
    r.eof = (n == 0 && r.fds.empty() && !r.truncated);
    return r;
}

Result<Fd> connect_seqpacket(const std::string& path) {
    sockaddr_un addr{};
    if (path.size() >= sizeof(addr.sun_path))
        return fail(Error::kNameTooLong, "socket path '" + path + "' is longer than " +
                                             std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
    Fd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return fail(Error::kNoResources, std::string("socket: ") + std::strerror(errno));
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        int e = errno;
        if (e == EACCES || e == EPERM)
            return fail(Error::kAccess, "no permission to connect to ckptd at " + path + ": " + std::strerror(e));
        return fail(Error::kUnavailable, "no ckptd at " + path + " (" + std::strerror(e) + "); is the engine running?");
    }
    return fd;
}

Result<PeerCredentials> peer_credentials(int sock) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return fail(Error::kLibrary, std::string("SO_PEERCRED: ") + std::strerror(errno));
    return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

} // namespace ckpt

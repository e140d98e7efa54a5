// The memif link's RX wake-up (memif_wake.hpp): a shared word per role saying "asleep", and a unix
// datagram socket per role that a sender writes one byte to when it finds the peer asleep.
#include "ckpt/net/memif_wake.hpp"

#include "ckpt/shm/atomics.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace ckpt::net {

namespace {

constexpr std::size_t kFileSize = 128; // one 64-byte line per role: the words never share a line
constexpr std::size_t kClientWord = 64;

bool fill_address(sockaddr_un& a, const std::string& path) {
    std::memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) return false;
    std::memcpy(a.sun_path, path.data(), path.size());
    return true;
}

std::string errno_text(int e) {
    return std::strerror(e);
}

} // namespace

Result<MemifWake> MemifWake::open(const std::string& memif_socket, bool server) {
    MemifWake w;
    const std::string flags = memif_socket + ".wake";
    w.own_path_ = memif_socket + (server ? ".wake-server" : ".wake-client");
    w.peer_path_ = memif_socket + (server ? ".wake-client" : ".wake-server");
    sockaddr_un own{};
    if (!fill_address(own, w.own_path_))
        return fail(Error::kInvalidParam, "memif wake-up socket " + w.own_path_ + ": path longer than " +
                                              std::to_string(sizeof own.sun_path - 1) + " bytes");
    // The flags file: both engines open it (whichever comes first creates it), each its own word.
    const int fd = ::open(flags.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return fail(Error::kAccess, "memif wake-up file " + flags + ": " + errno_text(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
        ::close(fd);
        return fail(Error::kAccess,
                    "memif wake-up file " + flags + ": not a regular file of this user with mode 0600 (remove it)");
    }
    if (static_cast<std::size_t>(st.st_size) != kFileSize && ::ftruncate(fd, kFileSize) != 0) {
        const int e = errno;
        ::close(fd);
        return fail(Error::kNoResources, "memif wake-up file " + flags + ": " + errno_text(e));
    }
    void* m = ::mmap(nullptr, kFileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (m == MAP_FAILED) return fail(Error::kNoResources, "memif wake-up file " + flags + ": " + errno_text(errno));
    w.map_ = m;
    auto* base = static_cast<std::byte*>(m);
    w.mine_ = reinterpret_cast<std::uint64_t*>(base + (server ? 0 : kClientWord));
    w.peer_ = reinterpret_cast<const std::uint64_t*>(base + (server ? kClientWord : 0));
    shm::store_seq_cst(*w.mine_, 0); // a previous run of this role may have died asleep
    // Our socket: a stale one of a previous run of this role is replaced (only a socket: a file of
    // another kind at that name is refused, never removed).
    struct stat ss {};
    if (::lstat(w.own_path_.c_str(), &ss) == 0) {
        if (!S_ISSOCK(ss.st_mode) || ss.st_uid != ::geteuid())
            return fail(Error::kAccess, "memif wake-up socket " + w.own_path_ + ": a file of another kind or owner");
        ::unlink(w.own_path_.c_str());
    }
    w.sock_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (w.sock_ < 0) return fail(Error::kNoResources, "memif wake-up socket: " + errno_text(errno));
    const mode_t old = ::umask(077); // created 0600, like the memif socket
    const int rc = ::bind(w.sock_, reinterpret_cast<const sockaddr*>(&own), sizeof own);
    const int e = errno;
    ::umask(old);
    if (rc != 0) return fail(Error::kAccess, "memif wake-up socket " + w.own_path_ + ": " + errno_text(e));
    return w;
}

MemifWake::MemifWake(MemifWake&& o) noexcept
    : sock_(std::exchange(o.sock_, -1)), mine_(std::exchange(o.mine_, nullptr)), peer_(std::exchange(o.peer_, nullptr)),
      map_(std::exchange(o.map_, nullptr)), own_path_(std::move(o.own_path_)), peer_path_(std::move(o.peer_path_)),
      wakes_sent_(o.wakes_sent_), wakes_failed_(o.wakes_failed_) {}

MemifWake& MemifWake::operator=(MemifWake&& o) noexcept {
    if (this != &o) {
        close_all();
        sock_ = std::exchange(o.sock_, -1);
        mine_ = std::exchange(o.mine_, nullptr);
        peer_ = std::exchange(o.peer_, nullptr);
        map_ = std::exchange(o.map_, nullptr);
        own_path_ = std::move(o.own_path_);
        peer_path_ = std::move(o.peer_path_);
        wakes_sent_ = o.wakes_sent_;
        wakes_failed_ = o.wakes_failed_;
    }
    return *this;
}

MemifWake::~MemifWake() {
    close_all();
}

void MemifWake::close_all() {
    if (mine_) shm::store_seq_cst(*mine_, 0); // a sender must not keep waking an engine that left
    if (map_) ::munmap(map_, kFileSize);
    if (sock_ >= 0) {
        ::close(sock_);
        ::unlink(own_path_.c_str());
    }
    sock_ = -1;
    mine_ = nullptr;
    peer_ = nullptr;
    map_ = nullptr;
}

void MemifWake::sleeping(bool on) {
    if (!mine_) return;
    if (on) {
        shm::store_seq_cst(*mine_, 1); // then the caller looks at RX once more (Dekker)
        return;
    }
    shm::store_relaxed(*mine_, 0);
    char buf[64];
    while (::recv(sock_, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
}

void MemifWake::notify_peer() {
    if (!peer_) return;
    shm::fence_seq_cst(); // the frames (the ring's head) before the look at the peer's word
    if (shm::load_relaxed(*peer_) == 0) return;
    sockaddr_un a{};
    (void)fill_address(a, peer_path_); // checked at open: same length as ours
    const char one = 1;
    // A full socket buffer (EAGAIN) means wake-ups are pending already; a missing socket, a peer
    // that is not there: counted, and the flag is its to clear when it comes back.
    if (::sendto(sock_, &one, 1, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 1)
        ++wakes_sent_;
    else if (errno != EAGAIN)
        ++wakes_failed_;
}

} // namespace ckpt::net

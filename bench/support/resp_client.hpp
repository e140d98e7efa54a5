// A small blocking Redis-protocol (RESP2) client over TCP, header-only: for the kvstore tests and
// bench/ycsb (which keeps its own non-blocking connections but shares the reply parser).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::resp {

struct Reply {
    enum Type { kNone, kSimple, kError, kInteger, kBulk, kNil, kArray } type = kNone;
    std::string str;      ///< simple, error, bulk
    std::int64_t num = 0; ///< integer, array length
    std::vector<Reply> items;
    bool ok() const { return type != kNone && type != kError; }
};

/// Parses one reply from buf[pos..]: 1 parsed (pos advanced), 0 incomplete, -1 malformed.
inline int parse_reply(std::string_view buf, std::size_t& pos, Reply& r) {
    std::size_t p = pos;
    if (p >= buf.size()) return 0;
    std::size_t e = buf.find("\r\n", p);
    if (e == std::string_view::npos) return 0;
    const char t = buf[p];
    std::string_view line = buf.substr(p + 1, e - p - 1);
    std::size_t next = e + 2;
    auto num = [&](std::int64_t& v) {
        auto res = std::from_chars(line.data(), line.data() + line.size(), v);
        return res.ec == std::errc();
    };
    r = Reply{};
    switch (t) {
    case '+':
        r.type = Reply::kSimple;
        r.str = line;
        break;
    case '-':
        r.type = Reply::kError;
        r.str = line;
        break;
    case ':':
        r.type = Reply::kInteger;
        if (!num(r.num)) return -1;
        break;
    case '$': {
        std::int64_t n;
        if (!num(n)) return -1;
        if (n < 0) {
            r.type = Reply::kNil;
            break;
        }
        if (buf.size() - next < static_cast<std::size_t>(n) + 2) return 0;
        r.type = Reply::kBulk;
        r.str = buf.substr(next, static_cast<std::size_t>(n));
        next += static_cast<std::size_t>(n) + 2;
        break;
    }
    case '*': {
        std::int64_t n;
        if (!num(n)) return -1;
        r.type = n < 0 ? Reply::kNil : Reply::kArray;
        r.num = n;
        for (std::int64_t i = 0; i < n; ++i) {
            Reply item;
            int k = parse_reply(buf, next, item);
            if (k <= 0) return k;
            r.items.push_back(std::move(item));
        }
        break;
    }
    default:
        return -1;
    }
    pos = next;
    return 1;
}

/// Appends a command as an array of bulk strings.
inline void encode(std::string& out, const std::vector<std::string_view>& args) {
    out += '*';
    out += std::to_string(args.size());
    out += "\r\n";
    for (auto a : args) {
        out += '$';
        out += std::to_string(a.size());
        out += "\r\n";
        out += a;
        out += "\r\n";
    }
}

/// A TCP connection to host:port (IPv4), TCP_NODELAY; -1 when refused.
inline int connect_tcp(const std::string& host, int port, int recv_timeout_s = 10) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (recv_timeout_s > 0) {
        timeval tv{recv_timeout_s, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    return fd;
}

/// Blocking request/reply on one connection.
class Client {
public:
    Client() = default;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    ~Client() { close(); }

    bool connect(const std::string& host, int port, int recv_timeout_s = 10) {
        close();
        fd_ = connect_tcp(host, port, recv_timeout_s);
        return fd_ >= 0;
    }
    bool connected() const { return fd_ >= 0; }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        in_.clear();
        pos_ = 0;
    }

    /// Sends one command and waits for its reply; nothing when the connection failed (closed then).
    std::optional<Reply> call(const std::vector<std::string_view>& args) {
        if (!send(args)) return std::nullopt;
        return receive();
    }

    /// Sends one command without waiting (pipelining); false when the connection failed.
    bool send(const std::vector<std::string_view>& args) {
        if (fd_ < 0) return false;
        std::string out;
        encode(out, args);
        for (std::size_t off = 0; off < out.size();) {
            ssize_t n = ::send(fd_, out.data() + off, out.size() - off, MSG_NOSIGNAL);
            if (n <= 0) {
                close();
                return false;
            }
            off += static_cast<std::size_t>(n);
        }
        return true;
    }

    /// The next reply, in the order the commands were sent; nothing when the connection failed.
    std::optional<Reply> receive() {
        if (fd_ < 0) return std::nullopt;
        for (;;) {
            Reply r;
            int k = parse_reply(in_, pos_, r);
            if (k == 1) {
                in_.erase(0, pos_);
                pos_ = 0;
                return r;
            }
            if (k < 0) {
                close();
                return std::nullopt;
            }
            char buf[65536];
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) {
                close();
                return std::nullopt;
            }
            in_.append(buf, static_cast<std::size_t>(n));
        }
    }

    /// Whether a reply (or its first bytes) arrived: a look, no wait.
    bool reply_arrived() const {
        if (fd_ < 0) return false;
        if (pos_ < in_.size()) return true;
        char c;
        return ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
    }

private:
    int fd_ = -1;
    std::string in_;
    std::size_t pos_ = 0;
};

} // namespace ckpt::resp

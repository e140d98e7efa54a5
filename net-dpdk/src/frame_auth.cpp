#include "ckpt/net/frame_auth.hpp"

#include "be_bytes.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace ckpt::net {

namespace {
constexpr char kKdfLabel[] = "HSPR frame key v3";
constexpr std::size_t kCacheEntries = 8; ///< derived keys kept: this node's and its peers' sessions

void nonce_of(std::uint64_t counter, unsigned char (&n)[crypto_aead_aes256gcm_NPUBBYTES]) {
    std::memset(n, 0, sizeof n);
    be::put64(reinterpret_cast<std::byte*>(n), counter);
}
} // namespace

struct FrameAuth::Derived {
    bool valid = false;
    std::uint8_t key_id = 0;
    std::uint16_t node = 0;
    std::uint64_t session = 0;
    alignas(16) crypto_aead_aes256gcm_state state;
};

struct FrameAuth::Cache {
    Derived entries[kCacheEntries];
    std::size_t next = 0; ///< round-robin replacement
};

FrameAuth::FrameAuth() : cache_(std::make_unique<Cache>()) {}

FrameAuth::~FrameAuth() {
    sodium_memzero(keys_, sizeof keys_);
    sodium_memzero(cache_.get(), sizeof(Cache));
}

std::string FrameAuth::add_key(const ClusterKey& k) {
    if (k.id == 0) return "key id 0 is reserved (frames without a key carry it): use 1..255";
    if (sodium_init() < 0) return "libsodium failed to initialise";
    if (!crypto_aead_aes256gcm_is_available())
        return "this CPU has no AES-NI and PCLMULQDQ, which the frame MAC (AES-256-GMAC) needs";
    if (const ClusterKey* held = key(k.id)) {
        if (sodium_memcmp(held->bytes.data(), k.bytes.data(), kKeyBytes) != 0)
            return "key id " + std::to_string(k.id) +
                   " is already in use with other key bytes: give a new key a new id (ckptctl keygen --rotate)";
        if (k.id == newest_) return {};
        // The previous key named again: it becomes the newest (a rotation rolled back).
    }
    if (k.id != newest_) {
        keys_[1] = keys_[0];
        previous_ = newest_;
    }
    keys_[0] = k;
    newest_ = k.id;
    if (previous_ == newest_) previous_ = 0;
    for (auto& d : cache_->entries)
        if (d.valid && !has_key(d.key_id)) sodium_memzero(&d, sizeof d);
    return {};
}

const ClusterKey* FrameAuth::key(std::uint8_t id) const {
    if (id == 0) return nullptr;
    if (id == newest_) return &keys_[0];
    if (id == previous_) return &keys_[1];
    return nullptr;
}

FrameAuth::Derived* FrameAuth::derived(std::uint8_t key_id, std::uint16_t src_node, std::uint64_t session) {
    for (auto& d : cache_->entries)
        if (d.valid && d.key_id == key_id && d.node == src_node && d.session == session) return &d;
    const ClusterKey* k = key(key_id);
    if (!k) return nullptr;
    unsigned char msg[sizeof kKdfLabel + 1 + 2 + 8];
    std::memcpy(msg, kKdfLabel, sizeof kKdfLabel);
    msg[sizeof kKdfLabel] = key_id;
    be::put16(reinterpret_cast<std::byte*>(msg + sizeof kKdfLabel + 1), src_node);
    be::put64(reinterpret_cast<std::byte*>(msg + sizeof kKdfLabel + 3), session);
    unsigned char sub[kKeyBytes];
    crypto_generichash(sub, sizeof sub, msg, sizeof msg, k->bytes.data(), kKeyBytes);
    Derived& d = cache_->entries[cache_->next];
    cache_->next = (cache_->next + 1) % kCacheEntries;
    crypto_aead_aes256gcm_beforenm(&d.state, sub);
    sodium_memzero(sub, sizeof sub);
    d.valid = true;
    d.key_id = key_id;
    d.node = src_node;
    d.session = session;
    return &d;
}

bool FrameAuth::seal(const std::byte* aad, std::size_t len, std::uint8_t key_id, std::uint16_t src_node,
                     std::uint64_t session, std::uint64_t counter, std::byte* tag) {
    if (key_id == 0) {
        if (keyed()) return false;
        const XXH128_hash_t h = XXH3_128bits(aad, len);
        be::put64(tag, h.high64);
        be::put64(tag + 8, h.low64);
        return true;
    }
    Derived* d = derived(key_id, src_node, session);
    if (!d) return false;
    unsigned char nonce[crypto_aead_aes256gcm_NPUBBYTES];
    nonce_of(counter, nonce);
    unsigned long long tag_len = 0;
    unsigned char none[1] = {}; // an empty message (libsodium wants real pointers)
    crypto_aead_aes256gcm_encrypt_detached_afternm(none, reinterpret_cast<unsigned char*>(tag), &tag_len, none, 0,
                                                   reinterpret_cast<const unsigned char*>(aad), len, nullptr, nonce,
                                                   &d->state);
    return true;
}

bool FrameAuth::verify(const std::byte* aad, std::size_t len, std::uint8_t key_id, std::uint16_t src_node,
                       std::uint64_t session, std::uint64_t counter, const std::byte* tag) {
    if (key_id == 0) {
        if (keyed()) return false; // an unauthenticated frame on an authenticated link
        const XXH128_hash_t h = XXH3_128bits(aad, len);
        return be::get64(tag) == h.high64 && be::get64(tag + 8) == h.low64;
    }
    Derived* d = derived(key_id, src_node, session);
    if (!d) return false;
    unsigned char nonce[crypto_aead_aes256gcm_NPUBBYTES];
    nonce_of(counter, nonce);
    // Decrypting an empty message checks the tag over the additional data in constant time.
    unsigned char none[1] = {};
    return crypto_aead_aes256gcm_decrypt_detached_afternm(
               none, nullptr, none, 0, reinterpret_cast<const unsigned char*>(tag),
               reinterpret_cast<const unsigned char*>(aad), len, nonce, &d->state) == 0;
}

std::uint64_t random_u64() {
    std::uint64_t v = 0;
    while (v == 0) {
        if (::getrandom(&v, sizeof v, 0) != static_cast<ssize_t>(sizeof v)) {
            if (errno == EINTR) continue;
            randombytes_buf(&v, sizeof v); // libsodium's own source
        }
    }
    return v;
}

} // namespace ckpt::net

namespace ckpt::net {

namespace {
std::string trim(std::string s) {
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return {};
    return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}
int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
} // namespace

std::string load_key_file(const std::string& path, ClusterKey& out) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return "auth_key_file " + path + ": " + std::strerror(errno) +
               (errno == ELOOP ? " (a symbolic link: name the file itself)" : "") + " (make one with: ckptctl keygen " +
               path + ")";
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const std::string e = std::strerror(errno);
        ::close(fd);
        return "auth_key_file " + path + ": " + e;
    }
    auto refuse = [&](const std::string& why) {
        ::close(fd);
        return "auth_key_file " + path + ": " + why;
    };
    if (!S_ISREG(st.st_mode)) return refuse("not a regular file");
    if ((st.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        return refuse(std::string("mode ") + mode + " lets other users read the cluster key: chmod 600 " + path);
    }
    if (st.st_uid != 0 && st.st_uid != ::geteuid())
        return refuse("owned by uid " + std::to_string(st.st_uid) + ", neither root nor ckptd's uid " +
                      std::to_string(::geteuid()) + ": chown it");
    if (st.st_size > 4096) return refuse("larger than 4096 bytes: not a key file");
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    const ssize_t n = ::read(fd, text.data(), text.size());
    ::close(fd);
    if (n != static_cast<ssize_t>(text.size())) return "auth_key_file " + path + ": short read";
    ClusterKey k;
    bool have_id = false, have_key = false;
    std::size_t line_no = 0, pos = 0;
    while (pos <= text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (const auto h = line.find('#'); h != std::string::npos) line.resize(h);
        line = trim(line);
        if (line.empty()) continue;
        const auto eq = line.find('=');
        const std::string where = "auth_key_file " + path + " line " + std::to_string(line_no) + ": ";
        if (eq == std::string::npos) {
            sodium_memzero(text.data(), text.size());
            return where + "expected `id = N` or `key = <64 hex digits>`";
        }
        const std::string name = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
        if (name == "id") {
            char* e = nullptr;
            const unsigned long v = std::strtoul(value.c_str(), &e, 10);
            if (value.empty() || *e != '\0' || v < 1 || v > 255) {
                sodium_memzero(text.data(), text.size());
                return where + "id must be 1..255";
            }
            k.id = static_cast<std::uint8_t>(v);
            have_id = true;
        } else if (name == "key") {
            bool ok = value.size() == 2 * kKeyBytes;
            for (std::size_t i = 0; ok && i < kKeyBytes; ++i) {
                const int hi = hex_digit(value[2 * i]), lo = hex_digit(value[2 * i + 1]);
                if (hi < 0 || lo < 0)
                    ok = false;
                else
                    k.bytes[i] = static_cast<unsigned char>(hi << 4 | lo);
            }
            if (!ok) {
                sodium_memzero(text.data(), text.size());
                sodium_memzero(k.bytes.data(), k.bytes.size());
                return where + "key must be 64 hex digits (32 bytes)";
            }
            have_key = true;
        } else {
            sodium_memzero(text.data(), text.size());
            return where + "unknown setting `" + name + "` (id, key)";
        }
    }
    sodium_memzero(text.data(), text.size());
    if (!have_id || !have_key) return "auth_key_file " + path + ": needs both `id = N` and `key = <64 hex digits>`";
    out = k;
    sodium_memzero(k.bytes.data(), k.bytes.size());
    return {};
}

void wipe_key(ClusterKey& k) {
    sodium_memzero(k.bytes.data(), k.bytes.size());
}

ClusterKey generate_key(std::uint8_t id) {
    if (sodium_init() < 0) std::abort();
    ClusterKey k;
    k.id = id;
    randombytes_buf(k.bytes.data(), k.bytes.size());
    return k;
}

std::string write_key_file(const std::string& path, const ClusterKey& k, bool overwrite) {
    static const char* hex = "0123456789abcdef";
    std::string text = "# Hotspare cluster key (ckptctl keygen): the same file on every node; keep it 0600\n";
    text += "id = " + std::to_string(k.id) + "\nkey = ";
    for (unsigned char b : k.bytes) {
        text += hex[b >> 4];
        text += hex[b & 15];
    }
    text += "\n";
    const std::string target = overwrite ? path + ".tmp" : path;
    if (overwrite) ::unlink(target.c_str());
    const int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        const std::string e = std::strerror(errno);
        sodium_memzero(text.data(), text.size());
        return target + ": " + e + (overwrite ? "" : " (an existing key is never overwritten: use --rotate)");
    }
    const bool ok = ::fchmod(fd, 0600) == 0 &&
                    ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
    const std::string e = std::strerror(errno);
    ::close(fd);
    sodium_memzero(text.data(), text.size());
    if (!ok) {
        ::unlink(target.c_str());
        return target + ": " + e;
    }
    if (overwrite && ::rename(target.c_str(), path.c_str()) != 0) {
        const std::string re = std::strerror(errno);
        ::unlink(target.c_str());
        return path + ": " + re;
    }
    return {};
}

} // namespace ckpt::net

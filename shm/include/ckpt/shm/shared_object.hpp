#pragma once
/// Named shared-memory objects (POSIX shm through Boost.Interprocess, or files for persistent
/// checkpoints) and their mappings. The only place that creates, opens or maps segments; every
/// Boost exception is caught here and turned into a Result.
#include "ckpt/common/fd.hpp"
#include "ckpt/common/result.hpp"

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace ckpt::shm {

/// Where an object lives: a POSIX shm name ("hs1.calls.3.meta", no slash) or a file path.
struct ObjectName {
    std::string name;
    bool is_file = false;
    std::string describe() const { return is_file ? name : "/dev/shm/" + name; }
};

struct ObjectOptions {
    mode_t mode = 0600;                 ///< private by default; never widened by the umask
    gid_t gid = static_cast<gid_t>(-1); ///< group to hand the object to, -1 to keep
};

/// Creates with O_EXCL, sets mode/group, sizes it and reserves its memory (posix_fallocate), so a
/// full /dev/shm fails here with NO_RESOURCES instead of a SIGBUS at first touch.
Result<Fd> create_object(const ObjectName& name, std::uint64_t size, const ObjectOptions& opts);

/// Opens an existing object. Refuses one not owned by this process's euid or with mode bits
/// beyond `max_mode` (someone else could have planted or widened it).
Result<Fd> open_object(const ObjectName& name, bool writable, mode_t max_mode = 0777);

/// Sets the size of an object opened for write and reserves its memory; mappings of it stay valid
/// (ckptd grows its NODE object in place, so clients that survived a restart keep theirs).
Status resize_object(int fd, const ObjectName& name, std::uint64_t size);

/// Removes the name; mappings stay valid. NOT_EXIST when absent.
Status remove_object(const ObjectName& name);

/// Size of an open object.
Result<std::uint64_t> object_size(int fd);

/// A MAP_SHARED mapping; unmapped on destruction.
class Mapping {
public:
    Mapping() = default;
    Mapping(Mapping&& o) noexcept;
    Mapping& operator=(Mapping&& o) noexcept;
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping();

    /// Maps `size` bytes of `fd`; PROT_READ only unless `writable`.
    static Result<Mapping> map(int fd, std::uint64_t size, bool writable);

    std::byte* data() const noexcept { return base_; }
    std::uint64_t size() const noexcept { return size_; }
    bool writable() const noexcept { return writable_; }
    explicit operator bool() const noexcept { return base_ != nullptr; }

private:
    std::byte* base_ = nullptr;
    std::uint64_t size_ = 0;
    bool writable_ = false;
};

} // namespace ckpt::shm

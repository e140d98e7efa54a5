#include "ckpt/shm/shared_object.hpp"

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace bip = boost::interprocess;

namespace ckpt::shm {
namespace {

std::string errno_text(int e) {
    return std::string(std::strerror(e));
}

Error error_from_errno(int e) {
    switch (e) {
    case EEXIST:
        return Error::kExist;
    case ENOENT:
        return Error::kNotExist;
    case EACCES:
    case EPERM:
        return Error::kAccess;
    case ENOSPC:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
        return Error::kNoResources;
    case ENAMETOOLONG:
        return Error::kNameTooLong;
    default:
        return Error::kLibrary;
    }
}

Error error_from_boost(const bip::interprocess_exception& ex) {
    switch (ex.get_error_code()) {
    case bip::already_exists_error:
        return Error::kExist;
    case bip::not_found_error:
        return Error::kNotExist;
    case bip::security_error:
        return Error::kAccess;
    case bip::out_of_space_error:
    case bip::out_of_memory_error:
        return Error::kNoResources;
    default:
        return error_from_errno(ex.get_native_error());
    }
}

Status size_and_reserve(int fd, const ObjectName& name, std::uint64_t size, const ObjectOptions& opts) {
    // fchmod because open/shm_open apply the umask; the configured mode is the contract.
    if (::fchmod(fd, opts.mode) != 0)
        return fail(error_from_errno(errno), "chmod " + name.describe() + ": " + errno_text(errno));
    if (opts.gid != static_cast<gid_t>(-1) && ::fchown(fd, static_cast<uid_t>(-1), opts.gid) != 0)
        return fail(error_from_errno(errno),
                    "chown " + name.describe() + " to gid " + std::to_string(opts.gid) + ": " + errno_text(errno));
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0)
        return fail(error_from_errno(errno),
                    "size " + name.describe() + " to " + std::to_string(size) + " bytes: " + errno_text(errno));
    int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
    if (rc != 0)
        return fail(rc == ENOSPC ? Error::kNoResources : error_from_errno(rc),
                    "reserve " + std::to_string(size) + " bytes for " + name.describe() + ": " + errno_text(rc));
    return {};
}

} // namespace

Result<Fd> create_object(const ObjectName& name, std::uint64_t size, const ObjectOptions& opts) {
    Fd fd;
    if (name.is_file) {
        fd.reset(::open(name.name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, opts.mode));
        if (!fd.valid()) return fail(error_from_errno(errno), "create " + name.describe() + ": " + errno_text(errno));
    } else {
        try {
            bip::permissions perm(opts.mode);
            bip::shared_memory_object obj(bip::create_only, name.name.c_str(), bip::read_write, perm);
            fd.reset(::fcntl(obj.get_mapping_handle().handle, F_DUPFD_CLOEXEC, 0));
            if (!fd.valid()) return fail(Error::kNoResources, "dup shm fd: " + errno_text(errno));
        } catch (const bip::interprocess_exception& ex) {
            return fail(error_from_boost(ex), "create " + name.describe() + ": " + ex.what());
        }
    }
    if (Status s = size_and_reserve(fd.get(), name, size, opts); !s) {
        (void)remove_object(name);
        return s.failure();
    }
    return fd;
}

Status resize_object(int fd, const ObjectName& name, std::uint64_t size) {
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0)
        return fail(error_from_errno(errno),
                    "size " + name.describe() + " to " + std::to_string(size) + " bytes: " + errno_text(errno));
    int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
    if (rc != 0)
        return fail(rc == ENOSPC ? Error::kNoResources : error_from_errno(rc),
                    "reserve " + std::to_string(size) + " bytes for " + name.describe() + ": " + errno_text(rc));
    return {};
}

Result<Fd> open_object(const ObjectName& name, bool writable, mode_t max_mode) {
    Fd fd;
    if (name.is_file) {
        fd.reset(::open(name.name.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW));
        if (!fd.valid()) return fail(error_from_errno(errno), "open " + name.describe() + ": " + errno_text(errno));
    } else {
        try {
            bip::shared_memory_object obj(bip::open_only, name.name.c_str(),
                                          writable ? bip::read_write : bip::read_only);
            fd.reset(::fcntl(obj.get_mapping_handle().handle, F_DUPFD_CLOEXEC, 0));
            if (!fd.valid()) return fail(Error::kNoResources, "dup shm fd: " + errno_text(errno));
        } catch (const bip::interprocess_exception& ex) {
            return fail(error_from_boost(ex), "open " + name.describe() + ": " + ex.what());
        }
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
        return fail(Error::kLibrary, "fstat " + name.describe() + ": " + errno_text(errno));
    if (!S_ISREG(st.st_mode)) return fail(Error::kAccess, name.describe() + " is not a regular object");
    if (st.st_uid != ::geteuid())
        return fail(Error::kAccess, name.describe() + " is owned by uid " + std::to_string(st.st_uid) +
                                        ", not by this process (uid " + std::to_string(::geteuid()) + ")");
    if ((st.st_mode & 07777 & ~max_mode) != 0)
        return fail(Error::kAccess, name.describe() + " has mode " + std::to_string(st.st_mode & 0777) +
                                        " (octal bits beyond the configured segment mode)");
    return fd;
}

Status remove_object(const ObjectName& name) {
    if (name.is_file) {
        if (::unlink(name.name.c_str()) != 0)
            return fail(error_from_errno(errno), "remove " + name.describe() + ": " + errno_text(errno));
        return {};
    }
    if (::shm_unlink(("/" + name.name).c_str()) != 0)
        return fail(error_from_errno(errno), "remove " + name.describe() + ": " + errno_text(errno));
    return {};
}

Result<std::uint64_t> object_size(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return fail(Error::kLibrary, std::string("fstat: ") + errno_text(errno));
    return static_cast<std::uint64_t>(st.st_size);
}

Mapping::Mapping(Mapping&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)), size_(std::exchange(o.size_, 0)), writable_(o.writable_) {}

Mapping& Mapping::operator=(Mapping&& o) noexcept {
    if (this != &o) {
        if (base_) ::munmap(base_, size_);
        base_ = std::exchange(o.base_, nullptr);
        size_ = std::exchange(o.size_, 0);
        writable_ = o.writable_;
    }
    return *this;
}

Mapping::~Mapping() {
    if (base_) ::munmap(base_, size_);
}

Result<Mapping> Mapping::map(int fd, std::uint64_t size, bool writable) {
    CKPT_TRY_ASSIGN(actual, object_size(fd));
    if (actual < size)
        return fail(Error::kFailedOperation,
                    "segment is " + std::to_string(actual) + " bytes, expected at least " + std::to_string(size));
    void* p = ::mmap(nullptr, size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return fail(error_from_errno(errno), "mmap " + std::to_string(size) + " bytes: " + errno_text(errno));
    Mapping m;
    m.base_ = static_cast<std::byte*>(p);
    m.size_ = size;
    m.writable_ = writable;
    return m;
}

} // namespace ckpt::shm

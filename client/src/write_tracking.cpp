// Transparent dirty tracking (write_tracking.hpp): userfaultfd write-protection in asynchronous
// mode over the checkpoint's data area, read back and re-armed per commit with PAGEMAP_SCAN.
//
// Debian 12's kernel headers (6.1) predate both UFFD_FEATURE_WP_ASYNC (6.7) and PAGEMAP_SCAN (6.7),
// so the ABI is spelt out below when the headers lack it; the kernel checks `size` and features.
#include "ckpt/client/write_tracking.hpp"

#include "internal.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef PAGEMAP_SCAN
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
struct page_region {
    __u64 start, end, categories;
};
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
struct pm_scan_arg {
    __u64 size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted, category_mask,
        category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

namespace ckpt::client {

namespace {

constexpr std::uint64_t kFeatures =
    UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_WP_UNPOPULATED;

std::string kernel_release() {
    utsname u{};
    return ::uname(&u) == 0 ? std::string(u.release) : std::string("?");
}

Failure unsupported(const std::string& what, int err) {
    return fail(Error::kNotSupported, "transparent write tracking needs Linux 6.7 or later (userfaultfd "
                                      "asynchronous write-protection on shared memory and the PAGEMAP_SCAN ioctl); "
                                      "this kernel (" +
                                          kernel_release() + ") refused " + what + ": " + std::strerror(err) +
                                          ". Mark written ranges with WriteTx::span()/mark_dirty() instead");
}

/// A userfaultfd with the asynchronous write-protection features, or why not.
Result<Fd> open_uffd() {
    int fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
    if (fd < 0) return unsupported("userfaultfd()", errno);
    Fd owner(fd);
    uffdio_api api{};
    api.api = UFFD_API;
    api.features = kFeatures;
    if (::ioctl(fd, UFFDIO_API, &api) != 0) return unsupported("UFFDIO_API with UFFD_FEATURE_WP_ASYNC", errno);
    if ((api.features & kFeatures) != kFeatures) return unsupported("the asynchronous write-protect features", EINVAL);
    return owner;
}

} // namespace

namespace detail {

struct WriteTracker {
    Fd uffd, pagemap;
    std::uintptr_t area = 0; ///< page-aligned start of the tracked range
    std::size_t len = 0;
    std::vector<page_region> vec = std::vector<page_region>(512);
    /// Pages found written but straddling another section's range: kept for that section's
    /// commit (a page shared by two sections is marked in both; block hashes drop the unchanged).
    std::vector<std::uint64_t> pending;

    Status collect(WriteTx& tx) {
        const auto bytes = tx.data();
        const std::uintptr_t s = reinterpret_cast<std::uintptr_t>(bytes.data());
        const std::uintptr_t e = s + bytes.size();
        const std::uintptr_t ps = s & ~std::uintptr_t{4095}, pe = (e + 4095) & ~std::uintptr_t{4095};
        if (ps < area || pe > area + len) return fail(Error::kLibrary, "section outside the tracked area");
        auto mark_page = [&](std::uintptr_t page) {
            const std::uintptr_t a = std::max(page, s), b = std::min(page + 4096, e);
            if (a < b) tx.mark_dirty(a - s, b - a);
            const std::size_t i = (page - area) / 4096;
            if (page >= s && page + 4096 <= e)
                pending[i / 64] &= ~(1ull << (i % 64));
            else
                pending[i / 64] |= 1ull << (i % 64); // the neighbour section's commit needs it too
        };
        // Pages another section's scan found written that lie partly in this one.
        for (std::uintptr_t page : {ps, pe - 4096}) {
            const std::size_t i = (page - area) / 4096;
            if (pending[i / 64] & (1ull << (i % 64))) mark_page(page);
        }
        pm_scan_arg arg{};
        arg.size = sizeof arg;
        arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
        arg.vec = reinterpret_cast<std::uintptr_t>(vec.data());
        arg.vec_len = vec.size();
        arg.category_mask = PAGE_IS_WRITTEN;
        arg.return_mask = PAGE_IS_WRITTEN;
        for (std::uintptr_t at = ps; at < pe;) {
            arg.start = at;
            arg.end = pe;
            arg.walk_end = 0;
            long n = ::ioctl(pagemap.get(), PAGEMAP_SCAN, &arg);
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN) continue;
                return fail(Error::kLibrary, std::string("PAGEMAP_SCAN: ") + std::strerror(errno));
            }
            for (long r = 0; r < n; ++r) {
                const std::uintptr_t a = std::max<std::uintptr_t>(vec[static_cast<std::size_t>(r)].start, s);
                const std::uintptr_t b = std::min<std::uintptr_t>(vec[static_cast<std::size_t>(r)].end, e);
                if (a >= b) continue;
                tx.mark_dirty(a - s, b - a);
                // Edge pages shared with a neighbour: remember them for its commit.
                const std::uintptr_t first = vec[static_cast<std::size_t>(r)].start,
                                     last = vec[static_cast<std::size_t>(r)].end - 4096;
                if (first < s) mark_page(first);
                if (last + 4096 > e) mark_page(last);
            }
            if (arg.walk_end <= at) break; // no progress: nothing more to report
            at = arg.walk_end;
        }
        return {};
    }
};

} // namespace detail

Status write_tracking_supported() {
    CKPT_TRY_ASSIGN(uffd, open_uffd());
    (void)uffd;
    Fd pm(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
    if (!pm.valid()) return unsupported("opening /proc/self/pagemap", errno);
    pm_scan_arg arg{};
    arg.size = sizeof arg;
    // An empty range: a kernel with PAGEMAP_SCAN answers 0, an older one ENOTTY (or EINVAL).
    if (::ioctl(pm.get(), PAGEMAP_SCAN, &arg) < 0) return unsupported("the PAGEMAP_SCAN ioctl", errno);
    return {};
}

Status enable_write_tracking(Checkpoint& c) {
    if (!c.core_ || c.core_->closed) return fail(Error::kBadHandle, "checkpoint handle is closed");
    detail::CheckpointCore& ck = *c.core_;
    if (!(ck.flags & kOpenWrite) || !ck.data_map.writable())
        return fail(Error::kAccess, "checkpoint '" + printable_name(ck.name) + "' is open read-only: nothing to track");
    if (ck.tracker) return {};
    CKPT_TRY(write_tracking_supported());
    auto t = std::make_shared<detail::WriteTracker>();
    CKPT_TRY_ASSIGN(uffd, open_uffd());
    t->uffd = std::move(uffd);
    t->pagemap = Fd(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
    if (!t->pagemap.valid()) return unsupported("opening /proc/self/pagemap", errno);
    t->area = reinterpret_cast<std::uintptr_t>(ck.data.area());
    t->len = (ck.data.area_size() + 4095) & ~std::size_t{4095};
    if (t->area % 4096) return fail(Error::kLibrary, "data area not page-aligned");
    t->pending.assign((t->len / 4096 + 63) / 64, 0);
    // Map every page of the area writable in this process first: a store to a write-protected
    // present page costs a light fault, one to a page not yet mapped here a page-cache lookup on
    // top (the engine made the pages; this process may never have touched them). Contents stay.
    (void)::madvise(reinterpret_cast<void*>(t->area), t->len, 23 /* MADV_POPULATE_WRITE, 5.14 */);
    uffdio_register reg{};
    reg.range.start = t->area;
    reg.range.len = t->len;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (::ioctl(t->uffd.get(), UFFDIO_REGISTER, &reg) != 0)
        return unsupported("UFFDIO_REGISTER (write-protect) on the checkpoint's shared memory", errno);
    uffdio_writeprotect wp{};
    wp.range = reg.range;
    wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
    if (::ioctl(t->uffd.get(), UFFDIO_WRITEPROTECT, &wp) != 0) return unsupported("UFFDIO_WRITEPROTECT", errno);
    ck.tracker = std::move(t);
    return {};
}

namespace detail {

Status mark_written(CheckpointCore& ck, WriteTx& tx) {
    return ck.tracker->collect(tx);
}

} // namespace detail

} // namespace ckpt::client

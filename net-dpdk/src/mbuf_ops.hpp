#pragma once
// The few mbuf operations FramePool needs, defined in dpdk_port.cpp (the only translation unit
// that includes DPDK): plain calls, no DPDK type in this header.
#include <cstddef>
#include <cstdint>

namespace ckpt::net::detail {

/// An mbuf of `mempool` with `len` bytes appended (*data: the first); nullptr when the pool is empty.
void* mbuf_alloc(void* mempool, std::size_t len, std::byte** data);
/// rte_pktmbuf_free: drops one reference.
void mbuf_free(void* mbuf);
/// The frame in `mbuf` (one segment) becomes `len` bytes long: rte_pktmbuf_append or
/// rte_pktmbuf_trim; false (nothing changed) when the data room cannot hold it.
bool mbuf_resize(void* mbuf, std::size_t len);
/// rte_mbuf_refcnt_read.
std::uint16_t mbuf_refcnt(const void* mbuf);

} // namespace ckpt::net::detail

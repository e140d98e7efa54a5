#include "ckpt/common/control_messages.hpp"

#include <algorithm>

namespace ckpt::proto {

namespace {

std::string bytes_to_string(std::span<const std::byte> b) {
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

std::span<const std::byte> string_bytes(std::string_view s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

/// The value when the decoder read exactly the whole body, else the op's MESSAGE_ERROR.
template <typename T>
Result<T> whole_request(const Decoder& d, T value) {
    if (!d.at_end()) return malformed_request(T::kOp);
    return value;
}

template <typename T>
Result<T> whole_reply(const Decoder& d, T value) {
    if (!d.at_end()) return malformed_reply(T::kOp);
    return value;
}

/// Takes the `N` descriptors of a reply that carries `N`; false when another number arrived.
template <std::size_t N>
bool take_fds(std::vector<Fd>& fds, std::array<MessageFd*, N> into) {
    if (fds.size() != N) return false;
    for (std::size_t i = 0; i < N; ++i) *into[i] = MessageFd(std::move(fds[i]));
    fds.clear();
    return true;
}

} // namespace

std::string_view op_name(Op op) noexcept {
    switch (op) {
    case Op::kHello:
        return "HELLO";
    case Op::kOpen:
        return "OPEN";
    case Op::kClose:
        return "CLOSE";
    case Op::kUnlink:
        return "UNLINK";
    case Op::kStatus:
        return "STATUS";
    case Op::kSectionCreate:
        return "SECTION_CREATE";
    case Op::kSectionDelete:
        return "SECTION_DELETE";
    case Op::kSectionExpiration:
        return "SECTION_EXPIRATION";
    case Op::kSubscribe:
        return "SUBSCRIBE";
    case Op::kList:
        return "LIST";
    case Op::kInspect:
        return "INSPECT";
    case Op::kRollback:
        return "ROLLBACK";
    case Op::kPeers:
        return "PEERS";
    case Op::kPromote:
        return "PROMOTE";
    case Op::kDemote:
        return "DEMOTE";
    case Op::kRetention:
        return "RETENTION";
    case Op::kReserve:
        return "RESERVE";
    case Op::kDirectory:
        return "DIRECTORY";
    case Op::kStats:
        return "STATS";
    case Op::kActivate:
        return "ACTIVATE";
    }
    return "UNKNOWN";
}

Failure malformed_request(Op op) {
    return fail(Error::kMessageError, "malformed " + std::string(op_name(op)) + " request (type " +
                                          std::to_string(static_cast<int>(op)) + ")");
}

Failure malformed_reply(Op op) {
    return fail(Error::kMessageError, "malformed " + std::string(op_name(op)) + " reply from ckptd");
}

// --- counters ---------------------------------------------------------------------------------

void CheckpointCounters::encode(Encoder& e) const {
    e.u64(captures).u64(captured_bytes).u64(spurious_doorbells).u64(rollbacks).u64(corruptions).u64(invalid_words);
    e.str(damage);
}

CheckpointCounters CheckpointCounters::decode(Decoder& d) {
    CheckpointCounters c;
    c.captures = d.u64();
    c.captured_bytes = d.u64();
    c.spurious_doorbells = d.u64();
    c.rollbacks = d.u64();
    c.corruptions = d.u64();
    c.invalid_words = d.u64();
    c.damage = d.str();
    return c;
}

// --- HELLO ------------------------------------------------------------------------------------

void HelloRequest::encode(Encoder& e) const {
    e.u32(pid);
}

Result<HelloRequest> HelloRequest::decode(Decoder& d) {
    HelloRequest r;
    r.pid = d.u32();
    return whole_request(d, r);
}

void HelloReply::encode(Encoder& e) const {
    e.u32(node_id).u32(engine_pid).u64(node_size);
}

Result<HelloReply> HelloReply::decode(Decoder& d, std::vector<Fd>& fds) {
    HelloReply r;
    r.node_id = d.u32();
    r.engine_pid = d.u32();
    r.node_size = d.u64();
    if (!d.at_end() || !take_fds<2>(fds, {&r.node, &r.kick})) return malformed_reply(kOp);
    return r;
}

// --- OPEN -------------------------------------------------------------------------------------

void OpenRequest::encode(Encoder& e) const {
    e.str(name).u32(flags).u8(attrs ? 1 : 0).attrs(attrs.value_or(CheckpointAttributes{})).u32(reattach_slot);
}

Result<OpenRequest> OpenRequest::decode(Decoder& d) {
    OpenRequest r;
    r.name = d.str();
    r.flags = d.u32();
    const bool has_attrs = d.u8() != 0;
    const CheckpointAttributes a = d.attrs();
    if (has_attrs) r.attrs = a;
    r.reattach_slot = d.u32();
    return whole_request(d, std::move(r));
}

void OpenReply::encode(Encoder& e) const {
    e.u64(handle).u32(writer_slot).u64(meta_size).u64(data_size).u8(created ? 1 : 0);
}

Result<OpenReply> OpenReply::decode(Decoder& d, std::vector<Fd>& fds) {
    OpenReply r;
    r.handle = d.u64();
    r.writer_slot = d.u32();
    r.meta_size = d.u64();
    r.data_size = d.u64();
    r.created = d.u8() != 0;
    if (!d.at_end() || !take_fds<2>(fds, {&r.meta, &r.data})) return malformed_reply(kOp);
    return r;
}

// --- STATUS -----------------------------------------------------------------------------------

void StatusReply::encode(Encoder& e) const {
    e.attrs(attrs).u32(sections).u64(bytes_used).u64(commit_seq);
    counters.encode(e);
}

Result<StatusReply> StatusReply::decode(Decoder& d) {
    StatusReply r;
    r.attrs = d.attrs();
    r.sections = d.u32();
    r.bytes_used = d.u64();
    r.commit_seq = d.u64();
    r.counters = CheckpointCounters::decode(d);
    return whole_reply(d, std::move(r));
}

// --- SECTION_CREATE, SECTION_DELETE, SECTION_EXPIRATION ---------------------------------------

void SectionCreateRequest::encode(Encoder& e) const {
    e.u64(handle).str(id).u8(generate ? 1 : 0).i64(expiration_ns).u64(capacity).bytes(data);
}

Result<SectionCreateRequest> SectionCreateRequest::decode(Decoder& d) {
    SectionCreateRequest r;
    r.handle = d.u64();
    r.id = bytes_to_string(d.bytes());
    r.generate = d.u8() != 0;
    r.expiration_ns = d.i64();
    r.capacity = d.u64();
    r.data = d.bytes();
    return whole_request(d, std::move(r));
}

bool operator==(const SectionCreateRequest& a, const SectionCreateRequest& b) {
    return a.handle == b.handle && a.id == b.id && a.generate == b.generate && a.expiration_ns == b.expiration_ns &&
           a.capacity == b.capacity && std::ranges::equal(a.data, b.data);
}

void SectionCreateReply::encode(Encoder& e) const {
    e.str(id).u32(slot).u64(generation);
}

Result<SectionCreateReply> SectionCreateReply::decode(Decoder& d) {
    SectionCreateReply r;
    r.id = d.str();
    r.slot = d.u32();
    r.generation = d.u64();
    return whole_reply(d, std::move(r));
}

void SectionDeleteRequest::encode(Encoder& e) const {
    e.u64(handle).bytes(string_bytes(id));
}

Result<SectionDeleteRequest> SectionDeleteRequest::decode(Decoder& d) {
    SectionDeleteRequest r;
    r.handle = d.u64();
    r.id = bytes_to_string(d.bytes());
    return whole_request(d, std::move(r));
}

void SectionExpirationRequest::encode(Encoder& e) const {
    e.u64(handle).bytes(string_bytes(id)).i64(expiration_ns);
}

Result<SectionExpirationRequest> SectionExpirationRequest::decode(Decoder& d) {
    SectionExpirationRequest r;
    r.handle = d.u64();
    r.id = bytes_to_string(d.bytes());
    r.expiration_ns = d.i64();
    return whole_request(d, std::move(r));
}

// --- SUBSCRIBE --------------------------------------------------------------------------------

Result<SubscribeReply> SubscribeReply::decode(Decoder& d, std::vector<Fd>& fds) {
    SubscribeReply r;
    if (!d.at_end() || !take_fds<1>(fds, {&r.event})) return malformed_reply(kOp);
    return r;
}

// --- LIST -------------------------------------------------------------------------------------

void ListRequest::encode(Encoder& e) const {
    e.u32(cursor);
}

Result<ListRequest> ListRequest::decode(Decoder& d) {
    ListRequest r;
    r.cursor = d.u32();
    return whole_request(d, r);
}

void ListEntry::encode(Encoder& e) const {
    e.str(name).attrs(attrs).u32(sections).u64(bytes_used).u64(commit_seq).u32(open_count).u64(epoch);
    counters.encode(e);
}

ListEntry ListEntry::decode(Decoder& d) {
    ListEntry l;
    l.name = d.str();
    l.attrs = d.attrs();
    l.sections = d.u32();
    l.bytes_used = d.u64();
    l.commit_seq = d.u64();
    l.open_count = d.u32();
    l.epoch = d.u64();
    l.counters = CheckpointCounters::decode(d);
    return l;
}

void ListReply::encode(Encoder& e) const {
    e.u32(static_cast<std::uint32_t>(entries.size())).u32(next_cursor);
    for (const auto& l : entries) l.encode(e);
}

Result<ListReply> ListReply::decode(Decoder& d) {
    ListReply r;
    const std::uint32_t count = d.u32();
    r.next_cursor = d.u32();
    // The count is not trusted for an allocation: a lying one runs the decoder dry and fails.
    for (std::uint32_t i = 0; i < count && d.ok(); ++i) r.entries.push_back(ListEntry::decode(d));
    return whole_reply(d, std::move(r));
}

// --- INSPECT ----------------------------------------------------------------------------------

void InspectReply::encode(Encoder& e) const {
    e.u64(meta_size).u64(data_size).u32(open_count);
    counters.encode(e);
}

Result<InspectReply> InspectReply::decode(Decoder& d, std::vector<Fd>& fds) {
    InspectReply r;
    r.meta_size = d.u64();
    r.data_size = d.u64();
    r.open_count = d.u32();
    r.counters = CheckpointCounters::decode(d);
    if (!d.at_end() || !take_fds<2>(fds, {&r.meta, &r.data})) return malformed_reply(kOp);
    return r;
}

// --- ROLLBACK ---------------------------------------------------------------------------------

void RollbackRequest::encode(Encoder& e) const {
    e.u64(handle).u32(slot);
}

Result<RollbackRequest> RollbackRequest::decode(Decoder& d) {
    RollbackRequest r;
    r.handle = d.u64();
    r.slot = d.u32();
    return whole_request(d, r);
}

// --- PROMOTE, DEMOTE --------------------------------------------------------------------------

// --- RETENTION, RESERVE, DIRECTORY ------------------------------------------------------------

void RetentionRequest::encode(Encoder& e) const {
    e.u64(handle).i64(retention_ns);
}

Result<RetentionRequest> RetentionRequest::decode(Decoder& d) {
    RetentionRequest r;
    r.handle = d.u64();
    r.retention_ns = d.i64();
    return whole_request(d, r);
}

void ReserveRequest::encode(Encoder& e) const {
    e.u64(handle).u32(slot).u64(size);
}

Result<ReserveRequest> ReserveRequest::decode(Decoder& d) {
    ReserveRequest r;
    r.handle = d.u64();
    r.slot = d.u32();
    r.size = d.u64();
    return whole_request(d, r);
}

void DirectoryReply::encode(Encoder& e) const {
    e.u64(oldest_unapplied);
}

Result<DirectoryReply> DirectoryReply::decode(Decoder& d) {
    DirectoryReply r;
    r.oldest_unapplied = d.u64();
    return whole_reply(d, r);
}

} // namespace ckpt::proto

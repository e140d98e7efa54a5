#pragma once
/// Error values of every control-path call. The numeric values are SaAisErrorT's (SA_AIS_ERR_*),
/// so a C binding maps them one-to-one with a cast and operators can look codes up in the spec.
#include <cstdint>
#include <string_view>

namespace ckpt {

enum class Error : std::int32_t {
    kLibrary = 2,          ///< SA_AIS_ERR_LIBRARY: unexpected failure inside the library
    kVersion = 3,          ///< SA_AIS_ERR_VERSION: layout or protocol version mismatch
    kInit = 4,             ///< SA_AIS_ERR_INIT
    kTimeout = 5,          ///< SA_AIS_ERR_TIMEOUT
    kTryAgain = 6,         ///< SA_AIS_ERR_TRY_AGAIN: transient, the call may be repeated
    kInvalidParam = 7,     ///< SA_AIS_ERR_INVALID_PARAM
    kNoMemory = 8,         ///< SA_AIS_ERR_NO_MEMORY
    kBadHandle = 9,        ///< SA_AIS_ERR_BAD_HANDLE: closed, deleted or never valid
    kBusy = 10,            ///< SA_AIS_ERR_BUSY
    kAccess = 11,          ///< SA_AIS_ERR_ACCESS: open mode or credentials do not allow it
    kNotExist = 12,        ///< SA_AIS_ERR_NOT_EXIST
    kNameTooLong = 13,     ///< SA_AIS_ERR_NAME_TOO_LONG
    kExist = 14,           ///< SA_AIS_ERR_EXIST
    kNoSpace = 15,         ///< SA_AIS_ERR_NO_SPACE: checkpoint full (bytes or sections)
    kInterrupt = 16,       ///< SA_AIS_ERR_INTERRUPT
    kNameNotFound = 17,    ///< SA_AIS_ERR_NAME_NOT_FOUND
    kNoResources = 18,     ///< SA_AIS_ERR_NO_RESOURCES: node out of memory, fds, slots
    kNotSupported = 19,    ///< SA_AIS_ERR_NOT_SUPPORTED
    kBadOperation = 20,    ///< SA_AIS_ERR_BAD_OPERATION
    kFailedOperation = 21, ///< SA_AIS_ERR_FAILED_OPERATION: e.g. the section is corrupted
    kMessageError = 22,    ///< SA_AIS_ERR_MESSAGE_ERROR: malformed control message
    kBadFlags = 25,        ///< SA_AIS_ERR_BAD_FLAGS
    kTooBig = 26,          ///< SA_AIS_ERR_TOO_BIG: exceeds max section size or id size
    kNoSections = 27,      ///< SA_AIS_ERR_NO_SECTIONS
    kUnavailable = 31,     ///< SA_AIS_ERR_UNAVAILABLE: no engine reachable
};

/// "SA_AIS_ERR_NOT_EXIST" and so on; never null.
std::string_view error_name(Error e) noexcept;

} // namespace ckpt

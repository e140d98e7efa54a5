#include "ckpt/common/error.hpp"

namespace ckpt {

std::string_view error_name(Error e) noexcept {
    switch (e) {
    case Error::kLibrary:
        return "SA_AIS_ERR_LIBRARY";
    case Error::kVersion:
        return "SA_AIS_ERR_VERSION";
    case Error::kInit:
        return "SA_AIS_ERR_INIT";
    case Error::kTimeout:
        return "SA_AIS_ERR_TIMEOUT";
    case Error::kTryAgain:
        return "SA_AIS_ERR_TRY_AGAIN";
    case Error::kInvalidParam:
        return "SA_AIS_ERR_INVALID_PARAM";
    case Error::kNoMemory:
        return "SA_AIS_ERR_NO_MEMORY";
    case Error::kBadHandle:
        return "SA_AIS_ERR_BAD_HANDLE";
    case Error::kBusy:
        return "SA_AIS_ERR_BUSY";
    case Error::kAccess:
        return "SA_AIS_ERR_ACCESS";
    case Error::kNotExist:
        return "SA_AIS_ERR_NOT_EXIST";
    case Error::kNameTooLong:
        return "SA_AIS_ERR_NAME_TOO_LONG";
    case Error::kExist:
        return "SA_AIS_ERR_EXIST";
    case Error::kNoSpace:
        return "SA_AIS_ERR_NO_SPACE";
    case Error::kInterrupt:
        return "SA_AIS_ERR_INTERRUPT";
    case Error::kNameNotFound:
        return "SA_AIS_ERR_NAME_NOT_FOUND";
    case Error::kNoResources:
        return "SA_AIS_ERR_NO_RESOURCES";
    case Error::kNotSupported:
        return "SA_AIS_ERR_NOT_SUPPORTED";
    case Error::kBadOperation:
        return "SA_AIS_ERR_BAD_OPERATION";
    case Error::kFailedOperation:
        return "SA_AIS_ERR_FAILED_OPERATION";
    case Error::kMessageError:
        return "SA_AIS_ERR_MESSAGE_ERROR";
    case Error::kBadFlags:
        return "SA_AIS_ERR_BAD_FLAGS";
    case Error::kTooBig:
        return "SA_AIS_ERR_TOO_BIG";
    case Error::kNoSections:
        return "SA_AIS_ERR_NO_SECTIONS";
    case Error::kUnavailable:
        return "SA_AIS_ERR_UNAVAILABLE";
    }
    return "SA_AIS_ERR_UNKNOWN";
}

} // namespace ckpt

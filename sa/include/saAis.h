/*
 * saAis.h: the common types of the SA Forum Application Interface Specification (AIS), as the
 * Checkpoint Service uses them (SAI-AIS-CKPT-B.02.02; source-compatible with B.01.01 code).
 * Written for Hotspare from the specification; the values and layouts are the published ABI
 * (x86_64, LP64).
 */
#ifndef HOTSPARE_SA_AIS_H
#define HOTSPARE_SA_AIS_H

#include <stddef.h> /* NULL, in SA_CKPT_DEFAULT_SECTION_ID and SA_CKPT_GENERATED_SECTION_ID */

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { SA_FALSE = 0, SA_TRUE = 1 } SaBoolT;

typedef char SaInt8T;
typedef short SaInt16T;
typedef int SaInt32T;
typedef long long SaInt64T;
typedef unsigned char SaUint8T;
typedef unsigned short SaUint16T;
typedef unsigned int SaUint32T;
typedef unsigned long long SaUint64T;

/* Nanoseconds; absolute times count from 1970-01-01 00:00 UTC. */
typedef SaInt64T SaTimeT;
typedef SaUint64T SaInvocationT;
typedef SaUint64T SaSizeT;
typedef SaUint64T SaOffsetT;
typedef SaUint64T SaSelectionObjectT;

#define SA_TIME_END ((SaTimeT)0x7FFFFFFFFFFFFFFFLL)
#define SA_TIME_MAX SA_TIME_END
#define SA_TIME_BEGIN ((SaTimeT)0)
#define SA_TIME_UNKNOWN ((SaTimeT)(-0x7FFFFFFFFFFFFFFFLL - 1))
#define SA_TIME_ONE_MICROSECOND ((SaTimeT)1000)
#define SA_TIME_ONE_MILLISECOND ((SaTimeT)1000000)
#define SA_TIME_ONE_SECOND ((SaTimeT)1000000000)
#define SA_TIME_ONE_MINUTE ((SaTimeT)60000000000LL)
#define SA_TIME_ONE_HOUR ((SaTimeT)3600000000000LL)
#define SA_TIME_ONE_DAY ((SaTimeT)86400000000000LL)

#define SA_MAX_NAME_LENGTH 256

typedef struct {
    SaUint16T length;
    SaUint8T value[SA_MAX_NAME_LENGTH];
} SaNameT;

typedef struct {
    SaUint8T releaseCode;
    SaUint8T majorVersion;
    SaUint8T minorVersion;
} SaVersionT;

typedef enum { SA_DISPATCH_ONE = 1, SA_DISPATCH_ALL = 2, SA_DISPATCH_BLOCKING = 3 } SaDispatchFlagsT;

typedef enum {
    SA_AIS_OK = 1,
    SA_AIS_ERR_LIBRARY = 2,
    SA_AIS_ERR_VERSION = 3,
    SA_AIS_ERR_INIT = 4,
    SA_AIS_ERR_TIMEOUT = 5,
    SA_AIS_ERR_TRY_AGAIN = 6,
    SA_AIS_ERR_INVALID_PARAM = 7,
    SA_AIS_ERR_NO_MEMORY = 8,
    SA_AIS_ERR_BAD_HANDLE = 9,
    SA_AIS_ERR_BUSY = 10,
    SA_AIS_ERR_ACCESS = 11,
    SA_AIS_ERR_NOT_EXIST = 12,
    SA_AIS_ERR_NAME_TOO_LONG = 13,
    SA_AIS_ERR_EXIST = 14,
    SA_AIS_ERR_NO_SPACE = 15,
    SA_AIS_ERR_INTERRUPT = 16,
    SA_AIS_ERR_NAME_NOT_FOUND = 17,
    SA_AIS_ERR_NO_RESOURCES = 18,
    SA_AIS_ERR_NOT_SUPPORTED = 19,
    SA_AIS_ERR_BAD_OPERATION = 20,
    SA_AIS_ERR_FAILED_OPERATION = 21,
    SA_AIS_ERR_MESSAGE_ERROR = 22,
    SA_AIS_ERR_QUEUE_FULL = 23,
    SA_AIS_ERR_QUEUE_NOT_AVAILABLE = 24,
    SA_AIS_ERR_BAD_FLAGS = 25,
    SA_AIS_ERR_TOO_BIG = 26,
    SA_AIS_ERR_NO_SECTIONS = 27,
    SA_AIS_ERR_NO_OP = 28,
    SA_AIS_ERR_REPAIR_PENDING = 29,
    SA_AIS_ERR_NO_BINDINGS = 30,
    SA_AIS_ERR_UNAVAILABLE = 31,
    SA_AIS_ERR_CAMPAIGN_ERROR_DETECTED = 32,
    SA_AIS_ERR_CAMPAIGN_PROC_FAILED = 33,
    SA_AIS_ERR_CAMPAIGN_CANCELED = 34,
    SA_AIS_ERR_CAMPAIGN_FAILED = 35,
    SA_AIS_ERR_CAMPAIGN_SUSPENDED = 36,
    SA_AIS_ERR_CAMPAIGN_SUSPENDING = 37,
    SA_AIS_ERR_ACCESS_DENIED = 38,
    SA_AIS_ERR_NOT_READY = 39,
    SA_AIS_ERR_DEPLOYMENT = 40
} SaAisErrorT;

#ifdef __cplusplus
}
#endif

#endif /* HOTSPARE_SA_AIS_H */

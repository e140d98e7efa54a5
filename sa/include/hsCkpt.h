/*
 * hsCkpt.h: Hotspare's extensions to the SA Forum Checkpoint C API (prefix hsCkpt, never sa), in
 * libSaCkpt.so.1 beside the saCkpt* functions. docs/SA_COMPATIBILITY.md describes them.
 *
 *  - Hot standby: hsCkptSectionChangeTrack() delivers every section that changes (on this node: a
 *    local writer's commit, or, on a standby node, a commit applied from the active replica) to a
 *    callback, with the section's bytes, through the same selection object and saCkptDispatch()
 *    loop as the SA callbacks (as SAFplus's clCkptImmediateConsumptionRegister did).
 *  - Zero copy: hsCkptSectionWriteBegin() hands out a pointer into the section's shared memory;
 *    the application stores into it in place and commits; hsCkptSectionReadView() lets a callback
 *    look at a consistent state of the section in place, without copying it.
 *  - hsCkptLastErrorText(): the sentence behind the calling thread's last error code.
 */
#ifndef HOTSPARE_HS_CKPT_H
#define HOTSPARE_HS_CKPT_H

#include <saCkpt.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HS_CKPT_EXTENSION_VERSION 1

/* hsCkptSectionChangeTrack flags */
#define HS_CKPT_TRACK_DATA 0x1 /* deliver the section's bytes (else data is NULL, dataSize its size) */

/*
 * A section changed (or was created). `data` (dataSize bytes: the section's whole committed state
 * when HS_CKPT_TRACK_DATA is set) is valid during the call only. `sequence` is the checkpoint's
 * change sequence the delivery covers. A section deleted before the delivery is not reported.
 */
typedef void (*hsCkptSectionChangedCallbackT)(SaCkptCheckpointHandleT checkpointHandle,
                                              const SaCkptSectionIdT* sectionId, const void* data, SaSizeT dataSize,
                                              SaUint64T sequence, void* context);

/* Starts delivering changes of the checkpoint through saCkptDispatch() on its SaCkptHandleT. The
 * first delivery covers changes after this call. OK, BAD_HANDLE, INVALID_PARAM (no callback, unknown
 * flags), EXIST (already tracked), NO_RESOURCES, TRY_AGAIN, LIBRARY. */
SaAisErrorT hsCkptSectionChangeTrack(SaCkptCheckpointHandleT checkpointHandle, SaUint32T flags,
                                     hsCkptSectionChangedCallbackT callback, void* context);
/* Stops it; pending deliveries are dropped. OK, BAD_HANDLE, NOT_EXIST (not tracked), LIBRARY. */
SaAisErrorT hsCkptSectionChangeTrackStop(SaCkptCheckpointHandleT checkpointHandle);

typedef SaUint64T hsCkptWriteTxHandleT;

/*
 * Opens an in-place write transaction on a section: *data points at its capacity bytes in shared
 * memory (valid until commit or abort), *size is its current size. Waits up to `timeout` while
 * another process writes the section. Other writers and readers see nothing until the commit.
 * OK, BAD_HANDLE, INVALID_PARAM, ACCESS (not open for write), NOT_EXIST (no such section, or no
 * active replica on this node), BUSY (this process already writes it), TIMEOUT, TRY_AGAIN, LIBRARY.
 */
SaAisErrorT hsCkptSectionWriteBegin(SaCkptCheckpointHandleT checkpointHandle, const SaCkptSectionIdT* sectionId,
                                    SaTimeT timeout, void** data, SaSizeT* capacity, SaSizeT* size,
                                    hsCkptWriteTxHandleT* tx);
/* Marks [offset, offset+length) as changed: only marked blocks are captured and replicated (a
 * transaction that marks nothing commits the whole section). OK, BAD_HANDLE, INVALID_PARAM. */
SaAisErrorT hsCkptSectionWriteMark(hsCkptWriteTxHandleT tx, SaOffsetT offset, SaSizeT length);
/*
 * Publishes the transaction with the section's new size. timeout 0: return at once (replication
 * follows); otherwise wait up to `timeout` until every replica applied it (SA_TIME_END: no limit).
 * The handle is invalid afterwards. OK, BAD_HANDLE, INVALID_PARAM (size above the capacity),
 * TIMEOUT (published, not yet acknowledged), TRY_AGAIN (a required replica is down: published here
 * only), LIBRARY.
 */
SaAisErrorT hsCkptSectionWriteCommit(hsCkptWriteTxHandleT tx, SaSizeT newSize, SaTimeT timeout);
/* Gives the section back unchanged. OK, BAD_HANDLE, LIBRARY. */
SaAisErrorT hsCkptSectionWriteAbort(hsCkptWriteTxHandleT tx);

/* Called with a consistent committed state of a section, in place. It may be called more than once
 * (a writer overlapped the previous call): act on what it saw only after hsCkptSectionReadView returns. */
typedef void (*hsCkptSectionViewCallbackT)(const void* data, SaSizeT size, void* context);
/* OK, BAD_HANDLE, INVALID_PARAM, ACCESS (not open for read), NOT_EXIST, TIMEOUT, TRY_AGAIN, LIBRARY. */
SaAisErrorT hsCkptSectionReadView(SaCkptCheckpointHandleT checkpointHandle, const SaCkptSectionIdT* sectionId,
                                  hsCkptSectionViewCallbackT view, void* context);

/* The calling thread's last failure of this library, in words ("" after a success); never NULL. */
const char* hsCkptLastErrorText(void);

#ifdef __cplusplus
}
#endif

#endif /* HOTSPARE_HS_CKPT_H */

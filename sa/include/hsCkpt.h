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
 *  - Roles: hsCkptRoleTrack() tells the application "you are active, epoch N" / "you are standby"
 *    (and what a step-down of this node's active gave up) through the same selection object and
 *    saCkptDispatch() loop, as AMF's CSI assignment drives csa103: the cluster manager (Pacemaker
 *    and ocf:hotspare:ckptd, docs/CLUSTER.md) promotes or demotes the node's replica, and every
 *    process that tracks the checkpoint's role learns it. No signal, no polling.
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

/* This node's role for a checkpoint (hsCkptRoleTrack). */
typedef enum {
    HS_CKPT_ROLE_LOCAL = 0,  /* no replication (a node-local engine): commit here */
    HS_CKPT_ROLE_ACTIVE = 1, /* this node's replica is the active one: commit here */
    HS_CKPT_ROLE_STANDBY = 2 /* a replica following activeNode: read, and wait to be told "active" */
} hsCkptRoleT;

typedef struct {
    hsCkptRoleT role;
    SaUint64T epoch;      /* of that role: (promotion count << 16) | the node that promoted */
    SaUint32T activeNode; /* the active replica's node (0: not known yet) */
    /* Set when this node's active stepped down since the previous delivery and gave up commits no
     * standby had acknowledged: how many, and their range in the checkpoint's change sequence (the
     * `sequence` of hsCkptSectionChangedCallbackT). The sections are named in ckptd's log. */
    SaUint32T lostCommits;
    SaUint64T lostFirstChange;
    SaUint64T lostLastChange;
} hsCkptRoleEventT;

/* The role changed (the first delivery after hsCkptRoleTrack reports the current role). `event` is
 * valid during the call only. An application told HS_CKPT_ROLE_ACTIVE calls
 * saCkptActiveReplicaSet() (or reopens for write) and commits; one told HS_CKPT_ROLE_STANDBY stops
 * writing. */
typedef void (*hsCkptRoleCallbackT)(SaCkptCheckpointHandleT checkpointHandle, const hsCkptRoleEventT* event,
                                    void* context);

/* Starts delivering the checkpoint's role changes through saCkptDispatch() on its SaCkptHandleT; the
 * first delivery (at the next dispatch) reports the current role. It shares the selection object
 * with hsCkptSectionChangeTrack. OK, BAD_HANDLE, INVALID_PARAM (no callback), EXIST (already
 * tracked), NO_RESOURCES, TRY_AGAIN, LIBRARY. */
SaAisErrorT hsCkptRoleTrack(SaCkptCheckpointHandleT checkpointHandle, hsCkptRoleCallbackT callback, void* context);
/* Stops it; a pending delivery is dropped. OK, BAD_HANDLE, NOT_EXIST (not tracked), LIBRARY. */
SaAisErrorT hsCkptRoleTrackStop(SaCkptCheckpointHandleT checkpointHandle);

/* The calling thread's last failure of this library, in words ("" after a success); never NULL. */
const char* hsCkptLastErrorText(void);

#ifdef __cplusplus
}
#endif

#endif /* HOTSPARE_HS_CKPT_H */

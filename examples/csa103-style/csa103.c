/*
 * csa103-style: an active/standby counter on the SA Forum Checkpoint C API, in the shape of the
 * SAFplus csa103 tutorial, written for Hotspare. Plain C99; builds against the installed headers
 * with nothing but -lSaCkpt:
 *
 *     cc -std=c99 -Wall -Werror csa103.c -lSaCkpt -o csa103
 *
 *   csa103 active     create the checkpoint if needed, become its active replica, and count: each
 *                     number is written to section "csa103-seq", then synchronized to the standby
 *                     replicas; "acked N" is printed once the synchronize callback says N arrived
 *   csa103 standby    follow the checkpoint on another node: hot-standby deliveries print what it
 *                     sees; when told "you are active, epoch N" (hsCkptRoleTrack: the cluster
 *                     manager promoted this node's replica, as AMF's CSI assignment tells csa103)
 *                     take over: saCkptActiveReplicaSet, read the last number, continue counting
 *                     after it. An active told "you are standby" (a newer active elsewhere) stops
 *                     writing, prints what its step-down gave up, and follows again.
 *
 * ckptd's socket comes from $CKPT_SOCKET. The selection object is watched with select() and every
 * callback (synchronize, hot-standby changes, roles) runs in saCkptDispatch, as in the tutorial;
 * no signal but SIGTERM (stop).
 */
#define _POSIX_C_SOURCE 200809L
#include <hsCkpt.h>
#include <saCkpt.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#define CKPT_NAME "safCkpt=csa103Ckpt,safApp=safCkptService"
#define SEQ_SECTION "csa103-seq"
#define PID_SECTION "csa103-pid"

static volatile sig_atomic_t g_stop = 0;
static const char *g_role = "active";
static SaUint32T g_acked = 0;
/* This node's role as the last role delivery said (HS_CKPT_ROLE_*); -1 until the first one. */
static int g_told = -1;
static void on_term(int sig) {
    (void)sig;
    g_stop = 1;
}

static void check(SaAisErrorT rc, const char *what) {
    if (rc != SA_AIS_OK) {
        fprintf(stderr, "%s[%d]: %s failed: error %d (%s)\n", g_role, (int)getpid(), what, (int)rc,
                hsCkptLastErrorText());
        exit(1);
    }
}

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static void set_name(SaNameT *n, const char *s) {
    n->length = (SaUint16T)strlen(s);
    memcpy(n->value, s, n->length);
}

static void section_id(SaCkptSectionIdT *id, const char *s) {
    id->idLen = (SaUint16T)strlen(s);
    id->id = (SaUint8T *)s;
}

/* The synchronize callback: every number written before the call is on every replica now. */
static void sync_done(SaInvocationT invocation, SaAisErrorT error) {
    if (error == SA_AIS_OK) {
        if ((SaUint32T)invocation > g_acked) g_acked = (SaUint32T)invocation;
        printf("%s[%d]: acked %u\n", g_role, (int)getpid(), (unsigned)invocation);
    } else {
        printf("%s[%d]: synchronize of %u failed: %d\n", g_role, (int)getpid(), (unsigned)invocation, (int)error);
    }
    fflush(stdout);
}

/* Hot standby (Hotspare's extension): a section changed on the active node and arrived here. */
static void changed(SaCkptCheckpointHandleT ckpt, const SaCkptSectionIdT *id, const void *data, SaSizeT size,
                    SaUint64T sequence, void *context) {
    static SaUint32T printed = 0;
    SaUint32T v;
    (void)ckpt;
    (void)sequence;
    (void)context;
    if (id->idLen == strlen(SEQ_SECTION) && memcmp(id->id, SEQ_SECTION, id->idLen) == 0 && size == sizeof v) {
        memcpy(&v, data, sizeof v);
        if (printed == 0 || v >= printed + 50) { /* one line per 50 numbers keeps the log short */
            printed = v;
            printf("standby[%d]: sees %u\n", (int)getpid(), (unsigned)v);
            fflush(stdout);
        }
    }
}

/* Roles (Hotspare's extension): the cluster manager promoted or demoted this node's replica. */
static void role_changed(SaCkptCheckpointHandleT ckpt, const hsCkptRoleEventT *e, void *context) {
    (void)ckpt;
    (void)context;
    if (e->role == HS_CKPT_ROLE_ACTIVE)
        printf("%s[%d]: role: active, epoch %llu\n", g_role, (int)getpid(), (unsigned long long)e->epoch);
    else if (e->role == HS_CKPT_ROLE_STANDBY)
        printf("%s[%d]: role: standby (active node %u)\n", g_role, (int)getpid(), (unsigned)e->activeNode);
    else
        printf("%s[%d]: role: local (no replication)\n", g_role, (int)getpid());
    if (e->lostCommits > 0)
        printf("%s[%d]: stepping down gave up %u commits never acknowledged (changes %llu..%llu)\n", g_role,
               (int)getpid(), (unsigned)e->lostCommits, (unsigned long long)e->lostFirstChange,
               (unsigned long long)e->lostLastChange);
    fflush(stdout);
    g_told = (int)e->role;
}

static SaUint32T read_counter(SaCkptCheckpointHandleT ckpt) {
    SaUint32T value = 0;
    SaUint32T bad = 0;
    SaCkptIOVectorElementT iov;
    SaAisErrorT rc;
    memset(&iov, 0, sizeof iov);
    section_id(&iov.sectionId, SEQ_SECTION);
    iov.dataBuffer = &value;
    iov.dataSize = sizeof value;
    rc = saCkptCheckpointRead(ckpt, &iov, 1, &bad);
    if (rc == SA_AIS_ERR_NOT_EXIST) return 0; /* never written */
    check(rc, "saCkptCheckpointRead");
    return iov.readSize == sizeof value ? value : 0;
}

/* Waits up to `ms` on the selection object and dispatches what is pending. */
static void pump(SaCkptHandleT handle, SaSelectionObjectT fd, long ms) {
    fd_set set;
    struct timeval tv;
    FD_ZERO(&set);
    FD_SET((int)fd, &set);
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    if (select((int)fd + 1, &set, NULL, NULL, &tv) > 0) check(saCkptDispatch(handle, SA_DISPATCH_ALL), "saCkptDispatch");
}

static int count(SaCkptHandleT handle, SaSelectionObjectT fd, SaCkptCheckpointHandleT ckpt) {
    SaCkptSectionIdT seq_id, pid_id;
    SaUint32T n = read_counter(ckpt);
    SaUint32T pid = (SaUint32T)getpid();
    SaAisErrorT rc;
    section_id(&seq_id, SEQ_SECTION);
    section_id(&pid_id, PID_SECTION);
    printf("%s[%d]: resuming after %u\n", g_role, (int)getpid(), (unsigned)n);
    fflush(stdout);
    while (!g_stop && g_told != HS_CKPT_ROLE_STANDBY) {
        SaCkptIOVectorElementT iov[2];
        n += 1;
        memset(iov, 0, sizeof iov);
        iov[0].sectionId = seq_id;
        iov[0].dataBuffer = &n;
        iov[0].dataSize = sizeof n;
        iov[1].sectionId = pid_id;
        iov[1].dataBuffer = &pid;
        iov[1].dataSize = sizeof pid;
        rc = saCkptCheckpointWrite(ckpt, iov, 2, NULL);
        if (rc == SA_AIS_OK) rc = saCkptCheckpointSynchronizeAsync(ckpt, n);
        if (rc != SA_AIS_OK) {
            /* Demoted under our feet (the role delivery follows): stop writing, not an error. */
            pump(handle, fd, 5);
            if (g_told == HS_CKPT_ROLE_STANDBY) break;
            check(rc, "saCkptCheckpointWrite/SynchronizeAsync");
        }
        pump(handle, fd, 5);
    }
    if (!g_stop) {
        printf("%s[%d]: told standby: no longer writing after %u\n", g_role, (int)getpid(), (unsigned)n);
        fflush(stdout);
    }
    return 0;
}

/* Follows the checkpoint until the cluster manager makes this node's replica the active one. */
static void follow(SaCkptHandleT handle, SaSelectionObjectT fd, SaCkptCheckpointHandleT ckpt) {
    SaAisErrorT rc;
    check(hsCkptSectionChangeTrack(ckpt, HS_CKPT_TRACK_DATA, changed, NULL), "hsCkptSectionChangeTrack");
    printf("%s[%d]: following " CKPT_NAME "\n", g_role, (int)getpid());
    fflush(stdout);
    while (!g_stop && g_told != HS_CKPT_ROLE_ACTIVE && g_told != HS_CKPT_ROLE_LOCAL) pump(handle, fd, 200);
    check(hsCkptSectionChangeTrackStop(ckpt), "hsCkptSectionChangeTrackStop");
    if (g_stop) return;
    /* This node's replica is the active one now: take the write side (idempotent after a promotion). */
    while ((rc = saCkptActiveReplicaSet(ckpt)) == SA_AIS_ERR_TRY_AGAIN) sleep_ms(10);
    check(rc, "saCkptActiveReplicaSet");
    printf("%s[%d]: TAKEOVER: active replica set; last number in the checkpoint: %u\n", g_role, (int)getpid(),
           (unsigned)read_counter(ckpt));
    fflush(stdout);
}

int main(int argc, char **argv) {
    SaCkptHandleT handle;
    SaCkptCallbacksT callbacks = {NULL, sync_done};
    SaVersionT version = {'B', 1, 1};
    SaSelectionObjectT fd;
    SaNameT name;
    SaCkptCheckpointHandleT ckpt;
    SaAisErrorT rc;
    /* csa103's attributes: at most 2 sections of at most 4 bytes. checkpointSize is the bytes the
       sections hold together (the spec's net size): csa103 keeps one counter in 4 bytes; this one
       also keeps the writer's pid, so 8. */
    SaCkptCheckpointCreationAttributesT attrs = {SA_CKPT_WR_ACTIVE_REPLICA | SA_CKPT_CHECKPOINT_COLLOCATED,
                                                 2 * sizeof(SaUint32T), SA_TIME_ONE_MINUTE, 2, sizeof(SaUint32T),
                                                 64};
    struct sigaction sa;

    if (argc != 2 || (strcmp(argv[1], "active") != 0 && strcmp(argv[1], "standby") != 0)) {
        fprintf(stderr, "usage: csa103 active|standby\n");
        return 2;
    }
    g_role = argv[1];
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);

    check(saCkptInitialize(&handle, &callbacks, &version), "saCkptInitialize");
    check(saCkptSelectionObjectGet(handle, &fd), "saCkptSelectionObjectGet");
    set_name(&name, CKPT_NAME);

    if (strcmp(g_role, "active") == 0) {
        SaCkptSectionIdT id;
        SaCkptSectionCreationAttributesT sc;
        check(saCkptCheckpointOpen(handle, &name, &attrs,
                                   SA_CKPT_CHECKPOINT_CREATE | SA_CKPT_CHECKPOINT_READ | SA_CKPT_CHECKPOINT_WRITE,
                                   5 * SA_TIME_ONE_SECOND, &ckpt),
              "saCkptCheckpointOpen");
        check(saCkptActiveReplicaSet(ckpt), "saCkptActiveReplicaSet");
        sc.sectionId = &id;
        sc.expirationTime = SA_TIME_END;
        section_id(&id, SEQ_SECTION);
        rc = saCkptSectionCreate(ckpt, &sc, NULL, 0);
        if (rc != SA_AIS_ERR_EXIST) check(rc, "saCkptSectionCreate " SEQ_SECTION);
        section_id(&id, PID_SECTION);
        rc = saCkptSectionCreate(ckpt, &sc, NULL, 0);
        if (rc != SA_AIS_ERR_EXIST) check(rc, "saCkptSectionCreate " PID_SECTION);
        check(hsCkptRoleTrack(ckpt, role_changed, NULL), "hsCkptRoleTrack");
        for (;;) {
            count(handle, fd, ckpt);
            if (g_stop) return 0;
            follow(handle, fd, ckpt);
            if (g_stop) return 0;
        }
    }

    /* standby: the active's node creates the checkpoint; its replica appears here. */
    for (;;) {
        rc = saCkptCheckpointOpen(handle, &name, NULL, SA_CKPT_CHECKPOINT_READ | SA_CKPT_CHECKPOINT_WRITE,
                                  SA_TIME_ONE_SECOND, &ckpt);
        if (rc == SA_AIS_OK) break;
        if (rc != SA_AIS_ERR_NOT_EXIST && rc != SA_AIS_ERR_TRY_AGAIN) check(rc, "saCkptCheckpointOpen");
        if (g_stop) return 0;
        sleep_ms(10);
    }
    check(hsCkptRoleTrack(ckpt, role_changed, NULL), "hsCkptRoleTrack");
    for (;;) {
        follow(handle, fd, ckpt);
        if (g_stop) return 0;
        count(handle, fd, ckpt);
        if (g_stop) return 0;
    }
}

/* session_int.h - the session's internals, shared by handlers.c, remap.c
 * and the req_*.c files.  Nothing outside dap/ includes this. */
#ifndef KDAP_SESSION_INT_H
#define KDAP_SESSION_INT_H

#include <jansson.h>
#include <stdint.h>

#include "../adapters/adapter.h"
#include "../attach/attach.h"
#include "../kube/client.h"
#include "../kube/deploy.h"
#include "../kube/workload.h"
#include "frame.h"
#include "idmap.h"
#include "pathmap.h"
#include "session.h"

enum dap_sess_state {
    SS_NEW,        /* before initialize */
    SS_READY,      /* initialized, not attached */
    SS_ATTACHING,  /* attach in progress */
    SS_ATTACHED,   /* services running */
    SS_STOPPING,   /* disconnect/shutdown in progress */
    SS_DONE,       /* finished_fn called */
};

enum dap_svc_state {
    SVC_STARTING,
    SVC_READY,
    SVC_STOPPING,
    SVC_GONE,
};

struct dap_service {
    uint32_t id;          /* backend id in every idmap: index + 1 */
    char *name;
    char *runtime;
    adapter *ad;
    dap_pathmap paths;
    enum dap_svc_state state;
    int stopped;          /* the debuggee is stopped (last event) */
    char *where;          /* what we attached to, for messages */
    char *local_root;     /* localRoot given without remoteRoot, or NULL */
    json_t *cfg;          /* the service object, until its backend exists */
    attach_svc *attach;   /* attaching through the cluster, or NULL */
    int progress;         /* its attach progress is open in the editor */
    /* launch: the deployment kdap patches first and puts back at the end */
    char *launch_name;    /* NULL for an attach */
    char *launch_image;
    long launch_replicas;
    enum kube_probes launch_probes;
    int launch_deployed;  /* rolled out: the attach may start */
    int restore_state;    /* 0 not yet, 1 under way, 2 done */
    kube_deploy *deploy;
    kube_restore *restore;
    dap_session *sess;    /* for the launch callbacks */
};

/* Handler flags. */
#define DAP_H_ANY_STATE 0x01 /* allowed before attach */
#define DAP_H_FWD 0x02       /* forwarded to the service the ids name */
#define DAP_H_FOCUS 0x04     /* no id in the args: the focused service */
#define DAP_H_RESUMES 0x08   /* resumes the routed service */

struct dap_request;
typedef int dap_handler_fn(dap_session *s, struct dap_request *req,
                           json_t *args, json_t **body);

struct dap_handler {
    const char *command;
    dap_handler_fn *fn;
    unsigned flags;
    const char *cap; /* capability this handler implements, or NULL */
};

/* One request from the editor until its response is written. */
struct dap_request {
    struct dap_request *prev, *next; /* the session's live list */
    dap_session *s;
    int64_t seq;
    char *command;
    const struct dap_handler *h;
    json_t *args;            /* owned */
    struct dap_service *svc; /* routed service, if any */
    /* fan-out state */
    int outstanding;
    json_t *parts;           /* array: one backend response per service */
    json_t *extra;           /* handler's own bookkeeping */
    struct dap_error err;    /* detail of a handler's failure */
};

struct dap_session {
    uv_loop_t *loop;
    struct dap_session_callbacks cb;
    enum dap_sess_state state;
    dap_frame in;
    dap_buf out;         /* serialisation buffer, reused */
    int64_t out_seq;
    /* what the editor told us in initialize */
    int lines_start_at_1;
    int columns_start_at_1;
    int client_progress;
    int client_var_type;
    /* services */
    struct dap_service **svc;
    size_t nsvc;
    struct dap_service *focused; /* last one that stopped */
    kube_client *kube;   /* the cluster, when a service has a target */
    const struct attach_ops *attach; /* how a target is attached */
    /* ids the editor sees */
    dap_idmap threads;   /* session-scoped */
    dap_idmap frames;    /* stop-scoped */
    dap_idmap vars;      /* stop-scoped */
    dap_idmap bps;       /* session-scoped */
    dap_idmap sources;   /* session-scoped */
    struct dap_request *live; /* requests awaiting their response */
    struct dap_request *attach_req;  /* the attach awaiting backends */
    int launching;                   /* the request is a launch */
    char launch_id[64];              /* this session, in the annotation */
    struct dap_request *stop_req;    /* disconnect/terminate in progress */
    int terminated_sent;
    int finish_status;
    uv_timer_t reaper;   /* deferred frees and finishing, from the loop */
    uv_timer_t grace;    /* exit after `terminated` if no disconnect */
    int congested;             /* output over the high-water mark */
    unsigned long out_dropped; /* output events dropped meanwhile */
    size_t out_dropped_bytes;  /* and their text */
    json_t *named_paths; /* set of local paths a backend named (req_source.c) */
    struct dap_source_read *source_reads; /* files being read for `source` */
    struct dap_cluster_load *cluster_load; /* kubeconfig being read (attach) */
    int closing;
};

/* ---- handlers.c ---- */
const struct dap_handler *dap__handler_find(const char *command);
size_t dap__handler_count(void);
const struct dap_handler *dap__handler_at(size_t i);
/* Answer `req` and free it.  `body_new` stolen. */
void dap__respond(dap_session *s, struct dap_request *req, json_t *body_new);
void dap__respond_err(dap_session *s, struct dap_request *req, int code,
                      const char *fmt, ...) DAP_PRINTF(4, 5);
/* A backend's failure (status < 0, `err` its detail): the error id is the
 * backend's code, so the editor can tell "not stopped" from a stale
 * reference from the debugger's own refusal. */
void dap__respond_backend_err(dap_session *s, struct dap_request *req,
                              struct dap_service *svc, int status,
                              const struct dap_error *err);

/* Run one parsed message (borrowed) through the handler table. */
void dap__dispatch(dap_session *s, json_t *msg);

/* ---- session.c ---- */
void dap__set_state(dap_session *s, enum dap_sess_state st);
/* Create a service from its attach object; it starts with the others. */
int dap__service_add(dap_session *s, const char *name, const char *runtime,
                     json_t *cfg, const char *where, struct dap_error *err)
    DAP_WUR;
void dap__send(dap_session *s, json_t *msg_new);
/* Is the editor behind on reading (output above the high-water mark)? */
int dap__congested(dap_session *s);
void dap__event(dap_session *s, const char *event, json_t *body_new);
void dap__output(dap_session *s, const char *category, const char *fmt, ...)
    DAP_PRINTF(3, 4);
struct dap_service *dap__service_by_id(dap_session *s, uint32_t id);
size_t dap__services_alive(dap_session *s);
void dap__reset_stopped_ids(dap_session *s, struct dap_service *svc);
void dap__service_start_all(dap_session *s);
/* launch's keys of one service (image, replicas, probes): 0, or an error
 * naming the key. */
int dap__launch_init(dap_session *s, struct dap_service *svc, json_t *cfg,
                     struct dap_error *err);
/* Free every service now (never from inside an adapter callback). */
void dap__services_drop(dap_session *s);
void dap__stop_all(dap_session *s, enum adapter_stop_mode mode);
void dap__finish(dap_session *s, int status);
void dap__schedule_reap(dap_session *s);

/* Let go of a service's attach orchestration (its tunnel too). */
void dap__attach_drop(dap_session *s, struct dap_service *svc);

/* ---- remap.c ---- */
/* Rewrite a message part from a backend into the editor's terms (ids,
 * paths, line bases), in place.  Returns 0 or DAP_ENOMEM. */
int dap__remap_to_client(dap_session *s, struct dap_service *svc,
                         json_t *j);
/* Rewrite the ids in request arguments from the editor into the backend's
 * terms, in place, and find the service they name (*svc stays NULL if no id names
 * one).  Returns 0, DAP_ESTALE or DAP_EINVAL with detail in err. */
int dap__remap_to_backend(dap_session *s, json_t *args,
                          struct dap_service **svc, struct dap_error *err);
/* Map every Source path in request arguments to the service's paths. */
void dap__paths_to_backend(struct dap_service *svc, json_t *args);
/* Path mapping of a Source object's path for one service, in place. */
void dap__source_to_backend(struct dap_service *svc, json_t *source);

/* ---- handlers (req_*.c) ---- */
dap_handler_fn dap__req_initialize;
dap_handler_fn dap__req_attach;
/* The session ends: a kubeconfig load in the thread pool lets go of it. */
void dap__attach_detach(dap_session *s);
dap_handler_fn dap__req_launch;
dap_handler_fn dap__req_disconnect;
dap_handler_fn dap__req_terminate;
dap_handler_fn dap__req_forward;
dap_handler_fn dap__req_threads;
dap_handler_fn dap__req_set_breakpoints;
dap_handler_fn dap__req_set_function_breakpoints;
dap_handler_fn dap__req_set_exception_breakpoints;
dap_handler_fn dap__req_configuration_done;
dap_handler_fn dap__req_source;
/* req_source.c: a backend named this local path to the editor (a Source
 * object), so `source` may read it. */
void dap__source_named(dap_session *s, const char *path);
/* The session ends: the reads in flight let go of their requests (which
 * the session answers) and clean up after themselves. */
void dap__source_detach_all(dap_session *s);

#endif

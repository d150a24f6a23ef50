/* cmd_serve.c: `knn serve [MODEL]`: an HTTP server (libmicrohttpd) for the interactive
 * decision-boundary demo and, with a model, for classifying uploaded photos.
 *
 *   GET  /                 the demo page (web/demo.html, built in)
 *   POST /api/boundary     {"points": [{"x", "y", "label"}...], "k", "metric", "weights",
 *                          "grid"} -> {"labels": [grid x grid], "tied": [...], ...}: the plane
 *                          [0, 1]^2 classified by the library's own search and vote
 *   GET  /upload           a page to classify photos with the model (web/upload.html)
 *   POST /api/classify     the image's bytes -> {"label", "name", "top": [...5],
 *                          "neighbors": [...K], "seen": the photo as knn sees it (PNG)}
 *   GET  /api/row/N.png    training image N of the model, from its stored pixels (or, for
 *                          features, the stored images they were computed from)
 *   GET  /api/info         the model: classes, K, metric, image size, how it searches
 * No page or answer holds an absolute path: image paths are given relative to the folder
 * that holds all of the model's images (--show-paths gives them whole), the model by its
 * file name.
 * Other methods answer 405 with an Allow header, other paths 404. Requests are parsed with
 * cJSON (boundary.c) and checked against limits; anything out of range answers 400 with
 * {"error": "..."}; the server keeps serving. It binds to 127.0.0.1 unless --host says
 * otherwise. Names from the file system (classes, paths) can be any bytes: they are made
 * valid UTF-8 (cli_utf8_copy) before they go into JSON.
 *
 * Clients may be hostile: slow on purpose, many, or sending what costs most. The defences,
 * each number a #define below with its reason:
 *  - One thread per connection (poll, not select, so that sockets numbered over FD_SETSIZE
 *    work): a request that waits for its turn or decodes a photo holds its own thread only,
 *    never another client's request. MAX_CONNECTIONS bounds the threads, and
 *    CLIENT_CONNECTIONS the share of one client address.
 *  - A deadline per request (--request-timeout): headers, body and the wait for a worker must
 *    fit in it. libmicrohttpd only times out idle connections, so a watchdog thread shuts
 *    down (shutdown(2)) the socket of every connection past its deadline. Connections are
 *    registered by libmicrohttpd's STARTED and CLOSED notifications under the lock the
 *    watchdog holds, and libmicrohttpd 0.9.75 sends CLOSED before it closes the socket
 *    (daemon.c: MHD_cleanup_connections, and the failure path of internal_add_connection),
 *    so a socket number is never shut down after it has been closed and reused. While a
 *    request is being worked on, the handler bounds its own time (the wait for a worker ends
 *    at the deadline; decoding is bounded by the library's limits), and its answer then gets
 *    a deadline of its own to be sent.
 *  - Workers: at most --threads requests decode and classify at once (photos, boundary
 *    grids); the others wait their turn until their deadline, then answer 503. Pages and
 *    /api/info are answered at once and never wait behind that work.
 *  - Bodies: the limit of each endpoint is checked against Content-Length before the body is
 *    read (413 at once), and again as a chunked body grows. Memory for bodies is reserved
 *    from a budget in all and per client address, from Content-Length (503 at once when it
 *    does not fit) and as a chunked body grows; the body itself is kept in memory, never in
 *    a temporary file.
 *  - SIGINT / SIGTERM: waiting requests give up at once, connections are shut down, and if
 *    requests still decoding have not finished within SHUTDOWN_GRACE_S the process exits
 *    without them.
 * The model is read into memory (private_copy), not mapped, so that replacing or
 * overwriting the file cannot reach the server. */
#include "cli.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bodies: a boundary request of 2,000 points is about 100 KiB of JSON, so 1 MiB is plenty;
 * 16 MiB holds any photo worth classifying at the model's small size. */
#define MAX_JSON_BODY ((size_t)1 << 20)
#define MAX_IMAGE_BODY ((size_t)16 << 20)
/* Memory for bodies in all: four photos of the largest size at once; and per client
 * address: one of them, so that one client's stalled uploads cannot lock the others out. */
#define BODY_BUDGET ((size_t)64 << 20)
#define CLIENT_BODY_BUDGET MAX_IMAGE_BODY
/* Connections, each with its thread (8 MiB of stack reserved, little of it used). A browser
 * opens up to 6 per server; a connection still counts for its address until libmicrohttpd
 * has joined its thread, so 12 clients behind one address closing and opening connections
 * quickly were measured to hold 14 at once. 32 per address leaves room for that while one
 * client holds at most 1/8 of them. */
#define MAX_CONNECTIONS 256u
#define CLIENT_CONNECTIONS 32u
/* A whole request, from the connection's start (or the previous answer on it) to the
 * answer: a 16 MiB photo over a 1 MB/s link takes 16 s, so 30 s leaves room for slow links
 * while a slow client's connections are freed twice a minute. Idle connections between
 * requests are closed sooner. */
#define REQUEST_TIMEOUT_S 30
#define IDLE_TIMEOUT_S 15u
/* How often the watchdog looks: a connection is cut at most this late. */
#define WATCHDOG_TICK_S 0.25
/* An answer given before the body was read (413, 503, 404, 405): how long the body still
 * coming is read and dropped before the connection closes. Closing a socket with unread data
 * resets the connection, and a client still sending (one that does not ask for "100
 * Continue") would lose the answer; 2 s lets a fast client finish, a slow one cannot hold
 * the connection for long. */
#define LINGER_S 2.0
/* Requests decoded and classified at once (--threads): both cores of a small machine. */
#define DEFAULT_WORKERS 2
/* Ctrl-C: the longest the server waits for requests still decoding (a photo within the
 * library's limits decodes in a few seconds at most). */
#define SHUTDOWN_GRACE_S 5


static const char help[] =
    "usage: knn serve [MODEL] [--host ADDRESS] [--port N] [--threads N]\n"
    "                 [--request-timeout SECONDS]\n"
    "\n"
    "Serve the interactive decision-boundary demo (points in the plane, L1 or L2, K from 1\n"
    "to 7, uniform or distance votes, ties in white) at http://HOST:PORT/, classified by\n"
    "knn's own search and vote; with MODEL (from 'knn fit'), also a page to classify a photo\n"
    "(/upload: drop, choose or paste photos; each is shown as knn sees it, with its top\n"
    "classes as bars and its K nearest training images) and the JSON API /api/classify.\n"
    "See the README for the API.\n"
    "\n"
    "  --host ADDRESS     the address to listen on (default 127.0.0.1: this machine only)\n"
    "  --port N           the port (default 8080; 0: any free port, printed)\n"
    "  --threads N        requests decoded and classified at once (photos and boundary\n"
    "                     grids; default 2); others wait their turn up to their deadline,\n"
    "                     then answer 503. Pages and /api/info never wait.\n"
    "  --request-timeout SECONDS\n"
    "                     the most one request may take, headers, body and waiting\n"
    "                     included (default 30); slower connections are cut off\n"
    "  --show-paths       give the neighbours' image paths whole in /api/classify (by\n"
    "                     default they are relative to the folder that holds them all, so\n"
    "                     that no page shows where the server keeps its files)\n"
    CLI_INDEX_HELP
    "  -q, --quiet        no start-up line\n"
    "  -h, --help         this help\n"
    "  --features NET.onnx  MODEL's images and every photo are run through this network\n"
    "                     and classified by their features (--scale, --mean, --std, --bgr,\n"
    "                     --batch, --quantize as in 'knn eval --help'); a model made by 'knn fit\n"
    "                     --features' holds its network and needs no option\n"
    "\n"
    "Limits: bodies of 1 MiB of JSON and 16 MiB of image (413, refused from Content-Length\n"
    "before they are sent); 64 MiB of bodies in memory in all and 16 MiB per client address\n"
    "(503 beyond); 256 connections, 32 per client address; idle connections closed after\n"
    "15 s; photos of at most 64 megapixels and 256 MiB decoded, JPEG, PNG, BMP, GIF or PGM/PPM\n"
    "(400, checked before decoding). The model is read into memory: changing its file does\n"
    "not reach the server. Ctrl-C stops it within 5 s.\n";

/* The pages, built in from web/ (Makefile). Everything from the server (class names, paths)
 * goes into them as text (textContent), never as HTML: a class folder may be named
 * "<img onerror=...>". */
extern const char knn_demo_html[], knn_upload_html[];

#define NO_MODEL "no model: start the server as 'knn serve MODEL'"

/* A connection, from libmicrohttpd's STARTED to its CLOSED notification. */
typedef struct conn {
    struct conn *prev, *next;
    int fd;
    in_addr_t client; /* the client's IPv4 address (the server listens on IPv4)          */
    double start;     /* when the current request's time began (cli_now)                */
    bool working;     /* in the handler's last call: the handler bounds its own time     */
    bool cut;         /* shut down by the watchdog                                       */
    bool linger;      /* answered before its body was read: see LINGER_S                 */
    size_t reserved;  /* bytes of BODY_BUDGET reserved for the current request's body    */
} conn;

typedef struct {
    const knn_dataset *model;
    bool pictures;     /* the model's rows are images (/api/row/N.png), not features      */
    size_t path_root;  /* bytes of the folder all image paths share, left out of answers */
    bool show_paths;   /* --show-paths: paths whole                                       */
    knn_params params;
    double timeout; /* seconds a request may take */
    int workers;    /* requests decoded and classified at once */
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t turn;  /* a worker is free, or the server is stopping */
    pthread_cond_t wake;  /* the watchdog's tick, or the server is stopping */
    conn *conns;
    int busy;        /* workers in use */
    size_t reserved; /* bytes reserved for bodies in all */
    bool stopping;
} server;

typedef enum { DEMO_PAGE, UPLOAD_PAGE, INFO, BOUNDARY, CLASSIFY, ROW } endpoint;

typedef struct {
    const char *path;
    endpoint what;
    size_t limit; /* the largest body; 0: no body, answered at once with GET or HEAD */
    const char *use; /* the 405 message */
} route;

static const route routes[] = {
    {"/", DEMO_PAGE, 0, "GET this page"},
    {"/upload", UPLOAD_PAGE, 0, "GET this page"},
    {"/api/info", INFO, 0, "GET the model's description here"},
    {"/api/boundary", BOUNDARY, MAX_JSON_BODY, "POST a JSON object here"},
    {"/api/classify", CLASSIFY, MAX_IMAGE_BODY, "POST an image here"},
};

typedef struct {
    conn *k;
    const route *r;
    char *body;
    size_t n, cap;
    size_t announced; /* Content-Length, 0 when chunked */
    unsigned refused; /* 0, or the status to answer once the body is over: 413, 503, 500 */
} request;

/* ---- time ------------------------------------------------------------------------------ */

/* The time t (seconds of CLOCK_MONOTONIC, as cli_now) for pthread_cond_timedwait. */
static struct timespec at_time(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    return ts;
}

/* ---- answers --------------------------------------------------------------------------- */

/* A response holding body (malloc'd, n bytes), freed with it, or at once on failure. */
static struct MHD_Response *response(char *body, size_t n)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
    if (!r)
        free(body);
    return r;
}

static enum MHD_Result send_response(struct MHD_Connection *c, unsigned status,
                                     struct MHD_Response *r, const char *type)
{
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result reply_page(struct MHD_Connection *c, const char *html)
{
    return send_response(c, MHD_HTTP_OK,
                         MHD_create_response_from_buffer(strlen(html), (void *)html,
                                                         MHD_RESPMEM_PERSISTENT),
                         "text/html; charset=utf-8");
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, cJSON *j)
{
    char *body = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return body ? send_response(c, status, response(body, strlen(body)), "application/json")
                : MHD_NO;
}

/* s as a JSON string, made valid UTF-8 first: names from file systems can be any bytes,
 * and JSON must be UTF-8. NULL when out of memory. */
static cJSON *text(const char *s)
{
    char *u = cli_utf8_copy(s);
    cJSON *j = u ? cJSON_CreateString(u) : NULL;
    free(u);
    return j;
}

/* {"error": msg} (messages may quote URLs and paths: any bytes); NULL when out of memory. */
static struct MHD_Response *error_response(const char *msg)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "error", text(msg));
    char *body = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return body ? response(body, strlen(body)) : NULL;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *fmt,
                                   ...) __attribute__((format(printf, 3, 4)));
static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *fmt,
                                   ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return send_response(c, status, error_response(msg), "application/json");
}

static enum MHD_Result reply_wrong_method(struct MHD_Connection *c, const route *r,
                                          const char *method)
{
    char msg[128];
    snprintf(msg, sizeof msg, "%.16s is not allowed: %s", method, r->use);
    struct MHD_Response *res = error_response(msg);
    if (res)
        MHD_add_response_header(res, "Allow", r->limit ? "POST" : "GET, HEAD");
    return send_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, res, "application/json");
}

/* ---- connections and their deadlines --------------------------------------------------- */

static conn *this_conn(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

/* A new connection joins the list the watchdog walks; one that cannot be listed (out of
 * memory) would have no deadline, so it is shut down at once. */
static void conn_started(server *s, struct MHD_Connection *c, void **ctx)
{
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *addr =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    conn *k = fd && addr ? calloc(1, sizeof *k) : NULL;
    if (!k) {
        if (fd)
            shutdown(fd->connect_fd, SHUT_RDWR);
        return;
    }
    k->fd = fd->connect_fd;
    k->client = ((const struct sockaddr_in *)addr->client_addr)->sin_addr.s_addr;
    k->start = cli_now();
    pthread_mutex_lock(&s->lock);
    k->next = s->conns;
    if (s->conns)
        s->conns->prev = k;
    s->conns = k;
    pthread_mutex_unlock(&s->lock);
    *ctx = k;
}

static void conn_closed(server *s, conn *k)
{
    pthread_mutex_lock(&s->lock);
    *(k->prev ? &k->prev->next : &s->conns) = k->next;
    if (k->next)
        k->next->prev = k->prev;
    s->reserved -= k->reserved;
    pthread_mutex_unlock(&s->lock);
    free(k);
}

/* libmicrohttpd's STARTED and CLOSED notifications. CLOSED comes before libmicrohttpd closes
 * the socket, so a listed fd is always its connection's. */
static void on_connection(void *cls, struct MHD_Connection *c, void **ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_started(cls, c, ctx);
    } else if (*ctx) {
        conn_closed(cls, *ctx);
        *ctx = NULL;
    }
}

/* Shuts down the socket of every connection past its deadline (except those being worked
 * on), every WATCHDOG_TICK_S until the server stops. Its thread wakes the connection's
 * thread, which then closes the connection as if the client had gone. */
static void *watchdog(void *arg)
{
    server *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        const double now = cli_now();
        for (conn *k = s->conns; k; k = k->next)
            if (!k->working && !k->cut && now - k->start > s->timeout) {
                shutdown(k->fd, SHUT_RDWR);
                k->cut = true;
            }
        struct timespec t = at_time(now + WATCHDOG_TICK_S);
        pthread_cond_timedwait(&s->wake, &s->lock, &t);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---- memory for bodies ------------------------------------------------------------------ */

/* Makes k's reservation at least `bytes`; false if that would take the total over
 * BODY_BUDGET or k's client address over CLIENT_BODY_BUDGET. */
static bool reserve(server *s, conn *k, size_t bytes)
{
    pthread_mutex_lock(&s->lock);
    const size_t more = bytes > k->reserved ? bytes - k->reserved : 0;
    size_t client = 0;
    for (const conn *o = s->conns; o; o = o->next)
        client += o->client == k->client ? o->reserved : 0;
    const bool ok = more <= BODY_BUDGET - s->reserved && more <= CLIENT_BODY_BUDGET - client;
    if (ok) {
        k->reserved += more;
        s->reserved += more;
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

/* Gives k's reservation back to the budget; with `restart`, the request on k is over and the
 * next one on the connection has a deadline of its own. */
static void release(server *s, conn *k, bool restart)
{
    pthread_mutex_lock(&s->lock);
    s->reserved -= k->reserved;
    k->reserved = 0;
    if (restart)
        k->start = cli_now();
    pthread_mutex_unlock(&s->lock);
}

/* Reads and drops what the client still sends, for up to LINGER_S, after the answer and the
 * end of our side of the connection (shutdown SHUT_WR) so that the answer reaches it. */
static void linger(int fd)
{
    char sink[16384];
    const double end = cli_now() + LINGER_S;
    shutdown(fd, SHUT_WR);
    struct pollfd p = {fd, POLLIN, 0};
    for (double left; (left = end - cli_now()) > 0;)
        if (poll(&p, 1, (int)(left * 1000) + 1) <= 0 || recv(fd, sink, sizeof sink, 0) <= 0)
            break;
}

/* The body as the client announced it (Content-Length; 0 when chunked or absent; SIZE_MAX
 * when absurd), so that a body over the limit is refused before it is sent. */
static size_t announced_length(struct MHD_Connection *c)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    return errno || *end || n > SIZE_MAX ? SIZE_MAX : (size_t)n;
}

/* Drops the body read so far and its memory; `status` is answered when the body is over. */
static void refuse(server *s, request *rq, unsigned status)
{
    free(rq->body);
    rq->body = NULL;
    rq->n = rq->cap = 0;
    release(s, rq->k, false); /* the deadline still runs: the rest of the body must be quick */
    rq->refused = status;
}

/* Room for `need` bytes of body: 0, or the status that refuses the request. */
static unsigned grow(server *s, request *rq, size_t need)
{
    size_t cap = rq->announced;
    if (cap < need) { /* chunked, or more than announced: doubling, up to the limit */
        cap = rq->cap ? rq->cap : 65536;
        while (cap < need)
            cap *= 2;
        cap = cap < rq->r->limit ? cap : rq->r->limit;
    }
    if (!reserve(s, rq->k, cap))
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    char *grown = realloc(rq->body, cap);
    if (!grown)
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    rq->body = grown;
    rq->cap = cap;
    return 0;
}

static enum MHD_Result take_body(server *s, request *rq, const char *data, size_t *size)
{
    const size_t n = *size;
    *size = 0;
    if (rq->refused)
        return MHD_YES; /* the rest of a refused body is read and dropped */
    unsigned status = n > rq->r->limit - rq->n ? MHD_HTTP_CONTENT_TOO_LARGE
                      : rq->n + n > rq->cap    ? grow(s, rq, rq->n + n)
                                               : 0;
    if (status) {
        refuse(s, rq, status);
        return MHD_YES;
    }
    memcpy(rq->body + rq->n, data, n);
    rq->n += n;
    return MHD_YES;
}

/* ---- workers ---------------------------------------------------------------------------- */

/* Waits for a free worker until `deadline`: NULL when the caller has one (to give back with
 * end_turn), else why not. */
static const char *take_turn(server *s, double deadline)
{
    const struct timespec t = at_time(deadline);
    pthread_mutex_lock(&s->lock);
    while (!s->stopping && s->busy >= s->workers &&
           pthread_cond_timedwait(&s->turn, &s->lock, &t) != ETIMEDOUT)
        ;
    const char *why = s->stopping ? "the server is stopping"
                      : s->busy >= s->workers
                          ? "busy: other requests are being classified; try again shortly"
                          : NULL;
    s->busy += !why;
    pthread_mutex_unlock(&s->lock);
    return why;
}

static void end_turn(server *s)
{
    pthread_mutex_lock(&s->lock);
    s->busy--;
    pthread_cond_signal(&s->turn);
    pthread_mutex_unlock(&s->lock);
}

/* Marks k as being worked on (the watchdog leaves it alone) or, with false, done: its
 * answer then has a whole deadline to be sent. Returns k's deadline. */
static double set_working(server *s, conn *k, bool working)
{
    pthread_mutex_lock(&s->lock);
    k->working = working;
    if (!working)
        k->start = cli_now();
    const double deadline = k->start + s->timeout;
    pthread_mutex_unlock(&s->lock);
    return deadline;
}

/* ---- the endpoints ---------------------------------------------------------------------- */

static enum MHD_Result info(struct MHD_Connection *c, const server *s)
{
    char buf[16];
    if (!s->model)
        return reply_error(c, 404, NO_MODEL);
    cJSON *j = cJSON_CreateObject();
    const char *source = knn_dataset_source(s->model), *slash = strrchr(source, '/');
    cJSON_AddItemToObject(j, "source", text(slash ? slash + 1 : source)); /* no server paths */
    cJSON_AddBoolToObject(j, "pictures", s->pictures);
    cJSON *cl = cJSON_AddArrayToObject(j, "classes");
    for (int i = 0; i < knn_dataset_num_classes(s->model); i++)
        cJSON_AddItemToArray(cl, text(cli_class_name(s->model, i, buf)));
    cJSON_AddNumberToObject(j, "k", s->params.k);
    cJSON_AddStringToObject(j, "metric", knn_metric_name(s->params.metric));
    char how[96];
    cJSON_AddStringToObject(j, "search", cli_search_name(s->model, &s->params, how, sizeof how));
    cJSON_AddNumberToObject(j, "width", knn_dataset_width(s->model));
    cJSON_AddNumberToObject(j, "height", knn_dataset_height(s->model));
    cJSON_AddNumberToObject(j, "channels", knn_dataset_channels(s->model));
    return reply_json(c, 200, j);
}

/* The answer to a photo (query 0 of pr): the best class, the top 5, the K neighbours (with
 * their pictures' addresses and paths relative to the images' folder), and the photo as knn
 * saw it (`pixels`, row 0) as a PNG data: URL. */
static cJSON *classification(const server *s, const knn_predictions *pr, int k,
                             const knn_dataset *pixels)
{
    char buf[16];
    const knn_dataset *m = s->model;
    const knn_neighbors *nb = knn_predictions_neighbors(pr);
    const int32_t pred = knn_predictions_label(pr, 0), *ranking = knn_predictions_ranking(pr, 0);
    const float *scores = knn_predictions_scores(pr, 0);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "label", pred);
    cJSON_AddItemToObject(out, "name", text(cli_class_name(m, pred, buf)));
    cJSON *top = cJSON_AddArrayToObject(out, "top");
    for (int t = 0; t < knn_dataset_num_classes(m) && t < 5; t++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "label", ranking[t]);
        cJSON_AddItemToObject(e, "name", text(cli_class_name(m, ranking[t], buf)));
        cJSON_AddNumberToObject(e, "score", scores[ranking[t]]);
        cJSON_AddItemToArray(top, e);
    }
    cJSON *nbs = cJSON_AddArrayToObject(out, "neighbors");
    for (int j = 0; j < k; j++) {
        uint32_t i = knn_neighbors_index(nb, 0, j);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "index", i);
        cJSON_AddItemToObject(e, "name", text(cli_class_name(m, knn_dataset_label(m, i), buf)));
        cJSON_AddNumberToObject(e, "label", knn_dataset_label(m, i));
        cJSON_AddNumberToObject(e, "distance", knn_neighbors_distance(nb, 0, j));
        const char *path = knn_dataset_path(m, i), *rel = path ? path + s->path_root : NULL;
        if (rel && !s->show_paths && path[0] == '/' && s->path_root <= 1)
            rel = strrchr(path, '/') + 1; /* nothing in common but the root: the name only */
        if (rel && *rel)
            cJSON_AddItemToObject(e, "path", text(rel));
        if (s->pictures) {
            char url[48];
            snprintf(url, sizeof url, "/api/row/%u.png", i);
            cJSON_AddStringToObject(e, "thumbnail", url);
        }
        cJSON_AddItemToArray(nbs, e);
    }
    size_t n;
    unsigned char *png = cli_row_png(pixels, 0, &n);
    char *b64 = png ? cli_base64(png, n) : NULL;
    char *url = b64 ? malloc(strlen(b64) + 32) : NULL;
    if (url) {
        sprintf(url, "data:image/png;base64,%s", b64);
        cJSON_AddStringToObject(out, "seen", url);
    }
    cJSON_AddNumberToObject(out, "seen_width", knn_dataset_width(pixels));
    cJSON_AddNumberToObject(out, "seen_height", knn_dataset_height(pixels));
    free(url);
    free(b64);
    free(png);
    return out;
}

/* GET /api/row/N.png: training image N, from the model's own pixels (never a file). */
static enum MHD_Result row_picture(struct MHD_Connection *c, const server *s, const char *url)
{
    const char *digits = url + strlen("/api/row/");
    char *end;
    errno = 0;
    unsigned long long i = strtoull(digits, &end, 10);
    if (!s->model)
        return reply_error(c, 404, NO_MODEL);
    if (end == digits || *digits < '0' || *digits > '9' || errno || strcmp(end, ".png") != 0 ||
        i >= knn_dataset_count(s->model))
        return reply_error(c, 404, "no such training image: give /api/row/N.png with N from 0 "
                                   "to %zu",
                           knn_dataset_count(s->model) - 1);
    if (!s->pictures)
        return reply_error(c, 404, "the model holds features without the pictures they came "
                                   "from (over 256 MiB of them, or made by an older knn)");
    size_t n;
    unsigned char *png = cli_row_png(s->model, (size_t)i, &n);
    if (!png)
        return reply_error(c, 500, "out of memory");
    return send_response(c, 200, response((char *)png, n), "image/png");
}

/* Replaces every occurrence of `path` in msg by its file name (the message only shrinks). */
static void scrub_path(char *msg, const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (!slash)
        return;
    const size_t n = strlen(path), keep = strlen(slash + 1);
    for (char *at = strstr(msg, path); at; at = strstr(at + keep, path)) {
        memmove(at + keep, at + n, strlen(at + n) + 1);
        memmove(at, slash + 1, keep);
    }
}

/* Decodes the photo from memory (the library checks its format and size before decoding)
 * and classifies it. */
static enum MHD_Result classify(struct MHD_Connection *c, const server *s, const request *rq)
{
    if (rq->n == 0)
        return reply_error(c, 400, "send the image's bytes as the request body");
    knn_dataset *q = NULL;
    knn_predictions *pr = NULL;
    knn_params p = s->params;
    p.threads = 1; /* the workers are the parallelism */
    /* the photo's pixels as the model's images were converted, then (a features model) its
     * features: the pixels are shown as what knn saw */
    knn_dataset *pixels = NULL;
    knn_load_options o = {0};
    if (!knn_load_options_like(s->model, &o))
        return reply_error(c, 404, "the model does not hold images (nor features of images): "
                                   "it cannot classify photos");
    const knn_features *net = o.features;
    o.features = NULL;
    knn_status st = knn_image_load_memory_with(rq->body, rq->n, "the upload", &o, &pixels);
    if (!st && net)
        st = knn_features_compute(net, pixels, NULL, NULL, &q);
    if (!st)
        st = knn_classify(s->model, net ? q : pixels, &p, &pr);
    cJSON *out = st ? NULL : classification(s, pr, p.k, pixels);
    char msg[512]; /* the library's message, before anything else can replace it */
    snprintf(msg, sizeof msg, "%s",
             st && st != KNN_ERR_NOMEM ? knn_last_error() : "out of memory");
    /* the model's and the network's files by their names only: no server path in answers */
    scrub_path(msg, knn_dataset_source(s->model));
    if (net)
        scrub_path(msg, knn_features_name(net));
    knn_predictions_free(pr);
    knn_dataset_free(q);
    knn_dataset_free(pixels);
    if (!out)
        return reply_error(c, st && st != KNN_ERR_NOMEM ? 400 : 500, "%s", msg);
    return reply_json(c, 200, out);
}

static enum MHD_Result boundary(struct MHD_Connection *c, const request *rq)
{
    char *json = NULL;
    int status = cli_boundary(rq->body, rq->n, &json);
    return json ? send_response(c, (unsigned)status, response(json, strlen(json)),
                                "application/json")
                : MHD_NO;
}

/* ---- the handler ------------------------------------------------------------------------ */

/* The first call, on the headers: pages and errors are answered at once; a POST to the API
 * is checked against its limits before its body is read. */
static enum MHD_Result begin(server *s, struct MHD_Connection *c, const char *url,
                             const char *method, void **state)
{
    conn *k = this_conn(c);
    if (!k)
        return MHD_NO;
    const size_t announced = announced_length(c);
    /* any answer given now leaves the body unread (only this connection's thread, or the
     * daemon's once this one has ended, uses the flag: no lock) */
    k->linger = announced || MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_TRANSFER_ENCODING);
    const route *r = NULL;
    for (size_t i = 0; !r && i < sizeof routes / sizeof *routes; i++)
        r = !strcmp(url, routes[i].path) ? &routes[i] : NULL;
    if (!r && !strncmp(url, "/api/row/", strlen("/api/row/"))) {
        static const route row = {"/api/row/N.png", ROW, 0, "GET a training image here"};
        r = &row;
    }
    if (!r)
        return reply_error(c, 404, "no such page: %s", url);
    const bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (r->limit ? strcmp(method, "POST") != 0 : !get)
        return reply_wrong_method(c, r, method);
    switch (r->what) {
    case DEMO_PAGE: return reply_page(c, knn_demo_html);
    case UPLOAD_PAGE: return reply_page(c, knn_upload_html);
    case INFO: return info(c, s);
    case ROW: { /* drawing a large image takes memory: a worker's turn, like a photo */
        const char *busy = take_turn(s, set_working(s, k, true));
        enum MHD_Result ok = busy ? reply_error(c, 503, "%s", busy) : row_picture(c, s, url);
        if (!busy)
            end_turn(s);
        set_working(s, k, false);
        return ok;
    }
    default: break;
    }
    if (r->what == CLASSIFY && !s->model)
        return reply_error(c, 404, NO_MODEL);
    if (announced > r->limit)
        return reply_error(c, 413, "the body is larger than %zu bytes", r->limit);
    if (!reserve(s, k, announced))
        return reply_error(c, 503, "busy: uploads under way hold all the memory for bodies "
                                   "(%zu MiB, %zu MiB per client); try again shortly",
                           BODY_BUDGET >> 20, CLIENT_BODY_BUDGET >> 20);
    request *rq = calloc(1, sizeof *rq);
    if (!rq)
        return MHD_NO; /* the reservation goes back when the request ends */
    rq->k = k;
    rq->r = r;
    rq->announced = announced;
    *state = rq;
    k->linger = false; /* the body will be read */
    return MHD_YES;
}

/* The last call, the body complete: the request waits for a worker, then is answered. */
static enum MHD_Result finish(server *s, struct MHD_Connection *c, request *rq)
{
    switch (rq->refused) {
    case MHD_HTTP_CONTENT_TOO_LARGE:
        return reply_error(c, 413, "the body is larger than %zu bytes", rq->r->limit);
    case MHD_HTTP_SERVICE_UNAVAILABLE:
        return reply_error(c, 503, "busy: uploads under way hold all the memory for bodies; "
                                   "try again shortly");
    case MHD_HTTP_INTERNAL_SERVER_ERROR: return reply_error(c, 500, "out of memory");
    default: break;
    }
    const char *busy = take_turn(s, set_working(s, rq->k, true));
    enum MHD_Result ok;
    if (busy) {
        ok = reply_error(c, 503, "%s", busy);
    } else {
        ok = rq->r->what == CLASSIFY ? classify(c, s, rq) : boundary(c, rq);
        end_turn(s);
    }
    set_working(s, rq->k, false);
    return ok;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)version;
    server *s = cls;
    if (!*state)
        return begin(s, c, url, method, state);
    if (*upload_size)
        return take_body(s, *state, upload, upload_size);
    return finish(s, c, *state);
}

static void request_done(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode why)
{
    (void)why;
    conn *k = this_conn(c);
    if (k && k->linger)
        linger(k->fd);
    if (k)
        release(cls, k, true);
    request *rq = *state;
    if (rq)
        free(rq->body);
    free(rq);
    *state = NULL;
}

/* ---- start and stop --------------------------------------------------------------------- */

static bool server_init(server *s, double timeout, int workers)
{
    memset(s, 0, sizeof *s);
    s->params = knn_params_default();
    s->timeout = timeout;
    s->workers = workers;
    pthread_condattr_t a;
    if (pthread_condattr_init(&a))
        return false;
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC); /* deadlines are cli_now() times */
    bool ok = !pthread_mutex_init(&s->lock, NULL) && !pthread_cond_init(&s->turn, &a) &&
              !pthread_cond_init(&s->wake, &a);
    pthread_condattr_destroy(&a);
    return ok;
}

/* Requests waiting for a worker give up, and the watchdog ends. */
static void server_stop(server *s)
{
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->turn);
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

/* Bounds the shutdown: a request still decoding after SHUTDOWN_GRACE_S is not waited for. */
static void *exit_later(void *arg)
{
    (void)arg;
    struct timespec t = {SHUTDOWN_GRACE_S, 0};
    while (nanosleep(&t, &t) && errno == EINTR)
        ;
    fprintf(stderr, "knn serve: requests still running after %d s; stopping without them\n",
            SHUTDOWN_GRACE_S);
    _exit(EXIT_ERROR);
}

/* The model, read into memory rather than mapped (private_copy), so that whatever happens to
 * its file while the server runs (replaced, overwritten, truncated) cannot reach it. */
static knn_status load_model(const char *spec, const cli_common *c, knn_dataset **out)
{
    knn_load_options o = {0};
    o.crop = 1; /* as cli_load: image folders keep the middle */
    o.private_copy = 1;
    o.quantize = c->quantize;
    knn_status st = cli_features(c, &o.features); /* --features: uploads embedded alike */
    return st ? st : knn_dataset_load(spec, &o, out);
}

typedef struct {
    const char *spec;
    const cli_common *common;
    knn_dataset *model;
    knn_status st;
    char error[1024]; /* the library's message: it is the loading thread's own */
} model_load;

static void *model_loader(void *arg)
{
    model_load *l = arg;
    if ((l->st = load_model(l->spec, l->common, &l->model)))
        snprintf(l->error, sizeof l->error, "%s", knn_last_error());
    return NULL;
}

/* load_model in a thread of its own with SIGINT and SIGTERM blocked, so that the threads it
 * starts (OpenCV's pool, when --features embeds the images) never take the signals that
 * serve() waits for: a process-directed signal goes to any thread that does not block it,
 * and would end the server unhandled. This thread keeps them: Ctrl-C while loading ends
 * knn at once. */
static knn_status load_model_blocking_signals(const char *spec, const cli_common *c,
                                              knn_dataset **out, char *error, size_t size)
{
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    model_load l = {spec, c, NULL, KNN_OK, ""};
    pthread_t t;
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    int e = pthread_create(&t, NULL, model_loader, &l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) /* no thread: load here; the signals then reach OpenCV's threads unhandled */
        model_loader(&l);
    else
        pthread_join(t, NULL);
    *out = l.model;
    snprintf(error, size, "%s", l.error);
    return l.st;
}

/* The length of the folder (with its final slash) that holds every image path of ds, so
 * that answers name images relative to it and never show where the server keeps them. */
static size_t common_folder(const knn_dataset *ds)
{
    const char *first = knn_dataset_path(ds, 0);
    if (knn_dataset_count(ds) == 0 || !first)
        return 0;
    size_t len = strlen(first);
    for (size_t i = 1; i < knn_dataset_count(ds) && len; i++) {
        const char *p = knn_dataset_path(ds, i);
        size_t k = 0;
        while (k < len && p && p[k] == first[k])
            k++;
        len = k;
    }
    while (len && first[len - 1] != '/') /* back to a whole folder name */
        len--;
    return len;
}

/* No MHD_USE_ERROR_LOG: libmicrohttpd would print its own line for a port in use beside
 * knn's, and one per refused connection, which a client could use to flood the log. */
static struct MHD_Daemon *start_daemon(server *s, const struct sockaddr_in *addr)
{
    return MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD,
        ntohs(addr->sin_port), NULL, NULL, handle, s,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)addr,
        MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, CLIENT_CONNECTIONS,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_NOTIFY_COMPLETED, request_done, s,
        MHD_OPTION_END);
}

/* Serves until SIGINT or SIGTERM; returns the exit status. */
static int serve(server *s, const struct sockaddr_in *addr, const char *host, bool quiet)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* the server's threads inherit the mask */
    pthread_t dog;
    int e = pthread_create(&dog, NULL, watchdog, s);
    if (e) {
        fprintf(stderr, "knn serve: cannot start a thread: %s\n", strerror(e));
        return EXIT_ERROR;
    }
    struct MHD_Daemon *d = start_daemon(s, addr);
    if (!d) {
        fprintf(stderr, "knn serve: cannot listen on %s:%u: %s\n", host,
                ntohs(addr->sin_port), strerror(errno));
        server_stop(s);
        pthread_join(dog, NULL);
        return EXIT_ERROR;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (!quiet) {
        printf("Serving the demo at http://%s:%u/%s (Ctrl-C to stop)\n", host,
               di ? di->port : ntohs(addr->sin_port), s->model ? "; a photo at /upload" : "");
        fflush(stdout);
    }
    int sig;
    sigwait(&stop, &sig);
    server_stop(s);
    pthread_t later;
    if (!pthread_create(&later, NULL, exit_later, NULL))
        pthread_detach(later);
    MHD_stop_daemon(d); /* shuts every connection down and joins their threads */
    pthread_join(dog, NULL);
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    enum { OPT_REQUEST_TIMEOUT = 1000, OPT_SHOW_PATHS };
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"threads", required_argument, NULL, 't'},
        {"request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"features", required_argument, NULL, OPT_FEATURES},
        {"scale", required_argument, NULL, OPT_SCALE},
        {"mean", required_argument, NULL, OPT_MEAN},
        {"std", required_argument, NULL, OPT_STD},
        {"bgr", no_argument, NULL, OPT_BGR},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"quantize", no_argument, NULL, OPT_QUANTIZE},
        {"show-paths", no_argument, NULL, OPT_SHOW_PATHS},
        CLI_INDEX_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    cli_common common = {0}; /* --features and its preprocessing */
    const char *host = "127.0.0.1";
    long port = 8080, threads = DEFAULT_WORKERS, timeout = REQUEST_TIMEOUT_S;
    bool quiet = false, show_paths = false;
    knn_params search = knn_params_default(); /* --ef, --exact */
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p':
            if (!cli_parse_long("--port", optarg, 0, 65535, &port))
                return EXIT_USAGE;
            break;
        case 't':
            if (!cli_parse_long("--threads", optarg, 1, 64, &threads))
                return EXIT_USAGE;
            break;
        case OPT_REQUEST_TIMEOUT:
            if (!cli_parse_long("--request-timeout", optarg, 1, 3600, &timeout))
                return EXIT_USAGE;
            break;
        case 'q': quiet = true; break;
        case OPT_SHOW_PATHS: show_paths = true; break;
        case 'h': fputs(help, stdout); return 0;
        case OPT_EF:
        case OPT_EXACT: {
            int code = cli_shared_option(opt, argv, &common, &search);
            if (code)
                return code;
            break;
        }
        case OPT_FEATURES:
        case OPT_SCALE:
        case OPT_MEAN:
        case OPT_STD:
        case OPT_BGR:
        case OPT_QUANTIZE:
        case OPT_BATCH: {
            int code = cli_shared_option(opt, argv, &common, NULL);
            if (code)
                return code;
            break;
        }
        default: return cli_getopt_error(opt, argv);
        }
    }
    if (common.features_path && argc - optind != 1)
        return cli_usage_error("--features needs a MODEL (training images) to embed");
    if (argc - optind > 1)
        return cli_usage_error("give at most one MODEL (%d given)", argc - optind);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return cli_usage_error("--host '%s': give an IPv4 address such as 127.0.0.1", host);
    server s;
    if (!server_init(&s, (double)timeout, (int)threads)) {
        fprintf(stderr, "knn serve: cannot set up locks\n");
        return EXIT_ERROR;
    }
    knn_dataset *model = NULL;
    if (argc - optind == 1) {
        char error[1024];
        knn_status st = load_model_blocking_signals(argv[optind], &common, &model, error,
                                                    sizeof error);
        if (st) {
            fprintf(stderr, "knn serve: %s\n", error);
            return st == KNN_ERR_ARG ? EXIT_USAGE : EXIT_ERROR;
        }
        if (knn_dataset_text(model)) { /* the pages upload photos */
            fprintf(stderr, "knn serve: %s holds text; the server classifies photos (use 'knn "
                            "predict' or 'knn similar')\n",
                    argv[optind]);
            knn_dataset_free(model);
            return EXIT_USAGE;
        }
        knn_model_params(model, &s.params);
        s.params.ef = search.ef;
        s.params.exact = search.exact;
        s.model = model;
        size_t n = 0; /* pictures: the images, or those behind features where kept */
        unsigned char *png = knn_dataset_count(model) ? cli_row_png(model, 0, &n) : NULL;
        s.pictures = png != NULL;
        free(png);
        s.show_paths = show_paths;
        s.path_root = show_paths ? 0 : common_folder(model);
    }
    int status = serve(&s, &addr, host, quiet);
    knn_dataset_free(model);
    return status;
}

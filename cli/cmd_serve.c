/* cmd_serve.c: `knn serve [MODEL]`: an HTTP server (libmicrohttpd) for the interactive
 * decision-boundary demo and, with a model, for classifying uploaded photos.
 *
 *   GET  /                 the demo page (web/demo.html, built in)
 *   POST /api/boundary     {"points": [{"x", "y", "label"}...], "k", "metric", "weights",
 *                          "grid"} -> {"labels": [grid x grid], "tied": [...], ...}: the plane
 *                          [0, 1]^2 classified by the library's own search and vote
 *   GET  /upload           a page to classify a photo with the model
 *   POST /api/classify     the image's bytes -> {"label", "name", "top": [...5],
 *                          "neighbors": [...K]}
 *   GET  /api/info         the model: classes, K, metric, image size
 * Requests are parsed with cJSON and checked against limits (body size, points, grid, K);
 * anything out of range answers 400 with {"error": "..."}; the server keeps serving. It
 * binds to 127.0.0.1 unless --host says otherwise. */
#include "cli.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_JSON_BODY (1 << 20)
#define MAX_IMAGE_BODY (16 << 20)

extern const char knn_demo_html[];

static const char help[] =
    "usage: knn serve [MODEL] [--host ADDRESS] [--port N]\n"
    "\n"
    "Serve the interactive decision-boundary demo (points in the plane, L1 or L2, K from 1\n"
    "to 7, uniform or distance votes, ties in white) at http://HOST:PORT/, classified by\n"
    "knn's own search and vote; with MODEL (from 'knn fit'), also a page to classify a photo\n"
    "(/upload) and the JSON API /api/classify. See the README for the API.\n"
    "\n"
    "  --host ADDRESS     the address to listen on (default 127.0.0.1: this machine only)\n"
    "  --port N           the port (default 8080; 0: any free port, printed)\n"
    "  --threads N        request threads (default 4)\n"
    "  -q, --quiet        no start-up line\n"
    "  -h, --help         this help\n";

static const char upload_html[] =
    "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>knn: classify a "
    "photo</title><style>body{font-family:sans-serif;margin:2em}img{image-rendering:"
    "pixelated}</style></head><body><h1>Classify a photo</h1><p id=\"model\"></p>"
    "<input type=\"file\" id=\"file\" accept=\"image/*\"><div id=\"out\"></div><script>"
    "fetch('/api/info').then(r=>r.json()).then(j=>{document.getElementById('model')."
    "textContent=`Model: ${j.source}, ${j.classes.length} classes, K = ${j.k}, ${j.metric}`;});"
    "document.getElementById('file').onchange=async e=>{const f=e.target.files[0];if(!f)"
    "return;const r=await fetch('/api/classify',{method:'POST',body:f});const j=await r.json();"
    "const o=document.getElementById('out');if(!r.ok){o.textContent='error: '+j.error;return;}"
    "o.innerHTML='<h2 id=\"answer\">'+j.name+'</h2><ol id=\"top\">'+j.top.map(t=>`<li>"
    "${t.name}: ${(100*t.score).toFixed(1)}%</li>`).join('')+'</ol><p>Nearest training "
    "images:</p><ol>'+j.neighbors.map(n=>`<li>#${n.index} ${n.name}, distance ${n.distance."
    "toFixed(1)}${n.path?' ('+n.path+')':''}</li>`).join('')+'</ol>';};</script></body>"
    "</html>";

typedef struct {
    const knn_dataset *model;
    knn_params params;
} server;

typedef struct {
    char *body;
    size_t n, cap, limit;
    bool too_large;
} request;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             char *body, size_t n)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result reply_static(struct MHD_Connection *c, const char *type, const char *s)
{
    char *copy = strdup(s);
    return copy ? reply(c, MHD_HTTP_OK, type, copy, strlen(copy)) : MHD_NO;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, cJSON *j)
{
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text)
        return MHD_NO;
    return reply(c, status, "application/json", text, strlen(text));
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
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "error", msg);
    return reply_json(c, status, j);
}

static enum MHD_Result info(struct MHD_Connection *c, const server *s)
{
    char buf[16];
    if (!s->model)
        return reply_error(c, 404, "no model: start the server as 'knn serve MODEL'");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "source", knn_dataset_source(s->model));
    cJSON *cl = cJSON_AddArrayToObject(j, "classes");
    for (int i = 0; i < knn_dataset_num_classes(s->model); i++)
        cJSON_AddItemToArray(cl, cJSON_CreateString(cli_class_name(s->model, i, buf)));
    cJSON_AddNumberToObject(j, "k", s->params.k);
    cJSON_AddStringToObject(j, "metric", knn_metric_name(s->params.metric));
    cJSON_AddNumberToObject(j, "width", knn_dataset_width(s->model));
    cJSON_AddNumberToObject(j, "height", knn_dataset_height(s->model));
    cJSON_AddNumberToObject(j, "channels", knn_dataset_channels(s->model));
    return reply_json(c, 200, j);
}

static enum MHD_Result classify(struct MHD_Connection *c, const server *s, const request *rq)
{
    char buf[16];
    if (!s->model)
        return reply_error(c, 404, "no model: start the server as 'knn serve MODEL'");
    if (rq->n == 0)
        return reply_error(c, 400, "send the image's bytes as the request body");
    char path[] = "/tmp/knn-upload-XXXXXX";
    int fd = mkstemp(path);
    bool written = fd >= 0 && write(fd, rq->body, rq->n) == (ssize_t)rq->n;
    if (fd >= 0)
        close(fd);
    if (!written) {
        unlink(path);
        return reply_error(c, 500, "cannot store the upload: %s", strerror(errno));
    }
    const char *paths[1] = {path};
    knn_dataset *q = NULL;
    knn_neighbors *nb = NULL;
    knn_params p = s->params;
    p.threads = 1;
    const int C = knn_dataset_num_classes(s->model);
    int32_t pred = 0, *ranking = malloc((size_t)C * sizeof *ranking);
    float *scores = malloc((size_t)C * sizeof *scores);
    knn_status st = ranking && scores ? KNN_OK : KNN_ERR_NOMEM;
    if (!st && !knn_is_image_file(path))
        st = KNN_ERR_FORMAT;
    if (!st)
        st = knn_images_load(paths, 1, s->model, &q);
    unlink(path);
    if (!st)
        st = knn_search(s->model, q, &p, &nb);
    if (!st)
        st = knn_vote(s->model, nb, &p, &pred, scores, ranking);
    cJSON *out = st ? NULL : cJSON_CreateObject();
    if (out) {
        cJSON_AddNumberToObject(out, "label", pred);
        cJSON_AddStringToObject(out, "name", cli_class_name(s->model, pred, buf));
        cJSON *top = cJSON_AddArrayToObject(out, "top");
        for (int t = 0; t < C && t < 5; t++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "label", ranking[t]);
            cJSON_AddStringToObject(e, "name", cli_class_name(s->model, ranking[t], buf));
            cJSON_AddNumberToObject(e, "score", scores[ranking[t]]);
            cJSON_AddItemToArray(top, e);
        }
        cJSON *nbs = cJSON_AddArrayToObject(out, "neighbors");
        for (int j = 0; j < p.k; j++) {
            uint32_t i = knn_neighbors_index(nb, 0, j);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "index", i);
            cJSON_AddStringToObject(e, "name",
                                    cli_class_name(s->model, knn_dataset_label(s->model, i), buf));
            cJSON_AddNumberToObject(e, "distance", knn_neighbors_distance(nb, 0, j));
            if (knn_dataset_path(s->model, i))
                cJSON_AddStringToObject(e, "path", knn_dataset_path(s->model, i));
            cJSON_AddItemToArray(nbs, e);
        }
    }
    char msg[512];
    snprintf(msg, sizeof msg, "%s",
             st == KNN_ERR_FORMAT && !q ? "the body is not an image knn can read (JPEG, PNG, "
                                          "BMP, GIF, PGM/PPM)"
                                        : knn_last_error());
    free(ranking);
    free(scores);
    knn_neighbors_free(nb);
    knn_dataset_free(q);
    if (!out)
        return reply_error(c, st == KNN_ERR_NOMEM ? 500 : 400, "%s", msg);
    return reply_json(c, 200, out);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)version;
    const server *s = cls;
    bool post = !strcmp(method, "POST");
    if (!*state) { /* the first call: headers only */
        request *rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        rq->limit = !strcmp(url, "/api/classify") ? MAX_IMAGE_BODY : MAX_JSON_BODY;
        *state = rq;
        return MHD_YES;
    }
    request *rq = *state;
    if (*upload_size) { /* a piece of the body */
        if (rq->n + *upload_size > rq->limit) {
            rq->too_large = true;
        } else if (!rq->too_large) {
            if (rq->n + *upload_size > rq->cap) {
                size_t cap = (rq->n + *upload_size) * 2;
                char *grown = realloc(rq->body, cap);
                if (!grown)
                    return MHD_NO;
                rq->body = grown;
                rq->cap = cap;
            }
            memcpy(rq->body + rq->n, upload, *upload_size);
            rq->n += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->too_large)
        return reply_error(c, 413, "the body is larger than %zu bytes", rq->limit);
    if (!strcmp(url, "/") && !post)
        return reply_static(c, "text/html; charset=utf-8", knn_demo_html);
    if (!strcmp(url, "/upload") && !post)
        return reply_static(c, "text/html; charset=utf-8", upload_html);
    if (!strcmp(url, "/api/info") && !post)
        return info(c, s);
    if (!strcmp(url, "/api/boundary")) {
        if (!post)
            return reply_error(c, 405, "POST a JSON object here");
        char *json = NULL;
        int status = cli_boundary(rq->body, rq->n, &json);
        return json ? reply(c, (unsigned)status, "application/json", json, strlen(json))
                    : MHD_NO;
    }
    if (!strcmp(url, "/api/classify"))
        return post ? classify(c, s, rq) : reply_error(c, 405, "POST an image here");
    return reply_error(c, 404, "no such page: %s", url);
}

static void request_done(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)c;
    (void)why;
    request *rq = *state;
    if (rq)
        free(rq->body);
    free(rq);
    *state = NULL;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'}, {"port", required_argument, NULL, 'p'},
        {"threads", required_argument, NULL, 't'}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    const char *host = "127.0.0.1";
    long port = 8080, threads = 4;
    bool quiet = false;
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
        case 'q': quiet = true; break;
        case 'h': fputs(help, stdout); return 0;
        default: return cli_getopt_error(opt, argv);
        }
    }
    if (argc - optind > 1)
        return cli_usage_error("give at most one MODEL (%d given)", argc - optind);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return cli_usage_error("--host '%s': give an IPv4 address such as 127.0.0.1", host);
    server s = {NULL, knn_params_default()};
    knn_dataset *model = NULL;
    if (argc - optind == 1) {
        cli_common common = {0};
        common.quiet = quiet;
        knn_status st = cli_load(argv[optind], &common, 0, false, &model);
        if (st)
            return cli_library_error(st);
        knn_model_params(model, &s.params);
        s.model = model;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* the server's threads inherit the mask */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL, handle,
        &s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)threads, MHD_OPTION_CONNECTION_TIMEOUT, 15u, MHD_OPTION_CONNECTION_LIMIT, 256u,
        MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "knn serve: cannot listen on %s:%ld: %s\n", host, port, strerror(errno));
        knn_dataset_free(model);
        return EXIT_ERROR;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (!quiet) {
        printf("Serving the demo at http://%s:%u/%s (Ctrl-C to stop)\n", host,
               di ? di->port : (unsigned)port, model ? "; a photo at /upload" : "");
        fflush(stdout);
    }
    int sig;
    sigwait(&stop, &sig);
    MHD_stop_daemon(d);
    knn_dataset_free(model);
    return 0;
}

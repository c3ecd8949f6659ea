/*
 * main.c — the command line: arguments and configuration, signals, and the
 * dispatch of each command to its module (`run` to the supervisor,
 * core/supervisor.h; `check` and `status` to ops/check.h).
 *
 * Owns the stop flag: a signal thread sets it on SIGTERM or SIGINT, and a
 * watchdog bounds how long the graceful stop may take. Never talks to
 * PostgreSQL or Kafka itself.
 */
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "sluice/base/config.h"
#include "sluice/base/log.h"
#include "sluice/base/metrics.h"
#include "sluice/base/testpoint.h"
#include "sluice/core/supervisor.h"
#include "sluice/ops/check.h"
#include "sluice/ops/request.h"
#include "sluice/ops/metrics_server.h"

/* Atomic: the signal thread sets it while the others read it (sigwait, not a handler). */
static atomic_int stop_requested;
static int shutdown_timeout_ms = 30000;

/*
 * The bound on a graceful stop. Exiting here is as safe as a crash at any
 * instant (what the kill -9 tests prove): Kafka aborts the open transaction
 * or, if its commit went through, the next start finds it in the checkpoint
 * and skips it; the slot was only ever confirmed up to what Kafka holds.
 */
static void *shutdown_watchdog(void *arg)
{
    (void) arg;
    log_set_thread_name("signals");
    usleep((useconds_t) shutdown_timeout_ms * 1000);
    log_warning("could not stop gracefully within shutdown.timeout.ms (%d ms; is Kafka down?): "
                "exiting without confirming the open Kafka transaction; it is sent again, once, "
                "at the next start",
                shutdown_timeout_ms);
    _exit(EXIT_OK);
    return NULL;
}

static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    log_set_thread_name("signals");
    for (;;) {
        int sig;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            log_reopen();
            log_info("received SIGHUP: log file reopened");
        } else if (!stop_requested) {
            log_info("received %s: finishing the open transaction and stopping",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT");
            stop_requested = 1;
            metrics_set_state(MSTATE_STOPPING, "stop requested");
            pthread_t wd;
            if (pthread_create(&wd, NULL, shutdown_watchdog, NULL) == 0)
                pthread_detach(wd);
        } else {
            log_warning("received %s again: exiting now; nothing unconfirmed was confirmed",
                        sig == SIGTERM ? "SIGTERM" : "SIGINT");
            _exit(EXIT_INTERNAL);
        }
    }
    return NULL;
}

static void usage(FILE *out)
{
    fprintf(out,
            "sluice %s — PostgreSQL change data capture into Kafka, exactly once\n"
            "\n"
            "Usage:\n"
            "  sluice run -c FILE [-o key=value]... [--accept-slot-ahead] [--standby]\n"
            "  sluice check -c FILE [-o key=value]...   preflight: is PostgreSQL and Kafka ready?\n"
            "  sluice status -c FILE [-o key=value]...  slot lag, Kafka checkpoint, last commit\n"
            "  sluice snapshot -c FILE [-o key=value]... TABLE...\n"
            "                          ask the running pipeline to copy tables (schema.table)\n"
            "  sluice help-config      print every configuration key with its default\n"
            "  sluice --version\n"
            "  sluice --help\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE       configuration file (key = value)\n"
            "  -o, --set key=value     override one configuration key\n"
            "      --accept-slot-ahead start even though the slot is ahead of the Kafka\n"
            "                          checkpoint (changes in between are NOT in Kafka)\n"
            "      --standby           hot standby (standby = true): wait while another\n"
            "                          instance streams from the slot, take over when it stops\n"
            "\n"
            "Exit codes: 0 stopped, 1 internal error, 2 usage, 3 configuration,\n"
            "4 PostgreSQL unreachable, 5 PostgreSQL not set up, 6 slot/checkpoint mismatch,\n"
            "7 Kafka unavailable, 8 fenced by another instance, 9 data Kafka cannot accept,\n"
            "10 `sluice check` found a problem.\n",
            SLUICE_VERSION);
}

/*
 * SIGTERM, SIGINT and SIGHUP go to signal_thread alone (blocked here before
 * any other thread starts, so every thread inherits the mask); a write to a
 * closed socket is an error return, not a SIGPIPE.
 */
static void signals_start(void)
{
    static sigset_t set; /* read by signal_thread for the life of the process */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_t sigthr;
    pthread_create(&sigthr, NULL, signal_thread, &set);
    pthread_detach(sigthr);
}

/* Starts the metrics HTTP server if metrics.listen is set; false (logged) if it cannot. */
static bool serve_metrics(const config_t *cfg)
{
    if (!cfg->metrics_listen || !cfg->metrics_listen[0])
        return true;
    char err[512];
    /* A reader that sent no status update for 3 intervals (at least 30 s) is stuck. */
    int feedback_ms = 3 * cfg->status_interval_ms > 30000 ? 3 * cfg->status_interval_ms : 30000;
    if (!metrics_start(cfg->metrics_listen, feedback_ms, cfg->health_stall_timeout_ms, err,
                       sizeof err)) {
        log_fatal("%s", err);
        return false;
    }
    const char *colon = strrchr(cfg->metrics_listen, ':');
    int hostlen = (int) (colon - cfg->metrics_listen);
    log_info("serving metrics on http://%.*s:%d/metrics and health on /healthz",
             hostlen ? hostlen : 7, hostlen ? cfg->metrics_listen : "0.0.0.0", metrics_port());
    return true;
}

static int cmd_run(const config_t *cfg, bool accept_slot_ahead)
{
    signals_start();
    testpoint_init();
    log_info("sluice %s starting (librdkafka %s): slot \"%s\", publication \"%s\", transactional "
             "id \"%s\"%s",
             SLUICE_VERSION, rd_kafka_version_str(), cfg->slot, cfg->publication,
             cfg->transactional_id, cfg->standby ? " (standby mode)" : "");
    shutdown_timeout_ms = cfg->shutdown_timeout_ms;
    supervisor_t *sv = supervisor_new(cfg, accept_slot_ahead, &stop_requested);
    int rc = EXIT_CONFIG;
    if (serve_metrics(cfg)) {
        rc = supervisor_run(sv);
        metrics_stop();
    }
    supervisor_free(sv);
    return rc;
}

/* What the command line asks for, after the command word. */
typedef struct {
    const char *config_path;
    char **overrides; /* each -o "key=value" in order: the array is owned, its strings are argv's */
    int noverrides;
    bool accept_slot_ahead;
    bool standby;
    char **args; /* the arguments after the options (`snapshot`'s tables): argv's */
    int nargs;
} cli_t;

/*
 * Reads the options after the command word into *cli. False: exit with
 * *exit_code (usage printed, or --help answered).
 */
static bool cli_parse(int argc, char **argv, cli_t *cli, int *exit_code)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"set", required_argument, NULL, 'o'},
                                         {"accept-slot-ahead", no_argument, NULL, 'A'},
                                         {"standby", no_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    /* Overrides are applied after the file, whatever their order on the command line. */
    cli->overrides = calloc((size_t) argc, sizeof *cli->overrides);
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "c:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cli->config_path = optarg; break;
        case 'o': cli->overrides[cli->noverrides++] = optarg; break;
        case 'A': cli->accept_slot_ahead = true; break;
        case 'S': cli->standby = true; break;
        case 'h': usage(stdout); *exit_code = EXIT_OK; return false;
        default: usage(stderr); *exit_code = EXIT_USAGE; return false;
        }
    }
    if (optind < argc && !strcmp(argv[1], "snapshot")) {
        cli->args = argv + optind;
        cli->nargs = argc - optind;
    } else if (optind < argc) {
        fprintf(stderr, "sluice: unexpected argument \"%s\"\n", argv[optind]);
        *exit_code = EXIT_USAGE;
        return false;
    }
    if (!cli->config_path) {
        fprintf(stderr, "sluice: no configuration file: use -c FILE\n");
        *exit_code = EXIT_USAGE;
        return false;
    }
    return true;
}

/* The file, then each -o override, then the derived defaults; false with the reason in err. */
static bool cli_load_config(cli_t *cli, config_t *cfg, char *err, size_t errlen)
{
    bool ok = config_load_file(cfg, cli->config_path, err, errlen);
    for (int i = 0; ok && i < cli->noverrides; i++) {
        char *eq = strchr(cli->overrides[i], '=');
        if (!eq) {
            snprintf(err, errlen, "-o \"%s\": expected key=value", cli->overrides[i]);
            return false;
        }
        *eq = '\0';
        ok = config_set(cfg, cli->overrides[i], eq + 1, "-o", err, errlen);
    }
    if (ok && cli->standby)
        ok = config_set(cfg, "standby", "true", "--standby", err, errlen);
    return ok && config_finish(cfg, err, errlen);
}

/* Commands without a configuration; true if argv[1] was one of them. */
static bool cmd_simple(const char *cmd, int *exit_code)
{
    *exit_code = EXIT_OK;
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version"))
        /* The librdkafka it runs with, not the one it was built against: a private
         * build (make RDKAFKA=2.12) and the system's can differ only here. */
        printf("sluice %s (librdkafka %s)\n", SLUICE_VERSION, rd_kafka_version_str());
    else if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help"))
        usage(stdout);
    else if (!strcmp(cmd, "help-config"))
        config_print_reference();
    else if (strcmp(cmd, "run") != 0 && strcmp(cmd, "check") != 0 && strcmp(cmd, "status") != 0 &&
             strcmp(cmd, "snapshot") != 0) {
        fprintf(stderr, "sluice: unknown command \"%s\"\n\n", cmd);
        usage(stderr);
        *exit_code = EXIT_USAGE;
    } else
        return false;
    return true;
}

int main(int argc, char **argv)
{
    /* librdkafka allocates every record (and frees it on its broker thread
     * once delivered): with glibc's default 128 kB trim threshold the heap
     * is given back and faulted in again, zeroed page by page, at every
     * swing of the producer queue. Keep up to 32 MB of freed heap: room for
     * the producer queue at its default bound (4 MB of records, 50,000
     * records with librdkafka's per-record overhead) and the reader's queue
     * (8 MB). */
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    int rc;
    if (cmd_simple(cmd, &rc))
        return rc;

    static config_t cfg;
    config_init(&cfg);
    cli_t cli = {0};
    char err[1024];
    bool parsed = cli_parse(argc, argv, &cli, &rc);
    bool ok = parsed && cli_load_config(&cli, &cfg, err, sizeof err);
    free(cli.overrides);
    if (!parsed)
        return rc;
    if (!ok) {
        log_fatal("%s", err);
        config_free(&cfg);
        return EXIT_CONFIG;
    }
    if (!log_configure(cfg.log_level, cfg.log_json, strcmp(cmd, "run") ? NULL : cfg.log_file)) {
        log_fatal("could not open log file \"%s\": %m", cfg.log_file);
        config_free(&cfg);
        return EXIT_CONFIG;
    }
    if (!strcmp(cmd, "check")) {
        /* Library chatter (librdkafka's connection errors) would drown the report: errors only. */
        log_configure(cfg.log_level > LOG_ERROR ? cfg.log_level : LOG_ERROR, cfg.log_json, NULL);
        int failed = check_run(&cfg, stdout);
        rc = failed ? EXIT_CHECK_FAILED : EXIT_OK;
    } else if (!strcmp(cmd, "status")) {
        log_configure(cfg.log_level > LOG_ERROR ? cfg.log_level : LOG_ERROR, cfg.log_json, NULL);
        rc = status_run(&cfg, stdout);
    } else if (!strcmp(cmd, "snapshot")) {
        rc = request_snapshot_run(&cfg, cli.args, cli.nargs, stdout);
    } else {
        rc = cmd_run(&cfg, cli.accept_slot_ahead);
    }
    config_free(&cfg);
    return rc;
}

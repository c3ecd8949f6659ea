/*
 * c11threads.c — C11 <threads.h> on top of pthreads, linked into the
 * ThreadSanitizer builds only (make tsan).
 *
 * librdkafka creates its threads and takes its locks through glibc's C11
 * threads (thrd_create, mtx_lock, cnd_wait, ...), which call glibc's pthread
 * internals directly. The TSan runtimes of GCC 12 and clang 14 intercept the
 * pthread functions but not these, so a librdkafka thread starts without
 * TSan's per-thread state (the daemon crashes in TSan's allocator at its
 * first malloc) and its locks are invisible (its callbacks into sluice would
 * look unsynchronised). Defined in the executable, these definitions take the
 * place of glibc's for librdkafka, and each calls the pthread function TSan
 * does intercept. glibc's C11 types are its pthread types (same size and
 * layout: mtx_t holds a pthread_mutex_t, cnd_t a pthread_cond_t, once_flag a
 * pthread_once_t, thrd_t is pthread_t), which is what the casts rely on.
 * Never part of the daemon that ships.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is a pthread_mutex_t");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is a pthread_cond_t");
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is a pthread_t");
_Static_assert(sizeof(once_flag) == sizeof(pthread_once_t), "once_flag is a pthread_once_t");

static int thrd_result(int rc)
{
    switch (rc) {
    case 0: return thrd_success;
    case ENOMEM: return thrd_nomem;
    case ETIMEDOUT: return thrd_timedout;
    case EBUSY: return thrd_busy;
    default: return thrd_error;
    }
}

typedef struct {
    thrd_start_t func;
    void *arg;
} c11_start_t;

static void *c11_trampoline(void *p)
{
    c11_start_t start = *(c11_start_t *) p;
    free(p);
    return (void *) (intptr_t) start.func(start.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t func, void *arg)
{
    c11_start_t *start = malloc(sizeof *start);
    if (!start)
        return thrd_nomem;
    start->func = func;
    start->arg = arg;
    int rc = pthread_create((pthread_t *) thr, NULL, c11_trampoline, start);
    if (rc != 0)
        free(start);
    return thrd_result(rc);
}

int thrd_join(thrd_t thr, int *res)
{
    void *value;
    int rc = pthread_join((pthread_t) thr, &value);
    if (rc == 0 && res)
        *res = (int) (intptr_t) value;
    return thrd_result(rc);
}

int thrd_detach(thrd_t thr)
{
    return thrd_result(pthread_detach((pthread_t) thr));
}

_Noreturn void thrd_exit(int res)
{
    pthread_exit((void *) (intptr_t) res);
}

int mtx_init(mtx_t *m, int type)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    if (type & mtx_recursive)
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    int rc = pthread_mutex_init((pthread_mutex_t *) m, &attr);
    pthread_mutexattr_destroy(&attr);
    return thrd_result(rc);
}

void mtx_destroy(mtx_t *m)
{
    pthread_mutex_destroy((pthread_mutex_t *) m);
}

int mtx_lock(mtx_t *m)
{
    return thrd_result(pthread_mutex_lock((pthread_mutex_t *) m));
}

int mtx_trylock(mtx_t *m)
{
    return thrd_result(pthread_mutex_trylock((pthread_mutex_t *) m));
}

int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict ts)
{
    return thrd_result(pthread_mutex_timedlock((pthread_mutex_t *) m, ts));
}

int mtx_unlock(mtx_t *m)
{
    return thrd_result(pthread_mutex_unlock((pthread_mutex_t *) m));
}

int cnd_init(cnd_t *c)
{
    return thrd_result(pthread_cond_init((pthread_cond_t *) c, NULL));
}

void cnd_destroy(cnd_t *c)
{
    pthread_cond_destroy((pthread_cond_t *) c);
}

int cnd_signal(cnd_t *c)
{
    return thrd_result(pthread_cond_signal((pthread_cond_t *) c));
}

int cnd_broadcast(cnd_t *c)
{
    return thrd_result(pthread_cond_broadcast((pthread_cond_t *) c));
}

int cnd_wait(cnd_t *c, mtx_t *m)
{
    return thrd_result(pthread_cond_wait((pthread_cond_t *) c, (pthread_mutex_t *) m));
}

int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict ts)
{
    return thrd_result(pthread_cond_timedwait((pthread_cond_t *) c, (pthread_mutex_t *) m, ts));
}

void call_once(once_flag *flag, void (*func)(void))
{
    pthread_once((pthread_once_t *) flag, func);
}

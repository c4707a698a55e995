/*
 * verify_pool.c - the worker threads and the in-order hand-back (see
 * verify_pool.h).
 *
 * The queue is one list in submission order, head (oldest unreleased) to
 * tail, with a cursor at the first task no worker has taken yet: tasks
 * before the cursor are running or finished, tasks from it on wait. That
 * list is the reorder buffer: release pops finished tasks from the head
 * and stops at the first unfinished one. Only the finishing of the head
 * can make something releasable, so a worker wakes the loop (eventfd)
 * only when the task it finished is the head; release then takes every
 * finished task behind it too.
 *
 * Why an eventfd and not an event made active from a worker: that needs
 * libevent's thread support (evthread_use_pthreads, libevent_pthreads),
 * which puts a lock around every event operation of the loop for the
 * sake of one notification; an eventfd is one write(2) from the worker,
 * the loop watches it like any socket, and the pool stays free of
 * libevent, testable on its own.
 *
 * Threads: the fields marked "lock" are shared and touched only under
 * lock; max_tasks, fd, n_threads and threads are set before the workers
 * start and then only read. A task's own fields (other than next and
 * finished) belong to the worker running it between being taken and being
 * marked finished, and to the loop otherwise; the mutex orders the two.
 */
#include "verify_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define VERIFY_POOL_MAX_THREADS 256

struct verify_pool {
	pthread_mutex_t lock;
	pthread_cond_t work_ready;	 /* lock: a task waits, or stopping */
	struct verify_task *head, *tail; /* lock: unreleased, in submission order */
	struct verify_task *cursor;	 /* lock: first task not taken, or NULL */
	size_t count;			 /* lock: tasks in the list */
	bool stopping;			 /* lock */
	size_t max_tasks;
	int fd; /* eventfd: written by workers, read by the loop */
	int n_threads;
	pthread_t threads[];
};

/* Makes the loop's watch on fd fire. Called with the lock held. */
static void wake_loop(struct verify_pool *pool)
{
	uint64_t one = 1;
	ssize_t n;

	/* EAGAIN only at a counter of 2^64 - 2: the loop is awake anyway. */
	do
		n = write(pool->fd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
}

/* A worker: takes tasks in order until the pool stops. */
static void *worker_main(void *arg)
{
	struct verify_pool *pool = arg;
	struct verify_task *task;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (pool->cursor == NULL && !pool->stopping)
			pthread_cond_wait(&pool->work_ready, &pool->lock);
		if (pool->stopping)
			break;
		task = pool->cursor;
		pool->cursor = task->next;
		pthread_mutex_unlock(&pool->lock);
		task->work(task);
		pthread_mutex_lock(&pool->lock);
		task->finished = true;
		if (task == pool->head)
			wake_loop(pool);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* Stops and joins the first n workers. */
static void stop_workers(struct verify_pool *pool, int n)
{
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->work_ready);
	pthread_mutex_unlock(&pool->lock);
	for (int i = 0; i < n; i++)
		pthread_join(pool->threads[i], NULL);
}

static int thread_count(int threads)
{
	long cpus;

	if (threads > 0)
		return threads < VERIFY_POOL_MAX_THREADS ? threads : VERIFY_POOL_MAX_THREADS;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 1)
		return 1;
	return cpus < VERIFY_POOL_MAX_THREADS ? (int)cpus : VERIFY_POOL_MAX_THREADS;
}

int verify_pool_new(int threads, size_t max_tasks, struct verify_pool **out)
{
	int n = thread_count(threads), started;
	struct verify_pool *pool = calloc(1, sizeof(*pool) + (size_t)n * sizeof(pthread_t));

	if (pool == NULL)
		return CU_ERR_NOMEM;
	pool->max_tasks = max_tasks;
	pool->n_threads = n;
	pool->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool->fd < 0) {
		free(pool);
		return CU_ERR_IO;
	}
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work_ready, NULL);
	for (started = 0; started < n; started++) {
		if (pthread_create(&pool->threads[started], NULL, worker_main, pool) != 0)
			break;
	}
	if (started < n) {
		stop_workers(pool, started);
		pool->n_threads = 0;
		verify_pool_free(pool);
		return CU_ERR_IO;
	}
	*out = pool;
	return CU_OK;
}

int verify_pool_fd(const struct verify_pool *pool)
{
	return pool->fd;
}

int verify_pool_threads(const struct verify_pool *pool)
{
	return pool->n_threads;
}

int verify_pool_submit(struct verify_pool *pool, struct verify_task *task)
{
	pthread_mutex_lock(&pool->lock);
	if (pool->count >= pool->max_tasks) {
		pthread_mutex_unlock(&pool->lock);
		return CU_ERR_LIMIT;
	}
	task->next = NULL;
	task->finished = false;
	if (pool->tail != NULL)
		pool->tail->next = task;
	else
		pool->head = task;
	pool->tail = task;
	if (pool->cursor == NULL)
		pool->cursor = task;
	pool->count++;
	pthread_cond_signal(&pool->work_ready);
	pthread_mutex_unlock(&pool->lock);
	return CU_OK;
}

/* Unlinks the longest finished prefix and returns it (NULL-terminated). */
static struct verify_task *take_finished(struct verify_pool *pool, size_t *n)
{
	struct verify_task *first = pool->head, *last = NULL, *t;

	*n = 0;
	for (t = pool->head; t != NULL && t->finished; t = t->next) {
		last = t;
		(*n)++;
	}
	if (last == NULL)
		return NULL;
	pool->head = t;
	if (t == NULL)
		pool->tail = NULL;
	pool->count -= *n;
	last->next = NULL;
	return first;
}

size_t verify_pool_release(struct verify_pool *pool)
{
	struct verify_task *t, *next;
	uint64_t counter;
	ssize_t got;
	size_t n;

	/*
	 * Reset the eventfd first: a head finishing from now on writes again.
	 * EAGAIN: nothing was written since the last reset (a spurious call).
	 */
	got = read(pool->fd, &counter, sizeof(counter));
	(void)got;
	pthread_mutex_lock(&pool->lock);
	t = take_finished(pool, &n);
	pthread_mutex_unlock(&pool->lock);
	for (; t != NULL; t = next) {
		next = t->next;
		t->done(t, false);
	}
	return n;
}

size_t verify_pool_pending(struct verify_pool *pool)
{
	size_t n;

	pthread_mutex_lock(&pool->lock);
	n = pool->count;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

void verify_pool_free(struct verify_pool *pool)
{
	struct verify_task *t, *next;

	if (pool == NULL)
		return;
	stop_workers(pool, pool->n_threads);
	/* No worker is left: the list is the loop's alone. */
	for (t = pool->head; t != NULL; t = next) {
		next = t->next;
		t->done(t, true);
	}
	close(pool->fd);
	pthread_cond_destroy(&pool->work_ready);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

/* util/cleanup.h: scope-bound ownership for locals (systemd/crun style). Initialise at
 * declaration; give away with take_ptr()/take_fd(). */
#ifndef ST_CLEANUP_H
#define ST_CLEANUP_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_free_fn(void *p)
{
	free(*(void **)p);
}
static inline void cleanup_fd_fn(int *fd)
{
	if (*fd >= 0)
		(void)close(*fd);
}
static inline void cleanup_file_fn(FILE **f)
{
	if (*f)
		(void)fclose(*f);
}
static inline void cleanup_dir_fn(DIR **d)
{
	if (*d)
		(void)closedir(*d);
}

#define cleanup_free __attribute__((cleanup(cleanup_free_fn)))
#define cleanup_fd __attribute__((cleanup(cleanup_fd_fn)))
#define cleanup_file __attribute__((cleanup(cleanup_file_fn)))
#define cleanup_dir __attribute__((cleanup(cleanup_dir_fn)))

/* Returns *pp and sets it to NULL: ownership leaves the cleanup variable. */
static inline void *take_ptr(void *pp)
{
	void **p = (void **)pp;
	void *v = *p;
	*p = NULL;
	return v;
}

static inline int take_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* Secret buffers (own pages, not dumped, wiped) and permission-checked
 * reads of files that hold secrets.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"

static size_t sec_map_size(size_t cap)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (cap + 1 + page - 1) / page * page;
}

void sec_wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

bool sec_equal(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

int sec_buf_init(struct sec_buf *b, size_t cap)
{
	size_t sz = sec_map_size(cap);
	void *p;

	p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return -1;
	/* Both are advisory: a kernel without them still gets a working
	 * buffer, only without the core-dump and fork protections.
	 */
	(void)madvise(p, sz, MADV_DONTDUMP);
	(void)madvise(p, sz, MADV_WIPEONFORK);
	b->p = p;
	b->len = 0;
	b->cap = cap;
	return 0;
}

void sec_buf_free(struct sec_buf *b)
{
	if (!b->p)
		return;
	explicit_bzero(b->p, b->cap + 1);
	munmap(b->p, sec_map_size(b->cap));
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

void sec_buf_clear(struct sec_buf *b)
{
	if (!b->p)
		return;
	explicit_bzero(b->p, b->len);
	b->len = 0;
}

int sec_buf_append(struct sec_buf *b, const void *data, size_t n)
{
	if (!b->p || n > b->cap - b->len)
		return -1;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int sec_buf_copy(struct sec_buf *dst, const struct sec_buf *src)
{
	if (!dst->p || src->len > dst->cap)
		return -1;
	sec_buf_clear(dst);
	return sec_buf_append(dst, src->p, src->len);
}

/* Owner and mode rules of sec_file_read(); returns the reason or NULL. */
static const char *sec_file_check(const struct stat *st,
				  enum sec_file_policy policy)
{
	if (!S_ISREG(st->st_mode))
		return "not a regular file";
	if (st->st_uid != geteuid() && st->st_uid != 0)
		return "owned by another user";
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return "writable by group or others";
	if (policy == SEC_FILE_PRIVATE && (st->st_mode & S_IRWXO))
		return "accessible by others (chmod o-rwx)";
	return NULL;
}

int sec_file_read(const char *path, enum sec_file_policy policy,
		  struct sec_buf *b, char *err, size_t errlen)
{
	const char *why;
	struct stat st;
	int fd;

	sec_buf_clear(b);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* Checked on the open descriptor, so the file read is the file
	 * checked.
	 */
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto close_fd;
	}
	why = sec_file_check(&st, policy);
	if (why) {
		snprintf(err, errlen, "%s: %s", path, why);
		goto close_fd;
	}
	if ((size_t)st.st_size > b->cap) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path,
			 b->cap);
		goto close_fd;
	}
	for (;;) {
		char *dst = b->p + b->len;
		ssize_t n = read(fd, dst, b->cap - b->len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto wipe;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		if (b->len == b->cap) {
			char c;

			if (read(fd, &c, 1) != 0) {
				snprintf(err, errlen,
					 "%s: larger than %zu bytes", path,
					 b->cap);
				goto wipe;
			}
			break;
		}
	}
	b->p[b->len] = '\0';
	close(fd);
	return 0;
wipe:
	sec_buf_clear(b);
close_fd:
	close(fd);
	return -1;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Token map file (atomic replace) and runtime API "set map" lines. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"
#include "token.h"
#include "tokmap.h"

bool tokmap_word_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~' || *s == '#' || *s == ';' ||
		    *s == '\\')
			return false;
	return true;
}

/* Appends "<key> <token|->\n" after checking both. */
static int tokmap_line(struct sec_buf *b, const char *key,
		       const struct sec_buf *token, char *err, size_t errlen)
{
	if (!tokmap_word_ok(key)) {
		snprintf(err, errlen, "map key \"%s\" cannot be used", key);
		return -1;
	}
	if (token && !token_chars_ok(token->p, token->len)) {
		snprintf(err, errlen,
			 "%s: token has characters a bearer "
			 "token cannot hold",
			 key);
		return -1;
	}
	if (sec_buf_append(b, key, strlen(key)) == -1 ||
	    sec_buf_append(b, " ", 1) == -1 ||
	    (token ? sec_buf_append(b, token->p, token->len)
		   : sec_buf_append(b, TOKMAP_NONE, 1)) == -1 ||
	    sec_buf_append(b, "\n", 1) == -1) {
		snprintf(err, errlen, "map larger than %d bytes", TOKMAP_MAX);
		return -1;
	}
	return 0;
}

int tokmap_set_cmd(struct sec_buf *out, const char *map, const char *key,
		   const struct sec_buf *token, char *err, size_t errlen)
{
	if (!tokmap_word_ok(map)) {
		snprintf(err, errlen, "map path \"%s\" cannot be used", map);
		return -1;
	}
	sec_buf_clear(out);
	if (sec_buf_append(out, "set map ", 8) == -1 ||
	    sec_buf_append(out, map, strlen(map)) == -1 ||
	    sec_buf_append(out, " ", 1) == -1) {
		snprintf(err, errlen, "command too long");
		return -1;
	}
	if (tokmap_line(out, key, token, err, errlen) == -1) {
		sec_buf_clear(out);
		return -1;
	}
	return 0;
}

/* Writes all of <b> to <fd>. */
static int tokmap_write_all(int fd, const struct sec_buf *b)
{
	size_t off = 0;

	while (off < b->len) {
		ssize_t w = write(fd, b->p + off, b->len - off);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

static int tokmap_fsync_dir(const char *path)
{
	char copy[4096];
	int fd, rc;

	snprintf(copy, sizeof(copy), "%s", path);
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int tokmap_write(const char *path, const struct tokmap_entry *e, size_t n,
		 char *err, size_t errlen)
{
	struct sec_buf b = {0};
	char tmp[4096 + 32];
	int fd = -1, rc = -1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
			     (long)getpid()) >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if (sec_buf_init(&b, TOKMAP_MAX) == -1) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (tokmap_line(&b, e[i].key, e[i].token, err, errlen) == -1)
			goto free_buf;
	/* a file left by a crash of this pid's predecessor */
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  TOKMAP_MODE);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto free_buf;
	}
	/* the umask must not widen or narrow it */
	if (fchmod(fd, TOKMAP_MODE) == -1 || tokmap_write_all(fd, &b) == -1 ||
	    fsync(fd) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto unlink_tmp;
	}
	if (close(fd) == -1) {
		fd = -1;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto unlink_tmp;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto unlink_tmp;
	}
	if (tokmap_fsync_dir(path) == -1) {
		snprintf(err, errlen, "%s: fsync of the folder: %s", path,
			 strerror(errno));
		goto free_buf;
	}
	rc = 0;
	goto free_buf;
unlink_tmp:
	if (fd != -1)
		close(fd);
	(void)unlink(tmp);
free_buf:
	sec_buf_free(&b);
	return rc;
}

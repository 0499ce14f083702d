/* The spec the guest agent gets. A bind mount names a host path, which does
 * not exist in the VM: podman and containerd bind-mount small host files
 * (/etc/hosts, /etc/resolv.conf, /etc/hostname, /run/.containerenv) and a
 * host directory for /dev/shm. Files are copied into the container's disk
 * instead (debugfs, before boot), /dev/shm becomes a tmpfs, and any other
 * host directory is refused: kiln has no shared filesystem yet. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/io.h"
#include "common/json.h"
#include "common/util.h"
#include "oci/oci.h"
#include "proto/proto.h"
#include "runtime/runtime.h"

void kiln_injections_release(struct kiln_injections *inj)
{
	for (size_t i = 0; i < inj->n; i++) {
		free(inj->items[i].src);
		free(inj->items[i].dst);
	}
	free(inj->items);
	*inj = (struct kiln_injections){0};
}

static bool is_bind(const struct oci_mount *m)
{
	if (m->type && streq(m->type, "bind"))
		return true;
	for (size_t i = 0; i < m->options.n; i++)
		if (streq(m->options.v[i], "bind") || streq(m->options.v[i], "rbind"))
			return true;
	return false;
}

static void gen_shm(kiln_json_gen_t *g)
{
	static const char *const opts[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"};

	kiln_json_gen_map_open(g);
	kiln_json_gen_key(g, "destination");
	kiln_json_gen_string(g, "/dev/shm");
	kiln_json_gen_key(g, "type");
	kiln_json_gen_string(g, "tmpfs");
	kiln_json_gen_key(g, "source");
	kiln_json_gen_string(g, "shm");
	kiln_json_gen_key(g, "options");
	kiln_json_gen_array_open(g);
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
		kiln_json_gen_string(g, opts[i]);
	kiln_json_gen_array_close(g);
	kiln_json_gen_map_close(g);
}

/* One mount: kept as given, replaced, or turned into a file to copy. */
static int gen_mount(kiln_json_gen_t *g, const kiln_json_t *node, const struct oci_mount *m,
		     size_t i, const char *bundle, struct kiln_injections *inj, kiln_error_t *err)
{
	cleanup_free char *src = NULL;
	struct stat st;

	if (!is_bind(m) || m->source == NULL)
		return proto_json_emit(g, node, err);
	src = m->source[0] == '/' ? xstrdup(m->source) : xasprintf("%s/%s", bundle, m->source);
	if (stat(src, &st) < 0)
		return kiln_error_make(err, errno, "mounts[%zu].source %s", i, src);
	if (S_ISREG(st.st_mode)) {
		inj->items = xrealloc(inj->items, (inj->n + 1) * sizeof(*inj->items));
		inj->items[inj->n++] =
		    (struct kiln_injection){.src = TAKE_PTR(src), .dst = xstrdup(m->destination)};
		return 0;
	}
	if (S_ISDIR(st.st_mode) && streq(m->destination, "/dev/shm")) {
		gen_shm(g);
		return 0;
	}
	return kiln_error_make(err, 0,
			       "mounts[%zu]: bind mount of host %s %s into %s: not supported (a "
			       "microVM has no shared filesystem yet)",
			       i, S_ISDIR(st.st_mode) ? "directory" : "file", src, m->destination);
}

int kiln_guest_spec(const struct oci_config *cfg, const char *bundle, char **out, size_t *len,
		    struct kiln_injections *inj, kiln_error_t *err)
{
	cleanup_json kiln_json_t *doc = NULL;
	cleanup_json_gen kiln_json_gen_t *g = kiln_json_gen_new(true);
	const kiln_json_t *mounts = NULL;

	*inj = (struct kiln_injections){0};
	if (kiln_json_parse(cfg->raw, cfg->raw_len, &doc, err) < 0)
		return -1;
	kiln_json_get_array(doc, "mounts", &mounts, NULL);
	kiln_json_gen_map_open(g);
	for (size_t k = 0; k < kiln_json_object_len(doc); k++) {
		const char *key = kiln_json_object_key(doc, k);

		kiln_json_gen_key(g, key);
		if (!streq(key, "mounts") || mounts == NULL) {
			if (proto_json_emit(g, kiln_json_object_value(doc, k), err) < 0)
				return -1;
			continue;
		}
		kiln_json_gen_array_open(g);
		for (size_t i = 0; i < kiln_json_array_len(mounts) && i < cfg->n_mounts; i++)
			if (gen_mount(g, kiln_json_array_get(mounts, i), &cfg->mounts[i], i, bundle,
				      inj, err) < 0) {
				kiln_injections_release(inj);
				return -1;
			}
		kiln_json_gen_array_close(g);
	}
	kiln_json_gen_map_close(g);
	return kiln_json_gen_finish(g, out, len, err);
}

/* debugfs quotes: a path with a double quote or a newline cannot be said. */
static int check_path(const char *p, kiln_error_t *err)
{
	if (strpbrk(p, "\"\n") != NULL)
		return kiln_error_make(err, 0, "cannot copy %s into the container's disk", p);
	return 0;
}

int kiln_inject_files(const char *img, const struct kiln_injections *inj, kiln_error_t *err)
{
	cleanup_free char *script = NULL;
	cleanup_free char *cmds = NULL;
	size_t len = 0;

	if (inj->n == 0)
		return 0;
	cmds = xstrdup("");
	for (size_t i = 0; i < inj->n; i++) {
		cleanup_free char *dir = xstrdup(inj->items[i].dst);
		char *next;

		if (check_path(inj->items[i].src, err) < 0 ||
		    check_path(inj->items[i].dst, err) < 0)
			return -1;
		/* every parent, then the file replaced (debugfs write does not
		 * overwrite) */
		for (char *s = strchr(dir + 1, '/'); s; s = strchr(s + 1, '/')) {
			*s = '\0';
			next = xasprintf("%smkdir \"%s\"\n", cmds, dir);
			free(cmds);
			cmds = next;
			*s = '/';
		}
		next = xasprintf("%srm \"%s\"\nwrite \"%s\" \"%s\"\n", cmds, inj->items[i].dst,
				 inj->items[i].src, inj->items[i].dst);
		free(cmds);
		cmds = next;
	}
	script = xasprintf("%s.debugfs", img);
	len = strlen(cmds);
	if (kiln_write_file_atomic(script, cmds, len, 0600, err) < 0)
		return -1;
	{
		char *const argv[] = {"debugfs", "-w", "-f", script, (char *)img, NULL};
		int r = kiln_run_tool(argv, err);

		unlink(script);
		if (r < 0)
			return kiln_error_wrap(err, "copying bind-mounted files into the disk");
	}
	return 0;
}

/* OCI hooks that run on the host (config.md#posix-platform-hooks):
 * prestart and createRuntime at the end of create, poststart after start,
 * poststop in delete. Each gets the container's state on stdin. A failing
 * prestart or createRuntime hook fails create (the rest are not run); a
 * failing poststart or poststop hook is a warning, and the hooks after it
 * and the lifecycle go on (config.md#poststart, #poststop). The
 * createContainer and startContainer hooks run inside the container's
 * namespaces, which for kiln are inside the VM where host programs do not
 * exist, so create refuses them. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "common/util.h"
#include "oci/oci.h"
#include "runtime/runtime.h"

static int run_hook(const struct oci_hook *h, const char *state, const char *name, size_t i,
		    kiln_error_t *err)
{
	char *const default_argv[] = {h->path, NULL};
	char *const empty_env[] = {NULL};
	int in[2], status = 0;
	long long deadline = h->timeout.present ? kiln_now_ms() + h->timeout.value * 1000 : -1;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0)
		return kiln_error_make(err, errno, "hooks.%s[%zu]: pipe", name, i);
	pid = fork();
	if (pid < 0)
		return kiln_error_make(err, errno, "hooks.%s[%zu]: fork", name, i);
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		/* the hook's output is not the container's */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execve(h->path, h->args.n ? h->args.v : default_argv,
		       h->env.n ? h->env.v : empty_env);
		dprintf(STDERR_FILENO, "kiln: hooks.%s[%zu]: %s: %s\n", name, i, h->path,
			strerror(errno));
		_exit(127);
	}
	close(in[0]);
	/* a hook need not read it (SIGPIPE is ignored: runtime/main.c) */
	kiln_write_all(in[1], state, strlen(state));
	close(in[1]);
	for (;;) {
		pid_t w = waitpid(pid, &status, deadline < 0 ? 0 : WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return kiln_error_make(err, errno, "hooks.%s[%zu]: wait", name, i);
		if (deadline >= 0 && kiln_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return kiln_error_make(err, 0, "hooks.%s[%zu] (%s): timed out after %lld s",
					       name, i, h->path, (long long)h->timeout.value);
		}
		usleep(10000);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		return kiln_error_make(err, 0, "hooks.%s[%zu] (%s): killed by signal %d", name, i,
				       h->path, WTERMSIG(status));
	return kiln_error_make(err, 0, "hooks.%s[%zu] (%s): exited with status %d", name, i,
			       h->path, WEXITSTATUS(status));
}

int kiln_hooks_check(const struct oci_config *cfg, kiln_error_t *err)
{
	static const enum oci_hook_kind in_guest[] = {OCI_HOOK_CREATE_CONTAINER,
						      OCI_HOOK_START_CONTAINER};

	for (size_t i = 0; i < ARRAY_SIZE(in_guest); i++)
		if (cfg->hooks[in_guest[i]].n)
			return kiln_error_make(err, 0,
					       "hooks.%s: runs inside the container, which is a "
					       "VM without the host's programs: not supported",
					       oci_hook_name(in_guest[i]));
	return 0;
}

int kiln_hooks_run(const struct kiln_container *c, enum oci_hook_kind kind, kiln_error_t *err)
{
	cleanup_free char *spec_path = kiln_container_path(c, "config.json");
	cleanup_oci_config struct oci_config *cfg = NULL;
	cleanup_free char *text = NULL;
	cleanup_free char *state = NULL;
	const struct oci_hook_list *l;
	size_t len;

	if (kiln_read_file(spec_path, 1u << 20, &text, &len, err) < 0 ||
	    oci_config_parse(text, len, &cfg, err) < 0)
		return -1;
	l = &cfg->hooks[kind];
	if (l->n == 0)
		return 0;
	if (kiln_container_state_json(c, &state, err) < 0)
		return -1;
	for (size_t i = 0; i < l->n; i++) {
		if (run_hook(&l->items[i], state, oci_hook_name(kind), i, err) == 0)
			continue;
		if (kind != OCI_HOOK_POSTSTART && kind != OCI_HOOK_POSTSTOP)
			return -1;
		log_warning("%s", (*err)->msg);
		kiln_error_free(err);
	}
	return 0;
}

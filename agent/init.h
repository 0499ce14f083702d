/* kiln-agent's duties as the guest's PID 1: a console on fds 0-2, kernel
 * modules, the agent's own root, the standard mounts, and a last resort
 * that powers the VM off instead of letting init exit (a kernel panic). */
#ifndef KILN_AGENT_INIT_H
#define KILN_AGENT_INIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

struct agent_init_mount {
	const char *source, *target, *type;
	unsigned long flags;
	const char *data;
};

/* What PID 1 mounts, in order. */
extern const struct agent_init_mount agent_init_mounts[];
extern const size_t agent_init_nmounts;

/* Mounts /dev (devtmpfs) and points fds 0-2 at /dev/console when the
 * kernel could not open one for us. */
void agent_init_console(void);

/* Module file names from an order file's text: one per line, blank lines
 * and '#' comments skipped. Returns a NULL-terminated vector. */
char **agent_modules_parse(const char *text);

/* Loads each module listed in dir/order (names relative to dir, or
 * absolute) with finit_module(); one that is loaded already is fine.
 * Failures are logged and counted; returns the count. */
int agent_init_modules(const char *dir);

/* Moves the agent onto a fresh tmpfs root when it runs from the initramfs
 * (rootfs), where pivot_root(2) into a container is refused. /dev moves
 * along. */
int agent_init_switch_root(kiln_error_t *err);

/* Mounts agent_init_mounts under prefix ("" for /), skipping targets that
 * are mount points already. */
int agent_init_mount_all(const char *prefix, kiln_error_t *err);

/* Whether path is the root of a mount. */
bool agent_is_mountpoint(const char *path);

/* Logs msg to the kernel log and the console, then ends the VM: init must
 * never exit. */
__attribute__((noreturn)) void agent_init_fatal(const char *msg);

/* sync, kill everything, and reset the VM (reboot=k: kiln-vmm exits 0). */
__attribute__((noreturn)) void agent_init_poweroff(void);

#endif

/* kiln's CLI: one file per verb, each parsing its flags (long names, a
 * single dash accepted, as runc's CLI does), calling libkilnruntime
 * (runtime/runtime.h) and printing. Each verb returns the process exit
 * status; errors are reported through err with status 1 (main.c prints
 * them). */
#ifndef KILN_RUNTIME_CLI_CLI_H
#define KILN_RUNTIME_CLI_CLI_H

#include <getopt.h>

#include "common/error.h"
#include "runtime/runtime.h"

int kiln_cmd_create(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);
int kiln_cmd_run(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);
int kiln_cmd_start(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);
int kiln_cmd_state(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);
int kiln_cmd_kill(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);
int kiln_cmd_delete(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);
int kiln_cmd_exec(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);
int kiln_cmd_ps(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);
int kiln_cmd_list(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);
int kiln_cmd_pause(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);
int kiln_cmd_resume(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);
int kiln_cmd_update(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);
int kiln_cmd_spec(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);
int kiln_cmd_features(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);
int kiln_cmd_check(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);
/* kiln-vmm's jail on its own (runtime/jail.h). */
int kiln_cmd_jail(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);
/* The container's supervisor (runtime/supervisor.h). */
int kiln_cmd_supervise(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);

/* Parses options from opts and leaves positional arguments at
 * argv[optind..]; set gets each option. */
int kiln_cli_parse_flags(int argc, char **argv, const struct option *opts, const char *shortopts,
			 void (*set)(int ch, const char *arg, void *data), void *data,
			 kiln_error_t *err);
/* set callbacks for a verb with one option: a flag (data: a bool, made
 * true) or one with an argument (data: a const char *). */
void kiln_cli_set_flag(int ch, const char *arg, void *data);
void kiln_cli_set_string(int ch, const char *arg, void *data);
/* A container id at argv[optind], and at most extra_max more arguments. */
int kiln_cli_one_id(int argc, char **argv, int extra_max, kiln_error_t *err);
/* --format: table or json. */
int kiln_cli_check_format(const char *f, kiln_error_t *err);
/* create's and run's flags (is_run: run's --detach and --keep too). */
int kiln_cli_parse_create(int argc, char **argv, struct kiln_create_opts *o, bool is_run,
			  kiln_error_t *err);

#endif

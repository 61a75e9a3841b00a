/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli.h - the command-line program's commands. Each cmd_<name>.c parses its
 * own options, prints its own --help, and returns the process exit status
 * (0 ok, 1 runtime failure, 2 usage error). Only src/cli/ may exit or print
 * to stdout/stderr directly.
 */
#ifndef IC_CLI_H
#define IC_CLI_H

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_vocab(int argc, char **argv);
int cmd_download(int argc, char **argv);

/* Prints "intent <cmd>: <msg>" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Strict number parsing for option values; print an error naming the option. */
int cli_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
int cli_parse_float(const char *cmd, const char *opt, const char *s, double *out);

#endif

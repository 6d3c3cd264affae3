/*
 * faultmap.c - the faultmap command: parses the subcommand name and hands
 * the rest of the arguments to run.c, stat.c, inspect.c, trace.c,
 * doctor.c, daemon.c or cache.c. The
 * manual is in usage.c and docs/cli.md.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* help - faultmap help [COMMAND]. */
static int help(int argc, char **argv)
{
	if (argc > 2)
		usage_error("help", "too many arguments");
	if (argc == 2) {
		if (print_command_help(stdout, argv[1]))
			usage_error("help", "unknown command '%s'", argv[1]);
		return 0;
	}
	print_manual(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage_error(NULL, "no command given");
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help"))
		return help(argc - 1, argv + 1);
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		if (argc > 2)
			usage_error(NULL, "--version takes no arguments");
		print_version(stdout);
		return 0;
	}
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
	    {"run", cmd_run},
	    {"stat", cmd_stat},
	    {"inspect", cmd_inspect},
	    {"trace", cmd_trace},
	    {"doctor", cmd_doctor},
	    {"daemon", cmd_daemon},
	    {"cache", cmd_cache},
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmd, cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	usage_error(NULL, "unknown command '%s'", cmd);
}

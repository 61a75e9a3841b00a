/* cmd_vocab.c - placeholder until the command lands. */
#include "cli/cli.h"

int cmd_vocab(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("vocab", "not built yet");
    return 1;
}

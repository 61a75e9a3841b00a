/* cmd_train.c - placeholder until the command lands. */
#include "cli/cli.h"

int cmd_train(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("train", "not built yet");
    return 1;
}

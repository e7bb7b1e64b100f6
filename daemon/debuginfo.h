/*
 * traced debuginfo: print a module's DWARF debug info (vm_debug.h).
 */
#ifndef TRACED_DAEMON_DEBUGINFO_H
#define TRACED_DAEMON_DEBUGINFO_H

/* The `debuginfo` subcommand; argv[0] is "debuginfo". Returns the exit
 * status: 0, 1 when the module or its debug info cannot be loaded, 2 on a
 * usage error. */
int dmn_debuginfo_main(int argc, char **argv);

#endif

/* traced export: a native trace file -> a CodeTracer directory. */
#ifndef TRACED_DAEMON_EXPORT_H
#define TRACED_DAEMON_EXPORT_H

/* The `export` subcommand; argv[0] is "export". Returns the exit status. */
int dmn_export_main(int argc, char **argv);

#endif

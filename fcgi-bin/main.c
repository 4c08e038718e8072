/*
 * main.c -- the program of one endpoint.  Each endpoint (a file of fcgi-bin)
 * is only its table; the program serving it is this, built once per
 * endpoint with CH_ENDPOINT naming it (Makefile.am), so that POST /mcp
 * can serve every endpoint in one process (ch_serve_inner).
 */
#include "config.h"

#include "chatr.h"

int
main(int argc, char **argv)
{
	return ch_serve(&CH_ENDPOINT, argc, argv);
}

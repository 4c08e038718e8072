/*
 * tools.h -- the tool table core.c lists and calls (tools.c).
 */
#ifndef CHATR_MCP_TOOLS_H
#define CHATR_MCP_TOOLS_H

struct mcp_tool {
	const char *name;
	const char *title;
	const char *description;
	const char *input_schema;  /* JSON text */
	const char *output_schema; /* JSON text */
	struct json_object *(*run)(struct mcp *, struct json_object *);
	/* chatr_wait: may take the request over (*deferred set) */
	struct json_object *(*run_id)(struct mcp *, struct json_object *,
	    struct json_object *, int *);
	int read_only;
};
extern const struct mcp_tool mcp_tools[];
extern const size_t mcp_ntools;

#endif /* CHATR_MCP_TOOLS_H */

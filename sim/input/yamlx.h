/* yamlx: one YAML (or JSON) file loaded with libyaml's document API, with the
 * guards user input needs.
 *
 * A loaded file keeps its text (to quote lines in diagnostics) and its node
 * graph. Loading refuses, with a positioned error rather than a crash or a
 * hang: unreadable files, files over CS_YAML_MAX_BYTES, syntax errors, empty
 * files, several documents in one file, aliases that refer to themselves, and
 * documents whose aliases would expand to more than CS_YAML_MAX_NODES nodes or
 * nest deeper than CS_YAML_MAX_DEPTH ("billion laughs"). libyaml itself shares
 * aliased nodes instead of copying them, so the check runs in time and memory
 * linear in the file. */
#ifndef CS_YAMLX_H
#define CS_YAMLX_H

#include <yaml.h>

#include "input/diag.h"

#define CS_YAML_MAX_BYTES (16u << 20)
#define CS_YAML_MAX_NODES 200000
#define CS_YAML_MAX_DEPTH 64

typedef struct cs_yfile {
    char *path;  /* owned */
    char *text;  /* owned, NUL-terminated */
    size_t len;
    yaml_document_t doc;
    int has_doc;
} cs_yfile;

/* Reads and parses `path`. On failure returns -1 with the reasons added to d,
 * and leaves f safe to pass to cs_yfile_free. */
int cs_yfile_load(cs_yfile *f, const char *path, cs_diags *d);

/* Same for text already in memory (copied); `name` is used in messages. */
int cs_yfile_load_buffer(cs_yfile *f, const char *name, const char *data,
                         size_t len, cs_diags *d);

void cs_yfile_free(cs_yfile *f);

yaml_node_t *cs_yfile_root(cs_yfile *f);
yaml_node_t *cs_yfile_node(cs_yfile *f, int index);

/* The node's position (1-based); loc.file points at f->path. */
cs_loc cs_yfile_loc(const cs_yfile *f, const yaml_node_t *node);

/* Adds a diagnostic positioned at `node` (or the file start when NULL). */
void cs_yfile_report(const cs_yfile *f, cs_diags *d, cs_severity sev,
                     const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The scalar's text, or NULL when the node is not a scalar. */
const char *cs_ynode_text(const yaml_node_t *node);

/* True for a plain (unquoted) scalar spelling null: "", "~", "null". */
int cs_ynode_is_null(const yaml_node_t *node);

/* "a mapping", "a list", "a string"... for "expected X, got Y" messages. */
const char *cs_ynode_describe(const yaml_node_t *node);

/* The value stored under `key` in a mapping node, or NULL. */
yaml_node_t *cs_ymap_get(cs_yfile *f, const yaml_node_t *map, const char *key);

#endif

#include "input/yamlx.h"

#include "base/fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/strutil.h"

static int parser_error(cs_yfile *f, yaml_parser_t *p, cs_diags *d)
{
    const char *what = p->problem ? p->problem : "cannot parse";
    cs_loc loc = {f->path, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1};
    /* The reader (a NUL, bad UTF-8) gives a byte offset, not a mark. */
    if (p->error == YAML_READER_ERROR && p->problem_offset <= f->len) {
        loc.line = loc.col = 1;
        for (size_t i = 0; i < p->problem_offset; i++)
            if (f->text[i] == '\n')
                loc.line++, loc.col = 1;
            else if (((unsigned char)f->text[i] & 0xc0) != 0x80)
                loc.col++; /* columns count characters, as libyaml's marks do */
    }
    if (p->error == YAML_MEMORY_ERROR)
        what = "out of memory while parsing";
    if (p->context)
        cs_diags_add(d, CS_ERROR, loc, f->text, f->len, "YAML syntax error: %s %s", what,
                     p->context);
    else
        cs_diags_add(d, CS_ERROR, loc, f->text, f->len, "YAML syntax error: %s", what);
    return -1;
}

/* Children of a collection node, as indices into the document. */
static size_t children(const yaml_node_t *n, const int **out)
{
    if (n->type == YAML_SEQUENCE_NODE) {
        *out = n->data.sequence.items.start;
        return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    }
    if (n->type == YAML_MAPPING_NODE) {
        /* Pairs are (key, value) int pairs laid out contiguously. */
        *out = (const int *)n->data.mapping.pairs.start;
        return 2 * (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    }
    return 0;
}

/* Walks the node graph once (iterative post-order, so deep nesting cannot
 * overflow the C stack) and computes, per node, how many nodes it would expand
 * to with aliases copied out and how deep it nests. Refuses cycles, and sizes
 * or depths over the limits, at the alias or node where the limit is crossed. */
static int check_expansion(cs_yfile *f, cs_diags *d)
{
    yaml_document_t *doc = &f->doc;
    size_t count = (size_t)(doc->nodes.top - doc->nodes.start);
    /* Too many written nodes is not an alias bomb: say so, at the first
     * node past the limit. */
    if (count > CS_YAML_MAX_NODES) {
        cs_yfile_report(f, d, CS_ERROR, yaml_document_get_node(doc, CS_YAML_MAX_NODES + 1),
                        "the document holds more than %d nodes (keys, values and items)",
                        CS_YAML_MAX_NODES);
        return -1;
    }
    unsigned char *state = calloc(count + 1, 1); /* 0 new, 1 open, 2 done */
    size_t *size = calloc(count + 1, sizeof *size);
    int *depth = calloc(count + 1, sizeof *depth);
    int *stack = malloc((count + 1) * sizeof *stack);
    size_t *next_child = calloc(count + 1, sizeof *next_child);
    int rc = 0;
    if (!state || !size || !depth || !stack || !next_child) {
        cs_yfile_report(f, d, CS_ERROR, NULL, "out of memory while checking aliases");
        rc = -1;
        goto done;
    }
    size_t sp = 0;
    stack[sp++] = 1;
    state[1] = 1;
    while (sp > 0 && rc == 0) {
        int id = stack[sp - 1];
        yaml_node_t *n = yaml_document_get_node(doc, id);
        const int *kids;
        size_t nk = children(n, &kids);
        if (next_child[id] < nk) {
            int c = kids[next_child[id]++];
            if (state[c] == 1) {
                cs_yfile_report(f, d, CS_ERROR, n, "an alias refers to a node that contains it");
                rc = -1;
            } else if (state[c] == 0) {
                state[c] = 1;
                stack[sp++] = c;
            }
            continue;
        }
        size_t total = 1;
        int deepest = 0;
        for (size_t i = 0; i < nk; i++) {
            total += size[kids[i]];
            if (total > CS_YAML_MAX_NODES)
                total = CS_YAML_MAX_NODES + 1;
            if (depth[kids[i]] > deepest)
                deepest = depth[kids[i]];
        }
        size[id] = total;
        depth[id] = deepest + 1;
        state[id] = 2;
        sp--;
        if (total > CS_YAML_MAX_NODES) {
            cs_yfile_report(f, d, CS_ERROR, n,
                            "aliases here expand to more than %d nodes; refusing the "
                            "document (an alias bomb?)",
                            CS_YAML_MAX_NODES);
            rc = -1;
        } else if (depth[id] > CS_YAML_MAX_DEPTH) {
            cs_yfile_report(f, d, CS_ERROR, n, "nesting deeper than %d levels",
                            CS_YAML_MAX_DEPTH);
            rc = -1;
        }
    }
done:
    free(state);
    free(size);
    free(depth);
    free(stack);
    free(next_child);
    return rc;
}

/* A first pass over the events, stopping at the first collection nested
 * deeper than the limit: libyaml's document loader takes time quadratic in
 * the nesting (100,000 levels: a minute), and this pass only ever reads 64
 * levels of it. Syntax errors are left to the loader, which reports them. */
static int check_depth(cs_yfile *f, cs_diags *d)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        cs_yfile_report(f, d, CS_ERROR, NULL, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)f->text, f->len);
    int depth = 0, rc = 0, done = 0;
    while (!done && rc == 0) {
        yaml_event_t e;
        if (!yaml_parser_parse(&parser, &e))
            break;
        if (e.type == YAML_SEQUENCE_START_EVENT || e.type == YAML_MAPPING_START_EVENT) {
            if (++depth > CS_YAML_MAX_DEPTH) {
                cs_loc loc = {f->path, (int)e.start_mark.line + 1, (int)e.start_mark.column + 1};
                cs_diags_add(d, CS_ERROR, loc, f->text, f->len, "nesting deeper than %d levels",
                             CS_YAML_MAX_DEPTH);
                rc = -1;
            }
        } else if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        done = e.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&parser);
    return rc;
}

static int parse_text(cs_yfile *f, cs_diags *d)
{
    if (check_depth(f, d) != 0)
        return -1;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        cs_yfile_report(f, d, CS_ERROR, NULL, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)f->text, f->len);
    int rc = 0;
    if (!yaml_parser_load(&parser, &f->doc)) {
        rc = parser_error(f, &parser, d);
    } else {
        f->has_doc = 1;
        if (!yaml_document_get_root_node(&f->doc)) {
            cs_yfile_report(f, d, CS_ERROR, NULL, "the file holds no YAML document");
            rc = -1;
        } else {
            yaml_document_t second;
            if (!yaml_parser_load(&parser, &second)) {
                rc = parser_error(f, &parser, d);
            } else {
                if (yaml_document_get_root_node(&second)) {
                    /* Point at the document's start (its "---"), not its content. */
                    cs_loc loc = {f->path, (int)second.start_mark.line + 1,
                                  (int)second.start_mark.column + 1};
                    cs_diags_add(d, CS_ERROR, loc, f->text, f->len,
                                 "a second YAML document; one file holds one document");
                    rc = -1;
                }
                yaml_document_delete(&second);
            }
            if (rc == 0)
                rc = check_expansion(f, d);
        }
    }
    yaml_parser_delete(&parser);
    return rc;
}

int cs_yfile_load_buffer(cs_yfile *f, const char *name, const char *data,
                         size_t len, cs_diags *d)
{
    memset(f, 0, sizeof *f);
    f->path = cs_strdup(name);
    f->text = cs_strndup(data, len);
    f->len = len;
    if (!f->path || !f->text) {
        cs_diags_add(d, CS_ERROR, (cs_loc){name, 0, 0}, NULL, 0, "out of memory");
        return -1;
    }
    return parse_text(f, d);
}

int cs_yfile_load(cs_yfile *f, const char *path, cs_diags *d)
{
    memset(f, 0, sizeof *f);
    f->path = cs_strdup(path);
    if (!f->path)
        return -1;
    size_t len;
    char *buf = cs_file_read(path, CS_YAML_MAX_BYTES, &len);
    if (!buf) {
        int err = errno;
        cs_loc at = {path, 0, 0};
        if (err == EFBIG)
            cs_diags_add(d, CS_ERROR, at, NULL, 0, "file is larger than %u MiB",
                         CS_YAML_MAX_BYTES >> 20);
        else if (err == EISDIR || err == EINVAL || err == EIO)
            cs_diags_add(d, CS_ERROR, at, NULL, 0, "cannot read: %s",
                         cs_file_error(err, CS_YAML_MAX_BYTES, NULL, 0));
        else if (err == ENOMEM)
            cs_diags_add(d, CS_ERROR, at, NULL, 0, "out of memory");
        else
            cs_diags_add(d, CS_ERROR, at, NULL, 0, "cannot open: %s", strerror(err));
        return -1;
    }
    f->text = buf;
    f->len = len;
    return parse_text(f, d);
}

void cs_yfile_free(cs_yfile *f)
{
    if (f->has_doc)
        yaml_document_delete(&f->doc);
    free(f->text);
    free(f->path);
    memset(f, 0, sizeof *f);
}

yaml_node_t *cs_yfile_root(cs_yfile *f)
{
    return f->has_doc ? yaml_document_get_root_node(&f->doc) : NULL;
}

yaml_node_t *cs_yfile_node(cs_yfile *f, int index)
{
    return yaml_document_get_node(&f->doc, index);
}

cs_loc cs_yfile_loc(const cs_yfile *f, const yaml_node_t *node)
{
    cs_loc loc = {f->path, 1, 1};
    if (node) {
        loc.line = (int)node->start_mark.line + 1;
        loc.col = (int)node->start_mark.column + 1;
    }
    return loc;
}

void cs_yfile_report(const cs_yfile *f, cs_diags *d, cs_severity sev,
                     const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cs_loc loc = cs_yfile_loc(f, node);
    if (!node && !f->text)
        loc.line = 0;
    cs_diags_vadd(d, sev, loc, f->text, f->len, fmt, ap);
    va_end(ap);
}

const char *cs_ynode_text(const yaml_node_t *node)
{
    return node && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value
                                                  : NULL;
}

int cs_ynode_is_null(const yaml_node_t *node)
{
    const char *t = cs_ynode_text(node);
    if (!t || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    return !*t || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") ||
           !strcmp(t, "NULL");
}

const char *cs_ynode_describe(const yaml_node_t *node)
{
    if (!node)
        return "nothing";
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default:
        return cs_ynode_is_null(node) ? "null" : "a scalar";
    }
}

yaml_node_t *cs_ymap_get(cs_yfile *f, const yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *k = cs_ynode_text(cs_yfile_node(f, p->key));
        if (k && strcmp(k, key) == 0)
            return cs_yfile_node(f, p->value);
    }
    return NULL;
}

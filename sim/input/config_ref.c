/* config_ref: where models and clusters come from: a path relative to the
 * referring file, a bare preset name searched in models/ or topologies/ of
 * each preset directory, or a mapping of `base:` plus keys laid over it.
 * Bases chain (at most MAX_BASE_DEPTH files) and a cycle is an error. A
 * Hugging Face config.json loads as a model. Every file read stays in the
 * sources, so that positions keep pointing at its text. */
#include "input/schema.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/strutil.h"
#include "input/hfconfig.h"

static const char *kind_word[] = {"model", "cluster"};
static const char *kind_dir[] = {"models", "topologies"};

int cs_ctx_add_source(cs_ctx *c, cs_yfile *f)
{
    cs_sources *s = c->sources;
    if (s->count == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4;
        cs_yfile **files = realloc(s->files, cap * sizeof *files);
        if (!files)
            return -1;
        s->files = files;
        s->cap = cap;
    }
    s->files[s->count++] = f;
    return 0;
}

void cs_sources_free(cs_sources *src)
{
    for (size_t i = 0; i < src->count; i++) {
        cs_yfile_free(src->files[i]);
        free(src->files[i]);
    }
    free(src->files);
    memset(src, 0, sizeof *src);
}

/* Loads a file and keeps it in the sources. Returns NULL on failure (reported). */
cs_yfile *cs_ctx_open(cs_ctx *c, const char *path)
{
    cs_yfile *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    int rc = cs_yfile_load(f, path, c->diags);
    if (cs_ctx_add_source(c, f) != 0) {
        cs_yfile_free(f);
        free(f);
        return NULL;
    }
    return rc == 0 ? f : NULL;
}

const cs_yfile *cs_sources_find(const cs_sources *src, const char *file)
{
    for (size_t i = 0; i < src->count; i++)
        if (src->files[i]->path == file)
            return src->files[i];
    return NULL;
}

cs_yfile *cs_ctx_file_of(cs_ctx *c, cs_loc loc)
{
    return (cs_yfile *)cs_sources_find(c->sources, loc.file);
}

int cs_ctx_error(cs_ctx *c, cs_loc loc, const char *fmt, ...)
{
    cs_yfile *f = cs_ctx_file_of(c, loc);
    va_list ap;
    va_start(ap, fmt);
    cs_diags_vadd(c->diags, CS_ERROR, loc, f ? f->text : NULL, f ? f->len : 0, fmt, ap);
    va_end(ap);
    return -1;
}

static int is_bare_name(const char *ref)
{
    return !strchr(ref, '/') && !strstr(ref, ".yaml") && !strstr(ref, ".yml") &&
           !strstr(ref, ".json");
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? cs_strndup(path, (size_t)(slash - path)) : cs_strdup(".");
}

/* Finds the file a reference names. Returns a malloc'd path, or NULL after
 * reporting why at `node`. */
static char *resolve_ref(cs_ctx *c, cs_yfile *f, yaml_node_t *node, const char *ref,
                         cs_doc_kind kind)
{
    static const char *const exts[] = {".yaml", ".yml", ".json"};
    if (!is_bare_name(ref)) {
        if (ref[0] == '/' || !f)
            return cs_strdup(ref);
        char *dir = dir_of(f->path);
        char *p = dir ? cs_asprintf("%s/%s", dir, ref) : NULL;
        free(dir);
        return p;
    }
    const char *const *dirs = c->paths ? c->paths->preset_dirs : NULL;
    for (int i = 0; dirs && dirs[i]; i++)
        for (size_t e = 0; e < COUNT(exts); e++) {
            char *p = cs_asprintf("%s/%s/%s%s", dirs[i], kind_dir[kind], ref, exts[e]);
            if (p && access(p, R_OK) == 0)
                return p;
            free(p);
        }
    /* A file of that name next to the referring file also counts. */
    if (f) {
        char *dir = dir_of(f->path);
        char *p = dir ? cs_asprintf("%s/%s", dir, ref) : NULL;
        free(dir);
        if (p && access(p, R_OK) == 0)
            return p;
        free(p);
    }
    if (f)
        REPORT(c, f, node, "no %s preset named '%s' (looked in %s/ of the preset directories)",
               kind_word[kind], ref, kind_dir[kind]);
    else
        cs_diags_add(c->diags, CS_ERROR, (cs_loc){ref, 0, 0}, NULL, 0,
                     "no %s preset or file named '%s'", kind_word[kind], ref);
    return NULL;
}

static int load_file_into(cs_ctx *c, const char *path, cs_doc_kind kind, void *obj, cs_yfile *from,
                          yaml_node_t *from_node);

/* Applies a reference (scalar) or base+keys mapping `n` of file f onto obj. */
int cs_ref_load(cs_ctx *c, cs_yfile *f, yaml_node_t *n, cs_doc_kind kind, void *obj)
{
    const char *ref = cs_ynode_text(n);
    if (ref && !cs_ynode_is_null(n)) {
        char *path = resolve_ref(c, f, n, ref, kind);
        if (!path)
            return -1;
        int rc = load_file_into(c, path, kind, obj, f, n);
        free(path);
        return rc;
    }
    if (n->type != YAML_MAPPING_NODE) {
        REPORT(c, f, n, "'%s' must be a file path, a preset name or a mapping, got %s",
               kind_word[kind], cs_ynode_describe(n));
        return -1;
    }
    int rc = 0;
    yaml_node_t *base = cs_ymap_get(f, n, "base");
    if (base) {
        if (!cs_ynode_text(base) || cs_ynode_is_null(base)) {
            REPORT(c, f, base, "'base' must be a file path or preset name");
            rc = -1;
        } else if (cs_ref_load(c, f, base, kind, obj) != 0) {
            rc = -1;
        }
    }
    const cs_schema *s = kind == KIND_MODEL ? &cs_model_schema : &cs_cluster_schema;
    if (cs_schema_apply(c, f, n, s, obj) != 0)
        rc = -1;
    cs_loc loc = cs_yfile_loc(f, n);
    if (kind == KIND_MODEL)
        ((cs_model *)obj)->loc = loc;
    else
        ((cs_cluster *)obj)->loc = loc;
    return rc;
}

static int is_hf_config(cs_yfile *f, yaml_node_t *root)
{
    return cs_ymap_get(f, root, "model_type") || cs_ymap_get(f, root, "architectures") ||
           cs_ymap_get(f, root, "num_hidden_layers");
}

/* The file's base name without its extension: "qwen1.5-moe.json" -> "qwen1.5-moe". */
void cs_name_from_path(char name[CS_NAME_MAX], const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    int len = (int)(dot && dot != base ? (size_t)(dot - base) : strlen(base));
    snprintf(name, CS_NAME_MAX, "%.*s", len, base);
}

static int load_file_into(cs_ctx *c, const char *path, cs_doc_kind kind, void *obj, cs_yfile *from,
                          yaml_node_t *from_node)
{
    char *canon = realpath(path, NULL);
    if (!canon) {
        int err = errno;
        if (from)
            REPORT(c, from, from_node, "cannot open %s '%s': %s", kind_word[kind], path,
                   strerror(err));
        else
            cs_diags_add(c->diags, CS_ERROR, (cs_loc){path, 0, 0}, NULL, 0, "cannot open: %s",
                         strerror(err));
        return -1;
    }
    for (int i = 0; i < c->depth; i++)
        if (!strcmp(c->chain[i], canon)) {
            REPORT(c, from, from_node, "'%s' includes itself through base: (a cycle)", path);
            free(canon);
            return -1;
        }
    if (c->depth == MAX_BASE_DEPTH) {
        REPORT(c, from, from_node, "bases nest deeper than %d files", MAX_BASE_DEPTH);
        free(canon);
        return -1;
    }
    c->chain[c->depth++] = canon;
    int rc = -1;
    cs_yfile *f = cs_ctx_open(c, path);
    yaml_node_t *root = f ? cs_yfile_root(f) : NULL;
    if (!f && from) /* unreadable (a directory, a device, too large): say who named it */
        REPORT(c, from, from_node, "the %s '%s' named here cannot be read", kind_word[kind],
               path);
    if (root && kind == KIND_MODEL && root->type == YAML_MAPPING_NODE && is_hf_config(f, root)) {
        rc = cs_hf_apply(f, root, obj, c->diags);
        ((cs_model *)obj)->loc = cs_yfile_loc(f, root);
    } else if (root && root->type != YAML_MAPPING_NODE) {
        /* A file holds keys; a bare string there is not a second reference. */
        REPORT(c, f, root, "a %s file must be a mapping of keys, got %s", kind_word[kind],
               cs_ynode_describe(root));
    } else if (root) {
        rc = cs_ref_load(c, f, root, kind, obj);
    }
    /* A file's name is the default name of what it defines. */
    char *name = kind == KIND_MODEL ? ((cs_model *)obj)->name : ((cs_cluster *)obj)->name;
    if (f && !name[0])
        cs_name_from_path(name, path);
    c->depth--;
    free(canon);
    return rc;
}

static int load_standalone(const char *ref, const cs_paths *paths, cs_sources *src,
                           cs_doc_kind kind, void *obj, cs_diags *d)
{
    cs_ctx c = {.paths = paths, .sources = src, .diags = d};
    size_t before = d->errors;
    char *path = resolve_ref(&c, NULL, NULL, ref, kind);
    if (!path)
        return -1;
    int rc = load_file_into(&c, path, kind, obj, NULL, NULL);
    free(path);
    if (rc == 0)
        rc = kind == KIND_MODEL ? cs_model_finish(&c, obj) : cs_cluster_finish(&c, obj);
    return rc == 0 && d->errors == before ? 0 : -1;
}

int cs_model_load(const char *ref, const cs_paths *paths, cs_sources *src, cs_model *out,
                  cs_diags *d)
{
    cs_model_defaults(out);
    return load_standalone(ref, paths, src, KIND_MODEL, out, d);
}

int cs_cluster_load(const char *ref, const cs_paths *paths, cs_sources *src, cs_cluster *out,
                    cs_diags *d)
{
    cs_cluster_defaults(out);
    return load_standalone(ref, paths, src, KIND_CLUSTER, out, d);
}

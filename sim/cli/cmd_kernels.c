/* clustersim kernels: the kernels of one layer of a layout, as the replay
 * prices them. */
#include "cli/cli.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/cost.h"
#include "model/kernels.h"
#include "model/layout.h"

static const char help[] =
    "usage: clustersim kernels FILE [--layout NAME] [--format text|csv]\n"
    "\n"
    "Lists the kernels one GPU runs for one micro-batch of one transformer\n"
    "layer of a layout (the first one, or NAME), forward and backward, as\n"
    "Megatron-Core runs them: the attention block, the MLP (a MoE layer's\n"
    "router, token dispatcher, experts and shared experts at an even share of\n"
    "the tokens), the output layer with the loss\n"
    "and the embedding; for each its slot in the block, GEMM shape, FLOPs,\n"
    "bytes, time, the efficiency it was priced at, and the host's time to\n"
    "issue it (cluster.host: launches and the framework's other ops).\n"
    "Communication is not listed: `run` places it between the kernels.\n"
    "\n"
    "  --layout NAME        the layout (default: the first)\n"
    "  --format text|csv    output format (default text)\n";

static const char *const slot_names[CS_SLOTS] = {
    "pre",   "in",        "core",   "attn",   "out",  "post",  "post_b", "out_b",
    "recompute", "attn_b", "core_b", "in_b", "out_w", "in_w", "pre_b"};

typedef struct printer {
    cs_cost *cost;
    const cs_host_config *host;
    int csv;
    double seconds[2], flops[2], host_s[2]; /* forward, backward */
} printer;

/* Seconds the host spends issuing k: its launches (a grouped GEMM's one
 * per expert) and its other ops. */
static double host_seconds(const printer *p, const cs_kernel *k)
{
    return cs_kernel_launches(k) * p->host->launch_overhead + k->host_ops * p->host->op_overhead;
}

/* A CSV field, quoted (quotes doubled) when it holds a comma or a quote. */
static void csv_field(const char *s)
{
    if (!strpbrk(s, ",\"")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void print_list(printer *p, const char *block, const cs_kernel_list *l, int backward)
{
    for (int i = 0; i < l->n; i++) {
        const cs_kernel *k = &l->k[i];
        double t = cs_cost_of(p->cost, k), e = cs_cost_kernel_efficiency(p->cost, k);
        double h = host_seconds(p, k);
        p->seconds[backward] += t;
        p->flops[backward] += k->flops;
        p->host_s[backward] += h;
        char shape[96] = "-";
        if (k->kind == CS_KERNEL_GEMM && k->batch > 1 && k->launches == k->batch)
            snprintf(shape, sizeof shape, "%.0f of [%.0fx%.0f].[%.0fx%.0f]", k->batch, k->m, k->k,
                     k->k, k->n); /* one launch per expert */
        else if (k->kind == CS_KERNEL_GEMM && k->batch > 1)
            snprintf(shape, sizeof shape, "%.0fx[%.0fx%.0f].[%.0fx%.0f]", k->batch, k->m, k->k,
                     k->k, k->n);
        else if (k->kind == CS_KERNEL_GEMM)
            snprintf(shape, sizeof shape, "[%.0fx%.0f].[%.0fx%.0f]", k->m, k->k, k->k, k->n);
        else if (k->kind == CS_KERNEL_ATTENTION && k->window > 0)
            snprintf(shape, sizeof shape, "s %.0f, d %.0f, w %.0f (%s)", k->seq, k->head_dim,
                     k->window - 1, cs_attention_backend_name(k->backend));
        else if (k->kind == CS_KERNEL_ATTENTION)
            snprintf(shape, sizeof shape, "s %.0f, d %.0f (%s)", k->seq, k->head_dim,
                     cs_attention_backend_name(k->backend));
        if (p->csv) {
            printf("%s,%s,", block, backward ? "backward" : "forward");
            csv_field(k->name);
            printf(",%s,", slot_names[k->slot]);
            csv_field(shape);
            printf(",%.6g,%.6g,%.6g,%.4f,%.6g\n", k->flops, k->bytes, t, e, h);
        } else
            printf("  %-9s %-52.52s %-9s %-30.30s %9.2f %9.2f %9.1f %6.1f%% %8.1f\n", block,
                   k->name, slot_names[k->slot], shape, k->flops / 1e9, k->bytes / 1e6, t * 1e6,
                   100 * e, h * 1e6);
    }
}

/* Whether the listed layer is a BF16 one: it is the first FP8 layer under
 * precision fp8 (first_last_layers_bf16 keeps the first ones BF16), BF16
 * only when every layer is. */
static int listed_bf16(const cs_scenario *s)
{
    for (long i = 0; i < s->model.num_layers; i++)
        if (cs_training_layer_fp8(&s->training, s->model.num_layers, i))
            return 0;
    return s->training.precision == CS_FP8;
}

/* The dispatch of an even share: every expert gets T k / E of each rank's
 * tokens (its capacity with padding), the allgather dispatcher gathers the
 * expert-TP x EP group, and flex sends a token once per rank. */
static void even_dispatch(const cs_scenario *s, const cs_layout_sizes *z, const cs_shape *sh,
                          cs_dispatch_rows *r)
{
    double cf = cs_moe_capacity_factor(&s->model, &s->training), E = sh->experts;
    r->sent = sh->Tl * sh->topk;
    if (cf > 0 && s->training.moe_pad_expert_input_to_capacity)
        r->sent = E * ceil(cf * sh->Tl * sh->topk / E);
    r->local_experts = z->experts_per_gpu > 0 ? (double)z->experts_per_gpu : 1;
    r->expert = r->sent / E * r->local_experts * (double)z->ep * sh->etp;
    r->arrived = s->training.moe_token_dispatcher_type == CS_DISPATCH_ALLGATHER
                     ? sh->Tl * (double)z->ep * sh->etp
                     : r->expert * cs_kernels_flex_share(&s->model.moe, z->ep);
}

static void list_layout(printer *p, const cs_scenario *s, const cs_layout_sizes *z)
{
    cs_shape sh;
    cs_shape_init(&sh, &s->model, &s->training, z);
    cs_kernel_list l;
    int moe = s->model.moe.num_experts > 0;
    for (int backward = 0; backward < 2; backward++) {
        cs_kernel_opts o = {&s->training, z->recompute, z->attention, backward, listed_bf16(s),
                            (double)cs_model_layer_window(&s->model, 0)};
        cs_kernels_attention(&sh, &o, &l);
        print_list(p, "attention", &l, backward);
        if (moe) {
            cs_kernels_moe_edges(&sh, &o, &l);
            print_list(p, "moe", &l, backward);
            cs_kernels_router(&sh, &o, &l);
            print_list(p, "router", &l, backward);
            cs_dispatch_rows r;
            even_dispatch(s, z, &sh, &r);
            cs_kernels_dispatch(&sh, &o, &r, &l);
            print_list(p, "dispatch", &l, backward);
            cs_kernels_experts(&sh, &o, r.expert, r.local_experts, &l);
            print_list(p, "experts", &l, backward);
            cs_kernels_mlp(&sh, &o, sh.T, sh.ffn_s, sh.t, 1, 0, &l);
            print_list(p, "shared", &l, backward);
        } else {
            cs_kernels_mlp(&sh, &o, sh.T, sh.ffn, sh.t, 1, 1, &l);
            print_list(p, "mlp", &l, backward);
        }
    }
    printer rest = {p->cost, p->host, p->csv, {0, 0}, {0, 0}, {0, 0}};
    for (int backward = 0; backward < 2 && sh.V > 0; backward++) {
        cs_kernel_opts o = {&s->training, z->recompute, z->attention, backward, 0, 0};
        cs_kernels_output(&sh, &o, &l);
        print_list(&rest, "output", &l, backward);
        cs_kernels_embedding(&sh, &o, &s->model, &l);
        print_list(&rest, "embedding", &l, backward);
    }
    long windowed = 0;
    for (long i = 0; i < s->model.num_layers; i++)
        windowed += cs_model_layer_window(&s->model, i) > 0;
    if (!p->csv && windowed)
        printf("\n  the layer is layer 1, with sliding-window attention (window %ld), as %ld of "
               "the %ld layers; the others attend the whole causal prefix",
               s->model.window_size, windowed, s->model.num_layers);
    if (!p->csv)
        printf("\n  one layer, one micro-batch: forward %.1f us (%.1f GFLOP), backward %.1f us "
               "(%.1f GFLOP)\n  the host issues it in: forward %.1f us, backward %.1f us\n",
               p->seconds[0] * 1e6, p->flops[0] / 1e9, p->seconds[1] * 1e6, p->flops[1] / 1e9,
               p->host_s[0] * 1e6, p->host_s[1] * 1e6);
}

static int cmd_kernels(int argc, char **argv, const cs_paths *paths)
{
    if (cs_cli_wants_help(argc, argv)) {
        fputs(help, stdout);
        return EXIT_OK;
    }
    const char *file = NULL, *name = NULL, *v;
    cs_format format = CS_FORMAT_TEXT;
    for (int i = 0; i < argc; i++) {
        if ((v = cs_cli_option(argc, argv, &i, "--layout"))) {
            name = v;
        } else if ((v = cs_cli_option(argc, argv, &i, "--format"))) {
            if (cs_cli_format(v, &format) != 0 || format == CS_FORMAT_JSON) {
                fprintf(stderr, "clustersim kernels: unknown format '%s' (text or csv)\n", v);
                return EXIT_BAD_INPUT;
            }
        } else if (argv[i][0] == '-' || file) {
            fprintf(stderr, "clustersim kernels: unexpected argument '%s'\n%s", argv[i], help);
            return EXIT_BAD_INPUT;
        } else {
            file = argv[i];
        }
    }
    if (!file) {
        fputs(help, stderr);
        return EXIT_BAD_INPUT;
    }
    cs_scenario s;
    if (cs_cli_load_scenario(file, paths, &s) != 0) {
        cs_scenario_free(&s);
        return EXIT_BAD_INPUT;
    }
    cs_layout_sizes z;
    long which = cs_cli_pick_layout("kernels", file, &s, name, &z);
    int status = which < 0 ? (int)-which : EXIT_OK;
    cs_cost cost;
    if (which >= 0 && cs_cost_init(&cost, &s.cluster.gpu, s.training.precision) != 0) {
        fprintf(stderr, "clustersim kernels: out of memory\n");
        status = EXIT_BAD_INPUT;
    } else if (which >= 0) {
        printer p = {&cost, &s.cluster.host, format == CS_FORMAT_CSV, {0, 0}, {0, 0}, {0, 0}};
        if (p.csv)
            printf("block,pass,kernel,slot,shape,flops,bytes,time_s,efficiency,host_s\n");
        else
            printf("layout %s of %s on %s: attention %s, recompute %s\n  %-9s %-52s %-9s "
                   "%-30s %9s %9s %9s %7s %8s\n",
                   s.layouts[which].name, s.model.name, s.cluster.gpu.name,
                   cs_attention_backend_name(z.attention), cs_recompute_name(z.recompute), "block",
                   "kernel", "slot", "shape", "GFLOP", "MB", "us", "eff", "host us");
        list_layout(&p, &s, &z);
        cs_cost_free(&cost);
    }
    cs_scenario_free(&s);
    return status;
}

const cs_command cs_cmd_kernels = {"kernels", help, cmd_kernels};
